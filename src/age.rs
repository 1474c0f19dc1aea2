//! Durations and timestamps as kubectl prints them: `HumanDuration` (AGE, DURATION, "ago") and the RFC 1123
//! timestamps of `describe`. Pure: `now` is always passed in, never read from the clock here.
//! A leaf of the module graph (docs/architecture.md): `view` (the RESTARTS "ago") and `output` both use it.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// kubectl's `duration.HumanDuration`: a short, lossy rendering whose precision shrinks as the duration grows
/// (`114s`, `3m10s`, `13m`, `18h`, `2d23h`, `367d`, `2y1d`).
pub fn human_duration(d: SignedDuration) -> String {
    // Whole seconds, truncated toward zero like Go's int(d.Seconds()); up to one second in the future is
    // tolerated as clock skew between machines.
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let (days, h) = (hours / 24, hours % 24);
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let (years, days) = (hours / 24 / 365, hours / 24 % 365);
        return if days == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{days}d")
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The AGE cell: `HumanDuration(now - created)`, `<unknown>` when the timestamp is missing.
pub fn age(created: Option<&Time>, now: Timestamp) -> String {
    match created {
        Some(t) => human_duration(now.duration_since(t.0)),
        None => "<unknown>".to_string(),
    }
}

/// Go's `time.RFC1123Z` layout (`Sun, 25 Sep 2022 18:20:27 +0800`), as `describe` prints timestamps.
/// clusterctl prints UTC (`+0000`) so output does not depend on the machine's time zone.
pub fn rfc1123z(t: &Time) -> String {
    t.0.strftime("%a, %d %b %Y %H:%M:%S %z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hd(secs: i64) -> String {
        human_duration(SignedDuration::from_secs(secs))
    }

    #[test]
    fn upstream_vectors() {
        // duration_test.go (TestHumanDuration) and the boundaries listed in the semantics doc §6.3.
        let m = 60;
        let h = 3600;
        let d = 24 * h;
        let cases = [
            (1, "1s"),
            (70, "70s"),
            (190, "3m10s"),
            (70 * m, "70m"),
            (47 * h, "47h"),
            (49 * h, "2d1h"),
            (8 * d + 2 * h, "8d"),
            (367 * d, "367d"),
            ((365 * 2 + 1) * d, "2y1d"),
            ((365 * 8) * d + 2 * h, "8y"),
            (119, "119s"),
            (2 * m, "2m"),
            (2 * m + 1, "2m1s"),
            (9 * m + 59, "9m59s"),
            (10 * m, "10m"),
            (179 * m, "179m"),
            (3 * h, "3h"),
            (3 * h + m, "3h1m"),
            (7 * h + 59 * m, "7h59m"),
            (8 * h, "8h"),
            (2 * d, "2d"),
            (7 * d + 23 * h, "7d23h"),
            (8 * d, "8d"),
            (729 * d, "729d"),
            (2 * 365 * d, "2y"),
            (7 * 365 * d + 364 * d, "7y364d"),
            (8 * 365 * d, "8y"),
        ];
        for (secs, want) in cases {
            assert_eq!(hd(secs), want, "{secs}s");
        }
    }

    #[test]
    fn seed_ages() {
        // AGE cells seen in the seed walkthrough.
        assert_eq!(hd(114), "114s");
        assert_eq!(hd(3 * 60 + 10), "3m10s");
        assert_eq!(hd(13 * 60 + 30), "13m");
        assert_eq!(hd(18 * 3600 + 59 * 60), "18h");
        assert_eq!(hd(2 * 86400 + 23 * 3600 + 59 * 60), "2d23h");
    }

    #[test]
    fn negative_and_missing() {
        assert_eq!(human_duration(SignedDuration::from_millis(-1500)), "0s");
        assert_eq!(hd(-1), "0s");
        assert_eq!(hd(-2), "<invalid>");
        assert_eq!(age(None, Timestamp::now()), "<unknown>");
    }

    #[test]
    fn age_and_rfc1123z() {
        let t: Timestamp = "2022-09-25T10:20:27Z".parse().unwrap();
        let k = Time(t);
        assert_eq!(rfc1123z(&k), "Sun, 25 Sep 2022 10:20:27 +0000");
        let now = t + SignedDuration::from_secs(114);
        assert_eq!(age(Some(&k), now), "114s");
    }
}
