//! Node loss over the pure plan: a simulated cluster whose hosts go away and come back, planned and applied
//! round after round as `reconcile` does (docs/reconcile.md, "Node loss").

use proptest::prelude::*;

use super::*;

const GRACE: u64 = 60;
const WORKERS: [&str; 3] = ["k8s-node1", "k8s-node2", "k8s-node3"];

/// A cluster of [`Sim`] with time, hosts that can be down (their containers frozen aside, as a stopped
/// host keeps them), and the roster written after each round like apply does.
struct World {
    sim: Sim,
    /// Seconds past 12:00:00 of the simulated day.
    t: u64,
    down: BTreeMap<String, Vec<model::ObservedContainer>>,
    roster: Option<model::Roster>,
}

impl World {
    fn new() -> World {
        World {
            sim: Sim::new(),
            t: 0,
            down: BTreeMap::new(),
            roster: None,
        }
    }

    fn now(&self) -> String {
        format!("2026-11-26T12:{:02}:{:02}Z", self.t / 60 % 60, self.t % 60)
    }

    fn stop(&mut self, host: &str) {
        if self.down.contains_key(host) {
            return;
        }
        let n = self.sim.node(host);
        n.reachable = false;
        n.facts_backup();
        let containers = std::mem::take(&mut n.containers);
        self.down.insert(host.to_string(), containers);
    }

    /// The host is back; its containers come back running (docker's restart policy `always`).
    fn start(&mut self, host: &str) {
        let Some(mut containers) = self.down.remove(host) else {
            return;
        };
        for c in &mut containers {
            c.status = "running".into();
        }
        let n = self.sim.node(host);
        n.reachable = true;
        n.facts_restore();
        n.containers = containers;
    }

    /// The host is back after an absence its supervisor found too long: the sandboxes run (docker's
    /// `always`), the app containers stay exited, held (`supervisor::hold`).
    fn start_held(&mut self, host: &str) {
        let Some(mut containers) = self.down.remove(host) else {
            return;
        };
        for c in &mut containers {
            if c.label(model::labels::CONTAINER) == Some(model::labels::SANDBOX_CONTAINER) {
                c.status = "running".into();
            } else {
                c.status = "exited".into();
                c.exit_code = 255;
                c.record = Some(model::ContainerRecord {
                    id: c.id.clone(),
                    held_since: Some(self.now()),
                    ..Default::default()
                });
            }
        }
        let n = self.sim.node(host);
        n.reachable = true;
        n.facts_restore();
        n.containers = containers;
    }

    /// One round: observe (the roster on reachable hosts), assess, plan, apply, write the roster.
    fn round(&mut self, apps: &[Manifest]) -> Plan {
        self.sim.state.observed_at = self.now();
        for n in &mut self.sim.state.nodes {
            n.roster = if n.reachable {
                self.roster.clone()
            } else {
                None
            };
        }
        let loss = node_loss::assess(&self.sim.state, GRACE);
        self.sim.node_loss = Some(loss.clone());
        let (plan, binding) = self.sim.plan_bound(apps);
        // Containers made in this round are made now (the simulated engine's clock is in seconds).
        self.sim.clock = self.t as u32;
        self.sim.apply(&plan);
        if !plan.changes.is_empty() || loss.changed || self.roster.is_none() {
            let mut r = roster_after(&self.sim.state, &plan, &binding, &self.now());
            r.hosts = loss.hosts.clone();
            self.roster = Some(r);
        }
        self.t += 10;
        plan
    }

    /// Pods of `my-nginx` with every container running, on hosts that are up.
    fn running(&self) -> usize {
        model::observed_pods(&self.sim.state)
            .iter()
            .filter(|p| p.node_reachable && p.name.starts_with("my-nginx"))
            .filter(|p| p.all_containers().all(|c| c.is_running()))
            .count()
    }
}

/// Simulation helpers on nodes: a down host has no facts (it shows NotReady).
trait Facts {
    fn facts_backup(&mut self);
    fn facts_restore(&mut self);
}

impl Facts for ObservedNode {
    fn facts_backup(&mut self) {
        self.error = Some(format!("{}: connection timed out", self.name));
    }
    fn facts_restore(&mut self) {
        self.error = None;
    }
}

fn reasons(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Pod)
        .map(|c| format!("{:?} {} on {}: {}", c.action, c.name, c.node, why(c)))
        .collect()
}

#[test]
fn a_lost_host_s_pods_are_replaced_after_the_grace_period_and_its_stale_copies_removed_on_return() {
    let apps = [deployment(3, "nginx")];
    let mut w = World::new();
    w.round(&apps);
    assert_eq!(w.running(), 3);
    w.stop("k8s-node2");
    // Within the grace period: the lost host's pod still counts (Unknown), nothing is planned.
    for _ in 0..6 {
        let plan = w.round(&apps);
        assert!(plan.changes.is_empty(), "{:?}", reasons(&plan));
    }
    // 60 s after the first observation that missed it: not longer than the grace period yet.
    assert_eq!(w.t, 70);
    assert!(w.round(&apps).changes.is_empty());
    let plan = w.round(&apps);
    assert_eq!(
        reasons(&plan),
        [
            "Create my-nginx-cf54cdbf7-csrd7 on k8s-node1: replaces my-nginx-cf54cdbf7-7vq5k: node k8s-node2 unreachable since 12:00:10 UTC (70s ago), longer than the 1m grace period"
        ]
    );
    assert_eq!(w.running(), 3);
    // Nothing more while it stays away.
    assert!(w.round(&apps).changes.is_empty());
    w.start("k8s-node2");
    assert_eq!(
        w.running(),
        4,
        "the stale copy runs again when its host is back"
    );
    let plan = w.round(&apps);
    assert_eq!(
        reasons(&plan),
        [
            "Delete my-nginx-cf54cdbf7-7vq5k on k8s-node2: stale copy: node k8s-node2 was unreachable from 12:00:10 UTC for longer than the 1m grace period (lost at 12:01:20 UTC) and its pods were replaced elsewhere; removed before anything else"
        ]
    );
    assert_eq!(w.running(), 3);
    // The memory is cleared on the next round (no stale copy left), then all is quiet.
    let plan = w.round(&apps);
    assert!(plan.changes.is_empty(), "{:?}", reasons(&plan));
    let r = w.roster.clone().unwrap();
    assert_eq!(r.hosts["k8s-node2"].lost_at, None);
    assert!(w.round(&apps).changes.is_empty());
}

/// The supervisor's hold and the plan together: a held stale copy is deleted, never started; a held pod
/// nobody replaced (no observation saw its host lost) is started by the plan, saying why.
#[test]
fn held_pods_of_a_returning_host_are_deleted_when_replaced_and_started_when_not() {
    let apps = [deployment(3, "nginx")];
    let mut w = World::new();
    w.round(&apps);
    w.stop("k8s-node2");
    for _ in 0..9 {
        w.round(&apps);
    }
    assert_eq!(w.running(), 3, "replaced on the others");
    w.start_held("k8s-node2");
    assert_eq!(w.running(), 3, "the held copy does not run");
    let plan = w.round(&apps);
    let r = reasons(&plan);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(
        r[0].starts_with("Delete my-nginx-cf54cdbf7-7vq5k on k8s-node2: stale copy"),
        "{r:?}"
    );
    assert_eq!(w.running(), 3);

    // Away as long, but no round ran meanwhile: nothing was replaced, so the plan lets it run.
    let mut w = World::new();
    w.round(&apps);
    w.stop("k8s-node2");
    w.t += 600;
    w.start_held("k8s-node2");
    assert_eq!(w.running(), 2);
    let plan = w.round(&apps);
    let r = reasons(&plan);
    assert_eq!(
        r,
        [
            "Start my-nginx-cf54cdbf7-7vq5k on k8s-node2: held by the node supervisor since 12:10:10 UTC (its host was away longer than the pod tolerates) and not replaced elsewhere; restartPolicy Always wants it running"
        ]
    );
    assert_eq!(w.running(), 3);
}

/// An OnFailure Job `batch` of one pod on the job image.
fn on_failure_job() -> Manifest {
    manifest(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: batch\nspec:\n  template:\n    spec:\n      restartPolicy: OnFailure\n      containers:\n      - name: work\n        image: clusterctl/job\n",
    )
}

/// A Job's pod held by the supervisor of a host that came back and that nobody replaced: the Job still
/// counts it active, so without a start it would keep its last exit (and the Job would wait) for ever.
#[test]
fn a_held_job_pod_nobody_replaced_is_started_by_the_plan() {
    let apps = [on_failure_job()];
    let mut w = World::new();
    let first = w.round(&apps);
    assert_eq!(first.changes.len(), 1, "{:?}", reasons(&first));
    let pod = model::observed_pods(&w.sim.state)
        .into_iter()
        .find(|p| p.name.starts_with("batch-"))
        .expect("the Job's pod");
    w.stop(&pod.node);
    w.t += 600;
    w.start_held(&pod.node);
    let plan = w.round(&apps);
    assert_eq!(
        reasons(&plan),
        [format!(
            "Start {} on {}: held by the node supervisor since 12:10:10 UTC (its host was away longer than the pod tolerates) and not replaced elsewhere; restartPolicy OnFailure wants it running",
            pod.name, pod.node
        )]
    );
    let running = |w: &World| {
        model::observed_pods(&w.sim.state)
            .iter()
            .filter(|p| p.name == pod.name)
            .all(|p| p.all_containers().all(|c| c.is_running()))
    };
    assert!(running(&w), "the held pod runs again");
    // Not held any more (the supervisor clears the hold once it runs): nothing more to do.
    for c in w.sim.node(&pod.node).containers.iter_mut() {
        c.record = None;
    }
    let plan = w.round(&apps);
    assert!(plan.changes.is_empty(), "{:?}", reasons(&plan));

    // A held pod of a finished (here: suspended) Job is removed, not started.
    let mut w = World::new();
    w.round(&apps);
    w.stop(&pod.node);
    w.t += 600;
    w.start_held(&pod.node);
    let suspended = [manifest(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: batch\nspec:\n  suspend: true\n  template:\n    spec:\n      restartPolicy: OnFailure\n      containers:\n      - name: work\n        image: clusterctl/job\n",
    )];
    let r = reasons(&w.round(&suspended));
    assert!(r.len() == 1 && r[0].starts_with("Delete "), "{r:?}");
}

#[test]
fn daemon_set_and_bare_pods_of_a_lost_host_are_not_moved() {
    let apps = [bare_pod("100m"), daemon_set("nginx", "")];
    let mut w = World::new();
    w.round(&apps);
    let on = |w: &World, host: &str| {
        model::observed_pods(&w.sim.state)
            .iter()
            .filter(|p| p.node == host)
            .count()
    };
    let bare_host = model::observed_pods(&w.sim.state)
        .into_iter()
        .find(|p| p.name == "sc-nginx")
        .unwrap()
        .node;
    let before = on(&w, &bare_host);
    w.stop(&bare_host);
    for _ in 0..12 {
        let plan = w.round(&apps);
        assert!(plan.changes.is_empty(), "{:?}", reasons(&plan));
    }
    assert_eq!(on(&w, &bare_host), before, "still counted, from the roster");
}

/// Events of the property test: a worker goes down or comes back, or time passes.
#[derive(Debug, Clone)]
enum Ev {
    Stop(usize),
    Start(usize),
    Wait,
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        (0..3usize).prop_map(Ev::Stop),
        (0..3usize).prop_map(Ev::Start),
        Just(Ev::Wait),
        Just(Ev::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Over random losses and returns: after every round, the pods running on hosts that are up never
    /// exceed the desired count (so never desired + maxSurge), and once every host that is down is lost
    /// while a worker is up, the Deployment is back to full count.
    #[test]
    fn losses_and_returns_never_exceed_desired_and_never_stay_short(
        replicas in 1u32..6,
        events in proptest::collection::vec(ev(), 1..40),
    ) {
        let apps = [deployment(replicas, "nginx")];
        let desired = replicas as usize;
        let mut w = World::new();
        w.round(&apps);
        for e in events {
            match e {
                Ev::Stop(i) => w.stop(WORKERS[i]),
                Ev::Start(i) => w.start(WORKERS[i]),
                Ev::Wait => {}
            }
            let plan = w.round(&apps);
            // Within one plan, as apply orders it: stale deletes first, then the rest.
            let running = w.running();
            prop_assert!(running <= desired, "{running} > {desired}: {:?}", reasons(&plan));
            let loss = w.sim.node_loss.clone().unwrap();
            let all_lost = w.down.keys().all(|h| loss.lost(h).is_some());
            if w.down.len() < WORKERS.len() && all_lost {
                prop_assert_eq!(running, desired, "short: {:?}", reasons(&plan));
            }
        }
        // Everyone back, a few rounds later: converged, no memory left.
        for h in WORKERS { w.start(h); }
        for _ in 0..3 { w.round(&apps); }
        prop_assert_eq!(w.running(), desired);
        prop_assert!(w.round(&apps).changes.is_empty());
    }
}
