//! clusterctl's one integration test binary (`cargo test --test it`).
//!
//! Tests that touch hosts run against the testbed (scripts/testbed, docs/testing.md): set
//! `CLUSTERCTL_TESTBED` to a running testbed's state dir, or let `common::Testbed::get()` bring one up.

mod common;
mod testbed;
