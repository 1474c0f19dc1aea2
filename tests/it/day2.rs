//! The day-2 tools on the testbed (issue 14's acceptance point 3, docker hosts): `logs` shows the app's
//! output, `logs -f` follows and stops on SIGINT with exit 130 and no ssh process left, `exec` returns
//! stdout and the remote exit code with hostile argv byte-exact, `exec -it` gets a shell prompt through a
//! pseudo-terminal (`script`), `port-forward svc/my-nginx` serves the page on 127.0.0.1, `top pods` shows
//! a busy pod's CPU, `get events` lists a container start and a die with its exit code.
//!
//! Traffic goes only to loopback (port-forward) and the testbed's hosts (over SSH).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const EXIT_SIGINT: i32 = 130;

/// A pod that prints a numbered line every second (stdout and stderr) and burns CPU in a second container,
/// a pod whose container exits 1 (docker restarts it), and the seed's Deployment + NodePort Service.
const DAY2_APPS: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: talker
  labels:
    app: talker
spec:
  containers:
  - name: talk
    image: busybox
    command: ["sh", "-c", "i=0; while :; do echo \"line $i\"; echo \"err $i\" >&2; i=$((i+1)); sleep 1; done"]
  - name: busy
    image: busybox
    command: ["sh", "-c", "yes > /dev/null"]
---
apiVersion: v1
kind: Pod
metadata:
  name: crasher
spec:
  containers:
  - name: crash
    image: clusterctl/crash
"#;

/// The day-2 cluster, applied (a no-op when it already runs).
fn day2_cluster(tb: &Testbed) -> Repo {
    let repo = Repo::new();
    repo.seed("my_nginx.yaml")
        .seed("my_service.yaml")
        .write("day2.yaml", DAY2_APPS)
        .commit("day2");
    ok(clusterctl(tb, &repo, &["apply", "--yes"]));
    repo
}

fn spawn(tb: &Testbed, repo: &Repo, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_clusterctl"))
        .arg("--cluster")
        .arg(tb.cluster_yaml())
        .arg("--repo")
        .arg(repo.path())
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run clusterctl")
}

fn sigint(child: &Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -INT failed");
}

/// The ssh processes (masters and streaming clients) of the clusterctl run `pid`: their control
/// directory `clusterctl-ssh-<pid>-…` is in their command line.
fn ssh_of(pid: u32) -> Vec<String> {
    let out = Command::new("pgrep")
        .args(["-af", &format!("clusterctl-ssh-{pid}-")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("ssh "))
        .map(str::to_string)
        .collect()
}

/// Waits until no ssh of run `pid` is left (masters linger ssh's ControlPersist, 3 s, after their last
/// client); panics listing them after 20 s.
fn assert_no_ssh_left(pid: u32) {
    let start = Instant::now();
    loop {
        let left = ssh_of(pid);
        if left.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "ssh processes left behind by clusterctl {pid}:\n{}",
            left.join("\n")
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The number of a `line N` line.
fn line_no(l: &str) -> Option<u64> {
    l.trim().strip_prefix("line ")?.parse().ok()
}

#[test]
fn logs_show_the_apps_output_with_kubectls_defaults_and_prefixes() {
    let tb = Testbed::get();
    let _g = serial();
    let repo = day2_cluster(&tb);
    // Two containers and no -c: kubectl's default container and its notice on stderr.
    let run = ok(clusterctl(&tb, &repo, &["logs", "talker", "--tail", "4"]));
    assert!(
        run.stderr
            .contains("Defaulted container \"talk\" out of: talk, busy"),
        "{run:?}"
    );
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{run:?}");
    // stdout and stderr of the app, as the kubelet serves them: both streams.
    assert!(lines.iter().any(|l| l.starts_with("line ")), "{run:?}");
    assert!(lines.iter().any(|l| l.starts_with("err ")), "{run:?}");
    // -l: every matching pod, 10 lines by default, --prefix names pod and container.
    let run = ok(clusterctl(
        &tb,
        &repo,
        &["logs", "-l", "app=talker", "-c", "talk", "--prefix"],
    ));
    assert_eq!(run.stdout.lines().count(), 10, "{run:?}");
    assert!(
        run.stdout
            .lines()
            .all(|l| l.starts_with("[pod/talker/talk] line ")
                || l.starts_with("[pod/talker/talk] err ")),
        "{run:?}"
    );
    // kubectl's errors.
    let run = clusterctl(&tb, &repo, &["logs", "talker", "-c", "nope"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("container nope is not valid for pod talker"),
        "{run:?}"
    );
    let run = clusterctl(&tb, &repo, &["logs", "talker", "-c", "talk", "--previous"]);
    assert!(
        run.stderr
            .contains("previous terminated container \"talk\" in pod \"talker\" not found"),
        "{run:?}"
    );
    let run = clusterctl(&tb, &repo, &["logs", "ghost"]);
    assert!(run.stderr.contains("pods \"ghost\" not found"), "{run:?}");
}

#[test]
fn logs_follow_new_lines_and_stop_on_sigint_leaving_no_ssh() {
    let tb = Testbed::get();
    let _g = serial();
    let repo = day2_cluster(&tb);
    let mut child = spawn(
        &tb,
        &repo,
        &["logs", "-f", "talker", "-c", "talk", "--tail", "1"],
    );
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    // The tail's one line, then lines the app prints after: a `line N` greater than the first one seen.
    let mut first = None;
    let mut followed = None;
    let mut line = String::new();
    while followed.is_none() {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "logs -f ended before following a new line"
        );
        if let Some(n) = line_no(&line) {
            match first {
                None => first = Some(n),
                Some(f) if n > f => followed = Some(n),
                Some(_) => {}
            }
        }
    }
    // The stream is live: ssh of this run is there now.
    assert!(!ssh_of(pid).is_empty(), "no ssh while following?");
    sigint(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(EXIT_SIGINT), "exit status {status:?}");
    assert_no_ssh_left(pid);
    // And no `docker logs` left on the host either (the watchdog ended it).
    let host = pod_node(&tb, &repo, "talker");
    let start = Instant::now();
    loop {
        let ps = tb.ssh_ok(&host, "ps -eo args");
        if !ps.lines().any(|l| l.starts_with("docker logs")) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "docker logs still running on {host}:\n{ps}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The node a pod runs on (`get pods -o wide`).
fn pod_node(tb: &Testbed, repo: &Repo, pod: &str) -> String {
    pod_rows(tb, repo)
        .into_iter()
        .find(|r| r[0] == pod)
        .map(|r| r[6].clone())
        .unwrap_or_else(|| panic!("no pod {pod}"))
}

#[test]
fn exec_passes_hostile_argv_byte_exact_and_returns_the_exit_code() {
    let tb = Testbed::get();
    let _g = serial();
    let repo = day2_cluster(&tb);
    let hostile = [
        "$(touch /tmp/pwned)",
        "`touch /tmp/pwned`",
        "; touch /tmp/pwned",
        "it's \"quoted\"",
        "two  spaces",
        "line1\nline2",
        "-x",
        "",
        "$HOME * ?",
    ];
    let mut args = vec!["exec", "talker", "-c", "talk", "--", "printf", "%s\\0"];
    args.extend(hostile);
    let run = ok(clusterctl(&tb, &repo, &args));
    let parts: Vec<&str> = run.stdout.split('\0').collect();
    assert_eq!(&parts[..parts.len() - 1], hostile, "{run:?}");
    let pwned = clusterctl(
        &tb,
        &repo,
        &["exec", "talker", "-c", "talk", "--", "ls", "/tmp/pwned"],
    );
    assert_ne!(pwned.code, 0, "a value ran as code: {pwned:?}");
    // The remote command's status is clusterctl's, with kubectl's words.
    let run = clusterctl(
        &tb,
        &repo,
        &[
            "exec",
            "talker",
            "-c",
            "talk",
            "--",
            "sh",
            "-c",
            "echo out; exit 7",
        ],
    );
    assert_eq!(run.code, 7, "{run:?}");
    assert_eq!(run.stdout, "out\n", "{run:?}");
    assert!(
        run.stderr.contains("command terminated with exit code 7"),
        "{run:?}"
    );
}

#[test]
fn exec_it_gives_a_shell_on_a_pseudo_terminal() {
    let tb = Testbed::get();
    let _g = serial();
    let repo = day2_cluster(&tb);
    let line = format!(
        "{} --cluster {} --repo {} exec -it talker -c talk -- sh",
        env!("CARGO_BIN_EXE_clusterctl"),
        tb.cluster_yaml().display(),
        repo.path().display()
    );
    // `script` runs clusterctl on a pseudo-terminal, as a user's terminal would.
    let mut child = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script");
    let mut stdin = child.stdin.take().unwrap();
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = tx.send(buf[..n].to_vec());
                }
            }
        }
    });
    // busybox sh only prints a prompt on a terminal; `tty` names the pseudo-terminal.
    stdin.write_all(b"tty; echo answer-$((6*7))\n").unwrap();
    let mut all = Vec::new();
    while !String::from_utf8_lossy(&all).contains("answer-42") {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(chunk) => all.extend_from_slice(&chunk),
            Err(_) => panic!(
                "no answer from the shell:\n{}",
                String::from_utf8_lossy(&all)
            ),
        }
    }
    stdin.write_all(b"exit 5\n").unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    all.extend(rx.try_iter().flatten());
    let text = String::from_utf8_lossy(&all).into_owned();
    assert!(text.contains("# "), "no shell prompt:\n{text}");
    assert!(text.contains("/dev/pts/"), "not a tty:\n{text}");
    assert!(text.contains("answer-42"), "{text}");
    assert_eq!(status.code(), Some(5), "{text}");
}

#[test]
fn port_forward_svc_serves_the_page_on_loopback() {
    let tb = Testbed::get();
    let _g = serial();
    let repo = day2_cluster(&tb);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = spawn(
        &tb,
        &repo,
        &["port-forward", "svc/my-nginx", &format!("{port}:8080")],
    );
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    // The service port 8080 maps to the pods' targetPort 80, as kubectl shows it.
    assert_eq!(line, format!("Forwarding from 127.0.0.1:{port} -> 80\n"));
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    assert!(page.contains("Welcome to nginx!"), "{page}");
    assert!(page.contains("served-by: my-nginx-"), "{page}");
    // Nothing listens on the hosts: the tunnel is an SSH channel.
    for (host, _) in &tb.hosts {
        let listening = tb.ssh_ok(host, "cat /proc/net/tcp /proc/net/tcp6");
        let hex = format!(":{port:04X} ");
        assert!(
            !listening.lines().any(|l| l
                .split_whitespace()
                .nth(1)
                .is_some_and(|a| a.ends_with(hex.trim()))),
            "{host} listens on {port}"
        );
    }
    sigint(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(EXIT_SIGINT));
    assert_no_ssh_left(pid);
}

#[test]
fn top_pods_shows_a_busy_pods_cpu() {
    let tb = Testbed::get();
    let _g = serial();
    let repo = day2_cluster(&tb);
    let run = ok(clusterctl(&tb, &repo, &["top", "pods"]));
    let t = table(&run.stdout);
    assert_eq!(t[0], ["NAME", "CPU(cores)", "MEMORY(bytes)"], "{run:?}");
    let row = rows(&run.stdout, "talker");
    assert_eq!(row.len(), 1, "{run:?}");
    let millis: u64 = row[0][1]
        .strip_suffix('m')
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("cpu cell {:?}", row[0][1]));
    assert!(millis > 0, "a `yes` loop uses no CPU? {run:?}");
    assert!(row[0][2].ends_with("Mi"), "{run:?}");
    let run = ok(clusterctl(&tb, &repo, &["top", "nodes"]));
    let t = table(&run.stdout);
    assert_eq!(
        t[0],
        ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"],
        "{run:?}"
    );
    assert_eq!(t.len(), 1 + tb.hosts.len(), "{run:?}");
    // Every host was measured (its own cgroup's counters on the testbed).
    for r in &t[1..] {
        assert!(r[1].ends_with('m') && r[3].ends_with("Mi"), "{run:?}");
    }
}

#[test]
fn get_events_lists_a_start_and_a_die_with_its_exit_code() {
    let tb = Testbed::get();
    let _g = serial();
    let repo = day2_cluster(&tb);
    // The crasher exits 1 right away and docker restarts it: a die is on record within a moment.
    let start = Instant::now();
    loop {
        let run = ok(clusterctl(
            &tb,
            &repo,
            &["get", "events", "--for", "pod/crasher"],
        ));
        let t = table(&run.stdout);
        if t.len() > 1 {
            assert_eq!(
                t[0],
                ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
                "{run:?}"
            );
        }
        let has = |reason: &str, msg: &str| {
            t.iter()
                .skip(1)
                .any(|r| r[2] == reason && r[3] == "pod/crasher" && r[4] == msg)
        };
        if has("Started", "Started container crash")
            && has("Error", "Container crash exited with code 1")
        {
            assert!(
                t.iter().skip(1).all(|r| r[3] == "pod/crasher"),
                "--for shows other objects: {run:?}"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no start and die of the crasher: {run:?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let run = ok(clusterctl(&tb, &repo, &["get", "events", "-A"]));
    assert!(run.stdout.starts_with("NAMESPACE "), "{run:?}");
    assert!(run.stdout.contains("Started container talk"), "{run:?}");
}
