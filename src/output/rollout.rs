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

/// `kubectl rollout history deployment/NAME`, with the Git commit each revision came from:
/// `REVISION  COMMIT   CHANGE-CAUSE`, oldest first.
pub fn history(deployment: &str, revisions: &[crate::model::RevisionRecord]) -> String {
    let mut text = String::from("REVISION\tCOMMIT\tCHANGE-CAUSE\n");
    for r in revisions {
        text.push_str(&format!(
            "{}\t{}\t{}\n",
            r.revision,
            short(&r.commit),
            r.change_cause.as_deref().unwrap_or("<none>")
        ));
    }
    format!(
        "deployment.apps/{deployment}\n{}",
        super::tabwriter::DESCRIBE.format(&text)
    )
    .trim_end()
    .to_string()
}

/// What `rollout undo` prints: the revision it goes back to and the Git commands that make Git say so
/// (the old manifest file checked out and committed; or a revert of the commit that made the current
/// revision, when that commit changed nothing else).
pub fn undo_instructions(
    deployment: &str,
    back: &crate::model::RevisionRecord,
    current: Option<&crate::model::RevisionRecord>,
    head: &str,
) -> String {
    let c = short(&back.commit);
    let mut out = format!(
        "deployment.apps/{deployment}: rolling back means revision {} (ReplicaSet {}, commit {c}).\n\
         Git is the source of truth; to make it match, commit the old manifest:\n",
        back.revision, back.replica_set
    );
    let file = if back.file.is_empty() {
        "<file>"
    } else {
        back.file.as_str()
    };
    out.push_str(&format!(
        "  git checkout {c} -- {file}\n  git commit -m \"rollout undo deployment {deployment} to revision {} ({c})\"\n",
        back.revision
    ));
    if let Some(now) = current.filter(|n| n.commit != back.commit && !n.commit.is_empty()) {
        out.push_str(&format!(
            "or, if commit {} (revision {}) changed nothing else, revert it:\n  git revert --no-edit {}\n",
            short(&now.commit),
            now.revision,
            short(&now.commit)
        ));
    }
    out.push_str(&format!(
        "(the checkout brings back the whole file as of {c}; HEAD is {})",
        short(head)
    ));
    out
}

fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}
