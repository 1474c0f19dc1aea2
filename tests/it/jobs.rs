//! Jobs on the testbed (issue 9's second acceptance): a Job of 3 completions, parallelism 2, runs to
//! Complete over repeated applies with 3 successful pods; the crash image with backoffLimit 2 ends Failed
//! (BackoffLimitExceeded); later applies re-run neither; an Indexed Job's pods see their index; a Job past
//! ttlSecondsAfterFinished loses its pods and is still not run again; a changed template is refused.
//! Every count is read from the hosts' own docker, not from clusterctl's word.

use std::time::{Duration, Instant};

use crate::common::*;

fn job(name: &str, spec: &str, image: &str, pod_extra: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\nspec:\n{spec}  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: work\n        image: {image}\n{pod_extra}"
    )
}

/// Every container `work` of Job `name` on every host: (pod, docker state, exit code), sorted.
fn job_containers(tb: &Testbed, name: &str) -> Vec<(String, String, i32)> {
    let mut out = Vec::new();
    for (host, _) in &tb.hosts {
        let text = tb.ssh_ok(
            host,
            &format!(
                "for id in $(docker ps -aq --filter label=clusterctl.io/owner-kind=Job --filter label=clusterctl.io/owner-name={name} --filter label=clusterctl.io/container=work); do docker inspect -f '{{{{index .Config.Labels \"clusterctl.io/pod\"}}}} {{{{.State.Status}}}} {{{{.State.ExitCode}}}}' $id; done"
            ),
        );
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            out.push((f[0].to_string(), f[1].to_string(), f[2].parse().unwrap()));
        }
    }
    out.sort();
    out
}

/// Waits (bounded) until no container of the Job runs any more: the Job's pods have exited.
fn wait_exited(tb: &Testbed, name: &str) -> Vec<(String, String, i32)> {
    let start = Instant::now();
    loop {
        let cs = job_containers(tb, name);
        if !cs.is_empty() && cs.iter().all(|(_, s, _)| s == "exited") {
            return cs;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "still running: {cs:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `get jobs` row of `name`: [NAME, STATUS, COMPLETIONS, DURATION, AGE].
fn job_row(tb: &Testbed, repo: &Repo, name: &str) -> Vec<String> {
    let out = ok(clusterctl(tb, repo, &["get", "jobs"])).stdout;
    let r = rows(&out, name);
    assert_eq!(r.len(), 1, "{out}");
    r[0].clone()
}

fn no_changes(tb: &Testbed, repo: &Repo) {
    let plan = clusterctl(tb, repo, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.code, 0,
        "a later plan must not re-run the Job: {plan:?}"
    );
    let apply = ok(clusterctl(tb, repo, &["apply", "--yes"]));
    assert!(
        apply.stdout.contains("Mutating remote commands: 0"),
        "{apply:?}"
    );
}

#[test]
fn a_job_runs_to_completion_over_applies_and_is_never_run_again() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.write(
        "job.yaml",
        &job(
            "work",
            "  completions: 3\n  parallelism: 2\n",
            "clusterctl/job",
            "",
        ),
    )
    .commit("a job");

    let plan = ok(clusterctl(&tb, &repo, &["plan"])).stdout;
    assert!(
        plan.contains("job work: 0 of 3 completions, starting 2"),
        "{plan}"
    );
    let mut applies = 0;
    loop {
        let plan = clusterctl(&tb, &repo, &["plan", "--detailed-exitcode"]);
        if plan.code == 0 {
            break;
        }
        assert_eq!(plan.code, 2, "{plan:?}");
        ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
        applies += 1;
        assert!(applies <= 3, "no completion in 3 applies");
        let running = wait_exited(&tb, "work");
        // Never more than parallelism at once: each apply starts at most 2.
        assert!(running.len() <= 2 * applies, "{running:?}");
    }
    assert_eq!(applies, 2, "3 completions at parallelism 2: two waves");
    let cs = job_containers(&tb, "work");
    assert_eq!(cs.len(), 3, "{cs:?}");
    assert!(
        cs.iter().all(|(_, s, e)| s == "exited" && *e == 0),
        "{cs:?}"
    );
    let row = job_row(&tb, &repo, "work");
    assert_eq!(
        (row[1].as_str(), row[2].as_str()),
        ("Complete", "3/3"),
        "{row:?}"
    );
    let pods = ok(clusterctl(&tb, &repo, &["get", "pods"])).stdout;
    assert_eq!(pods.matches("Completed").count(), 3, "{pods}");
    let d = ok(clusterctl(&tb, &repo, &["describe", "job", "work"])).stdout;
    assert!(d.contains("3 Succeeded"), "{d}");
    assert!(d.contains("CompletionsReached"), "{d}");

    // From a snapshot the same verdict, byte for byte on every read.
    let snap = ok(clusterctl(&tb, &repo, &["snapshot", "-o", "json"])).stdout;
    let file = repo.path().join("snapshot.json");
    std::fs::write(&file, snap).unwrap();
    let f = file.to_str().unwrap();
    let a = ok(clusterctl(&tb, &repo, &["get", "jobs", "--observed", f])).stdout;
    assert_eq!(
        a,
        ok(clusterctl(&tb, &repo, &["get", "jobs", "--observed", f])).stdout
    );
    let r = rows(&a, "work");
    assert_eq!(
        (r[0][1].as_str(), r[0][2].as_str()),
        ("Complete", "3/3"),
        "{a}"
    );
    let p = ok(clusterctl(
        &tb,
        &repo,
        &["plan", "--observed", f, "-o", "json"],
    ))
    .stdout;
    assert_eq!(
        p,
        ok(clusterctl(
            &tb,
            &repo,
            &["plan", "--observed", f, "-o", "json"]
        ))
        .stdout
    );
    assert!(p.contains("\"changes\": []"), "{p}");

    // Later applies start nothing: the finished run is on the containers.
    no_changes(&tb, &repo);
    assert_eq!(job_containers(&tb, "work"), cs);

    // The template is immutable: a changed one is refused like the API server refuses it.
    repo.write(
        "job.yaml",
        &job(
            "work",
            "  completions: 3\n  parallelism: 2\n",
            "clusterctl/crash",
            "",
        ),
    )
    .commit("another image");
    let run = clusterctl(&tb, &repo, &["apply", "--yes"]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("apps/job.yaml:"), "{run:?}");
    assert!(
        run.stderr
            .contains("spec.template: Invalid value: field is immutable"),
        "{run:?}"
    );
    assert_eq!(job_containers(&tb, "work"), cs, "nothing touched");

    // Removed from Git and applied, then added again: a new run.
    repo.remove("job.yaml").commit("no job");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert!(job_containers(&tb, "work").is_empty());
    repo.write(
        "job.yaml",
        &job(
            "work",
            "  completions: 3\n  parallelism: 2\n",
            "clusterctl/job",
            "",
        ),
    )
    .commit("the job again");
    let plan = ok(clusterctl(&tb, &repo, &["plan"])).stdout;
    assert!(
        plan.contains("job work: 0 of 3 completions, starting 2"),
        "{plan}"
    );
}

/// Three Jobs side by side in one apply (one reset and one apply instead of three: jobs.rs was the
/// slowest module): the crash image with backoffLimit 2 fails with BackoffLimitExceeded and keeps its
/// pods; an Indexed Job's pods see their index; a Job past ttlSecondsAfterFinished loses its pods and is
/// not run again while the roster remembers it. Later applies re-run none of them.
#[test]
fn crashing_indexed_and_ttl_jobs_side_by_side() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    let cmd = "        command: [\"sh\", \"-c\", \"echo index=$JOB_COMPLETION_INDEX host=$(hostname)\"]\n";
    repo.write(
        "crash.yaml",
        &job(
            "crash",
            "  completions: 3\n  parallelism: 3\n  backoffLimit: 2\n",
            "clusterctl/crash",
            "",
        ),
    )
    .write(
        "idx.yaml",
        &job(
            "idx",
            "  completions: 3\n  parallelism: 3\n  completionMode: Indexed\n",
            "clusterctl/job",
            cmd,
        ),
    )
    .write(
        "short.yaml",
        &job(
            "short",
            "  ttlSecondsAfterFinished: 0\n",
            "clusterctl/job",
            "",
        ),
    )
    .commit("three jobs");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));

    // The crashing Job: Failed, BackoffLimitExceeded, its pods kept (for their logs).
    let crashed = wait_exited(&tb, "crash");
    assert_eq!(crashed.len(), 3);
    assert!(crashed.iter().all(|(_, _, e)| *e == 1), "{crashed:?}");
    let row = job_row(&tb, &repo, "crash");
    assert_eq!(
        (row[1].as_str(), row[2].as_str()),
        ("Failed", "0/3"),
        "{row:?}"
    );
    let d = ok(clusterctl(&tb, &repo, &["describe", "job", "crash"])).stdout;
    assert!(d.contains("BackoffLimitExceeded"), "{d}");
    assert!(
        d.contains("Job has reached the specified backoff limit"),
        "{d}"
    );
    assert!(d.contains("3 Failed"), "{d}");
    let pods = ok(clusterctl(&tb, &repo, &["get", "pods"])).stdout;
    let crash_rows: Vec<&str> = pods.lines().filter(|l| l.starts_with("crash-")).collect();
    assert_eq!(crash_rows.len(), 3, "{pods}");
    assert!(crash_rows.iter().all(|l| l.contains("Error")), "{pods}");

    // The Indexed Job: each pod's own output, read from the host that ran it: pod `idx-<i>-xxxxx`
    // printed index i.
    let idx = wait_exited(&tb, "idx");
    assert_eq!(idx.len(), 3);
    let mut seen = Vec::new();
    for (host, _) in &tb.hosts {
        let names = tb.ssh_ok(
            host,
            "docker ps -a --filter label=clusterctl.io/owner-name=idx --filter label=clusterctl.io/container=work --format '{{.Names}}'",
        );
        for c in names.lines() {
            let pod = c.split('_').nth(2).unwrap().to_string();
            let log = tb.ssh_ok(host, &format!("docker logs {c} 2>&1"));
            let index = pod.split('-').nth(1).unwrap().to_string();
            assert_eq!(
                log.trim(),
                format!("index={index} host=idx-{index}"),
                "{pod} on {host}"
            );
            seen.push(index);
        }
    }
    seen.sort();
    assert_eq!(seen, ["0", "1", "2"]);
    let row = job_row(&tb, &repo, "idx");
    assert_eq!(
        (row[1].as_str(), row[2].as_str()),
        ("Complete", "3/3"),
        "{row:?}"
    );
    let d = ok(clusterctl(&tb, &repo, &["describe", "job", "idx"])).stdout;
    assert!(d.contains("Completed Indexes:  0-2"), "{d}");

    // The Job with a TTL: past it, its pods go as upstream deletes it.
    wait_exited(&tb, "short");
    let plan = ok(clusterctl(&tb, &repo, &["plan"])).stdout;
    assert!(
        plan.contains("job short finished more than ttlSecondsAfterFinished (0s) ago"),
        "{plan}"
    );
    assert!(
        !plan.contains("job crash") && !plan.contains("job idx"),
        "only the TTL acts: {plan}"
    );
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert!(job_containers(&tb, "short").is_empty());
    let out = clusterctl(&tb, &repo, &["get", "jobs"]);
    assert!(rows(&out.stdout, "short").is_empty(), "{out:?}");
    // Nothing is started again: the finished runs are on the containers, the TTL'd one in the roster.
    no_changes(&tb, &repo);
    assert_eq!(job_containers(&tb, "crash"), crashed);
    assert_eq!(job_containers(&tb, "idx"), idx);
    let roster = tb.ssh_ok("k8s-node1", "cat /var/lib/clusterctl/roster.json");
    assert!(roster.contains("\"default/short\""), "{roster}");
    // Removed from Git: an apply with no pod change still forgets it; added back, it runs again.
    repo.remove("short.yaml").commit("no short");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let roster = tb.ssh_ok("k8s-node1", "cat /var/lib/clusterctl/roster.json");
    assert!(!roster.contains("\"default/short\""), "{roster}");
    repo.write(
        "short.yaml",
        &job(
            "short",
            "  ttlSecondsAfterFinished: 0\n",
            "clusterctl/job",
            "",
        ),
    )
    .commit("the job again");
    let plan = ok(clusterctl(&tb, &repo, &["plan"])).stdout;
    assert!(
        plan.contains("job short: 0 of 1 completions, starting 1"),
        "{plan}"
    );
}

/// `job` with `restartPolicy: OnFailure` instead of `Never`.
fn on_failure(text: String) -> String {
    text.replace("restartPolicy: Never", "restartPolicy: OnFailure")
}

/// Issue 9's Job rules beyond counting, on the hosts: `suspend` starts nothing until it is lifted;
/// `activeDeadlineSeconds` stops a running pod and fails the Job with DeadlineExceeded; `restartPolicy:
/// OnFailure` restarts in place (the node supervisor) and fails with BackoffLimitExceeded once the restarts
/// reach the limit, and completes when the container succeeds.
#[test]
fn suspend_active_deadline_and_on_failure_on_the_hosts() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    // Far longer than any wait below on a loaded host: only the deadline ends it.
    let sleepy = "        command: [\"sleep\", \"3600\"]\n";
    repo.write(
        "susp.yaml",
        &job("susp", "  suspend: true\n", "clusterctl/job", ""),
    )
    .write(
        "late.yaml",
        &job(
            "late",
            "  activeDeadlineSeconds: 2\n",
            "clusterctl/job",
            sleepy,
        ),
    )
    .write(
        "retry.yaml",
        &on_failure(job("retry", "  backoffLimit: 1\n", "clusterctl/crash", "")),
    )
    .write(
        "fine.yaml",
        &on_failure(job("fine", "", "clusterctl/job", "")),
    )
    .commit("jobs");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert!(
        job_containers(&tb, "susp").is_empty(),
        "suspended: nothing starts"
    );
    assert_eq!(job_row(&tb, &repo, "susp")[1], "Suspended");
    assert_eq!(job_containers(&tb, "late").len(), 1);

    // OnFailure: the supervisor restarts the crashing container in place (its first restart is
    // immediate); one restart reaches backoffLimit 1. The job image's pod completes.
    let restarted = || {
        tb.hosts.iter().any(|(h, _)| {
            tb.ssh_ok(
                h,
                "cat /var/lib/clusterctl/node/records.json 2>/dev/null || true",
            )
            .lines()
            .any(|l| l.contains("\"restartCount\": 1") || l.contains("\"restartCount\": 2"))
        })
    };
    let start = Instant::now();
    while !restarted() {
        assert!(start.elapsed() < Duration::from_secs(60), "no restart");
        std::thread::sleep(Duration::from_millis(300));
    }
    wait_exited(&tb, "fine");
    // Past the 2 s deadline (the pod sleeps an hour).
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let plan = ok(clusterctl(&tb, &repo, &["plan"])).stdout;
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert!(
        job_containers(&tb, "late").is_empty(),
        "the running pod is stopped at the deadline: {plan}"
    );
    let late = job_row(&tb, &repo, "late");
    assert_eq!(late[1], "Failed", "{late:?}");
    let d = ok(clusterctl(&tb, &repo, &["describe", "job", "late"])).stdout;
    assert!(d.contains("DeadlineExceeded"), "{d}");
    assert!(
        d.contains("Job was active longer than specified deadline"),
        "{d}"
    );

    let retry = job_row(&tb, &repo, "retry");
    assert_eq!(retry[1], "Failed", "{retry:?}");
    let d = ok(clusterctl(&tb, &repo, &["describe", "job", "retry"])).stdout;
    assert!(d.contains("BackoffLimitExceeded"), "{d}");
    assert!(
        job_containers(&tb, "retry")
            .iter()
            .all(|(_, s, _)| s != "running")
    );
    let fine = job_row(&tb, &repo, "fine");
    assert_eq!((fine[1].as_str(), fine[2].as_str()), ("Complete", "1/1"));

    // Lifting suspend starts the Job; it completes.
    repo.write(
        "susp.yaml",
        &job("susp", "  suspend: false\n", "clusterctl/job", ""),
    )
    .commit("resume");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let cs = wait_exited(&tb, "susp");
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0].2, 0);
    let susp = job_row(&tb, &repo, "susp");
    assert_eq!((susp[1].as_str(), susp[2].as_str()), ("Complete", "1/1"));
    no_changes(&tb, &repo);
}
