//! Whether a container's start needed a pull, for its `Pulled` event as the kubelet words it:
//! `Successfully pulled image "nginx" in 3s (3s including waiting)` after a `Pulling image "nginx"`, or
//! `Container image "nginx" already present on machine`. Apply's pull step (`runtime::pull`) leaves a mark
//! when it really pulled — `<state dir>/pulled/<hash>`: `<start> <end>` (epoch seconds), then the image —
//! and the first new container of that image created after it takes the mark; every other start of the
//! image (a second pod of the same apply, a restart) found it present. Pure: the binary reads and removes
//! the files.

use super::backoff::{format_secs, parse};
use super::decide::Seen;
use crate::model::NodeRecords;

/// The subdirectory of the supervisor's state directory with the pull step's marks.
pub const PULLED_DIR: &str = "pulled";

/// A mark older than this (seconds) is removed unused: its image's container was never created here.
pub const MARK_TTL_SECS: i64 = 600;

/// One pull apply's pull step did on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The file's name in [`PULLED_DIR`].
    pub file: String,
    pub image: String,
    /// Epoch seconds: when the pull began and ended.
    pub started: i64,
    pub finished: i64,
}

/// Parses a mark file: `<start> <end>\n<image>\n`; `None` when it is not one.
pub fn parse_mark(file: &str, text: &str) -> Option<Mark> {
    let mut lines = text.lines();
    let (s, e) = lines.next()?.split_once(' ')?;
    let image = lines.next()?.trim().to_string();
    if image.is_empty() {
        return None;
    }
    Some(Mark {
        file: file.to_string(),
        image,
        started: s.trim().parse().ok()?,
        finished: e.trim().parse().ok()?,
    })
}

/// Rewrites the `Pulled` event of the containers first seen in this poll (a record `next` has that `prev`
/// had not for that id) whose image a mark says was pulled just before they were created, oldest
/// container first, one container per mark. Returns the marks to remove: the ones taken, and the ones
/// older than [`MARK_TTL_SECS`].
pub fn attribute(
    next: &mut NodeRecords,
    prev: &NodeRecords,
    seen: &[Seen],
    marks: &[Mark],
    now: i64,
) -> Vec<String> {
    let mut fresh: Vec<&Seen> = seen
        .iter()
        .filter(|s| prev.containers.get(&s.name).is_none_or(|p| p.id != s.id))
        .filter(|s| parse(&s.created_at).is_some())
        .collect();
    fresh.sort_by_key(|s| (parse(&s.created_at), s.name.clone()));
    let mut taken: Vec<String> = Vec::new();
    for s in fresh {
        let created = parse(&s.created_at).unwrap_or(0);
        // The pull step runs right before the create; a slack of a second for the clocks' rounding.
        let Some(m) = marks
            .iter()
            .filter(|m| !taken.contains(&m.file) && m.image == s.image)
            .filter(|m| m.finished <= created + 1 && created - m.finished <= MARK_TTL_SECS)
            .max_by_key(|m| m.finished)
        else {
            continue;
        };
        let Some(r) = next.containers.get_mut(&s.name) else {
            continue;
        };
        let Some(pulled) = r.events.iter_mut().find(|e| e.reason == "Pulled") else {
            continue;
        };
        let secs = (m.finished - m.started).max(0);
        pulled.message = format!(
            "Successfully pulled image \"{}\" in {secs}s ({secs}s including waiting)",
            s.image
        );
        super::decide::push_event(
            r,
            "Normal",
            "Pulling",
            format!("Pulling image \"{}\"", s.image),
            &format_secs(m.started),
        );
        taken.push(m.file.clone());
    }
    for m in marks {
        if now - m.finished > MARK_TTL_SECS && !taken.contains(&m.file) {
            taken.push(m.file.clone());
        }
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::decide::{PodInfo, supervise};
    use std::collections::BTreeMap;

    fn seen(id: &str, pod: &str, image: &str, created: i64) -> Seen {
        Seen {
            id: id.into(),
            name: format!("k8s_web_{pod}_default"),
            container: "web".into(),
            namespace: "default".into(),
            pod: pod.into(),
            image: image.into(),
            status: "running".into(),
            created_at: format_secs(created),
            started_at: format_secs(created),
            ..Default::default()
        }
    }

    fn messages(r: &NodeRecords, name: &str) -> Vec<(String, String)> {
        r.containers[name]
            .events
            .iter()
            .map(|e| (e.reason.clone(), e.message.clone()))
            .collect()
    }

    #[test]
    fn the_first_container_after_a_pull_says_pulled_the_others_already_present() {
        let pods: BTreeMap<_, _> = ["a", "b", "c"]
            .into_iter()
            .map(|p| (("default".to_string(), p.to_string()), PodInfo::default()))
            .collect();
        let s = [
            seen("2", "b", "nginx", 105),
            seen("1", "a", "nginx", 104),
            seen("3", "c", "busybox", 104),
        ];
        let prev = NodeRecords::default();
        let (mut next, _) = supervise(&s, &pods, &prev, 106);
        let marks = [
            parse_mark("m1", "100 103\nnginx\n").unwrap(),
            parse_mark("old", "1 2\nredis\n").unwrap(),
        ];
        let gone = attribute(&mut next, &prev, &s, &marks, 106);
        assert_eq!(gone, ["m1"], "taken; `old` is not yet past its TTL");
        assert_eq!(
            messages(&next, "k8s_web_a_default"),
            [
                ("Pulling".into(), "Pulling image \"nginx\"".into()),
                (
                    "Pulled".into(),
                    "Successfully pulled image \"nginx\" in 3s (3s including waiting)".into()
                ),
                ("Created".into(), "Created container: web".into()),
                ("Started".into(), "Started container web".into()),
            ]
        );
        let present = |n: &str| {
            messages(&next, n)
                .iter()
                .find(|(r, _)| r == "Pulled")
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(
            present("k8s_web_b_default"),
            "Container image \"nginx\" already present on machine"
        );
        assert_eq!(
            present("k8s_web_c_default"),
            "Container image \"busybox\" already present on machine"
        );
        // A known container is never rewritten; an unused mark goes after its TTL.
        let again = attribute(
            &mut next.clone(),
            &next,
            &s,
            &marks[1..],
            2 + MARK_TTL_SECS + 1,
        );
        assert_eq!(again, ["old"]);
        assert_eq!(parse_mark("x", "garbage"), None);
    }
}
