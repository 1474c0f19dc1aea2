//! Validation of defaulted objects like the API server (`pkg/apis/*/validation`), with upstream's message
//! wording: `<path>: Invalid value: "<v>": <detail>`, `<path>: Required value`, `<path>: Unsupported value: …`,
//! `<path>: Duplicate value: …`, `<path>: Forbidden: …`. Only the rules that matter for what clusterctl runs
//! are implemented; see docs/manifests.md for the list. Also warns about fields clusterctl ignores.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Container, PodSpec, PodTemplateSpec, ResourceRequirements, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Object, Severity};

pub mod podsec;
pub mod probes;
pub mod storage;
use crate::quantity::Quantity;
use crate::rules::{self, percent_error};
use crate::selector::Selector;
use crate::yaml::{FieldPath, Node, go_quote};

/// One problem found on an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub severity: Severity,
    /// The path shown in the message (upstream's).
    pub path: FieldPath,
    /// Where to point in the file, when more precise than `path` (e.g. one label of `metadata.labels`).
    pub at: Option<FieldPath>,
    /// Point at the key of `at` rather than its value.
    pub at_key: bool,
    pub message: String,
}

#[derive(Default)]
pub struct Issues {
    pub list: Vec<Issue>,
}

/// Which name rule applies to `metadata.name`.
#[derive(Clone, Copy)]
enum NameRule {
    Subdomain,
    Label,
    Dns1035,
}

impl Issues {
    pub(super) fn push(&mut self, path: &FieldPath, message: String) {
        self.list.push(Issue {
            severity: Severity::Error,
            path: path.clone(),
            at: None,
            at_key: false,
            message,
        });
    }

    pub(super) fn push_at(
        &mut self,
        path: &FieldPath,
        at: FieldPath,
        at_key: bool,
        message: String,
    ) {
        self.list.push(Issue {
            severity: Severity::Error,
            path: path.clone(),
            at: Some(at),
            at_key,
            message,
        });
    }

    pub(super) fn required(&mut self, path: &FieldPath, detail: &str) {
        if detail.is_empty() {
            self.push(path, "Required value".to_string());
        } else {
            self.push(path, format!("Required value: {detail}"));
        }
    }

    pub(super) fn invalid_str(&mut self, path: &FieldPath, value: &str, detail: &str) {
        self.push(
            path,
            format!("Invalid value: {}: {detail}", go_quote(value)),
        );
    }

    pub(super) fn invalid_num(&mut self, path: &FieldPath, value: i64, detail: &str) {
        self.push(path, format!("Invalid value: {value}: {detail}"));
    }

    pub(super) fn unsupported(&mut self, path: &FieldPath, value: &str, supported: &[&str]) {
        let list: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
        self.push(
            path,
            format!(
                "Unsupported value: {}: supported values: {}",
                go_quote(value),
                list.join(", ")
            ),
        );
    }

    pub(super) fn duplicate(&mut self, path: &FieldPath, value: &str) {
        self.push(path, format!("Duplicate value: {}", go_quote(value)));
    }

    pub(super) fn forbidden(&mut self, path: &FieldPath, detail: &str) {
        self.push(path, format!("Forbidden: {detail}"));
    }

    fn non_negative(&mut self, path: &FieldPath, v: Option<i64>) {
        if let Some(v) = v
            && v < 0
        {
            self.invalid_num(path, v, "must be greater than or equal to 0");
        }
    }

    pub(super) fn warn(&mut self, path: &FieldPath, message: String) {
        self.list.push(Issue {
            severity: Severity::Warning,
            path: path.clone(),
            at: None,
            at_key: true,
            message,
        });
    }
}

const UNSUPPORTED_FIELD: &str = "clusterctl does not support this field; it is ignored";

/// A string passed to the container runtime (an argv element of `docker create`) cannot hold a NUL byte:
/// the kernel would cut it there, so it is refused here rather than failing half-way through an apply.
fn runtime_string(v: &mut Issues, path: &FieldPath, value: &str) {
    if value.contains('\0') {
        v.invalid_str(
            path,
            value,
            "must not contain a NUL character (the container runtime cannot carry it)",
        );
    }
}

/// Validate a defaulted object. `tree` is the document it was read from (for "was it written" checks).
pub fn object(obj: &Object, tree: &Node) -> Vec<Issue> {
    let mut v = Issues::default();
    let root = FieldPath::root();
    let spec_p = root.child("spec");
    match obj {
        Object::Pod(p) => {
            meta(&mut v, &p.metadata, NameRule::Subdomain, true);
            if let Some(spec) = &p.spec {
                pod_spec(&mut v, spec, &spec_p);
                restart_policy(&mut v, spec, &spec_p, &["Always", "OnFailure", "Never"]);
            }
        }
        Object::Deployment(d) => {
            meta(&mut v, &d.metadata, NameRule::Subdomain, true);
            if let Some(spec) = &d.spec {
                v.non_negative(&spec_p.child("replicas"), spec.replicas.map(i64::from));
                selector_and_template(
                    &mut v,
                    tree,
                    &spec.selector,
                    Some(&spec.template),
                    &spec_p,
                    "deployment",
                );
                if let Some(s) = &spec.strategy {
                    let sp = spec_p.child("strategy");
                    match s.type_.as_deref().unwrap_or("") {
                        "RollingUpdate" => {
                            if let Some(ru) = &s.rolling_update {
                                rolling_update(
                                    &mut v,
                                    ru.max_surge.as_ref(),
                                    ru.max_unavailable.as_ref(),
                                    &sp.child("rollingUpdate"),
                                );
                            }
                        }
                        "Recreate" => {
                            if s.rolling_update.is_some() {
                                v.forbidden(
                                    &sp.child("rollingUpdate"),
                                    "may not be specified when strategy `type` is 'Recreate'",
                                );
                            }
                        }
                        other => {
                            v.unsupported(&sp.child("type"), other, &["Recreate", "RollingUpdate"])
                        }
                    }
                }
                v.non_negative(
                    &spec_p.child("revisionHistoryLimit"),
                    spec.revision_history_limit.map(i64::from),
                );
                v.non_negative(
                    &spec_p.child("minReadySeconds"),
                    spec.min_ready_seconds.map(i64::from),
                );
                if let Some(pds) = spec.progress_deadline_seconds {
                    let p = spec_p.child("progressDeadlineSeconds");
                    if pds < 0 {
                        v.invalid_num(&p, pds.into(), "must be greater than or equal to 0");
                    } else if pds <= spec.min_ready_seconds.unwrap_or(0) {
                        v.invalid_num(&p, pds.into(), "must be greater than minReadySeconds");
                    }
                }
            }
        }
        Object::ReplicaSet(r) => {
            meta(&mut v, &r.metadata, NameRule::Subdomain, true);
            if let Some(spec) = &r.spec {
                v.non_negative(&spec_p.child("replicas"), spec.replicas.map(i64::from));
                v.non_negative(
                    &spec_p.child("minReadySeconds"),
                    spec.min_ready_seconds.map(i64::from),
                );
                selector_and_template(
                    &mut v,
                    tree,
                    &spec.selector,
                    spec.template.as_ref(),
                    &spec_p,
                    "deployment",
                );
            }
        }
        Object::DaemonSet(d) => {
            meta(&mut v, &d.metadata, NameRule::Subdomain, true);
            if let Some(spec) = &d.spec {
                selector_and_template(
                    &mut v,
                    tree,
                    &spec.selector,
                    Some(&spec.template),
                    &spec_p,
                    "daemonset",
                );
                if let Some(us) = &spec.update_strategy {
                    let up = spec_p.child("updateStrategy");
                    match us.type_.as_deref().unwrap_or("") {
                        "RollingUpdate" => {
                            if let Some(ru) = &us.rolling_update {
                                // A DaemonSet's maxSurge defaults to 0 (a Deployment's to 25%).
                                rolling_update(
                                    &mut v,
                                    Some(ru.max_surge.as_ref().unwrap_or(&IntOrString::Int(0))),
                                    ru.max_unavailable.as_ref(),
                                    &up.child("rollingUpdate"),
                                );
                            }
                        }
                        "OnDelete" => {}
                        other => {
                            v.unsupported(&up.child("type"), other, &["OnDelete", "RollingUpdate"])
                        }
                    }
                }
                v.non_negative(
                    &spec_p.child("revisionHistoryLimit"),
                    spec.revision_history_limit.map(i64::from),
                );
                v.non_negative(
                    &spec_p.child("minReadySeconds"),
                    spec.min_ready_seconds.map(i64::from),
                );
            }
        }
        Object::Job(j) => {
            meta(&mut v, &j.metadata, NameRule::Subdomain, true);
            if let Some(spec) = &j.spec {
                v.non_negative(
                    &spec_p.child("parallelism"),
                    spec.parallelism.map(i64::from),
                );
                v.non_negative(
                    &spec_p.child("completions"),
                    spec.completions.map(i64::from),
                );
                v.non_negative(
                    &spec_p.child("backoffLimit"),
                    spec.backoff_limit.map(i64::from),
                );
                if let Some(ads) = spec.active_deadline_seconds
                    && ads <= 0
                {
                    v.invalid_num(
                        &spec_p.child("activeDeadlineSeconds"),
                        ads,
                        "must be greater than or equal to 1",
                    );
                }
                v.non_negative(
                    &spec_p.child("ttlSecondsAfterFinished"),
                    spec.ttl_seconds_after_finished.map(i64::from),
                );
                if spec.completion_mode.as_deref() == Some("Indexed") && spec.completions.is_none()
                {
                    v.required(
                        &spec_p.child("completions"),
                        "when completion mode is Indexed",
                    );
                }
                // Job features clusterctl's Job controller does not implement (docs/jobs.md).
                for (field, set) in [
                    ("podFailurePolicy", spec.pod_failure_policy.is_some()),
                    ("successPolicy", spec.success_policy.is_some()),
                    (
                        "backoffLimitPerIndex",
                        spec.backoff_limit_per_index.is_some(),
                    ),
                    ("maxFailedIndexes", spec.max_failed_indexes.is_some()),
                    ("managedBy", spec.managed_by.is_some()),
                ] {
                    if set {
                        v.warn(&spec_p.child(field), UNSUPPORTED_FIELD.to_string());
                    }
                }
                if spec.selector.is_some() && spec.manual_selector != Some(true) {
                    v.forbidden(
                        &spec_p.child("selector"),
                        "`selector` will be auto-generated; set `manualSelector: true` to write your own",
                    );
                }
                if let Some(cm) = &spec.completion_mode
                    && cm != "NonIndexed"
                    && cm != "Indexed"
                {
                    v.unsupported(
                        &spec_p.child("completionMode"),
                        cm,
                        &["NonIndexed", "Indexed"],
                    );
                }
                let tp = spec_p.child("template");
                template_meta(&mut v, &spec.template, &tp);
                if let Some(ps) = &spec.template.spec {
                    let psp = tp.child("spec");
                    pod_spec(&mut v, ps, &psp);
                    let rp = ps.restart_policy.as_deref().unwrap_or("");
                    if rp != "OnFailure" && rp != "Never" {
                        v.unsupported(&psp.child("restartPolicy"), rp, &["OnFailure", "Never"]);
                    }
                }
            }
        }
        Object::Service(s) => {
            meta(&mut v, &s.metadata, NameRule::Dns1035, true);
            service(&mut v, s, &spec_p);
        }
        Object::Namespace(n) => {
            meta(&mut v, &n.metadata, NameRule::Label, false);
        }
        Object::ConfigMap(c) => {
            meta(&mut v, &c.metadata, NameRule::Subdomain, true);
            super::config::validate_config_map(&mut v, c);
        }
        Object::Secret(s) => {
            meta(&mut v, &s.metadata, NameRule::Subdomain, true);
            super::config::validate_secret(&mut v, s);
        }
        Object::StatefulSet(s) => {
            meta(&mut v, &s.metadata, NameRule::Subdomain, true);
            storage::stateful_set(&mut v, tree, s);
        }
        Object::PersistentVolumeClaim(c) => {
            meta(&mut v, &c.metadata, NameRule::Subdomain, true);
            storage::claim_spec(&mut v, &c.spec.clone().unwrap_or_default(), &spec_p);
        }
        Object::PersistentVolume(pv) => {
            meta(&mut v, &pv.metadata, NameRule::Subdomain, false);
            storage::persistent_volume(&mut v, pv);
        }
        Object::StorageClass(sc) => {
            meta(&mut v, &sc.metadata, NameRule::Subdomain, false);
            storage::storage_class(&mut v, sc);
        }
    }
    v.list
}

fn meta(v: &mut Issues, m: &ObjectMeta, rule: NameRule, namespaced: bool) {
    let mp = FieldPath::root().child("metadata");
    let name = m.name.as_deref().unwrap_or("");
    if name.is_empty() {
        v.required(&mp.child("name"), "name or generateName is required");
    } else {
        let msgs = match rule {
            NameRule::Subdomain => rules::is_dns1123_subdomain(name),
            NameRule::Label => rules::is_dns1123_label(name),
            NameRule::Dns1035 => rules::is_dns1035_label(name),
        };
        for msg in msgs {
            v.invalid_str(&mp.child("name"), name, &msg);
        }
    }
    if namespaced {
        if let Some(ns) = m.namespace.as_deref() {
            for msg in rules::is_dns1123_label(ns) {
                v.invalid_str(&mp.child("namespace"), ns, &msg);
            }
        }
    } else if m.namespace.as_deref().is_some_and(|n| !n.is_empty()) {
        v.warn(
            &mp.child("namespace"),
            "namespace is ignored: Namespace objects are cluster-scoped".to_string(),
        );
    }
    if let Some(labels) = &m.labels {
        validate_labels(v, labels, &mp.child("labels"));
    }
    if let Some(ann) = &m.annotations {
        let ap = mp.child("annotations");
        let mut total = 0usize;
        for (k, val) in ann {
            for msg in rules::is_qualified_name(&k.to_ascii_lowercase()) {
                v.push_at(
                    &ap,
                    ap.key(k),
                    true,
                    format!("Invalid value: {}: {msg}", go_quote(k)),
                );
            }
            total += k.len() + val.len();
        }
        if total > 256 * 1024 {
            v.push(
                &ap,
                "Too long: may not be more than 262144 bytes".to_string(),
            );
        }
    }
}

/// Upstream `ValidateLabels`: every key a qualified name, every value a label value; errors name the map.
pub fn validate_labels(v: &mut Issues, labels: &BTreeMap<String, String>, path: &FieldPath) {
    for (k, val) in labels {
        for msg in rules::is_qualified_name(k) {
            v.push_at(
                path,
                path.key(k),
                true,
                format!("Invalid value: {}: {msg}", go_quote(k)),
            );
        }
        for msg in rules::is_valid_label_value(val) {
            v.push_at(
                path,
                path.key(k),
                false,
                format!("Invalid value: {}: {msg}", go_quote(val)),
            );
        }
    }
}

fn template_meta(v: &mut Issues, t: &PodTemplateSpec, tp: &FieldPath) {
    if let Some(labels) = t.metadata.as_ref().and_then(|m| m.labels.as_ref()) {
        validate_labels(v, labels, &tp.child("metadata").child("labels"));
    }
}

/// Go's `%#v` of a `map[string]string`, as upstream prints template labels.
fn go_map(m: Option<&BTreeMap<String, String>>) -> String {
    match m {
        None => "map[string]string(nil)".to_string(),
        Some(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v)))
                .collect();
            format!("map[string]string{{{}}}", parts.join(", "))
        }
    }
}

fn selector_and_template(
    v: &mut Issues,
    tree: &Node,
    selector: &LabelSelector,
    template: Option<&PodTemplateSpec>,
    spec_p: &FieldPath,
    what: &str,
) {
    let sp = spec_p.child("selector");
    let written = tree
        .get("spec")
        .and_then(|s| s.value.get("selector"))
        .is_some_and(|e| !e.value.is_null());
    let mut selector_ok = false;
    if !written {
        v.required(&sp, "");
    } else {
        let before = v.list.len();
        label_selector(v, selector, &sp);
        let empty = selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && selector
                .match_expressions
                .as_ref()
                .is_none_or(|m| m.is_empty());
        if empty {
            let ml = if selector.match_labels.is_some() {
                "map[string]string{}"
            } else {
                "map[string]string(nil)"
            };
            let me = if selector.match_expressions.is_some() {
                "[]v1.LabelSelectorRequirement{}"
            } else {
                "[]v1.LabelSelectorRequirement(nil)"
            };
            v.push(
                &sp,
                format!(
                    "Invalid value: &v1.LabelSelector{{MatchLabels:{ml}, MatchExpressions:{me}}}: empty selector is invalid for {what}"
                ),
            );
        }
        selector_ok = !empty && v.list.len() == before;
    }
    let tp = spec_p.child("template");
    let Some(t) = template else {
        v.required(&tp, "");
        return;
    };
    template_meta(v, t, &tp);
    let labels = t.metadata.as_ref().and_then(|m| m.labels.as_ref());
    if selector_ok && !Selector::of(Some(selector)).matches(labels.unwrap_or(&BTreeMap::new())) {
        v.push(
            &tp.child("metadata").child("labels"),
            format!(
                "Invalid value: {}: `selector` does not match template `labels`",
                go_map(labels)
            ),
        );
    }
    if let Some(ps) = &t.spec {
        let psp = tp.child("spec");
        pod_spec(v, ps, &psp);
        let rp = ps.restart_policy.as_deref().unwrap_or("");
        if rp != "Always" {
            v.unsupported(&psp.child("restartPolicy"), rp, &["Always"]);
        }
        if ps.active_deadline_seconds.is_some() {
            let what = if what == "daemonset" {
                "DaemonSet"
            } else {
                "ReplicaSet"
            };
            v.push(
                &psp.child("activeDeadlineSeconds"),
                format!("Forbidden: activeDeadlineSeconds in {what} is not Supported"),
            );
        }
    } else {
        v.required(&tp.child("spec"), "");
    }
}

fn label_selector(v: &mut Issues, s: &LabelSelector, sp: &FieldPath) {
    if let Some(ml) = &s.match_labels {
        validate_labels(v, ml, &sp.child("matchLabels"));
    }
    for (i, r) in s.match_expressions.iter().flatten().enumerate() {
        let rp = sp.child("matchExpressions").index(i);
        let n = r.values.as_ref().map_or(0, |v| v.len());
        match r.operator.as_str() {
            "In" | "NotIn" => {
                if n == 0 {
                    v.required(
                        &rp.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    );
                }
            }
            "Exists" | "DoesNotExist" => {
                if n > 0 {
                    v.forbidden(
                        &rp.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    );
                }
            }
            op => v.invalid_str(&rp.child("operator"), op, "not a valid selector operator"),
        }
        for msg in rules::is_qualified_name(&r.key) {
            v.invalid_str(&rp.child("key"), &r.key, &msg);
        }
    }
}

fn int_or_percent(v: &mut Issues, x: Option<&IntOrString>, p: &FieldPath) -> Option<(bool, i64)> {
    match x? {
        IntOrString::Int(i) => {
            let i = i64::from(*i);
            if i < 0 {
                v.invalid_num(p, i, "must be greater than or equal to 0");
            }
            Some((false, i))
        }
        IntOrString::String(s) => {
            if !rules::is_percent(s) {
                v.invalid_str(p, s, &percent_error());
                return None;
            }
            let n: i64 = s[..s.len() - 1].parse().unwrap_or(i64::MAX);
            Some((true, n))
        }
    }
}

fn rolling_update(
    v: &mut Issues,
    surge: Option<&IntOrString>,
    unavailable: Option<&IntOrString>,
    p: &FieldPath,
) {
    let s = int_or_percent(v, surge, &p.child("maxSurge"));
    let u = int_or_percent(v, unavailable, &p.child("maxUnavailable"));
    if let Some((true, n)) = u
        && n > 100
    {
        v.invalid_str(
            &p.child("maxUnavailable"),
            &format!("{n}%"),
            "must not be greater than 100%",
        );
    }
    if let (Some((_, 0)), Some((pct, 0))) = (s, u) {
        let shown = if pct {
            "\"0%\"".to_string()
        } else {
            "0".to_string()
        };
        v.push(
            &p.child("maxUnavailable"),
            format!("Invalid value: {shown}: may not be 0 when `maxSurge` is 0"),
        );
    }
}

fn restart_policy(v: &mut Issues, spec: &PodSpec, sp: &FieldPath, allowed: &[&str]) {
    let rp = spec.restart_policy.as_deref().unwrap_or("");
    if !allowed.contains(&rp) {
        v.unsupported(&sp.child("restartPolicy"), rp, allowed);
    }
}

/// Go's `%#v` of a string slice, as the API server prints an invalid list.
fn go_string_slice(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// The API server's `validatePodDNSConfig` (docs/dns.md): at most 3 nameservers, each an IP address; at
/// most 32 search domains of at most 2048 characters together, each a DNS subdomain; option names set;
/// `dnsPolicy: None` needs a nameserver.
fn dns_config(v: &mut Issues, spec: &PodSpec, sp: &FieldPath) {
    let cp = sp.child("dnsConfig");
    let policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    let Some(cfg) = &spec.dns_config else {
        if policy == "None" {
            v.required(&cp, "must provide `dnsConfig` when `dnsPolicy` is None");
        }
        return;
    };
    let nameservers = cfg.nameservers.clone().unwrap_or_default();
    let np = cp.child("nameservers");
    if policy == "None" && nameservers.is_empty() {
        v.required(
            &np,
            "must provide at least one DNS nameserver when `dnsPolicy` is None",
        );
    }
    if nameservers.len() > 3 {
        v.push(
            &np,
            format!(
                "Invalid value: {}: must not have more than 3 nameservers",
                go_string_slice(&nameservers)
            ),
        );
    }
    for (i, n) in nameservers.iter().enumerate() {
        if n.parse::<std::net::IpAddr>().is_err() {
            v.invalid_str(&np.index(i), n, "must be valid IP address");
        }
    }
    let searches = cfg.searches.clone().unwrap_or_default();
    let spth = cp.child("searches");
    if searches.len() > 32 {
        v.push(
            &spth,
            format!(
                "Invalid value: {}: must not have more than 32 search paths",
                go_string_slice(&searches)
            ),
        );
    }
    let line = searches.join(" ");
    if line.len() > 2048 {
        v.invalid_str(
            &spth,
            &line,
            "must not have more than 2048 characters (including spaces) in the search list",
        );
    }
    for (i, s) in searches.iter().enumerate() {
        let trimmed = s.strip_suffix('.').unwrap_or(s);
        for msg in rules::is_dns1123_subdomain(trimmed) {
            v.invalid_str(&spth.index(i), s, &msg);
        }
    }
    for (i, o) in cfg.options.iter().flatten().enumerate() {
        if o.name.as_deref().unwrap_or("").is_empty() {
            v.required(
                &cp.child("options").index(i),
                "Option.Name must not be empty",
            );
        }
    }
    if policy == "Default" {
        v.warn(
            &cp,
            "dnsConfig with dnsPolicy Default is not supported: the host's resolv.conf is kept (docs/dns.md)"
                .to_string(),
        );
    }
}

fn pod_spec(v: &mut Issues, spec: &PodSpec, sp: &FieldPath) {
    let cp = sp.child("containers");
    if spec.containers.is_empty() {
        v.required(&cp, "");
    }
    containers(v, &spec.containers, &cp);
    if let Some(dp) = spec.dns_policy.as_deref()
        && !["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"].contains(&dp)
    {
        v.unsupported(
            &sp.child("dnsPolicy"),
            dp,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        );
    }
    dns_config(v, spec, sp);
    if let Some(ns) = &spec.node_selector {
        validate_labels(v, ns, &sp.child("nodeSelector"));
    }
    // The API server's ValidatePodSpec: both are DNS-1123 labels (a newline would become a line of the
    // container's /etc/hosts).
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(h) = value.as_deref().filter(|h| !h.is_empty()) {
            for msg in rules::is_dns1123_label(h) {
                v.invalid_str(&sp.child(field), h, &msg);
            }
        }
    }
    if let Some(nn) = spec.node_name.as_deref()
        && !nn.is_empty()
    {
        for msg in rules::is_dns1123_subdomain(nn) {
            v.invalid_str(&sp.child("nodeName"), nn, &msg);
        }
    }
    v.non_negative(
        &sp.child("terminationGracePeriodSeconds"),
        spec.termination_grace_period_seconds,
    );
    for (i, t) in spec.tolerations.iter().flatten().enumerate() {
        let tp = sp.child("tolerations").index(i);
        let key = t.key.as_deref().unwrap_or("");
        if !key.is_empty() {
            for msg in rules::is_qualified_name(key) {
                v.invalid_str(&tp.child("key"), key, &msg);
            }
        }
        let op = t.operator.as_deref().unwrap_or("Equal");
        match op {
            "Equal" => {
                if key.is_empty() {
                    v.invalid_str(
                        &tp.child("operator"),
                        op,
                        "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
                    );
                }
                let val = t.value.as_deref().unwrap_or("");
                for msg in rules::is_valid_label_value(val) {
                    v.invalid_str(&tp.child("value"), val, &msg);
                }
            }
            "Exists" => {
                if let Some(val) = t.value.as_deref()
                    && !val.is_empty()
                {
                    v.invalid_str(
                        &tp.child("operator"),
                        val,
                        "value must be empty when `operator` is 'Exists'",
                    );
                }
            }
            other => v.unsupported(&tp.child("operator"), other, &["Equal", "Exists"]),
        }
        if let Some(e) = t.effect.as_deref()
            && !e.is_empty()
            && !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&e)
        {
            v.unsupported(
                &tp.child("effect"),
                e,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            );
        }
    }
    podsec::pod(v, spec, sp);
    let volumes = storage::volumes(v, spec, sp);
    // Known fields clusterctl ignores.
    // configMap / secret / projected / downwardAPI sources (manifest::config); the others are checked
    // and warned about by name with the volumes (validate::storage).
    super::config::pod_volumes(v, spec, sp, &mut |_, _, _| {});
    podsec::init_containers(v, spec, sp);
    if spec.ephemeral_containers.is_some() {
        v.warn(
            &sp.child("ephemeralContainers"),
            UNSUPPORTED_FIELD.to_string(),
        );
    }
    for (i, c) in spec.containers.iter().enumerate() {
        let p = cp.index(i);
        super::config::env_from(v, c, &p);
        storage::volume_mounts(v, c, spec, &volumes, &p);
        probes::container(v, c, &p);
        // preStop exec hooks run before the stop (runtime::terminate); other hooks do not run.
        if let Some(l) = &c.lifecycle {
            let lp = p.child("lifecycle");
            if l.post_start.is_some() {
                v.warn(&lp.child("postStart"), UNSUPPORTED_FIELD.to_string());
            }
            if let Some(h) = &l.pre_stop {
                let hp = lp.child("preStop");
                for (set, name) in [
                    (h.http_get.is_some(), "httpGet"),
                    (h.tcp_socket.is_some(), "tcpSocket"),
                    (h.sleep.is_some(), "sleep"),
                ] {
                    if set {
                        v.warn(
                            &hp.child(name),
                            "clusterctl runs only exec preStop hooks; this hook is ignored"
                                .to_string(),
                        );
                    }
                }
            }
        }
    }
}

fn containers(v: &mut Issues, cs: &[Container], cp: &FieldPath) {
    let mut names = BTreeSet::new();
    for (i, c) in cs.iter().enumerate() {
        let p = cp.index(i);
        if c.name.is_empty() {
            v.required(&p.child("name"), "");
        } else {
            for msg in rules::is_dns1123_label(&c.name) {
                v.invalid_str(&p.child("name"), &c.name, &msg);
            }
            if !names.insert(c.name.clone()) {
                v.duplicate(&p.child("name"), &c.name);
            }
        }
        match c.image.as_deref() {
            None | Some("") => v.required(&p.child("image"), ""),
            Some(img) if img.trim() != img => v.invalid_str(
                &p.child("image"),
                img,
                "must not have leading or trailing whitespace",
            ),
            // An image reference has no whitespace or control characters; docker would refuse it only
            // after the pod's sandbox was created.
            Some(img) if img.chars().any(|c| c.is_whitespace() || c.is_control()) => v.invalid_str(
                &p.child("image"),
                img,
                "must not contain whitespace or control characters (not a valid image reference)",
            ),
            Some(_) => {}
        }
        if let Some(wd) = c.working_dir.as_deref() {
            runtime_string(v, &p.child("workingDir"), wd);
        }
        for (j, a) in c.command.iter().flatten().enumerate() {
            runtime_string(v, &p.child("command").index(j), a);
        }
        for (j, a) in c.args.iter().flatten().enumerate() {
            runtime_string(v, &p.child("args").index(j), a);
        }
        if let Some(pp) = c.image_pull_policy.as_deref()
            && !["Always", "IfNotPresent", "Never"].contains(&pp)
        {
            v.unsupported(
                &p.child("imagePullPolicy"),
                pp,
                &["Always", "IfNotPresent", "Never"],
            );
        }
        if let Some(tmp) = c.termination_message_policy.as_deref()
            && !["File", "FallbackToLogsOnError"].contains(&tmp)
        {
            v.unsupported(
                &p.child("terminationMessagePolicy"),
                tmp,
                &["File", "FallbackToLogsOnError"],
            );
        }
        let mut port_names = BTreeSet::new();
        for (j, port) in c.ports.iter().flatten().enumerate() {
            let pp = p.child("ports").index(j);
            if let Some(n) = port.name.as_deref()
                && !n.is_empty()
            {
                for msg in rules::is_valid_port_name(n) {
                    v.invalid_str(&pp.child("name"), n, &msg);
                }
                if !port_names.insert(n.to_string()) {
                    v.duplicate(&pp.child("name"), n);
                }
            }
            if port.container_port == 0 {
                v.required(&pp.child("containerPort"), "");
            } else {
                for msg in rules::is_valid_port_num(port.container_port.into()) {
                    v.invalid_num(&pp.child("containerPort"), port.container_port.into(), &msg);
                }
            }
            if let Some(hp) = port.host_port
                && hp != 0
            {
                for msg in rules::is_valid_port_num(hp.into()) {
                    v.invalid_num(&pp.child("hostPort"), hp.into(), &msg);
                }
            }
            protocol(v, port.protocol.as_deref(), &pp.child("protocol"));
            if let Some(ip) = port.host_ip.as_deref()
                && !ip.is_empty()
                && ip.parse::<std::net::IpAddr>().is_err()
            {
                v.invalid_str(&pp.child("hostIP"), ip, "must be a valid IP address");
            }
        }
        for (j, e) in c.env.iter().flatten().enumerate() {
            let ep = p.child("env").index(j);
            if e.name.is_empty() {
                v.required(&ep.child("name"), "");
            } else {
                for msg in rules::is_env_var_name(&e.name) {
                    v.invalid_str(&ep.child("name"), &e.name, &msg);
                }
            }
            if let Some(val) = e.value.as_deref() {
                runtime_string(v, &ep.child("value"), val);
            }
            super::config::value_from(v, e, &ep);
        }
        if let Some(r) = &c.resources {
            resources(v, r, &p.child("resources"));
        }
    }
}

fn protocol(v: &mut Issues, proto: Option<&str>, p: &FieldPath) {
    match proto {
        None | Some("") => v.required(p, ""),
        Some("TCP" | "UDP" | "SCTP") => {}
        Some(other) => v.unsupported(p, other, &["SCTP", "TCP", "UDP"]),
    }
}

fn is_standard_container_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-")
}

fn resources(v: &mut Issues, r: &ResourceRequirements, rp: &FieldPath) {
    let mut parsed_limits = BTreeMap::new();
    for (which, map) in [("limits", &r.limits), ("requests", &r.requests)] {
        let mp = rp.child(which);
        for (name, q) in map.iter().flatten() {
            let kp = mp.key(name);
            let name_msgs = rules::is_qualified_name(name);
            for msg in &name_msgs {
                v.push_at(
                    &kp,
                    kp.clone(),
                    true,
                    format!("Invalid value: {}: {msg}", go_quote(name)),
                );
            }
            if name_msgs.is_empty() && !name.contains('/') && !is_standard_container_resource(name)
            {
                v.push_at(
                    &kp,
                    kp.clone(),
                    true,
                    format!(
                        "Invalid value: {}: must be a standard resource for containers",
                        go_quote(name)
                    ),
                );
            }
            match Quantity::parse(&q.0) {
                Err(e) => v.invalid_str(&kp, &q.0, &e.to_string()),
                Ok(parsed) => {
                    if parsed.milli_value() < 0 {
                        v.invalid_str(&kp, &q.0, "must be greater than or equal to 0");
                    } else if which == "limits" {
                        parsed_limits.insert(name.clone(), parsed);
                    } else if let Some(limit) = parsed_limits.get(name)
                        && parsed.milli_value() > limit.milli_value()
                    {
                        v.push_at(
                            &mp,
                            kp.clone(),
                            false,
                            format!(
                                "Invalid value: {}: must be less than or equal to {name} limit of {}",
                                go_quote(&q.0),
                                limit
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// The LoadBalancer fields, as the API server checks them; the ones clusterctl's ServiceLB has no use for
/// are warnings (docs/networking.md).
fn load_balancer(
    v: &mut Issues,
    spec: &k8s_openapi::api::core::v1::ServiceSpec,
    sp: &FieldPath,
    ty: &str,
) {
    let lb = ty == "LoadBalancer";
    if let Some(ranges) = spec
        .load_balancer_source_ranges
        .as_ref()
        .filter(|r| !r.is_empty())
    {
        let rp = sp.child("loadBalancerSourceRanges");
        if !lb {
            v.forbidden(&rp, "may only be used when `type` is 'LoadBalancer'");
        } else {
            for (i, r) in ranges.iter().enumerate() {
                // Space padding is allowed (a leftover of the annotation it replaced).
                match crate::cidr::parse(r.trim()) {
                    None => v.invalid_str(
                        &rp.index(i),
                        r,
                        "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                    ),
                    Some(crate::cidr::IpNet::V6(_)) => v.warn(
                        &rp.index(i),
                        "clusterctl programs IPv4 rules only; this IPv6 range admits nothing"
                            .to_string(),
                    ),
                    Some(_) => {}
                }
            }
        }
    }
    if let Some(hc) = spec.health_check_node_port.filter(|p| *p != 0)
        && !(lb && spec.external_traffic_policy.as_deref() == Some("Local"))
    {
        v.invalid_num(
            &sp.child("healthCheckNodePort"),
            hc.into(),
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        );
    }
    if lb {
        if spec
            .load_balancer_ip
            .as_deref()
            .is_some_and(|s| !s.is_empty())
        {
            v.warn(
                &sp.child("loadBalancerIP"),
                "clusterctl's ServiceLB publishes on the nodes' addresses; this field is ignored"
                    .to_string(),
            );
        }
        if spec.load_balancer_class.is_some() {
            v.warn(
                &sp.child("loadBalancerClass"),
                UNSUPPORTED_FIELD.to_string(),
            );
        }
        if spec.allocate_load_balancer_node_ports == Some(false) {
            v.warn(
                &sp.child("allocateLoadBalancerNodePorts"),
                "clusterctl always allocates NodePorts for LoadBalancer Services; this field is ignored"
                    .to_string(),
            );
        }
    }
}

fn service(v: &mut Issues, s: &Service, sp: &FieldPath) {
    let Some(spec) = &s.spec else {
        v.required(sp, "");
        return;
    };
    let ty = spec.type_.as_deref().unwrap_or("ClusterIP");
    match ty {
        "ClusterIP" | "NodePort" | "LoadBalancer" => {}
        "ExternalName" => v.push(
            &sp.child("type"),
            format!(
                "Unsupported value: {}: clusterctl supports \"ClusterIP\", \"NodePort\", \"LoadBalancer\"",
                go_quote(ty)
            ),
        ),
        other => v.unsupported(
            &sp.child("type"),
            other,
            &["ClusterIP", "NodePort", "LoadBalancer"],
        ),
    }
    load_balancer(v, spec, sp, ty);
    let cluster_ip = spec.cluster_ip.as_deref().unwrap_or("");
    let headless = cluster_ip == "None";
    if !cluster_ip.is_empty() && !headless && cluster_ip.parse::<std::net::IpAddr>().is_err() {
        v.invalid_str(
            &sp.child("clusterIP"),
            cluster_ip,
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        );
    }
    if headless && (ty == "NodePort" || ty == "LoadBalancer") {
        v.invalid_str(
            &sp.child("clusterIP"),
            cluster_ip,
            &format!("may not be set to 'None' for {ty} services"),
        );
    }
    let ports = spec.ports.as_deref().unwrap_or(&[]);
    if ports.is_empty() && !headless {
        v.required(&sp.child("ports"), "");
    }
    let mut names = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let pp = sp.child("ports").index(i);
        let name = port.name.as_deref().unwrap_or("");
        if ports.len() > 1 && name.is_empty() {
            v.required(&pp.child("name"), "");
        } else if !name.is_empty() {
            for msg in rules::is_dns1123_label(name) {
                v.invalid_str(&pp.child("name"), name, &msg);
            }
            if !names.insert(name.to_string()) {
                v.duplicate(&pp.child("name"), name);
            }
        }
        for msg in rules::is_valid_port_num(port.port.into()) {
            v.invalid_num(&pp.child("port"), port.port.into(), &msg);
        }
        protocol(v, port.protocol.as_deref(), &pp.child("protocol"));
        match &port.target_port {
            Some(IntOrString::Int(t)) => {
                for msg in rules::is_valid_port_num((*t).into()) {
                    v.invalid_num(&pp.child("targetPort"), (*t).into(), &msg);
                }
            }
            Some(IntOrString::String(t)) => {
                for msg in rules::is_valid_port_name(t) {
                    v.invalid_str(&pp.child("targetPort"), t, &msg);
                }
            }
            None => {}
        }
        // Range and uniqueness of nodePorts are the allocator's checks (manifest::parse_with).
        if let Some(np) = port.node_port
            && np != 0
            && ty == "ClusterIP"
        {
            v.forbidden(
                &pp.child("nodePort"),
                "may not be used when `type` is 'ClusterIP'",
            );
        }
        let key = format!(
            "{}/{}",
            port.port,
            port.protocol.as_deref().unwrap_or("TCP")
        );
        if !seen.insert(key.clone()) {
            v.duplicate(&pp, &key);
        }
    }
    if let Some(sel) = &spec.selector {
        validate_labels(v, sel, &sp.child("selector"));
    }
    if let Some(sa) = spec.session_affinity.as_deref()
        && sa != "None"
        && sa != "ClientIP"
    {
        v.unsupported(&sp.child("sessionAffinity"), sa, &["ClientIP", "None"]);
    }
    if let Some(cfg) = &spec.session_affinity_config {
        let cp = sp.child("sessionAffinityConfig");
        if spec.session_affinity.as_deref() != Some("ClientIP") {
            v.push(
                &cp,
                "Invalid value: must not be set when session affinity is None".to_string(),
            );
        } else if let Some(t) = cfg.client_ip.as_ref().and_then(|c| c.timeout_seconds)
            && !(1..=86400).contains(&t)
        {
            v.invalid_num(
                &cp.child("clientIP").child("timeoutSeconds"),
                t.into(),
                "must be greater than 0 and less than 86400",
            );
        }
    }
    if let Some(etp) = spec.external_traffic_policy.as_deref() {
        if ty == "ClusterIP" {
            v.invalid_str(
                &sp.child("externalTrafficPolicy"),
                etp,
                "may only be set for externally-accessible services",
            );
        } else if etp != "Cluster" && etp != "Local" {
            v.unsupported(
                &sp.child("externalTrafficPolicy"),
                etp,
                &["Cluster", "Local"],
            );
        }
    }
    if let Some(itp) = spec.internal_traffic_policy.as_deref() {
        if itp != "Cluster" && itp != "Local" {
            v.unsupported(
                &sp.child("internalTrafficPolicy"),
                itp,
                &["Cluster", "Local"],
            );
        } else if itp == "Local" {
            v.warn(
                &sp.child("internalTrafficPolicy"),
                "clusterctl routes ClusterIP traffic to every Ready endpoint (Cluster); Local is ignored"
                    .to_string(),
            );
        }
    }
    if spec
        .external_ips
        .as_ref()
        .is_some_and(|ips| !ips.is_empty())
    {
        v.warn(&sp.child("externalIPs"), UNSUPPORTED_FIELD.to_string());
    }
}
