//! Pod volumes on docker: where each volume's data lives on the host, the steps that prepare it before
//! the pod's containers are created (emptyDir directories and tmpfs volumes, hostPath type checks, subPath
//! directories) and remove it with the pod, the `--mount` arguments of each container, and the provisioning
//! of a claim's PersistentVolume (the built-in `clusterctl.io/local-path` provisioner). Pure: builds
//! [`Cmd`]s; paths and names are derived from the pod and claim identities, so no lookup is needed.
//!
//! Layout on a host (as the kubelet and k3s' local-path provisioner lay it out):
//! - emptyDir (disk): `/var/lib/clusterctl/pods/<ns>_<pod>/volumes/kubernetes.io~empty-dir/<volume>`,
//!   created empty by the pod's create steps, removed by its remove steps: it lives as long as the pod and
//!   survives container restarts;
//! - emptyDir `medium: Memory`: a docker volume of the local driver of type tmpfs, `k8s_<volume>_<pod>_<ns>`,
//!   mounted by every container of the pod and by the sandbox, which keeps it mounted (and its data) while an
//!   app container restarts;
//! - a claim: `/var/lib/clusterctl/storage/<pv>_<ns>_<claim>`, recorded as a labelled docker volume `<pv>`
//!   (bound to that directory) — the labels are the binding (claim, node, capacity, modes, policy), which
//!   observe reads back, so a binding survives clusterctl restarts without an agent;
//! - hostPath: the host path itself, checked by its `type` first (the kubelet's messages).
//!
//! Other volume sources (configMap, secret, …) are not mounted here; a lane that adds one adds its arm
//! to [`container_mounts`] and [`pod_setup`].

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, Volume, VolumeMount};
use sha2::{Digest, Sha256};

use crate::cmd::Cmd;
use crate::model::labels;
use crate::quantity::Quantity;

/// Where claims' data lives.
pub const STORAGE_DIR: &str = "/var/lib/clusterctl/storage";
/// Where pods' emptyDir data lives.
pub const PODS_DIR: &str = "/var/lib/clusterctl/pods";
/// Where the sandbox mounts a pod's Memory emptyDirs (only to keep them mounted).
const SANDBOX_HOLD: &str = "/.clusterctl/volumes";

/// The PersistentVolume a claim gets from the local-path provisioner: `pvc-<uuid>`, the uuid derived
/// from the claim's namespace and name (there is no API server to hand out uids), so the same claim
/// always finds its volume.
pub fn pv_name(namespace: &str, claim: &str) -> String {
    let d = Sha256::digest(format!("{namespace}/{claim}").as_bytes());
    let h = hex::encode(&d[..16]);
    format!(
        "pvc-{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The directory of a claim's data (k3s' local-path layout).
pub fn claim_dir(namespace: &str, claim: &str) -> String {
    format!(
        "{STORAGE_DIR}/{}_{namespace}_{claim}",
        pv_name(namespace, claim)
    )
}

/// A pod's directory (its disk emptyDirs live below it).
pub fn pod_dir(namespace: &str, pod: &str) -> String {
    format!("{PODS_DIR}/{namespace}_{pod}")
}

fn empty_dir_path(namespace: &str, pod: &str, volume: &str) -> String {
    format!(
        "{}/volumes/kubernetes.io~empty-dir/{volume}",
        pod_dir(namespace, pod)
    )
}

/// The docker volume of a Memory emptyDir.
pub fn memory_volume_name(namespace: &str, pod: &str, volume: &str) -> String {
    format!("k8s_{volume}_{pod}_{namespace}")
}

fn is_memory(v: &Volume) -> bool {
    v.empty_dir
        .as_ref()
        .is_some_and(|e| e.medium.as_deref() == Some("Memory"))
}

/// A claim's PersistentVolume as provisioned on a node: everything its docker volume's labels record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimVolume {
    pub namespace: String,
    pub claim: String,
    pub node: String,
    /// `resources.requests.storage` as written (recorded, not enforced).
    pub capacity: String,
    pub access_modes: Vec<String>,
    pub reclaim_policy: String,
    pub storage_class: String,
    /// The StatefulSet whose volumeClaimTemplate made the claim (such claims are retained).
    pub stateful_set: Option<String>,
}

impl ClaimVolume {
    pub fn pv(&self) -> String {
        pv_name(&self.namespace, &self.claim)
    }

    /// The docker volume's labels.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut l = BTreeMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::VOLUME_KIND.to_string(), "pvc".to_string()),
            (labels::CLAIM_NAMESPACE.to_string(), self.namespace.clone()),
            (labels::CLAIM_NAME.to_string(), self.claim.clone()),
            (labels::PV.to_string(), self.pv()),
            (labels::NODE.to_string(), self.node.clone()),
            (labels::CAPACITY.to_string(), self.capacity.clone()),
            (
                labels::ACCESS_MODES.to_string(),
                self.access_modes.join(","),
            ),
            (
                labels::RECLAIM_POLICY.to_string(),
                self.reclaim_policy.clone(),
            ),
            (
                labels::STORAGE_CLASS.to_string(),
                self.storage_class.clone(),
            ),
            (
                labels::PATH.to_string(),
                claim_dir(&self.namespace, &self.claim),
            ),
        ]);
        if let Some(s) = &self.stateful_set {
            l.insert(labels::STATEFUL_SET.to_string(), s.clone());
        }
        l
    }
}

/// Makes a claim's directory (mode 0777, as local-path does, so any container user can write) and its
/// labelled docker volume.
const PROVISION_SCRIPT: &str = r#"mkdir -p -- "$1" && chmod 0777 -- "$1""#;

/// The steps that provision `v` on its node.
pub fn provision(v: &ClaimVolume) -> Vec<Cmd> {
    let dir = claim_dir(&v.namespace, &v.claim);
    let mut create: Vec<String> = vec![
        "volume".into(),
        "create".into(),
        "--driver=local".into(),
        "--opt=type=none".into(),
        "--opt=o=bind".into(),
        format!("--opt=device={dir}"),
    ];
    create.extend(v.labels().iter().map(|(k, v)| format!("--label={k}={v}")));
    create.push("--".into());
    create.push(v.pv());
    vec![
        Cmd::write(
            "sh",
            [
                "-c".to_string(),
                PROVISION_SCRIPT.to_string(),
                "clusterctl-provision".to_string(),
                dir,
            ],
        ),
        Cmd::write("docker", create),
    ]
}

/// Removes a claim's volume and data unless a container still mounts the directory (then it fails and
/// keeps both: the data goes only once no pod uses it). Arguments: volume name, directory.
const DELETE_SCRIPT: &str = r#"name=$1 dir=$2
ids=$(docker ps -aq --filter label=clusterctl.io/managed=true) || exit 1
if [ -n "$ids" ] && docker inspect --format '{{range .Mounts}}{{println .Source}}{{end}}' $ids | grep -qF -- "$dir"; then
  echo "volume $name is still mounted by a container; its data is kept" >&2; exit 1
fi
docker volume rm -f -- "$name" >/dev/null && rm -rf -- "$dir""#;

/// Removes a claim's data: its docker volume and its directory (reclaimPolicy Delete). The directory is
/// recomputed from the recorded claim, never taken from a label, so nothing outside the storage directory
/// can be removed.
pub fn delete_claim_volume(name: &str, namespace: &str, claim: &str) -> Vec<Cmd> {
    vec![script(
        DELETE_SCRIPT,
        "clusterctl-reclaim",
        &[name, &claim_dir(namespace, claim)],
    )]
}

/// hostPath `type` checks, the kubelet's (`pkg/volume/hostpath`) messages on failure. Arguments: volume,
/// path, type. `""` creates a missing directory, as docker's `-v` did for dockershim.
const HOST_PATH_SCRIPT: &str = r#"vol=$1 path=$2 type=$3
fail() { printf 'MountVolume.SetUp failed for volume "%s" : hostPath type check failed: %s is not a %s\n' "$vol" "$path" "$1" >&2; exit 1; }
case $type in
  DirectoryOrCreate) [ -e "$path" ] || mkdir -p -m 0755 -- "$path" || exit 1; [ -d "$path" ] || fail directory ;;
  Directory) [ -d "$path" ] || fail directory ;;
  FileOrCreate) [ -e "$path" ] || (umask 022 && : > "$path") || exit 1; [ -f "$path" ] || fail file ;;
  File) [ -f "$path" ] || fail file ;;
  Socket) [ -S "$path" ] || fail 'socket file' ;;
  CharDevice) [ -c "$path" ] || fail 'character device' ;;
  BlockDevice) [ -b "$path" ] || fail 'block device' ;;
  *) [ -e "$path" ] || mkdir -p -- "$path" ;;
esac"#;

/// Empties (or creates) a disk emptyDir's directory; mode 0777 as the kubelet's.
const EMPTY_DIR_SCRIPT: &str = r#"rm -rf -- "$1" && mkdir -p -- "$1" && chmod 0777 -- "$1""#;

/// Creates a subPath's directory below its volume (as the kubelet does) when missing.
const SUB_PATH_SCRIPT: &str = r#"[ -e "$1" ] || mkdir -p -- "$1""#;

fn script(s: &str, arg0: &str, args: &[&str]) -> Cmd {
    let mut a = vec!["-c".to_string(), s.to_string(), arg0.to_string()];
    a.extend(args.iter().map(|s| s.to_string()));
    Cmd::write("sh", a)
}

/// The host source of a mount of `vol` (with its subPath), and whether it is a docker volume (Memory).
fn source(vol: &Volume, namespace: &str, pod: &str, sub: Option<&str>) -> Option<(String, bool)> {
    let join = |base: String| match sub.filter(|s| !s.is_empty()) {
        Some(s) => format!("{}/{}", base.trim_end_matches('/'), s.trim_end_matches('/')),
        None => base,
    };
    if is_memory(vol) {
        return Some((memory_volume_name(namespace, pod, &vol.name), true));
    }
    if vol.empty_dir.is_some() {
        return Some((join(empty_dir_path(namespace, pod, &vol.name)), false));
    }
    if let Some(hp) = &vol.host_path {
        return Some((join(hp.path.clone()), false));
    }
    if let Some(c) = &vol.persistent_volume_claim {
        return Some((join(claim_dir(namespace, &c.claim_name)), false));
    }
    None
}

/// `subPathExpr` expanded with the container's plain `env` values (`$(VAR)`; an unknown variable stays
/// as written, `$$` is a literal `$`).
pub fn expand_sub_path(expr: &str, c: &Container) -> String {
    let env: BTreeMap<&str, &str> = c
        .env
        .iter()
        .flatten()
        .filter(|e| e.value_from.is_none())
        .map(|e| (e.name.as_str(), e.value.as_deref().unwrap_or("")))
        .collect();
    let mut out = String::new();
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('(')
            && let Some(end) = body.find(')')
            && let Some(val) = env.get(&body[..end])
        {
            out.push_str(val);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn sub_path(m: &VolumeMount, c: &Container) -> Option<String> {
    if let Some(s) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
        return Some(s.to_string());
    }
    m.sub_path_expr
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|e| expand_sub_path(e, c))
}

/// Where a `volumeMounts[].mountPath` lands in the container. The API server accepts a relative path, and
/// the kubelet (makeMounts) mounts it from the container's root, not from its workingDir: it prefixes `/`
/// and cleans the result lexically (`data/../x` is `/x`). An absolute path is passed as written.
pub fn container_path(mount_path: &str) -> String {
    if mount_path.starts_with('/') {
        return mount_path.to_string();
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in mount_path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// One `--mount` field in docker's CSV syntax: quoted when it holds a comma or a quote, so a path can
/// never add a mount option.
pub(crate) fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// The `--mount=…` arguments of container `c` of the pod, in volumeMounts order. Mounts of volume sources
/// this module does not handle are skipped (validation warned about them).
pub fn container_mounts(spec: &PodSpec, c: &Container, namespace: &str, pod: &str) -> Vec<String> {
    let vols: BTreeMap<&str, &Volume> = spec
        .volumes
        .iter()
        .flatten()
        .map(|v| (v.name.as_str(), v))
        .collect();
    let mut out = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        let Some(vol) = vols.get(m.name.as_str()) else {
            continue;
        };
        let sub = sub_path(m, c);
        let Some((src, is_volume)) = source(vol, namespace, pod, sub.as_deref()) else {
            continue;
        };
        let ty = if is_volume { "volume" } else { "bind" };
        let mut fields = vec![
            format!("type={ty}"),
            csv(&format!("source={src}")),
            csv(&format!("target={}", container_path(&m.mount_path))),
        ];
        let claim_ro = vol
            .persistent_volume_claim
            .as_ref()
            .and_then(|c| c.read_only)
            .unwrap_or(false);
        if m.read_only.unwrap_or(false) || claim_ro {
            fields.push("readonly".to_string());
        }
        if vol.host_path.is_some() {
            match m.mount_propagation.as_deref() {
                Some("HostToContainer") => fields.push("bind-propagation=rslave".to_string()),
                Some("Bidirectional") => fields.push("bind-propagation=rshared".to_string()),
                _ => {}
            }
        }
        out.push(format!("--mount={}", fields.join(",")));
    }
    out
}

/// The sandbox's `--mount=…` arguments: every Memory emptyDir, so its tmpfs stays mounted while the pod
/// lives (an app container's restart alone would unmount it and lose its data).
pub fn sandbox_mounts(spec: &PodSpec, namespace: &str, pod: &str) -> Vec<String> {
    spec.volumes
        .iter()
        .flatten()
        .filter(|v| is_memory(v))
        .map(|v| {
            format!(
                "--mount=type=volume,source={},target={SANDBOX_HOLD}/{}",
                memory_volume_name(namespace, pod, &v.name),
                v.name
            )
        })
        .collect()
}

/// Steps before the pod's sandbox is created: hostPath checks, fresh emptyDirs, subPath directories.
pub fn pod_setup(spec: &PodSpec, namespace: &str, pod: &str) -> Vec<Cmd> {
    let mut out = Vec::new();
    for v in spec.volumes.iter().flatten() {
        if let Some(hp) = &v.host_path {
            out.push(script(
                HOST_PATH_SCRIPT,
                "clusterctl-hostpath",
                &[&v.name, &hp.path, hp.type_.as_deref().unwrap_or("")],
            ));
        } else if is_memory(v) {
            let name = memory_volume_name(namespace, pod, &v.name);
            out.push(Cmd::write("docker", ["volume", "rm", "-f", "--", &name]));
            let mut a: Vec<String> = vec![
                "volume".into(),
                "create".into(),
                "--driver=local".into(),
                "--opt=type=tmpfs".into(),
                "--opt=device=tmpfs".into(),
            ];
            if let Some(size) = v
                .empty_dir
                .as_ref()
                .and_then(|e| e.size_limit.as_ref())
                .and_then(|q| Quantity::parse(&q.0).ok())
                .filter(|q| q.value() > 0)
            {
                a.push(format!("--opt=o=size={}", size.value()));
            }
            for (k, val) in [
                (labels::MANAGED, "true"),
                (labels::VOLUME_KIND, "emptyDir"),
                (labels::NAMESPACE, namespace),
                (labels::POD, pod),
            ] {
                a.push(format!("--label={k}={val}"));
            }
            a.push("--".into());
            a.push(name);
            out.push(Cmd::write("docker", a));
        } else if v.empty_dir.is_some() {
            out.push(script(
                EMPTY_DIR_SCRIPT,
                "clusterctl-emptydir",
                &[&empty_dir_path(namespace, pod, &v.name)],
            ));
        }
    }
    let vols: BTreeMap<&str, &Volume> = spec
        .volumes
        .iter()
        .flatten()
        .map(|v| (v.name.as_str(), v))
        .collect();
    for c in &spec.containers {
        for m in c.volume_mounts.iter().flatten() {
            let (Some(vol), Some(sub)) = (vols.get(m.name.as_str()), sub_path(m, c)) else {
                continue;
            };
            if is_memory(vol) {
                continue;
            }
            if let Some((src, false)) = source(vol, namespace, pod, Some(&sub)) {
                out.push(script(SUB_PATH_SCRIPT, "clusterctl-subpath", &[&src]));
            }
        }
    }
    out
}

/// Steps after the pod's containers are removed: its emptyDirs go with it.
pub fn pod_teardown(spec: &PodSpec, namespace: &str, pod: &str) -> Vec<Cmd> {
    let mut out = Vec::new();
    let vols = spec.volumes.iter().flatten();
    for v in vols.clone().filter(|v| is_memory(v)) {
        out.push(Cmd::write(
            "docker",
            [
                "volume",
                "rm",
                "-f",
                "--",
                &memory_volume_name(namespace, pod, &v.name),
            ],
        ));
    }
    if vols.clone().any(|v| v.empty_dir.is_some() && !is_memory(v)) {
        out.push(Cmd::write("rm", ["-rf", "--", &pod_dir(namespace, pod)]));
    }
    out
}

/// The claims a pod mounts, in volume order (`persistentVolumeClaim.claimName`).
pub fn claims_of(spec: &PodSpec) -> Vec<&str> {
    spec.volumes
        .iter()
        .flatten()
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.as_str())
        .collect()
}

#[cfg(test)]
#[path = "mounts_tests.rs"]
mod tests;
