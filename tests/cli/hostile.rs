//! The hostile-value matrix through the whole binary (issue 16): every string field that reaches the
//! runtime — pod and container fields, volumes and mounts, ConfigMap and Secret data, object names of
//! every kind — gets values a shell, a terminal, docker's CSV or the kernel would treat specially. Per
//! field, one manifest per value: `clusterctl validate` either refuses it at the value's own
//! `file:line:col` under that field, or `clusterctl apply --yes` (over the fake hosts, which log every
//! command) delivers it exactly where the runtime reads it: one argv element with a known prefix, a field
//! of a `--mount` (docker's CSV, parsed back), the Engine API request on stdin (parsed back), or a file
//! of a volume's tar stream (unpacked). Never a NUL in argv, never a Secret value in argv.

use std::io::Read;

use serde_json::Value;

use super::World;

#[path = "../support/hostile_values.rs"]
mod hostile_values;
use hostile_values::VALUES;

/// One logged command: (program, argv, stdin).
type Logged = (String, Vec<String>, Option<String>);

/// Where an accepted value must arrive: does `cmds` carry `v` exactly?
type Carried = fn(&[Logged], &str) -> bool;

struct Field {
    path: &'static str,
    /// The manifest(s); `@NAME@` is a unique object name, `@V@` the value (JSON-quoted), `@POD@` the head
    /// of a Pod named `@NAME@` with one container `c`.
    yaml: &'static str,
    carried: Carried,
}

const POD_HEAD: &str =
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: @NAME@\nspec:\n  containers:\n  - name: c\n";

fn docker_creates(cmds: &[Logged]) -> Vec<&Vec<String>> {
    cmds.iter()
        .filter(|(p, a, _)| p == "docker" && a.first().map(String::as_str) == Some("create"))
        .map(|(_, a, _)| a)
        .collect()
}

/// The JSON bodies of Engine API create requests (`sh -c API_CREATE_SCRIPT` with the HTTP request on stdin).
fn api_bodies(cmds: &[Logged]) -> Vec<Value> {
    cmds.iter()
        .filter_map(|(_, _, stdin)| stdin.as_deref())
        .filter(|s| s.starts_with("POST /containers/create"))
        .filter_map(|s| s.split_once("\r\n\r\n"))
        .filter_map(|(_, body)| serde_json::from_str(body).ok())
        .collect()
}

/// An argv element of a `docker create` (or the same setting in an API request) equal to `want`.
fn create_arg(cmds: &[Logged], want: &str) -> bool {
    docker_creates(cmds)
        .iter()
        .any(|a| a.iter().any(|x| x == want))
}

fn env_entry(cmds: &[Logged], want: &str) -> bool {
    create_arg(cmds, &format!("--env={want}"))
        || api_bodies(cmds).iter().any(|b| {
            b["Env"]
                .as_array()
                .is_some_and(|e| e.iter().any(|x| x == want))
        })
}

/// docker's `--mount` CSV (a quoted field may hold commas; `""` is a quote), parsed back.
fn csv(v: &str) -> Option<Vec<String>> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = v.chars().peekable();
    while let Some(ch) = chars.next() {
        match (quoted, ch) {
            (false, '"') if cur.is_empty() => quoted = true,
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (false, ',') => out.push(std::mem::take(&mut cur)),
            (_, c) => cur.push(c),
        }
    }
    (!quoted).then(|| {
        out.push(cur);
        out
    })
}

/// (source, target) of every mount of every created container, from argv `--mount=` or the API body.
fn mounts(cmds: &[Logged]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for a in docker_creates(cmds) {
        for m in a.iter().filter_map(|x| x.strip_prefix("--mount=")) {
            let fields = csv(m).unwrap_or_default();
            let get = |k: &str| {
                fields
                    .iter()
                    .find_map(|f| f.strip_prefix(&format!("{k}=")).map(str::to_string))
                    .unwrap_or_default()
            };
            out.push((get("source"), get("target")));
        }
    }
    for b in api_bodies(cmds) {
        for m in b["HostConfig"]["Mounts"].as_array().into_iter().flatten() {
            out.push((
                m["Source"].as_str().unwrap_or_default().to_string(),
                m["Target"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    out
}

/// Every (path, content) of every volume tar stream written (base64 on stdin).
fn volume_files(cmds: &[Logged]) -> Vec<(String, Vec<u8>)> {
    use base64::Engine;
    let mut out = Vec::new();
    for (_, _, stdin) in cmds {
        let Some(bytes) = stdin.as_deref().and_then(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .ok()
        }) else {
            continue;
        };
        let mut ar = tar::Archive::new(&bytes[..]);
        let Ok(entries) = ar.entries() else { continue };
        for mut e in entries.flatten() {
            let path = e
                .path()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut content = Vec::new();
            let _ = e.read_to_end(&mut content);
            out.push((path, content));
        }
    }
    out
}

fn manifest_label(cmds: &[Logged]) -> Vec<Value> {
    docker_creates(cmds)
        .iter()
        .flat_map(|a| a.iter())
        .filter_map(|x| x.strip_prefix("--label=clusterctl.io/pod-manifest="))
        .filter_map(|j| serde_json::from_str(j).ok())
        .chain(api_bodies(cmds).iter().filter_map(|b| {
            b["Labels"]["clusterctl.io/pod-manifest"]
                .as_str()
                .and_then(|j| serde_json::from_str(j).ok())
        }))
        .collect()
}

/// Where the kubelet mounts a `mountPath`: a relative one from the container's root, cleaned lexically
/// (docs/storage.md); an absolute one as written.
fn from_root(v: &str) -> String {
    if v.starts_with('/') {
        return v.to_string();
    }
    let mut parts: Vec<&str> = Vec::new();
    for p in v.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn refused_everywhere(_: &[Logged], _: &str) -> bool {
    false
}

const FIELDS: &[Field] = &[
    Field {
        path: "spec.containers[0].image",
        yaml: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: @NAME@\nspec:\n  containers:\n  - name: c\n    image: @V@\n",
        carried: |c, v| create_arg(c, v),
    },
    Field {
        path: "spec.containers[0].command[0]",
        yaml: "@POD@    image: nginx\n    command: [@V@]\n",
        carried: |c, v| create_arg(c, &format!("--entrypoint={v}")),
    },
    Field {
        path: "spec.containers[0].args[0]",
        yaml: "@POD@    image: nginx\n    args: [@V@]\n",
        carried: |c, v| create_arg(c, v),
    },
    Field {
        path: "spec.containers[0].workingDir",
        yaml: "@POD@    image: nginx\n    workingDir: @V@\n",
        carried: |c, v| create_arg(c, &format!("--workdir={v}")),
    },
    Field {
        path: "spec.containers[0].env[0].value",
        yaml: "@POD@    image: nginx\n    env:\n    - name: E\n      value: @V@\n",
        carried: |c, v| env_entry(c, &format!("E={v}")),
    },
    Field {
        path: "spec.containers[0].env[0].name",
        yaml: "@POD@    image: nginx\n    env:\n    - name: @V@\n      value: x\n",
        carried: |c, v| env_entry(c, &format!("{v}=x")),
    },
    Field {
        path: "spec.containers[0].name",
        yaml: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: @NAME@\nspec:\n  containers:\n  - name: @V@\n    image: nginx\n",
        carried: refused_everywhere,
    },
    Field {
        path: "spec.containers[0].ports[0].name",
        yaml: "@POD@    image: nginx\n    ports:\n    - containerPort: 80\n      name: @V@\n",
        carried: refused_everywhere,
    },
    Field {
        path: "spec.containers[0].ports[0].hostIP",
        yaml: "@POD@    image: nginx\n    ports:\n    - containerPort: 80\n      hostPort: 8080\n      hostIP: @V@\n",
        carried: refused_everywhere,
    },
    Field {
        path: "spec.hostname",
        yaml: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: @NAME@\nspec:\n  hostname: @V@\n  containers:\n  - name: c\n    image: nginx\n",
        carried: refused_everywhere,
    },
    Field {
        path: "spec.subdomain",
        yaml: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: @NAME@\nspec:\n  subdomain: @V@\n  containers:\n  - name: c\n    image: nginx\n",
        carried: refused_everywhere,
    },
    Field {
        path: "metadata.labels",
        yaml: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: @NAME@\n  labels:\n    k: @V@\nspec:\n  containers:\n  - name: c\n    image: nginx\n",
        carried: refused_everywhere,
    },
    Field {
        path: "metadata.annotations",
        yaml: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: @NAME@\n  annotations:\n    k: @V@\nspec:\n  containers:\n  - name: c\n    image: nginx\n",
        carried: |c, v| {
            manifest_label(c)
                .iter()
                .any(|m| m["metadata"]["annotations"]["k"] == v)
        },
    },
    Field {
        path: "metadata.namespace",
        yaml: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: @NAME@\n  namespace: @V@\nspec:\n  containers:\n  - name: c\n    image: nginx\n",
        carried: refused_everywhere,
    },
    Field {
        path: "spec.containers[0].volumeMounts[0].mountPath",
        yaml: "@POD@    image: nginx\n    volumeMounts:\n    - name: d\n      mountPath: @V@\n  volumes:\n  - name: d\n    emptyDir: {}\n",
        carried: |c, v| mounts(c).iter().any(|(_, t)| *t == from_root(v)),
    },
    Field {
        path: "spec.containers[0].volumeMounts[0].subPath",
        yaml: "@POD@    image: nginx\n    volumeMounts:\n    - name: d\n      mountPath: /data\n      subPath: @V@\n  volumes:\n  - name: d\n    emptyDir: {}\n",
        carried: |c, v| mounts(c).iter().any(|(s, _)| s.ends_with(&format!("/{v}"))),
    },
    Field {
        path: "spec.volumes[0].hostPath.path",
        yaml: "@POD@    image: nginx\n    volumeMounts:\n    - name: d\n      mountPath: /data\n  volumes:\n  - name: d\n    hostPath:\n      path: @V@\n",
        carried: |c, v| mounts(c).iter().any(|(s, _)| s == v),
    },
    Field {
        path: "spec.volumes[0].name",
        yaml: "@POD@    image: nginx\n    volumeMounts:\n    - name: @V@\n      mountPath: /data\n  volumes:\n  - name: @V@\n    emptyDir: {}\n",
        carried: refused_everywhere,
    },
    Field {
        path: "data",
        yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: @NAME@\ndata:\n  k: @V@\n---\n@POD@    image: nginx\n    env:\n    - name: E\n      valueFrom:\n        configMapKeyRef:\n          name: @NAME@\n          key: k\n    volumeMounts:\n    - name: cfg\n      mountPath: /cfg\n  volumes:\n  - name: cfg\n    configMap:\n      name: @NAME@\n",
        carried: |c, v| {
            env_entry(c, &format!("E={v}"))
                && volume_files(c)
                    .iter()
                    .any(|(p, b)| (p == "k" || p.ends_with("/k")) && b == v.as_bytes())
        },
    },
    Field {
        path: "data",
        yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: @NAME@\ndata:\n  @V@: x\n---\n@POD@    image: nginx\n    volumeMounts:\n    - name: cfg\n      mountPath: /cfg\n  volumes:\n  - name: cfg\n    configMap:\n      name: @NAME@\n",
        carried: |c, v| {
            volume_files(c)
                .iter()
                .any(|(p, b)| p.rsplit('/').next() == Some(v) && b == b"x")
        },
    },
    Field {
        path: "spec.containers[0].volumeMounts[0].mountPath",
        yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: @NAME@\ndata:\n  k: x\n---\n@POD@    image: nginx\n    volumeMounts:\n    - name: cfg\n      mountPath: @V@\n  volumes:\n  - name: cfg\n    configMap:\n      name: @NAME@\n",
        carried: |c, v| mounts(c).iter().any(|(_, t)| *t == from_root(v)),
    },
    Field {
        path: "stringData",
        yaml: "apiVersion: v1\nkind: Secret\nmetadata:\n  name: @NAME@\nstringData:\n  k: @V@\n---\n@POD@    image: nginx\n    env:\n    - name: E\n      valueFrom:\n        secretKeyRef:\n          name: @NAME@\n          key: k\n",
        carried: |c, v| {
            // Only through the API request on stdin, never in argv.
            let entry = format!("E={v}");
            let in_argv = c
                .iter()
                .any(|(_, a, _)| a.iter().any(|x| x.contains(&entry)));
            !in_argv
                && api_bodies(c).iter().any(|b| {
                    b["Env"]
                        .as_array()
                        .is_some_and(|e| e.iter().any(|x| x == &format!("E={v}")))
                })
        },
    },
    Field {
        path: "metadata.name",
        yaml: "apiVersion: v1\nkind: Secret\nmetadata:\n  name: @V@\nstringData:\n  k: x\n",
        carried: refused_everywhere,
    },
    Field {
        path: "metadata.name",
        yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: @V@\ndata:\n  k: x\n",
        carried: refused_everywhere,
    },
    Field {
        path: "metadata.name",
        yaml: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: @V@\nspec:\n  containers:\n  - name: c\n    image: nginx\n",
        carried: refused_everywhere,
    },
    Field {
        path: "metadata.name",
        yaml: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: @V@\nspec:\n  selector:\n    matchLabels: {app: @NAME@}\n  template:\n    metadata:\n      labels: {app: @NAME@}\n    spec:\n      containers:\n      - name: c\n        image: nginx\n",
        carried: refused_everywhere,
    },
    Field {
        path: "metadata.name",
        yaml: "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: @V@\nspec:\n  serviceName: @NAME@\n  selector:\n    matchLabels: {app: @NAME@}\n  template:\n    metadata:\n      labels: {app: @NAME@}\n    spec:\n      containers:\n      - name: c\n        image: nginx\n",
        carried: refused_everywhere,
    },
    Field {
        path: "metadata.name",
        yaml: "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: @V@\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: c\n        image: nginx\n",
        carried: refused_everywhere,
    },
];

fn yaml_str(v: &str) -> String {
    serde_json::to_string(v).unwrap()
}

fn logged(w: &World) -> Vec<Logged> {
    let text = std::fs::read_to_string(w.log()).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| {
            let c = &v["cmd"];
            (
                c["program"].as_str().unwrap_or_default().to_string(),
                c["args"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect(),
                c["stdin"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// `(file, line, col, field)` of every error `validate` printed.
fn errors(stderr: &str) -> Vec<(String, usize, usize, String)> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("Error: "))
        .filter_map(|l| {
            let (file, rest) = l.split_once(':')?;
            let (line, rest) = rest.split_once(':')?;
            let (col, rest) = rest.split_once(':')?;
            let field = rest.trim_start().split(':').next()?.to_string();
            Some((
                file.to_string(),
                line.parse().ok()?,
                col.parse().ok()?,
                field,
            ))
        })
        .collect()
}

#[test]
fn every_runtime_string_is_refused_where_written_or_arrives_exactly() {
    let (mut refused, mut carried) = (0, 0);
    let mut failures = Vec::new();
    for (fi, field) in FIELDS.iter().enumerate() {
        let w = World::new();
        let mut files = Vec::new();
        for (vi, v) in VALUES.iter().enumerate() {
            let name = format!("h{fi}-{vi}");
            let text = field
                .yaml
                .replace("@POD@", POD_HEAD)
                .replace("@NAME@", &name)
                .replace("@V@", &yaml_str(v));
            let file = format!("v{vi}.yaml");
            w.manifest(&file, &text);
            files.push((file, text, *v));
        }
        w.commit("values");
        let validate = w.run(&["validate"]);
        let errs = errors(&validate.stderr);
        let mut accepted = Vec::new();
        for (file, text, v) in &files {
            let mine: Vec<_> = errs
                .iter()
                .filter(|e| e.0 == format!("apps/{file}"))
                .collect();
            if mine.is_empty() {
                accepted.push((file, *v));
                continue;
            }
            refused += 1;
            // At the value (a line holding it), under the field's path.
            let at: Vec<usize> = text
                .lines()
                .enumerate()
                .filter(|(_, l)| l.contains(&yaml_str(v)))
                .map(|(i, _)| i + 1)
                .collect();
            let root = field.path.split('[').next().unwrap();
            // A ConfigMap/Secret value no env can carry is refused where the env refers to it.
            let at_ref = |e: &&(String, usize, usize, String)| {
                matches!(root, "data" | "stringData") && e.3.contains(".valueFrom.")
            };
            if !mine
                .iter()
                .any(|e| (at.contains(&e.1) && e.3.starts_with(root)) || at_ref(e))
            {
                failures.push(format!(
                    "{} = {v:?}: refused, but not at line {at:?} under {root}: {mine:?}",
                    field.path
                ));
            }
        }
        if accepted.is_empty() {
            continue;
        }
        for (file, _, _) in &files {
            if !accepted.iter().any(|(f, _)| *f == file) {
                std::fs::remove_file(w.repo().join("apps").join(file)).unwrap();
            }
        }
        w.commit("accepted");
        let apply = w.run(&["apply", "--yes"]);
        if apply.code != 0 {
            failures.push(format!(
                "{}: apply of the accepted values {:?} failed: {}",
                field.path,
                accepted.iter().map(|a| a.1).collect::<Vec<_>>(),
                apply.shown()
            ));
            continue;
        }
        let cmds = logged(&w);
        if std::env::var_os("HOSTILE_DEBUG").is_some() {
            eprintln!("{} {cmds:#?}", field.path);
        }
        for (_, a, _) in &cmds {
            if a.iter().any(|x| x.contains('\0')) {
                failures.push(format!("{}: a NUL in argv: {a:?}", field.path));
            }
        }
        // No process can be given an env string with a NUL in it (the kernel would cut it there).
        for b in api_bodies(&cmds) {
            let env = b["Env"].as_array().cloned().unwrap_or_default();
            if env
                .iter()
                .any(|e| e.as_str().is_some_and(|e| e.contains('\0')))
            {
                failures.push(format!("{}: a NUL in an env entry: {env:?}", field.path));
            }
        }
        for (_, v) in &accepted {
            carried += 1;
            if !(field.carried)(&cmds, v) {
                failures.push(format!(
                    "{} = {v:?}: accepted but not carried exactly",
                    field.path
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} finding(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        refused > 0 && carried > 0,
        "{refused} refused, {carried} carried"
    );
}
