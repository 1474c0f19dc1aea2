//! `kubectl get jobs`: NAME STATUS COMPLETIONS DURATION AGE (+ CONTAINERS IMAGES SELECTOR with `-o wide`),
//! printJob's cell rules (reference §6.2).

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;

use super::{age, containers_images, format_selector, ns_name, render};
use crate::age::human_duration;
use crate::output::{Rendered, Scope};
use crate::view::job::job_status_word;

/// COMPLETIONS: `<succeeded>/<completions>`; without completions `<succeeded>/1 of <parallelism>` when
/// parallelism > 1, else `<succeeded>/1`.
pub fn completions_cell(job: &Job) -> String {
    let spec = job.spec.clone().unwrap_or_default();
    let succeeded = job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0);
    match (spec.completions, spec.parallelism.unwrap_or(1)) {
        (Some(c), _) => format!("{succeeded}/{c}"),
        (None, p) if p > 1 => format!("{succeeded}/1 of {p}"),
        (None, _) => format!("{succeeded}/1"),
    }
}

/// DURATION: completion − start once complete, now − start while not, empty before it started.
pub fn duration_cell(job: &Job, now: Timestamp) -> String {
    let st = job.status.clone().unwrap_or_default();
    match (st.start_time, st.completion_time) {
        (None, _) => String::new(),
        (Some(s), None) => human_duration(now.duration_since(s.0)),
        (Some(s), Some(c)) => human_duration(c.0.duration_since(s.0)),
    }
}

pub fn jobs(items: &[Job], scope: &Scope, wide: bool, now: Timestamp) -> Rendered {
    if items.is_empty() {
        return Rendered::Empty(scope.empty_message());
    }
    let mut headers = vec!["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"];
    if wide {
        headers.extend(["CONTAINERS", "IMAGES", "SELECTOR"]);
    }
    let rows = items
        .iter()
        .map(|j| {
            let (ns, name) = ns_name(&j.metadata);
            let spec = j.spec.clone().unwrap_or_default();
            let mut cells = vec![
                name.clone(),
                job_status_word(j).to_string(),
                completions_cell(j),
                duration_cell(j, now),
                age(j.metadata.creation_timestamp.as_ref(), now),
            ];
            if wide {
                let (c, i) = containers_images(Some(&spec.template));
                cells.extend([c, i, format_selector(spec.selector.as_ref())]);
            }
            (ns, name, cells)
        })
        .collect();
    Rendered::Table(render(&headers, rows, Some(scope)))
}
