//! `pod-template-hash` as the Kubernetes deployment controller computes it: FNV-32a over go-spew's
//! `%#v` rendering of the Go `v1.PodTemplateSpec` (SortKeys, DisableMethods), optionally followed by the
//! collision count, then `SafeEncodeString` of the decimal sum.
//!
//! Reproducing the bytes needs the Go struct layout (field order, Go type names) of the Kubernetes release
//! whose controller computes the hash. The tables below restate the layout of **v1.23** (the seed cluster's
//! version); both seed vectors (`k8s-nginx-6d779d947c`, `my-nginx-cf54cdbf7`) match. Values are read from the
//! k8s-openapi object serialized to JSON. Empty slices and maps are treated as nil, because the controller
//! reads objects decoded from protobuf, where the two are indistinguishable.
//!
//! Not byte-exact (documented divergence): struct types missing from the tables (rare volume sources,
//! ephemeral containers, …) are rendered as their canonical JSON, and `resource.Quantity` internals are
//! rendered from the written mantissa/exponent, which matches upstream only for simple forms.
//! Pure: no IO.

use serde_json::Value;

/// Field: Go name, JSON name (`""` = Go name with a lower-case first letter, `"-"` = embedded inline),
/// Go type as `reflect.Type.String()` prints it.
type Field = (&'static str, &'static str, &'static str);

fn struct_fields(go_type: &str) -> Option<&'static [Field]> {
    Some(match go_type {
        "v1.PodTemplateSpec" => &[
            ("ObjectMeta", "metadata", "v1.ObjectMeta"),
            ("Spec", "spec", "v1.PodSpec"),
        ],
        "v1.ObjectMeta" => &[
            ("Name", "", "string"),
            ("GenerateName", "", "string"),
            ("Namespace", "", "string"),
            ("SelfLink", "", "string"),
            ("UID", "uid", "types.UID"),
            ("ResourceVersion", "", "string"),
            ("Generation", "", "int64"),
            ("CreationTimestamp", "", "v1.Time"),
            ("DeletionTimestamp", "", "*v1.Time"),
            ("DeletionGracePeriodSeconds", "", "*int64"),
            ("Labels", "", "map[string]string"),
            ("Annotations", "", "map[string]string"),
            ("OwnerReferences", "", "[]v1.OwnerReference"),
            ("Finalizers", "", "[]string"),
            ("ClusterName", "", "string"),
            ("ManagedFields", "", "[]v1.ManagedFieldsEntry"),
        ],
        "v1.OwnerReference" => &[
            ("APIVersion", "apiVersion", "string"),
            ("Kind", "", "string"),
            ("Name", "", "string"),
            ("UID", "uid", "types.UID"),
            ("Controller", "", "*bool"),
            ("BlockOwnerDeletion", "", "*bool"),
        ],
        "v1.PodSpec" => &[
            ("Volumes", "", "[]v1.Volume"),
            ("InitContainers", "", "[]v1.Container"),
            ("Containers", "", "[]v1.Container"),
            ("EphemeralContainers", "", "[]v1.EphemeralContainer"),
            ("RestartPolicy", "", "v1.RestartPolicy"),
            ("TerminationGracePeriodSeconds", "", "*int64"),
            ("ActiveDeadlineSeconds", "", "*int64"),
            ("DNSPolicy", "dnsPolicy", "v1.DNSPolicy"),
            ("NodeSelector", "", "map[string]string"),
            ("ServiceAccountName", "", "string"),
            ("DeprecatedServiceAccount", "serviceAccount", "string"),
            ("AutomountServiceAccountToken", "", "*bool"),
            ("NodeName", "", "string"),
            ("HostNetwork", "", "bool"),
            ("HostPID", "hostPID", "bool"),
            ("HostIPC", "hostIPC", "bool"),
            ("ShareProcessNamespace", "", "*bool"),
            ("SecurityContext", "", "*v1.PodSecurityContext"),
            ("ImagePullSecrets", "", "[]v1.LocalObjectReference"),
            ("Hostname", "", "string"),
            ("Subdomain", "", "string"),
            ("Affinity", "", "*v1.Affinity"),
            ("SchedulerName", "", "string"),
            ("Tolerations", "", "[]v1.Toleration"),
            ("HostAliases", "", "[]v1.HostAlias"),
            ("PriorityClassName", "", "string"),
            ("Priority", "", "*int32"),
            ("DNSConfig", "dnsConfig", "*v1.PodDNSConfig"),
            ("ReadinessGates", "", "[]v1.PodReadinessGate"),
            ("RuntimeClassName", "", "*string"),
            ("EnableServiceLinks", "", "*bool"),
            ("PreemptionPolicy", "", "*v1.PreemptionPolicy"),
            ("Overhead", "", "v1.ResourceList"),
            (
                "TopologySpreadConstraints",
                "",
                "[]v1.TopologySpreadConstraint",
            ),
            ("SetHostnameAsFQDN", "setHostnameAsFQDN", "*bool"),
            ("OS", "os", "*v1.PodOS"),
        ],
        "v1.PodOS" => &[("Name", "", "v1.OSName")],
        "v1.Container" => &[
            ("Name", "", "string"),
            ("Image", "", "string"),
            ("Command", "", "[]string"),
            ("Args", "", "[]string"),
            ("WorkingDir", "", "string"),
            ("Ports", "", "[]v1.ContainerPort"),
            ("EnvFrom", "", "[]v1.EnvFromSource"),
            ("Env", "", "[]v1.EnvVar"),
            ("Resources", "", "v1.ResourceRequirements"),
            ("VolumeMounts", "", "[]v1.VolumeMount"),
            ("VolumeDevices", "", "[]v1.VolumeDevice"),
            ("LivenessProbe", "", "*v1.Probe"),
            ("ReadinessProbe", "", "*v1.Probe"),
            ("StartupProbe", "", "*v1.Probe"),
            ("Lifecycle", "", "*v1.Lifecycle"),
            ("TerminationMessagePath", "", "string"),
            (
                "TerminationMessagePolicy",
                "",
                "v1.TerminationMessagePolicy",
            ),
            ("ImagePullPolicy", "", "v1.PullPolicy"),
            ("SecurityContext", "", "*v1.SecurityContext"),
            ("Stdin", "", "bool"),
            ("StdinOnce", "", "bool"),
            ("TTY", "tty", "bool"),
        ],
        "v1.ContainerPort" => &[
            ("Name", "", "string"),
            ("HostPort", "", "int32"),
            ("ContainerPort", "", "int32"),
            ("Protocol", "", "v1.Protocol"),
            ("HostIP", "hostIP", "string"),
        ],
        "v1.EnvFromSource" => &[
            ("Prefix", "", "string"),
            ("ConfigMapRef", "", "*v1.ConfigMapEnvSource"),
            ("SecretRef", "", "*v1.SecretEnvSource"),
        ],
        "v1.ConfigMapEnvSource" | "v1.SecretEnvSource" => &[
            ("LocalObjectReference", "-", "v1.LocalObjectReference"),
            ("Optional", "", "*bool"),
        ],
        "v1.LocalObjectReference" => &[("Name", "", "string")],
        "v1.EnvVar" => &[
            ("Name", "", "string"),
            ("Value", "", "string"),
            ("ValueFrom", "", "*v1.EnvVarSource"),
        ],
        "v1.EnvVarSource" => &[
            ("FieldRef", "", "*v1.ObjectFieldSelector"),
            ("ResourceFieldRef", "", "*v1.ResourceFieldSelector"),
            ("ConfigMapKeyRef", "", "*v1.ConfigMapKeySelector"),
            ("SecretKeyRef", "", "*v1.SecretKeySelector"),
        ],
        "v1.ObjectFieldSelector" => &[
            ("APIVersion", "apiVersion", "string"),
            ("FieldPath", "", "string"),
        ],
        "v1.ResourceFieldSelector" => &[
            ("ContainerName", "", "string"),
            ("Resource", "", "string"),
            ("Divisor", "", "resource.Quantity"),
        ],
        "v1.ConfigMapKeySelector" | "v1.SecretKeySelector" => &[
            ("LocalObjectReference", "-", "v1.LocalObjectReference"),
            ("Key", "", "string"),
            ("Optional", "", "*bool"),
        ],
        "v1.ResourceRequirements" => &[
            ("Limits", "", "v1.ResourceList"),
            ("Requests", "", "v1.ResourceList"),
        ],
        "v1.VolumeMount" => &[
            ("Name", "", "string"),
            ("ReadOnly", "", "bool"),
            ("MountPath", "", "string"),
            ("SubPath", "", "string"),
            ("MountPropagation", "", "*v1.MountPropagationMode"),
            ("SubPathExpr", "", "string"),
        ],
        "v1.VolumeDevice" => &[("Name", "", "string"), ("DevicePath", "", "string")],
        "v1.Probe" => &[
            ("Handler", "-", "v1.Handler"),
            ("InitialDelaySeconds", "", "int32"),
            ("TimeoutSeconds", "", "int32"),
            ("PeriodSeconds", "", "int32"),
            ("SuccessThreshold", "", "int32"),
            ("FailureThreshold", "", "int32"),
            ("TerminationGracePeriodSeconds", "", "*int64"),
        ],
        "v1.Handler" => &[
            ("Exec", "", "*v1.ExecAction"),
            ("HTTPGet", "httpGet", "*v1.HTTPGetAction"),
            ("TCPSocket", "tcpSocket", "*v1.TCPSocketAction"),
        ],
        "v1.ExecAction" => &[("Command", "", "[]string")],
        "v1.HTTPGetAction" => &[
            ("Path", "", "string"),
            ("Port", "", "intstr.IntOrString"),
            ("Host", "", "string"),
            ("Scheme", "", "v1.URIScheme"),
            ("HTTPHeaders", "httpHeaders", "[]v1.HTTPHeader"),
        ],
        "v1.HTTPHeader" => &[("Name", "", "string"), ("Value", "", "string")],
        "v1.TCPSocketAction" => &[("Port", "", "intstr.IntOrString"), ("Host", "", "string")],
        "v1.Lifecycle" => &[
            ("PostStart", "", "*v1.Handler"),
            ("PreStop", "", "*v1.Handler"),
        ],
        "v1.SecurityContext" => &[
            ("Capabilities", "", "*v1.Capabilities"),
            ("Privileged", "", "*bool"),
            ("SELinuxOptions", "seLinuxOptions", "*v1.SELinuxOptions"),
            ("WindowsOptions", "", "*v1.WindowsSecurityContextOptions"),
            ("RunAsUser", "", "*int64"),
            ("RunAsGroup", "", "*int64"),
            ("RunAsNonRoot", "", "*bool"),
            ("ReadOnlyRootFilesystem", "", "*bool"),
            ("AllowPrivilegeEscalation", "", "*bool"),
            ("ProcMount", "", "*v1.ProcMountType"),
            ("SeccompProfile", "", "*v1.SeccompProfile"),
        ],
        "v1.Capabilities" => &[
            ("Add", "", "[]v1.Capability"),
            ("Drop", "", "[]v1.Capability"),
        ],
        "v1.SELinuxOptions" => &[
            ("User", "", "string"),
            ("Role", "", "string"),
            ("Type", "", "string"),
            ("Level", "", "string"),
        ],
        "v1.SeccompProfile" => &[
            ("Type", "", "v1.SeccompProfileType"),
            ("LocalhostProfile", "", "*string"),
        ],
        "v1.PodSecurityContext" => &[
            ("SELinuxOptions", "seLinuxOptions", "*v1.SELinuxOptions"),
            ("WindowsOptions", "", "*v1.WindowsSecurityContextOptions"),
            ("RunAsUser", "", "*int64"),
            ("RunAsGroup", "", "*int64"),
            ("RunAsNonRoot", "", "*bool"),
            ("SupplementalGroups", "", "[]int64"),
            ("FSGroup", "fsGroup", "*int64"),
            ("Sysctls", "", "[]v1.Sysctl"),
            (
                "FSGroupChangePolicy",
                "fsGroupChangePolicy",
                "*v1.PodFSGroupChangePolicy",
            ),
            ("SeccompProfile", "", "*v1.SeccompProfile"),
        ],
        "v1.Sysctl" => &[("Name", "", "string"), ("Value", "", "string")],
        "v1.Toleration" => &[
            ("Key", "", "string"),
            ("Operator", "", "v1.TolerationOperator"),
            ("Value", "", "string"),
            ("Effect", "", "v1.TaintEffect"),
            ("TolerationSeconds", "", "*int64"),
        ],
        "v1.HostAlias" => &[("IP", "ip", "string"), ("Hostnames", "", "[]string")],
        "v1.PodDNSConfig" => &[
            ("Nameservers", "", "[]string"),
            ("Searches", "", "[]string"),
            ("Options", "", "[]v1.PodDNSConfigOption"),
        ],
        "v1.PodDNSConfigOption" => &[("Name", "", "string"), ("Value", "", "*string")],
        "v1.PodReadinessGate" => &[("ConditionType", "", "v1.PodConditionType")],
        "v1.Affinity" => &[
            ("NodeAffinity", "", "*v1.NodeAffinity"),
            ("PodAffinity", "", "*v1.PodAffinity"),
            ("PodAntiAffinity", "", "*v1.PodAntiAffinity"),
        ],
        "v1.NodeAffinity" => &[
            (
                "RequiredDuringSchedulingIgnoredDuringExecution",
                "",
                "*v1.NodeSelector",
            ),
            (
                "PreferredDuringSchedulingIgnoredDuringExecution",
                "",
                "[]v1.PreferredSchedulingTerm",
            ),
        ],
        "v1.NodeSelector" => &[("NodeSelectorTerms", "", "[]v1.NodeSelectorTerm")],
        "v1.NodeSelectorTerm" => &[
            ("MatchExpressions", "", "[]v1.NodeSelectorRequirement"),
            ("MatchFields", "", "[]v1.NodeSelectorRequirement"),
        ],
        "v1.NodeSelectorRequirement" => &[
            ("Key", "", "string"),
            ("Operator", "", "v1.NodeSelectorOperator"),
            ("Values", "", "[]string"),
        ],
        "v1.PreferredSchedulingTerm" => &[
            ("Weight", "", "int32"),
            ("Preference", "", "v1.NodeSelectorTerm"),
        ],
        "v1.PodAffinity" | "v1.PodAntiAffinity" => &[
            (
                "RequiredDuringSchedulingIgnoredDuringExecution",
                "",
                "[]v1.PodAffinityTerm",
            ),
            (
                "PreferredDuringSchedulingIgnoredDuringExecution",
                "",
                "[]v1.WeightedPodAffinityTerm",
            ),
        ],
        "v1.PodAffinityTerm" => &[
            ("LabelSelector", "", "*v1.LabelSelector"),
            ("Namespaces", "", "[]string"),
            ("TopologyKey", "", "string"),
            ("NamespaceSelector", "", "*v1.LabelSelector"),
        ],
        "v1.WeightedPodAffinityTerm" => &[
            ("Weight", "", "int32"),
            ("PodAffinityTerm", "", "v1.PodAffinityTerm"),
        ],
        "v1.LabelSelector" => &[
            ("MatchLabels", "", "map[string]string"),
            ("MatchExpressions", "", "[]v1.LabelSelectorRequirement"),
        ],
        "v1.LabelSelectorRequirement" => &[
            ("Key", "", "string"),
            ("Operator", "", "v1.LabelSelectorOperator"),
            ("Values", "", "[]string"),
        ],
        "v1.TopologySpreadConstraint" => &[
            ("MaxSkew", "", "int32"),
            ("TopologyKey", "", "string"),
            ("WhenUnsatisfiable", "", "v1.UnsatisfiableConstraintAction"),
            ("LabelSelector", "", "*v1.LabelSelector"),
        ],
        "v1.Volume" => &[
            ("Name", "", "string"),
            ("VolumeSource", "-", "v1.VolumeSource"),
        ],
        "v1.VolumeSource" => &[
            ("HostPath", "", "*v1.HostPathVolumeSource"),
            ("EmptyDir", "", "*v1.EmptyDirVolumeSource"),
            (
                "GCEPersistentDisk",
                "gcePersistentDisk",
                "*v1.GCEPersistentDiskVolumeSource",
            ),
            (
                "AWSElasticBlockStore",
                "awsElasticBlockStore",
                "*v1.AWSElasticBlockStoreVolumeSource",
            ),
            ("GitRepo", "", "*v1.GitRepoVolumeSource"),
            ("Secret", "", "*v1.SecretVolumeSource"),
            ("NFS", "nfs", "*v1.NFSVolumeSource"),
            ("ISCSI", "iscsi", "*v1.ISCSIVolumeSource"),
            ("Glusterfs", "", "*v1.GlusterfsVolumeSource"),
            (
                "PersistentVolumeClaim",
                "",
                "*v1.PersistentVolumeClaimVolumeSource",
            ),
            ("RBD", "rbd", "*v1.RBDVolumeSource"),
            ("FlexVolume", "", "*v1.FlexVolumeSource"),
            ("Cinder", "", "*v1.CinderVolumeSource"),
            ("CephFS", "cephfs", "*v1.CephFSVolumeSource"),
            ("Flocker", "", "*v1.FlockerVolumeSource"),
            ("DownwardAPI", "downwardAPI", "*v1.DownwardAPIVolumeSource"),
            ("FC", "fc", "*v1.FCVolumeSource"),
            ("AzureFile", "", "*v1.AzureFileVolumeSource"),
            ("ConfigMap", "", "*v1.ConfigMapVolumeSource"),
            ("VsphereVolume", "", "*v1.VsphereVirtualDiskVolumeSource"),
            ("Quobyte", "", "*v1.QuobyteVolumeSource"),
            ("AzureDisk", "", "*v1.AzureDiskVolumeSource"),
            (
                "PhotonPersistentDisk",
                "",
                "*v1.PhotonPersistentDiskVolumeSource",
            ),
            ("Projected", "", "*v1.ProjectedVolumeSource"),
            ("PortworxVolume", "", "*v1.PortworxVolumeSource"),
            ("ScaleIO", "scaleIO", "*v1.ScaleIOVolumeSource"),
            ("StorageOS", "storageos", "*v1.StorageOSVolumeSource"),
            ("CSI", "csi", "*v1.CSIVolumeSource"),
            ("Ephemeral", "", "*v1.EphemeralVolumeSource"),
        ],
        "v1.HostPathVolumeSource" => &[("Path", "", "string"), ("Type", "", "*v1.HostPathType")],
        "v1.EmptyDirVolumeSource" => &[
            ("Medium", "", "v1.StorageMedium"),
            ("SizeLimit", "", "*resource.Quantity"),
        ],
        "v1.SecretVolumeSource" => &[
            ("SecretName", "", "string"),
            ("Items", "", "[]v1.KeyToPath"),
            ("DefaultMode", "", "*int32"),
            ("Optional", "", "*bool"),
        ],
        "v1.ConfigMapVolumeSource" => &[
            ("LocalObjectReference", "-", "v1.LocalObjectReference"),
            ("Items", "", "[]v1.KeyToPath"),
            ("DefaultMode", "", "*int32"),
            ("Optional", "", "*bool"),
        ],
        "v1.KeyToPath" => &[
            ("Key", "", "string"),
            ("Path", "", "string"),
            ("Mode", "", "*int32"),
        ],
        "v1.PersistentVolumeClaimVolumeSource" => {
            &[("ClaimName", "", "string"), ("ReadOnly", "", "bool")]
        }
        "v1.NFSVolumeSource" => &[
            ("Server", "", "string"),
            ("Path", "", "string"),
            ("ReadOnly", "", "bool"),
        ],
        _ => return None,
    })
}

/// `go-spew` `%#v` of the value at `json` interpreted as Go type `go_type`.
/// `typed` = whether spew prints the type before the value (false inside slices and maps).
fn emit(out: &mut String, go_type: &str, json: Option<&Value>, typed: bool) {
    let json = json.filter(|v| !v.is_null());
    if let Some(elem) = go_type.strip_prefix('*') {
        match json {
            None if typed => {
                out.push_str("(*");
                out.push_str(elem);
                out.push_str(")<nil>");
            }
            None => out.push_str("<nil>"),
            Some(v) => {
                if typed {
                    out.push_str("(*");
                    out.push_str(elem);
                    out.push(')');
                }
                emit(out, elem, Some(v), false);
            }
        }
        return;
    }
    if typed {
        out.push('(');
        out.push_str(go_type);
        out.push(')');
    }
    if let Some(elem) = go_type.strip_prefix("[]") {
        match json.and_then(Value::as_array).filter(|a| !a.is_empty()) {
            None => out.push_str("<nil>"),
            Some(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    emit(out, elem, Some(item), false);
                }
                out.push(']');
            }
        }
        return;
    }
    let map_value_type = match go_type {
        "v1.ResourceList" => Some("resource.Quantity"),
        t if t.starts_with("map[string]") => Some(&t["map[string]".len()..]),
        _ => None,
    };
    if let Some(value_type) = map_value_type {
        match json.and_then(Value::as_object).filter(|m| !m.is_empty()) {
            None => out.push_str("<nil>"),
            Some(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push_str("map[");
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    emit(out, value_type, map.get(*k), false);
                }
                out.push(']');
            }
        }
        return;
    }
    match go_type {
        "bool" => out.push_str(if json.and_then(Value::as_bool).unwrap_or(false) {
            "true"
        } else {
            "false"
        }),
        "int32" | "int64" => out.push_str(&json.and_then(Value::as_i64).unwrap_or(0).to_string()),
        "v1.Time" => {
            // Templates never carry real timestamps; the zero time.Time is what the controller sees.
            out.push_str(
                "{Time:(time.Time){wall:(uint64)0 ext:(int64)0 loc:(*time.Location)<nil>}}",
            );
        }
        "intstr.IntOrString" => match json {
            Some(Value::String(s)) => {
                out.push_str("{Type:(intstr.Type)1 IntVal:(int32)0 StrVal:(string)");
                out.push_str(s);
                out.push('}');
            }
            other => {
                let n = other.and_then(Value::as_i64).unwrap_or(0);
                out.push_str(&format!(
                    "{{Type:(intstr.Type)0 IntVal:(int32){n} StrVal:(string)}}"
                ));
            }
        },
        "resource.Quantity" => emit_quantity(out, json.and_then(Value::as_str).unwrap_or("0")),
        _ => match struct_fields(go_type) {
            Some(fields) => emit_struct(out, fields, json),
            None if go_type.starts_with("v1.") && json.is_some_and(Value::is_object) => {
                // Unmodelled struct: stable but not byte-identical to upstream (documented).
                out.push_str(&json.map(canonical_json).unwrap_or_default());
            }
            None => {
                // String-kinded named types (`v1.Protocol`, `types.UID`, …).
                if let Some(v) = json {
                    match v {
                        Value::String(s) => out.push_str(s),
                        other => out.push_str(&other.to_string()),
                    }
                }
            }
        },
    }
}

fn emit_struct(out: &mut String, fields: &[Field], json: Option<&Value>) {
    let obj = json.and_then(Value::as_object);
    out.push('{');
    for (i, (go_name, json_name, ty)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(go_name);
        out.push(':');
        let value = match *json_name {
            "-" => json,
            "" => obj.and_then(|o| o.get(&lower_first(go_name))),
            name => obj.and_then(|o| o.get(name)),
        };
        emit(out, ty, value, true);
    }
    out.push('}');
}

/// `resource.Quantity{i int64Amount, d infDecAmount, s string, Format}` as decoded from its string.
/// Mantissa/exponent are taken as written (binary suffixes multiplied out), which is what upstream's
/// fast path produces for the usual `100m`, `0.5`, `128Mi`, `1Gi` forms.
fn emit_quantity(out: &mut String, text: &str) {
    let parsed = crate::quantity::Quantity::parse(text).ok();
    let (value, scale) = parsed.as_ref().map(|q| q.int64_amount()).unwrap_or((0, 0));
    let format = match parsed.map(|q| q.format) {
        Some(crate::quantity::Format::BinarySI) => "BinarySI",
        Some(crate::quantity::Format::DecimalExponent) => "DecimalExponent",
        _ => "DecimalSI",
    };
    out.push_str(&format!(
        "{{i:(resource.int64Amount){{value:(int64){value} scale:(resource.Scale){scale}}} d:(resource.infDecAmount){{Dec:(*inf.Dec)<nil>}} s:(string) Format:(resource.Format){format}}}"
    ));
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// JSON with object keys sorted at every level: the stable serialization used wherever Go's dump is not
/// reproduced.
pub fn canonical_json(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sort(&m[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}

/// go-spew `%#v` rendering of a `v1.PodTemplateSpec` given as its JSON form.
pub fn dump_pod_template(template_json: &Value) -> String {
    let mut out = String::with_capacity(4096);
    emit(&mut out, "v1.PodTemplateSpec", Some(template_json), true);
    out
}

/// 32-bit FNV-1a.
pub fn fnv32a(bytes: &[u8], mut h: u32) -> u32 {
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(16_777_619);
    }
    h
}

pub const FNV32_OFFSET: u32 = 2_166_136_261;

/// Kubernetes' name-safe alphabet: no vowels, no 0/1/3.
pub const SAFE_ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";

/// `rand.SafeEncodeString`: each byte mapped to `SAFE_ALPHABET[byte % 27]`.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % 27] as char)
        .collect()
}

/// `controller.ComputeHash(template, collisionCount)`.
pub fn compute_hash(template_json: &Value, collision_count: Option<i32>) -> String {
    let mut h = fnv32a(dump_pod_template(template_json).as_bytes(), FNV32_OFFSET);
    if let Some(c) = collision_count {
        // binary.LittleEndian.PutUint32 into an 8-byte buffer: the upper 4 bytes stay zero.
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&(c as u32).to_le_bytes());
        h = fnv32a(&buf, h);
    }
    safe_encode(&h.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn safe_encode_maps_digits_like_upstream() {
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn fnv32a_known_values() {
        // FNV-1a test vectors: "" → offset basis, "a" → 0xe40c292c.
        assert_eq!(fnv32a(b"", FNV32_OFFSET), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a", FNV32_OFFSET), 0xe40c_292c);
    }

    #[test]
    fn nil_pointer_slice_and_map_rendering() {
        let mut out = String::new();
        emit(&mut out, "v1.ResourceRequirements", Some(&json!({})), true);
        assert_eq!(
            out,
            "(v1.ResourceRequirements){Limits:(v1.ResourceList)<nil> Requests:(v1.ResourceList)<nil>}"
        );
        let mut out = String::new();
        emit(&mut out, "*v1.Probe", None, true);
        assert_eq!(out, "(*v1.Probe)<nil>");
        let mut out = String::new();
        emit(
            &mut out,
            "map[string]string",
            Some(&json!({"b": "2", "a": "1"})),
            true,
        );
        assert_eq!(out, "(map[string]string)map[a:1 b:2]");
    }

    #[test]
    fn collision_count_changes_hash() {
        let t = json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "x", "image": "x"}]}});
        let a = compute_hash(&t, None);
        let b = compute_hash(&t, Some(1));
        let c = compute_hash(&t, Some(2));
        assert_ne!(a, b);
        assert_ne!(b, c);
        assert!(a.bytes().all(|ch| b"456789bcdf".contains(&ch)));
    }
}
