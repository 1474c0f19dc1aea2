//! A pod's privileges on docker: `securityContext` (pod and container, the container's value winning as in
//! the kubelet's `DetermineEffectiveSecurityContext`), the host namespaces (`hostNetwork`, `hostPID`,
//! `hostIPC`, `shareProcessNamespace`), `hostAliases` and the safe `sysctls`, turned into `docker create`
//! flags for the sandbox and for each app container; and the kubelet's `runAsNonRoot` check of the image's
//! user as a constant script run on the host before anything of the pod is created (docs/manifests.md,
//! "Pod runtime fields").
//!
//! A container never gets more privilege than its manifest says: every flag here only narrows docker's
//! defaults, except what the manifest asks for by name (`privileged`, `capabilities.add`, `Unconfined`
//! seccomp, the host namespaces).

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};

use crate::cmd::Cmd;

/// A sysctl of the network namespace (set on the sandbox, which owns it) rather than of the IPC namespace.
pub fn is_net_sysctl(name: &str) -> bool {
    name.starts_with("net.")
}

fn on(v: Option<bool>) -> bool {
    v == Some(true)
}

/// The user, group and non-root rule that apply to `c`: the container's value, else the pod's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Identity {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: bool,
}

pub fn identity(spec: &PodSpec, c: &Container) -> Identity {
    let pod = spec.security_context.as_ref();
    let ctr = c.security_context.as_ref();
    Identity {
        run_as_user: ctr
            .and_then(|s| s.run_as_user)
            .or(pod.and_then(|s| s.run_as_user)),
        run_as_group: ctr
            .and_then(|s| s.run_as_group)
            .or(pod.and_then(|s| s.run_as_group)),
        run_as_non_root: on(ctr
            .and_then(|s| s.run_as_non_root)
            .or(pod.and_then(|s| s.run_as_non_root))),
    }
}

/// The effective seccomp profile type of `c` (container's, else pod's), if one is written.
fn seccomp_type<'a>(spec: &'a PodSpec, c: &'a Container) -> Option<&'a str> {
    c.security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
        .or(spec
            .security_context
            .as_ref()
            .and_then(|s| s.seccomp_profile.as_ref()))
        .map(|p| p.type_.as_str())
}

/// The pod's sysctls in manifest order, `net.*` ones (`net == true`) or the others.
fn sysctls(spec: &PodSpec, net: bool) -> impl Iterator<Item = String> + '_ {
    spec.security_context
        .iter()
        .flat_map(|s| s.sysctls.iter().flatten())
        .filter(move |s| is_net_sysctl(&s.name) == net)
        .map(|s| format!("--sysctl={}={}", s.name, s.value))
}

/// The sandbox's flags: the namespaces it owns for the pod (host PID/IPC), the `/etc/hosts` entries of
/// `hostAliases` (every container of the pod shares the sandbox's hosts file) and the network sysctls.
/// The network mode itself is chosen by the caller (`--network=host` for `hostNetwork`).
pub fn sandbox_flags(spec: &PodSpec) -> Vec<String> {
    let mut a = Vec::new();
    if on(spec.host_pid) {
        a.push("--pid=host".to_string());
    }
    if on(spec.host_ipc) {
        a.push("--ipc=host".to_string());
    }
    for h in spec.host_aliases.iter().flatten() {
        for name in h.hostnames.iter().flatten() {
            a.push(format!("--add-host={name}:{}", h.ip));
        }
    }
    a.extend(sysctls(spec, true));
    if !on(spec.host_ipc) {
        // The sandbox's own IPC namespace gets the IPC sysctls too (it is the pod's, in the kubelet's model).
        a.extend(sysctls(spec, false));
    }
    a
}

/// An app container's flags: user and groups, privileges, capabilities, root filesystem, no-new-privileges,
/// seccomp, and the PID/IPC namespaces it joins (`sandbox` is the pod's sandbox container name).
pub fn app_flags(spec: &PodSpec, c: &Container, sandbox: &str) -> Vec<String> {
    let mut a = Vec::new();
    let id = identity(spec, c);
    match (id.run_as_user, id.run_as_group) {
        (Some(u), Some(g)) => a.push(format!("--user={u}:{g}")),
        (Some(u), None) => a.push(format!("--user={u}")),
        // docker cannot set a group without a user: warned about at validation.
        (None, _) => {}
    }
    let pod = spec.security_context.as_ref();
    // The kubelet adds fsGroup and the supplemental groups to every container's process.
    let mut groups: Vec<i64> = pod.and_then(|s| s.fs_group).into_iter().collect();
    for g in pod
        .and_then(|s| s.supplemental_groups.as_ref())
        .into_iter()
        .flatten()
    {
        if !groups.contains(g) {
            groups.push(*g);
        }
    }
    a.extend(groups.iter().map(|g| format!("--group-add={g}")));
    let sc = c.security_context.as_ref();
    if on(sc.and_then(|s| s.privileged)) {
        a.push("--privileged=true".to_string());
    }
    let caps = sc.and_then(|s| s.capabilities.as_ref());
    // Drop before add, as the runtime applies them: `drop: [ALL]` with `add: [NET_BIND_SERVICE]` keeps one.
    for cap in caps.and_then(|c| c.drop.as_ref()).into_iter().flatten() {
        a.push(format!("--cap-drop={cap}"));
    }
    for cap in caps.and_then(|c| c.add.as_ref()).into_iter().flatten() {
        a.push(format!("--cap-add={cap}"));
    }
    if on(sc.and_then(|s| s.read_only_root_filesystem)) {
        a.push("--read-only=true".to_string());
    }
    if sc.and_then(|s| s.allow_privilege_escalation) == Some(false) {
        a.push("--security-opt=no-new-privileges".to_string());
    }
    // RuntimeDefault is docker's default profile; Localhost is warned about at validation.
    if seccomp_type(spec, c) == Some("Unconfined") {
        a.push("--security-opt=seccomp=unconfined".to_string());
    }
    if on(spec.host_pid) {
        a.push("--pid=host".to_string());
    } else if on(spec.share_process_namespace) {
        // The sandbox's pause process is PID 1 of the shared namespace, as with the kubelet.
        a.push(format!("--pid=container:{sandbox}"));
    }
    if on(spec.host_ipc) {
        a.push("--ipc=host".to_string());
    } else {
        a.extend(sysctls(spec, false));
    }
    a
}

/// The kubelet's `runAsNonRoot` check (`verifyRunAsNonRoot`), run on the host after the pull and before the
/// pod's sandbox is created: `$1` image, `$2` the pod as the kubelet names it, `$3` the container; with `$4`
/// = `uid0` the manifest itself sets runAsUser 0, otherwise the image's user decides. A constant; the values
/// are arguments.
pub const NON_ROOT_SCRIPT: &str = r#"if [ "$4" = uid0 ]; then
printf 'container'"'"'s runAsUser breaks non-root policy (pod: "%s", container: %s)\n' "$2" "$3" >&2; exit 1
fi
u=$(docker image inspect --format '{{.Config.User}}' -- "$1") || exit 1
u=${u%%:*}
case $u in
''|0) printf 'container has runAsNonRoot and image will run as root (pod: "%s", container: %s)\n' "$2" "$3" >&2; exit 1;;
*[!0-9]*) printf 'container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: "%s", container: %s)\n' "$u" "$2" "$3" >&2; exit 1;;
esac"#;

/// `$0` of [`NON_ROOT_SCRIPT`].
pub const NON_ROOT_ARG0: &str = "clusterctl-nonroot";

/// The checks of every container of `pod` with `runAsNonRoot: true`, in container order.
pub fn non_root_checks(pod: &Pod) -> Vec<Cmd> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let m = &pod.metadata;
    // The kubelet's `format.Pod`: name_namespace(uid).
    let who = format!(
        "{}_{}({})",
        m.name.as_deref().unwrap_or_default(),
        m.namespace.as_deref().unwrap_or("default"),
        m.uid.as_deref().unwrap_or_default()
    );
    spec.containers
        .iter()
        .filter_map(|c| {
            let id = identity(spec, c);
            // A non-zero runAsUser satisfies the rule without looking at the image.
            let needed = id.run_as_non_root && id.run_as_user.is_none_or(|u| u == 0);
            needed.then(|| {
                Cmd::read(
                    "sh",
                    [
                        "-c".to_string(),
                        NON_ROOT_SCRIPT.to_string(),
                        NON_ROOT_ARG0.to_string(),
                        c.image.clone().unwrap_or_default(),
                        who.clone(),
                        c.name.clone(),
                        if id.run_as_user == Some(0) {
                            "uid0"
                        } else {
                            "image"
                        }
                        .to_string(),
                    ],
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn container_values_win_over_the_pod_and_groups_are_added() {
        let s = spec(json!({
            "securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000,
                                "supplementalGroups": [4000, 2000], "runAsNonRoot": true},
            "containers": [
                {"name": "a", "image": "busybox", "securityContext": {"runAsUser": 1001}},
                {"name": "b", "image": "busybox"}
            ]
        }));
        assert_eq!(
            app_flags(&s, &s.containers[0], "sb"),
            ["--user=1001:3000", "--group-add=2000", "--group-add=4000"]
        );
        assert_eq!(app_flags(&s, &s.containers[1], "sb")[0], "--user=1000:3000");
        assert!(identity(&s, &s.containers[0]).run_as_non_root);
    }

    #[test]
    fn privileges_capabilities_rootfs_and_seccomp() {
        let s = spec(json!({
            "securityContext": {"seccompProfile": {"type": "Unconfined"}},
            "containers": [{"name": "a", "image": "busybox", "securityContext": {
                "privileged": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}},
                {"name": "b", "image": "busybox", "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}]
        }));
        assert_eq!(
            app_flags(&s, &s.containers[0], "sb"),
            [
                "--privileged=true",
                "--cap-drop=ALL",
                "--cap-add=NET_ADMIN",
                "--read-only=true",
                "--security-opt=no-new-privileges",
                "--security-opt=seccomp=unconfined",
            ]
        );
        // The container's RuntimeDefault wins over the pod's Unconfined: docker's default profile.
        assert!(app_flags(&s, &s.containers[1], "sb").is_empty());
    }

    #[test]
    fn namespaces_aliases_and_sysctls_go_where_the_namespace_lives() {
        let s = spec(json!({
            "shareProcessNamespace": true,
            "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]}],
            "securityContext": {"sysctls": [
                {"name": "net.ipv4.tcp_syncookies", "value": "1"},
                {"name": "kernel.shm_rmid_forced", "value": "1"}]},
            "containers": [{"name": "a", "image": "busybox"}]
        }));
        assert_eq!(
            sandbox_flags(&s),
            [
                "--add-host=foo.local:10.1.2.3",
                "--add-host=bar.local:10.1.2.3",
                "--sysctl=net.ipv4.tcp_syncookies=1",
                "--sysctl=kernel.shm_rmid_forced=1",
            ]
        );
        assert_eq!(
            app_flags(&s, &s.containers[0], "k8s_POD_p_default"),
            [
                "--pid=container:k8s_POD_p_default",
                "--sysctl=kernel.shm_rmid_forced=1"
            ]
        );
        let h = spec(
            json!({"hostPID": true, "hostIPC": true, "shareProcessNamespace": true,
                            "containers": [{"name": "a", "image": "busybox"}]}),
        );
        assert_eq!(sandbox_flags(&h), ["--pid=host", "--ipc=host"]);
        assert_eq!(
            app_flags(&h, &h.containers[0], "sb"),
            ["--pid=host", "--ipc=host"]
        );
    }

    #[test]
    fn nothing_written_adds_no_flag() {
        let s = spec(json!({"securityContext": {}, "containers": [{"name": "a", "image": "x"}]}));
        assert!(sandbox_flags(&s).is_empty());
        assert!(app_flags(&s, &s.containers[0], "sb").is_empty());
        assert!(non_root_checks(&pod(json!({"metadata": {"name": "p"}, "spec": s}))).is_empty());
    }

    #[test]
    fn non_root_check_names_the_pod_as_the_kubelet() {
        let p = pod(json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "u-1"},
            "spec": {"securityContext": {"runAsNonRoot": true}, "containers": [
                {"name": "a", "image": "nginx"},
                {"name": "b", "image": "app:1", "securityContext": {"runAsUser": 0}},
                {"name": "c", "image": "app:1", "securityContext": {"runAsNonRoot": false}}]}
        }));
        let checks = non_root_checks(&p);
        assert_eq!(checks.len(), 2);
        assert_eq!(
            checks[0].args[3..],
            ["nginx", "web_shop(u-1)", "a", "image"].map(String::from)
        );
        assert_eq!(checks[1].args[6], "uid0");
        assert!(
            checks
                .iter()
                .all(|c| !c.mutating && c.args[1] == NON_ROOT_SCRIPT)
        );
    }
}
