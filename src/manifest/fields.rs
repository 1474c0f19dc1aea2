//! What clusterctl does with every field of the Kubernetes schema it reads: the table validation uses to
//! warn about fields it does not apply, so no field is ignored silently. Keyed by the struct name
//! k8s-openapi gives serde (`PodSpec`, `Container`, …) and the field's JSON name. A type appears here when
//! it is reachable from a supported kind through fields that are applied; the test `fields_coverage`
//! walks k8s-openapi's own schema and fails when a field of such a type is in no row, or a row names a
//! field the schema does not have, and checks that every unsupported field is warned about by name.
//!
//! Fields another part of validation warns about with a message of its own (a volume type, a Job
//! feature, `seLinuxOptions`) are [`Support::Warned`]: the table does not warn twice. When a field gets
//! implemented, its row becomes [`Support::Yes`] (and the warning in validation goes).

use crate::yaml::{FieldPath, Pos, de::KnownField};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Applied (limits on its values are validation's errors and warnings).
    Yes,
    /// Read and not applied: every occurrence with a value is warned about with this message.
    No(&'static str),
    /// Not applied unless its value is the given one (what clusterctl does anyway); any other value is
    /// warned about with the message.
    NoUnless(&'static str, &'static str),
    /// Not applied, or only for some values; validation's own code warns about it, naming the object.
    Warned,
}

use Support::{No, NoUnless, Warned, Yes};

const IGNORED: &str = "clusterctl does not support this field; it is ignored";
const SET_BY_CLUSTER: &str = "set by the cluster, not by a manifest; it is ignored";
const STATUS: &str = "status is written by the cluster, not by a manifest; it is ignored";
const NO_SERVICE_ACCOUNTS: &str = "clusterctl has no ServiceAccounts and no API server: pods run without a service account and no token is mounted (as with automountServiceAccountToken: false); this field is ignored";
const NO_TOKEN: &str = "clusterctl never mounts a service account token (there is no API server to talk to); this field is ignored";
const NO_PRIORITY: &str =
    "clusterctl's scheduler has no priorities or preemption; this field is ignored";
const NO_DRA: &str = "clusterctl does not support dynamic resource allocation (ResourceClaims); this field is ignored";
const NO_ATTACH: &str = "clusterctl does not attach to a container's stdin or TTY (no kubectl attach); this field is ignored";
const NO_TERMINATION_MESSAGE: &str =
    "clusterctl does not read termination messages; this field is ignored";
const NO_IMMUTABLE: &str =
    "clusterctl does not enforce immutability: a change in Git is applied; this field is ignored";

/// The common fields of every kind.
const KIND: &[(&str, Support)] = &[
    ("apiVersion", Yes),
    ("kind", Yes),
    ("metadata", Yes),
    ("spec", Yes),
    ("status", No(STATUS)),
];

/// (struct name, [(field, support)]). Keep rows sorted by field; one type per entry.
pub const TABLE: &[(&str, &[(&str, Support)])] = &[
    ("Pod", KIND),
    ("Deployment", KIND),
    ("ReplicaSet", KIND),
    ("DaemonSet", KIND),
    ("StatefulSet", KIND),
    ("Job", KIND),
    ("Service", KIND),
    ("Namespace", KIND),
    ("PersistentVolumeClaim", KIND),
    (
        // The whole kind is warned about at `kind` (pre-provisioned volumes are not bound yet).
        "PersistentVolume",
        &[
            ("apiVersion", Yes),
            ("kind", Yes),
            ("metadata", Yes),
            ("spec", Warned),
            ("status", No(STATUS)),
        ],
    ),
    (
        "ConfigMap",
        &[
            ("apiVersion", Yes),
            ("binaryData", Yes),
            ("data", Yes),
            ("immutable", No(NO_IMMUTABLE)),
            ("kind", Yes),
            ("metadata", Yes),
        ],
    ),
    (
        "Secret",
        &[
            ("apiVersion", Yes),
            ("data", Yes),
            ("immutable", No(NO_IMMUTABLE)),
            ("kind", Yes),
            ("metadata", Yes),
            ("stringData", Yes),
            ("type", Yes),
        ],
    ),
    (
        "StorageClass",
        &[
            ("allowVolumeExpansion", Warned),
            ("allowedTopologies", Warned),
            ("apiVersion", Yes),
            ("kind", Yes),
            ("metadata", Yes),
            ("mountOptions", Warned),
            ("parameters", Warned),
            ("provisioner", Yes),
            ("reclaimPolicy", Yes),
            ("volumeBindingMode", Yes),
        ],
    ),
    (
        "ObjectMeta",
        &[
            ("annotations", Yes),
            ("creationTimestamp", No(SET_BY_CLUSTER)),
            ("deletionGracePeriodSeconds", No(SET_BY_CLUSTER)),
            ("deletionTimestamp", No(SET_BY_CLUSTER)),
            ("finalizers", No(IGNORED)),
            (
                "generateName",
                No("clusterctl identifies objects by metadata.name; generateName is ignored"),
            ),
            ("generation", No(SET_BY_CLUSTER)),
            ("labels", Yes),
            ("managedFields", No(SET_BY_CLUSTER)),
            ("name", Yes),
            ("namespace", Yes),
            (
                "ownerReferences",
                No("clusterctl sets owners itself (the controllers); this field is ignored"),
            ),
            ("resourceVersion", No(SET_BY_CLUSTER)),
            ("selfLink", No(SET_BY_CLUSTER)),
            ("uid", No(SET_BY_CLUSTER)),
        ],
    ),
    ("NamespaceSpec", &[("finalizers", Yes)]),
    (
        "LabelSelector",
        &[("matchExpressions", Yes), ("matchLabels", Yes)],
    ),
    (
        "LabelSelectorRequirement",
        &[("key", Yes), ("operator", Yes), ("values", Yes)],
    ),
    ("PodTemplateSpec", &[("metadata", Yes), ("spec", Yes)]),
    (
        "DeploymentSpec",
        &[
            ("minReadySeconds", Yes),
            (
                "paused",
                No(
                    "clusterctl does not pause rollouts: Git is the desired state; this field is ignored",
                ),
            ),
            ("progressDeadlineSeconds", Yes),
            ("replicas", Yes),
            ("revisionHistoryLimit", Yes),
            ("selector", Yes),
            ("strategy", Yes),
            ("template", Yes),
        ],
    ),
    (
        "DeploymentStrategy",
        &[("rollingUpdate", Yes), ("type", Yes)],
    ),
    (
        "RollingUpdateDeployment",
        &[("maxSurge", Yes), ("maxUnavailable", Yes)],
    ),
    (
        "ReplicaSetSpec",
        &[
            ("minReadySeconds", Yes),
            ("replicas", Yes),
            ("selector", Yes),
            ("template", Yes),
        ],
    ),
    (
        "DaemonSetSpec",
        &[
            ("minReadySeconds", Yes),
            ("revisionHistoryLimit", Yes),
            ("selector", Yes),
            ("template", Yes),
            ("updateStrategy", Yes),
        ],
    ),
    (
        "DaemonSetUpdateStrategy",
        &[("rollingUpdate", Yes), ("type", Yes)],
    ),
    (
        "RollingUpdateDaemonSet",
        &[("maxSurge", Yes), ("maxUnavailable", Yes)],
    ),
    (
        "StatefulSetSpec",
        &[
            ("minReadySeconds", Yes),
            ("ordinals", Yes),
            ("persistentVolumeClaimRetentionPolicy", Yes),
            ("podManagementPolicy", Yes),
            ("replicas", Yes),
            ("revisionHistoryLimit", Yes),
            ("selector", Yes),
            ("serviceName", Yes),
            ("template", Yes),
            ("updateStrategy", Yes),
            ("volumeClaimTemplates", Yes),
        ],
    ),
    ("StatefulSetOrdinals", &[("start", Yes)]),
    (
        "StatefulSetPersistentVolumeClaimRetentionPolicy",
        &[("whenDeleted", Warned), ("whenScaled", Warned)],
    ),
    (
        "StatefulSetUpdateStrategy",
        &[("rollingUpdate", Yes), ("type", Yes)],
    ),
    (
        "RollingUpdateStatefulSetStrategy",
        &[("maxUnavailable", Warned), ("partition", Yes)],
    ),
    (
        "JobSpec",
        &[
            ("activeDeadlineSeconds", Yes),
            ("backoffLimit", Yes),
            ("backoffLimitPerIndex", Warned),
            ("completionMode", Yes),
            ("completions", Yes),
            ("managedBy", Warned),
            ("manualSelector", Yes),
            ("maxFailedIndexes", Warned),
            ("parallelism", Yes),
            ("podFailurePolicy", Warned),
            ("podReplacementPolicy", Yes),
            ("selector", Yes),
            ("successPolicy", Warned),
            ("suspend", Yes),
            ("template", Yes),
            ("ttlSecondsAfterFinished", Yes),
        ],
    ),
    (
        "PodSpec",
        &[
            ("activeDeadlineSeconds", Warned),
            ("affinity", Yes),
            ("automountServiceAccountToken", NoUnless("false", NO_TOKEN)),
            ("containers", Yes),
            ("dnsConfig", Yes),
            ("dnsPolicy", Yes),
            ("enableServiceLinks", Yes),
            ("ephemeralContainers", Warned),
            ("hostAliases", Yes),
            ("hostIPC", Yes),
            ("hostNetwork", Yes),
            ("hostPID", Yes),
            (
                "hostUsers",
                NoUnless(
                    "true",
                    "clusterctl does not use user namespaces: containers run in the host's; this field is ignored",
                ),
            ),
            ("hostname", Yes),
            ("imagePullSecrets", Yes),
            ("initContainers", Yes),
            ("nodeName", Yes),
            ("nodeSelector", Yes),
            (
                "os",
                No("clusterctl runs Linux containers only; this field is ignored"),
            ),
            ("overhead", Yes),
            ("preemptionPolicy", No(NO_PRIORITY)),
            ("priority", No(NO_PRIORITY)),
            ("priorityClassName", No(NO_PRIORITY)),
            (
                "readinessGates",
                No("clusterctl's readiness counts containers only; readiness gates are ignored"),
            ),
            ("resourceClaims", No(NO_DRA)),
            ("resources", Yes),
            ("restartPolicy", Yes),
            (
                "runtimeClassName",
                No(
                    "clusterctl runs every pod with the host's default docker runtime; this field is ignored",
                ),
            ),
            (
                "schedulerName",
                NoUnless(
                    "default-scheduler",
                    "clusterctl has one scheduler (default-scheduler); this field is ignored",
                ),
            ),
            (
                "schedulingGates",
                No("clusterctl schedules every pod at once; scheduling gates are ignored"),
            ),
            ("securityContext", Yes),
            ("serviceAccount", No(NO_SERVICE_ACCOUNTS)),
            ("serviceAccountName", No(NO_SERVICE_ACCOUNTS)),
            ("setHostnameAsFQDN", No(IGNORED)),
            ("shareProcessNamespace", Yes),
            ("subdomain", Yes),
            ("terminationGracePeriodSeconds", Yes),
            ("tolerations", Yes),
            ("topologySpreadConstraints", Yes),
            ("volumes", Yes),
        ],
    ),
    (
        "Container",
        &[
            ("args", Yes),
            ("command", Yes),
            ("env", Yes),
            ("envFrom", Yes),
            ("image", Yes),
            ("imagePullPolicy", Yes),
            ("lifecycle", Yes),
            ("livenessProbe", Yes),
            ("name", Yes),
            ("ports", Yes),
            ("readinessProbe", Yes),
            (
                "resizePolicy",
                No("clusterctl does not resize containers in place; this field is ignored"),
            ),
            ("resources", Yes),
            ("restartPolicy", Yes),
            ("securityContext", Yes),
            ("startupProbe", Yes),
            ("stdin", NoUnless("false", NO_ATTACH)),
            ("stdinOnce", NoUnless("false", NO_ATTACH)),
            ("terminationMessagePath", No(NO_TERMINATION_MESSAGE)),
            ("terminationMessagePolicy", No(NO_TERMINATION_MESSAGE)),
            ("tty", NoUnless("false", NO_ATTACH)),
            ("volumeDevices", Warned),
            ("volumeMounts", Yes),
            ("workingDir", Yes),
        ],
    ),
    (
        "ContainerPort",
        &[
            ("containerPort", Yes),
            ("hostIP", Yes),
            ("hostPort", Yes),
            ("name", Yes),
            ("protocol", Yes),
        ],
    ),
    (
        "EnvVar",
        &[("name", Yes), ("value", Yes), ("valueFrom", Yes)],
    ),
    (
        "EnvVarSource",
        &[
            ("configMapKeyRef", Yes),
            ("fieldRef", Yes),
            ("resourceFieldRef", Yes),
            ("secretKeyRef", Yes),
        ],
    ),
    (
        "ConfigMapKeySelector",
        &[("key", Yes), ("name", Yes), ("optional", Yes)],
    ),
    (
        "SecretKeySelector",
        &[("key", Yes), ("name", Yes), ("optional", Yes)],
    ),
    (
        "ObjectFieldSelector",
        &[("apiVersion", Yes), ("fieldPath", Yes)],
    ),
    (
        "ResourceFieldSelector",
        &[("containerName", Yes), ("divisor", Yes), ("resource", Yes)],
    ),
    (
        "EnvFromSource",
        &[("configMapRef", Yes), ("prefix", Yes), ("secretRef", Yes)],
    ),
    ("ConfigMapEnvSource", &[("name", Yes), ("optional", Yes)]),
    ("SecretEnvSource", &[("name", Yes), ("optional", Yes)]),
    (
        "ResourceRequirements",
        &[("claims", No(NO_DRA)), ("limits", Yes), ("requests", Yes)],
    ),
    (
        "Lifecycle",
        &[
            ("postStart", Warned),
            ("preStop", Yes),
            (
                "stopSignal",
                No(
                    "clusterctl stops containers with their image's stop signal; this field is ignored",
                ),
            ),
        ],
    ),
    (
        "LifecycleHandler",
        &[
            ("exec", Yes),
            ("httpGet", Warned),
            ("sleep", Warned),
            ("tcpSocket", Warned),
        ],
    ),
    ("ExecAction", &[("command", Yes)]),
    (
        "HTTPGetAction",
        &[
            ("host", Yes),
            ("httpHeaders", Yes),
            ("path", Yes),
            ("port", Yes),
            ("scheme", Yes),
        ],
    ),
    ("HTTPHeader", &[("name", Yes), ("value", Yes)]),
    ("TCPSocketAction", &[("host", Yes), ("port", Yes)]),
    ("GRPCAction", &[("port", Yes), ("service", Yes)]),
    (
        "Probe",
        &[
            ("exec", Yes),
            ("failureThreshold", Yes),
            ("grpc", Yes),
            ("httpGet", Yes),
            ("initialDelaySeconds", Yes),
            ("periodSeconds", Yes),
            ("successThreshold", Yes),
            ("tcpSocket", Yes),
            ("terminationGracePeriodSeconds", Yes),
            ("timeoutSeconds", Yes),
        ],
    ),
    (
        "PodSecurityContext",
        &[
            ("appArmorProfile", Warned),
            ("fsGroup", Yes),
            ("fsGroupChangePolicy", Warned),
            ("runAsGroup", Yes),
            ("runAsNonRoot", Yes),
            ("runAsUser", Yes),
            ("seLinuxChangePolicy", Warned),
            ("seLinuxOptions", Warned),
            ("seccompProfile", Yes),
            ("supplementalGroups", Yes),
            ("supplementalGroupsPolicy", Warned),
            ("sysctls", Yes),
            ("windowsOptions", Warned),
        ],
    ),
    (
        "SecurityContext",
        &[
            ("allowPrivilegeEscalation", Yes),
            ("appArmorProfile", Warned),
            ("capabilities", Yes),
            ("privileged", Yes),
            ("procMount", Yes),
            ("readOnlyRootFilesystem", Yes),
            ("runAsGroup", Yes),
            ("runAsNonRoot", Yes),
            ("runAsUser", Yes),
            ("seLinuxOptions", Warned),
            ("seccompProfile", Yes),
            ("windowsOptions", Warned),
        ],
    ),
    ("Capabilities", &[("add", Yes), ("drop", Yes)]),
    (
        "SeccompProfile",
        &[("localhostProfile", Warned), ("type", Yes)],
    ),
    ("Sysctl", &[("name", Yes), ("value", Yes)]),
    ("HostAlias", &[("hostnames", Yes), ("ip", Yes)]),
    (
        "PodDNSConfig",
        &[("nameservers", Yes), ("options", Yes), ("searches", Yes)],
    ),
    ("PodDNSConfigOption", &[("name", Yes), ("value", Yes)]),
    ("LocalObjectReference", &[("name", Yes)]),
    (
        "Toleration",
        &[
            ("effect", Yes),
            ("key", Yes),
            ("operator", Yes),
            ("tolerationSeconds", Yes),
            ("value", Yes),
        ],
    ),
    (
        "Affinity",
        &[
            ("nodeAffinity", Yes),
            ("podAffinity", Yes),
            ("podAntiAffinity", Yes),
        ],
    ),
    (
        "NodeAffinity",
        &[
            ("preferredDuringSchedulingIgnoredDuringExecution", Yes),
            ("requiredDuringSchedulingIgnoredDuringExecution", Yes),
        ],
    ),
    ("NodeSelector", &[("nodeSelectorTerms", Yes)]),
    (
        "NodeSelectorTerm",
        &[("matchExpressions", Yes), ("matchFields", Yes)],
    ),
    (
        "NodeSelectorRequirement",
        &[("key", Yes), ("operator", Yes), ("values", Yes)],
    ),
    (
        "PreferredSchedulingTerm",
        &[("preference", Yes), ("weight", Yes)],
    ),
    (
        "PodAffinity",
        &[
            ("preferredDuringSchedulingIgnoredDuringExecution", Yes),
            ("requiredDuringSchedulingIgnoredDuringExecution", Yes),
        ],
    ),
    (
        "PodAntiAffinity",
        &[
            ("preferredDuringSchedulingIgnoredDuringExecution", Yes),
            ("requiredDuringSchedulingIgnoredDuringExecution", Yes),
        ],
    ),
    (
        "PodAffinityTerm",
        &[
            ("labelSelector", Yes),
            ("matchLabelKeys", Yes),
            ("mismatchLabelKeys", Yes),
            ("namespaceSelector", Yes),
            ("namespaces", Yes),
            ("topologyKey", Yes),
        ],
    ),
    (
        "WeightedPodAffinityTerm",
        &[("podAffinityTerm", Yes), ("weight", Yes)],
    ),
    (
        "TopologySpreadConstraint",
        &[
            ("labelSelector", Yes),
            ("matchLabelKeys", Yes),
            ("maxSkew", Yes),
            ("minDomains", Yes),
            ("nodeAffinityPolicy", Yes),
            ("nodeTaintsPolicy", Yes),
            ("topologyKey", Yes),
            ("whenUnsatisfiable", Yes),
        ],
    ),
    (
        "Volume",
        &[
            ("awsElasticBlockStore", Warned),
            ("azureDisk", Warned),
            ("azureFile", Warned),
            ("cephfs", Warned),
            ("cinder", Warned),
            ("configMap", Yes),
            ("csi", Warned),
            ("downwardAPI", Yes),
            ("emptyDir", Yes),
            ("ephemeral", Warned),
            ("fc", Warned),
            ("flexVolume", Warned),
            ("flocker", Warned),
            ("gcePersistentDisk", Warned),
            ("gitRepo", Warned),
            ("glusterfs", Warned),
            ("hostPath", Yes),
            ("image", Warned),
            ("iscsi", Warned),
            ("name", Yes),
            ("nfs", Warned),
            ("persistentVolumeClaim", Yes),
            ("photonPersistentDisk", Warned),
            ("portworxVolume", Warned),
            ("projected", Yes),
            ("quobyte", Warned),
            ("rbd", Warned),
            ("scaleIO", Warned),
            ("secret", Yes),
            ("storageos", Warned),
            ("vsphereVolume", Warned),
        ],
    ),
    (
        "VolumeMount",
        &[
            ("mountPath", Yes),
            ("mountPropagation", Yes),
            ("name", Yes),
            ("readOnly", Yes),
            ("recursiveReadOnly", Yes),
            ("subPath", Yes),
            ("subPathExpr", Yes),
        ],
    ),
    (
        "EmptyDirVolumeSource",
        &[("medium", Yes), ("sizeLimit", Yes)],
    ),
    ("HostPathVolumeSource", &[("path", Yes), ("type", Yes)]),
    (
        "PersistentVolumeClaimVolumeSource",
        &[("claimName", Yes), ("readOnly", Yes)],
    ),
    (
        "ConfigMapVolumeSource",
        &[
            ("defaultMode", Yes),
            ("items", Yes),
            ("name", Yes),
            ("optional", Yes),
        ],
    ),
    (
        "SecretVolumeSource",
        &[
            ("defaultMode", Yes),
            ("items", Yes),
            ("optional", Yes),
            ("secretName", Yes),
        ],
    ),
    ("KeyToPath", &[("key", Yes), ("mode", Yes), ("path", Yes)]),
    (
        "DownwardAPIVolumeSource",
        &[("defaultMode", Yes), ("items", Yes)],
    ),
    (
        "DownwardAPIVolumeFile",
        &[
            ("fieldRef", Yes),
            ("mode", Yes),
            ("path", Yes),
            ("resourceFieldRef", Yes),
        ],
    ),
    (
        "ProjectedVolumeSource",
        &[("defaultMode", Yes), ("sources", Yes)],
    ),
    (
        "VolumeProjection",
        &[
            ("clusterTrustBundle", Warned),
            ("configMap", Yes),
            ("downwardAPI", Yes),
            ("secret", Yes),
            ("serviceAccountToken", Warned),
        ],
    ),
    (
        "ConfigMapProjection",
        &[("items", Yes), ("name", Yes), ("optional", Yes)],
    ),
    (
        "SecretProjection",
        &[("items", Yes), ("name", Yes), ("optional", Yes)],
    ),
    ("DownwardAPIProjection", &[("items", Yes)]),
    (
        "PersistentVolumeClaimSpec",
        &[
            ("accessModes", Yes),
            ("dataSource", Warned),
            ("dataSourceRef", Warned),
            ("resources", Yes),
            ("selector", Warned),
            ("storageClassName", Yes),
            ("volumeAttributesClassName", Warned),
            ("volumeMode", Yes),
            ("volumeName", Warned),
        ],
    ),
    (
        "VolumeResourceRequirements",
        &[("limits", Yes), ("requests", Yes)],
    ),
    (
        "ServiceSpec",
        &[
            ("allocateLoadBalancerNodePorts", Warned),
            ("clusterIP", Yes),
            (
                "clusterIPs",
                No("clusterctl gives a Service one address (clusterIP); clusterIPs is ignored"),
            ),
            ("externalIPs", Warned),
            ("externalName", Yes),
            ("externalTrafficPolicy", Yes),
            ("healthCheckNodePort", Yes),
            ("internalTrafficPolicy", Yes),
            (
                "ipFamilies",
                No("clusterctl's Services are IPv4 only; this field is ignored"),
            ),
            (
                "ipFamilyPolicy",
                NoUnless(
                    "SingleStack",
                    "clusterctl's Services are IPv4 only (SingleStack); this field is ignored",
                ),
            ),
            ("loadBalancerClass", Warned),
            ("loadBalancerIP", Warned),
            ("loadBalancerSourceRanges", Yes),
            ("ports", Yes),
            (
                "publishNotReadyAddresses",
                NoUnless(
                    "false",
                    "clusterctl's endpoints hold Ready pods only; this field is ignored",
                ),
            ),
            ("selector", Yes),
            ("sessionAffinity", Yes),
            ("sessionAffinityConfig", Yes),
            (
                "trafficDistribution",
                No(
                    "clusterctl spreads Service traffic over every Ready endpoint; this field is ignored",
                ),
            ),
            ("type", Yes),
        ],
    ),
    (
        "ServicePort",
        &[
            (
                "appProtocol",
                No("clusterctl forwards by port and protocol only; appProtocol is ignored"),
            ),
            ("name", Yes),
            ("nodePort", Yes),
            ("port", Yes),
            ("protocol", Yes),
            ("targetPort", Yes),
        ],
    ),
    ("SessionAffinityConfig", &[("clientIP", Yes)]),
    ("ClientIPConfig", &[("timeoutSeconds", Yes)]),
];

/// The row of `ty.field`: `None` when the type is not in the table (reached only through a field that is
/// already warned about), `Some(None)` when the type is and the field is not.
pub fn support(ty: &str, field: &str) -> Option<Option<Support>> {
    let (_, fields) = TABLE.iter().find(|(t, _)| *t == ty)?;
    Some(fields.iter().find(|(f, _)| *f == field).map(|(_, s)| *s))
}

/// One warning about a field clusterctl does not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub path: FieldPath,
    pub pos: Pos,
    pub message: String,
}

/// The warnings for the known keys of one object (as `yaml::de` recorded them, parents first). Nothing
/// is said about what lies under a field that is already warned about.
pub fn warnings(known: &[KnownField]) -> Vec<Unsupported> {
    let mut out = Vec::new();
    let mut quiet: Vec<String> = Vec::new();
    for k in known {
        let path = k.path.to_string();
        if quiet.iter().any(|q| under(&path, q)) {
            continue;
        }
        let message = match support(k.ty, k.key) {
            None | Some(Some(Yes)) => continue,
            Some(Some(Warned)) => {
                quiet.push(path);
                continue;
            }
            Some(Some(No(m))) => m,
            Some(Some(NoUnless(v, m))) => {
                if k.scalar.as_deref() == Some(v) {
                    continue;
                }
                m
            }
            // A field k8s-openapi knows and the table does not (a newer schema): not applied, so said.
            Some(None) => IGNORED,
        };
        quiet.push(path);
        if k.empty {
            continue;
        }
        out.push(Unsupported {
            path: k.path.clone(),
            pos: k.pos,
            message: message.to_string(),
        });
    }
    out
}

fn under(path: &str, parent: &str) -> bool {
    path.strip_prefix(parent)
        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}
