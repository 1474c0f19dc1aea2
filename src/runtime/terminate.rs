//! Graceful pod termination as the kubelet does it (`killContainer`): each running container's
//! `lifecycle.preStop` hook first, then SIGTERM, and SIGKILL once `terminationGracePeriodSeconds`
//! (default 30) have passed — here `docker exec` for an exec hook, bounded by the grace period, then
//! `docker stop -t <grace>` for every running app container at once, then `docker rm -f` of the pod.
//! A failing hook does not stop the termination (the kubelet records `FailedPreStopHook` and goes on).

use k8s_openapi::api::core::v1::PodSpec;

use crate::cmd::Cmd;
use crate::model::{ObservedPod, labels};

/// The kubelet's default grace period.
pub const DEFAULT_GRACE_SECONDS: i64 = 30;

/// Runs `docker exec` under `timeout`; its failure is reported on stderr and ignored. The container and
/// the hook's argv are positional parameters, never part of the script text.
const PRE_STOP_SCRIPT: &str = r#"grace=$1; shift
timeout "$grace" docker exec "$@" >/dev/null 2>&1 || echo "FailedPreStopHook: $1 exited with $?" >&2
exit 0"#;
/// `$0` of the hook's shell, so it is recognisable in `ps` and in the plan.
pub const PRE_STOP_ARG0: &str = "clusterctl-prestop";

/// Marks the containers being deleted for the node supervisor (`supervisor::decide::TERMINATING_DIR`), so it
/// does not restart one that exits on SIGTERM (or by its preStop hook) before `docker rm`. A failure to
/// mark is reported on stderr and does not stop the termination. Directory and ids are positional
/// parameters, never part of the script text.
const MARK_SCRIPT: &str = r#"dir=$1; shift
{ mkdir -p "$dir" && for id in "$@"; do : > "$dir/$id"; done; } 2>/dev/null || echo "cannot mark $* as terminating in $dir" >&2
exit 0"#;
/// `$0` of the marking shell.
pub const MARK_ARG0: &str = "clusterctl-terminating";

/// The pod's grace period, from the manifest recorded on its sandbox.
pub fn grace_seconds(pod: &ObservedPod) -> i64 {
    pod.manifest
        .as_ref()
        .and_then(|m| m.spec.as_ref())
        .and_then(|s| s.termination_grace_period_seconds)
        .unwrap_or(DEFAULT_GRACE_SECONDS)
        .max(0)
}

/// The steps that stop `pod` gracefully, before its containers are removed: the supervisor's marks, preStop
/// hooks of running containers, then one `docker stop -t <grace>` over the running app containers.
pub fn stop_steps(pod: &ObservedPod) -> Vec<Cmd> {
    let grace = grace_seconds(pod);
    let empty = PodSpec::default();
    let spec = pod
        .manifest
        .as_ref()
        .and_then(|m| m.spec.as_ref())
        .unwrap_or(&empty);
    let running: Vec<_> = pod.containers.values().filter(|c| c.is_running()).collect();
    let mut steps = Vec::new();
    if !running.is_empty() {
        // First, so a container that exits during its preStop hook is not restarted either.
        let mut args = vec![
            "-c".to_string(),
            MARK_SCRIPT.to_string(),
            MARK_ARG0.to_string(),
            format!(
                "{}/{}",
                crate::supervisor::STATE_DIR,
                crate::supervisor::decide::TERMINATING_DIR
            ),
        ];
        args.extend(
            pod.containers
                .values()
                .filter(|c| !c.id.is_empty())
                .map(|c| c.id.clone()),
        );
        steps.push(Cmd::write("sh", args));
    }
    for c in &running {
        let name = c.label(labels::CONTAINER).unwrap_or_default();
        let hook = spec
            .containers
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.lifecycle.as_ref())
            .and_then(|l| l.pre_stop.as_ref())
            .and_then(|h| h.exec.as_ref())
            .and_then(|e| e.command.clone())
            .filter(|cmd| !cmd.is_empty());
        if let Some(cmd) = hook {
            let mut args = vec![
                "-c".to_string(),
                PRE_STOP_SCRIPT.to_string(),
                PRE_STOP_ARG0.to_string(),
                grace.max(1).to_string(),
                c.name.clone(),
            ];
            args.extend(cmd);
            steps.push(Cmd::write("sh", args));
        }
    }
    if !running.is_empty() {
        let mut args = vec!["stop".to_string(), "-t".to_string(), grace.to_string()];
        args.extend(running.iter().map(|c| c.name.clone()));
        steps.push(Cmd::write("docker", args));
    }
    steps
}

/// True for a preStop step built by [`stop_steps`].
pub fn is_pre_stop(cmd: &Cmd) -> bool {
    cmd.program == "sh" && cmd.args.get(2).map(String::as_str) == Some(PRE_STOP_ARG0)
}
