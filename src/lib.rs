//! clusterctl: Kubernetes-format manifests in Git → containers on docker hosts over SSH.
//! The module layout follows the data flow; see docs/architecture.md.

pub mod apply;
pub mod cidr;
pub mod cli;
pub mod controllers;
pub mod inventory;
pub mod manifest;
pub mod model;
pub mod network;
pub mod nodes;
pub mod observe;
pub mod output;
pub mod plan;
pub mod quantity;
pub mod runtime;
pub mod scheduler;
pub mod selector;
pub mod services;
pub mod source;
pub mod transport;
pub mod view;
