//! Stage 0, the rollout: before the diff, each Deployment whose pods still include old ReplicaSets' is
//! cut to one controller sync (`controllers::rollout::step`): its current ReplicaSet's pod set gets this
//! step's size, and every old ReplicaSet that still has pods gets a pod set of its own (its recorded
//! template, this step's size), so the diff scales it down instead of pruning it at once. After the diff,
//! [`annotate`] words the rollout's intent on its changes. Pods of a rolling Deployment's new ReplicaSet
//! serve (join Service endpoints) only once observed running: a pod created in this step waits for the
//! next one ([`Prepared::holding`]). Pure.

use std::collections::{BTreeMap, BTreeSet};

use super::{Action, Change, ChangeKind, Detail, PlanInput, Reason};
use crate::controllers::rollout::{self, Params, Rs, Step, Strategy};
use crate::controllers::{PodNaming, PodSet};
use crate::model::{ObservedPod, OwnerRef};

/// One Deployment's rollout as observed, and the step this plan takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    pub namespace: String,
    pub deployment: String,
    pub params: Params,
    /// The current ReplicaSet's name and counts.
    pub new_rs: String,
    pub new: Rs,
    /// Old ReplicaSets with pods, oldest first: name and counts.
    pub olds: Vec<(String, Rs)>,
    /// The sizes this step asks for.
    pub step: Step,
    /// Pods of the new ReplicaSet that exist but are not available: `(node, pod)`.
    pub unavailable: Vec<(String, String)>,
}

impl Rollout {
    /// Every pod is of the current template and available; no old pod is left.
    pub fn complete(&self) -> bool {
        let olds: Vec<Rs> = self.olds.iter().map(|(_, r)| *r).collect();
        rollout::complete(&self.params, self.new, &olds)
    }

    /// The counts that show progress (`kubectl`'s: updated, available, old pods left).
    pub fn progress_key(&self) -> (i32, i32, i32) {
        (
            self.new.replicas,
            self.new.available,
            self.olds.iter().map(|(_, r)| r.replicas).sum(),
        )
    }

    /// `deployment my-nginx: ReplicaSet my-nginx-abc 1 → 2 of 4; my-nginx-def 3 → 3 (RollingUpdate …)`.
    pub fn words(&self) -> String {
        let strategy = match self.params.strategy {
            Strategy::Recreate => "Recreate".to_string(),
            Strategy::RollingUpdate { surge, unavailable } => {
                format!("RollingUpdate, maxSurge {surge}, maxUnavailable {unavailable}")
            }
        };
        let mut parts = vec![format!(
            "ReplicaSet {} {} → {} of {}",
            self.new_rs, self.new.replicas, self.step.new, self.params.replicas
        )];
        for ((name, rs), to) in self.olds.iter().zip(&self.step.olds) {
            parts.push(format!(
                "old ReplicaSet {name} {} → {to} (then 0)",
                rs.replicas
            ));
        }
        format!(
            "rollout of deployment {} ({strategy}): {}",
            self.deployment,
            parts.join("; ")
        )
    }
}

/// The pod sets the diff works on, and what the rollout stage needs afterwards.
pub(super) struct Prepared {
    pub sets: Vec<PodSet>,
    /// Deployments with old ReplicaSets' pods: the ones this plan steps.
    pub rollouts: Vec<Rollout>,
    /// Every Deployment's rollout state (with or without old pods), sorted.
    pub status: Vec<Rollout>,
    /// `(namespace, ReplicaSet)` of the new ReplicaSets of rollouts in progress: their pods serve only
    /// once observed running.
    pub holding: BTreeSet<(String, String)>,
    /// `(namespace, ReplicaSet)` of the old ReplicaSets given a pod set here.
    old_sets: BTreeMap<(String, String), String>,
}

/// The pod sets of `input`, each rolling Deployment's cut to this step (see the module doc).
pub(super) fn prepare(input: &PlanInput<'_>, observed: &[ObservedPod]) -> Prepared {
    let now = input.observed.observed_at.as_str();
    let mut sets: Vec<PodSet> = input.pod_sets.to_vec();
    let mut rollouts = Vec::new();
    let mut extra = Vec::new();
    let mut old_sets = BTreeMap::new();
    let mut holding = BTreeSet::new();
    let mut set_of = Vec::new();
    let mut idle = Vec::new();
    for (i, set) in input.pod_sets.iter().enumerate() {
        let (Some(params), Some(owner)) = (&set.rollout, &set.owner) else {
            continue;
        };
        let Some(r) = observe_one(set, params, owner, observed, now) else {
            continue;
        };
        let olds: Vec<Rs> = r.olds.iter().map(|(_, rs)| *rs).collect();
        let mut r = Rollout {
            step: rollout::step(params, r.new, &olds),
            ..r
        };
        if r.olds.is_empty() {
            idle.push(r);
            continue;
        }
        if !r.complete() {
            holding.insert((set.namespace.clone(), owner.name.clone()));
        }
        r.unavailable.sort();
        set_of.push(i);
        rollouts.push(r);
    }
    // One direction per plan: while any rollout removes old pods in this step, none adds new ones, so
    // the plan's service rules can go before its pods stop (apply runs rules first for pure removals).
    let shrinking = rollouts.iter().any(|r| {
        r.olds
            .iter()
            .zip(&r.step.olds)
            .any(|((_, o), &to)| to < o.replicas)
    });
    for (r, &i) in rollouts.iter_mut().zip(&set_of) {
        if shrinking && r.step.new > r.new.replicas {
            r.step.new = r.new.replicas;
        }
        sets[i].replicas = r.step.new.max(0) as u32;
        for ((name, _), &to) in r.olds.iter().zip(&r.step.olds) {
            if let Some(old) = old_set(&sets[i], name, observed, to) {
                old_sets.insert((r.namespace.clone(), name.clone()), r.new_rs.clone());
                extra.push(old);
            }
        }
    }
    sets.extend(extra);
    let mut status = rollouts.clone();
    status.extend(idle);
    status.sort_by(|a, b| (&a.namespace, &a.deployment).cmp(&(&b.namespace, &b.deployment)));
    Prepared {
        sets,
        rollouts,
        status,
        holding,
        old_sets,
    }
}

/// The Deployment's ReplicaSets as the hosts show them (`None` when it has no pods at all).
fn observe_one(
    set: &PodSet,
    params: &Params,
    owner: &OwnerRef,
    observed: &[ObservedPod],
    now: &str,
) -> Option<Rollout> {
    let mut new = Rs::default();
    let mut unavailable = Vec::new();
    // Old ReplicaSet → (oldest pod creation, counts).
    let mut olds: BTreeMap<String, (String, Rs)> = BTreeMap::new();
    let prefix = format!("{}-", params.deployment);
    for p in observed.iter().filter(|p| p.namespace == set.namespace) {
        let Some(o) = p.owner.as_ref().filter(|o| o.kind == "ReplicaSet") else {
            continue;
        };
        let ok = rollout::available(p, params.min_ready_seconds, now);
        if o.name == owner.name {
            new.replicas += 1;
            if ok {
                new.available += 1;
            } else {
                unavailable.push((p.node.clone(), p.name.clone()));
            }
            continue;
        }
        // `<deployment>-<hash>`: the hash alphabet has no '-', so `web` never claims `web-api-…`.
        let ours = o
            .name
            .strip_prefix(&prefix)
            .is_some_and(|h| !h.is_empty() && !h.contains('-'));
        if !ours {
            continue;
        }
        let created = p
            .sandbox
            .as_ref()
            .map(|s| s.created_at.clone())
            .unwrap_or_default();
        let e = olds
            .entry(o.name.clone())
            .or_insert_with(|| (created.clone(), Rs::default()));
        if created < e.0 {
            e.0 = created;
        }
        e.1.replicas += 1;
        if ok {
            e.1.available += 1;
        }
    }
    let mut olds: Vec<(String, String, Rs)> =
        olds.into_iter().map(|(n, (c, rs))| (c, n, rs)).collect();
    olds.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    Some(Rollout {
        namespace: set.namespace.clone(),
        deployment: params.deployment.clone(),
        params: params.clone(),
        new_rs: owner.name.clone(),
        new,
        olds: olds.into_iter().map(|(_, n, rs)| (n, rs)).collect(),
        step: Step {
            new: 0,
            olds: Vec::new(),
        },
        unavailable,
    })
}

/// A pod set for the old ReplicaSet `name`, from its pods' recorded template, sized `to`. `None` when
/// no pod recorded its template (then its pods are pruned as before).
fn old_set(current: &PodSet, name: &str, observed: &[ObservedPod], to: i32) -> Option<PodSet> {
    let pod = observed.iter().find(|p| {
        p.namespace == current.namespace
            && p.owner.as_ref().is_some_and(|o| o.name == name)
            && p.manifest.is_some()
    })?;
    let mut template = pod.manifest.clone()?;
    template.metadata.name = None;
    template.metadata.generate_name = Some(format!("{name}-"));
    if let Some(spec) = template.spec.as_mut() {
        spec.node_name = None;
    }
    Some(PodSet {
        owner: Some(OwnerRef {
            kind: "ReplicaSet".to_string(),
            name: name.to_string(),
        }),
        template_hash: pod.template_hash.clone()?,
        replicas: to.max(0) as u32,
        naming: PodNaming::Generated {
            prefix: format!("{name}-"),
        },
        template,
        rollout: None,
        daemon: None,
        ..current.clone()
    })
}

/// Words each rolling Deployment's intent on its pod changes; an old ReplicaSet's scale-down is
/// `Superseded` (its Deployment moved on), not an extra replica.
pub(super) fn annotate(p: &Prepared, changes: &mut [Change]) {
    let words: BTreeMap<(&str, &str), String> = p
        .rollouts
        .iter()
        .flat_map(|r| {
            let w = r.words();
            std::iter::once(r.new_rs.as_str())
                .chain(r.olds.iter().map(|(n, _)| n.as_str()))
                .map(move |rs| ((r.namespace.as_str(), rs), w.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    for c in changes.iter_mut().filter(|c| c.kind == ChangeKind::Pod) {
        let rs = replica_set_of(c);
        let Some(rs) = rs else { continue };
        if let Some(new) = p.old_sets.get(&(c.namespace.clone(), rs.clone())) {
            if c.action == Action::Delete && c.reason == Reason::ExtraReplica {
                c.reason = Reason::Superseded {
                    old: rs.clone(),
                    new: Some(new.clone()),
                };
            }
        }
        if let Some(w) = words.get(&(c.namespace.as_str(), rs.as_str())) {
            c.details.push(Detail::Line(w.clone()));
        }
    }
}

/// The ReplicaSet a pod change is about, from its reason or its generated name (`<rs>-<5 chars>`).
fn replica_set_of(c: &Change) -> Option<String> {
    match &c.reason {
        Reason::DeploymentWants { replica_set, .. } => Some(replica_set.clone()),
        Reason::Superseded { old, .. } => Some(old.clone()),
        _ => c.name.rsplit_once('-').map(|(rs, _)| rs.to_string()),
    }
}

/// Every Deployment's rollout state for a plan input, as [`prepare`] sees it (the step included): for
/// the apply driver and `rollout status`.
pub fn rollouts(input: &PlanInput<'_>) -> Vec<Rollout> {
    let observed = crate::model::observed_pods(input.observed);
    prepare(input, &observed).status
}
