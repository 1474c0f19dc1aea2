//! The host side of ConfigMaps, Secrets and the downward API, as commands: a pod's resolved
//! environment ([`PodConfig::env`], given to `docker create`) and its configMap / secret / projected /
//! downwardAPI volumes, written as files under a per-pod directory on the host and bind-mounted read-only.
//!
//! - Layout: `/run/clusterctl/pods/<namespace>_<pod>/` (mode 0700) holds `volumes/<volume>/` and
//!   `sums/<volume>` (the content hash the observe script reads back, so the planner knows what is there).
//!   A volume holding Secret data is a tmpfs of its own (as the kubelet mounts secret volumes), so secret
//!   files never reach a disk.
//! - Atomic update as the kubelet's `AtomicWriter`: the files live in `..<timestamp>/`, `..data` is a
//!   symlink to it, every top-level entry is a symlink through `..data`; an update writes a new directory
//!   and renames a new `..data` over the old one, so a reader sees the old or the new set, never a mix.
//! - The content travels as a base64 tar stream on the command's **stdin** — never in argv — and a
//!   command carrying Secret data is marked [`Cmd::sensitive`] (the plan shows a hash instead of it).

use std::collections::BTreeMap;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::cmd::Cmd;

/// Root of the per-pod directories on a host.
pub const PODS_DIR: &str = "/run/clusterctl/pods";

/// One environment variable as the container gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvValue {
    pub name: String,
    pub value: String,
    /// Derived from a Secret: the create command goes through stdin and is marked sensitive.
    pub secret: bool,
}

/// One file of a volume: a path relative to the volume, its bytes and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeFile {
    pub path: String,
    pub data: Vec<u8>,
    pub mode: u32,
}

/// The files of one configMap / secret / projected / downwardAPI volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeFiles {
    pub name: String,
    /// Holds Secret data: a tmpfs, and its write command is sensitive.
    pub secret: bool,
    /// Sorted by path.
    pub files: Vec<VolumeFile>,
}

/// A bind mount of a volume into a container (always read-only, as the kubelet mounts these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub volume: String,
    pub target: String,
}

/// Everything of a pod that comes from ConfigMaps, Secrets and the downward API, resolved by the planner.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodConfig {
    /// Container → its whole environment in the kubelet's order (envFrom, then env), duplicates resolved.
    pub env: BTreeMap<String, Vec<EnvValue>>,
    pub volumes: Vec<VolumeFiles>,
    /// Container → mounts of the volumes above.
    pub mounts: BTreeMap<String, Vec<Mount>>,
    /// The pod's resolv.conf as the kubelet writes it (docs/dns.md); `None`: docker's, from the host's.
    pub resolv: Option<crate::dns::resolv::ResolvConf>,
}

impl PodConfig {
    /// True when a create command of this pod carries Secret data.
    pub fn has_secret_env(&self, container: &str) -> bool {
        self.env
            .get(container)
            .is_some_and(|e| e.iter().any(|v| v.secret))
    }
}

/// `/run/clusterctl/pods/<namespace>_<pod>` (both are DNS names: `_` cannot occur in either).
pub fn pod_dir(namespace: &str, pod: &str) -> String {
    format!("{PODS_DIR}/{namespace}_{pod}")
}

pub fn volume_dir(namespace: &str, pod: &str, volume: &str) -> String {
    format!("{}/volumes/{volume}", pod_dir(namespace, pod))
}

/// 16 hex characters of SHA-256 over the volume's paths, modes and contents (what `sums/<volume>` holds).
pub fn volume_hash(v: &VolumeFiles) -> String {
    let mut h = Sha256::new();
    h.update(if v.secret { b"s" } else { b"c" });
    for f in &v.files {
        h.update((f.path.len() as u64).to_be_bytes());
        h.update(f.path.as_bytes());
        h.update(f.mode.to_be_bytes());
        h.update((f.data.len() as u64).to_be_bytes());
        h.update(&f.data);
    }
    hex::encode(&h.finalize()[..8])
}

/// Writes one volume's files (stdin: base64 of a tar of them) with the kubelet's `..data` swap; `$1` pod
/// dir, `$2` volume, `$3` `tmpfs` or `dir`, `$4` the content hash. A constant: values never reach the shell.
const WRITE_SCRIPT: &str = r#"set -eu
d=$1 v=$2 kind=$3 sum=$4
umask 077
mkdir -p "$d/volumes/$v" "$d/sums"
chmod 0700 "$d"
vd=$d/volumes/$v
if [ "$kind" = tmpfs ] && ! mountpoint -q "$vd"; then mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$vd"; fi
chmod 0755 "$vd"
new=..$(date +%Y_%m_%d_%H_%M_%S).$$
mkdir "$vd/$new"
base64 -d | tar -x -p --no-same-owner -C "$vd/$new"
chmod 0755 "$vd/$new"
for f in "$vd/$new"/* "$vd/$new"/.[!.]*; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  n=${f##*/}
  [ -L "$vd/$n" ] || ln -s "..data/$n" "$vd/$n"
done
ln -sfn "$new" "$vd/..data_tmp"
mv -T "$vd/..data_tmp" "$vd/..data"
for o in "$vd"/..[0-9]*; do [ "$o" = "$vd/$new" ] || rm -rf "$o"; done
for l in "$vd"/* "$vd"/.[!.]*; do if [ -L "$l" ] && [ ! -e "$l" ]; then rm -f "$l"; fi; done
printf '%s\n' "$sum" > "$d/sums/$v""#;

/// `$0` of the write script (how tests and the simulator recognise it).
pub const WRITE_ARG0: &str = "clusterctl-volume";

/// `$0` of the cleanup script.
pub const CLEANUP_ARG0: &str = "clusterctl-volume-cleanup";

/// Unmounts the pod's tmpfs volumes and removes its directory; `$1` the pod dir.
const CLEANUP_SCRIPT: &str = r#"d=$1
[ -d "$d" ] || exit 0
for m in "$d"/volumes/*; do if mountpoint -q "$m"; then umount "$m"; fi; done
rm -rf "$d""#;

/// The tar stream of a volume's files (directories 0755, files with their modes), base64-encoded.
fn tar_base64(v: &VolumeFiles) -> String {
    let mut b = tar::Builder::new(Vec::new());
    b.mode(tar::HeaderMode::Deterministic);
    let mut dirs = std::collections::BTreeSet::new();
    for f in &v.files {
        let mut parent = String::new();
        for seg in f
            .path
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map_or(&[][..], |(_, d)| d)
        {
            parent = if parent.is_empty() {
                seg.to_string()
            } else {
                format!("{parent}/{seg}")
            };
            if dirs.insert(parent.clone()) {
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, format!("{parent}/"), std::io::empty())
                    .expect("in-memory tar");
            }
        }
        let mut h = tar::Header::new_ustar();
        h.set_mode(f.mode);
        h.set_size(f.data.len() as u64);
        b.append_data(&mut h, &f.path, f.data.as_slice())
            .expect("in-memory tar");
    }
    let bytes = b.into_inner().expect("in-memory tar");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The command that writes (or updates in place) one volume of a pod.
pub fn write_volume_cmd(namespace: &str, pod: &str, v: &VolumeFiles) -> Cmd {
    let cmd = Cmd::write(
        "sh",
        [
            "-c".to_string(),
            WRITE_SCRIPT.to_string(),
            WRITE_ARG0.to_string(),
            pod_dir(namespace, pod),
            v.name.clone(),
            if v.secret { "tmpfs" } else { "dir" }.to_string(),
            volume_hash(v),
        ],
    )
    .with_stdin(tar_base64(v));
    if v.secret { cmd.sensitive() } else { cmd }
}

/// The command that removes a pod's volumes from the host (after its containers are gone).
pub fn cleanup_cmd(namespace: &str, pod: &str) -> Cmd {
    Cmd::write(
        "sh",
        [
            "-c".to_string(),
            CLEANUP_SCRIPT.to_string(),
            CLEANUP_ARG0.to_string(),
            pod_dir(namespace, pod),
        ],
    )
}

/// Parses the observe script's `cfgvols` section (`<pod dir>/sums/<volume> <hash>` lines) into `<namespace>_<pod>/<volume>` → hash.
pub fn parse_sums(section: &str) -> BTreeMap<String, String> {
    section
        .lines()
        .filter_map(|l| {
            let (path, hash) = l.split_once(' ')?;
            let (pod, vol) = path.split_once("/sums/")?;
            Some((format!("{pod}/{vol}"), hash.trim().to_string()))
        })
        .collect()
}

/// The key of [`parse_sums`] for a pod's volume.
pub fn sum_key(namespace: &str, pod: &str, volume: &str) -> String {
    format!("{namespace}_{pod}/{volume}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_content_is_on_stdin_never_argv_and_secret_writes_are_sensitive() {
        let v = VolumeFiles {
            name: "creds".into(),
            secret: true,
            files: vec![VolumeFile {
                path: "dir/password".into(),
                data: b"s3cr3t-sentinel".to_vec(),
                mode: 0o400,
            }],
        };
        let c = write_volume_cmd("default", "web-0", &v);
        assert!(c.sensitive && c.mutating);
        assert!(c.args.iter().all(|a| !a.contains("s3cr3t")));
        let tar = base64::engine::general_purpose::STANDARD
            .decode(c.stdin.as_deref().unwrap())
            .unwrap();
        let mut a = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u32)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("dir/".to_string(), 0o755),
                ("dir/password".to_string(), 0o400)
            ]
        );
        assert_eq!(c.args[3], "/run/clusterctl/pods/default_web-0");
        assert_eq!(c.args[5], "tmpfs");
        let plain = VolumeFiles {
            secret: false,
            ..v.clone()
        };
        assert!(!write_volume_cmd("default", "web-0", &plain).sensitive);
        assert_ne!(volume_hash(&v), volume_hash(&plain));
        assert_eq!(
            parse_sums("default_web-0/sums/creds 0123abcd\n"),
            BTreeMap::from([("default_web-0/creds".to_string(), "0123abcd".to_string())])
        );
    }
}
