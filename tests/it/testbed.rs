//! The testbed itself (scripts/testbed): real sshd with strict host key checking on every host, a
//! real dockerd with the testbed's registry as its Docker Hub mirror (the app images come from it; only
//! the sandbox image, which no Docker Hub mirror serves, is preloaded), and a network on which the hosts, and the
//! containers they publish, reach each other. Everything later integration tests stand on.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::{Testbed, hosts_up, stdout_ok, unique};

/// The images every host can pull from the testbed's registry (its Docker Hub mirror) or has preloaded
/// (the sandbox image), by the names the manifests use.
const APP_IMAGES: &[&str] = &[
    "nginx",
    "nginx:latest",
    "nginx:1.14.2",
    "clusterctl/crash:latest",
    "clusterctl/job:latest",
    "busybox:latest",
    "registry.k8s.io/pause:3.9",
];

/// A shell line that retries `cmd` for up to ~10 s and prints its output once it succeeds.
fn retry(cmd: &str) -> String {
    format!(
        "for i in $(seq 50); do out=$({cmd}) && {{ echo \"$out\"; exit 0; }}; sleep 0.2; done; {cmd}"
    )
}

#[test]
fn ssh_with_strict_host_key_checking_reaches_every_host() {
    let tb = Testbed::get();
    let _up = hosts_up();
    assert!(
        tb.hosts.len() >= 2,
        "the testbed has fewer than 2 hosts: {:?}",
        tb.hosts
    );
    assert_eq!(tb.hosts[0].0, "k8s-master");
    for (name, _) in &tb.hosts {
        assert_eq!(tb.ssh_ok(name, "hostname").trim(), name);
        // docker exec reaches the same host.
        assert_eq!(
            stdout_ok("exec hostname", tb.exec(name, &["hostname"])).trim(),
            name
        );
    }
}

#[test]
fn unknown_or_wrong_host_key_is_refused() {
    let tb = Testbed::get();
    let _up = hosts_up();
    let dir = std::env::temp_dir().join(unique("clusterctl-known-hosts"));
    std::fs::create_dir_all(&dir).unwrap();
    let (host, addr) = &tb.hosts[0];

    // No key known for the host: refused, not accepted on first use.
    let empty = dir.join("empty");
    std::fs::write(&empty, "").unwrap();
    let out = tb.ssh_with_known_hosts(host, "true", &empty);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "ssh with an empty known_hosts succeeded"
    );
    assert!(
        stderr.contains("Host key verification failed"),
        "unexpected stderr: {stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&empty).unwrap(),
        "",
        "ssh wrote to known_hosts"
    );

    // Another host's key for this address: refused as a changed host key.
    let other_key = std::fs::read_to_string(tb.known_hosts())
        .unwrap()
        .lines()
        .find(|l| !l.starts_with(&format!("{addr} ")))
        .map(|l| l.split_once(' ').unwrap().1.to_string())
        .expect("known_hosts has another host's key");
    let wrong = dir.join("wrong");
    std::fs::write(&wrong, format!("{addr} {other_key}\n")).unwrap();
    let out = tb.ssh_with_known_hosts(host, "true", &wrong);
    assert!(
        !out.status.success(),
        "ssh with another host's key succeeded"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Host key verification failed"));

    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn docker_answers_on_every_host_and_gets_the_app_images_from_the_testbed_registry() {
    let tb = Testbed::get();
    let _up = hosts_up();
    for (name, _) in &tb.hosts {
        let version = tb.ssh_ok(name, "docker info --format '{{.ServerVersion}}'");
        assert!(
            !version.trim().is_empty(),
            "{name}: docker info printed no version"
        );
        let mirrors = tb.ssh_ok(
            name,
            "docker info --format '{{json .RegistryConfig.Mirrors}}'",
        );
        let registry = format!("{}.1:5000", tb.addr(name).rsplit_once('.').unwrap().0);
        assert_eq!(
            mirrors.trim(),
            format!("[\"http://{registry}/\"]"),
            "{name}"
        );
        // The sandbox image is preloaded (a Docker Hub mirror cannot serve registry.k8s.io).
        tb.ssh_ok(
            name,
            "docker image inspect -f '{{.Id}}' registry.k8s.io/pause:3.9",
        );
        // Everything else comes through the mirror (a no-op for what the host already pulled).
        for image in APP_IMAGES
            .iter()
            .filter(|i| !i.starts_with("registry.k8s.io/"))
        {
            tb.ssh_ok(name, &format!("docker pull -q {image}"));
        }
        tb.ssh_ok(
            name,
            "ctr version && test -x /usr/lib/cni/bridge && iptables -L -n >/dev/null",
        );
    }
}

#[test]
fn app_images_behave() {
    let tb = Testbed::get();
    let _up = hosts_up();
    let host = &tb.hosts[tb.hosts.len() - 1].0;
    let (crash, job, pause) = (unique("crash"), unique("job"), unique("pause"));
    let _cleanup = tb.on_drop(host, format!("docker rm -f {crash} {job} {pause}"));

    let out = tb.ssh(
        host,
        &format!("docker run --name {crash} clusterctl/crash:latest"),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "clusterctl/crash must exit 1: {out:?}"
    );

    let started = std::time::Instant::now();
    tb.ssh_ok(
        host,
        &format!("docker run --name {job} clusterctl/job:latest"),
    );
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "clusterctl/job must run for 3 s"
    );

    // The pod sandbox sleeps, and stops at once (exit 0) on SIGTERM.
    tb.ssh_ok(
        host,
        &format!("docker run -d --name {pause} registry.k8s.io/pause:3.9"),
    );
    // Exit code 0, not 137: it ended on docker's SIGTERM, before the 10 s SIGKILL (a wall-clock bound
    // would fail on a loaded machine without telling anything more).
    tb.ssh_ok(host, &format!("docker stop -t 10 {pause}"));
    let code = tb.ssh_ok(
        host,
        &format!("docker inspect -f '{{{{.State.ExitCode}}}}' {pause}"),
    );
    assert_eq!(code.trim(), "0");
}

#[test]
fn web_image_serves_its_page_on_every_host() {
    let tb = Testbed::get();
    let _up = hosts_up();
    std::thread::scope(|s| {
        for (host, _) in &tb.hosts {
            let tb = &tb;
            s.spawn(move || {
                let web = unique("web");
                let _cleanup = tb.on_drop(host, format!("docker rm -f {web}"));
                tb.ssh_ok(host, &format!("docker run -d --name {web} nginx:1.14.2"));
                let ip = tb.ssh_ok(
                    host,
                    &format!("docker inspect -f '{{{{.NetworkSettings.IPAddress}}}}' {web}"),
                );
                let id = tb.ssh_ok(
                    host,
                    &format!("docker inspect -f '{{{{.Config.Hostname}}}}' {web}"),
                );
                let (ip, id) = (ip.trim(), id.trim());
                // Fetched from another container on the same host, and from the host itself.
                let page = tb.ssh_ok(
                    host,
                    &retry(&format!("docker run --rm busybox wget -qO- http://{ip}/")),
                );
                assert!(
                    page.lines().any(|l| l == "Welcome to nginx!"),
                    "{host}: page: {page}"
                );
                assert!(
                    page.lines().any(|l| l == format!("served-by: {id} {ip}")),
                    "{host}: page: {page}"
                );
                let page = tb.ssh_ok(host, &format!("curl -fsS http://{ip}/"));
                assert!(page.contains("Welcome to nginx!"), "{host}: page: {page}");
            });
        }
    });
}

#[test]
fn every_host_reaches_every_other_host() {
    let tb = Testbed::get();
    let _up = hosts_up();
    for (host, addr) in &tb.hosts {
        let others: Vec<&str> = tb
            .hosts
            .iter()
            .filter(|(_, a)| a != addr)
            .map(|(_, a)| a.as_str())
            .collect();
        let out = tb.ssh_ok(
            host,
            &format!(
                "for a in {}; do timeout 3 bash -c \"</dev/tcp/$a/22\" && echo \"$a ok\"; done",
                others.join(" ")
            ),
        );
        for other in others {
            assert!(
                out.contains(&format!("{other} ok")),
                "{host} ({addr}) cannot reach {other}:22: {out}"
            );
        }
    }
}

#[test]
fn container_published_on_host1_is_reached_from_host2_and_from_this_machine() {
    let tb = Testbed::get();
    let _up = hosts_up();
    let (h1, a1) = &tb.hosts[0];
    let (h2, _) = &tb.hosts[1];
    let web = unique("published");
    let port = 18080 + std::process::id() % 1000;
    let _cleanup = tb.on_drop(h1, format!("docker rm -f {web}"));
    tb.ssh_ok(
        h1,
        &format!("docker run -d --name {web} -p {port}:80 nginx"),
    );
    let id = tb.ssh_ok(
        h1,
        &format!("docker inspect -f '{{{{.Config.Hostname}}}}' {web}"),
    );

    // From host 2, over the testbed network, to host 1's address.
    let page = tb.ssh_ok(h2, &retry(&format!("wget -qO- -T 3 http://{a1}:{port}/")));
    assert!(page.contains("Welcome to nginx!"), "page from {h2}: {page}");
    assert!(
        page.contains(&format!("served-by: {}", id.trim())),
        "page from {h2}: {page}"
    );

    // From this machine (where clusterctl runs) to host 1's address.
    let addr: SocketAddr = format!("{a1}:{port}").parse().unwrap();
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(3)).expect("connect to host 1");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: testbed\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.") && response.contains(" 200 "),
        "response: {response}"
    );
    assert!(
        response.contains("Welcome to nginx!"),
        "response: {response}"
    );
}

#[test]
fn cluster_yaml_lists_every_host() {
    let tb = Testbed::get();
    let _up = hosts_up();
    let yaml = std::fs::read_to_string(tb.cluster_yaml()).unwrap();
    assert!(yaml.contains("  identityFile: id_ed25519"));
    assert!(yaml.contains("  knownHostsFile: known_hosts"));
    assert!(yaml.contains("  strictHostKeyChecking: true"));
    for (name, addr) in &tb.hosts {
        assert!(
            yaml.contains(&format!(
                "  - name: {name}\n    address: {addr}\n    port: 22\n"
            )),
            "{name}: {yaml}"
        );
    }
    assert_eq!(
        yaml.matches("effect: NoSchedule").count(),
        1,
        "only the master is tainted"
    );
}
