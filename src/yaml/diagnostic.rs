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
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
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
