//! The cluster lock: one apply at a time. The lock is a directory created atomically (`mkdir`) on every
//! reachable host, taken in host-name order so two racing applies collide on the first host and exactly one
//! proceeds. The holder (user, machine, commit, start time) is written inside, for whoever is blocked.
//! A taken lock is a guard ([`Lock`]): released by [`Lock::release`], or by its `Drop` on every other way
//! out (an early `?`, a panic), so no path leaves the cluster locked while the process lives.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cmd::Cmd;
use crate::transport::Transport;

pub const LOCK_DIR: &str = "/var/lib/clusterctl/lock";
const HOLDER_FILE: &str = "/var/lib/clusterctl/lock/holder";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub user: String,
    pub machine: String,
    pub commit: String,
    /// RFC 3339.
    pub started: String,
    pub pid: u32,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "held by {}@{} (pid {}) applying commit {} since {}",
            self.user, self.machine, self.pid, self.commit, self.started
        )
    }
}

/// Who is running this process, for [`Holder`]: the real user's login name from the password database
/// (`getpwuid`; `$USER` may be unset or anything) — `uid N` if it has no entry — and this machine's name.
pub fn local_identity() -> (String, String) {
    let uid = unsafe { libc::getuid() };
    let user = login_name(uid).unwrap_or_else(|| format!("uid {uid}"));
    let machine = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string());
    (user, machine)
}

fn login_name(uid: libc::uid_t) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live, correctly sized storage owned by this frame; the strings
    // getpwuid_r writes point into `buf`, which outlives their use below.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned()).filter(|n| !n.is_empty())
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the cluster is locked by another apply (on host {host}): {holder}\n  if no apply is running, release it with `clusterctl unlock`"
    )]
    Held { host: String, holder: String },
    #[error("could not take the cluster lock on host {host}: {reason}")]
    Failed { host: String, reason: String },
}

/// A lock taken on a set of hosts. Release it with [`Lock::release`]; dropping it releases it too.
#[must_use = "the lock is released as soon as it is dropped"]
pub struct Lock {
    hosts: Vec<(String, Arc<dyn Transport>)>,
}

fn take_cmd() -> Cmd {
    Cmd::write("mkdir", ["-p", "/var/lib/clusterctl"])
}

/// Takes the lock on every host of `transports` in name order; on any refusal, releases what was taken.
pub async fn acquire(
    transports: &BTreeMap<String, Arc<dyn Transport>>,
    holder: &Holder,
) -> Result<Lock, LockError> {
    let mut taken = Lock { hosts: Vec::new() };
    let body = serde_json::to_string(holder).expect("holder serializes");
    for (host, t) in transports {
        let fail = |reason: String| LockError::Failed {
            host: host.clone(),
            reason,
        };
        let out = t.run(&take_cmd()).await.map_err(|e| fail(e.to_string()))?;
        if !out.success() {
            taken.release().await;
            return Err(fail(out.stderr_str().trim().to_string()));
        }
        let out = t
            .run(&Cmd::write("mkdir", [LOCK_DIR]))
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !out.success() {
            let held = read_holder(t.as_ref()).await;
            taken.release().await;
            return Err(LockError::Held {
                host: host.clone(),
                holder: held
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "holder unknown".into()),
            });
        }
        taken.hosts.push((host.clone(), t.clone()));
        let out = t
            .run(&Cmd::write("tee", [HOLDER_FILE]).with_stdin(body.clone()))
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !out.success() {
            taken.release().await;
            return Err(fail(out.stderr_str().trim().to_string()));
        }
    }
    Ok(taken)
}

/// Who holds the lock on this host, if anyone.
pub async fn read_holder(t: &dyn Transport) -> Option<Holder> {
    let out = t.run(&Cmd::read("cat", [HOLDER_FILE])).await.ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

/// Removes the lock from every host given, whoever holds it (`clusterctl unlock`).
pub async fn force_release(
    transports: &BTreeMap<String, Arc<dyn Transport>>,
) -> Vec<(String, Option<Holder>)> {
    let mut out = Vec::new();
    for (host, t) in transports {
        let holder = read_holder(t.as_ref()).await;
        let _ = t.run(&Cmd::write("rm", ["-rf", LOCK_DIR])).await;
        out.push((host.clone(), holder));
    }
    out
}

impl Lock {
    /// The hosts the lock is held on, in the order it was taken.
    pub fn hosts(&self) -> Vec<&str> {
        self.hosts.iter().map(|(h, _)| h.as_str()).collect()
    }

    pub async fn release(mut self) {
        release_hosts(std::mem::take(&mut self.hosts)).await;
    }
}

async fn release_hosts(hosts: Vec<(String, Arc<dyn Transport>)>) {
    // Reverse order, so a racing apply never sees a later host free while an earlier one is held.
    for (_, t) in hosts.iter().rev() {
        let _ = t.run(&Cmd::write("rm", ["-rf", LOCK_DIR])).await;
    }
}

impl Drop for Lock {
    /// The way out that did not call [`Lock::release`] (an error returned early, a panic unwinding): release
    /// here, blocking, since the process may end right after.
    fn drop(&mut self) {
        if self.hosts.is_empty() {
            return;
        }
        let hosts = std::mem::take(&mut self.hosts);
        tracing::debug!("releasing the cluster lock from its guard");
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| h.block_on(release_hosts(hosts)));
            }
            // A current-thread runtime cannot block inside itself: hand the release to it.
            Ok(h) => {
                h.spawn(release_hosts(hosts));
            }
            Err(_) => {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(release_hosts(hosts));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::fake::FakeConnector;

    fn holder() -> Holder {
        Holder {
            user: "u".into(),
            machine: "m".into(),
            commit: "c".into(),
            started: "2026-01-01T00:00:00Z".into(),
            pid: 1,
        }
    }

    fn hosts(fake: &FakeConnector) -> BTreeMap<String, Arc<dyn Transport>> {
        ["a", "b"]
            .into_iter()
            .map(|h| (h.to_string(), fake.transport(h) as Arc<dyn Transport>))
            .collect()
    }

    /// True when the last command run on `host` removed the lock.
    fn released(fake: &FakeConnector, host: &str) -> bool {
        fake.commands(host).last() == Some(&Cmd::write("rm", ["-rf", LOCK_DIR]))
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_early_error_return_releases_the_lock() {
        let fake = FakeConnector::new();
        let transports = hosts(&fake);
        async fn work(t: &BTreeMap<String, Arc<dyn Transport>>) -> Result<(), String> {
            let _lock = acquire(t, &holder()).await.map_err(|e| e.to_string())?;
            Err("something failed while holding the lock".to_string())?;
            Ok(())
        }
        assert!(work(&transports).await.is_err());
        assert!(released(&fake, "a") && released(&fake, "b"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_panic_releases_the_lock() {
        let fake = FakeConnector::new();
        let transports = hosts(&fake);
        let task = tokio::spawn(async move {
            let _lock = acquire(&transports, &holder()).await.unwrap();
            panic!("a bug while holding the lock");
        });
        assert!(task.await.unwrap_err().is_panic());
        assert!(released(&fake, "a") && released(&fake, "b"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_transport_error_while_taking_it_gives_back_what_was_taken() {
        let fake = FakeConnector::new();
        fake.on(
            |h, c| h == "b" && c.program == "tee",
            Err(crate::transport::TransportError::Exec {
                host: "b".into(),
                program: "tee".into(),
                reason: "connection lost".into(),
            }),
        );
        let err = acquire(&hosts(&fake), &holder()).await.err().unwrap();
        assert!(
            matches!(err, LockError::Failed { ref host, .. } if host == "b"),
            "{err}"
        );
        assert!(released(&fake, "a") && released(&fake, "b"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn release_goes_in_reverse_order_and_only_once() {
        let fake = FakeConnector::new();
        let lock = acquire(&hosts(&fake), &holder()).await.unwrap();
        assert_eq!(lock.hosts(), ["a", "b"]);
        lock.release().await;
        let rm = Cmd::write("rm", ["-rf", LOCK_DIR]);
        let order: Vec<String> = fake
            .all_commands()
            .into_iter()
            .filter(|(_, c)| c == &rm)
            .map(|(h, _)| h)
            .collect();
        assert_eq!(
            order,
            ["b", "a"],
            "released once per host, last taken first"
        );
    }

    #[test]
    fn identity_comes_from_the_password_database_not_the_environment() {
        // The uid's entry in /etc/passwd (read independently of libc) is what getpwuid must give.
        let uid = unsafe { libc::getuid() };
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        let expected = passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() > 2 && f[2] == uid.to_string())
            .map(|f| f[0].to_string())
            .unwrap_or_else(|| format!("uid {uid}"));
        let (user, machine) = local_identity();
        assert_eq!(user, expected);
        assert!(!machine.is_empty() && machine != "unknown-host");
    }
}
