//! Test values for the unit tier (cfg(test) only): shell-hostile argv elements and the canary file they try
//! to create. Nothing here starts a server or needs root: the tests that run against a real sshd and docker
//! live in the testbed tier (`tests/it/ssh_runtime.rs`).

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

/// A loopback port that was free a moment ago (bound, then released): connecting to it is refused.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}
