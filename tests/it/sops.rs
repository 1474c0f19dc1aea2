//! SOPS/age-encrypted Secrets in Git on real hosts (docs/secrets.md): a Secret encrypted to an age
//! recipient, as Flux's docs write it, is decrypted at plan time with the identity from
//! `SOPS_AGE_KEY_FILE`, and the value reaches the container (env and volume) while the repository holds
//! only ciphertext; with the wrong identity, or none, the plan fails at the file's `sops.age` before any
//! host is contacted, and apply changes nothing.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{Repo, Run, Testbed, assert_no_login, ok, reset, serial, unique};

#[path = "../support/sops_encrypt.rs"]
mod enc;

const NODE: &str = "k8s-node1";

/// clusterctl with only the given sops variables (and no user key file: HOME points nowhere).
fn clusterctl_sops(cluster: &Path, repo: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clusterctl"));
    cmd.arg("--cluster")
        .arg(cluster)
        .arg("--repo")
        .arg(repo)
        .args(args)
        .env("NO_COLOR", "1")
        .env("HOME", home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_FILE")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run clusterctl");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: sops-web
spec:
  nodeName: k8s-node1
  volumes:
  - name: creds
    secret: {secretName: db-sops}
  containers:
  - name: web
    image: busybox
    command: ["sh", "-c", "sleep 3600"]
    env:
    - name: DB_PASSWORD
      valueFrom:
        secretKeyRef: {name: db-sops, key: password}
    volumeMounts:
    - {name: creds, mountPath: /etc/creds}
"#;

#[test]
fn an_age_encrypted_secret_is_decrypted_and_the_wrong_identity_touches_nothing() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let sentinel = unique("sops-sentinel");
    let (secret_key, recipient) = enc::identity();
    let (wrong_key, _) = enc::identity();
    let keys = tempfile::tempdir().unwrap();
    let right_file = keys.path().join("keys.txt");
    std::fs::write(
        &right_file,
        format!("# public key: {recipient}\n{secret_key}\n"),
    )
    .unwrap();
    let wrong_file = keys.path().join("wrong.txt");
    std::fs::write(&wrong_file, format!("{wrong_key}\n")).unwrap();
    let right = right_file.to_str().unwrap();

    let repo = Repo::new();
    let secret = enc::secret(
        "db-sops",
        &[("password", &sentinel)],
        &enc::Sops {
            recipients: &[&recipient],
            ..Default::default()
        },
    );
    assert!(!secret.contains(&sentinel));
    repo.write("secret.enc.yaml", &secret)
        .write("pod.yaml", POD)
        .commit("an encrypted secret and its consumer");
    let committed = repo.git(&["show", "HEAD:apps/secret.enc.yaml"]);
    assert!(
        committed.contains("ENC[AES256_GCM,") && !committed.contains(&sentinel),
        "the repository holds ciphertext only"
    );

    // Wrong identity, and none: a clear error at the file, before any host is contacted.
    assert_no_login(&tb, |cluster| {
        for env in [
            vec![("SOPS_AGE_KEY_FILE", wrong_file.to_str().unwrap())],
            vec![],
        ] {
            let run = clusterctl_sops(cluster, repo.path(), &env, &["apply", "--yes"]);
            assert_ne!(run.code, 0, "{run:?}");
            assert!(
                run.stderr.contains("apps/secret.enc.yaml:")
                    && run
                        .stderr
                        .contains("sops.age: cannot decrypt the file's data key")
                    && run.stderr.contains(&recipient),
                "{run:?}"
            );
            assert!(!run.stderr.contains("AGE-SECRET-KEY"), "{run:?}");
        }
    });
    assert!(
        crate::common::managed_names(&tb, NODE).is_empty(),
        "nothing was created"
    );

    // The right identity: plan and apply without the value, which arrives in the container.
    let env = [("SOPS_AGE_KEY_FILE", right)];
    let plan = ok(clusterctl_sops(
        &tb.cluster_yaml(),
        repo.path(),
        &env,
        &["plan"],
    ));
    let json = ok(clusterctl_sops(
        &tb.cluster_yaml(),
        repo.path(),
        &env,
        &["plan", "-o", "json"],
    ));
    let apply = ok(clusterctl_sops(
        &tb.cluster_yaml(),
        repo.path(),
        &env,
        &["apply", "--yes"],
    ));
    for (what, text) in [
        ("plan", &plan.stdout),
        ("plan json", &json.stdout),
        ("apply", &apply.stdout),
        ("apply stderr", &apply.stderr),
    ] {
        assert!(!text.contains(&sentinel), "{what} shows the value: {text}");
    }
    let inside = tb.ssh_ok(
        NODE,
        "docker exec k8s_web_sops-web_default sh -c 'echo \"$DB_PASSWORD\"; cat /etc/creds/password'",
    );
    assert_eq!(inside, format!("{sentinel}\n{sentinel}"), "{apply:?}");
    reset(&tb);
}
