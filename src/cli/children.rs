//! Local helper processes clusterctl starts for streaming (`ssh` for `logs -f`, `exec`, `port-forward`):
//! they must never outlive it. Each is registered while it runs, and a signal that ends clusterctl
//! (`cli::signals`) terminates them first ([`kill_all`]); as a backstop, the kernel sends them SIGTERM when
//! clusterctl dies in any other way (`PR_SET_PDEATHSIG`).

use std::collections::BTreeSet;
use std::sync::Mutex;

static RUNNING: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// A spawned helper; unregistered (and killed, if still running) when dropped.
pub struct Owned {
    pub child: tokio::process::Child,
    pid: Option<u32>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            if let Ok(mut set) = RUNNING.lock() {
                set.remove(&pid);
            }
        }
    }
}

/// Spawns `cmd` as an owned helper: killed on drop, on clusterctl's signals and when clusterctl dies.
pub fn spawn(mut cmd: std::process::Command) -> std::io::Result<Owned> {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec here.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    let child = cmd.spawn()?;
    let pid = child.id();
    if let Some(pid) = pid {
        if let Ok(mut set) = RUNNING.lock() {
            set.insert(pid);
        }
    }
    Ok(Owned { child, pid })
}

/// Terminates every running helper (SIGTERM: ssh restores the terminal and closes its channel).
pub fn kill_all() {
    let pids: Vec<u32> = RUNNING
        .lock()
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default();
    for pid in pids {
        // SAFETY: signalling a pid we spawned and have not reaped (it is unregistered once dropped).
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
}
