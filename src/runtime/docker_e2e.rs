//! End-to-end proof (cfg(test)): DockerRuntime commands run through the real SSH transport against a private
//! sshd on loopback, which drives this machine's docker engine. Creates only uniquely named, clusterctl-
//! labelled test containers and removes them, even on failure. Set `CLUSTERCTL_CAPTURE_FIXTURE=DIR` to
//! (re)write `DIR/observe.txt` from the live observe output.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use super::docker::{DockerRuntime, container_name, sandbox_name};
use super::{PodRun, Runtime};
use crate::cmd::Cmd;
use crate::model::{
    OBSERVED_FORMAT_VERSION, ObservedNode, ObservedState, OwnerRef, labels, observed_pods,
};
use crate::transport::test_sshd::{
    CANARY, ContainerCleanup, HOSTILE, TEST_APP_IMAGE, TEST_PAUSE_IMAGE, TestSshd,
    ensure_test_images,
};
use crate::transport::{Connector, Transport, ssh::SshConnector};

async fn run_ok(t: &dyn Transport, c: &Cmd) -> String {
    let out = t.run(c).await.unwrap();
    assert!(out.success(), "{:?} failed: {}", c.args, out.stderr_str());
    out.stdout_str().into_owned()
}

#[tokio::test]
async fn create_observe_start_remove_over_real_ssh() {
    ensure_test_images();
    let sshd = TestSshd::start();
    let t = SshConnector::new()
        .unwrap()
        .connect(&sshd.target(true))
        .await
        .unwrap();
    let rt = DockerRuntime {
        sandbox_image: TEST_PAUSE_IMAGE.to_string(),
        network: None,
    };

    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!("rt-e2e-{}-{nanos}", std::process::id());
    let ns = "clusterctl-test";
    let _cleanup = ContainerCleanup(vec![
        container_name(ns, &name, "main"),
        sandbox_name(ns, &name),
    ]);

    let env: Vec<_> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"name": format!("H{i}"), "value": v}))
        .collect();
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "e2e"}},
        "spec": {"restartPolicy": "Always", "containers": [{
            "name": "main", "image": TEST_APP_IMAGE,
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
    };
    for c in rt.create_pod(&run) {
        run_ok(t.as_ref(), &c).await;
    }

    // The container got every hostile value byte-exact, and no shell evaluated any of them.
    let app = container_name(ns, &name, "main");
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
    assert!(
        !Path::new(CANARY).exists(),
        "a hostile value was evaluated by a shell"
    );

    // Observe: one round trip, our pod comes back self-describing.
    let observe = |stdout: String| {
        let (facts, containers) = rt.parse_observation(&stdout).unwrap();
        ObservedState {
            format_version: OBSERVED_FORMAT_VERSION,
            observed_at: String::new(),
            nodes: vec![ObservedNode {
                network: None,
                roster: None,
                name: "loopback".into(),
                reachable: true,
                error: None,
                facts: Some(facts),
                containers,
            }],
        }
    };
    let stdout = run_ok(t.as_ref(), &rt.observe_cmd()).await;
    if let Some(dir) = std::env::var_os("CLUSTERCTL_CAPTURE_FIXTURE") {
        std::fs::write(Path::new(&dir).join("observe.txt"), &stdout).unwrap();
    }
    let state = observe(stdout);
    let facts = state.nodes[0].facts.clone().unwrap();
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
    t.close().await;
}
