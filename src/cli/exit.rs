//! The exit-code contract, in one place. `--help` and the README render [`ExitCode::table`]; a test keeps the
//! README's copy equal to it. Terraform's 0/1/2 keep their meaning; the codes a pipeline branches on
//! are distinct from 2, so a typo is never mistaken for pending changes.

/// Every code clusterctl exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Done; nothing failed (`plan`: also "no changes").
    Ok,
    /// An error that has no code of its own (Git or I/O trouble, an object not found, apply declined).
    Error,
    /// `plan --detailed-exitcode`: the plan has changes; `status --exit-code`: an app is OutOfSync.
    Changes,
    /// A host was unreachable, refused (e.g. changed host key) or failed a change.
    HostsFailed,
    /// `apply`/`rollout status`: a rollout did not finish within its progress deadline.
    RolloutFailed,
    /// The cluster lock is held by another apply.
    Locked,
    /// `apply`: a saved plan is stale, or the plan destroys more pods than `--max-destroy`; nothing changed.
    PlanRefused,
    /// Bad command line: unknown flag, bad `-l` selector, an `-o` the command cannot honour.
    Usage,
    /// Invalid manifests, inventory, Git source or snapshot file; no host was contacted.
    InvalidInput,
    /// `status --exit-code`: every app is Synced, but one is Degraded, Progressing or Missing.
    Unhealthy,
    /// Stopped by SIGINT (Ctrl-C).
    Interrupted,
    /// Stopped by SIGTERM.
    Terminated,
}

impl ExitCode {
    pub const ALL: [ExitCode; 12] = [
        ExitCode::Ok,
        ExitCode::Error,
        ExitCode::Changes,
        ExitCode::HostsFailed,
        ExitCode::RolloutFailed,
        ExitCode::Locked,
        ExitCode::PlanRefused,
        ExitCode::Unhealthy,
        ExitCode::Usage,
        ExitCode::InvalidInput,
        ExitCode::Interrupted,
        ExitCode::Terminated,
    ];

    pub fn code(self) -> i32 {
        match self {
            ExitCode::Ok => 0,
            ExitCode::Error => 1,
            ExitCode::Changes => 2,
            ExitCode::HostsFailed => 3,
            ExitCode::RolloutFailed => 4,
            ExitCode::Locked => 5,
            ExitCode::PlanRefused => 6,
            ExitCode::Unhealthy => 7,
            // sysexits.h EX_USAGE / EX_DATAERR: what shells and CI systems already know.
            ExitCode::Usage => 64,
            ExitCode::InvalidInput => 65,
            // 128 + signal number, as a shell reports a process killed by it.
            ExitCode::Interrupted => 130,
            ExitCode::Terminated => 143,
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            ExitCode::Ok => "success; `plan`: no changes (or changes, without --detailed-exitcode)",
            ExitCode::Error => {
                "error without a code of its own (Git or I/O trouble, object not found, apply declined)"
            }
            ExitCode::Changes => {
                "`plan --detailed-exitcode`: the plan has changes; `status --exit-code`: an app is OutOfSync"
            }
            ExitCode::HostsFailed => {
                "`plan`/`apply`/`lock`/`unlock`: a host was unreachable, refused or failed; no majority of the lock hosts answered"
            }
            ExitCode::RolloutFailed => {
                "`apply`/`rollout status`: a rollout exceeded its progress deadline (old pods keep serving)"
            }
            ExitCode::Locked => {
                "`apply`: the cluster lock is held by another apply (`--lock-wait DURATION` queues instead)"
            }
            ExitCode::PlanRefused => {
                "`apply`: a saved plan is stale or exceeds --max-destroy; nothing was changed"
            }
            ExitCode::Unhealthy => {
                "`status --exit-code`: every app is Synced, but one is Degraded, Progressing or Missing"
            }
            ExitCode::Usage => {
                "usage error: unknown flag, bad `-l` selector, an `-o` the command does not support"
            }
            ExitCode::InvalidInput => {
                "invalid manifests, inventory, Git source or snapshot; no host was contacted"
            }
            ExitCode::Interrupted => {
                "stopped by SIGINT (Ctrl-C); `apply` lets running steps finish and releases the lock"
            }
            ExitCode::Terminated => {
                "stopped by SIGTERM; `apply` lets running steps finish and releases the lock"
            }
        }
    }

    /// The code of a process stopped by signal `signo` (SIGINT 2, SIGTERM 15).
    pub fn for_signal(signo: i32) -> ExitCode {
        if signo == 2 {
            ExitCode::Interrupted
        } else {
            ExitCode::Terminated
        }
    }

    /// The table for `--help` and the README: `  CODE  meaning` lines.
    pub fn table() -> String {
        let mut out = String::from("Exit codes:\n");
        for c in ExitCode::ALL {
            out.push_str(&format!("  {:>3}  {}\n", c.code(), c.meaning()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_terraform_compatible() {
        let codes: std::collections::BTreeSet<i32> =
            ExitCode::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(codes.len(), ExitCode::ALL.len());
        assert_eq!(ExitCode::Ok.code(), 0);
        assert_eq!(ExitCode::Error.code(), 1);
        assert_eq!(ExitCode::Changes.code(), 2);
        // clap's own default for usage errors is 2: it must not be ours.
        assert_ne!(ExitCode::Usage.code(), 2);
        assert_eq!(ExitCode::for_signal(2).code(), 130);
        assert_eq!(ExitCode::for_signal(15).code(), 143);
    }

    #[test]
    fn readme_documents_exactly_these_codes() {
        let readme = include_str!("../../README.md");
        let table = ExitCode::table();
        assert!(
            readme.contains(&format!("```text\n{table}```")),
            "README.md must hold the exit-code table as `clusterctl --help` prints it:\n{table}"
        );
    }
}
