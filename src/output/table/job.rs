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

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobSpec, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn job(completions: Option<i32>, parallelism: i32, status: JobStatus) -> Job {
        let mut j = Job {
            spec: Some(JobSpec {
                completions,
                parallelism: Some(parallelism),
                ..Default::default()
            }),
            status: Some(status),
            ..Default::default()
        };
        j.metadata.name = Some("k".into());
        j
    }

    fn cond(t: &str) -> Option<Vec<JobCondition>> {
        Some(vec![JobCondition {
            type_: t.into(),
            status: "True".into(),
            ..Default::default()
        }])
    }

    #[test]
    fn completions_cells_are_print_jobs() {
        let st = JobStatus {
            succeeded: Some(2),
            ..Default::default()
        };
        assert_eq!(completions_cell(&job(Some(3), 2, st.clone())), "2/3");
        assert_eq!(completions_cell(&job(None, 4, st.clone())), "2/1 of 4");
        assert_eq!(completions_cell(&job(None, 1, st)), "2/1");
        assert_eq!(
            completions_cell(&job(Some(3), 1, JobStatus::default())),
            "0/3"
        );
    }

    #[test]
    fn status_words_and_durations() {
        let running = JobStatus {
            start_time: Some(Time(at(0))),
            ..Default::default()
        };
        let j = job(Some(1), 1, running.clone());
        assert_eq!(job_status_word(&j), "Running");
        assert_eq!(duration_cell(&j, at(70)), "70s");
        let done = JobStatus {
            completion_time: Some(Time(at(20))),
            conditions: cond("Complete"),
            ..running.clone()
        };
        let j = job(Some(1), 1, done);
        assert_eq!(job_status_word(&j), "Complete");
        assert_eq!(duration_cell(&j, at(5000)), "20s", "frozen at completion");
        let failed = JobStatus {
            conditions: cond("Failed"),
            ..running.clone()
        };
        assert_eq!(job_status_word(&job(Some(1), 1, failed)), "Failed");
        let suspended = JobStatus {
            conditions: cond("Suspended"),
            ..Default::default()
        };
        let j = job(Some(1), 1, suspended);
        assert_eq!(job_status_word(&j), "Suspended");
        assert_eq!(duration_cell(&j, at(5)), "", "never started");
        let out = jobs(
            &[job(Some(3), 2, running)],
            &Scope::Namespace("default".into()),
            false,
            at(70),
        );
        let Rendered::Table(t) = out else { panic!() };
        assert_eq!(
            t,
            "NAME   STATUS    COMPLETIONS   DURATION   AGE\nk      Running   0/3           70s        <unknown>\n"
        );
    }

    #[test]
    fn plan_reasons_say_where_the_job_stands() {
        use crate::controllers::job::{Progress, RemoveWhy};
        use crate::plan::Reason;
        let r = Reason::JobWants {
            job: "k".into(),
            progress: Progress {
                succeeded: 2,
                completions: Some(3),
                active: 0,
                failed: 0,
                starting: 1,
            },
            index: None,
        };
        assert_eq!(
            crate::output::plan::reason(&r),
            "job k: 2 of 3 completions, starting 1"
        );
        let r = Reason::JobRemoves {
            job: "k".into(),
            why: RemoveWhy::Finished("DeadlineExceeded".into()),
        };
        assert_eq!(
            crate::output::plan::reason(&r),
            "job k Failed (DeadlineExceeded): its active pods are removed"
        );
    }
}
