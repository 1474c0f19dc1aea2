//! Validation of a pod's privileges: `securityContext` (pod and container), `sysctls` against the kubelet's
//! safe set, `hostAliases`, and the warnings naming every part of them that the docker runtime does not
//! apply (`runtime::security` applies the rest). Upstream's wording (`ValidatePodSecurityContext`,
//! `ValidateSecurityContext`, the kubelet's sysctl admission).

use k8s_openapi::api::core::v1::{Container, PodSpec, SeccompProfile};

use super::{Issues, UNSUPPORTED_FIELD, containers, rules, runtime_string};
use crate::yaml::FieldPath;

/// The kubelet's safe sysctls (`pkg/kubelet/sysctl/safe_sysctls.go`): namespaced and isolated per pod, so
/// allowed without a kubelet flag. The kubelet refuses a pod with any other (`SysctlForbidden`); clusterctl
/// refuses it before contacting a host.
pub const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
];

const SECCOMP_TYPES: &[&str] = &["Localhost", "RuntimeDefault", "Unconfined"];

/// The pod's `securityContext`, `hostAliases`, and each container's `securityContext`.
pub fn pod(v: &mut Issues, spec: &PodSpec, sp: &FieldPath) {
    if let Some(sc) = &spec.security_context {
        let p = sp.child("securityContext");
        for (field, set) in [
            ("fsGroupChangePolicy", sc.fs_group_change_policy.is_some()),
            ("seLinuxOptions", sc.se_linux_options.is_some()),
            ("seLinuxChangePolicy", sc.se_linux_change_policy.is_some()),
            ("windowsOptions", sc.windows_options.is_some()),
            ("appArmorProfile", sc.app_armor_profile.is_some()),
            (
                "supplementalGroupsPolicy",
                sc.supplemental_groups_policy.is_some(),
            ),
        ] {
            if set {
                v.warn(&p.child(field), UNSUPPORTED_FIELD.to_string());
            }
        }
        if sc.fs_group.is_some() {
            v.warn(
                &p.child("fsGroup"),
                "added to every container's groups; clusterctl does not change the ownership of volumes to it"
                    .to_string(),
            );
        }
        for (field, id) in [
            ("runAsUser", sc.run_as_user),
            ("runAsGroup", sc.run_as_group),
        ] {
            non_negative_id(v, &p.child(field), id);
        }
        non_negative_id(v, &p.child("fsGroup"), sc.fs_group);
        for (i, g) in sc.supplemental_groups.iter().flatten().enumerate() {
            non_negative_id(v, &p.child("supplementalGroups").index(i), Some(*g));
        }
        seccomp(v, sc.seccomp_profile.as_ref(), &p.child("seccompProfile"));
        for (i, s) in sc.sysctls.iter().flatten().enumerate() {
            let sp = p.child("sysctls").index(i);
            let name = s.name.as_str();
            if !SAFE_SYSCTLS.contains(&name) {
                v.forbidden(
                    &sp.child("name"),
                    &format!("forbidden sysctl: {name:?} not allowlisted"),
                );
            } else if name.starts_with("net.") && spec.host_network == Some(true) {
                v.forbidden(
                    &sp.child("name"),
                    &format!("{name:?} not allowed with host net enabled"),
                );
            } else if name.starts_with("kernel.") && spec.host_ipc == Some(true) {
                v.forbidden(
                    &sp.child("name"),
                    &format!("{name:?} not allowed with host ipc enabled"),
                );
            }
            runtime_string(v, &sp.child("value"), &s.value);
        }
    }
    for (i, h) in spec.host_aliases.iter().flatten().enumerate() {
        let hp = sp.child("hostAliases").index(i);
        if h.ip.parse::<std::net::IpAddr>().is_err() {
            v.invalid_str(&hp.child("ip"), &h.ip, "must be a valid IP address");
        }
        // Each name becomes a line of the pod's /etc/hosts: a newline or space would add a line.
        for (j, name) in h.hostnames.iter().flatten().enumerate() {
            for msg in rules::is_dns1123_subdomain(name) {
                v.invalid_str(&hp.child("hostnames").index(j), name, &msg);
            }
        }
    }
    if spec.active_deadline_seconds.is_some() {
        v.warn(
            &sp.child("activeDeadlineSeconds"),
            "clusterctl does not enforce a pod's deadline; it is ignored (a Job's spec.activeDeadlineSeconds is)"
                .to_string(),
        );
    }
    let mut group_alone = false;
    for (i, c) in spec.containers.iter().enumerate() {
        let p = sp.child("containers").index(i);
        group_alone |= container(v, spec, c, &p);
    }
    if group_alone {
        run_as_group_alone(v, &sp.child("securityContext"));
    }
}

fn non_negative_id(v: &mut Issues, p: &FieldPath, id: Option<i64>) {
    if let Some(id) = id
        && !(0..=i64::from(i32::MAX)).contains(&id)
    {
        v.invalid_num(p, id, "must be between 0 and 2147483647, inclusive");
    }
}

fn seccomp(v: &mut Issues, prof: Option<&SeccompProfile>, p: &FieldPath) {
    let Some(prof) = prof else { return };
    match prof.type_.as_str() {
        "Localhost" => v.warn(
            &p.child("localhostProfile"),
            "clusterctl does not load Localhost seccomp profiles; the runtime's default profile applies"
                .to_string(),
        ),
        "RuntimeDefault" | "Unconfined" => {}
        other => v.unsupported(&p.child("type"), other, SECCOMP_TYPES),
    }
}

/// Checks one container; true when the pod's runAsGroup applies to it without a user (warned once, at the
/// pod).
fn container(v: &mut Issues, spec: &PodSpec, c: &Container, cp: &FieldPath) -> bool {
    let pod_sc = spec.security_context.as_ref();
    let pod_group_alone =
        pod_sc.is_some_and(|s| s.run_as_group.is_some() && s.run_as_user.is_none());
    let Some(sc) = &c.security_context else {
        return pod_group_alone;
    };
    let p = cp.child("securityContext");
    for (field, set) in [
        ("seLinuxOptions", sc.se_linux_options.is_some()),
        ("windowsOptions", sc.windows_options.is_some()),
        ("appArmorProfile", sc.app_armor_profile.is_some()),
    ] {
        if set {
            v.warn(&p.child(field), UNSUPPORTED_FIELD.to_string());
        }
    }
    match sc.proc_mount.as_deref() {
        None | Some("Default") => {}
        Some("Unmasked") => v.warn(
            &p.child("procMount"),
            "clusterctl runs containers with the default (masked) /proc; Unmasked is ignored"
                .to_string(),
        ),
        Some(other) => v.unsupported(&p.child("procMount"), other, &["Default", "Unmasked"]),
    }
    for (field, id) in [
        ("runAsUser", sc.run_as_user),
        ("runAsGroup", sc.run_as_group),
    ] {
        non_negative_id(v, &p.child(field), id);
    }
    let user = sc.run_as_user.or(pod_sc.and_then(|s| s.run_as_user));
    if sc.run_as_group.is_some() && user.is_none() {
        run_as_group_alone(v, &p);
    }
    seccomp(v, sc.seccomp_profile.as_ref(), &p.child("seccompProfile"));
    let caps = sc.capabilities.as_ref();
    for (field, list) in [
        ("add", caps.and_then(|c| c.add.as_ref())),
        ("drop", caps.and_then(|c| c.drop.as_ref())),
    ] {
        for (i, cap) in list.into_iter().flatten().enumerate() {
            let ok = !cap.is_empty() && cap.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                v.invalid_str(
                    &p.child("capabilities").child(field).index(i),
                    cap,
                    "must be a capability name such as NET_ADMIN",
                );
            }
        }
    }
    if sc.allow_privilege_escalation == Some(false) {
        if sc.privileged == Some(true) {
            v.invalid_str(
                &p,
                "false",
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            );
        }
        let sys_admin = caps
            .and_then(|c| c.add.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c == "SYS_ADMIN" || c == "CAP_SYS_ADMIN");
        if sys_admin {
            v.invalid_str(
                &p,
                "false",
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            );
        }
    }
    sc.run_as_group.is_none() && user.is_none() && pod_group_alone
}

fn run_as_group_alone(v: &mut Issues, p: &FieldPath) {
    v.warn(
        &p.child("runAsGroup"),
        "docker cannot set a group without a user: without runAsUser the image's user and group apply"
            .to_string(),
    );
}

/// `initContainers`: the container rules, names unique across both lists, `restartPolicy` only `Always`
/// (a sidecar); what an init container cannot have (upstream `validateInitContainers`), and the warnings
/// for what clusterctl does not run on one (probes, lifecycle hooks).
pub fn init_containers(v: &mut Issues, spec: &PodSpec, sp: &FieldPath) {
    let Some(inits) = &spec.init_containers else {
        return;
    };
    let ip = sp.child("initContainers");
    containers(v, inits, &ip);
    for (i, c) in inits.iter().enumerate() {
        let p = ip.index(i);
        if spec.containers.iter().any(|a| a.name == c.name) {
            v.duplicate(&p.child("name"), &c.name);
        }
        let sidecar = match c.restart_policy.as_deref() {
            None => false,
            Some("Always") => true,
            Some(other) => {
                v.unsupported(&p.child("restartPolicy"), other, &["Always"]);
                false
            }
        };
        for (field, set) in [
            ("lifecycle", c.lifecycle.is_some()),
            ("livenessProbe", c.liveness_probe.is_some()),
            ("readinessProbe", c.readiness_probe.is_some()),
            ("startupProbe", c.startup_probe.is_some()),
        ] {
            if !set {
                continue;
            }
            if sidecar {
                v.warn(
                    &p.child(field),
                    "clusterctl does not run this on init containers; it is ignored".to_string(),
                );
            } else {
                v.forbidden(
                    &p.child(field),
                    "may not be set for init containers without restartPolicy=Always",
                );
            }
        }
    }
}
