//! ConfigMap and Secret (v1) and the pod fields that consume them: the API server's defaulting (a
//! Secret's `type`, `stringData` merged into `data`) and validation (keys, size, per-type required keys),
//! `env[].valueFrom`, `envFrom`, and the volume sources `configMap`, `secret`, `projected`, `downwardAPI`
//! with their mounts. Also the cross-object check the kubelet would make at container start (a required
//! reference to an object or key that is not in Git), made here so it fails before any host is touched.
//! Pure. Secret values never enter a message: only key names do.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, DownwardAPIVolumeFile, EnvVar, KeyToPath, ObjectFieldSelector, PodSpec,
    ResourceFieldSelector, Secret, Volume,
};

use super::validate::Issues;
use crate::quantity::Quantity;
use crate::rules;
use crate::yaml::{FieldPath, go_quote};

/// The API server's `MaxSecretSize` (also the ConfigMap limit): 1 MiB over all values.
pub const MAX_SIZE: usize = 1024 * 1024;

/// Secret types and the keys they require.
pub const SECRET_TYPES: &[&str] = &[
    "Opaque",
    "kubernetes.io/dockerconfigjson",
    "kubernetes.io/dockercfg",
    "kubernetes.io/basic-auth",
    "kubernetes.io/ssh-auth",
    "kubernetes.io/tls",
];

/// Field paths `fieldRef` may name for env (the downward API).
const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// Field paths a downwardAPI volume item may name (whole maps allowed).
const VOLUME_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];

const RESOURCES: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

const MEMORY_DIVISORS: &[&str] = &[
    "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
];

/// The API server's defaulting of a Secret: `type: Opaque`; `stringData` is write-only and merged into
/// `data` (its keys win), as the registry does before storing.
pub fn default_secret(s: &mut Secret) {
    if s.type_.as_deref().unwrap_or("").is_empty() {
        s.type_ = Some("Opaque".to_string());
    }
    if let Some(sd) = s.string_data.take() {
        let data = s.data.get_or_insert_with(BTreeMap::new);
        for (k, v) in sd {
            data.insert(k, ByteString(v.into_bytes()));
        }
    }
}

/// Upstream `IsConfigMapKey`.
pub fn config_key_errors(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if key.len() > 253 {
        errs.push(rules::max_len_error(253));
    }
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        errs.push(rules::regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            "[-._a-zA-Z0-9]+",
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    if key == "." {
        errs.push("must not be '.'".to_string());
    } else if key == ".." {
        errs.push("must not be '..'".to_string());
    } else if key.starts_with("..") {
        errs.push("must not start with '..'".to_string());
    }
    errs
}

fn keys(v: &mut Issues, field: &str, keys: impl Iterator<Item = String>) {
    let p = FieldPath::root().child(field);
    for k in keys {
        for msg in config_key_errors(&k) {
            v.invalid_str(&p.key(&k), &k, &msg);
        }
    }
}

fn too_long(v: &mut Issues, field: &str, size: usize) {
    if size > MAX_SIZE {
        v.push(
            &FieldPath::root().child(field),
            format!("Too long: may not be more than {MAX_SIZE} bytes"),
        );
    }
}

/// `ValidateConfigMap`: key names, no key in both `data` and `binaryData`, at most 1 MiB in all.
pub fn validate_config_map(v: &mut Issues, c: &ConfigMap) {
    let data = c.data.clone().unwrap_or_default();
    let binary = c.binary_data.clone().unwrap_or_default();
    keys(v, "data", data.keys().cloned());
    keys(v, "binaryData", binary.keys().cloned());
    for k in binary.keys().filter(|k| data.contains_key(*k)) {
        v.invalid_str(
            &FieldPath::root().child("data").key(k),
            k,
            "duplicate of key present in binaryData",
        );
    }
    let size: usize = data.values().map(String::len).sum::<usize>()
        + binary.values().map(|b| b.0.len()).sum::<usize>();
    too_long(v, "data", size);
}

/// `ValidateSecret`: key names, 1 MiB, and the keys each type requires. A JSON error of a docker config
/// echoes `<secret contents redacted>`, never the value.
pub fn validate_secret(v: &mut Issues, s: &Secret) {
    let data = s.data.clone().unwrap_or_default();
    keys(v, "data", data.keys().cloned());
    too_long(v, "data", data.values().map(|b| b.0.len()).sum());
    let dp = FieldPath::root().child("data");
    let json = |v: &mut Issues, key: &str| match data.get(key) {
        None => v.required(&dp.key(key), ""),
        Some(b) => {
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(&b.0) {
                v.invalid_str(&dp.key(key), "<secret contents redacted>", &e.to_string());
            }
        }
    };
    match s.type_.as_deref().unwrap_or("Opaque") {
        "kubernetes.io/dockerconfigjson" => json(v, ".dockerconfigjson"),
        "kubernetes.io/dockercfg" => json(v, ".dockercfg"),
        "kubernetes.io/basic-auth"
            if !data.contains_key("username") && !data.contains_key("password") =>
        {
            v.required(&dp.key("username"), "");
            v.required(&dp.key("password"), "");
        }
        "kubernetes.io/ssh-auth" if data.get("ssh-privatekey").is_none_or(|b| b.0.is_empty()) => {
            v.required(&dp.key("ssh-privatekey"), "");
        }
        "kubernetes.io/tls" => {
            for k in ["tls.crt", "tls.key"] {
                if !data.contains_key(k) {
                    v.required(&dp.key(k), "");
                }
            }
        }
        "kubernetes.io/service-account-token" => v.warn(
            &FieldPath::root().child("type"),
            "clusterctl has no service accounts; this token Secret is read as an Opaque one"
                .to_string(),
        ),
        _ => {}
    }
}

fn name_ref(v: &mut Issues, p: &FieldPath, field: &str, name: &str) {
    if name.is_empty() {
        v.required(&p.child(field), "");
    } else {
        for msg in rules::is_dns1123_subdomain(name) {
            v.invalid_str(&p.child(field), name, &msg);
        }
    }
}

fn key_ref(v: &mut Issues, p: &FieldPath, key: &str) {
    if key.is_empty() {
        v.required(&p.child("key"), "");
    } else {
        for msg in config_key_errors(key) {
            v.invalid_str(&p.child("key"), key, &msg);
        }
    }
}

/// `metadata.labels['k']` / `metadata.annotations['k']` → (map, key).
pub fn subscripted(path: &str) -> Option<(&str, &str)> {
    let (map, rest) = path.split_once("['")?;
    let key = rest.strip_suffix("']")?;
    matches!(map, "metadata.labels" | "metadata.annotations").then_some((map, key))
}

fn field_ref(v: &mut Issues, f: &ObjectFieldSelector, p: &FieldPath, allowed: &[&str]) {
    let path = f.field_path.as_str();
    let fp = p.child("fieldPath");
    if let Some(av) = f.api_version.as_deref()
        && !av.is_empty()
        && av != "v1"
    {
        v.unsupported(&p.child("apiVersion"), av, &["v1"]);
    }
    if path.is_empty() {
        v.required(&fp, "");
    } else if let Some((_, key)) = subscripted(path) {
        for msg in rules::is_qualified_name(&key.to_ascii_lowercase()) {
            v.invalid_str(&fp, path, &msg);
        }
    } else if !allowed.contains(&path) {
        let mut all: Vec<&str> = allowed.to_vec();
        if allowed == ENV_FIELD_PATHS {
            all.extend(["metadata.annotations['<KEY>']", "metadata.labels['<KEY>']"]);
        }
        all.sort();
        v.unsupported(&fp, path, &all);
    }
}

fn resource_ref(v: &mut Issues, r: &ResourceFieldSelector, p: &FieldPath, need_container: bool) {
    if need_container && r.container_name.as_deref().unwrap_or("").is_empty() {
        v.required(&p.child("containerName"), "");
    }
    let res = r.resource.as_str();
    if res.is_empty() {
        v.required(&p.child("resource"), "");
        return;
    }
    if !RESOURCES.contains(&res)
        && !res.starts_with("limits.hugepages-")
        && !res.starts_with("requests.hugepages-")
    {
        v.unsupported(&p.child("resource"), res, RESOURCES);
        return;
    }
    let Some(d) = &r.divisor else { return };
    let dp = p.child("divisor");
    let ok = match Quantity::parse(&d.0) {
        Err(_) => false,
        Ok(q) if res.ends_with(".cpu") => q.milli_value() == 1 || q.milli_value() == 1000,
        Ok(_) => MEMORY_DIVISORS.contains(&d.0.as_str()),
    };
    if !ok {
        let which = if res.ends_with(".cpu") {
            "only divisor's values 1m and 1 are supported with the cpu resource".to_string()
        } else {
            format!(
                "only divisor's values {} are supported with the {} resource",
                MEMORY_DIVISORS.join(", "),
                res.split_once('.').map_or(res, |(_, r)| r)
            )
        };
        v.invalid_str(&dp, &d.0, &which);
    }
}

/// `validateEnvVarValueFrom`: exactly one source, each well formed.
pub fn value_from(v: &mut Issues, e: &EnvVar, ep: &FieldPath) {
    let Some(vf) = &e.value_from else { return };
    let p = ep.child("valueFrom");
    if !e.value.as_deref().unwrap_or("").is_empty() {
        v.invalid_str(&p, "", "may not be specified when `value` is not empty");
    }
    let mut n = 0;
    if let Some(f) = &vf.field_ref {
        n += 1;
        field_ref(v, f, &p.child("fieldRef"), ENV_FIELD_PATHS);
    }
    if let Some(r) = &vf.resource_field_ref {
        n += 1;
        resource_ref(v, r, &p.child("resourceFieldRef"), false);
    }
    if let Some(c) = &vf.config_map_key_ref {
        n += 1;
        let cp = p.child("configMapKeyRef");
        name_ref(v, &cp, "name", &c.name);
        key_ref(v, &cp, &c.key);
    }
    if let Some(s) = &vf.secret_key_ref {
        n += 1;
        let sp = p.child("secretKeyRef");
        name_ref(v, &sp, "name", &s.name);
        key_ref(v, &sp, &s.key);
    }
    if n == 0 {
        v.invalid_str(
            &p,
            "",
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
        );
    } else if n > 1 {
        v.invalid_str(
            &p,
            "",
            "may not have more than one field specified at a time",
        );
    }
}

/// `validateEnvFrom`: a valid prefix, exactly one of `configMapRef` / `secretRef`.
pub fn env_from(v: &mut Issues, c: &Container, p: &FieldPath) {
    for (i, ef) in c.env_from.iter().flatten().enumerate() {
        let ep = p.child("envFrom").index(i);
        if let Some(prefix) = ef.prefix.as_deref().filter(|x| !x.is_empty()) {
            for msg in rules::is_env_var_name(prefix) {
                v.invalid_str(&ep.child("prefix"), prefix, &msg);
            }
        }
        let mut n = 0;
        if let Some(r) = &ef.config_map_ref {
            n += 1;
            name_ref(v, &ep.child("configMapRef"), "name", &r.name);
        }
        if let Some(r) = &ef.secret_ref {
            n += 1;
            name_ref(v, &ep.child("secretRef"), "name", &r.name);
        }
        if n == 0 {
            v.invalid_str(
                &ep,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            );
        } else if n > 1 {
            v.invalid_str(
                &ep,
                "",
                "may not have more than one field specified at a time",
            );
        }
    }
}

/// True for the volume sources this module implements.
pub fn is_config_volume(vol: &Volume) -> bool {
    vol.config_map.is_some()
        || vol.secret.is_some()
        || vol.projected.is_some()
        || vol.downward_api.is_some()
}

fn mode(v: &mut Issues, p: &FieldPath, m: Option<i32>) {
    if let Some(m) = m
        && !(0..=0o777).contains(&m)
    {
        v.invalid_num(
            p,
            m.into(),
            "must be a number between 0 and 0777 (octal), both inclusive",
        );
    }
}

/// `validateLocalDescendingPath`: relative, no `..` element.
fn target_path(v: &mut Issues, p: &FieldPath, path: &str, paths: &mut BTreeSet<String>) {
    if path.is_empty() {
        v.required(p, "");
        return;
    }
    if path.starts_with('/') {
        v.invalid_str(p, path, "must be a relative path");
    }
    if path.split('/').any(|s| s == "..") {
        v.invalid_str(p, path, "must not contain '..'");
    }
    if path.split('/').next().is_some_and(|s| s.starts_with("..")) {
        v.invalid_str(p, path, "must not start with '..'");
    }
    if !paths.insert(path.to_string()) {
        v.invalid_str(p, path, "conflicting duplicate paths");
    }
}

fn items(
    v: &mut Issues,
    p: &FieldPath,
    items: Option<&Vec<KeyToPath>>,
    paths: &mut BTreeSet<String>,
) {
    for (i, it) in items.into_iter().flatten().enumerate() {
        let ip = p.child("items").index(i);
        key_ref(v, &ip, &it.key);
        target_path(v, &ip.child("path"), &it.path, paths);
        mode(v, &ip.child("mode"), it.mode);
    }
}

fn downward_items(
    v: &mut Issues,
    p: &FieldPath,
    items: Option<&Vec<DownwardAPIVolumeFile>>,
    paths: &mut BTreeSet<String>,
) {
    for (i, it) in items.into_iter().flatten().enumerate() {
        let ip = p.child("items").index(i);
        target_path(v, &ip.child("path"), &it.path, paths);
        mode(v, &ip.child("mode"), it.mode);
        match (&it.field_ref, &it.resource_field_ref) {
            (Some(f), None) => field_ref(v, f, &ip.child("fieldRef"), VOLUME_FIELD_PATHS),
            (None, Some(r)) => resource_ref(v, r, &ip.child("resourceFieldRef"), true),
            (None, None) => v.required(&ip, "one of fieldRef and resourceFieldRef is required"),
            (Some(_), Some(_)) => v.invalid_str(
                &ip,
                "",
                "fieldRef and resourceFieldRef can not be specified simultaneously",
            ),
        }
    }
}

/// One configMap / secret / projected / downwardAPI volume.
pub fn config_volume(v: &mut Issues, vol: &Volume, p: &FieldPath) {
    let mut paths = BTreeSet::new();
    if let Some(c) = &vol.config_map {
        let cp = p.child("configMap");
        name_ref(v, &cp, "name", &c.name);
        mode(v, &cp.child("defaultMode"), c.default_mode);
        items(v, &cp, c.items.as_ref(), &mut paths);
    }
    if let Some(s) = &vol.secret {
        let sp = p.child("secret");
        name_ref(v, &sp, "secretName", s.secret_name.as_deref().unwrap_or(""));
        mode(v, &sp.child("defaultMode"), s.default_mode);
        items(v, &sp, s.items.as_ref(), &mut paths);
    }
    if let Some(d) = &vol.downward_api {
        let dp = p.child("downwardAPI");
        mode(v, &dp.child("defaultMode"), d.default_mode);
        downward_items(v, &dp, d.items.as_ref(), &mut paths);
    }
    if let Some(pr) = &vol.projected {
        let pp = p.child("projected");
        mode(v, &pp.child("defaultMode"), pr.default_mode);
        for (i, s) in pr.sources.iter().flatten().enumerate() {
            let sp = pp.child("sources").index(i);
            if let Some(c) = &s.config_map {
                name_ref(v, &sp.child("configMap"), "name", &c.name);
                items(v, &sp.child("configMap"), c.items.as_ref(), &mut paths);
            }
            if let Some(c) = &s.secret {
                name_ref(v, &sp.child("secret"), "name", &c.name);
                items(v, &sp.child("secret"), c.items.as_ref(), &mut paths);
            }
            if let Some(d) = &s.downward_api {
                downward_items(v, &sp.child("downwardAPI"), d.items.as_ref(), &mut paths);
            }
            if s.service_account_token.is_some() {
                v.warn(
                    &sp.child("serviceAccountToken"),
                    "clusterctl has no service accounts: no token file is written".to_string(),
                );
            }
            if s.cluster_trust_bundle.is_some() {
                v.warn(
                    &sp.child("clusterTrustBundle"),
                    "clusterctl does not support this field; it is ignored".to_string(),
                );
            }
        }
    }
}

/// The volume and mount checks for the sources this module owns. `other` is told about volumes of any
/// other source (the storage code validates those).
pub fn pod_volumes(
    v: &mut Issues,
    spec: &PodSpec,
    sp: &FieldPath,
    other: &mut dyn FnMut(&mut Issues, usize, &Volume),
) {
    // Volume names and every mount's name and path are checked with the other volume sources
    // (`validate::storage`); here only what is particular to configMap/secret/projected/downwardAPI.
    for (i, vol) in spec.volumes.iter().flatten().enumerate() {
        let p = sp.child("volumes").index(i);
        if is_config_volume(vol) {
            config_volume(v, vol, &p);
        } else {
            other(v, i, vol);
        }
    }
    let config: BTreeSet<&str> = spec
        .volumes
        .iter()
        .flatten()
        .filter(|v| is_config_volume(v))
        .map(|v| v.name.as_str())
        .collect();
    for (i, c) in spec.containers.iter().enumerate() {
        for (j, m) in c.volume_mounts.iter().flatten().enumerate() {
            let mp = sp
                .child("containers")
                .index(i)
                .child("volumeMounts")
                .index(j);
            if config.contains(m.name.as_str()) {
                if m.sub_path.as_deref().is_some_and(|s| !s.is_empty())
                    || m.sub_path_expr.as_deref().is_some_and(|s| !s.is_empty())
                {
                    v.warn(
                        &mp.child("subPath"),
                        "clusterctl does not support subPath on configMap/secret/projected/downwardAPI volumes yet; the whole volume is mounted".to_string(),
                    );
                }
                if m.mount_propagation.is_some() {
                    v.warn(
                        &mp.child("mountPropagation"),
                        "clusterctl does not support this field; it is ignored".to_string(),
                    );
                }
            }
        }
    }
}

/// A reference from a pod to a ConfigMap or Secret (or one of its keys), for the cross-object check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    /// `ConfigMap` or `Secret`.
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub key: Option<String>,
    pub optional: bool,
    /// Where the reference is written.
    pub path: FieldPath,
    /// A volume (FailedMount) rather than env (CreateContainerConfigError).
    pub volume: Option<String>,
}

/// Every ConfigMap/Secret reference of a pod spec.
pub fn refs(spec: &PodSpec, sp: &FieldPath, namespace: &str) -> Vec<Ref> {
    let mut out = Vec::new();
    let mk = |kind,
              name: &str,
              key: Option<&str>,
              optional: Option<bool>,
              path: FieldPath,
              volume: Option<&str>| Ref {
        kind,
        namespace: namespace.to_string(),
        name: name.to_string(),
        key: key.map(str::to_string),
        optional: optional.unwrap_or(false),
        path,
        volume: volume.map(str::to_string),
    };
    for (i, c) in spec.containers.iter().enumerate() {
        let cp = sp.child("containers").index(i);
        for (j, e) in c.env.iter().flatten().enumerate() {
            let Some(vf) = &e.value_from else { continue };
            let p = cp.child("env").index(j).child("valueFrom");
            if let Some(r) = &vf.config_map_key_ref {
                out.push(mk(
                    "ConfigMap",
                    &r.name,
                    Some(&r.key),
                    r.optional,
                    p.child("configMapKeyRef"),
                    None,
                ));
            }
            if let Some(r) = &vf.secret_key_ref {
                out.push(mk(
                    "Secret",
                    &r.name,
                    Some(&r.key),
                    r.optional,
                    p.child("secretKeyRef"),
                    None,
                ));
            }
        }
        for (j, ef) in c.env_from.iter().flatten().enumerate() {
            let p = cp.child("envFrom").index(j);
            if let Some(r) = &ef.config_map_ref {
                out.push(mk(
                    "ConfigMap",
                    &r.name,
                    None,
                    r.optional,
                    p.child("configMapRef"),
                    None,
                ));
            }
            if let Some(r) = &ef.secret_ref {
                out.push(mk(
                    "Secret",
                    &r.name,
                    None,
                    r.optional,
                    p.child("secretRef"),
                    None,
                ));
            }
        }
    }
    for (i, vol) in spec.volumes.iter().flatten().enumerate() {
        let p = sp.child("volumes").index(i);
        let vn = Some(vol.name.as_str());
        let item_refs = |out: &mut Vec<Ref>,
                         kind,
                         name: &str,
                         items: Option<&Vec<KeyToPath>>,
                         optional,
                         p: FieldPath| {
            out.push(mk(kind, name, None, optional, p.clone(), vn));
            for (k, it) in items.into_iter().flatten().enumerate() {
                out.push(mk(
                    kind,
                    name,
                    Some(&it.key),
                    optional,
                    p.child("items").index(k),
                    vn,
                ));
            }
        };
        if let Some(c) = &vol.config_map {
            item_refs(
                &mut out,
                "ConfigMap",
                &c.name,
                c.items.as_ref(),
                c.optional,
                p.child("configMap"),
            );
        }
        if let Some(s) = &vol.secret {
            let name = s.secret_name.as_deref().unwrap_or("");
            item_refs(
                &mut out,
                "Secret",
                name,
                s.items.as_ref(),
                s.optional,
                p.child("secret"),
            );
        }
        for (k, s) in vol
            .projected
            .iter()
            .flat_map(|p| p.sources.iter().flatten())
            .enumerate()
        {
            let sp = p.child("projected").child("sources").index(k);
            if let Some(c) = &s.config_map {
                item_refs(
                    &mut out,
                    "ConfigMap",
                    &c.name,
                    c.items.as_ref(),
                    c.optional,
                    sp.child("configMap"),
                );
            }
            if let Some(c) = &s.secret {
                item_refs(
                    &mut out,
                    "Secret",
                    &c.name,
                    c.items.as_ref(),
                    c.optional,
                    sp.child("secret"),
                );
            }
        }
    }
    out
}

/// The keys of each ConfigMap/Secret defined in Git, by (kind, namespace, name).
pub type Defined = BTreeMap<(&'static str, String, String), BTreeSet<String>>;

/// The kubelet's failure for a required reference that cannot be resolved, or `None` when it resolves
/// (or is optional).
pub fn unresolved(r: &Ref, defined: &Defined) -> Option<String> {
    if r.optional {
        return None;
    }
    let lower = r.kind.to_ascii_lowercase();
    let why = match defined.get(&(r.kind, r.namespace.clone(), r.name.clone())) {
        None => format!("{lower} {} not found", go_quote(&r.name)),
        Some(keys) => match &r.key {
            Some(k) if !keys.contains(k) => {
                format!(
                    "couldn't find key {k} in {} {}/{}",
                    r.kind, r.namespace, r.name
                )
            }
            _ => return None,
        },
    };
    Some(match &r.volume {
        Some(v) => format!(
            "FailedMount: MountVolume.SetUp failed for volume {} : {why} (not in the repository; set optional: true to start without it)",
            go_quote(v)
        ),
        None => format!(
            "CreateContainerConfigError: {why} (not in the repository; set optional: true to start without it)"
        ),
    })
}

/// The failure of an env reference (`valueFrom`, `envFrom`) to a value holding a NUL, which no
/// environment variable can carry (the kernel ends the string there): `None` for volumes and clean values.
/// Names the key, never the value.
pub fn nul_in_env(
    r: &Ref,
    nul: &BTreeSet<(&'static str, String, String, String)>,
) -> Option<String> {
    if r.volume.is_some() {
        return None;
    }
    let key = nul
        .iter()
        .find(|(kind, ns, name, key)| {
            *kind == r.kind
                && *ns == r.namespace
                && *name == r.name
                && r.key.as_ref().is_none_or(|k| k == key)
        })
        .map(|t| t.3.clone())?;
    Some(format!(
        "CreateContainerConfigError: the value of key {key} in {} {}/{} contains a NUL character, which an \
         environment variable cannot carry (mount it as a volume instead)",
        r.kind, r.namespace, r.name
    ))
}

#[cfg(test)]
mod tests {
    use crate::manifest::{RawFile, parse};
    use crate::yaml::Severity;

    fn check(text: &str) -> Vec<String> {
        parse(&[RawFile {
            path: "a.yaml".into(),
            bytes: text.as_bytes().to_vec(),
        }])
        .diagnostics
        .iter()
        .map(|d| match d.severity {
            Severity::Warning => format!("warning: {d}"),
            Severity::Error => d.to_string(),
        })
        .collect()
    }

    #[test]
    fn a_nul_value_is_refused_for_env_but_fine_in_a_volume() {
        let cm =
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: \"a\\0b\"\n---\n";
        let pod = |use_: &str| {
            format!(
                "{cm}apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: nginx\n{use_}"
            )
        };
        let env = check(&pod(
            "    env:\n    - name: E\n      valueFrom:\n        configMapKeyRef: {name: c, key: k}\n",
        ));
        assert_eq!(
            env,
            [
                "a.yaml:19:26: spec.containers[0].env[0].valueFrom.configMapKeyRef: CreateContainerConfigError: the value of key k in ConfigMap default/c contains a NUL character, which an environment variable cannot carry (mount it as a volume instead)"
            ]
        );
        let env_from = check(&pod("    envFrom:\n    - configMapRef: {name: c}\n"));
        assert_eq!(env_from.len(), 1, "{env_from:?}");
        let volume = check(&pod(
            "    volumeMounts: [{name: v, mountPath: /v}]\n  volumes:\n  - name: v\n    configMap: {name: c}\n",
        ));
        assert!(volume.is_empty(), "{volume:?}");
    }

    #[test]
    fn config_maps_and_secrets_are_validated_like_the_api_server() {
        let got = check(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  \"a b\": x\n  ..x: v\n  k: z\nbinaryData:\n  k: eA==\n",
        );
        assert_eq!(
            got,
            [
                "a.yaml:6:10: data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                "a.yaml:7:8: data[..x]: Invalid value: \"..x\": must not start with '..'",
                "a.yaml:8:6: data[k]: Invalid value: \"k\": duplicate of key present in binaryData",
            ]
        );
        let tls = check(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: t\ntype: kubernetes.io/tls\ndata:\n  tls.crt: eA==\n",
        );
        assert_eq!(tls, ["a.yaml:7:3: data[tls.key]: Required value"]);
        let basic = check(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: b\ntype: kubernetes.io/basic-auth\n",
        );
        assert_eq!(basic.len(), 2, "{basic:?}");
        assert!(
            basic[0].ends_with("data[username]: Required value"),
            "{basic:?}"
        );
        let docker = check(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: d\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: \"{not-json-hunter2\"\n",
        );
        assert_eq!(docker.len(), 1);
        assert!(
            docker[0].contains("Invalid value: \"<secret contents redacted>\""),
            "{docker:?}"
        );
        assert!(!docker[0].contains("hunter2"));
        let big = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: big\nstringData:\n  a: {}\n",
            "x".repeat(MAX + 1)
        );
        assert_eq!(
            check(&big),
            ["a.yaml:1:1: data: Too long: may not be more than 1048576 bytes"]
        );
    }
    const MAX: usize = super::MAX_SIZE;

    #[test]
    fn required_references_absent_from_git_fail_with_the_kubelets_reason() {
        let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  volumes:\n  - name: v\n    secret: {secretName: gone}\n  - name: o\n    configMap: {name: gone, optional: true}\n  containers:\n  - name: c\n    image: busybox\n    env:\n    - name: A\n      valueFrom: {configMapKeyRef: {name: cm, key: nope}}\n    - name: B\n      valueFrom: {secretKeyRef: {name: gone, key: k, optional: true}}\n    - name: C\n      valueFrom: {fieldRef: {fieldPath: status.phase}}\n    envFrom:\n    - prefix: \"1\"\n      configMapRef: {name: cm}\n    volumeMounts:\n    - {name: missing, mountPath: /x}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  k: v\n";
        let got = check(pod);
        assert_eq!(
            got,
            [
                "a.yaml:8:13: spec.volumes[0].secret: FailedMount: MountVolume.SetUp failed for volume \"v\" : secret \"gone\" not found (not in the repository; set optional: true to start without it)",
                "a.yaml:16:36: spec.containers[0].env[0].valueFrom.configMapKeyRef: CreateContainerConfigError: couldn't find key nope in ConfigMap default/cm (not in the repository; set optional: true to start without it)",
                "a.yaml:20:41: spec.containers[0].env[2].valueFrom.fieldRef.fieldPath: Unsupported value: \"status.phase\": supported values: \"metadata.annotations['<KEY>']\", \"metadata.labels['<KEY>']\", \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\"",
                "a.yaml:22:15: spec.containers[0].envFrom[0].prefix: Invalid value: \"1\": a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')",
                "a.yaml:25:14: spec.containers[0].volumeMounts[0].name: Not found: \"missing\"",
            ]
        );
    }
}
