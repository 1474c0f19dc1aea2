//! The reconciler's log: one structured line per action on stderr, `key=value` text (logfmt) or a JSON
//! object per line (`--log-format json`), with the same keys in the same order: time, level, round,
//! commit, event, then the event's own fields (host, change, result, message…).

use clap::ValueEnum;

use crate::cli::Ui;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

#[derive(Clone)]
pub struct Log {
    pub ui: Ui,
    pub format: LogFormat,
}

/// A logfmt value: bare when it has no space, quote or `=`, else quoted with escapes.
fn logfmt(v: &str) -> String {
    if !v.is_empty()
        && !v
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '=' || c.is_control())
    {
        v.to_string()
    } else {
        format!("{v:?}")
    }
}

impl Log {
    /// The line for an event; `round` 0 and an empty `commit` are left out.
    pub fn render(
        &self,
        time: &str,
        level: Level,
        round: u64,
        commit: &str,
        event: &str,
        fields: &[(&str, String)],
    ) -> String {
        let mut all: Vec<(&str, String)> =
            vec![("time", time.to_string()), ("level", level.word().into())];
        if round > 0 {
            all.push(("round", round.to_string()));
        }
        if !commit.is_empty() {
            all.push(("commit", commit.to_string()));
        }
        all.push(("event", event.to_string()));
        all.extend(fields.iter().cloned());
        match self.format {
            LogFormat::Text => all
                .iter()
                .map(|(k, v)| format!("{k}={}", logfmt(v)))
                .collect::<Vec<_>>()
                .join(" "),
            LogFormat::Json => {
                let mut m = serde_json::Map::new();
                for (k, v) in all {
                    let value = match k {
                        "round" => serde_json::Value::from(round),
                        _ => serde_json::Value::from(v),
                    };
                    m.insert(k.to_string(), value);
                }
                serde_json::Value::Object(m).to_string()
            }
        }
    }

    pub fn event(
        &self,
        level: Level,
        round: u64,
        commit: &str,
        event: &str,
        fields: &[(&str, String)],
    ) {
        let now = format!("{:.0}", jiff::Timestamp::now());
        self.ui
            .info(&self.render(&now, level, round, commit, event, fields));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(format: LogFormat) -> Log {
        Log {
            ui: Ui {
                color: false,
                stderr_tty: false,
                stdin_tty: false,
                stdin_terminal: false,
            },
            format,
        }
    }

    #[test]
    fn text_and_json_lines_carry_the_same_keys_in_order() {
        let fields = [
            ("host", "k8s-node1".to_string()),
            ("change", "default/web-0".to_string()),
            ("message", "exited with 1: no such image".to_string()),
        ];
        let t = "2026-12-01T12:00:00Z";
        assert_eq!(
            log(LogFormat::Text).render(t, Level::Error, 3, "abc1234", "create", &fields),
            "time=2026-12-01T12:00:00Z level=error round=3 commit=abc1234 event=create host=k8s-node1 change=default/web-0 message=\"exited with 1: no such image\""
        );
        assert_eq!(
            log(LogFormat::Json).render(t, Level::Info, 3, "abc1234", "create", &fields[..2]),
            r#"{"time":"2026-12-01T12:00:00Z","level":"info","round":3,"commit":"abc1234","event":"create","host":"k8s-node1","change":"default/web-0"}"#
        );
        assert_eq!(
            log(LogFormat::Text).render(t, Level::Info, 0, "", "started", &[]),
            "time=2026-12-01T12:00:00Z level=info event=started"
        );
    }
}
