//! ConfigMaps and Secrets as kubectl shows them: `get configmaps` (NAME DATA AGE), `get secrets`
//! (NAME TYPE DATA AGE), `describe configmap|secret`, and the JSON/YAML form of a Secret. A Secret's
//! values are never shown: describe gives each key's size (`password:  8 bytes`, as kubectl does) and
//! `-o json|yaml` drops `data` (kubectl would print it base64-encoded; clusterctl never prints it).

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use super::table::{ns_name, render};
use super::{Rendered, Scope};
use crate::age::age;

fn config_map_count(c: &ConfigMap) -> usize {
    c.data.as_ref().map_or(0, |d| d.len()) + c.binary_data.as_ref().map_or(0, |d| d.len())
}

pub fn config_maps(items: &[ConfigMap], scope: &Scope, now: Timestamp) -> Rendered {
    if items.is_empty() {
        return Rendered::Empty(scope.empty_message());
    }
    let rows = items
        .iter()
        .map(|c| {
            let (ns, name) = ns_name(&c.metadata);
            let cells = vec![
                name.clone(),
                config_map_count(c).to_string(),
                age(c.metadata.creation_timestamp.as_ref(), now),
            ];
            (ns, name, cells)
        })
        .collect();
    Rendered::Table(render(&["NAME", "DATA", "AGE"], rows, Some(scope)))
}

pub fn secrets(items: &[Secret], scope: &Scope, now: Timestamp) -> Rendered {
    if items.is_empty() {
        return Rendered::Empty(scope.empty_message());
    }
    let rows = items
        .iter()
        .map(|s| {
            let (ns, name) = ns_name(&s.metadata);
            let cells = vec![
                name.clone(),
                s.type_.clone().unwrap_or_else(|| "Opaque".into()),
                s.data.as_ref().map_or(0, |d| d.len()).to_string(),
                age(s.metadata.creation_timestamp.as_ref(), now),
            ];
            (ns, name, cells)
        })
        .collect();
    Rendered::Table(render(&["NAME", "TYPE", "DATA", "AGE"], rows, Some(scope)))
}

/// A Secret safe to print: everything but its values.
pub fn redacted(s: &Secret) -> Secret {
    Secret {
        data: None,
        string_data: None,
        ..s.clone()
    }
}

fn header(out: &mut String, m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) {
    let map = |m: Option<&std::collections::BTreeMap<String, String>>| {
        let m = m.cloned().unwrap_or_default();
        if m.is_empty() {
            return "<none>\n".to_string();
        }
        let lines: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}\n", lines.join("\n              "))
    };
    out.push_str(&format!(
        "Name:         {}\n",
        m.name.as_deref().unwrap_or("")
    ));
    out.push_str(&format!(
        "Namespace:    {}\n",
        m.namespace.as_deref().unwrap_or("default")
    ));
    out.push_str(&format!("Labels:       {}", map(m.labels.as_ref())));
    out.push_str(&format!("Annotations:  {}", map(m.annotations.as_ref())));
}

/// `kubectl describe configmap`: each key with its value, binary keys with their size.
pub fn describe_config_map(c: &ConfigMap) -> String {
    let mut out = String::new();
    header(&mut out, &c.metadata);
    out.push_str("\nData\n====\n");
    for (k, v) in c.data.iter().flatten() {
        out.push_str(&format!("{k}:\n----\n{v}\n\n"));
    }
    out.push_str("\nBinaryData\n====\n");
    for (k, v) in c.binary_data.iter().flatten() {
        out.push_str(&format!("{k}: {} bytes\n", v.0.len()));
    }
    out.push_str("\nEvents:  <none>\n");
    out
}

/// `kubectl describe secret`: the type and each key's size, never a value.
pub fn describe_secret(s: &Secret) -> String {
    let mut out = String::new();
    header(&mut out, &s.metadata);
    out.push_str(&format!(
        "\nType:  {}\n\nData\n====\n",
        s.type_.as_deref().unwrap_or("Opaque")
    ));
    let data = s.data.clone().unwrap_or_default();
    let width = data.keys().map(|k| k.len() + 1).max().unwrap_or(0);
    for (k, v) in &data {
        out.push_str(&format!(
            "{:<width$}  {} bytes\n",
            format!("{k}:"),
            v.0.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    #[test]
    fn secrets_show_sizes_never_values() {
        let s = Secret {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("db".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            type_: Some("Opaque".into()),
            data: Some(
                [
                    ("password".to_string(), ByteString(b"hunter2x".to_vec())),
                    ("user".to_string(), ByteString(b"app".to_vec())),
                ]
                .into(),
            ),
            ..Default::default()
        };
        let d = describe_secret(&s);
        assert!(
            d.contains("password:  8 bytes\n") && d.contains("user:      3 bytes\n"),
            "{d}"
        );
        assert!(!d.contains("hunter2x"));
        assert!(redacted(&s).data.is_none());
        let Rendered::Table(t) = secrets(
            &[s],
            &Scope::Namespace("default".into()),
            Timestamp::UNIX_EPOCH,
        ) else {
            panic!()
        };
        assert!(
            t.starts_with("NAME   TYPE     DATA   AGE\ndb     Opaque   2"),
            "{t}"
        );
    }
}
