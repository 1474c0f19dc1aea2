//! Rendering to text, byte-identical to kubectl where kubectl has an equivalent: `get` tables (`table`),
//! `describe` (`describe`), plans and apply reports (`plan`), `-o json|yaml` (`objects`); AGE cells come from `crate::age`. Everything here returns `String`s;
//! the CLI is the one place that prints them (tables to stdout, [`Rendered::Empty`] messages to stderr).
//! Pure: no IO, no clock — `now` is always a parameter so output is reproducible.

pub mod config;
pub mod describe;
pub mod events;
pub mod markdown;
pub mod objects;
pub mod plan;
pub mod quantity_fmt;
pub mod rollout;
pub mod saved;
pub mod storage;
pub mod summary;
pub mod table;
pub mod tabwriter;
pub mod top;

#[cfg(test)]
mod tests;

/// The result of a `get`: a table for stdout, or kubectl's "No resources found…" line for stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendered {
    Table(String),
    Empty(String),
}

impl Rendered {
    /// The text, whichever stream it belongs to.
    pub fn text(&self) -> &str {
        match self {
            Rendered::Table(s) | Rendered::Empty(s) => s,
        }
    }
}

/// Which namespaces a `get` covers; decides the NAMESPACE column and the empty-result message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `-n NS` (default `default`).
    Namespace(String),
    /// `-A`: a leading NAMESPACE column.
    AllNamespaces,
}

impl Scope {
    pub fn empty_message(&self) -> String {
        match self {
            Scope::Namespace(ns) => format!("No resources found in {ns} namespace."),
            Scope::AllNamespaces => "No resources found".to_string(),
        }
    }
}
