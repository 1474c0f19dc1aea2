//! The kubelet's crash back-off (client-go `flowcontrol.Backoff` as the kubelet configures it): initial 10 s,
//! doubled on every restart, capped at 300 s, forgotten after 600 s (2 × max) without a new failure.
//! Pure arithmetic over whole seconds; the caller passes the clock.

use crate::model::BackOffEntry;

/// The first delay (kubelet: 10 s).
pub const INITIAL_SECS: u64 = 10;
/// The cap (kubelet `MaxContainerBackOff`: 300 s).
pub const MAX_SECS: u64 = 300;

/// An entry expires when the event comes more than 2 × max after its last update (client-go `hasExpired`).
fn expired(entry: &BackOffEntry, event_time: i64) -> bool {
    let last = parse(&entry.last_update).unwrap_or(i64::MIN / 2);
    event_time - last > 2 * MAX_SECS as i64
}

/// client-go `IsInBackOffSince(id, eventTime)`: an unexpired entry exists and `now − eventTime < delay`.
pub fn in_back_off_since(entry: Option<&BackOffEntry>, event_time: i64, now: i64) -> bool {
    match entry {
        Some(e) if !expired(e, event_time) => now - event_time < e.delay_seconds as i64,
        _ => false,
    }
}

/// client-go `Next(id, eventTime)`: a missing or expired entry starts at the initial delay, else the delay
/// doubles up to the cap; `lastUpdate` becomes now.
pub fn next(entry: Option<&BackOffEntry>, event_time: i64, now: i64) -> BackOffEntry {
    let delay_seconds = match entry {
        Some(e) if !expired(e, event_time) => (e.delay_seconds * 2).min(MAX_SECS),
        _ => INITIAL_SECS,
    };
    BackOffEntry {
        delay_seconds,
        last_update: format_secs(now),
    }
}

/// RFC 3339 → whole seconds since the epoch.
pub fn parse(s: &str) -> Option<i64> {
    if s.is_empty() || s.starts_with("0001-01-01") {
        return None;
    }
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// Whole seconds → RFC 3339 (`2026-12-01T12:00:00Z`).
pub fn format_secs(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Go's `time.Duration.String()` for whole seconds, as the kubelet's back-off message prints it:
/// `10s`, `40s`, `1m20s`, `2m40s`, `5m0s`.
pub fn go_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A container that crashes at once every time it is started: the delays the kubelet waits
    /// between an exit and the next start are 0 (first restart), 10, 20, 40, 80, 160, 300, 300 s.
    #[test]
    fn delays_double_from_10s_to_the_5min_cap() {
        let mut entry: Option<BackOffEntry> = None;
        let mut now = 1_000_000i64;
        let mut gaps = Vec::new();
        for _ in 0..9 {
            let exited = now; // crashed at once
            let mut t = exited;
            while in_back_off_since(entry.as_ref(), exited, t) {
                t += 1;
            }
            gaps.push(t - exited);
            entry = Some(next(entry.as_ref(), exited, t));
            now = t;
        }
        assert_eq!(gaps, [0, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn ten_minutes_without_a_failure_resets_the_sequence() {
        let e = next(None, 0, 0);
        assert_eq!(e.delay_seconds, 10);
        let e = next(Some(&e), 100, 100);
        assert_eq!(e.delay_seconds, 20);
        // Ran for exactly 600 s after the last restart: not expired yet (client-go uses `>`).
        let e2 = next(Some(&e), 700, 700);
        assert_eq!(e2.delay_seconds, 40);
        // Ran for 601 s: the entry is forgotten, back to 10 s, and no back-off applies to that exit.
        assert!(!in_back_off_since(Some(&e), 701, 701));
        assert_eq!(next(Some(&e), 701, 701).delay_seconds, 10);
    }

    #[test]
    fn go_durations_as_the_kubelet_prints_them() {
        let got: Vec<String> = [10, 40, 80, 160, 300, 3600]
            .into_iter()
            .map(go_duration)
            .collect();
        assert_eq!(got, ["10s", "40s", "1m20s", "2m40s", "5m0s", "1h0m0s"]);
    }

    #[test]
    fn timestamps_round_trip() {
        let t = parse("2026-12-01T12:00:00.123456789Z").unwrap();
        assert_eq!(format_secs(t), "2026-12-01T12:00:00Z");
        assert_eq!(parse("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse(""), None);
    }
}
