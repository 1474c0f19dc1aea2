//! Test helper (cfg(test) only): a private `sshd` on a free loopback port with freshly generated host and
//! client keys in a temp dir, so the SSH transport is proven against a real server without the testbed.
//! Commands run through it execute on this machine (as root). Fails loudly if sshd is not installed.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::inventory::{Host, SshSettings};

/// A file no test creates; hostile values try to create it through a shell.
pub const CANARY: &str = "/tmp/clusterctl-pwned-canary";

/// Values a shell would interpret. Every transport must deliver them byte-exact as single argv elements.
pub const HOSTILE: &[&str] = &[
    "$(touch /tmp/clusterctl-pwned-canary)",
    "; rm -rf /tmp/clusterctl-nonexistent; touch /tmp/clusterctl-pwned-canary",
    "`touch /tmp/clusterctl-pwned-canary`",
    "it's",
    "say \"hi\" 'there'",
    "line1\nline2\n",
    "-rf",
    "--privileged",
    "",
    "!bang $HOME ${PATH} * ? ~ &| > <",
    "back\\slash\ttab",
    "unicode: 日本語",
];

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}

fn keygen(path: &Path) -> String {
    let st = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "clusterctl-test",
            "-f",
        ])
        .arg(path)
        .status()
        .expect("ssh-keygen must be installed (openssh-client)");
    assert!(st.success(), "ssh-keygen failed");
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    // `type base64` without the comment.
    public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A running private sshd; killed (by its own pid) on drop.
pub struct TestSshd {
    pub port: u16,
    /// Keeps keys, config and known_hosts alive for the server's lifetime.
    _dir: tempfile::TempDir,
    pub known_hosts: PathBuf,
    pub client_key: PathBuf,
    /// `ssh-ed25519 AAAA…` of the server.
    pub host_public_key: String,
    other_public_key: String,
    child: Child,
}

impl TestSshd {
    pub fn start() -> TestSshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd is missing: SSH transport tests need openssh-server (apt-get install openssh-server)"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let host_public_key = keygen(&d.join("host_key"));
        let other_public_key = keygen(&d.join("other_key"));
        let client_public = keygen(&d.join("client_key"));
        std::fs::write(d.join("authorized_keys"), format!("{client_public}\n")).unwrap();
        // sshd insists on its privilege-separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
             StrictModes no\nMaxSessions 10\nLogLevel ERROR\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let log = std::fs::File::create(d.join("sshd.log")).unwrap();
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let known_hosts = d.join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{port} {host_public_key}\n"),
        )
        .unwrap();
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "sshd did not listen on 127.0.0.1:{port}: {}",
                std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        TestSshd {
            port,
            known_hosts,
            client_key: d.join("client_key"),
            host_public_key,
            other_public_key,
            _dir: dir,
            child,
        }
    }

    pub fn host_template(port: u16) -> Host {
        Host {
            name: "loopback".into(),
            address: "127.0.0.1".into(),
            port,
            user: None,
            identity_file: None,
            labels: Default::default(),
            taints: vec![],
            unschedulable: false,
            capacity: Default::default(),
            runtime: Default::default(),
            pod_cidr: None,
        }
    }

    pub fn host(&self) -> Host {
        TestSshd::host_template(self.port)
    }

    pub fn ssh(&self, strict: bool) -> SshSettings {
        SshSettings {
            user: "root".into(),
            identity_file: Some(self.client_key.clone()),
            known_hosts_file: Some(self.known_hosts.clone()),
            strict_host_key_checking: strict,
            connect_timeout: 5,
            max_sessions: 8,
            ..SshSettings::default()
        }
    }

    /// The server key's fingerprint as `ssh-keygen -lf` prints it (independent of our ssh-key code).
    pub fn host_key_fingerprint(&self) -> String {
        ssh_keygen_fingerprint(&self.host_public_key)
    }

    /// A valid key that is *not* the server's (to simulate a changed host key).
    pub fn other_public_key(&self) -> &str {
        &self.other_public_key
    }
}

pub fn ssh_keygen_fingerprint(public_key: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("k.pub");
    std::fs::write(&p, format!("{public_key}\n")).unwrap();
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&p)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .expect("ssh-keygen -lf output")
        .to_string()
}

impl Drop for TestSshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Test images built from this machine's static busybox (no registry needed): a pause-like sandbox image
/// and a busybox app image. Imported once; names are clusterctl-test-only.
pub const TEST_PAUSE_IMAGE: &str = "clusterctl-rt-test/pause:1";
pub const TEST_APP_IMAGE: &str = "clusterctl-rt-test/busybox:1";

pub fn ensure_test_images() {
    let have = |img: &str| {
        Command::new("docker")
            .args(["image", "inspect", "--format", "{{.Id}}", img])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if have(TEST_PAUSE_IMAGE) && have(TEST_APP_IMAGE) {
        return;
    }
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "docker tests need a static /bin/busybox (apt-get install busybox-static)"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    for applet in [
        "sh", "sleep", "cat", "echo", "printf", "env", "true", "false",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    let tar = dir.path().join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    for (img, changes) in [
        (
            TEST_PAUSE_IMAGE,
            ["ENTRYPOINT [\"/bin/sleep\"]", "CMD [\"2147483647\"]"],
        ),
        (TEST_APP_IMAGE, ["CMD [\"/bin/sh\"]", "WORKDIR /"]),
    ] {
        let st = Command::new("docker")
            .args(["import", "--change", changes[0], "--change", changes[1]])
            .arg(&tar)
            .arg(img)
            .stdout(Stdio::null())
            .status()
            .expect("docker must be installed");
        assert!(st.success(), "docker import {img} failed");
    }
}

/// Removes the named containers on drop, even when the test panicked.
pub struct ContainerCleanup(pub Vec<String>);

impl Drop for ContainerCleanup {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&self.0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
