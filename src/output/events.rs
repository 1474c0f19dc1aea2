//! `get events`: what the hosts recorded, as Kubernetes events. [`from_runtime`] turns one host's runtime
//! events into [`EventRecord`]s with kubelet-like reasons; [`merge_sources`] is the one place where every
//! source of events meets (the runtime's, and the supervisor's records via [`from_records`]), and
//! [`table`] prints kubectl's `LAST SEEN TYPE REASON OBJECT MESSAGE` with its aggregation
//! (`5m (x3 over 20m)`). Pure: `now` is a parameter.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use super::tabwriter::TABLE;
use super::{Rendered, Scope};
use crate::age::human_duration;
use crate::model::labels::SANDBOX_CONTAINER;
use crate::runtime::day2::{RuntimeEvent, RuntimeEventKind};

/// One event, as `get events` shows it before aggregation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventRecord {
    /// Nanoseconds since the epoch.
    pub time_nanos: i64,
    pub namespace: String,
    /// `kind/name`, lowercase kind: `pod/web-0`.
    pub object: String,
    /// `Normal` | `Warning`.
    pub kind: String,
    pub reason: String,
    pub message: String,
    /// The host that recorded it.
    pub host: String,
}

/// Kubelet-like events from one host's runtime events. Sandbox events are the runtime's business and left
/// out; an image pull is told to the first pod on that host created with that image after the pull (the
/// kubelet pulls for a pod); a pull no pod followed is left out.
pub fn from_runtime(host: &str, events: &[RuntimeEvent]) -> Vec<EventRecord> {
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if e.container == SANDBOX_CONTAINER {
            continue;
        }
        let rec = |kind: &str, reason: &str, message: String, ns: &str, pod: &str| EventRecord {
            time_nanos: e.time_nanos,
            namespace: ns.to_string(),
            object: format!("pod/{pod}"),
            kind: kind.to_string(),
            reason: reason.to_string(),
            message,
            host: host.to_string(),
        };
        let (ns, pod, c) = (e.namespace.as_str(), e.pod.as_str(), e.container.as_str());
        if e.kind != RuntimeEventKind::Pulled && pod.is_empty() {
            continue;
        }
        let r = match &e.kind {
            RuntimeEventKind::Pulled => {
                let want = normalize_image(&e.image);
                let Some(created) = events[i + 1..].iter().find(|x| {
                    x.kind == RuntimeEventKind::Created
                        && x.container != SANDBOX_CONTAINER
                        && normalize_image(&x.image) == want
                }) else {
                    continue;
                };
                rec(
                    "Normal",
                    "Pulled",
                    format!("Successfully pulled image \"{}\"", created.image),
                    &created.namespace,
                    &created.pod,
                )
            }
            RuntimeEventKind::Created => rec(
                "Normal",
                "Created",
                format!("Created container {c}"),
                ns,
                pod,
            ),
            RuntimeEventKind::Started => rec(
                "Normal",
                "Started",
                format!("Started container {c}"),
                ns,
                pod,
            ),
            RuntimeEventKind::Killed => rec(
                "Normal",
                "Killing",
                format!("Stopping container {c}"),
                ns,
                pod,
            ),
            RuntimeEventKind::Died(0) => rec(
                "Normal",
                "Completed",
                format!("Container {c} exited with code 0"),
                ns,
                pod,
            ),
            RuntimeEventKind::Died(code) => rec(
                "Warning",
                "Error",
                format!("Container {c} exited with code {code}"),
                ns,
                pod,
            ),
            RuntimeEventKind::OomKilled => rec(
                "Warning",
                "OOMKilled",
                format!("Container {c} was killed: out of memory"),
                ns,
                pod,
            ),
            RuntimeEventKind::Health(h) if h == "unhealthy" => rec(
                "Warning",
                "Unhealthy",
                format!("Container {c} health check failed"),
                ns,
                pod,
            ),
            RuntimeEventKind::Health(_) => continue,
        };
        out.push(r);
    }
    out
}

/// What the node supervisors recorded about the pods (docs/node-supervisor.md): the events the runtime's
/// own stream cannot tell — `BackOff`, a failed start, `Killing` of a container apply is deleting, and
/// whatever else the supervisor records — as records of `get events`. `Pulled`/`Created`/`Started` come from
/// the runtime already and are left out. An aggregated record (`count` n) becomes n records, the first at
/// its first timestamp and the others at its last, so [`table`] shows `(xN over …)` as the kubelet's
/// correlator counted. Records last seen before `since` (RFC 3339 times, seconds) are left out.
pub fn from_records(pods: &[crate::model::ObservedPod], since: Timestamp) -> Vec<EventRecord> {
    let mut out = Vec::new();
    for p in pods {
        for r in p.all_containers().filter_map(|c| c.record.as_ref()) {
            for e in &r.events {
                if matches!(e.reason.as_str(), "Pulled" | "Created" | "Started") {
                    continue;
                }
                let (Ok(first), Ok(last)) = (
                    e.first_timestamp.parse::<Timestamp>(),
                    e.last_timestamp.parse::<Timestamp>(),
                ) else {
                    continue;
                };
                if last < since {
                    continue;
                }
                let n = e.count.max(1) as i64;
                for i in 0..n {
                    // The repeats a nanosecond apart, so `merge_sources` does not take them for copies.
                    let at = if i == 0 {
                        first.as_nanosecond() as i64
                    } else {
                        last.as_nanosecond() as i64 - (n - 1 - i)
                    };
                    out.push(EventRecord {
                        time_nanos: at,
                        namespace: p.namespace.clone(),
                        object: format!("pod/{}", p.name),
                        kind: e.type_.clone(),
                        reason: e.reason.clone(),
                        message: e.message.clone(),
                        host: p.node.clone(),
                    });
                }
            }
        }
    }
    out
}

/// `nginx` and `docker.io/library/nginx:latest` name the same image.
fn normalize_image(image: &str) -> String {
    let s = image
        .strip_prefix("docker.io/library/")
        .or_else(|| image.strip_prefix("docker.io/"))
        .unwrap_or(image);
    let last = s.rsplit('/').next().unwrap_or(s);
    if last.contains(':') || s.contains('@') {
        s.to_string()
    } else {
        format!("{s}:latest")
    }
}

/// The seam where every source of events is merged: the runtime's events of each host and any records other
/// parts of clusterctl keep on hosts (the supervisor's restarts and back-offs). Sorted by time, duplicates
/// (the same record from two sources) dropped.
pub fn merge_sources(sources: Vec<Vec<EventRecord>>) -> Vec<EventRecord> {
    let mut all: Vec<EventRecord> = sources.into_iter().flatten().collect();
    all.sort();
    all.dedup();
    all
}

/// `--for kind/name`: only events about that object (kind as kubectl spells it, singular or plural).
pub fn for_object(records: Vec<EventRecord>, object: &str) -> Vec<EventRecord> {
    let (kind, name) = object.split_once('/').unwrap_or(("pod", object));
    let kind = match kind.to_ascii_lowercase().as_str() {
        "pods" | "po" | "pod" => "pod".to_string(),
        other => other.to_string(),
    };
    let want = format!("{kind}/{name}");
    records.into_iter().filter(|r| r.object == want).collect()
}

/// kubectl's events table: identical events (namespace, object, type, reason, message) are one row with a
/// count, `LAST SEEN` as `5m` or `5m (x3 over 20m)`; rows in order of last occurrence.
pub fn table(records: &[EventRecord], scope: &Scope, now: Timestamp) -> Rendered {
    if records.is_empty() {
        return Rendered::Empty(scope.empty_message());
    }
    type Key<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);
    let mut groups: BTreeMap<Key<'_>, (i64, i64, usize)> = BTreeMap::new();
    for r in records {
        let g = groups
            .entry((&r.namespace, &r.object, &r.kind, &r.reason, &r.message))
            .or_insert((r.time_nanos, r.time_nanos, 0));
        g.0 = g.0.min(r.time_nanos);
        g.1 = g.1.max(r.time_nanos);
        g.2 += 1;
    }
    let mut rows: Vec<(Key<'_>, (i64, i64, usize))> = groups.into_iter().collect();
    rows.sort_by(|a, b| (a.1.1, a.0).cmp(&(b.1.1, b.0)));
    let since = |nanos: i64| {
        let t = Timestamp::from_nanosecond(nanos as i128).unwrap_or(now);
        human_duration(SignedDuration::from_nanos(
            (now.as_nanosecond() - t.as_nanosecond()) as i64,
        ))
    };
    let all = matches!(scope, Scope::AllNamespaces);
    let mut text = String::new();
    if all {
        text.push_str("NAMESPACE\t");
    }
    text.push_str("LAST SEEN\tTYPE\tREASON\tOBJECT\tMESSAGE\n");
    for ((ns, object, kind, reason, message), (first, last, count)) in rows {
        let seen = if count > 1 {
            format!("{} (x{count} over {})", since(last), since(first))
        } else {
            since(last)
        };
        if all {
            text.push_str(ns);
            text.push('\t');
        }
        text.push_str(&format!("{seen}\t{kind}\t{reason}\t{object}\t{message}\n"));
    }
    Rendered::Table(TABLE.format(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn ev(t: i64, kind: RuntimeEventKind, pod: &str, c: &str, image: &str) -> RuntimeEvent {
        RuntimeEvent {
            time_nanos: t * S,
            kind,
            namespace: if pod.is_empty() { "" } else { "default" }.into(),
            pod: pod.into(),
            container: c.into(),
            image: image.into(),
        }
    }

    #[test]
    fn runtime_events_become_kubelet_like_records() {
        use RuntimeEventKind::*;
        let events = vec![
            ev(100, Pulled, "", "", "busybox:latest"),
            ev(101, Created, "web", "POD", "registry.k8s.io/pause:3.9"),
            ev(102, Created, "web", "app", "busybox"),
            ev(103, Started, "web", "app", "busybox"),
            ev(110, Died(3), "web", "app", "busybox"),
            ev(111, Started, "web", "app", "busybox"),
            ev(120, Died(3), "web", "app", "busybox"),
            ev(121, OomKilled, "web", "app", "busybox"),
            ev(130, Killed, "web", "app", "busybox"),
            ev(131, Died(0), "web", "app", "busybox"),
        ];
        let recs = merge_sources(vec![from_runtime("k8s-node1", &events)]);
        let reasons: Vec<&str> = recs.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "Pulled",
                "Created",
                "Started",
                "Error",
                "Started",
                "Error",
                "OOMKilled",
                "Killing",
                "Completed"
            ]
        );
        assert_eq!(recs[0].message, "Successfully pulled image \"busybox\"");
        assert_eq!(recs[0].object, "pod/web");
        let now = Timestamp::from_second(100 + 600).unwrap();
        let t = table(&recs, &Scope::Namespace("default".into()), now);
        assert_eq!(
            t.text(),
            "LAST SEEN               TYPE      REASON      OBJECT    MESSAGE
10m                     Normal    Pulled      pod/web   Successfully pulled image \"busybox\"
9m58s                   Normal    Created     pod/web   Created container app
9m49s (x2 over 9m57s)   Normal    Started     pod/web   Started container app
9m40s (x2 over 9m50s)   Warning   Error       pod/web   Container app exited with code 3
9m39s                   Warning   OOMKilled   pod/web   Container app was killed: out of memory
9m30s                   Normal    Killing     pod/web   Stopping container app
9m29s                   Normal    Completed   pod/web   Container app exited with code 0
"
        );
    }

    #[test]
    fn for_object_and_empty() {
        let r = EventRecord {
            time_nanos: 0,
            namespace: "default".into(),
            object: "pod/a".into(),
            kind: "Normal".into(),
            reason: "Started".into(),
            message: "m".into(),
            host: "h".into(),
        };
        let other = EventRecord {
            object: "pod/b".into(),
            ..r.clone()
        };
        assert_eq!(
            for_object(vec![r.clone(), other.clone()], "pods/a"),
            vec![r.clone()]
        );
        assert_eq!(for_object(vec![r, other], "pod/c"), vec![]);
        assert_eq!(
            table(&[], &Scope::AllNamespaces, Timestamp::UNIX_EPOCH),
            Rendered::Empty("No resources found".into())
        );
    }

    #[test]
    fn image_names_normalized() {
        assert_eq!(normalize_image("nginx"), "nginx:latest");
        assert_eq!(
            normalize_image("docker.io/library/nginx:1.14.2"),
            "nginx:1.14.2"
        );
        assert_eq!(normalize_image("reg:5000/a/b"), "reg:5000/a/b:latest");
    }

    /// The supervisor's BackOff (aggregated x3) and Killing join the runtime's events; its Pulled/Created/
    /// Started (which the runtime tells already) and records older than the TTL do not.
    #[test]
    fn supervisor_records_are_merged() {
        use crate::model::{ContainerRecord, ObservedContainer, ObservedPod, RecordedEvent};
        let e =
            |reason: &str, kind: &str, msg: &str, first: &str, last: &str, count| RecordedEvent {
                type_: kind.into(),
                reason: reason.into(),
                message: msg.into(),
                first_timestamp: first.into(),
                last_timestamp: last.into(),
                count,
            };
        let record = ContainerRecord {
            events: vec![
                e(
                    "Started",
                    "Normal",
                    "Started container app",
                    "1970-01-01T00:00:10Z",
                    "1970-01-01T00:00:50Z",
                    3,
                ),
                e(
                    "BackOff",
                    "Warning",
                    "Back-off restarting failed container app in pod crash_default()",
                    "1970-01-01T00:00:20Z",
                    "1970-01-01T00:01:00Z",
                    3,
                ),
                e(
                    "Killing",
                    "Normal",
                    "Stopping container app",
                    "1970-01-01T00:01:30Z",
                    "1970-01-01T00:01:30Z",
                    1,
                ),
                e(
                    "Failed",
                    "Warning",
                    "Error: old",
                    "1970-01-01T00:00:01Z",
                    "1970-01-01T00:00:01Z",
                    1,
                ),
            ],
            ..Default::default()
        };
        let pod = ObservedPod {
            namespace: "default".into(),
            name: "crash".into(),
            node: "k8s-node1".into(),
            node_reachable: true,
            sandbox: None,
            containers: [(
                "app".to_string(),
                ObservedContainer {
                    record: Some(record),
                    ..Default::default()
                },
            )]
            .into(),
            owner: None,
            template_hash: None,
            manifest: None,
        };
        let runtime = from_runtime(
            "k8s-node1",
            &[ev(
                15,
                RuntimeEventKind::Started,
                "crash",
                "app",
                "clusterctl/crash",
            )],
        );
        let recs = merge_sources(vec![
            runtime,
            from_records(&[pod], Timestamp::from_second(5).unwrap()),
        ]);
        let now = Timestamp::from_second(100).unwrap();
        let t = table(&recs, &Scope::Namespace("default".into()), now);
        assert_eq!(
            t.text(),
            "LAST SEEN           TYPE      REASON    OBJECT      MESSAGE
85s                 Normal    Started   pod/crash   Started container app
40s (x3 over 80s)   Warning   BackOff   pod/crash   Back-off restarting failed container app in pod crash_default()
10s                 Normal    Killing   pod/crash   Stopping container app
"
        );
    }
}
