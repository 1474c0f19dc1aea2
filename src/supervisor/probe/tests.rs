use super::*;

fn container(y: serde_json::Value) -> Container {
    serde_json::from_value(y).unwrap()
}

fn web() -> Container {
    container(serde_json::json!({
        "name": "web", "image": "nginx",
        "ports": [{"name": "http", "containerPort": 8080}],
        "startupProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 2, "failureThreshold": 2},
        "livenessProbe": {"httpGet": {"path": "healthz", "port": "http"}, "initialDelaySeconds": 5,
            "terminationGracePeriodSeconds": 3},
        "readinessProbe": {"exec": {"command": ["cat", "/tmp/ok"]}, "successThreshold": 2, "periodSeconds": 0}
    }))
}

#[test]
fn defaults_and_named_ports() {
    let s = specs(&web(), 30);
    assert_eq!(
        s.iter().map(|s| s.kind).collect::<Vec<_>>(),
        [Kind::Startup, Kind::Liveness, Kind::Readiness]
    );
    let live = &s[1];
    assert_eq!(
        (
            live.initial_delay,
            live.period,
            live.timeout,
            live.success_threshold,
            live.failure_threshold,
            live.grace
        ),
        (5, 10, 1, 1, 3, 3)
    );
    // periodSeconds 0 is the default 10; the readiness probe has the pod's grace.
    assert_eq!(
        (s[2].period, s[2].success_threshold, s[2].grace),
        (10, 2, 30)
    );
    assert_eq!(s[0].grace, 30);
    let t = target(live, "10.0.0.5").unwrap();
    assert_eq!(t.describe(), "http://10.0.0.5:8080/healthz");
    assert_eq!(
        target(&s[0], "10.0.0.5").unwrap().describe(),
        "tcp 10.0.0.5:8080"
    );
    assert_eq!(
        target(&s[2], "10.0.0.5").unwrap().describe(),
        "exec [cat /tmp/ok]"
    );
    let missing = container(
        serde_json::json!({"name": "a", "readinessProbe": {"tcpSocket": {"port": "nope"}}}),
    );
    let s = specs(&missing, 30);
    assert_eq!(
        target(&s[0], "10.0.0.5").unwrap_err(),
        "unable to find port named \"nope\""
    );
}

#[test]
fn https_is_evaluated_over_tls_and_grpc_targets_the_pod_ip() {
    let c = container(serde_json::json!({"name": "a",
        "livenessProbe": {"grpc": {"port": 9000}},
        "startupProbe": {"grpc": {"port": 9000, "service": "db"}},
        "readinessProbe": {"httpGet": {"port": 443, "scheme": "HTTPS", "path": "healthz"}}}));
    let s = specs(&c, 30);
    assert_eq!(s.len(), 3, "{s:?}");
    let t: Vec<Target> = s.iter().map(|s| target(s, "10.0.0.5").unwrap()).collect();
    let d: Vec<String> = t.iter().map(Target::describe).collect();
    assert_eq!(
        d,
        [
            "grpc 10.0.0.5:9000 service \"db\"",
            "grpc 10.0.0.5:9000",
            "https://10.0.0.5:443/healthz"
        ]
    );
    assert!(matches!(t[2], Target::Http { https: true, .. }), "{t:?}");
    // scheme HTTP or unset: plain; an explicit host (a DNS name) is the URL's, hence the SNI's.
    let c = container(serde_json::json!({"name": "a",
        "readinessProbe": {"httpGet": {"port": 80, "scheme": "HTTP"}},
        "livenessProbe": {"httpGet": {"port": 8443, "scheme": "HTTPS", "host": "app.local"}}}));
    let t: Vec<Target> = specs(&c, 30)
        .iter()
        .map(|s| target(s, "10.0.0.5").unwrap())
        .collect();
    assert!(matches!(t[1], Target::Http { https: false, .. }), "{t:?}");
    assert_eq!(t[0].url(), "https://app.local:8443/");
    assert_eq!(t[1].url(), "http://10.0.0.5:80/");
}

#[test]
fn startup_gates_liveness_and_readiness_and_initial_delay_holds() {
    let s = specs(&web(), 30);
    let mut r = ContainerRecord::default();
    begin(&s, &mut r, "2026-12-01T12:00:00Z");
    // Before the first result: not ready (readiness Failure), startup Unknown, liveness Success.
    assert_eq!(r.ready, Some(false));
    assert_eq!(r.probes["startup"].result, UNKNOWN);
    assert_eq!(r.probes["liveness"].result, SUCCESS);
    let kinds = |d: Vec<&Spec>| d.iter().map(|s| s.kind).collect::<Vec<_>>();
    assert_eq!(kinds(due(&s, &r, 100, 100)), [Kind::Startup]);
    record(
        &s[0],
        &mut r,
        "web",
        "tcp x",
        &Outcome::Success(String::new()),
        100,
    );
    assert_eq!(r.probes["startup"].result, SUCCESS);
    // Started: startup is never probed again; liveness waits out its 5 s initial delay.
    assert_eq!(kinds(due(&s, &r, 100, 101)), [Kind::Readiness]);
    assert_eq!(
        kinds(due(&s, &r, 100, 105)),
        [Kind::Liveness, Kind::Readiness]
    );
    // A period after an attempt, and not before.
    record(
        &s[2],
        &mut r,
        "web",
        "exec",
        &Outcome::Success(String::new()),
        105,
    );
    assert_eq!(kinds(due(&s, &r, 100, 114)), [Kind::Liveness]);
    assert_eq!(
        kinds(due(&s, &r, 100, 115)),
        [Kind::Liveness, Kind::Readiness]
    );
}

#[test]
fn thresholds_count_runs_of_identical_results() {
    let s = specs(&web(), 30);
    let mut r = ContainerRecord::default();
    begin(&s, &mut r, "t0");
    record(
        &s[0],
        &mut r,
        "web",
        "tcp",
        &Outcome::Success(String::new()),
        1,
    );
    let rd = &s[2];
    // successThreshold 2: one success is not enough, a failure resets the run.
    record(
        rd,
        &mut r,
        "web",
        "exec",
        &Outcome::Success(String::new()),
        10,
    );
    finish(&s, &mut r, true);
    assert_eq!(r.ready, Some(false));
    record(
        rd,
        &mut r,
        "web",
        "exec",
        &Outcome::Failure("no".into()),
        20,
    );
    record(
        rd,
        &mut r,
        "web",
        "exec",
        &Outcome::Success(String::new()),
        30,
    );
    finish(&s, &mut r, true);
    assert_eq!(r.ready, Some(false));
    record(
        rd,
        &mut r,
        "web",
        "exec",
        &Outcome::Success(String::new()),
        40,
    );
    finish(&s, &mut r, true);
    assert_eq!(r.ready, Some(true));
    // A prober error is discarded: the run goes on.
    record(rd, &mut r, "web", "exec", &Outcome::Error("x".into()), 45);
    assert_eq!(
        (
            r.probes["readiness"].run,
            r.probes["readiness"].result.as_str()
        ),
        (2, SUCCESS)
    );
    // failureThreshold 3: ready until the third failure in a row; a readiness failure never kills.
    for (i, t) in [50, 60, 70].into_iter().enumerate() {
        assert_eq!(
            record(
                rd,
                &mut r,
                "web",
                "exec",
                &Outcome::Failure("cat: can't open".into()),
                t
            ),
            None
        );
        finish(&s, &mut r, true);
        assert_eq!(r.ready, Some(i < 2), "after failure {}", i + 1);
    }
    let unhealthy = r.events.iter().rfind(|e| e.reason == "Unhealthy").unwrap();
    assert_eq!(
        (unhealthy.message.as_str(), unhealthy.count),
        ("Readiness probe failed: cat: can't open", 3)
    );
    // Not running: not ready, whatever the results.
    finish(&s, &mut r, false);
    assert_eq!(r.ready, Some(false));
}

#[test]
fn liveness_failure_past_the_threshold_kills_once_and_a_new_start_resets() {
    let s = specs(&web(), 30);
    let live = &s[1];
    let mut r = ContainerRecord::default();
    begin(&s, &mut r, "t0");
    let fail = Outcome::Failure("HTTP probe failed with statuscode: 404".into());
    assert_eq!(record(live, &mut r, "web", "http", &fail, 10), None);
    assert_eq!(record(live, &mut r, "web", "http", &fail, 20), None);
    assert_eq!(
        record(live, &mut r, "web", "http", &fail, 30),
        Some(Kill {
            kind: Kind::Liveness,
            grace: 3
        })
    );
    let killing = r.events.iter().find(|e| e.reason == "Killing").unwrap();
    assert_eq!(
        (killing.type_.as_str(), killing.message.as_str()),
        (
            "Normal",
            "Container web failed liveness probe, will be restarted"
        )
    );
    assert!(
        r.events
            .iter()
            .any(|e| e.message == "Liveness probe failed: HTTP probe failed with statuscode: 404")
    );
    // The same start: the result stays Failure; a new start begins again at the initial results.
    begin(&s, &mut r, "t0");
    assert_eq!(r.probes["liveness"].result, FAILURE);
    begin(&s, &mut r, "t1");
    assert_eq!(r.probes["liveness"].result, SUCCESS);
    assert_eq!(r.probes["startup"].result, UNKNOWN);
    assert_eq!(r.ready, Some(false));
}

#[test]
fn startup_failure_kills_with_its_own_message() {
    let s = specs(&web(), 30);
    let mut r = ContainerRecord::default();
    begin(&s, &mut r, "t0");
    let fail = Outcome::Failure("dial tcp 10.0.0.5:8080: connect: connection refused".into());
    assert_eq!(record(&s[0], &mut r, "web", "tcp", &fail, 1), None);
    assert_eq!(
        record(&s[0], &mut r, "web", "tcp", &fail, 3).map(|k| k.kind),
        Some(Kind::Startup)
    );
    assert!(
        r.events
            .iter()
            .any(|e| e.message == "Container web failed startup probe, will be restarted")
    );
    // Never started: liveness is not probed.
    assert!(due(&s, &r, 0, 100).iter().all(|s| s.kind == Kind::Startup));
}

#[test]
fn pods_from_sandbox_labels() {
    let manifest = serde_json::json!({"metadata": {"name": "p"}, "spec": {
        "terminationGracePeriodSeconds": 2,
        "containers": [web(), {"name": "plain", "image": "busybox"}]}});
    let list = serde_json::json!([
        {"Id": "a1", "Names": ["/k8s_POD_p_default"], "State": "running", "Labels": {
            "clusterctl.io/namespace": "default", "clusterctl.io/pod": "p", "clusterctl.io/container": "POD",
            "clusterctl.io/pod-ip": "10.0.0.5",
            "clusterctl.io/pod-manifest": manifest.to_string()}}
    ]);
    let list = super::super::engine::parse_list(list.to_string().as_bytes()).unwrap();
    let pods = pod_probes(&list);
    let p = &pods[&("default".to_string(), "p".to_string())];
    assert_eq!(p.ip, "10.0.0.5");
    assert_eq!(p.containers.keys().collect::<Vec<_>>(), ["web"]);
    assert_eq!(p.containers["web"][2].grace, 2);
}
