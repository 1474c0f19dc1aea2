//! clusterctl: Kubernetes-format manifests in Git → containers on docker hosts over SSH.
//! The module layout follows the data flow; see docs/architecture.md, whose module graph `module_graph`'s
//! test enforces. Only `cli::ui` prints.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod age;
pub mod apply;
pub mod cidr;
pub mod cli;
pub mod cmd;
pub mod controllers;
pub mod dns;
pub mod inventory;
pub mod manifest;
pub mod model;
#[cfg(test)]
mod module_graph;
pub mod network;
pub mod nodes;
pub mod observe;
pub mod output;
pub mod plan;
pub mod quantity;
pub mod rules;
pub mod runtime;
pub mod scheduler;
pub mod selector;
pub mod services;
pub mod source;
pub mod supervisor;
pub mod transport;
pub mod view;
pub mod yaml;
