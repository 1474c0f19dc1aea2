//! The audit log of the lock hosts: one JSON line per apply that held the lock and per forced release,
//! appended on every lock host (`/var/lib/clusterctl/audit.log`). Pure: the entry type, its line, and the
//! merge of the copies read back from several hosts (`clusterctl history`). No Secret ever reaches an entry:
//! it holds identities, a commit, a lock id and a result word, nothing from the manifests.

use serde::{Deserialize, Serialize};

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// RFC 3339, the writer's clock (for reading, not for any decision).
    pub time: String,
    /// `apply`, `reconcile`, `release --force`, `unlock`.
    pub action: String,
    /// The lock the entry is about: the apply's own, or the one released by force.
    pub lock_id: String,
    /// Who wrote it.
    pub user: String,
    pub machine: String,
    #[serde(default)]
    pub pid: u32,
    /// The commit applied (for a release: the commit of the lock released).
    #[serde(default)]
    pub commit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_job_url: Option<String>,
    /// What happened: `applied`, `failed`, `stopped by SIGTERM`, `released`, …
    pub result: String,
    /// For a forced release: whose lock it was (`user@machine (pid N)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
}

impl Entry {
    /// The line appended to the log (with its newline).
    pub fn line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("an entry serializes");
        s.push('\n');
        s
    }
}

/// Merges the logs read from the lock hosts: every host got the same line, so identical lines are one
/// entry; lines that do not parse are skipped. Oldest first (by time, then lock id, then action).
pub fn merge<'a>(logs: impl IntoIterator<Item = &'a str>) -> Vec<Entry> {
    let mut lines: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    for log in logs {
        lines.extend(log.lines().map(str::trim).filter(|l| !l.is_empty()));
    }
    let mut out: Vec<Entry> = lines
        .into_iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    out.sort_by(|a, b| {
        (a.time.as_str(), a.lock_id.as_str(), a.action.as_str()).cmp(&(
            b.time.as_str(),
            b.lock_id.as_str(),
            b.action.as_str(),
        ))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(time: &str, id: &str) -> Entry {
        Entry {
            time: time.into(),
            action: "apply".into(),
            lock_id: id.into(),
            user: "u".into(),
            machine: "m".into(),
            pid: 1,
            commit: "abc1234".into(),
            ci_job_url: None,
            result: "applied".into(),
            holder: None,
        }
    }

    #[test]
    fn copies_from_several_hosts_are_one_entry_and_sorted_by_time() {
        let a = entry("2026-01-01T00:00:02Z", "a").line();
        let b = entry("2026-01-01T00:00:01Z", "b").line();
        let host1 = format!("{a}{b}");
        let host2 = format!("{b}not json\n");
        let merged = merge([host1.as_str(), host2.as_str()]);
        assert_eq!(
            merged
                .iter()
                .map(|e| e.lock_id.as_str())
                .collect::<Vec<_>>(),
            ["b", "a"]
        );
    }
}
