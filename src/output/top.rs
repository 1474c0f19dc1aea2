//! `kubectl top nodes|pods` tables (kubectl 1.32's `TopCmdPrinter`): cpu as `<millicores>m`, memory as
//! `<MiB>Mi` (integer division), percentages of the node's allocatable as `<int>%`, nodes without metrics
//! last with `<unknown>` cells, rows sorted by (namespace,) name. Pure: numbers in, text out.

use super::tabwriter::TABLE;
use super::{Rendered, Scope};

/// One pod's usage: the sum of its containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodUsage {
    pub namespace: String,
    pub name: String,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
}

/// One node's usage and its allocatable capacity; `usage: None` when it could not be measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeUsage {
    pub name: String,
    /// (cpu millicores, memory bytes)
    pub usage: Option<(u64, u64)>,
    /// (cpu millicores, memory bytes)
    pub allocatable: (u64, u64),
}

const UNKNOWN: &str = "<unknown>";

pub fn cpu(millis: u64) -> String {
    format!("{millis}m")
}

pub fn memory(bytes: u64) -> String {
    format!("{}Mi", bytes / (1024 * 1024))
}

fn percent(used: u64, of: u64) -> String {
    if of == 0 {
        return UNKNOWN.to_string();
    }
    format!("{}%", (used as u128 * 100 / of as u128))
}

/// `NAME CPU(cores) MEMORY(bytes)`, with a leading NAMESPACE for `-A`.
pub fn pods(items: &[PodUsage], scope: &Scope) -> Rendered {
    if items.is_empty() {
        return Rendered::Empty(scope.empty_message());
    }
    let all = matches!(scope, Scope::AllNamespaces);
    let mut rows: Vec<&PodUsage> = items.iter().collect();
    rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let mut text = String::new();
    if all {
        text.push_str("NAMESPACE\t");
    }
    text.push_str("NAME\tCPU(cores)\tMEMORY(bytes)\n");
    for p in rows {
        if all {
            text.push_str(&p.namespace);
            text.push('\t');
        }
        text.push_str(&format!(
            "{}\t{}\t{}\n",
            p.name,
            cpu(p.cpu_millis),
            memory(p.memory_bytes)
        ));
    }
    Rendered::Table(TABLE.format(&text))
}

/// `NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)`; nodes without a measurement come last.
pub fn nodes(items: &[NodeUsage]) -> Rendered {
    if items.is_empty() {
        return Rendered::Empty("No resources found".to_string());
    }
    let mut measured: Vec<&NodeUsage> = items.iter().filter(|n| n.usage.is_some()).collect();
    let mut missing: Vec<&NodeUsage> = items.iter().filter(|n| n.usage.is_none()).collect();
    measured.sort_by(|a, b| a.name.cmp(&b.name));
    missing.sort_by(|a, b| a.name.cmp(&b.name));
    let mut text = String::from("NAME\tCPU(cores)\tCPU(%)\tMEMORY(bytes)\tMEMORY(%)\n");
    for n in measured {
        let (c, m) = n.usage.unwrap_or_default();
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            n.name,
            cpu(c),
            percent(c, n.allocatable.0),
            memory(m),
            percent(m, n.allocatable.1)
        ));
    }
    for n in missing {
        text.push_str(&format!(
            "{}\t{UNKNOWN}\t{UNKNOWN}\t{UNKNOWN}\t{UNKNOWN}\n",
            n.name
        ));
    }
    Rendered::Table(TABLE.format(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_table_like_kubectl() {
        let items = vec![
            PodUsage {
                namespace: "default".into(),
                name: "web-2".into(),
                cpu_millis: 3,
                memory_bytes: 12 * 1024 * 1024 + 5,
            },
            PodUsage {
                namespace: "default".into(),
                name: "busy".into(),
                cpu_millis: 998,
                memory_bytes: 1024 * 1024 - 1,
            },
        ];
        let got = pods(&items, &Scope::Namespace("default".into()));
        assert_eq!(
            got.text(),
            "NAME    CPU(cores)   MEMORY(bytes)\nbusy    998m         0Mi\nweb-2   3m           12Mi\n"
        );
        let got = pods(&items[..1], &Scope::AllNamespaces);
        assert_eq!(
            got.text(),
            "NAMESPACE   NAME    CPU(cores)   MEMORY(bytes)\ndefault     web-2   3m           12Mi\n"
        );
        assert_eq!(
            pods(&[], &Scope::Namespace("x".into())),
            Rendered::Empty("No resources found in x namespace.".into())
        );
    }

    #[test]
    fn nodes_table_with_percentages_and_unknowns() {
        let items = vec![
            NodeUsage {
                name: "k8s-node2".into(),
                usage: None,
                allocatable: (4000, 2 << 30),
            },
            NodeUsage {
                name: "k8s-node1".into(),
                usage: Some((1250, 512 * 1024 * 1024)),
                allocatable: (4000, 2 << 30),
            },
        ];
        assert_eq!(
            nodes(&items).text(),
            "NAME        CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)\n\
k8s-node1   1250m        31%         512Mi           25%\n\
k8s-node2   <unknown>    <unknown>   <unknown>       <unknown>\n"
        );
    }
}
