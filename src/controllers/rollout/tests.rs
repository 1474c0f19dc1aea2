//! Upstream's cases (deployment_util_test.go TestResolveFenceposts, rolling_test.go) and a property test
//! that no step breaks maxSurge / maxUnavailable.

use super::Strategy;
use super::*;
use proptest::prelude::{Strategy as _, any, prop_assert, prop_oneof, proptest};

fn s(v: &str) -> IntOrString {
    IntOrString::String(v.to_string())
}

fn params(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Params {
    let (surge_n, unavailable_n) =
        resolve_fenceposts(Some(&surge), Some(&unavailable), replicas).unwrap();
    Params {
        deployment: "foo".into(),
        replicas,
        strategy: Strategy::RollingUpdate {
            surge: surge_n,
            unavailable: unavailable_n,
        },
        max_surge: Some(surge),
        max_unavailable: Some(unavailable),
        min_ready_seconds: 0,
        progress_deadline_seconds: 600,
        revision_history_limit: 10,
        change_cause: None,
    }
}

fn rs(replicas: i32, available: i32) -> Rs {
    Rs {
        replicas,
        available,
    }
}

#[test]
fn resolve_fenceposts_upstream_cases() {
    type Case<'a> = (&'a str, &'a str, i32, Option<(i32, i32)>);
    let cases: [Case; 5] = [
        ("0%", "0%", 0, Some((0, 1))),
        ("39%", "39%", 10, Some((4, 3))),
        ("oops", "39%", 10, None),
        ("55%", "urg", 10, None),
        ("5", "1", 7, None),
    ];
    for (surge, unavailable, desired, want) in cases {
        let got = resolve_fenceposts(Some(&s(surge)), Some(&s(unavailable)), desired);
        assert_eq!(got.ok(), want, "{surge} {unavailable} {desired}");
    }
    assert_eq!(
        resolve_fenceposts(Some(&IntOrString::Int(1)), Some(&IntOrString::Int(1)), 2),
        Ok((1, 1))
    );
    // Surge rounds up, unavailable down.
    assert_eq!(
        resolve_fenceposts(Some(&s("25%")), Some(&s("25%")), 8),
        Ok((2, 2))
    );
    assert_eq!(
        resolve_fenceposts(Some(&s("25%")), Some(&s("25%")), 3),
        Ok((1, 0))
    );
    assert_eq!(resolve_fenceposts(None, None, 10), Ok((0, 1)));
    assert_eq!(
        resolve_fenceposts(Some(&s("5")), None, 3).unwrap_err(),
        "invalid value for IntOrString: invalid type: string is not a percentage"
    );
}

#[test]
fn reconcile_new_replica_set_upstream_cases() {
    // (replicas, maxSurge, old, new, expected new size); maxUnavailable 0.
    let cases = [
        (10, 0, 10, 0, 0),
        (10, 2, 10, 0, 2),
        (10, 2, 5, 0, 7),
        (10, 2, 10, 2, 2),
        (10, 2, 2, 11, 10),
    ];
    for (replicas, surge, old, new, want) in cases {
        let p = params(replicas, IntOrString::Int(surge), IntOrString::Int(0));
        let st = step(&p, rs(new, new), &[rs(old, old)]);
        assert_eq!(st.new, want, "{replicas} {surge} {old} {new}");
    }
}

#[test]
fn reconcile_old_replica_sets_upstream_cases() {
    // (replicas, maxUnavailable, old, new, ready old, ready new, expected old size); maxSurge 0.
    let cases = [
        (10, 0, 10, 0, 10, 0, 9),
        (10, 2, 10, 0, 10, 0, 8),
        (10, 2, 10, 0, 8, 0, 8),
        (10, 2, 10, 0, 9, 0, 8),
        (10, 2, 8, 2, 8, 0, 8),
    ];
    for (replicas, unavailable, old, new, ready_old, ready_new, want) in cases {
        let p = params(replicas, IntOrString::Int(0), IntOrString::Int(unavailable));
        let st = step(&p, rs(new, ready_new), &[rs(old, ready_old)]);
        assert_eq!(st.new, new);
        assert_eq!(st.olds, vec![want], "{replicas} {unavailable} {old} {new}");
    }
}

#[test]
fn cleanup_unhealthy_upstream_cases() {
    // (old, ready, max cleanup, expected cleaned up)
    for (old, ready, max, want) in [(10, 8, 1, 1), (10, 8, 3, 2), (10, 8, 0, 0), (10, 10, 3, 0)] {
        let mut olds = [rs(old, ready)];
        assert_eq!(cleanup_unhealthy(&mut olds, max), want);
        assert_eq!(olds[0].replicas, old - want);
    }
}

#[test]
fn scale_down_old_upstream_cases() {
    // (replicas, maxUnavailable, ready, old, expected old size or None for no scaling); maxSurge 0.
    let cases = [
        (10, 0, 10, 10, Some(9)),
        (10, 2, 10, 10, Some(8)),
        (10, 2, 8, 10, None),
        (10, 2, 10, 0, None),
        (10, 2, 1, 10, None),
    ];
    for (replicas, unavailable, ready, old, want) in cases {
        let p = params(replicas, IntOrString::Int(0), IntOrString::Int(unavailable));
        let mut olds = [rs(old, ready)];
        let n = scale_down_old(&p, Rs::default(), &mut olds);
        match want {
            Some(w) => assert_eq!(olds[0].replicas, w),
            None => assert_eq!(n, 0),
        }
    }
}

/// Runs syncs until complete, every pod becoming available before the next sync; returns the
/// (new, old) sizes after each step.
fn simulate(p: &Params, old: i32) -> Vec<(i32, i32)> {
    let mut new = rs(0, 0);
    let mut olds = vec![rs(old, old)];
    let mut seq = Vec::new();
    while !complete(p, new, &olds) {
        let st = step(p, new, &olds);
        new = rs(st.new, st.new);
        olds = st.olds.iter().map(|&n| rs(n, n)).collect();
        seq.push((new.replicas, olds[0].replicas));
        assert!(seq.len() < 100, "no progress: {seq:?}");
    }
    seq
}

#[test]
fn surge_one_unavailable_zero_goes_one_by_one() {
    let p = params(4, IntOrString::Int(1), IntOrString::Int(0));
    assert_eq!(
        simulate(&p, 4),
        [
            (1, 4),
            (1, 3),
            (2, 3),
            (2, 2),
            (3, 2),
            (3, 1),
            (4, 1),
            (4, 0)
        ]
    );
}

#[test]
fn default_quarter_surge_and_unavailable() {
    // 10 replicas: surge ceil(2.5) = 3, unavailable floor(2.5) = 2.
    let p = params(10, s("25%"), s("25%"));
    assert_eq!(simulate(&p, 10), [(3, 10), (3, 5), (8, 5), (8, 0), (10, 0)]);
}

#[test]
fn recreate_removes_every_old_pod_first() {
    let mut p = params(3, IntOrString::Int(1), IntOrString::Int(0));
    p.strategy = Strategy::Recreate;
    assert_eq!(
        step(&p, rs(0, 0), &[rs(2, 2), rs(1, 0)]),
        Step {
            new: 0,
            olds: vec![0, 0]
        }
    );
    assert_eq!(
        step(&p, rs(0, 0), &[rs(0, 0), rs(0, 0)]),
        Step {
            new: 3,
            olds: vec![0, 0]
        }
    );
    assert_eq!(p.max_unavailable(), 0);
}

#[test]
fn new_replicas_never_wait_on_unavailable_new_pods_to_scale_old_down() {
    // maxUnavailable 0: the old ReplicaSet only shrinks when the new pod is available.
    let p = params(4, IntOrString::Int(1), IntOrString::Int(0));
    assert_eq!(step(&p, rs(1, 0), &[rs(4, 4)]).olds, vec![4]);
    assert_eq!(step(&p, rs(1, 1), &[rs(4, 4)]).olds, vec![3]);
}

fn int_or_percent() -> impl proptest::strategy::Strategy<Value = IntOrString> {
    prop_oneof![
        (0i32..6).prop_map(IntOrString::Int),
        (0i32..101).prop_map(|p| IntOrString::String(format!("{p}%"))),
    ]
}

proptest! {
    /// Whatever becomes available when, no step takes the pods above `replicas + maxSurge` or the
    /// available ones below `replicas − maxUnavailable` (unless they were already lower), and with
    /// every pod becoming available the rollout completes.
    #[test]
    fn no_step_breaks_surge_or_unavailable(
        replicas in 0i32..15,
        surge in int_or_percent(),
        unavailable in int_or_percent(),
        old_sizes in proptest::collection::vec(0i32..15, 1..3),
        readiness in proptest::collection::vec(any::<bool>(), 60),
    ) {
        let (sn, un) = resolve_fenceposts(Some(&surge), Some(&unavailable), replicas).unwrap();
        let p = params(replicas, surge, unavailable);
        let max_total = replicas + sn;
        let min_available = replicas - un.min(replicas);
        // Start from a steady old state of `replicas` pods spread over the old ReplicaSets.
        let mut olds: Vec<Rs> = old_sizes.iter().map(|_| rs(0, 0)).collect();
        olds[0] = rs(replicas, replicas);
        let mut new = rs(0, 0);
        for (i, &ready) in readiness.iter().enumerate() {
            if complete(&p, new, &olds) { break; }
            let before_total = new.replicas + olds.iter().map(|r| r.replicas).sum::<i32>();
            let before_avail = new.available + olds.iter().map(|r| r.available).sum::<i32>();
            let st = step(&p, new, &olds);
            // New pods start unavailable; scaled-down ReplicaSets lose their unavailable pods first.
            new = rs(st.new, new.available.min(st.new));
            for (o, &n) in olds.iter_mut().zip(&st.olds) {
                *o = rs(n, o.available.min(n));
            }
            let total = new.replicas + olds.iter().map(|r| r.replicas).sum::<i32>();
            let avail = new.available + olds.iter().map(|r| r.available).sum::<i32>();
            prop_assert!(total <= max_total.max(before_total), "step {i}: {total} pods > {max_total}");
            prop_assert!(avail >= min_available.min(before_avail), "step {i}: {avail} available < {min_available}");
            // Some of the new pods become available before the next sync (all of them on `ready`).
            new.available = if ready { new.replicas } else { (new.available + 1).min(new.replicas) };
        }
        // From wherever that left it, everything becoming available completes the rollout.
        for _ in 0..100 {
            if complete(&p, new, &olds) { break; }
            let st = step(&p, new, &olds);
            new = rs(st.new, st.new);
            for (o, &n) in olds.iter_mut().zip(&st.olds) { *o = rs(n, n); }
        }
        prop_assert!(complete(&p, new, &olds));
    }
}

fn pod(status: &str, started: &str, restarts: u32) -> ObservedPod {
    let c = |name: &str| crate::model::ObservedContainer {
        name: name.into(),
        status: status.into(),
        started_at: started.into(),
        restart_count: restarts,
        ..Default::default()
    };
    ObservedPod {
        namespace: "default".into(),
        name: "p".into(),
        node: "n".into(),
        node_reachable: true,
        sandbox: Some(crate::model::ObservedContainer {
            restart_count: 0,
            ..c("POD")
        }),
        containers: [("web".to_string(), c("web"))].into(),
        owner: None,
        template_hash: None,
        manifest: None,
    }
}

#[test]
fn ready_needs_a_steady_running_container() {
    let now = "2026-11-26T12:00:20Z";
    assert!(ready(&pod("running", "2026-11-26T12:00:18Z", 0), now));
    // Just started: could be a crashing container's blink.
    assert!(!ready(&pod("running", "2026-11-26T12:00:20Z", 0), now));
    // Restarted: 10 s of running first.
    assert!(!ready(&pod("running", "2026-11-26T12:00:15Z", 3), now));
    assert!(ready(&pod("running", "2026-11-26T12:00:05Z", 3), now));
    assert!(!ready(&pod("restarting", "2026-11-26T12:00:05Z", 3), now));
    // minReadySeconds counts from the last start.
    assert!(!available(
        &pod("running", "2026-11-26T12:00:18Z", 0),
        5,
        now
    ));
    assert!(available(
        &pod("running", "2026-11-26T12:00:10Z", 0),
        5,
        now
    ));
}

#[test]
fn a_readiness_probe_decides_ready_from_the_hosts_record() {
    let now = "2026-11-26T12:00:20Z";
    let probed = |ready: Option<bool>| {
        let mut p = pod("running", "2026-11-26T12:00:19Z", 0);
        p.manifest = Some(
            serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [
                {"name": "web", "image": "nginx", "readinessProbe": {"tcpSocket": {"port": 80}}}]}}))
            .unwrap(),
        );
        let web = p.containers.get_mut("web").unwrap();
        web.labels
            .insert(crate::model::labels::CONTAINER.into(), "web".into());
        web.record = ready.map(|r| crate::model::ContainerRecord {
            ready: Some(r),
            ..Default::default()
        });
        p
    };
    // Running for a second would be enough without a probe; with one, the host's record decides.
    assert!(ready(&probed(Some(true)), now));
    assert!(!ready(&probed(Some(false)), now));
    // No record for this container yet (a fresh container): not ready.
    assert!(!ready(&probed(None), now));
    // A liveness probe alone does not gate readiness.
    let mut p = pod("running", "2026-11-26T12:00:18Z", 0);
    p.manifest = Some(
        serde_json::from_value(
            serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "web", "image": "nginx", "livenessProbe": {"tcpSocket": {"port": 80}}}]}}),
        )
        .unwrap(),
    );
    assert!(ready(&p, now));
}
