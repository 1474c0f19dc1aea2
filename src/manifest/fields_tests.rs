//! `fields_coverage`: every field of every type reachable from a supported kind through applied fields
//! (k8s-openapi's schema, probed by `fields_schema`) has a row in `fields::TABLE`; no row names a field
//! the schema lacks; every row that is not applied is warned about by name when a manifest sets it; and
//! docs/manifests.md lists exactly those rows.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::fields::{Support, TABLE, support};
use super::fields_schema::{FieldShape, Shape, TypeInfo, probe, walk};
use super::{RawFile, parse};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Service,
};
use k8s_openapi::api::storage::v1::StorageClass;

fn follow(ty: &str, field: &str) -> bool {
    support(ty, field) == Some(Some(Support::Yes))
}

fn schema() -> BTreeMap<&'static str, TypeInfo> {
    let mut all = BTreeMap::new();
    let f = &follow;
    walk::<Pod>("Pod", f, &mut all);
    walk::<Deployment>("Deployment", f, &mut all);
    walk::<ReplicaSet>("ReplicaSet", f, &mut all);
    walk::<DaemonSet>("DaemonSet", f, &mut all);
    walk::<StatefulSet>("StatefulSet", f, &mut all);
    walk::<Job>("Job", f, &mut all);
    walk::<Service>("Service", f, &mut all);
    walk::<Namespace>("Namespace", f, &mut all);
    walk::<ConfigMap>("ConfigMap", f, &mut all);
    walk::<Secret>("Secret", f, &mut all);
    walk::<PersistentVolumeClaim>("PersistentVolumeClaim", f, &mut all);
    walk::<PersistentVolume>("PersistentVolume", f, &mut all);
    walk::<StorageClass>("StorageClass", f, &mut all);
    all
}

fn shape_at(root: &str, path: &[&str]) -> FieldShape {
    match root {
        "Pod" => probe::<Pod>(path),
        "Deployment" => probe::<Deployment>(path),
        "ReplicaSet" => probe::<ReplicaSet>(path),
        "DaemonSet" => probe::<DaemonSet>(path),
        "StatefulSet" => probe::<StatefulSet>(path),
        "Job" => probe::<Job>(path),
        "Service" => probe::<Service>(path),
        "Namespace" => probe::<Namespace>(path),
        "ConfigMap" => probe::<ConfigMap>(path),
        "Secret" => probe::<Secret>(path),
        "PersistentVolumeClaim" => probe::<PersistentVolumeClaim>(path),
        "PersistentVolume" => probe::<PersistentVolume>(path),
        "StorageClass" => probe::<StorageClass>(path),
        other => panic!("root {other}"),
    }
}

/// A valid object of the kind, for the field under test to be added to.
fn skeleton(root: &str) -> Value {
    let containers = json!([{"name": "c", "image": "nginx:1.27"}]);
    let template = |restart: &str| {
        json!({"metadata": {"labels": {"app": "a"}},
               "spec": {"restartPolicy": restart, "containers": containers}})
    };
    let workload =
        json!({"selector": {"matchLabels": {"app": "a"}}, "template": template("Always")});
    let (api, spec) = match root {
        "Pod" => ("v1", json!({"containers": containers})),
        "Deployment" | "ReplicaSet" | "DaemonSet" => ("apps/v1", workload),
        "StatefulSet" => {
            let mut w = workload;
            w["serviceName"] = json!("s");
            ("apps/v1", w)
        }
        "Job" => ("batch/v1", json!({"template": template("Never")})),
        "Service" => (
            "v1",
            json!({"selector": {"app": "a"}, "ports": [{"port": 80}]}),
        ),
        "PersistentVolumeClaim" => (
            "v1",
            json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}),
        ),
        "PersistentVolume" => (
            "v1",
            json!({"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"},
                   "hostPath": {"path": "/srv/v"}}),
        ),
        "StorageClass" => {
            return json!({"apiVersion": "storage.k8s.io/v1", "kind": root,
                          "metadata": {"name": "o"}, "provisioner": "clusterctl.io/local-path",
                          "volumeBindingMode": "WaitForFirstConsumer"});
        }
        _ => ("v1", Value::Null),
    };
    let mut o = json!({"apiVersion": api, "kind": root, "metadata": {"name": "o"}});
    if !spec.is_null() {
        o["spec"] = spec;
    }
    o
}

/// Samples tried in turn for a value whose type the probe does not say (a scalar or a required field).
const CANDIDATES: &[&str] = &[r#""sample""#, "1", "true", r#"["sample"]"#, "{}"];

fn wrap(wrappers: &[char], inner: Value) -> Value {
    wrappers.iter().rev().fold(inner, |v, w| match w {
        '[' => json!([v]),
        _ => json!({"k": v}),
    })
}

/// The object with `value` at the struct-key `path` (lists entered at their first element, made when
/// missing), and the field path string validation reports for it.
fn place(root: &str, path: &[&str], value: Value, siblings: &[(&str, Value)]) -> (Value, String) {
    let mut doc = skeleton(root);
    let mut at = &mut doc;
    let mut shown = String::new();
    for (i, key) in path.iter().enumerate() {
        if !shown.is_empty() {
            shown.push('.');
        }
        shown.push_str(key);
        if i + 1 == path.len() {
            at[*key] = value;
            for (k, v) in siblings {
                at[*k] = v.clone();
            }
            break;
        }
        let shape = shape_at(root, &path[..=i]);
        let obj = at.as_object_mut().expect("a mapping on the way");
        let mut slot = obj.entry(key.to_string()).or_insert(Value::Null);
        for w in &shape.wrappers {
            if *w == '[' {
                if !slot.is_array() || slot.as_array().is_some_and(|a| a.is_empty()) {
                    *slot = json!([{}]);
                }
                slot = &mut slot[0];
                shown.push_str("[0]");
            } else {
                if !slot.is_object() {
                    *slot = json!({});
                }
                slot = slot
                    .as_object_mut()
                    .unwrap()
                    .entry("k")
                    .or_insert(Value::Null);
                shown.push_str("[k]");
            }
        }
        if !slot.is_object() {
            *slot = json!({});
        }
        at = slot;
    }
    (doc, shown)
}

/// Parses `doc`; while an error says a required field is missing or a sample has the wrong type, fills
/// it or tries the next sample, so the object decodes and validation's own warnings run.
fn warnings_of(mut doc: Value, placed: &str) -> Vec<(String, String)> {
    let mut tried: BTreeMap<String, usize> = BTreeMap::from([(placed.to_string(), 1)]);
    for _ in 0..60 {
        let yaml = serde_json::to_string(&doc).unwrap();
        let parsed = parse(&[RawFile {
            path: "a.yaml".into(),
            bytes: yaml.into_bytes(),
        }]);
        let fix = parsed.errors().find_map(|e| {
            if let Some(k) = e
                .message
                .strip_prefix("missing field `")
                .and_then(|m| m.split('`').next())
            {
                let p = if e.field.is_empty() {
                    k.to_string()
                } else {
                    format!("{}.{k}", e.field)
                };
                return Some(p);
            }
            (e.message.starts_with("invalid type") && tried.contains_key(&e.field))
                .then(|| e.field.clone())
        });
        let Some(p) = fix else {
            return parsed
                .warnings()
                .map(|w| (w.field.clone(), w.message.clone()))
                .collect();
        };
        let n = tried.entry(p.clone()).or_insert(0);
        let Some(c) = CANDIDATES.get(*n) else {
            panic!(
                "no sample decodes at {p}: {}",
                serde_json::to_string(&doc).unwrap()
            );
        };
        *n += 1;
        set_path(&mut doc, &p, serde_json::from_str(c).unwrap());
    }
    panic!("no decodable sample: {doc}");
}

/// Sets `a.b[0].c` in `doc`.
fn set_path(doc: &mut Value, path: &str, value: Value) {
    let mut at = doc;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let (key, idx) = match part.split_once('[') {
            Some((k, rest)) => (k, Some(rest.trim_end_matches(']'))),
            None => (*part, None),
        };
        if i + 1 == parts.len() && idx.is_none() {
            at[key] = value;
            return;
        }
        at = &mut at[key];
        if let Some(ix) = idx {
            at = match ix.parse::<usize>() {
                Ok(n) => &mut at[n],
                Err(_) => &mut at[ix],
            };
        }
        if i + 1 == parts.len() {
            *at = value;
            return;
        }
    }
}

/// For fields validation warns about only for some values: a value it warns about, and what the
/// mapping holding it needs for that.
fn value_warned_for(ty: &str, field: &str) -> Option<(Value, Vec<(&'static str, Value)>)> {
    let lb = || vec![("type", json!("LoadBalancer"))];
    Some(match (ty, field) {
        ("StatefulSetPersistentVolumeClaimRetentionPolicy", _) => (json!("Delete"), vec![]),
        ("SeccompProfile", "localhostProfile") => {
            (json!("p.json"), vec![("type", json!("Localhost"))])
        }
        ("ServiceSpec", "allocateLoadBalancerNodePorts") => (json!(false), lb()),
        ("ServiceSpec", "loadBalancerClass") => (json!("example.com/lb"), lb()),
        ("ServiceSpec", "loadBalancerIP") => (json!("10.1.2.3"), lb()),
        _ => return None,
    })
}

/// The section of docs/manifests.md the table produces.
fn doc_section() -> String {
    let mut out = String::new();
    for (ty, fields) in TABLE {
        let mut no = Vec::new();
        let mut warned = Vec::new();
        for (f, s) in *fields {
            match s {
                Support::Yes => {}
                Support::No(_) => no.push(format!("`{f}`")),
                Support::NoUnless(v, _) => no.push(format!("`{f}` (unless `{v}`)")),
                Support::Warned => warned.push(format!("`{f}`")),
            }
        }
        if no.is_empty() && warned.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "| {ty} | {} | {} |\n",
            no.join(", "),
            warned.join(", ")
        ));
    }
    out
}

const BEGIN: &str = "<!-- fields-table:begin (generated: manifest::fields_tests) -->\n";
const END: &str = "<!-- fields-table:end -->";

#[test]
fn fields_coverage() {
    let schema = schema();
    let mut problems = Vec::new();
    for (ty, info) in &schema {
        for f in info.fields.keys() {
            if support(ty, f).flatten().is_none() {
                problems.push(format!(
                    "{ty}.{f} (reached at {}.{}) is in neither list of manifest::fields::TABLE",
                    info.root,
                    info.path.join(".")
                ));
            }
        }
    }
    for (ty, fields) in TABLE {
        let Some(info) = schema.get(ty) else {
            problems.push(format!(
                "TABLE row {ty}: no such type reachable through applied fields"
            ));
            continue;
        };
        for (f, _) in *fields {
            if !info.fields.contains_key(f) {
                problems.push(format!("TABLE row {ty}.{f}: the schema has no such field"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Every field not applied is warned about by name when a manifest sets it.
    let mut silent = Vec::new();
    for (ty, fields) in TABLE {
        let info = &schema[ty];
        for (f, s) in *fields {
            if *s == Support::Yes {
                continue;
            }
            let mut path = info.path.clone();
            path.push(f);
            let shape = &info.fields[f];
            let inner = match (&shape.shape, s) {
                (Shape::Struct(..), Support::Warned) => json!({}),
                (Shape::Struct(..), _) => json!({"sample": 1}),
                (Shape::Scalar, _) => json!("sample"),
            };
            let (inner, siblings) = value_warned_for(ty, f).unwrap_or((inner, Vec::new()));
            let (doc, shown) = place(info.root, &path, wrap(&shape.wrappers, inner), &siblings);
            // A row the table warns about is warned from its key, whatever the value; validation's own
            // warnings need a value that decodes.
            let placed = if *s == Support::Warned {
                shown.as_str()
            } else {
                ""
            };
            let warnings = warnings_of(doc, placed);
            let named = warnings.iter().any(|(p, _)| {
                p == &shown
                    || p.starts_with(&format!("{shown}."))
                    || p.starts_with(&format!("{shown}["))
                    || (ty == &"PersistentVolume" && p == "kind")
            });
            if !named {
                silent.push(format!("{ty}.{f} at {shown}: warnings {warnings:?}"));
            }
        }
    }
    assert!(
        silent.is_empty(),
        "not warned about:\n{}",
        silent.join("\n")
    );

    let docs = include_str!("../../docs/manifests.md");
    let want = doc_section();
    let got = docs
        .split_once(BEGIN)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(t, _)| {
            t.split_once("| --- | --- | --- |\n")
                .map_or(t, |(_, rows)| rows)
        });
    assert_eq!(
        got,
        Some(want.as_str()),
        "docs/manifests.md's fields table is out of date; between the markers it should read:\n{want}"
    );
}

#[test]
fn no_fields_are_warned_once_and_what_lies_under_them_is_quiet() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  uid: abc\n  creationTimestamp: null\nspec:\n  serviceAccountName: s\n  automountServiceAccountToken: false\n  schedulerName: default-scheduler\n  resourceClaims: [{name: r, resourceClaimName: x}]\n  containers: [{name: c, image: nginx, tty: true}]\n";
    let parsed = parse(&[RawFile {
        path: "a.yaml".into(),
        bytes: yaml.into(),
    }]);
    let w: Vec<String> = parsed
        .warnings()
        .map(|d| {
            format!(
                "{}:{}: {}",
                d.source.line,
                d.field,
                &d.message[..20.min(d.message.len())]
            )
        })
        .collect();
    assert_eq!(
        w,
        [
            "5:metadata.uid: set by the cluster, ",
            "8:spec.serviceAccountName: clusterctl has no Se",
            "11:spec.resourceClaims: clusterctl does not ",
            "12:spec.containers[0].tty: clusterctl does not ",
        ]
    );
}
