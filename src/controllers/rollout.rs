//! The deployment controller's rollout arithmetic, as pure functions over counts (upstream
//! `pkg/controller/deployment/{rolling,recreate}.go` and `util/deployment_util.go`; rules in
//! kubernetes-semantics.md §4.4–4.5, §15): `ResolveFenceposts`, the new ReplicaSet's next size, the old
//! ReplicaSets' scale-down (unhealthy first, then oldest first, never below `replicas − maxUnavailable`
//! available), Recreate, and completion. One call of [`step`] is one controller sync: it moves in one
//! direction only, which is what lets apply run a step, re-observe and go on.
//!
//! Also the one place that decides whether an observed pod is *available* ([`available`]), so the
//! readiness results the host will record later plug in here and nowhere else.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::model::ObservedPod;

/// `spec.strategy` resolved against `spec.replicas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// All old pods go before any new one starts.
    Recreate,
    /// Absolute numbers after [`resolve_fenceposts`].
    RollingUpdate { surge: i32, unavailable: i32 },
}

/// What a Deployment's rollout needs beyond its pod template (carried on its pod set).
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub deployment: String,
    pub replicas: i32,
    pub strategy: Strategy,
    /// The strategy as written, for the plan's words (`maxSurge 1, maxUnavailable 0`).
    pub max_surge: Option<IntOrString>,
    pub max_unavailable: Option<IntOrString>,
    pub min_ready_seconds: i64,
    pub progress_deadline_seconds: i64,
    pub revision_history_limit: i32,
    /// `kubernetes.io/change-cause` of the Deployment, copied to its ReplicaSet (rollout history).
    pub change_cause: Option<String>,
}

impl Params {
    /// The rollout parameters of a (defaulted) Deployment.
    pub fn of(d: &Deployment) -> Params {
        let spec = d.spec.clone().unwrap_or_default();
        let replicas = spec.replicas.unwrap_or(1);
        let strategy = spec.strategy.unwrap_or_default();
        let ru = strategy.rolling_update.unwrap_or_default();
        let resolved = if strategy.type_.as_deref() == Some("Recreate") {
            Strategy::Recreate
        } else {
            let (surge, unavailable) = resolve_fenceposts(
                ru.max_surge.as_ref().or(Some(&pct25())),
                ru.max_unavailable.as_ref().or(Some(&pct25())),
                replicas,
            )
            // Validation has refused anything that does not resolve; this keeps the default.
            .unwrap_or((
                scaled_value(Some(&pct25()), replicas, true).unwrap_or(1),
                scaled_value(Some(&pct25()), replicas, false).unwrap_or(0),
            ));
            Strategy::RollingUpdate { surge, unavailable }
        };
        Params {
            deployment: d.metadata.name.clone().unwrap_or_default(),
            replicas,
            strategy: resolved,
            max_surge: ru.max_surge,
            max_unavailable: ru.max_unavailable,
            min_ready_seconds: i64::from(spec.min_ready_seconds.unwrap_or(0)),
            progress_deadline_seconds: i64::from(spec.progress_deadline_seconds.unwrap_or(600)),
            revision_history_limit: spec.revision_history_limit.unwrap_or(10),
            change_cause: d
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("kubernetes.io/change-cause").cloned()),
        }
    }

    /// `MaxUnavailable(deployment)`: 0 for Recreate or no replicas, else min(unavailable, replicas).
    pub fn max_unavailable(&self) -> i32 {
        match self.strategy {
            Strategy::Recreate => 0,
            _ if self.replicas == 0 => 0,
            Strategy::RollingUpdate { unavailable, .. } => unavailable.min(self.replicas),
        }
    }
}

fn pct25() -> IntOrString {
    IntOrString::String("25%".to_string())
}

/// intstr's `GetScaledValueFromIntOrPercent`: an int as is; `"N%"` of `total`, rounded up or down; a nil
/// value is 0. Anything else is intstr's error.
pub fn scaled_value(v: Option<&IntOrString>, total: i32, round_up: bool) -> Result<i32, String> {
    match v {
        None => Ok(0),
        Some(IntOrString::Int(n)) => Ok(*n),
        Some(IntOrString::String(s)) => {
            let Some(p) = s.strip_suffix('%') else {
                return Err(
                    "invalid value for IntOrString: invalid type: string is not a percentage"
                        .to_string(),
                );
            };
            let p: i64 = p.parse().map_err(|_| {
                format!(
                    "invalid value for IntOrString: invalid value \"{s}\": strconv.Atoi: parsing \"{p}\": invalid syntax"
                )
            })?;
            let x = p * i64::from(total);
            let v = if round_up {
                (x + 99).div_euclid(100)
            } else {
                x.div_euclid(100)
            };
            Ok(v as i32)
        }
    }
}

/// `ResolveFenceposts`: (surge rounded up, unavailable rounded down); both 0 → unavailable 1, so a
/// rollout can always make progress.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> Result<(i32, i32), String> {
    let surge = scaled_value(max_surge, desired, true)?;
    let unavailable = scaled_value(max_unavailable, desired, false)?;
    if surge == 0 && unavailable == 0 {
        return Ok((0, 1));
    }
    Ok((surge, unavailable))
}

/// One ReplicaSet's counts: `replicas` is its size (here: the pods that exist for it), `available` how
/// many of them are available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rs {
    pub replicas: i32,
    pub available: i32,
}

/// `NewRSNewReplicas`: the new ReplicaSet's next size. Rolling: grow up to `replicas + surge` pods in
/// all, never past `replicas`; Recreate: `replicas` at once.
pub fn new_rs_new_replicas(replicas: i32, strategy: Strategy, all: i32, new: i32) -> i32 {
    match strategy {
        Strategy::Recreate => replicas,
        Strategy::RollingUpdate { surge, .. } => {
            let max_total = replicas.saturating_add(surge);
            if all >= max_total {
                return new;
            }
            new + (max_total - all).min(replicas - new)
        }
    }
}

/// `cleanupUnhealthyReplicas`: removes unavailable pods of old ReplicaSets (oldest first), at most
/// `max_cleanup` in all. Returns how many went.
pub fn cleanup_unhealthy(olds: &mut [Rs], max_cleanup: i32) -> i32 {
    let mut total = 0;
    for rs in olds.iter_mut() {
        if total >= max_cleanup {
            break;
        }
        if rs.replicas == 0 || rs.replicas == rs.available {
            continue;
        }
        let n = (max_cleanup - total).min(rs.replicas - rs.available);
        rs.replicas -= n;
        total += n;
    }
    total
}

/// `scaleDownOldReplicaSetsForRollingUpdate`: scales old ReplicaSets down (oldest first) while the
/// available pods of all ReplicaSets stay at `replicas − maxUnavailable` or more. Returns how many went.
pub fn scale_down_old(p: &Params, new: Rs, olds: &mut [Rs]) -> i32 {
    let min_available = p.replicas - p.max_unavailable();
    let available: i32 = new.available + olds.iter().map(|r| r.available).sum::<i32>();
    if available <= min_available {
        return 0;
    }
    let budget = available - min_available;
    let mut total = 0;
    for rs in olds.iter_mut() {
        if total >= budget {
            break;
        }
        if rs.replicas == 0 {
            continue;
        }
        let n = rs.replicas.min(budget - total);
        rs.replicas -= n;
        rs.available = rs.available.min(rs.replicas);
        total += n;
    }
    total
}

/// The sizes one sync asks for: the new ReplicaSet's and each old one's (same order as given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub new: i32,
    pub olds: Vec<i32>,
}

/// One sync of the deployment controller. `olds` oldest first. Rolling: scale the new ReplicaSet up if
/// it may grow; otherwise scale old ones down (`reconcileOldReplicaSets`). Recreate: old ones to 0,
/// and only when no old pod is left the new one to `replicas`.
pub fn step(p: &Params, new: Rs, olds: &[Rs]) -> Step {
    let sizes: Vec<i32> = olds.iter().map(|r| r.replicas).collect();
    let old_total: i32 = sizes.iter().sum();
    match p.strategy {
        Strategy::Recreate => {
            if old_total > 0 {
                return Step {
                    new: new.replicas.min(p.replicas),
                    olds: vec![0; olds.len()],
                };
            }
            Step {
                new: p.replicas,
                olds: sizes,
            }
        }
        Strategy::RollingUpdate { .. } => {
            let all = new.replicas.saturating_add(old_total);
            // `reconcileNewReplicaSet`: a new ReplicaSet above the wanted size shrinks first.
            let want = if new.replicas >= p.replicas {
                p.replicas
            } else {
                new_rs_new_replicas(p.replicas, p.strategy, all, new.replicas)
            };
            if want != new.replicas {
                return Step {
                    new: want,
                    olds: sizes,
                };
            }
            if old_total == 0 {
                return Step {
                    new: new.replicas,
                    olds: sizes,
                };
            }
            let min_available = p.replicas - p.max_unavailable();
            let new_unavailable = new.replicas - new.available;
            let max_scaled_down = all - min_available - new_unavailable;
            let mut olds = olds.to_vec();
            if max_scaled_down > 0 {
                cleanup_unhealthy(&mut olds, max_scaled_down);
                scale_down_old(p, new, &mut olds);
            }
            Step {
                new: new.replicas,
                olds: olds.iter().map(|r| r.replicas).collect(),
            }
        }
    }
}

/// `DeploymentComplete`: every wanted pod is of the new template and available, and no old pod is left.
pub fn complete(p: &Params, new: Rs, olds: &[Rs]) -> bool {
    new.replicas == p.replicas
        && new.available == p.replicas
        && olds.iter().all(|r| r.replicas == 0)
}

/// How long a container must have run before it counts as Ready, and how long after a restart.
/// Until the hosts record readiness-probe results, "running" is all there is to see, and a crashing
/// container is `running` for a few milliseconds at every restart: these keep such a blink from counting.
pub const READY_AFTER_SECONDS: i64 = 1;
pub const READY_AFTER_RESTART_SECONDS: i64 = 10;

/// Whether an observed pod is Ready at `now` (RFC 3339: the observation time, so plans stay
/// deterministic): its host answers and every container has been `running` for [`READY_AFTER_SECONDS`]
/// ([`READY_AFTER_RESTART_SECONDS`] after a restart). The one place readiness-probe results will plug in.
pub fn ready(pod: &ObservedPod, now: &str) -> bool {
    if !pod.node_reachable || pod.sandbox.is_none() || pod.containers.is_empty() {
        return false;
    }
    let Ok(now) = now.parse::<jiff::Timestamp>() else {
        return false;
    };
    pod.all_containers().all(|c| {
        let since = c.started_at.parse::<jiff::Timestamp>().ok();
        let up = since.map(|t| now.as_second() - t.as_second());
        let need = if c.restart_count > 0 {
            READY_AFTER_RESTART_SECONDS
        } else {
            READY_AFTER_SECONDS
        };
        c.status == "running"
            && match probe_ready(pod, c) {
                // A readiness or startup probe decides (docs/probes.md), not the time running.
                Some(ready) => ready,
                None => up.is_some_and(|s| s >= need),
            }
    })
}

/// The probes' word on an observed container's readiness: `None` when its spec has no readiness or
/// startup probe clusterctl evaluates (then running is what counts), else whether the node supervisor
/// recorded it ready for this very container (a record of another container id is not folded in, so a
/// fresh container is not ready until its host says so).
pub fn probe_ready(pod: &ObservedPod, c: &crate::model::ObservedContainer) -> Option<bool> {
    let name = c.label(crate::model::labels::CONTAINER)?;
    let spec = pod
        .manifest
        .as_ref()?
        .spec
        .as_ref()?
        .containers
        .iter()
        .find(|s| s.name == name)?;
    gates_ready(spec).then(|| c.record.as_ref().and_then(|r| r.ready) == Some(true))
}

/// Whether a container's readiness waits for probe results: it has a readiness or startup probe that
/// clusterctl evaluates.
pub fn gates_ready(c: &k8s_openapi::api::core::v1::Container) -> bool {
    crate::supervisor::probe::specs(c, 0).iter().any(|s| {
        matches!(
            s.kind,
            crate::supervisor::probe::Kind::Readiness | crate::supervisor::probe::Kind::Startup
        )
    })
}

/// Whether an observed pod is available (kubernetes-semantics.md §10.6): [`ready`], and for
/// `min_ready_seconds` (from the last container start) at `now`.
pub fn available(pod: &ObservedPod, min_ready_seconds: i64, now: &str) -> bool {
    if !ready(pod, now) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    let (Ok(now), Some(since)) = (
        now.parse::<jiff::Timestamp>(),
        pod.containers
            .values()
            .filter_map(|c| c.started_at.parse::<jiff::Timestamp>().ok())
            .max(),
    ) else {
        return false;
    };
    now.as_second() - since.as_second() >= min_ready_seconds
}

#[cfg(test)]
mod tests;
