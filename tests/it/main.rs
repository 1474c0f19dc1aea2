//! The integration suite: one binary, run against the testbed's real hosts (scripts/testbed).
//! `scripts/test` brings the testbed up before and takes it down after; see docs/testing.md.

mod cli_contract;
mod common;
mod config;
mod daemonset;
mod day2;
mod dns;
mod faults;
mod gitops;
mod gitops_https;
mod gitops_remote;
mod heal;
mod history;
mod hostile;
mod images;
mod jobs;
mod lease;
mod lifecycle;
mod load_balancer;
mod network;
mod pipeline;
mod podsec;
mod probes;
mod reconcile;
mod registry_auth;
mod restarts;
mod rollout;
mod scheduling;
mod services;
mod sops;
mod ssh_runtime;
mod storage;
mod testbed;
mod transport;
