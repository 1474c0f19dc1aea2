//! `rollout restart`'s edit of a manifest file: sets the Deployment's pod-template annotation
//! `kubectl.kubernetes.io/restartedAt` (what `kubectl rollout restart` patches), as a line-level text
//! edit that keeps every other byte of the file — comments, order, quoting. Block-style mappings only:
//! a flow-style (`{…}`) template, metadata or annotations is refused with where it is. Pure.

use crate::yaml::{self, Node, NodeKind};

/// The annotation `kubectl rollout restart` sets on the pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// `text` with `spec.template.metadata.annotations[RESTARTED_AT] = at` on the Deployment `name` (in
/// `namespace`), or why it cannot be edited.
pub fn set_restarted_at(
    text: &str,
    name: &str,
    namespace: &str,
    at: &str,
) -> Result<String, String> {
    let (docs, errors) = yaml::parse_documents(text);
    if let Some(e) = errors.first() {
        return Err(format!("the file does not parse: {e:?}"));
    }
    let doc = docs
        .iter()
        .find(|d| {
            let root = &d.root;
            let kind = scalar(root, &["kind"]);
            let n = scalar(root, &["metadata", "name"]);
            let ns = scalar(root, &["metadata", "namespace"]).unwrap_or("default");
            kind == Some("Deployment") && n == Some(name) && ns == namespace
        })
        .ok_or_else(|| format!("no Deployment {namespace}/{name} in the file"))?;
    let template = path(&doc.root, &["spec", "template"])
        .ok_or_else(|| format!("deployment {name} has no spec.template"))?;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let value = format!("\"{at}\"");
    let edit = |line: usize, insert: Vec<String>| -> String {
        let mut out = String::with_capacity(text.len() + 128);
        for (i, l) in lines.iter().enumerate() {
            if i + 1 == line {
                for s in &insert {
                    out.push_str(s);
                }
            }
            out.push_str(l);
        }
        if line > lines.len() {
            if !out.ends_with('\n') && !out.is_empty() {
                out.push('\n');
            }
            for s in &insert {
                out.push_str(s);
            }
        }
        out
    };
    block(template, "spec.template", text)?;
    let indent = |n: &Node| " ".repeat(n.pos.col.saturating_sub(1));
    let Some(meta) = template.get("metadata") else {
        let i = indent(template);
        return Ok(edit(
            template.pos.line,
            vec![
                format!("{i}metadata:\n"),
                format!("{i}  annotations:\n"),
                format!("{i}    {RESTARTED_AT}: {value}\n"),
            ],
        ));
    };
    block(&meta.value, "spec.template.metadata", text)?;
    let Some(ann) = meta.value.get("annotations") else {
        let i = indent(&meta.value);
        return Ok(edit(
            meta.value.pos.line,
            vec![
                format!("{i}annotations:\n"),
                format!("{i}  {RESTARTED_AT}: {value}\n"),
            ],
        ));
    };
    block(&ann.value, "spec.template.metadata.annotations", text)?;
    if let Some(old) = ann.value.get(RESTARTED_AT) {
        // Replace the whole line of the old entry (its value is one scalar on that line).
        let i = " ".repeat(old.key_pos.col.saturating_sub(1));
        let line = old.key_pos.line;
        if old.value.pos.line != line {
            return Err(format!(
                "{line}:{}: {RESTARTED_AT} is not a one-line value; edit it by hand",
                old.key_pos.col
            ));
        }
        let mut out = String::new();
        for (k, l) in lines.iter().enumerate() {
            if k + 1 == line {
                out.push_str(&format!("{i}{RESTARTED_AT}: {value}\n"));
            } else {
                out.push_str(l);
            }
        }
        return Ok(out);
    }
    let i = indent(&ann.value);
    Ok(edit(
        ann.value.pos.line,
        vec![format!("{i}{RESTARTED_AT}: {value}\n")],
    ))
}

fn path<'a>(root: &'a Node, keys: &[&str]) -> Option<&'a Node> {
    let mut n = root;
    for k in keys {
        n = &n.get(k)?.value;
    }
    Some(n)
}

fn scalar<'a>(root: &'a Node, keys: &[&str]) -> Option<&'a str> {
    path(root, keys)?.as_scalar().map(|s| s.text.as_str())
}

/// A non-empty block mapping (its first key starts the node); anything else cannot take a new line.
fn block(n: &Node, what: &str, text: &str) -> Result<(), String> {
    let first = text
        .lines()
        .nth(n.pos.line.saturating_sub(1))
        .and_then(|l| l.get(n.pos.col.saturating_sub(1)..))
        .unwrap_or("");
    let is_map = matches!(&n.kind, NodeKind::Map(m) if !m.is_empty());
    if !is_map || first.starts_with('{') {
        return Err(format!(
            "{}:{}: {what} is not a block mapping; add `{RESTARTED_AT}` to its annotations by hand",
            n.pos.line, n.pos.col
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: &str = "2026-12-01T15:00:00Z";

    fn web(template_meta: &str) -> String {
        format!(
            "# the web tier\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  template:\n{template_meta}    spec:\n      containers:\n      - name: web\n        image: nginx # pinned later\n"
        )
    }

    #[test]
    fn adds_the_annotation_where_there_are_annotations_metadata_or_neither() {
        let with_ann = web(
            "    metadata:\n      labels:\n        app: web\n      annotations:\n        a: b\n",
        );
        let out = set_restarted_at(&with_ann, "web", "default", AT).unwrap();
        assert_eq!(
            out,
            web(&format!(
                "    metadata:\n      labels:\n        app: web\n      annotations:\n        {RESTARTED_AT}: \"{AT}\"\n        a: b\n"
            ))
        );
        let no_ann = web("    metadata:\n      labels:\n        app: web\n");
        let out = set_restarted_at(&no_ann, "web", "default", AT).unwrap();
        assert_eq!(
            out,
            web(&format!(
                "    metadata:\n      annotations:\n        {RESTARTED_AT}: \"{AT}\"\n      labels:\n        app: web\n"
            ))
        );
        let no_meta = web("");
        let out = set_restarted_at(&no_meta, "web", "default", AT).unwrap();
        assert_eq!(
            out,
            web(&format!(
                "    metadata:\n      annotations:\n        {RESTARTED_AT}: \"{AT}\"\n"
            ))
        );
    }

    #[test]
    fn a_second_restart_replaces_the_first_and_other_documents_are_untouched() {
        let first = set_restarted_at(&web(""), "web", "default", "2026-01-01T00:00:00Z").unwrap();
        let two = format!(
            "{first}---\n{}",
            web("").replace("name: web\n", "name: api\n")
        );
        let out = set_restarted_at(&two, "web", "default", AT).unwrap();
        assert_eq!(
            out,
            format!(
                "{}---\n{}",
                set_restarted_at(&web(""), "web", "default", AT).unwrap(),
                web("").replace("name: web\n", "name: api\n")
            )
        );
        assert_eq!(
            set_restarted_at(&two, "db", "default", AT).unwrap_err(),
            "no Deployment default/db in the file"
        );
    }

    #[test]
    fn flow_style_is_refused_with_its_position() {
        let flow = web("    metadata: {labels: {app: web}}\n");
        let e = set_restarted_at(&flow, "web", "default", AT).unwrap_err();
        assert!(
            e.starts_with("9:15: spec.template.metadata is not a block mapping"),
            "{e}"
        );
    }
}
