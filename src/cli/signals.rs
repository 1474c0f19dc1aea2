//! SIGINT and SIGTERM. Outside a [`Shield`] a signal ends clusterctl at once with 130/143 (nothing is held
//! then). While a shield is up (apply, from taking the lock to releasing it) the first signal asks apply to
//! stop: no new change starts, running ones get [`GRACE`] to finish, the lock is released and what was and
//! was not done is printed. A second signal aborts at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use super::Ui;
use super::exit::ExitCode;
use crate::apply::{Stop, StopHandle};

/// How long running changes may take to finish after the first signal.
pub const GRACE: Duration = Duration::from_secs(10);

pub struct Signals {
    stop: Stop,
    received: Arc<AtomicI32>,
    shields: Arc<AtomicUsize>,
}

/// While alive, a signal stops apply gracefully instead of ending the process.
pub struct Shield(Arc<AtomicUsize>);

impl Drop for Shield {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub fn name(signo: i32) -> &'static str {
    if signo == 2 { "SIGINT" } else { "SIGTERM" }
}

impl Signals {
    /// Starts listening. Must run inside the tokio runtime.
    pub fn install(ui: Ui) -> std::io::Result<Signals> {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let (handle, stop) = Stop::channel();
        let received = Arc::new(AtomicI32::new(0));
        let shields = Arc::new(AtomicUsize::new(0));
        let (r, s) = (received.clone(), shields.clone());
        tokio::spawn(async move {
            loop {
                let signo = tokio::select! {
                    _ = int.recv() => 2,
                    _ = term.recv() => 15,
                };
                on_signal(signo, &r, &s, &handle, &ui);
            }
        });
        Ok(Signals {
            stop,
            received,
            shields,
        })
    }

    pub fn shield(&self) -> Shield {
        self.shields.fetch_add(1, Ordering::SeqCst);
        Shield(self.shields.clone())
    }

    /// What apply watches.
    pub fn stop(&self) -> &Stop {
        &self.stop
    }

    /// The first signal received, if any.
    pub fn received(&self) -> Option<i32> {
        Some(self.received.load(Ordering::SeqCst)).filter(|s| *s != 0)
    }
}

fn on_signal(
    signo: i32,
    received: &AtomicI32,
    shields: &AtomicUsize,
    handle: &StopHandle,
    ui: &Ui,
) {
    let first = received
        .compare_exchange(0, signo, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok();
    let code = ExitCode::for_signal(signo).code();
    if shields.load(Ordering::SeqCst) == 0 {
        // Streaming helpers (ssh) must not outlive us.
        super::children::kill_all();
        std::process::exit(code);
    }
    if !first {
        ui.error(&format!(
            "{} again: aborting at once; changes in flight may be half done and the cluster lock may be left (see `clusterctl unlock`)",
            name(signo)
        ));
        super::children::kill_all();
        std::process::exit(code);
    }
    ui.warn(&format!(
        "{}: stopping — no new change starts, running ones get {} s to finish, then the lock is released (send it again to abort at once)",
        name(signo),
        GRACE.as_secs()
    ));
    handle.stop(GRACE);
}
