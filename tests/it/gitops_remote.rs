//! Remote Git sources against the testbed (docs/git-sources.md): a bare repository over `file://` and one
//! served over ssh by a testbed host (`git-upload-pack` on k8s-master) are cloned into the cache and
//! fetched on every run, so a commit pushed to them is what the next plan sees; `status` shows the apps
//! OutOfSync, then Synced after apply; `--require-signed` with SSH-signed and unsigned commits; a commit
//! without the apps directory, with and without `--allow-empty`; a docker volume removed by hand makes a
//! saved plan stale.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::*;

/// clusterctl with `--repo REPO` (a URL or a path) and extra environment.
fn run(tb: &Testbed, repo: &str, env: &[(&str, &Path)], args: &[&str]) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_clusterctl"));
    c.arg("--cluster")
        .arg(tb.cluster_yaml())
        .arg("--repo")
        .arg(repo)
        .args(args)
        .env("NO_COLOR", "1")
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

/// A small nginx Deployment (also the https remote tests' app, `gitops_https`).
pub(crate) fn deployment(name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: nginx
"
    )
}

/// The status row of `kind name`: KIND NAME SYNC HEALTH DEPLOYED TARGET [MESSAGE].
fn status_row(text: &str, kind: &str, name: &str) -> Vec<String> {
    table(text)
        .into_iter()
        .find(|r| {
            r.first().map(String::as_str) == Some(kind)
                && r.get(1).map(String::as_str) == Some(name)
        })
        .unwrap_or_else(|| panic!("no {kind} {name} in status:\n{text}"))
}

fn head(repo: &Repo) -> String {
    repo.git(&["rev-parse", "--short=7", "HEAD"])
        .trim()
        .to_string()
}

#[test]
fn a_file_url_repo_is_fetched_on_every_run_and_status_follows_it() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let cache = tempfile::tempdir().unwrap();
    let env = [("XDG_CACHE_HOME", cache.path())];
    let work = Repo::new();
    work.write("web.yaml", &deployment("web", 1))
        .commit("web 1");
    let bare = tempfile::tempdir().unwrap();
    let bare_path = bare.path().join("apps.git");
    stdout_ok(
        "git clone --bare",
        Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(work.path())
            .arg(&bare_path)
            .output()
            .unwrap(),
    );
    work.git(&["remote", "add", "origin", bare_path.to_str().unwrap()]);
    let url = format!("file://{}", bare_path.display());
    let first = head(&work);

    let plan = ok(run(&tb, &url, &env, &["plan"]));
    assert!(
        plan.stderr
            .contains(&format!("Fetched {url}: commit {first}")),
        "{plan:?}"
    );
    assert!(plan.stdout.contains("web-"), "{plan:?}");
    // The cache: one bare clone per URL, private to the user.
    let root = cache.path().join("clusterctl/repos");
    let mode = std::fs::metadata(&root).unwrap().permissions();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.mode() & 0o777, 0o700);
    let clones: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .collect();
    assert_eq!(clones.len(), 1);
    assert_eq!(
        std::fs::metadata(clones[0].path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );

    // Never applied: OutOfSync and Missing; --exit-code says 2.
    let st = run(&tb, &url, &env, &["status", "--exit-code"]);
    assert_eq!(st.code, 2, "{st:?}");
    let row = status_row(&st.stdout, "Deployment", "web");
    assert_eq!(
        &row[2..6],
        ["OutOfSync", "Missing", "<none>", first.as_str()],
        "{st:?}"
    );
    assert!(st.stdout.contains("deployment/web: create web-"), "{st:?}");

    ok(run(&tb, &url, &env, &["apply", "--yes"]));
    let st = run(&tb, &url, &env, &["status", "--exit-code"]);
    assert_eq!(st.code, 0, "{st:?}");
    let row = status_row(&st.stdout, "Deployment", "web");
    assert_eq!(
        &row[2..6],
        ["Synced", "Healthy", first.as_str(), first.as_str()],
        "{st:?}"
    );

    // A new commit pushed to the remote: the next run fetches it.
    work.write("web.yaml", &deployment("web", 2))
        .commit("web 2");
    work.git(&["push", "-q", "origin", "main"]);
    let second = head(&work);
    let plan = ok(run(&tb, &url, &env, &["plan", "--detailed-exitcode"]).tap(2));
    assert!(
        plan.stderr.contains(&format!("commit {second}")),
        "{plan:?}"
    );
    assert!(plan.stdout.contains(&second), "{plan:?}");
    let st = run(&tb, &url, &env, &["status", "--exit-code"]);
    assert_eq!(st.code, 2, "{st:?}");
    let row = status_row(&st.stdout, "Deployment", "web");
    assert_eq!(
        &row[2..6],
        ["OutOfSync", "Progressing", first.as_str(), second.as_str()],
        "{st:?}"
    );
    ok(run(&tb, &url, &env, &["apply", "--yes"]));
    let st = run(&tb, &url, &env, &["status", "--exit-code", "-o", "json"]);
    assert_eq!(st.code, 0, "{st:?}");
    let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    let web = v["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "web")
        .unwrap()
        .clone();
    assert_eq!(web["sync"], "Synced");
    // The new pod carries the new commit, the first one the old: both are deployed,
    // listed in sorted order so the output is stable (short hashes sort in no commit order).
    let mut both = vec![first.clone(), second.clone()];
    both.sort();
    assert_eq!(web["deployed"], serde_json::json!(both));

    // A branch that exists only on the remote, and a tag, resolve after the fetch.
    work.git(&["tag", "v1", "HEAD~1"]);
    work.git(&["push", "-q", "origin", "v1"]);
    let plan = ok(run(&tb, &url, &env, &["validate", "--ref", "v1"]));
    assert!(plan.stderr.contains(&format!("commit {first}")), "{plan:?}");

    // A pod removed by hand is drift: OutOfSync with the plan's words.
    let pod_host = tb
        .hosts
        .iter()
        .map(|(h, _)| h.clone())
        .find(|h| managed_names(&tb, h).iter().any(|n| n.contains("_web-")))
        .expect("a web pod");
    tb.ssh_ok(
        &pod_host,
        "docker ps -aq --filter label=clusterctl.io/managed=true --filter name=_web- | xargs docker rm -f >/dev/null",
    );
    let st = run(&tb, &url, &env, &["status", "--exit-code"]);
    assert_eq!(st.code, 2, "{st:?}");
    assert!(st.stdout.contains("Drift:\n  deployment/web: "), "{st:?}");
    ok(run(&tb, &url, &env, &["apply", "--yes"]));
    reset(&tb);
}

trait Tap {
    fn tap(self, code: i32) -> Run;
}

impl Tap for Run {
    /// The run with exit `code` counted as success (for `ok`).
    fn tap(mut self, code: i32) -> Run {
        assert_eq!(self.code, code, "{self:?}");
        self.code = 0;
        self
    }
}

#[test]
fn a_repo_served_over_ssh_by_a_testbed_host_is_cloned_with_strict_host_keys() {
    let tb = Testbed::get();
    let _g = serial();
    let cache = tempfile::tempdir().unwrap();
    let server = "k8s-master";
    let addr = tb.addr(server).to_string();
    let dir = unique("/srv/clusterctl-it-apps").replace('-', "_") + ".git";
    tb.ssh_ok(server, &format!("git init -q --bare -b main {dir}"));
    let _cleanup = tb.on_drop(server, format!("rm -rf {dir}"));
    let work = Repo::new();
    work.write("web.yaml", &deployment("web", 1))
        .commit("web 1");
    let ssh_cmd = format!(
        "ssh -F /dev/null -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes",
        tb.identity_file().display(),
        tb.known_hosts().display()
    );
    let url = format!("ssh://root@{addr}{dir}");
    let push = |repo: &Repo| {
        stdout_ok(
            "git push over ssh",
            Command::new("git")
                .args(["push", "-q", &url, "main"])
                .current_dir(repo.path())
                .env("GIT_SSH_COMMAND", &ssh_cmd)
                .output()
                .unwrap(),
        )
    };
    push(&work);
    let key = tb.identity_file();
    let known = tb.known_hosts();
    let env = [
        ("XDG_CACHE_HOME", cache.path()),
        ("CLUSTERCTL_GIT_SSH_KEY", key.as_path()),
        ("CLUSTERCTL_GIT_KNOWN_HOSTS", known.as_path()),
    ];
    let first = head(&work);
    let v = ok(run(&tb, &url, &env, &["validate"]));
    assert!(
        v.stderr.contains(&format!("Fetched {url}: commit {first}")),
        "{v:?}"
    );
    // scp-like syntax, relative to root's home: the same repository.
    let scp = format!("root@{addr}:{dir}");
    let v = ok(run(&tb, &scp, &env, &["validate"]));
    assert!(v.stderr.contains(&first), "{v:?}");

    // Pushed: the next run sees it.
    work.write("web.yaml", &deployment("web", 2))
        .commit("web 2");
    push(&work);
    let second = head(&work);
    let v = ok(run(&tb, &url, &env, &["validate"]));
    assert!(v.stderr.contains(&format!("commit {second}")), "{v:?}");

    // A host key that is not known: refused, never trusted on first use; the key's path is not printed.
    let empty = tempfile::tempdir().unwrap();
    let unknown = empty.path().join("known_hosts");
    std::fs::write(&unknown, "").unwrap();
    let other_cache = tempfile::tempdir().unwrap();
    let r = run(
        &tb,
        &url,
        &[
            ("XDG_CACHE_HOME", other_cache.path()),
            ("CLUSTERCTL_GIT_SSH_KEY", key.as_path()),
            ("CLUSTERCTL_GIT_KNOWN_HOSTS", unknown.as_path()),
        ],
        &["validate"],
    );
    assert_eq!(r.code, 65, "{r:?}");
    assert!(r.stderr.contains("cannot fetch ssh://root@"), "{r:?}");
    assert!(r.stderr.contains("Host key verification failed"), "{r:?}");
}

fn ssh_keygen(args: &[&str], dir: &Path) -> String {
    stdout_ok(
        &format!("ssh-keygen {args:?}"),
        Command::new("ssh-keygen")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap(),
    )
}

#[test]
fn require_signed_accepts_allowed_ssh_signatures_only_before_any_login() {
    let tb = Testbed::get();
    let keys = tempfile::tempdir().unwrap();
    ssh_keygen(
        &["-q", "-t", "ed25519", "-N", "", "-C", "ops", "-f", "ops"],
        keys.path(),
    );
    ssh_keygen(
        &["-q", "-t", "ed25519", "-N", "", "-C", "eve", "-f", "eve"],
        keys.path(),
    );
    let public = std::fs::read_to_string(keys.path().join("ops.pub")).unwrap();
    let allowed = keys.path().join("allowed_signers");
    std::fs::write(&allowed, format!("ops@example.com {}", public.trim())).unwrap();
    let repo = Repo::new();
    repo.write("web.yaml", &deployment("web", 1));
    repo.git(&["add", "-A"]);
    let signed_commit = |repo: &Repo, key: &str, msg: &str| {
        repo.git(&[
            "-c",
            "gpg.format=ssh",
            "-c",
            &format!("user.signingkey={}", keys.path().join(key).display()),
            "commit",
            "-q",
            "--allow-empty",
            "-S",
            "-m",
            msg,
        ]);
    };
    signed_commit(&repo, "ops", "signed by ops");
    let path = repo.path().to_str().unwrap().to_string();
    let allowed_s = allowed.to_str().unwrap().to_string();
    let flags = ["--require-signed", "--allowed-signers", allowed_s.as_str()];
    let v = ok(run(&tb, &path, &[], &[&["plan"][..], &flags].concat()));
    assert!(v.stderr.contains("is signed by ops@example.com"), "{v:?}");

    // Signed by a key not in the file, and not signed at all: exit 65, no host contacted.
    assert_no_login(&tb, |cluster| {
        signed_commit(&repo, "eve", "signed by eve");
        let r = clusterctl_with(cluster, repo.path(), &[&["plan"][..], &flags].concat());
        assert_eq!(r.code, 65, "{r:?}");
        assert!(
            r.stderr.contains("its SSH signature is by a key not in"),
            "{r:?}"
        );
        repo.commit("unsigned");
        let r = clusterctl_with(
            cluster,
            repo.path(),
            &[&["apply", "--yes"][..], &flags].concat(),
        );
        assert_eq!(r.code, 65, "{r:?}");
        assert!(
            r.stderr
                .contains("the commit is not signed (--require-signed)"),
            "{r:?}"
        );
    });
    // An older, signed commit is still accepted.
    ok(run(
        &tb,
        &path,
        &[],
        &[&["validate", "--ref", "HEAD~2"][..], &flags].concat(),
    ));
}

#[test]
fn a_commit_without_the_apps_directory_is_refused_unless_allow_empty() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.write("web.yaml", &deployment("web", 1)).commit("web");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    // The apps directory renamed (a typo in appsDir looks the same): Git has no empty `apps/`.
    repo.git(&["mv", "apps", "app"]);
    repo.commit("moved");
    assert_no_login(&tb, |cluster| {
        let r = clusterctl_with(cluster, repo.path(), &["apply", "--yes"]);
        assert_eq!(r.code, 65, "{r:?}");
        assert!(
            r.stderr.contains("directory 'apps' not found in commit"),
            "{r:?}"
        );
        assert!(
            r.stderr.contains("pass --allow-empty to remove every app"),
            "{r:?}"
        );
    });
    let plan = ok(clusterctl(&tb, &repo, &["plan", "--allow-empty"]));
    assert!(
        plan.stderr
            .contains("has no directory 'apps' and --allow-empty is set"),
        "{plan:?}"
    );
    assert!(plan.stdout.contains("- pod \"default/web-"), "{plan:?}");
    ok(clusterctl(&tb, &repo, &["apply", "--yes", "--allow-empty"]));
    for (h, _) in &tb.hosts {
        assert!(
            !managed_names(&tb, h).iter().any(|n| n.contains("_web-")),
            "{h} still runs web"
        );
    }
}

fn stateful_set(replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: fpdb
spec:
  serviceName: fpdb
  replicas: {replicas}
  selector:
    matchLabels:
      app: fpdb
  template:
    metadata:
      labels:
        app: fpdb
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: busybox
        volumeMounts:
        - name: data
          mountPath: /data
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
"
    )
}

#[test]
fn a_volume_removed_by_hand_makes_a_saved_plan_stale() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.write("db.yaml", &stateful_set(1)).commit("db");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    // Scaled to zero: the claim's volume stays, used by no container.
    repo.write("db.yaml", &stateful_set(0)).commit("db 0");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let (host, volume) = tb
        .hosts
        .iter()
        .find_map(|(h, _)| {
            let v = tb.ssh_ok(
                h,
                "docker volume ls -q --filter label=clusterctl.io/claim-name=data-fpdb-0",
            );
            let v = v.trim().to_string();
            (!v.is_empty()).then(|| (h.clone(), v))
        })
        .expect("the claim's volume");
    repo.seed("nginx-pod.yaml").commit("a pod");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.json");
    let file_s = file.to_str().unwrap();
    ok(clusterctl(&tb, &repo, &["plan", "--out", file_s]));
    tb.ssh_ok(&host, &format!("docker volume rm {volume} >/dev/null"));
    let r = clusterctl(&tb, &repo, &["apply", "--yes", file_s]);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(
        r.stderr.contains(&format!("volume {volume} removed")),
        "{r:?}"
    );
    assert!(
        !managed_names(&tb, "k8s-node1")
            .iter()
            .chain(managed_names(&tb, "k8s-node2").iter())
            .chain(managed_names(&tb, "k8s-node3").iter())
            .any(|n| n.contains("nginx"))
    );
    // Planned again, it applies.
    ok(clusterctl(&tb, &repo, &["plan", "--out", file_s]));
    ok(clusterctl(&tb, &repo, &["apply", "--yes", file_s]));
    for (h, _) in &tb.hosts {
        let _ = tb.ssh(
            h,
            "vs=$(docker volume ls -q --filter label=clusterctl.io/managed=true); [ -z \"$vs\" ] || docker volume rm -f $vs >/dev/null; true",
        );
    }
    reset(&tb);
}

/// gpg with its home in `home` (batch mode, no passphrase, nothing prompts).
fn gpg(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new("gpg")
        .arg("--batch")
        .args(args)
        .env("GNUPGHOME", home)
        .stdin(Stdio::null())
        .output()
        .expect("run gpg")
}

#[test]
fn require_signed_with_a_gpg_keyring_accepts_only_the_allowed_key_before_any_login() {
    let tb = Testbed::get();
    let found = Command::new("sh")
        .args(["-c", "command -v gpg && command -v gpgv"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "gpg and gpgv are not installed: this test needs them (scripts/lib.sh installs gnupg and gpgv, \
         BUILD_PACKAGES)"
    );
    let home = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    struct KillAgent<'a>(&'a Path);
    impl Drop for KillAgent<'_> {
        fn drop(&mut self) {
            let _ = Command::new("gpgconf")
                .args(["--kill", "gpg-agent"])
                .env("GNUPGHOME", self.0)
                .output();
        }
    }
    let _agent = KillAgent(home.path());
    for who in ["Ops <ops@example.com>", "Eve <eve@example.com>"] {
        let out = gpg(
            home.path(),
            &[
                "--passphrase",
                "",
                "--quick-gen-key",
                who,
                "ed25519",
                "sign",
                "never",
            ],
        );
        assert!(out.status.success(), "gpg --quick-gen-key {who}: {out:?}");
    }
    let keys = tempfile::tempdir().unwrap();
    let keyring = keys.path().join("allowed.gpg");
    let export = gpg(home.path(), &["--export", "ops@example.com"]);
    assert!(
        export.status.success() && !export.stdout.is_empty(),
        "{export:?}"
    );
    std::fs::write(&keyring, &export.stdout).unwrap();
    let list = gpg(
        home.path(),
        &["--with-colons", "--list-keys", "ops@example.com"],
    );
    let ops_fpr = String::from_utf8_lossy(&list.stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|r| r.trim_matches(':').to_string())
        })
        .expect("the key's fingerprint");

    let repo = Repo::new();
    repo.write("web.yaml", &deployment("web", 1));
    repo.git(&["add", "-A"]);
    let signed_commit = |key: &str, msg: &str| {
        stdout_ok(
            &format!("git commit -S by {key}"),
            Command::new("git")
                .args([
                    "-c",
                    "gpg.format=openpgp",
                    "-c",
                    &format!("user.signingkey={key}"),
                    "commit",
                    "-q",
                    "--allow-empty",
                    "-S",
                    "-m",
                    msg,
                ])
                .current_dir(repo.path())
                .env("GNUPGHOME", home.path())
                .output()
                .unwrap(),
        );
    };
    signed_commit("ops@example.com", "signed by ops");
    let keyring_s = keyring.to_str().unwrap().to_string();
    let flags = ["--require-signed", "--gpg-keyring", keyring_s.as_str()];
    let path = repo.path().to_str().unwrap().to_string();
    let v = ok(run(&tb, &path, &[], &[&["plan"][..], &flags].concat()));
    assert!(
        v.stderr
            .contains(&format!("is signed by GPG key {ops_fpr}")),
        "{v:?}"
    );

    // Another key's signature, and no signature: exit 65 before any host is contacted.
    assert_no_login(&tb, |cluster| {
        signed_commit("eve@example.com", "signed by eve");
        let r = clusterctl_with(cluster, repo.path(), &[&["plan"][..], &flags].concat());
        assert_eq!(r.code, 65, "{r:?}");
        assert!(
            r.stderr.contains("its GPG signature is not by a key in"),
            "{r:?}"
        );
        repo.commit("unsigned");
        let r = clusterctl_with(
            cluster,
            repo.path(),
            &[&["apply", "--yes"][..], &flags].concat(),
        );
        assert_eq!(r.code, 65, "{r:?}");
        assert!(
            r.stderr
                .contains("the commit is not signed (--require-signed)"),
            "{r:?}"
        );
    });
    // The allowed key's older commit is still accepted.
    ok(run(
        &tb,
        &path,
        &[],
        &[&["validate", "--ref", "HEAD~2"][..], &flags].concat(),
    ));
}
