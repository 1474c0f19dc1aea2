//! The lock's one host-side program: a constant POSIX `sh` script, run as `sh -c SCRIPT clusterctl-lock OP ID
//! TTL_MS` with the holder record or the audit line on stdin. Values only ever arrive as positional
//! parameters or stdin, never inside the script text, so nothing a user writes is parsed by a shell.
//! Pure: builds the [`Cmd`]s and parses what the script prints.
//!
//! ## Why a take is race-free on one host
//! Every operation that writes runs under `flock` on `/var/lib/clusterctl/lock.flock`, so the read of the
//! current lease, the comparison with the host's clock and the write of the new lease are one atomic
//! compare-and-swap: two takers on the same host are serialised and the second sees the first's lease.
//! The flock is held by the script's own file descriptor, so a taker killed mid-way (its ssh session
//! dropped) releases it with its process; nothing is ever left "half held". The new lock directory is
//! built beside the old one and renamed into place (`mv -T`, one `rename(2)`), so a reader without the
//! flock sees the old record or the new one, never half of one.
//!
//! ## Whose clock
//! A lease's expiry is written and judged by the lock host's own clock (`date +%s%3N` inside the script):
//! the taker sends a TTL, never a time. The client's clock takes no part, so a client whose clock is wrong
//! can neither extend nor shorten anyone's lease (docs/locking.md).

use crate::cmd::Cmd;

/// Where the lock lives on each lock host: a directory that exists while a lease is held, with `holder`
/// (the JSON record) and `lease` (`ID EXPIRES_MS`, host clock) inside.
pub const LOCK_DIR: &str = "/var/lib/clusterctl/lock";
/// The append-only audit log (JSON lines) on each lock host.
pub const AUDIT_LOG: &str = "/var/lib/clusterctl/audit.log";
/// `$0` of the script, so `ps` on a host shows what runs.
const NAME: &str = "clusterctl-lock";

/// Exit status of `acquire` when another holder's lease is live.
pub const HELD: i32 = 3;
/// Exit status of `renew`/`release` when the lease is not (or no longer) the caller's.
pub const NOT_OURS: i32 = 4;

/// The script. A record without a `lease` file was written by a clusterctl before leases (or by hand): it
/// never expires and its id is the first 12 hex digits of its SHA-256, which `lock status` shows.
pub const SCRIPT: &str = r#"set -eu
op=$1 id=${2-} ttl=${3-0}
d=/var/lib/clusterctl
l=$d/lock
if [ "$op" = status ]; then
  if [ -e "$d/lock.flock" ]; then
    exec 9<"$d/lock.flock"
    flock -s -w 10 9 || { echo "the lock file is busy" >&2; exit 75; }
  fi
else
  mkdir -p "$d"
  exec 9>>"$d/lock.flock"
  flock -w 10 9 || { echo "the lock file is busy" >&2; exit 75; }
fi
now=$(date +%s%3N)
cur=
exp=
if [ -d "$l" ]; then
  if [ -f "$l/lease" ]; then read -r cur exp <"$l/lease" || :; fi
  if [ -z "$cur" ]; then
    cur=$(cat "$l/holder" 2>/dev/null | sha256sum | cut -c1-12)
    exp=never
  fi
fi
show() {
  echo "now $now"
  if [ -n "$cur" ]; then
    echo "lease $cur $exp"
    printf 'holder '
    cat "$l/holder" 2>/dev/null || :
    echo
  fi
}
live() {
  [ -n "$cur" ] || return 1
  [ "$exp" = never ] && return 0
  [ "$now" -lt "$exp" ] 2>/dev/null
}
case $op in
status) show ;;
acquire)
  if [ "$cur" != "$id" ] && live; then show; exit 3; fi
  if [ -n "$cur" ] && [ "$cur" != "$id" ]; then echo "took-over $cur"; fi
  rm -rf "$d/lock.new"
  mkdir "$d/lock.new"
  cat >"$d/lock.new/holder"
  echo "$id $((now + ttl))" >"$d/lock.new/lease"
  rm -rf "$l"
  mv -T "$d/lock.new" "$l"
  cur=$id
  exp=$((now + ttl))
  show ;;
renew)
  if [ "$cur" != "$id" ]; then show; exit 4; fi
  echo "$id $((now + ttl))" >"$l/lease.new"
  mv -f "$l/lease.new" "$l/lease"
  exp=$((now + ttl))
  show ;;
release)
  if [ -n "$cur" ] && [ "$cur" != "$id" ]; then show; exit 4; fi
  cat >>"$d/audit.log"
  rm -rf "$l"
  if [ -n "$cur" ]; then echo "released $cur"; else echo free; fi ;;
audit) cat >>"$d/audit.log" ;;
*) echo "unknown lock operation $op" >&2; exit 2 ;;
esac
"#;

fn script(op: &str, args: &[&str], mutating: bool) -> Cmd {
    let mut argv = vec!["-c", SCRIPT, NAME, op];
    argv.extend_from_slice(args);
    if mutating {
        Cmd::write("sh", argv)
    } else {
        Cmd::read("sh", argv)
    }
}

/// Takes the lock for `id` for `ttl_ms` (host clock) unless another live lease holds it.
pub fn acquire(id: &str, ttl_ms: u64, holder_json: &str) -> Cmd {
    script("acquire", &[id, &ttl_ms.to_string()], true).with_stdin(holder_json)
}

/// Extends `id`'s lease to `ttl_ms` from now (host clock), if it is still `id`'s.
pub fn renew(id: &str, ttl_ms: u64) -> Cmd {
    script("renew", &[id, &ttl_ms.to_string()], true)
}

/// Removes the lock if it is `id`'s (or free), appending `audit` (JSON lines, may be empty) first.
pub fn release(id: &str, audit: &str) -> Cmd {
    script("release", &[id], true).with_stdin(audit)
}

/// Appends `audit` (JSON lines) to the audit log.
pub fn audit(lines: &str) -> Cmd {
    script("audit", &[], true).with_stdin(lines)
}

/// Prints the host's clock and the lease, if any. Writes nothing.
pub fn status() -> Cmd {
    script("status", &[], false)
}

/// The audit log (absent until the first entry).
pub fn history() -> Cmd {
    Cmd::read("cat", [AUDIT_LOG])
}

/// When a lease ends, by its lock host's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Milliseconds since the epoch, host clock.
    At(i64),
    /// A record from before leases.
    Never,
}

/// What the script printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// The host's clock when it answered, ms since the epoch.
    pub now_ms: Option<i64>,
    /// The lease on the host after the operation: (id, expiry).
    pub lease: Option<(String, Expiry)>,
    /// The holder record, as stored.
    pub holder: Option<String>,
    /// `acquire` replaced this expired lease.
    pub took_over: Option<String>,
    /// `release` removed this lease (None: it was free already).
    pub released: Option<String>,
}

impl Answer {
    /// The lease is live by the host's clock.
    pub fn live(&self) -> bool {
        match (&self.lease, self.now_ms) {
            (Some((_, Expiry::Never)), _) => true,
            (Some((_, Expiry::At(at))), Some(now)) => now < *at,
            _ => false,
        }
    }

    /// Milliseconds the lease has left by the host's clock (negative: expired that long ago).
    pub fn remaining_ms(&self) -> Option<i64> {
        match (&self.lease, self.now_ms) {
            (Some((_, Expiry::At(at))), Some(now)) => Some(at - now),
            _ => None,
        }
    }

    pub fn id(&self) -> Option<&str> {
        self.lease.as_ref().map(|(id, _)| id.as_str())
    }
}

/// Parses the script's stdout; unknown lines are ignored (an empty answer is a valid one: "free").
pub fn parse(stdout: &str) -> Answer {
    let mut a = Answer::default();
    for line in stdout.lines() {
        let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "now" => a.now_ms = rest.trim().parse().ok(),
            "lease" => {
                let mut f = rest.split_whitespace();
                if let (Some(id), Some(exp)) = (f.next(), f.next()) {
                    let exp = match exp {
                        "never" => Expiry::Never,
                        n => match n.parse() {
                            Ok(ms) => Expiry::At(ms),
                            // A damaged lease file: the script treats it as expired, and so do we.
                            Err(_) => Expiry::At(i64::MIN),
                        },
                    };
                    a.lease = Some((id.to_string(), exp));
                }
            }
            "holder" if !rest.trim().is_empty() => a.holder = Some(rest.trim().to_string()),
            "took-over" => a.took_over = Some(rest.trim().to_string()),
            "released" => a.released = Some(rest.trim().to_string()),
            _ => {}
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// Runs the real script with `sh` in a temp dir standing in for /var/lib/clusterctl.
    struct Host(tempfile::TempDir);

    impl Host {
        fn new() -> Host {
            Host(tempfile::tempdir().unwrap())
        }
        fn run(&self, cmd: &Cmd) -> (i32, Answer, String) {
            let dir = self.0.path().display().to_string();
            let args: Vec<String> = cmd
                .args
                .iter()
                .map(|a| a.replace("/var/lib/clusterctl", &dir))
                .collect();
            let mut child = Command::new("sh")
                .args(&args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin
                .write_all(cmd.stdin.as_deref().unwrap_or("").as_bytes())
                .unwrap();
            drop(stdin);
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            (
                out.status.code().unwrap_or(-1),
                parse(&stdout),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
        fn file(&self, rel: &str) -> Option<String> {
            std::fs::read_to_string(self.0.path().join(rel)).ok()
        }
    }

    #[test]
    fn a_live_lease_refuses_others_and_an_expired_one_is_taken_over() {
        let h = Host::new();
        let (code, a, err) = h.run(&acquire("aaa", 60_000, r#"{"user":"a"}"#));
        assert_eq!(code, 0, "{err}");
        assert_eq!(a.id(), Some("aaa"));
        assert!(a.live() && a.remaining_ms() == Some(60_000), "{a:?}");
        assert_eq!(a.holder.as_deref(), Some(r#"{"user":"a"}"#));
        // Another taker is refused and told who holds it.
        let (code, b, _) = h.run(&acquire("bbb", 60_000, r#"{"user":"b"}"#));
        assert_eq!(code, HELD);
        assert_eq!(b.id(), Some("aaa"));
        assert_eq!(b.holder.as_deref(), Some(r#"{"user":"a"}"#));
        // The holder itself may take it again (a retry) and renew it.
        assert_eq!(h.run(&acquire("aaa", 60_000, r#"{"user":"a"}"#)).0, 0);
        assert_eq!(h.run(&renew("aaa", 60_000)).0, 0);
        assert_eq!(h.run(&renew("bbb", 60_000)).0, NOT_OURS);
        // A lease of 0 ms is expired at once: the next taker replaces it and says whose it was.
        assert_eq!(h.run(&acquire("aaa", 0, r#"{"user":"a"}"#)).0, 0);
        let (code, c, _) = h.run(&acquire("ccc", 60_000, r#"{"user":"c"}"#));
        assert_eq!(code, 0);
        assert_eq!(c.took_over.as_deref(), Some("aaa"));
        // The expired holder can no longer renew: its lease is gone.
        assert_eq!(h.run(&renew("aaa", 60_000)).0, NOT_OURS);
        assert_eq!(h.file("lock/holder").as_deref(), Some(r#"{"user":"c"}"#));
    }

    #[test]
    fn release_needs_the_id_and_appends_the_audit_line() {
        let h = Host::new();
        assert_eq!(h.run(&acquire("aaa", 60_000, "{}")).0, 0);
        let (code, a, _) = h.run(&release("zzz", "{\"r\":1}\n"));
        assert_eq!(code, NOT_OURS);
        assert_eq!(a.id(), Some("aaa"));
        assert!(
            h.file("lock/holder").is_some(),
            "a wrong id released nothing"
        );
        assert_eq!(h.file("audit.log"), None, "nor audited");
        let (code, a, _) = h.run(&release("aaa", "{\"r\":2}\n"));
        assert_eq!((code, a.released.as_deref()), (0, Some("aaa")));
        assert!(h.file("lock").is_none());
        assert_eq!(h.file("audit.log").as_deref(), Some("{\"r\":2}\n"));
        // Released twice: free, still fine.
        assert_eq!(h.run(&release("aaa", "")).1.released, None);
        assert_eq!(h.run(&audit("{\"r\":3}\n")).0, 0);
        assert_eq!(
            h.file("audit.log").as_deref(),
            Some("{\"r\":2}\n{\"r\":3}\n")
        );
    }

    #[test]
    fn a_record_without_a_lease_never_expires_and_has_a_derived_id() {
        let h = Host::new();
        std::fs::create_dir_all(h.0.path().join("lock")).unwrap();
        std::fs::write(h.0.path().join("lock/holder"), r#"{"user":"old"}"#).unwrap();
        let (code, a, _) = h.run(&status());
        assert_eq!(code, 0);
        let id = a.id().unwrap().to_string();
        assert_eq!(id.len(), 12);
        assert!(a.live() && a.lease.as_ref().unwrap().1 == Expiry::Never);
        assert_eq!(h.run(&acquire("bbb", 0, "{}")).0, HELD);
        assert!(h.file("lock.flock").is_some());
        assert_eq!(h.run(&release(&id, "")).0, 0);
        assert!(h.file("lock").is_none());
    }

    #[test]
    fn status_writes_nothing() {
        let h = Host::new();
        let (code, a, _) = h.run(&status());
        assert_eq!(code, 0);
        assert!(a.now_ms.is_some() && a.lease.is_none());
        assert_eq!(std::fs::read_dir(h.0.path()).unwrap().count(), 0);
        assert!(!status().mutating);
    }

    #[test]
    fn values_reach_the_script_as_arguments_only() {
        let cmd = acquire("$(touch x)", 1000, "{}");
        assert_eq!(cmd.args[1], SCRIPT, "the script text is constant");
        assert_eq!(&cmd.args[2..], [NAME, "acquire", "$(touch x)", "1000"]);
    }
}
