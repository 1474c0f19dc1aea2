//! The SSH transport, observe and the docker runtime's commands against the testbed's real hosts, below the
//! CLI: argv byte-exact through the remote login shell, stdin, stderr and exit codes, the session bound,
//! unknown and changed host keys refused with the real fingerprint, one unreachable host among reachable
//! ones, and a pod created, observed, restarted and removed with the exact commands `DockerRuntime` builds.
//! (These needed a private root sshd and this machine's docker in the unit tier before; see docs/testing.md.)
// The testbed guards (`hosts_up`, `serial`) are std mutexes held for a whole test on purpose, across its
// awaits: each test runs on its own runtime, and the guard only keeps other tests off the hosts.
#![allow(clippy::await_holding_lock)]

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clusterctl::cmd::Cmd;
use clusterctl::inventory::{self, Host, Inventory, SshSettings};
use clusterctl::model::{
    OBSERVED_FORMAT_VERSION, ObservedNode, ObservedState, OwnerRef, labels, observed_pods,
};
use clusterctl::runtime::docker::{DockerRuntime, container_name, sandbox_name};
use clusterctl::runtime::{PodRun, Runtime, runtime_for};
use clusterctl::transport::ssh::SshConnector;
use clusterctl::transport::{Connector, Transport, TransportError};
use serde_json::json;

use crate::common::{Testbed, hosts_up, serial, stdout_ok, unique};

/// A file no test creates; the hostile values below try to create it through a shell on the host.
const CANARY: &str = "/tmp/clusterctl-pwned-canary";

/// Values a shell would interpret. The transport must deliver each byte-exact as one argv element.
const HOSTILE: &[&str] = &[
    "$(touch /tmp/clusterctl-pwned-canary)",
    "; rm -rf /tmp/clusterctl-nonexistent; touch /tmp/clusterctl-pwned-canary",
    "`touch /tmp/clusterctl-pwned-canary`",
    "it's",
    "say \"hi\" 'there'",
    "line1\nline2\n",
    "-rf",
    "--privileged",
    "",
    "!bang $HOME ${PATH} * ? ~ &| > <",
    "back\\slash\ttab",
    "unicode: 日本語",
];

/// The testbed's inventory as clusterctl reads it (key, known_hosts, strict checking).
fn testbed_inventory(tb: &Testbed) -> Inventory {
    inventory::load(&tb.cluster_yaml()).unwrap_or_else(|e| panic!("testbed cluster.yaml: {e:?}"))
}

fn host<'a>(inv: &'a Inventory, name: &str) -> &'a Host {
    inv.host(name)
        .unwrap_or_else(|| panic!("no {name} in the inventory"))
}

/// The one place the tests open a connection (if the connector's signature changes, change it here).
async fn connect(
    connector: &SshConnector,
    host: &Host,
    ssh: &SshSettings,
) -> Result<Arc<dyn Transport>, TransportError> {
    connector
        .connect(&clusterctl::observe::target(host, ssh))
        .await
}

async fn run_ok(t: &dyn Transport, c: &Cmd) -> String {
    let out = t.run(c).await.unwrap();
    assert!(out.success(), "{:?} failed: {}", c.args, out.stderr_str());
    out.stdout_str().into_owned()
}

fn canary_absent(tb: &Testbed, host: &str) {
    let out = tb.ssh(host, &format!("test -e {CANARY}"));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{host}: a hostile value was evaluated by a shell (or ssh failed: {out:?})"
    );
}

/// The SHA256 fingerprint of a `type base64` public key, as `ssh-keygen -lf` prints it (independent of
/// clusterctl's own key code).
fn fingerprint(public_key: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("k.pub");
    std::fs::write(&p, format!("{public_key}\n")).unwrap();
    let out = stdout_ok(
        "ssh-keygen -lf",
        Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&p)
            .output()
            .unwrap(),
    );
    out.split_whitespace()
        .nth(1)
        .expect("ssh-keygen -lf output")
        .to_string()
}

/// The host key pinned for `address` in the testbed's known_hosts (`ssh-ed25519 AAAA…`).
fn pinned_key(tb: &Testbed, address: &str) -> String {
    std::fs::read_to_string(tb.known_hosts())
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{address} ")))
        .unwrap_or_else(|| panic!("no key for {address} in {}", tb.known_hosts().display()))
        .to_string()
}

#[tokio::test]
async fn argv_stdin_exit_codes_and_the_session_bound_over_real_ssh() {
    let tb = Testbed::get();
    let inv = testbed_inventory(&tb);
    let _up = hosts_up();
    let node = "k8s-node1";
    tb.ssh_ok(node, &format!("rm -f {CANARY}"));
    let mut ssh = inv.ssh.clone();
    ssh.max_sessions = 3;
    let connector = SshConnector::new().unwrap();
    let t = connect(&connector, host(&inv, node), &ssh).await.unwrap();
    assert_eq!(t.host(), node);

    let cmd = Cmd::read(
        "printf",
        std::iter::once("%s\\0").chain(HOSTILE.iter().copied()),
    );
    let out = t.run(&cmd).await.unwrap();
    assert!(out.success(), "{}", out.stderr_str());
    let text = String::from_utf8(out.stdout).unwrap();
    let parts: Vec<&str> = text.split('\0').collect();
    // printf ends every record with a NUL, so the last piece is empty.
    assert_eq!(&parts[..parts.len() - 1], HOSTILE);
    canary_absent(&tb, node);

    let out = t
        .run(&Cmd::read("sh", ["-c", "cat; echo err >&2; exit 7"]).with_stdin("in'put\n"))
        .await
        .unwrap();
    assert_eq!(
        (out.status, out.stdout.as_slice(), out.stderr.as_slice()),
        (7, &b"in'put\n"[..], &b"err\n"[..])
    );

    // 12 commands at once with maxSessions 3: they run three at a time, never more, never fewer. Each
    // prints when it started and ended on the host's clock (nanoseconds).
    let timed = Cmd::read(
        "sh",
        [
            "-c",
            "s=$(date +%s%N); sleep 0.5; echo \"$s $(date +%s%N)\"",
        ],
    );
    let runs = (0..12).map(|_| t.run(&timed));
    let spans: Vec<(u128, u128)> = futures::future::join_all(runs)
        .await
        .into_iter()
        .map(|r| {
            let r = r.unwrap();
            assert!(r.success(), "{}", r.stderr_str());
            let text = r.stdout_str().into_owned();
            let mut it = text.split_whitespace().map(|n| n.parse::<u128>().unwrap());
            (it.next().unwrap(), it.next().unwrap())
        })
        .collect();
    let most_at_once = spans
        .iter()
        .map(|&(start, _)| {
            spans
                .iter()
                .filter(|&&(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap();
    assert_eq!(most_at_once, 3, "sessions running at once: {spans:?}");

    t.close().await;
    let err = t.run(&timed).await.unwrap_err();
    assert!(matches!(err, TransportError::Exec { .. }), "{err:?}");
}

#[tokio::test]
async fn unknown_and_changed_host_keys_are_refused_with_the_real_fingerprint() {
    let tb = Testbed::get();
    let inv = testbed_inventory(&tb);
    let _up = hosts_up();
    let (name, other) = ("k8s-node2", "k8s-node3");
    let target = host(&inv, name);
    let expected_fp = fingerprint(&pinned_key(&tb, &target.address));
    let dir = tempfile::tempdir().unwrap();
    let known_hosts = dir.path().join("known_hosts");
    let mut ssh = inv.ssh.clone();
    ssh.known_hosts_file = Some(known_hosts.clone());
    let connector = SshConnector::new().unwrap();

    // Unknown: an empty known_hosts, strict.
    std::fs::write(&known_hosts, "").unwrap();
    match connect(&connector, target, &ssh).await.err().unwrap() {
        TransportError::HostKeyUnknown {
            fingerprint,
            hint,
            host,
        } => {
            assert_eq!(host, name);
            assert_eq!(fingerprint, expected_fp);
            assert_eq!(
                hint,
                format!(
                    "verify the fingerprint out of band, then pin the key: ssh-keyscan -t ed25519 -p 22 {} >> {}",
                    target.address,
                    known_hosts.display()
                )
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), "");

    // Changed: another host's real key pinned for this address.
    let wrong = format!("{} {}\n", target.address, pinned_key(&tb, tb.addr(other)));
    std::fs::write(&known_hosts, &wrong).unwrap();
    let err = connect(&connector, target, &ssh).await.err().unwrap();
    assert!(
        matches!(err, TransportError::HostKeyChanged { ref fingerprint, .. } if *fingerprint == expected_fp),
        "{err:?}"
    );
    // Not strict still refuses a *changed* key (accept-new only accepts unknown ones).
    ssh.strict_host_key_checking = false;
    let err = connect(&connector, target, &ssh).await.err().unwrap();
    assert!(
        matches!(err, TransportError::HostKeyChanged { .. }),
        "{err:?}"
    );
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), wrong);

    // Not strict + unknown: accepted and pinned, with the host's real key.
    std::fs::write(&known_hosts, "").unwrap();
    let t = connect(&connector, target, &ssh).await.unwrap();
    assert_eq!(
        run_ok(t.as_ref(), &Cmd::read("hostname", Vec::<String>::new()))
            .await
            .trim(),
        name
    );
    let pinned = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(
        pinned.contains(&pinned_key(&tb, &target.address)),
        "{pinned}"
    );
    t.close().await;
}

#[tokio::test]
async fn observe_reads_every_reachable_host_and_reports_the_unreachable_one() {
    let tb = Testbed::get();
    let mut inv = testbed_inventory(&tb);
    let _up = hosts_up();
    // A worker whose sshd port is closed: the host answers with a refusal at once.
    let gone = inv
        .hosts
        .iter_mut()
        .find(|h| h.name == "k8s-node3")
        .expect("k8s-node3");
    gone.port = 1;
    inv.ssh.connect_timeout = 3;
    let started = Instant::now();
    let cluster =
        clusterctl::observe::observe(&inv, &SshConnector::new().unwrap(), runtime_for).await;
    assert!(started.elapsed() < Duration::from_secs(20));
    let names: Vec<&str> = cluster
        .state
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(names, ["k8s-master", "k8s-node1", "k8s-node2", "k8s-node3"]);
    for n in &cluster.state.nodes {
        if n.name == "k8s-node3" {
            assert!(!n.reachable);
            assert!(
                n.error
                    .as_deref()
                    .unwrap_or("")
                    .contains("Connection refused"),
                "{:?}",
                n.error
            );
        } else {
            assert!(n.reachable, "{}: {:?}", n.name, n.error);
            let facts = n.facts.as_ref().unwrap();
            assert_eq!(facts.hostname, n.name);
            assert!(facts.container_runtime_version.starts_with("docker://"));
        }
    }
    assert_eq!(
        cluster.transports.keys().collect::<Vec<_>>(),
        ["k8s-master", "k8s-node1", "k8s-node2"]
    );
    cluster.close().await;
}

/// DockerRuntime's commands, run one by one through the SSH transport on a testbed host. Set
/// `CLUSTERCTL_CAPTURE_FIXTURE=DIR` to (re)write `DIR/observe.txt` from the live observe output.
#[tokio::test]
async fn docker_runtime_creates_observes_restarts_and_removes_a_pod_byte_exact() {
    let tb = Testbed::get();
    // Its containers carry clusterctl's labels: a concurrent apply would see them as foreign pods.
    let _g = serial();
    let inv = testbed_inventory(&tb);
    let node = "k8s-node2";
    tb.ssh_ok(node, &format!("rm -f {CANARY}"));
    let t = connect(&SshConnector::new().unwrap(), host(&inv, node), &inv.ssh)
        .await
        .unwrap();
    let rt = DockerRuntime::default();

    let name = unique("rt-e2e");
    let ns = "clusterctl-test";
    let app = container_name(ns, &name, "main");
    let _cleanup = tb.on_drop(
        node,
        format!("docker rm -f {app} {}", sandbox_name(ns, &name)),
    );

    let env: Vec<_> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"name": format!("H{i}"), "value": v}))
        .collect();
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "e2e"}},
        // Never: the host's node supervisor leaves the container stopped below to `start_pod`.
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "main", "image": "busybox:latest",
            // sh runs `sleep`; the hostile values are positional parameters it never evaluates.
            "command": ["/bin/sh", "-c", "exec sleep 1000", "argv0"],
            "args": HOSTILE,
            "env": env,
            "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}}
        }]}
    }))
    .unwrap();
    let owner = OwnerRef {
        kind: "ReplicaSet".into(),
        name: "rs-x".into(),
    };
    let hashes: BTreeMap<String, String> = [("main".to_string(), "spec-1".to_string())].into();
    let run = PodRun {
        pod: &pod,
        owner: Some(&owner),
        template_hash: "tmpl",
        commit: "c0ffee",
        spec_hashes: &hashes,
        ip: None,
        config: None,
    };
    // The pull steps first (busybox comes from the testbed registry, the sandbox image is preloaded).
    for c in rt.pull_images(&pod).into_iter().chain(rt.create_pod(&run)) {
        run_ok(t.as_ref(), &c).await;
    }

    // The container got every hostile value byte-exact, and no shell evaluated any of them.
    let inspect = run_ok(
        t.as_ref(),
        &Cmd::read(
            "docker",
            [
                "inspect",
                "--format",
                "{{json .Config.Env}}\n{{json .Path}}\n{{json .Args}}",
                &app,
            ],
        ),
    )
    .await;
    let mut lines = inspect.lines();
    let env_got: Vec<String> = serde_json::from_str(lines.next().unwrap()).unwrap();
    for (i, v) in HOSTILE.iter().enumerate() {
        assert!(
            env_got.contains(&format!("H{i}={v}")),
            "H{i} not byte-exact in {env_got:?}"
        );
    }
    assert_eq!(
        serde_json::from_str::<String>(lines.next().unwrap()).unwrap(),
        "/bin/sh"
    );
    let args_got: Vec<String> = serde_json::from_str(lines.next().unwrap()).unwrap();
    let mut want = vec!["-c".to_string(), "exec sleep 1000".into(), "argv0".into()];
    want.extend(HOSTILE.iter().map(|s| s.to_string()));
    assert_eq!(args_got, want);
    canary_absent(&tb, node);

    // Observe: one round trip, our pod comes back self-describing.
    let observe = |stdout: String| {
        let (facts, containers) = rt.parse_observation(&stdout).unwrap();
        ObservedState {
            format_version: OBSERVED_FORMAT_VERSION,
            observed_at: String::new(),
            nodes: vec![ObservedNode {
                config_volumes: Default::default(),
                pull_failures: Vec::new(),
                volumes: Vec::new(),
                network: None,
                roster: None,
                name: node.into(),
                reachable: true,
                error: None,
                facts: Some(facts),
                containers,
            }],
        }
    };
    let stdout = run_ok(t.as_ref(), &rt.observe_cmd()).await;
    if let Some(dir) = std::env::var_os("CLUSTERCTL_CAPTURE_FIXTURE") {
        std::fs::write(std::path::Path::new(&dir).join("observe.txt"), &stdout).unwrap();
    }
    let state = observe(stdout);
    let facts = state.nodes[0].facts.clone().unwrap();
    assert_eq!(facts.hostname, node);
    assert!(facts.container_runtime_version.starts_with("docker://"));
    assert!(facts.cpu_cores >= 1 && facts.memory_bytes > 0);
    let ours = observed_pods(&state)
        .into_iter()
        .find(|p| p.name == name)
        .expect("our pod observed");
    let sandbox = ours.sandbox.as_ref().unwrap();
    assert_eq!(sandbox.status, "running");
    assert!(sandbox.ip.is_some(), "sandbox has an IP on the bridge");
    let main = &ours.containers["main"];
    assert_eq!(
        (main.status.as_str(), main.ip.as_deref()),
        ("running", None)
    );
    assert_eq!(main.label(labels::SPEC_HASH), Some("spec-1"));
    assert_eq!(main.label(labels::COMMIT), Some("c0ffee"));
    assert_eq!(ours.owner.as_ref(), Some(&owner));
    assert_eq!(ours.template_hash.as_deref(), Some("tmpl"));
    let manifest = ours.manifest.as_ref().expect("manifest label parsed");
    assert_eq!(
        manifest.spec.as_ref().unwrap().containers[0]
            .args
            .as_deref()
            .unwrap(),
        HOSTILE
    );

    // Stop the app: start_pod brings back exactly that one.
    run_ok(
        t.as_ref(),
        &Cmd::write("docker", ["stop", "--time=1", &app]),
    )
    .await;
    let state = observe(run_ok(t.as_ref(), &rt.observe_cmd()).await);
    let ours = observed_pods(&state)
        .into_iter()
        .find(|p| p.name == name)
        .unwrap();
    assert_eq!(ours.containers["main"].status, "exited");
    let starts = rt.start_pod(&ours);
    assert_eq!(starts, vec![Cmd::write("docker", ["start", app.as_str()])]);
    for c in starts {
        run_ok(t.as_ref(), &c).await;
    }
    let state = observe(run_ok(t.as_ref(), &rt.observe_cmd()).await);
    let ours = observed_pods(&state)
        .into_iter()
        .find(|p| p.name == name)
        .unwrap();
    assert!(ours.all_containers().all(|c| c.status == "running"));

    for c in rt.remove_pod(&ours) {
        run_ok(t.as_ref(), &c).await;
    }
    let state = observe(run_ok(t.as_ref(), &rt.observe_cmd()).await);
    assert!(observed_pods(&state).iter().all(|p| p.name != name));
    let left = tb.ssh_ok(node, &format!("docker ps -aq --filter name={name}"));
    assert_eq!(left.trim(), "", "containers left behind");
    t.close().await;
}
