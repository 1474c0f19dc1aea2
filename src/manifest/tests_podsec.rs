//! Validation of securityContext, sysctls, hostAliases and the pod runtime fields clusterctl does not apply.

use super::check;

fn pod(spec: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n{spec}")
}

/// The diagnostics without their `file:line:col: ` (the paths and messages are what is under test).
fn messages(spec: &str) -> Vec<String> {
    let mut got: Vec<String> = check(&[("a.yaml", &pod(spec))])
        .into_iter()
        .map(|d| {
            let (warn, rest) = match d.strip_prefix("warning: ") {
                Some(r) => ("warning: ", r),
                None => ("", d.as_str()),
            };
            let rest = rest.splitn(4, ':').nth(3).unwrap_or(rest).trim_start();
            format!("{warn}{rest}")
        })
        .collect();
    got.sort();
    got
}

#[test]
fn supported_security_fields_validate_clean() {
    let spec = "  hostNetwork: true\n  hostPID: true\n  shareProcessNamespace: true\n  hostAliases:\n  - ip: 10.1.2.3\n    hostnames: [db.local]\n  securityContext:\n    runAsUser: 1000\n    runAsGroup: 3000\n    runAsNonRoot: true\n    supplementalGroups: [4000]\n    seccompProfile: {type: RuntimeDefault}\n    sysctls:\n    - {name: kernel.shm_rmid_forced, value: \"1\"}\n  containers:\n  - name: c\n    image: busybox\n    securityContext:\n      privileged: true\n      readOnlyRootFilesystem: true\n      capabilities: {add: [NET_ADMIN], drop: [ALL]}\n      seccompProfile: {type: Unconfined}\n";
    assert_eq!(messages(spec), Vec::<String>::new());
}

#[test]
fn unsafe_and_conflicting_sysctls_are_refused_as_the_kubelet_does() {
    let spec = "  hostNetwork: true\n  hostIPC: true\n  securityContext:\n    sysctls:\n    - {name: kernel.msgmax, value: \"1\"}\n    - {name: net.ipv4.tcp_syncookies, value: \"1\"}\n    - {name: kernel.shm_rmid_forced, value: \"1\"}\n  containers:\n  - name: c\n    image: busybox\n";
    assert_eq!(
        messages(spec),
        [
            "spec.securityContext.sysctls[0].name: Forbidden: forbidden sysctl: \"kernel.msgmax\" not allowlisted",
            "spec.securityContext.sysctls[1].name: Forbidden: \"net.ipv4.tcp_syncookies\" not allowed with host net enabled",
            "spec.securityContext.sysctls[2].name: Forbidden: \"kernel.shm_rmid_forced\" not allowed with host ipc enabled",
        ]
    );
}

#[test]
fn what_docker_cannot_apply_is_named() {
    let spec = "  activeDeadlineSeconds: 30\n  securityContext:\n    runAsGroup: 5\n    fsGroup: 2000\n    seLinuxOptions: {level: \"s0:c1\"}\n    fsGroupChangePolicy: OnRootMismatch\n  hostAliases:\n  - ip: not-an-ip\n    hostnames: [\"a b\"]\n  containers:\n  - name: c\n    image: busybox\n    securityContext:\n      seccompProfile: {type: Localhost, localhostProfile: p.json}\n      procMount: Unmasked\n      allowPrivilegeEscalation: false\n      privileged: true\n      capabilities: {add: [\"SYS_ADMIN\", \"x;y\"]}\n";
    let got = messages(spec);
    let want = [
        "spec.containers[0].securityContext.capabilities.add[1]: Invalid value: \"x;y\": must be a capability name such as NET_ADMIN",
        "spec.containers[0].securityContext: Invalid value: \"false\": cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
        "spec.containers[0].securityContext: Invalid value: \"false\": cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
        "warning: spec.activeDeadlineSeconds: clusterctl does not enforce a pod's deadline; it is ignored (a Job's spec.activeDeadlineSeconds is)",
        "warning: spec.containers[0].securityContext.procMount: clusterctl runs containers with the default (masked) /proc; Unmasked is ignored",
        "warning: spec.containers[0].securityContext.seccompProfile.localhostProfile: clusterctl does not load Localhost seccomp profiles; the runtime's default profile applies",
        "warning: spec.securityContext.fsGroup: added to every container's groups; clusterctl does not change the ownership of volumes to it",
        "warning: spec.securityContext.fsGroupChangePolicy: clusterctl does not support this field; it is ignored",
        "warning: spec.securityContext.runAsGroup: docker cannot set a group without a user: without runAsUser the image's user and group apply",
        "warning: spec.securityContext.seLinuxOptions: clusterctl does not support this field; it is ignored",
    ];
    for w in want {
        assert!(got.iter().any(|g| g == w), "missing {w:?} in {got:#?}");
    }
    assert!(
        got.iter()
            .any(|g| g.starts_with("spec.hostAliases[0].ip: Invalid value: \"not-an-ip\""))
    );
    assert!(
        got.iter()
            .any(|g| g.starts_with("spec.hostAliases[0].hostnames[0]: Invalid value: \"a b\""))
    );
}
