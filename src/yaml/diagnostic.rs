//! Where a value was written ([`SourceRef`]) and a problem found there ([`Diagnostic`]), rendered as
//! `file:line:col: field.path: message` — the one shape of every manifest and inventory error.

use serde::{Deserialize, Serialize};

/// Where an object or value was written: `file:line:col` (1-based).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct SourceRef {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for SourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            escape_controls(&self.file),
            self.line,
            self.column
        )
    }
}

/// `s` with control characters (ANSI escapes, newlines, NUL…) written as `\xNN` / `\u{NNNN}`, so a file or
/// object name cannot move the cursor or fake a line in a message. Other text is unchanged.
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            c if (c as u32) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// `file:line:col: field.path: message`
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub source: SourceRef,
    pub severity: Severity,
    /// Kubernetes-style field path, e.g. `spec.template.spec.containers[0].ports[0].containerPort`.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.source, self.message)
        } else {
            write!(f, "{}: {}: {}", self.source, self.field, self.message)
        }
    }
}
