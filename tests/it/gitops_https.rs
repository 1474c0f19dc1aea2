//! Remote Git over https with a token (docs/git-sources.md), against the testbed: the test starts its own
//! loopback https Git server (tests/fixtures/git-https-server.py: git-http-backend behind TLS with a
//! certificate of a CA the test makes, and basic auth), and clusterctl plans and applies from
//! `https://127.0.0.1:PORT/apps.git`. The token travels in `CLUSTERCTL_GIT_TOKEN` (or the URL) and is never
//! on any process's argv (`ps` sampled during the fetches), in the cache, or in a message; a wrong token, an
//! unknown CA and plain http are refused before any host is contacted.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::common::*;
use crate::gitops_remote::deployment;

/// A running https Git server on 127.0.0.1, killed on drop.
struct HttpsGit {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

impl HttpsGit {
    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }
    fn bare(&self) -> PathBuf {
        self.dir.path().join("root/apps.git")
    }
    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/apps.git", self.port)
    }

    /// Makes a CA and a certificate for 127.0.0.1 signed by it, an empty bare repository, and starts the
    /// server with `user`/`password` as the only credentials.
    fn start(user: &str, password: &str) -> HttpsGit {
        for tool in ["python3", "openssl", "git"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(
                found,
                "this test needs {tool} (scripts/lib.sh installs it: BUILD_PACKAGES)"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let openssl = |args: &str| {
            stdout_ok(
                &format!("openssl {args}"),
                Command::new("openssl")
                    .args(args.split_whitespace())
                    .current_dir(d)
                    .output()
                    .unwrap(),
            )
        };
        // A CA, and a certificate for 127.0.0.1 that it signs (P-256 keys: fast to make).
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
        openssl(&format!(
            "req -x509 {ec} -keyout ca.key -out ca.crt -subj /CN=clusterctl-it-ca -days 2"
        ));
        openssl(&format!(
            "req {ec} -keyout srv.key -out srv.csr -subj /CN=127.0.0.1"
        ));
        std::fs::write(d.join("ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(
            "x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 \
             -extfile ext",
        );
        std::fs::create_dir(d.join("root")).unwrap();
        stdout_ok(
            "git init --bare",
            Command::new("git")
                .args(["init", "-q", "--bare", "-b", "main", "root/apps.git"])
                .current_dir(d)
                .output()
                .unwrap(),
        );
        std::fs::write(d.join("password"), password).unwrap();
        let mut child = Command::new("python3")
            .arg(repo_root().join("tests/fixtures/git-https-server.py"))
            .args([
                d.join("root").as_os_str(),
                d.join("srv.crt").as_os_str(),
                d.join("srv.key").as_os_str(),
                OsStr::new(user),
                d.join("password").as_os_str(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the https git server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the https git server printed {line:?}, not its port"));
        HttpsGit { dir, child, port }
    }

    /// Pushes `repo`'s main into the served repository (over the file system: the server reads it).
    fn push(&self, repo: &Repo) {
        repo.git(&["push", "-q", "-f", self.bare().to_str().unwrap(), "main"]);
    }
}

impl Drop for HttpsGit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// clusterctl against `cluster` with `--repo URL` and exactly the given Git environment (the variables of
/// this process that would change what is tested are removed).
fn run(cluster: &Path, url: &str, env: &[(&str, &OsStr)], args: &[&str]) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_clusterctl"));
    c.arg("--cluster")
        .arg(cluster)
        .arg("--repo")
        .arg(url)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("CLUSTERCTL_GIT_TOKEN")
        .env_remove("CLUSTERCTL_GIT_USERNAME")
        .env_remove("GIT_SSL_CAINFO")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run clusterctl");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Samples `ps -eo args` until finished: counts the samples that showed a `git` talking to the server
/// (so the sampling provably overlapped a fetch), and remembers any line that held a secret, except
/// clusterctl's own command line.
struct PsWatch {
    stop: Arc<AtomicBool>,
    seen_git: Arc<AtomicUsize>,
    leaks: Arc<std::sync::Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PsWatch {
    fn start(port: u16, secrets: Vec<String>) -> PsWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let seen_git = Arc::new(AtomicUsize::new(0));
        let leaks = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, g, l) = (stop.clone(), seen_git.clone(), leaks.clone());
        let needle = format!("127.0.0.1:{port}");
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok(out) = Command::new("ps").args(["-eo", "args"]).output() else {
                    continue;
                };
                let text = String::from_utf8_lossy(&out.stdout);
                for line in text.lines() {
                    if line.contains(&needle) && line.contains("git") {
                        g.fetch_add(1, Ordering::Relaxed);
                    }
                    // A token the test itself put in a `--repo` URL is on clusterctl's own argv (the
                    // user's choice, docs/git-sources.md); what clusterctl starts must not show it.
                    if line.starts_with(env!("CARGO_BIN_EXE_clusterctl")) {
                        continue;
                    }
                    if secrets.iter().any(|t| line.contains(t.as_str())) {
                        l.lock().unwrap().push(line.to_string());
                    }
                }
            }
        });
        PsWatch {
            stop,
            seen_git,
            leaks,
            thread: Some(thread),
        }
    }

    /// Stops sampling: (samples that showed git at the server, lines that held a secret).
    fn finish(mut self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        (
            self.seen_git.load(Ordering::Relaxed),
            self.leaks.lock().unwrap().clone(),
        )
    }
}

impl Drop for PsWatch {
    /// A test that fails before `finish` must not leave `ps` running for the rest of the suite.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Every file under `dir`, read as bytes: none may hold `secret`.
fn assert_not_in_files(dir: &Path, secret: &str) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            assert_not_in_files(&p, secret);
        } else if let Ok(bytes) = std::fs::read(&p) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds the token",
                p.display()
            );
        }
    }
}

#[test]
fn an_https_repo_with_a_token_is_fetched_with_tls_verified_and_the_token_never_shown() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let token = format!("tok3n-{}-s3cret", unique("it").replace('-', ""));
    let server = HttpsGit::start("ci", &token);
    let work = Repo::new();
    work.write("web.yaml", &deployment("web", 1))
        .commit("web 1");
    server.push(&work);
    let first = work
        .git(&["rev-parse", "--short=7", "HEAD"])
        .trim()
        .to_string();
    let url = server.url();
    let cache = tempfile::tempdir().unwrap();
    let ca = server.ca();
    let env: Vec<(&str, &OsStr)> = vec![
        ("XDG_CACHE_HOME", cache.path().as_os_str()),
        ("GIT_SSL_CAINFO", ca.as_os_str()),
        ("CLUSTERCTL_GIT_USERNAME", OsStr::new("ci")),
        ("CLUSTERCTL_GIT_TOKEN", OsStr::new(token.as_str())),
    ];
    let cluster = tb.cluster_yaml();
    let ps = PsWatch::start(server.port, vec![token.clone()]);

    // plan, then apply: the commit comes over https, and the pods run on the testbed.
    let plan = ok(run(&cluster, &url, &env, &["plan"]));
    assert!(
        plan.stderr
            .contains(&format!("Fetched {url}: commit {first}")),
        "{plan:?}"
    );
    assert!(plan.stdout.contains("web-"), "{plan:?}");
    ok(run(&cluster, &url, &env, &["apply", "--yes"]));
    let running: usize = tb
        .hosts
        .iter()
        .map(|(h, _)| {
            managed_names(&tb, h)
                .iter()
                .filter(|n| n.starts_with("k8s_web_web-"))
                .count()
        })
        .sum();
    assert_eq!(running, 1, "one web pod runs");

    // A new commit pushed: the next plan fetches it.
    work.write("web.yaml", &deployment("web", 2))
        .commit("web 2");
    server.push(&work);
    let second = work
        .git(&["rev-parse", "--short=7", "HEAD"])
        .trim()
        .to_string();
    let plan = run(&cluster, &url, &env, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    assert!(
        plan.stderr.contains(&format!("commit {second}")),
        "{plan:?}"
    );

    // The token in the URL instead: it works, and the URL is shown without it.
    let with_token = url.replace("https://", &format!("https://ci:{token}@"));
    let v = ok(run(
        &cluster,
        &with_token,
        &[
            ("XDG_CACHE_HOME", cache.path().as_os_str()),
            ("GIT_SSL_CAINFO", ca.as_os_str()),
        ],
        &["validate"],
    ));
    let shown = url.replace("https://", "https://ci@");
    assert!(
        v.stderr
            .contains(&format!("Fetched {shown}: commit {second}")),
        "{v:?}"
    );

    // The user's own Git credential configuration answers when no token is given.
    let home = tempfile::tempdir().unwrap();
    let store = home.path().join("credentials");
    std::fs::write(
        &store,
        format!("https://ci:{token}@127.0.0.1:{}\n", server.port),
    )
    .unwrap();
    let gitconfig = home.path().join("gitconfig");
    std::fs::write(
        &gitconfig,
        format!(
            "[credential]\n\thelper = store --file={}\n",
            store.display()
        ),
    )
    .unwrap();
    ok(run(
        &cluster,
        &url,
        &[
            ("XDG_CACHE_HOME", cache.path().as_os_str()),
            ("GIT_SSL_CAINFO", ca.as_os_str()),
            ("GIT_CONFIG_GLOBAL", gitconfig.as_os_str()),
        ],
        &["validate"],
    ));

    let (seen, leaks) = ps.finish();
    assert!(
        seen > 0,
        "ps never caught a git process fetching from the server: the argv check saw nothing"
    );
    assert!(leaks.is_empty(), "the token was on an argv: {leaks:?}");
    assert_not_in_files(cache.path(), &token);

    // Refusals: exit 65, the token nowhere in the output, and no host contacted.
    let wrong = format!("wr0ng-{token}");
    assert_no_login(&tb, |cluster| {
        let bad = run(
            cluster,
            &url,
            &[
                ("XDG_CACHE_HOME", cache.path().as_os_str()),
                ("GIT_SSL_CAINFO", ca.as_os_str()),
                ("CLUSTERCTL_GIT_TOKEN", OsStr::new(wrong.as_str())),
            ],
            &["apply", "--yes"],
        );
        assert_eq!(bad.code, 65, "{bad:?}");
        assert!(
            bad.stderr.contains(&format!("cannot fetch {url}")),
            "{bad:?}"
        );
        assert!(bad.stderr.contains("Authentication failed"), "{bad:?}");
        assert!(!bad.stderr.contains(&wrong), "{bad:?}");
        assert!(!bad.stderr.contains(&token), "{bad:?}");

        // TLS is verified: without the CA the server's certificate is refused.
        let untrusted = run(
            cluster,
            &url,
            &[
                ("XDG_CACHE_HOME", cache.path().as_os_str()),
                ("CLUSTERCTL_GIT_TOKEN", OsStr::new(token.as_str())),
                ("GIT_SSL_NO_VERIFY", OsStr::new("1")),
            ],
            &["plan"],
        );
        assert_eq!(untrusted.code, 65, "{untrusted:?}");
        assert!(untrusted.stderr.contains("certificate"), "{untrusted:?}");
        assert!(!untrusted.stderr.contains(&token), "{untrusted:?}");

        // Plain http would carry the token in clear: refused without trying.
        let http = run(
            cluster,
            &url.replace("https://", "http://"),
            &[("CLUSTERCTL_GIT_TOKEN", OsStr::new(token.as_str()))],
            &["plan"],
        );
        assert_eq!(http.code, 65, "{http:?}");
        assert!(http.stderr.contains("use https://"), "{http:?}");
    });
    reset(&tb);
}
