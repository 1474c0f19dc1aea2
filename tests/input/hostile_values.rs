//! The hostile-value matrix: every string field of a pod that reaches the container runtime, with values
//! a shell, a terminal or the kernel would treat specially. Each is either refused by validation at its own
//! `file:line:col`, or reaches the `docker` argv exactly as written, in one element, with no NUL anywhere.

use std::collections::BTreeMap;

use clusterctl::manifest::RawFile;
use clusterctl::manifest::{Object, parse};
use clusterctl::runtime::docker::DockerRuntime;
use clusterctl::runtime::{PodRun, Runtime};
use clusterctl::yaml::Severity;

const VALUES: &[&str] = &[
    "a\u{0}b",
    "a\nb",
    "a\rb",
    "\u{1b}[31mred",
    "$(reboot)",
    "`id`",
    "a;b && c | d",
    "-rf",
    "--privileged",
    "%h %n",
    "'\"",
    "\u{202e}evil",
    "\u{7f}",
    " lead",
];

/// (field path, YAML that puts `V` there, whether the value must arrive in argv when accepted).
const FIELDS: &[(&str, &str)] = &[
    ("spec.containers[0].image", "    image: V\n"),
    ("spec.containers[0].command[0]", "    command: [V]\n"),
    ("spec.containers[0].args[0]", "    args: [V]\n"),
    ("spec.containers[0].workingDir", "    workingDir: V\n"),
    (
        "spec.containers[0].env[0].value",
        "    env: [{name: E, value: V}]\n",
    ),
    (
        "spec.containers[0].env[0].name",
        "    env: [{name: V, value: x}]\n",
    ),
    ("spec.containers[0].name", "    NAME\n"),
    ("spec.hostname", "  hostname: V\n"),
    ("spec.subdomain", "  subdomain: V\n"),
    ("metadata.name", "METANAME"),
    ("metadata.labels[k]", "LABEL"),
    ("metadata.annotations[k]", "ANNOTATION"),
    (
        "spec.containers[0].ports[0].hostIP",
        "    ports: [{containerPort: 80, hostIP: V}]\n",
    ),
];

fn yaml_str(v: &str) -> String {
    serde_json::to_string(v).unwrap()
}

fn manifest(field: &str, template: &str, v: &str) -> String {
    let q = yaml_str(v);
    let mut name = "x".to_string();
    let mut meta = String::new();
    match template {
        "METANAME" => name = q.clone(),
        "LABEL" => meta = format!("  labels: {{k: {q}}}\n"),
        "ANNOTATION" => meta = format!("  annotations: {{k: {q}}}\n"),
        _ => {}
    }
    let mut pod_fields = String::new();
    let mut container_fields = String::new();
    let mut cname = "a".to_string();
    if field.starts_with("spec.containers") {
        if template.contains("NAME") {
            cname = q.clone();
        } else {
            container_fields = template.replace('V', &q);
        }
    } else if field.starts_with("spec.") {
        pod_fields = template.replace('V', &q);
    }
    let image = if field.ends_with(".image") {
        String::new()
    } else {
        "    image: nginx\n".into()
    };
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n{meta}spec:\n{pod_fields}  containers:\n  - name: {cname}\n{image}{container_fields}"
    )
}

#[test]
fn every_runtime_string_is_refused_or_carried_exactly() {
    let mut refused = 0;
    let mut carried = 0;
    for (field, template) in FIELDS {
        for v in VALUES {
            let text = manifest(field, template, v);
            let parsed = parse(&[RawFile {
                path: "apps/p.yaml".into(),
                bytes: text.clone().into_bytes(),
            }]);
            let errors: Vec<_> = parsed
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .collect();
            if !errors.is_empty() {
                // Refused where it was written: the line holding the value.
                let line = text.lines().position(|l| l.contains(&yaml_str(v))).unwrap() + 1;
                assert!(
                    errors.iter().any(|d| d.source.line == line
                        && d.field.starts_with(field.split('[').next().unwrap())),
                    "{field} = {v:?}: errors not at line {line}: {errors:?}"
                );
                refused += 1;
                continue;
            }
            let Object::Pod(pod) = &parsed.manifests[0].object else {
                panic!()
            };
            // Only annotations may hold a NUL: they travel JSON-escaped inside the manifest label.
            assert!(
                !v.contains('\0') || field.starts_with("metadata.annotations"),
                "{field}: a NUL was accepted"
            );
            let hashes = BTreeMap::new();
            let run = PodRun {
                pod,
                owner: None,
                template_hash: "h",
                commit: "c",
                spec_hashes: &hashes,
                ip: None,
                config: None,
            };
            let cmds = DockerRuntime::default().create_pod(&run);
            let argv: Vec<&String> = cmds.iter().flat_map(|c| c.args.iter()).collect();
            assert!(
                argv.iter().all(|a| !a.contains('\0')),
                "{field}: NUL in argv"
            );
            let exact = |prefix: &str| argv.iter().any(|a| a.strip_prefix(prefix) == Some(v));
            let ok = match *field {
                "spec.containers[0].image" | "spec.containers[0].args[0]" => exact(""),
                "spec.containers[0].command[0]" => exact("--entrypoint="),
                "spec.containers[0].workingDir" => exact("--workdir="),
                "spec.containers[0].env[0].value" => exact("--env=E="),
                // Upstream's env name rule allows a leading '-'; it stays inside `--env=`.
                "spec.containers[0].env[0].name" => {
                    argv.iter().any(|a| **a == format!("--env={v}=x"))
                }
                // Annotations travel inside the pod manifest label, JSON-escaped.
                "metadata.annotations[k]" => argv.iter().any(|a| {
                    a.strip_prefix("--label=clusterctl.io/pod-manifest=")
                        .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
                        .is_some_and(|m| m["metadata"]["annotations"]["k"] == *v)
                }),
                other => panic!("{other} = {v:?} was accepted; it must be validated"),
            };
            assert!(ok, "{field} = {v:?} not carried exactly: {argv:?}");
            carried += 1;
        }
    }
    assert!(
        refused > 0 && carried > 0,
        "{refused} refused, {carried} carried"
    );
}
