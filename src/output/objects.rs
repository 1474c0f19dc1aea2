//! `-o json` / `-o yaml` as kubectl prints objects: one object as itself, several as a `v1` `List`; keys sorted
//! at every level (kubectl prints what it decoded into maps), JSON indented by 4 spaces with Go's HTML-safe
//! escaping of `<`, `>`, `&`, YAML in block style with list items at their key's indentation.
//! Pure: serializable values in, text out.

use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    #[error("cannot serialize object: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot write YAML: {0}")]
    Yaml(String),
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// One value for one object asked for by name, else a `List` (kubectl prints a `List` for any listing,
/// even of one object or none).
pub fn to_value<T: Serialize>(items: &[T], by_name: bool) -> Result<Value, ObjectsError> {
    let mut values = items
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()?;
    let v = if by_name && values.len() == 1 {
        values.remove(0)
    } else {
        let mut list = Map::new();
        list.insert("apiVersion".into(), Value::String("v1".into()));
        list.insert("items".into(), Value::Array(values));
        list.insert("kind".into(), Value::String("List".into()));
        let mut meta = Map::new();
        meta.insert("resourceVersion".into(), Value::String(String::new()));
        list.insert("metadata".into(), Value::Object(meta));
        Value::Object(list)
    };
    Ok(sorted(v))
}

/// `-o json`: 4-space indentation, trailing newline, `<>&` escaped as Go's encoder does.
pub fn to_json<T: Serialize>(items: &[T], by_name: bool) -> Result<String, ObjectsError> {
    let v = to_value(items, by_name)?;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    v.serialize(&mut ser)?;
    let text = String::from_utf8(buf).expect("serde_json writes UTF-8");
    // These characters can only occur inside JSON strings, so a textual replacement is exact.
    let mut out = text
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    out.push('\n');
    Ok(out)
}

/// `-o yaml`: block style, keys sorted, list items not indented under their key (kubectl's look).
pub fn to_yaml<T: Serialize>(items: &[T], by_name: bool) -> Result<String, ObjectsError> {
    let v = to_value(items, by_name)?;
    let opts = serde_saphyr::ser_options! {
        indent_step: 2,
        compact_list_indent: true,
        prefer_block_scalars: false,
    };
    serde_saphyr::to_string_with_options(&v, opts).map_err(|e| ObjectsError::Yaml(e.to_string()))
}
