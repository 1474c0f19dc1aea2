//! The testbed half of the hostile-value matrix (issue 16; the offline half is `tests/cli/hostile.rs`):
//! the same 22 values a shell, a terminal, docker's CSV or the kernel treat specially, in every string
//! field that reaches a real host's runtime — env names and values, command and args, workingDir, labels
//! and annotations, ConfigMap and Secret keys and values (as env and as files), mount paths (emptyDir and
//! ConfigMap volumes), hostname and subdomain. One `validate` sorts them: a refused value must be refused
//! at its own line under its field (`file:line:col: field.path: …`); every accepted value goes into a few
//! pods applied **in one apply** over real ssh, and is then read back from the running container (its
//! `/proc/1/cmdline` and `/proc/1/environ`, its files, `docker inspect`) byte for byte. A relative
//! `mountPath` rides along: mounted from the container's root, as the kubelet mounts it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::common::{Repo, Testbed, clusterctl, managed_names, reset, serial, stdout_ok};

#[path = "../support/hostile_values.rs"]
mod hostile_values;
use hostile_values::VALUES;

/// The fields, each turning a value into what the manifest holds there (a prefix keeps paths absolute
/// and distinct; the prefixed string is what must arrive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum F {
    EnvValue,
    EnvName,
    Command,
    Args,
    WorkingDir,
    LabelValue,
    Annotation,
    EmptyDirMountPath,
    ConfigMapValue,
    ConfigMapKey,
    ConfigMapMountPath,
    SecretValue,
    Hostname,
    Subdomain,
}

const FIELDS: [F; 14] = [
    F::EnvValue,
    F::EnvName,
    F::Command,
    F::Args,
    F::WorkingDir,
    F::LabelValue,
    F::Annotation,
    F::EmptyDirMountPath,
    F::ConfigMapValue,
    F::ConfigMapKey,
    F::ConfigMapMountPath,
    F::SecretValue,
    F::Hostname,
    F::Subdomain,
];

impl F {
    /// The value as written in the field.
    fn written(self, v: &str) -> String {
        match self {
            F::WorkingDir => format!("/tmp/w{v}"),
            F::EmptyDirMountPath => format!("/m/x{v}"),
            F::ConfigMapMountPath => format!("/c/x{v}"),
            _ => v.to_string(),
        }
    }

    /// The head of the field's path in validation errors.
    fn path(self) -> &'static str {
        match self {
            F::EnvValue | F::EnvName => "spec.containers[0].env[0]",
            F::Command => "spec.containers[0].command",
            F::Args => "spec.containers[0].args",
            F::WorkingDir => "spec.containers[0].workingDir",
            F::LabelValue => "metadata.labels",
            F::Annotation => "metadata.annotations",
            F::EmptyDirMountPath | F::ConfigMapMountPath => {
                "spec.containers[0].volumeMounts[0].mountPath"
            }
            F::ConfigMapValue | F::ConfigMapKey => "data",
            F::SecretValue => "stringData",
            F::Hostname => "spec.hostname",
            F::Subdomain => "spec.subdomain",
        }
    }
}

/// What PID 1 of the probe containers runs: stays up (and ends on SIGTERM) with its argv intact.
const SCRIPT: &str = "trap 'exit 0' TERM; sleep 100000 & wait";

fn container(name: &str) -> Value {
    json!({"name": name, "image": "busybox:latest", "command": ["sh", "-c", SCRIPT]})
}

fn pod(name: &str, containers: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": containers}})
}

/// The manifest (pretty JSON, so each value sits on its own line) that carries `v` in field `f` alone.
fn probe(f: F, v: &str, name: &str) -> Vec<Value> {
    let w = f.written(v);
    let mut p = pod(name, vec![container("c")]);
    let c = &mut p["spec"]["containers"][0];
    let mut extra = Vec::new();
    match f {
        F::EnvValue => c["env"] = json!([{"name": "E", "value": w}]),
        F::EnvName => c["env"] = json!([{"name": w, "value": "x"}]),
        F::Command => c["command"] = json!(["sh", "-c", SCRIPT, w]),
        F::Args => c["args"] = json!([w]),
        F::WorkingDir => c["workingDir"] = json!(w),
        F::EmptyDirMountPath => {
            c["volumeMounts"] = json!([{"name": "d", "mountPath": w}]);
            p["spec"]["volumes"] = json!([{"name": "d", "emptyDir": {}}]);
        }
        F::LabelValue => p["metadata"]["labels"] = json!({"k": w}),
        F::Annotation => p["metadata"]["annotations"] = json!({"k": w}),
        F::ConfigMapValue | F::ConfigMapKey | F::ConfigMapMountPath => {
            let (key, value, at) = match f {
                F::ConfigMapValue => ("k".to_string(), w.clone(), "/cfg".to_string()),
                F::ConfigMapKey => (w.clone(), "x".to_string(), "/cfg".to_string()),
                _ => ("k".to_string(), "x".to_string(), w.clone()),
            };
            extra.push(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {key: value}}));
            c["volumeMounts"] = json!([{"name": "cfg", "mountPath": at}]);
            if f == F::ConfigMapValue {
                c["env"] = json!([{"name": "E", "valueFrom": {"configMapKeyRef": {"name": name, "key": "k"}}}]);
            }
            p["spec"]["volumes"] = json!([{"name": "cfg", "configMap": {"name": name}}]);
        }
        F::SecretValue => {
            extra.push(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"k": w}}));
            c["env"] =
                json!([{"name": "E", "valueFrom": {"secretKeyRef": {"name": name, "key": "k"}}}]);
        }
        F::Hostname => p["spec"]["hostname"] = json!(w),
        F::Subdomain => p["spec"]["subdomain"] = json!(w),
    }
    extra.push(p);
    extra
}

fn pretty(docs: &[Value]) -> String {
    docs.iter()
        .map(|d| serde_json::to_string_pretty(d).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// `(file, line, path+message)` of each `file:line:col: path: message` line.
fn errors(stderr: &str) -> Vec<(String, usize, String)> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("Error: "))
        .filter_map(|l| {
            let mut it = l.splitn(4, ':');
            let file = it.next()?.trim().to_string();
            let line = it.next()?.parse().ok()?;
            let _col: usize = it.next()?.parse().ok()?;
            Some((file, line, it.next()?.trim().to_string()))
        })
        .collect()
}

/// The container's PID 1 argv or environment (`/proc/1/cmdline`, `/proc/1/environ`), NUL-split.
fn proc_list(tb: &Testbed, host: &str, container: &str, what: &str) -> Vec<String> {
    let out = tb.exec(
        host,
        &[
            "docker",
            "exec",
            container,
            "cat",
            &format!("/proc/1/{what}"),
        ],
    );
    assert!(out.status.success(), "{container} {what}: {out:?}");
    out.stdout
        .split(|b| *b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

fn file_in(tb: &Testbed, host: &str, container: &str, path: &str) -> Vec<u8> {
    let out = tb.exec(host, &["docker", "exec", container, "cat", "--", path]);
    assert!(out.status.success(), "{container}: cat {path:?}: {out:?}");
    out.stdout
}

fn inspect(tb: &Testbed, host: &str, container: &str, format: &str) -> Value {
    let out = stdout_ok(
        &format!("inspect {container}"),
        tb.exec(host, &["docker", "inspect", "--format", format, container]),
    );
    serde_json::from_str(out.trim_end()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn hostile_values_are_refused_where_written_or_arrive_byte_exact_on_real_hosts() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);

    // 1. One validate over one probe file per (field, value).
    let probes = Repo::new();
    let mut texts = BTreeMap::new();
    for (fi, f) in FIELDS.iter().enumerate() {
        for (vi, v) in VALUES.iter().enumerate() {
            let file = format!("f{fi}-v{vi}.yaml");
            let text = pretty(&probe(*f, v, &format!("p{fi}-{vi}")));
            probes.write(&file, &text);
            texts.insert(file, (*f, *v, text));
        }
    }
    probes.commit("probes");
    let validate = clusterctl(&tb, &probes, &["validate"]);
    let errs = errors(&validate.stderr);
    let mut accepted: BTreeMap<F, Vec<&str>> = BTreeMap::new();
    let mut failures = Vec::new();
    for (file, (f, v, text)) in &texts {
        let mine: Vec<_> = errs
            .iter()
            .filter(|e| e.0 == format!("apps/{file}"))
            .collect();
        if mine.is_empty() {
            accepted.entry(*f).or_default().push(v);
            continue;
        }
        let quoted = serde_json::to_string(&f.written(v)).unwrap();
        let lines: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(&quoted))
            .map(|(i, _)| i + 1)
            .collect();
        let root = f.path().split(['[', '.']).next().unwrap();
        // A ConfigMap/Secret value no env can carry is refused at the env that refers to it.
        let at_ref = |e: &&(String, usize, String)| {
            matches!(f, F::ConfigMapValue | F::SecretValue) && e.2.contains(".valueFrom.")
        };
        if !mine
            .iter()
            .any(|e| (lines.contains(&e.1) && e.2.starts_with(root)) || at_ref(e))
        {
            failures.push(format!(
                "{f:?} = {v:?}: refused, but not at line {lines:?} under {root}: {mine:?}"
            ));
        }
    }
    // Acceptance 4: a NUL in env and a newline in a hostname are validation errors at their position.
    for (f, v) in [(F::EnvValue, "a\u{0}b"), (F::Hostname, "a\nb")] {
        assert!(
            !accepted.get(&f).is_some_and(|a| a.contains(&v)),
            "{f:?} = {v:?} passed validation"
        );
    }

    // 2. Every accepted value in one repository, applied once.
    let acc = |f: F| accepted.get(&f).cloned().unwrap_or_default();
    let mut docs = Vec::new();
    let mut main = pod("hv-main", vec![container("c")]);
    let mut env = Vec::new();
    for (i, v) in acc(F::EnvValue).iter().enumerate() {
        env.push(json!({"name": format!("E{i}"), "value": v}));
    }
    for (i, v) in acc(F::EnvName).iter().enumerate() {
        env.push(json!({"name": v, "value": format!("n{i}")}));
    }
    let mut cm = serde_json::Map::new();
    for (i, v) in acc(F::ConfigMapValue).iter().enumerate() {
        cm.insert(format!("k{i}"), json!(v));
        env.push(json!({"name": format!("C{i}"), "valueFrom": {"configMapKeyRef": {"name": "hv-cm", "key": format!("k{i}")}}}));
    }
    for v in acc(F::ConfigMapKey) {
        cm.insert(v.to_string(), json!("x"));
    }
    cm.insert("plain".into(), json!("x"));
    let mut secret = serde_json::Map::new();
    for (i, v) in acc(F::SecretValue).iter().enumerate() {
        secret.insert(format!("s{i}"), json!(v));
        env.push(json!({"name": format!("S{i}"), "valueFrom": {"secretKeyRef": {"name": "hv-secret", "key": format!("s{i}")}}}));
    }
    docs.push(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hv-cm"}, "data": cm}),
    );
    docs.push(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hv-secret"}, "stringData": secret}));
    let mut mounts = vec![
        json!({"name": "cfg", "mountPath": "/cfg"}),
        json!({"name": "sec", "mountPath": "/sec"}),
    ];
    let mut volumes = vec![
        json!({"name": "cfg", "configMap": {"name": "hv-cm"}}),
        json!({"name": "sec", "secret": {"secretName": "hv-secret"}}),
    ];
    // A relative mountPath: the API server accepts it, the kubelet mounts it from the root.
    mounts.push(json!({"name": "rel", "mountPath": "rel/./dir"}));
    volumes.push(json!({"name": "rel", "emptyDir": {}}));
    let mut destinations = vec!["/rel/dir".to_string()];
    for (i, v) in acc(F::EmptyDirMountPath).iter().enumerate() {
        let at = F::EmptyDirMountPath.written(v);
        mounts.push(json!({"name": format!("d{i}"), "mountPath": at}));
        volumes.push(json!({"name": format!("d{i}"), "emptyDir": {}}));
        destinations.push(at);
    }
    for (i, v) in acc(F::ConfigMapMountPath).iter().enumerate() {
        let at = F::ConfigMapMountPath.written(v);
        mounts.push(json!({"name": format!("c{i}"), "mountPath": at}));
        volumes.push(json!({"name": format!("c{i}"), "configMap": {"name": "hv-cm"}}));
        destinations.push(at);
    }
    let command: Vec<String> = ["sh", "-c", SCRIPT]
        .iter()
        .map(|s| s.to_string())
        .chain(acc(F::Command).iter().map(|v| v.to_string()))
        .collect();
    let args: Vec<String> = acc(F::Args).iter().map(|v| v.to_string()).collect();
    {
        let c = &mut main["spec"]["containers"][0];
        c["env"] = json!(env);
        c["command"] = json!(command);
        c["args"] = json!(args);
        c["volumeMounts"] = json!(mounts);
    }
    main["spec"]["volumes"] = json!(volumes);
    let labels: serde_json::Map<String, Value> = acc(F::LabelValue)
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("l{i}"), json!(v)))
        .collect();
    let notes: serde_json::Map<String, Value> = acc(F::Annotation)
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("a{i}"), json!(v)))
        .collect();
    main["metadata"]["labels"] = Value::Object(labels.clone());
    main["metadata"]["annotations"] = Value::Object(notes.clone());
    docs.push(main);
    // workingDir is one per container: one container per accepted value.
    let dirs: Vec<String> = acc(F::WorkingDir)
        .iter()
        .map(|v| F::WorkingDir.written(v))
        .collect();
    if !dirs.is_empty() {
        let cs = dirs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut c = container(&format!("w{i}"));
                c["workingDir"] = json!(d);
                c
            })
            .collect();
        docs.push(pod("hv-dirs", cs));
    }
    // hostname/subdomain are one per pod.
    for (f, key) in [(F::Hostname, "hostname"), (F::Subdomain, "subdomain")] {
        for (i, v) in acc(f).iter().enumerate() {
            let mut p = pod(&format!("hv-{key}-{i}"), vec![container("c")]);
            p["spec"][key] = json!(v);
            docs.push(p);
        }
    }
    let repo = Repo::new();
    repo.write("hostile.yaml", &pretty(&docs))
        .commit("every accepted hostile value");
    let apply = clusterctl(&tb, &repo, &["apply", "--yes"]);
    assert_eq!(apply.code, 0, "{apply:?}\naccepted: {accepted:#?}");
    let canary = tb.hosts.iter().find(|(h, _)| {
        tb.exec(h, &["test", "-e", "/tmp/clusterctl-pwned-canary"])
            .status
            .success()
    });
    assert!(canary.is_none(), "a value was run by a shell: {canary:?}");

    // 3. Read every accepted value back from where the runtime put it.
    let host_of = |c: &str| {
        tb.hosts
            .iter()
            .map(|(h, _)| h.clone())
            .find(|h| managed_names(&tb, h).iter().any(|n| n == c))
            .unwrap_or_else(|| panic!("{c} runs nowhere: {apply:?}"))
    };
    let c = "k8s_c_hv-main_default";
    let host = host_of(c);
    let argv = proc_list(&tb, &host, c, "cmdline");
    let want: Vec<String> = command.iter().chain(&args).cloned().collect();
    if argv[..argv.len() - 1] != want[..] {
        failures.push(format!("argv: {argv:?}, want {want:?}"));
    }
    let environ = proc_list(&tb, &host, c, "environ");
    let mut want_env: Vec<String> = Vec::new();
    for (i, v) in acc(F::EnvValue).iter().enumerate() {
        want_env.push(format!("E{i}={v}"));
    }
    for (i, v) in acc(F::EnvName).iter().enumerate() {
        want_env.push(format!("{v}=n{i}"));
    }
    for (i, v) in acc(F::ConfigMapValue).iter().enumerate() {
        want_env.push(format!("C{i}={v}"));
    }
    for (i, v) in acc(F::SecretValue).iter().enumerate() {
        want_env.push(format!("S{i}={v}"));
    }
    for e in &want_env {
        if !environ.contains(e) {
            failures.push(format!("env {e:?} not in the process's environment"));
        }
    }
    for (i, v) in acc(F::ConfigMapValue).iter().enumerate() {
        if file_in(&tb, &host, c, &format!("/cfg/k{i}")) != v.as_bytes() {
            failures.push(format!("ConfigMap file k{i} is not {v:?}"));
        }
    }
    for v in acc(F::ConfigMapKey) {
        if file_in(&tb, &host, c, &format!("/cfg/{v}")) != b"x" {
            failures.push(format!("ConfigMap key {v:?}: no file of that name"));
        }
    }
    for (i, v) in acc(F::SecretValue).iter().enumerate() {
        if file_in(&tb, &host, c, &format!("/sec/s{i}")) != v.as_bytes() {
            failures.push(format!("Secret file s{i} is not {v:?}"));
        }
    }
    let got: Vec<String> = inspect(&tb, &host, c, "{{json .Mounts}}")
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["Destination"].as_str().map(str::to_string))
        .collect();
    for d in &destinations {
        if !got.contains(d) {
            failures.push(format!("no mount at {d:?}: {got:?}"));
        }
    }
    for d in &destinations {
        // And the kernel has it there: a file written at the path is read back through it.
        let probe = format!("{d}/.probe");
        let w = tb.exec(
            &host,
            &[
                "docker",
                "exec",
                c,
                "sh",
                "-c",
                "echo ok > \"$1\"",
                "sh",
                &probe,
            ],
        );
        if (d.starts_with("/m/") || d == "/rel/dir") && !w.status.success() {
            failures.push(format!("cannot write into the emptyDir at {d:?}: {w:?}"));
        }
    }
    let manifest: Value = serde_json::from_str(
        inspect(
            &tb,
            &host,
            "k8s_POD_hv-main_default",
            "{{json (index .Config.Labels \"clusterctl.io/pod-manifest\")}}",
        )
        .as_str()
        .unwrap(),
    )
    .unwrap();
    for (k, v) in &labels {
        if &manifest["metadata"]["labels"][k] != v {
            failures.push(format!("label {k}={v} not carried"));
        }
    }
    for (k, v) in &notes {
        if &manifest["metadata"]["annotations"][k] != v {
            failures.push(format!("annotation {k}={v} not carried"));
        }
    }
    for (i, d) in dirs.iter().enumerate() {
        let w = format!("k8s_w{i}_hv-dirs_default");
        let h = host_of(&w);
        if inspect(&tb, &h, &w, "{{json .Config.WorkingDir}}") != json!(d) {
            failures.push(format!("workingDir {d:?} not carried"));
        }
        let cwd = tb.exec(&h, &["docker", "exec", &w, "pwd"]);
        if String::from_utf8_lossy(&cwd.stdout).strip_suffix('\n') != Some(d.as_str()) {
            failures.push(format!("the process does not run in {d:?}: {cwd:?}"));
        }
    }
    for (f, key) in [(F::Hostname, "hostname"), (F::Subdomain, "subdomain")] {
        for (i, v) in acc(f).iter().enumerate() {
            let name = format!("k8s_c_hv-{key}-{i}_default");
            let h = host_of(&name);
            let got = tb.exec(&h, &["docker", "exec", &name, "hostname"]);
            if f == F::Hostname && String::from_utf8_lossy(&got.stdout).trim_end() != *v {
                failures.push(format!("hostname {v:?} not set: {got:?}"));
            }
        }
    }
    // Observed back as applied: nothing left to do.
    let plan = clusterctl(&tb, &repo, &["plan", "--detailed-exitcode"]);
    if plan.code != 0 {
        failures.push(format!("the plan after the apply is not empty: {plan:?}"));
    }
    assert!(
        failures.is_empty(),
        "{} finding(s):\n{}\naccepted: {accepted:#?}",
        failures.len(),
        failures.join("\n")
    );
    let carried: usize = accepted.values().map(Vec::len).sum();
    eprintln!(
        "hostile values: {carried} accepted and read back, {} refused where written",
        FIELDS.len() * VALUES.len() - carried
    );
    reset(&tb);
}
