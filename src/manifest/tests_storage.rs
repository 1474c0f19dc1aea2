//! Validation of volumes, mounts, claims, classes and StatefulSets: upstream's wording at the value.

use super::check;

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: c
    image: busybox
    volumeMounts:
    - name: nope
      mountPath: /a
    - name: h
      mountPath: /a
      subPath: ../x
    - name: h
      mountPath: /b
      mountPropagation: Bidirectional
  volumes:
  - name: h
    hostPath:
      path: /srv
      type: Dir
  - name: nf
    nfs: {server: x, path: /}
";

#[test]
fn volumes_and_mounts_are_checked_with_upstreams_words() {
    assert_eq!(
        check(&[("a.yaml", POD)]),
        [
            "a.yaml:10:13: spec.containers[0].volumeMounts[0].name: Not found: \"nope\"",
            "a.yaml:13:18: spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/a\": must be unique",
            "a.yaml:14:16: spec.containers[0].volumeMounts[1].subPath: Invalid value: \"../x\": must not contain '..'",
            "a.yaml:17:25: spec.containers[0].volumeMounts[2].mountPropagation: Forbidden: Bidirectional mount propagation is available only to privileged containers",
            "a.yaml:22:13: spec.volumes[0].hostPath.type: Unsupported value: \"Dir\": supported values: \"BlockDevice\", \"CharDevice\", \"Directory\", \"DirectoryOrCreate\", \"File\", \"FileOrCreate\", \"Socket\"",
            "warning: a.yaml:24:5: spec.volumes[1].nfs: clusterctl does not support volume type \"nfs\"; volume \"nf\" is not mounted",
        ]
    );
}

#[test]
fn claims_need_access_modes_and_storage() {
    let pvc = "apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: c
spec:
  accessModes: [ReadWriteOncePod, ReadWriteOnce]
  resources:
    requests:
      storage: 0
";
    assert_eq!(
        check(&[("a.yaml", pvc)]),
        [
            "a.yaml:6:16: spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes",
            "a.yaml:8:5: spec.resources[storage]: Invalid value: \"0\": must be greater than zero",
        ]
    );
    let none = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: c\nspec: {}\n";
    assert_eq!(
        check(&[("a.yaml", none)]),
        [
            "a.yaml:5:7: spec.accessModes: Required value: at least 1 access mode is required",
            "a.yaml:5:7: spec.resources[storage]: Required value",
        ]
    );
}

#[test]
fn stateful_set_policies_and_claim_templates() {
    let sts = "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  podManagementPolicy: Random
  updateStrategy:
    type: OnDelete
    rollingUpdate: {partition: 1}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: c
        image: busybox
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
";
    // The template may mount a claim template by name (no pod volume needed).
    assert_eq!(
        check(&[("a.yaml", sts)]),
        [
            "a.yaml:6:24: spec.podManagementPolicy: Unsupported value: \"Random\": supported values: \"OrderedReady\", \"Parallel\"",
            "a.yaml:9:20: spec.updateStrategy.rollingUpdate: Forbidden: only allowed for updateStrategy 'RollingUpdate'",
        ]
    );
}
