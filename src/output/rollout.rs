//! The words of rollouts: `kubectl rollout status`'s messages for a Deployment, and the per-step line
//! apply prints while it drives a rollout.

use crate::plan::rollout::Rollout;

/// kubectl's `DeploymentStatusViewer`: `(done, message)`.
pub fn status(r: &Rollout) -> (bool, String) {
    let d = &r.deployment;
    let updated = r.new.replicas;
    let total: i32 = updated + r.olds.iter().map(|(_, o)| o.replicas).sum::<i32>();
    let available: i32 = r.new.available + r.olds.iter().map(|(_, o)| o.available).sum::<i32>();
    let wanted = r.params.replicas;
    if updated < wanted {
        return (
            false,
            format!(
                "Waiting for deployment \"{d}\" rollout to finish: {updated} out of {wanted} new replicas have been updated..."
            ),
        );
    }
    if total > updated {
        return (
            false,
            format!(
                "Waiting for deployment \"{d}\" rollout to finish: {} old replicas are pending termination...",
                total - updated
            ),
        );
    }
    if available < updated {
        return (
            false,
            format!(
                "Waiting for deployment \"{d}\" rollout to finish: {available} of {updated} updated replicas are available..."
            ),
        );
    }
    (true, format!("deployment \"{d}\" successfully rolled out"))
}

/// kubectl's error for a Deployment whose rollout ran out of time.
pub fn deadline_exceeded(deployment: &str) -> String {
    format!("deployment \"{deployment}\" exceeded its progress deadline")
}

/// The Progressing condition's message on timeout (`ProgressDeadlineExceeded`).
pub fn timed_out(replica_set: &str) -> String {
    format!("ReplicaSet \"{replica_set}\" has timed out progressing.")
}
