//! Writes the plan benchmark's synthetic cluster to a directory, to measure the real CLI's time and peak
//! memory: `cargo run --release --example bench_fixture -- DIR` then
//! `/usr/bin/time -v target/release/clusterctl --cluster DIR/cluster.yaml --repo DIR plan --observed DIR/state.json`.
//! An optional second argument sets the number of hosts (default 1,000; 15 pods each, 50 Deployments).

#[path = "../benches/fixture.rs"]
mod fixture;

use std::process::Command;

fn main() {
    let usage = "usage: bench_fixture DIR [HOSTS]";
    let dir = std::env::args().nth(1).expect(usage);
    let hosts: usize = std::env::args()
        .nth(2)
        .map_or(1_000, |h| h.parse().expect(usage));
    let dir = std::path::Path::new(&dir);
    let fx = fixture::build(hosts, 15, 50);
    std::fs::create_dir_all(dir.join("apps")).unwrap();
    std::fs::write(dir.join("cluster.yaml"), &fx.cluster_yaml).unwrap();
    std::fs::write(dir.join("state.json"), &fx.snapshot_json).unwrap();
    for f in &fx.files {
        std::fs::write(dir.join(&f.path), &f.bytes).unwrap();
    }
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(args)
            .current_dir(dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "git {args:?} failed");
    };
    git(&["init", "-q"]);
    git(&["add", "apps"]);
    git(&[
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@clusterctl.local",
        "commit",
        "-qm",
        "bench fixture",
    ]);
    println!(
        "wrote {} (cluster.yaml, state.json, apps/ committed)",
        dir.display()
    );
}
