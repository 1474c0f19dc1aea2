//! The cluster lock: one apply at a time, as a lease granted by a strict majority of a fixed, ordered set
//! of lock hosts (cluster.yaml `lock.hosts`, default the first three hosts by name; docs/locking.md).
//!
//! - **Taken in parallel**: one compare-and-swap per lock host ([`script`]), all at once; granted when a
//!   strict majority answers "yours". Short of a majority, what was taken is given back at once.
//! - **A lease**: each lock host records an expiry by its own clock (now + TTL); a holder that dies stops
//!   renewing and its lease runs out. The next taker that finds it expired takes it over.
//! - **A heartbeat** ([`Lock`] runs it) renews the lease every TTL/3 on the hosts that granted it. When it
//!   cannot renew on a majority for long enough that the lease may run out, the lock's [`Stop`] fires
//!   ([`Lock::watch`]): apply starts no new change, and changes still running are cut off when the lease
//!   could have expired on the hosts.
//!
//! ## Why two applies never both hold it
//! Two majorities of one host set always share a host, and on that host the compare-and-swap grants a live
//! lease to one taker only. A partition cannot change that: each side reaches at most one majority, and a
//! side without a majority gets nothing. A holder cut off from its majority stops before its lease can
//! expire anywhere: it counts its lease from the moment it *sent* its last successful renewal (its own
//! monotonic clock), less a margin, while each host counts from the moment it *received* it — later — so the
//! holder always gives up first, whatever the clocks read (only their rates are assumed alike, and the
//! margin covers the rounding of a host's millisecond clock). Before a new holder can have a majority it must
//! take a host of the old holder's last majority, which refuses until that host's lease ran out.
//!
//! A taken lock is a guard ([`Lock`]): released by [`Lock::release`]/[`Lock::finish`], or by its `Drop` on
//! every other way out (an early `?`, a panic), so no path leaves the cluster locked while the process
//! lives.

pub mod audit;
pub mod script;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use super::Stop;
use crate::inventory::Inventory;
use crate::transport::Transport;
pub use script::{Expiry, LOCK_DIR};

/// The lock hosts and the lease length, from the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockSpec {
    /// In their fixed order.
    pub hosts: Vec<String>,
    pub ttl: Duration,
}

impl LockSpec {
    pub fn from_inventory(inv: &Inventory) -> LockSpec {
        LockSpec {
            hosts: inv.lock_hosts(),
            ttl: Duration::from_secs(inv.lock.ttl),
        }
    }

    /// How many lock hosts make a strict majority.
    pub fn majority(&self) -> usize {
        self.hosts.len() / 2 + 1
    }

    /// What the holder takes off its lease: the hosts' clocks count in whole milliseconds and from a later
    /// moment, but rates may differ a little.
    fn margin(&self) -> Duration {
        (self.ttl / 10).max(Duration::from_millis(500))
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl.as_millis() as u64
    }

    /// How long one lock command may take before its host counts as not answering.
    fn op_timeout(&self) -> Duration {
        (self.ttl / 3).clamp(Duration::from_secs(1), Duration::from_secs(20))
    }
}

/// The owner record written on the lock hosts (and shown to whoever is blocked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub user: String,
    pub machine: String,
    pub commit: String,
    /// RFC 3339.
    pub started: String,
    pub pid: u32,
    /// The lock id (empty in a record from before leases).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The CI job that runs this apply, from the usual CI environment variables.
    #[serde(default, rename = "ciJobUrl", skip_serializing_if = "Option::is_none")]
    pub ci_job_url: Option<String>,
    /// The lease length asked for, seconds.
    #[serde(
        default,
        rename = "ttlSeconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub ttl_seconds: Option<u64>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "held by {}@{} (pid {}) applying commit {} since {}",
            clean(&self.user),
            clean(&self.machine),
            self.pid,
            clean(&self.commit),
            clean(&self.started)
        )?;
        if let Some(url) = &self.ci_job_url {
            write!(f, " from {}", clean(url))?;
        }
        Ok(())
    }
}

/// Control characters of a record (anyone can write one by hand) never reach the terminal raw.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl Holder {
    /// The record of this process applying `commit`: identity, pid, now, a fresh lock id, the CI job.
    pub fn for_this_process(commit: &str, ttl: Duration) -> Holder {
        let (user, machine) = local_identity();
        Holder {
            user,
            machine,
            commit: commit.to_string(),
            started: format!("{:.0}", jiff::Timestamp::now()),
            pid: std::process::id(),
            id: new_id(),
            ci_job_url: ci_job_url(|k| std::env::var(k).ok()),
            ttl_seconds: Some(ttl.as_secs()),
        }
    }

    /// `user@machine (pid N)`.
    pub fn who(&self) -> String {
        format!(
            "{}@{} (pid {})",
            clean(&self.user),
            clean(&self.machine),
            self.pid
        )
    }
}

/// A random lock id: 12 hex digits of a hash of 16 bytes of the kernel's randomness, the pid and the time.
pub fn new_id() -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut seed = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut seed);
    }
    h.update(seed);
    h.update(std::process::id().to_le_bytes());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    h.update(nanos.to_le_bytes());
    hex::encode(h.finalize())[..12].to_string()
}

/// Whether `s` looks like a lock id (`lock release --id`): 12 lowercase hex digits.
pub fn valid_id(s: &str) -> bool {
    s.len() == 12
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The URL of the CI job running this process: GitHub Actions (`GITHUB_SERVER_URL`/`GITHUB_REPOSITORY`/
/// `GITHUB_RUN_ID`), GitLab (`CI_JOB_URL`), Jenkins (`BUILD_URL`). Credentials in the URL are dropped.
pub fn ci_job_url(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let url = match (
        get("GITHUB_SERVER_URL"),
        get("GITHUB_REPOSITORY"),
        get("GITHUB_RUN_ID"),
    ) {
        (Some(s), Some(r), Some(id)) => {
            Some(format!("{}/{r}/actions/runs/{id}", s.trim_end_matches('/')))
        }
        _ => get("CI_JOB_URL").or_else(|| get("BUILD_URL")),
    }?;
    Some(without_credentials(&url))
}

/// `https://user:token@host/x` → `https://host/x`.
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
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
    /// Another holder's live lease kept a majority out of reach. `host` is the first lock host (in their
    /// order) that named it.
    #[error(
        "the cluster is locked by another apply (on host {host}): {holder}\n  if no apply is running, wait for its lease to run out (`apply --lock-wait DURATION` queues) or release it with `clusterctl lock release --force --id {id}`"
    )]
    Held {
        host: String,
        holder: String,
        id: String,
    },
    /// No majority of the lock hosts answered (unreachable, failing): nobody else is known to hold it.
    #[error(
        "could not take the cluster lock: it needs {needed} of the {total} lock hosts, {granted} granted it; {why}"
    )]
    NoQuorum {
        needed: usize,
        total: usize,
        granted: usize,
        why: String,
    },
    #[error("could not take the cluster lock on host {host}: {reason}")]
    Failed { host: String, reason: String },
}

/// What one lock host said, for `lock status`, `plan` and a blocked apply.
#[derive(Debug, Clone)]
pub struct HostLease {
    pub host: String,
    /// The script's answer, or why there is none (not reached, failed).
    pub answer: Result<script::Answer, String>,
}

impl HostLease {
    /// The holder record, parsed (a record that does not parse is shown as `holder unknown`).
    pub fn holder(&self) -> Option<Holder> {
        let a = self.answer.as_ref().ok()?;
        a.holder
            .as_deref()
            .and_then(|h| serde_json::from_str(h).ok())
    }

    /// The holder and its lease in one phrase: `held by … since …; lock id X, its lease expires in 42 s`.
    pub fn describe(&self) -> String {
        let Ok(a) = &self.answer else {
            return "holder unknown".into();
        };
        let holder = self
            .holder()
            .map(|h| h.to_string())
            .unwrap_or_else(|| "holder unknown".into());
        format!("{holder}; {}", lease_words(a))
    }
}

/// `lock id X, its lease expires in 42 s` / `… expired 3 s ago` / `… no expiry (a record from before leases)`.
pub fn lease_words(a: &script::Answer) -> String {
    let id = a.id().unwrap_or("-");
    match (&a.lease, a.remaining_ms()) {
        (Some((_, Expiry::Never)), _) => {
            format!("lock id {id}, no expiry (a record without a lease: release it by its id)")
        }
        (_, Some(ms)) if ms > 0 => format!(
            "lock id {id}, its lease expires in {} s (by the lock host's clock)",
            (ms + 999) / 1000
        ),
        (_, Some(ms)) => format!("lock id {id}, its lease expired {} s ago", -ms / 1000),
        _ => format!("lock id {id}"),
    }
}

/// The lease's health, as the heartbeat sees it.
#[derive(Debug, Clone, PartialEq)]
enum Health {
    Held,
    /// Could not renew: stop new work; running work may go on until `deadline` (the lease may end then).
    Endangered {
        deadline: Instant,
        why: String,
    },
    Released,
}

struct Inner {
    spec: LockSpec,
    id: String,
    /// Hosts that granted the lease (or may have: their answer did not come in time), in lock-host order.
    hosts: Vec<(String, Arc<dyn Transport>)>,
    health: watch::Sender<Health>,
    /// The holder record, for the audit entry of the release.
    holder: Holder,
    /// What the audit entry of the release says (`Lock::finish` sets it).
    result: Mutex<String>,
    action: String,
}

/// A lease taken on a majority of the lock hosts. Release it with [`Lock::release`] or [`Lock::finish`];
/// dropping it releases it too.
#[must_use = "the lock is released as soon as it is dropped"]
pub struct Lock {
    inner: Arc<Inner>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
    took_over: Vec<(String, String)>,
    done: bool,
}

/// Runs one lock command with the lock's deadline.
async fn run_op(
    spec: &LockSpec,
    t: &dyn Transport,
    cmd: &crate::cmd::Cmd,
) -> Result<crate::transport::Output, String> {
    match tokio::time::timeout(spec.op_timeout(), t.run(cmd)).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no answer within {} s",
            spec.op_timeout().as_secs_f32()
        )),
    }
}

enum Take {
    Granted(script::Answer),
    Held(script::Answer),
    /// It may have been granted: the answer was lost.
    Unknown(String),
    Failed(String),
}

/// Takes the lease for `holder` (its `id`) on the lock hosts of `spec`, in parallel; granted on a strict
/// majority, else everything taken is given back. `action` names the taker in the audit log (`apply`,
/// `reconcile`).
pub async fn acquire(
    spec: &LockSpec,
    transports: &BTreeMap<String, Arc<dyn Transport>>,
    holder: &Holder,
    action: &str,
) -> Result<Lock, LockError> {
    let body = serde_json::to_string(holder).expect("holder serializes");
    let cmd = script::acquire(&holder.id, spec.ttl_ms(), &body);
    let sent = Instant::now();
    let takes = spec.hosts.iter().map(|host| {
        let cmd = &cmd;
        async move {
            let Some(t) = transports.get(host) else {
                return (host.clone(), None, Take::Failed("not reached".into()));
            };
            let take = match run_op(spec, t.as_ref(), cmd).await {
                Err(e) if e.starts_with("no answer") => Take::Unknown(e),
                Err(e) => Take::Failed(e),
                Ok(out) if out.success() => Take::Granted(script::parse(&out.stdout_str())),
                Ok(out) if out.status == script::HELD => {
                    Take::Held(script::parse(&out.stdout_str()))
                }
                Ok(out) => Take::Failed(first_line(&out.stderr_str(), out.status)),
            };
            (host.clone(), Some(t.clone()), take)
        }
    });
    let results = join_all(takes).await;
    let granted = results
        .iter()
        .filter(|(_, _, t)| matches!(t, Take::Granted(_)))
        .count();
    // Every host that granted it, or may have, is released if the take fails and renewed if it succeeds.
    let hosts: Vec<(String, Arc<dyn Transport>)> = results
        .iter()
        .filter(|(_, _, t)| matches!(t, Take::Granted(_) | Take::Unknown(_)))
        .filter_map(|(h, t, _)| t.clone().map(|t| (h.clone(), t)))
        .collect();
    let (health, _) = watch::channel(Health::Held);
    let inner = Arc::new(Inner {
        spec: spec.clone(),
        id: holder.id.clone(),
        hosts,
        health,
        holder: holder.clone(),
        result: Mutex::new("ended before any change".into()),
        action: action.to_string(),
    });
    let valid_until = sent + spec.ttl.saturating_sub(spec.margin());
    let in_time = Instant::now() + spec.ttl / 3 < valid_until;
    if granted >= spec.majority() && in_time {
        let took_over = results
            .iter()
            .filter_map(|(h, _, t)| match t {
                Take::Granted(a) => a.took_over.clone().map(|id| (h.clone(), id)),
                _ => None,
            })
            .collect();
        let heartbeat = tokio::spawn(heartbeat(inner.clone(), valid_until));
        tracing::debug!(
            "cluster lock {} taken on {granted} of {} lock hosts in {} ms",
            holder.id,
            spec.hosts.len(),
            sent.elapsed().as_millis()
        );
        return Ok(Lock {
            inner,
            heartbeat: Some(heartbeat),
            took_over,
            done: false,
        });
    }
    release_hosts(&inner, String::new()).await;
    if let Some((host, a)) = results.iter().find_map(|(h, _, t)| match t {
        Take::Held(a) => Some((h, a)),
        _ => None,
    }) {
        let lease = HostLease {
            host: host.clone(),
            answer: Ok(a.clone()),
        };
        return Err(LockError::Held {
            host: host.clone(),
            holder: lease.describe(),
            id: a.id().unwrap_or("-").to_string(),
        });
    }
    let mut why: Vec<String> = results
        .iter()
        .filter_map(|(h, _, t)| match t {
            Take::Failed(e) | Take::Unknown(e) => Some(format!("{h}: {e}")),
            _ => None,
        })
        .collect();
    if why.is_empty() {
        why.push("the answers came too late to hold a lease".into());
    }
    Err(LockError::NoQuorum {
        needed: spec.majority(),
        total: spec.hosts.len(),
        granted,
        why: why.join("; "),
    })
}

fn first_line(stderr: &str, status: i32) -> String {
    let l = stderr.trim().lines().next().unwrap_or("").to_string();
    if l.is_empty() {
        format!("the lock command exited with {status}")
    } else {
        l
    }
}

/// Renews the lease every TTL/3 until released; marks it endangered when it could not renew on a majority
/// for so long that only one period is left before it may expire, or when a majority says it is gone.
async fn heartbeat(inner: Arc<Inner>, mut valid_until: Instant) {
    let spec = &inner.spec;
    let period = spec.ttl / 3;
    let mut next = Instant::now() + period;
    let mut released = inner.health.subscribe();
    let cmd = script::renew(&inner.id, spec.ttl_ms());
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            _ = released.wait_for(|h| *h == Health::Released) => return,
        }
        let sent = Instant::now();
        let answers = join_all(
            inner
                .hosts
                .iter()
                .map(|(_, t)| run_op(spec, t.as_ref(), &cmd)),
        )
        .await;
        let renewed = answers
            .iter()
            .filter(|a| a.as_ref().is_ok_and(|o| o.success()))
            .count();
        let gone = answers
            .iter()
            .filter(|a| a.as_ref().is_ok_and(|o| o.status == script::NOT_OURS))
            .count();
        if renewed >= spec.majority() {
            valid_until = sent + spec.ttl.saturating_sub(spec.margin());
            next = sent + period;
            continue;
        }
        let now = Instant::now();
        let why = if spec.hosts.len() - gone < spec.majority() {
            // Taken over or released by force on enough hosts that no renewal can restore a majority.
            Some(format!(
                "the cluster lock {} is no longer ours on a majority of the lock hosts (released by force or taken over after it expired)",
                inner.id
            ))
        } else if now + period >= valid_until {
            Some(format!(
                "the cluster lock {} could not be renewed on a majority of the lock hosts ({renewed} of {} answered)",
                inner.id,
                spec.hosts.len()
            ))
        } else {
            None
        };
        if let Some(why) = why {
            inner.health.send_if_modified(|h| {
                if *h == Health::Held {
                    *h = Health::Endangered {
                        deadline: valid_until.max(now),
                        why,
                    };
                    true
                } else {
                    false
                }
            });
        }
        next = now + period / 2;
    }
}

impl Lock {
    /// The hosts the lease was granted on (or may have been), in lock-host order.
    pub fn hosts(&self) -> Vec<&str> {
        self.inner.hosts.iter().map(|(h, _)| h.as_str()).collect()
    }

    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Expired leases this take replaced: (host, their lock id).
    pub fn took_over(&self) -> &[(String, String)] {
        &self.took_over
    }

    /// Why the lease is in danger or lost, once the heartbeat said so.
    pub fn lost(&self) -> Option<String> {
        match &*self.inner.health.borrow() {
            Health::Endangered { why, .. } => Some(why.clone()),
            _ => None,
        }
    }

    /// A [`Stop`] that fires when `outer` does (with `outer_grace` for running work) or when the lease is
    /// endangered (running work may go on until the lease could expire on the hosts).
    pub fn watch(&self, outer: &Stop, outer_grace: Duration) -> Stop {
        let (handle, stop) = Stop::channel();
        let outer = outer.clone();
        let mut health = self.inner.health.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                () = outer.wait() => handle.stop(outer_grace),
                h = health.wait_for(|h| *h != Health::Held) => {
                    if let Ok(h) = h
                        && let Health::Endangered { deadline, .. } = &*h
                    {
                        handle.stop(deadline.saturating_duration_since(Instant::now()));
                    }
                }
            }
        });
        stop
    }

    /// Releases the lease, recording `result` (`applied`, `failed`, …) in the audit log.
    pub async fn finish(self, result: &str) {
        let _ = self.finish_reporting(result).await;
    }

    /// [`Lock::finish`], returning the granting hosts the release did not reach or that failed it, each with
    /// why: their lease stays until it expires (the caller warns, naming them).
    pub async fn finish_reporting(mut self, result: &str) -> Vec<(String, String)> {
        *self.inner.result.lock().expect("result") = result.to_string();
        self.done = true;
        release_with_audit(&self.inner).await
    }

    /// How long a lease left behind by a failed release lasts at most.
    pub fn ttl(&self) -> Duration {
        self.inner.spec.ttl
    }

    /// Releases the lease; the audit entry says it ended before any change.
    pub async fn release(self) {
        let result = self.inner.result.lock().expect("result").clone();
        self.finish(&result).await;
    }

    /// Sets what the audit entry of the release will say, for a release that happens later.
    pub fn set_result(&self, result: &str) {
        *self.inner.result.lock().expect("result") = result.to_string();
    }
}

/// The audit entry of a holder's release.
fn release_entry(inner: &Inner) -> audit::Entry {
    let h = &inner.holder;
    audit::Entry {
        time: format!("{:.0}", jiff::Timestamp::now()),
        action: inner.action.clone(),
        lock_id: inner.id.clone(),
        user: h.user.clone(),
        machine: h.machine.clone(),
        pid: h.pid,
        commit: h.commit.clone(),
        ci_job_url: h.ci_job_url.clone(),
        result: inner.result.lock().expect("result").clone(),
        holder: None,
    }
}

async fn release_with_audit(inner: &Inner) -> Vec<(String, String)> {
    let line = release_entry(inner).line();
    release_hosts(inner, line).await
}

/// Gives the lease back on every host that granted it (only if it is still ours there), appending
/// `audit` on each; stops the heartbeat. Returns the hosts where that failed (not reached, no answer in
/// time, the script failed), with why. A host where the lease is no longer ours is not a failure: there is
/// nothing of ours left to release.
async fn release_hosts(inner: &Inner, audit: String) -> Vec<(String, String)> {
    inner.health.send_replace(Health::Released);
    let cmd = script::release(&inner.id, &audit);
    join_all(inner.hosts.iter().map(|(host, t)| {
        let cmd = &cmd;
        async move {
            match run_op(&inner.spec, t.as_ref(), cmd).await {
                Ok(out) if out.success() || out.status == script::NOT_OURS => None,
                Ok(out) => Some((host.clone(), first_line(&out.stderr_str(), out.status))),
                Err(e) => Some((host.clone(), e)),
            }
        }
    }))
    .await
    .into_iter()
    .flatten()
    .collect()
}

impl Drop for Lock {
    /// The way out that did not call [`Lock::release`] (an error returned early, a panic unwinding): release
    /// here, blocking, since the process may end right after.
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        if self.done {
            return;
        }
        self.done = true;
        let inner = self.inner.clone();
        *inner.result.lock().expect("result") = "ended by an error".into();
        tracing::debug!("releasing the cluster lock from its guard");
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| h.block_on(release_with_audit(&inner)));
            }
            // A current-thread runtime cannot block inside itself: hand the release to it.
            Ok(h) => {
                h.spawn(async move { release_with_audit(&inner).await });
            }
            Err(_) => {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(release_with_audit(&inner));
                }
            }
        }
    }
}

/// What every lock host says about the lease (reads only; `plan`, `lock status`).
pub async fn status(
    spec: &LockSpec,
    transports: &BTreeMap<String, Arc<dyn Transport>>,
) -> Vec<HostLease> {
    let cmd = script::status();
    join_all(spec.hosts.iter().map(|host| {
        let cmd = &cmd;
        async move {
            let answer = match transports.get(host) {
                None => Err("not reached".to_string()),
                Some(t) => match run_op(spec, t.as_ref(), cmd).await {
                    Ok(out) if out.success() => Ok(script::parse(&out.stdout_str())),
                    Ok(out) => Err(first_line(&out.stderr_str(), out.status)),
                    Err(e) => Err(e),
                },
            };
            HostLease {
                host: host.clone(),
                answer,
            }
        }
    }))
    .await
}

/// What a forced release did on one lock host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Released {
    /// The lease with that id was removed.
    Released,
    /// The host held no lease.
    Free,
    /// Another lease holds the host: its id.
    NotThatId(String),
    /// Not reached or failed.
    Failed(String),
}

/// Removes the lease `id` from every lock host where it is the one held (`lock release --force`), appending
/// `entry` (with the result filled in per host) to each host's audit log — refusals included.
pub async fn force_release(
    spec: &LockSpec,
    transports: &BTreeMap<String, Arc<dyn Transport>>,
    id: &str,
    entry: &audit::Entry,
) -> Vec<(String, Released)> {
    join_all(spec.hosts.iter().map(|host| async move {
        let Some(t) = transports.get(host) else {
            return (host.clone(), Released::Failed("not reached".into()));
        };
        let mut done = entry.clone();
        done.result = "released".into();
        let cmd = script::release(id, &done.line());
        let r = match run_op(spec, t.as_ref(), &cmd).await {
            Ok(out) if out.success() => match script::parse(&out.stdout_str()).released {
                Some(_) => Released::Released,
                None => Released::Free,
            },
            Ok(out) if out.status == script::NOT_OURS => {
                let other = script::parse(&out.stdout_str())
                    .id()
                    .unwrap_or("-")
                    .to_string();
                let mut refused = entry.clone();
                refused.result = format!("refused: the lock held is {other}");
                let _ = run_op(spec, t.as_ref(), &script::audit(&refused.line())).await;
                Released::NotThatId(other)
            }
            Ok(out) => Released::Failed(first_line(&out.stderr_str(), out.status)),
            Err(e) => Released::Failed(e),
        };
        (host.clone(), r)
    }))
    .await
}

/// The audit logs of the lock hosts, merged (`clusterctl history`), and the hosts that could not be read.
pub async fn history(
    spec: &LockSpec,
    transports: &BTreeMap<String, Arc<dyn Transport>>,
) -> (Vec<audit::Entry>, Vec<(String, String)>) {
    let cmd = script::history();
    let reads = join_all(spec.hosts.iter().map(|host| {
        let cmd = &cmd;
        async move {
            let r = match transports.get(host) {
                None => Err("not reached".to_string()),
                Some(t) => match run_op(spec, t.as_ref(), cmd).await {
                    Ok(out) if out.success() => Ok(out.stdout_str().into_owned()),
                    // No log yet.
                    Ok(out) if out.stderr_str().contains("No such file") => Ok(String::new()),
                    Ok(out) => Err(first_line(&out.stderr_str(), out.status)),
                    Err(e) => Err(e),
                },
            };
            (host.clone(), r)
        }
    }))
    .await;
    let mut logs = Vec::new();
    let mut failed = Vec::new();
    for (host, r) in reads {
        match r {
            Ok(text) => logs.push(text),
            Err(e) => failed.push((host, e)),
        }
    }
    (audit::merge(logs.iter().map(String::as_str)), failed)
}

#[cfg(test)]
mod tests;
