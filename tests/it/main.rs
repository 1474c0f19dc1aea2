//! The integration suite: one binary, run against the testbed's real hosts (scripts/testbed).
//! `scripts/test` brings the testbed up before and takes it down after; see docs/testing.md.

mod cli_contract;
mod common;
mod daemonset;
mod gitops;
mod images;
mod pipeline;
mod scheduling;
mod services;
mod ssh_runtime;
mod testbed;
mod transport;
