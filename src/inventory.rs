//! The inventory: `cluster.yaml` → typed hosts, SSH settings and cluster-wide network settings.
//! Parsing is strict (unknown keys are errors with line:column); every field is documented in
//! docs/cluster-yaml.md. No IO beyond reading the one file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Taint;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// The file this was read from (relative paths inside are resolved against its directory).
    pub path: PathBuf,
    pub ssh: SshSettings,
    pub cluster: ClusterSettings,
    /// Sorted by name; names are unique DNS-1123 subdomains.
    pub hosts: Vec<Host>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SshSettings {
    /// Default `root`.
    pub user: String,
    /// Resolved to an absolute path.
    pub identity_file: Option<PathBuf>,
    /// Resolved to an absolute path; `None` means ssh's default (~/.ssh/known_hosts).
    pub known_hosts_file: Option<PathBuf>,
    /// Default true: unknown or changed host keys are refused.
    pub strict_host_key_checking: bool,
    /// Seconds; default 10.
    pub connect_timeout: u64,
    /// Concurrent sessions per host over the one multiplexed connection; default 8 (sshd's MaxSessions is 10).
    pub max_sessions: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSettings {
    /// Default `10.244.0.0/16`.
    pub pod_cidr: String,
    /// Default `10.96.0.0/12`.
    pub service_cidr: String,
    /// Inclusive; default 30000–32767.
    pub node_port_range: (u16, u16),
    /// Directory in the Git repo holding the manifests; default `apps`.
    pub apps_dir: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    #[default]
    Docker,
    Containerd,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    pub name: String,
    /// IP address or DNS name the SSH connection goes to.
    pub address: String,
    /// Default 22.
    pub port: u16,
    /// Overrides `ssh.user`.
    pub user: Option<String>,
    /// Overrides `ssh.identityFile` (resolved to an absolute path).
    pub identity_file: Option<PathBuf>,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub capacity: Capacity,
    pub runtime: RuntimeKind,
    /// This host's pod CIDR (a /24 of `cluster.podCIDR`); allocated when absent.
    pub pod_cidr: Option<String>,
}

/// Capacity overrides (Quantity strings, validated). Unset values come from the host's facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Capacity {
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub pods: Option<String>,
}

impl Host {
    pub fn ssh_user<'a>(&'a self, ssh: &'a SshSettings) -> &'a str {
        self.user.as_deref().unwrap_or(&ssh.user)
    }
}
