//! `kubectl describe node` and `kubectl describe pod`, section by section as kubectl's describe.go writes
//! them, aligned with the same tabwriter rules (minwidth 0, padding 2, blocks broken by lines without a tab,
//! an explicit flush before an Events table). Timestamps print in UTC (`+0000`) so output is reproducible.
//! Pure: objects in, text out.

mod job;
pub use job::describe_job;
mod deploy;
pub use deploy::{RsLine, describe_deployment, describe_revision};

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStatus, Node, Pod, Taint, Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::quantity_fmt::QuantitySum;
use super::tabwriter::DESCRIBE;
use crate::age::{age, rfc1123z};
use crate::quantity::Quantity;
use crate::view::{effective_requests, node_roles, qos_class};

/// kubectl shortens longer annotation lines.
const MAX_ANNOTATION_LEN: usize = 140;

/// Text written through kubectl's PrefixWriter into one tabwriter, with explicit flushes.
#[derive(Default)]
struct Doc {
    pending: String,
    out: String,
}

impl Doc {
    fn w(&mut self, level: usize, s: &str) {
        for _ in 0..level {
            self.pending.push_str("  ");
        }
        self.pending.push_str(s);
    }
    fn flush(&mut self) {
        self.out.push_str(&DESCRIBE.format(&self.pending));
        self.pending.clear();
    }
    fn finish(mut self) -> String {
        self.flush();
        self.out
    }
}

fn time_or_zero(t: Option<&Time>) -> String {
    match t {
        Some(t) => rfc1123z(t),
        // Go prints its zero time.
        None => "Mon, 01 Jan 0001 00:00:00 +0000".to_string(),
    }
}

fn labels_multiline(d: &mut Doc, title: &str, labels: Option<&BTreeMap<String, String>>) {
    d.w(0, &format!("{title}:\t"));
    let labels = labels.cloned().unwrap_or_default();
    if labels.is_empty() {
        d.w(0, "<none>\n");
        return;
    }
    for (i, (k, v)) in labels.iter().enumerate() {
        if i != 0 {
            d.w(0, "\t");
        }
        d.w(0, &format!("{k}={v}\n"));
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s.to_string()
    }
}

fn annotations_multiline(d: &mut Doc, title: &str, annotations: Option<&BTreeMap<String, String>>) {
    d.w(0, &format!("{title}:\t"));
    let ann: BTreeMap<String, String> = annotations
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != "kubectl.kubernetes.io/last-applied-configuration")
        .collect();
    if ann.is_empty() {
        d.w(0, "<none>\n");
        return;
    }
    for (i, (k, v)) in ann.iter().enumerate() {
        if i != 0 {
            d.w(0, "\t");
        }
        let value = v.strip_suffix('\n').unwrap_or(v);
        if value.len() + k.len() + 2 > MAX_ANNOTATION_LEN || value.contains('\n') {
            d.w(0, &format!("{k}:\n"));
            for line in value.split('\n') {
                d.w(0, &format!("\t{}\n", shorten(line, MAX_ANNOTATION_LEN - 2)));
            }
        } else {
            d.w(0, &format!("{k}: {value}\n"));
        }
    }
}

fn taint_string(t: &Taint) -> String {
    let mut s = t.key.clone();
    if let Some(v) = t.value.as_deref().filter(|v| !v.is_empty()) {
        s.push('=');
        s.push_str(v);
    }
    if !t.effect.is_empty() {
        s.push(':');
        s.push_str(&t.effect);
    }
    s
}

fn taints_multiline(d: &mut Doc, title: &str, taints: &[Taint]) {
    d.w(0, &format!("{title}:\t"));
    if taints.is_empty() {
        d.w(0, "<none>\n");
        return;
    }
    let mut taints = taints.to_vec();
    taints
        .sort_by(|a, b| format!("{},{}", a.effect, a.key).cmp(&format!("{},{}", b.effect, b.key)));
    for (i, t) in taints.iter().enumerate() {
        if i != 0 {
            d.w(0, "\t");
        }
        d.w(0, &format!("{}\n", taint_string(t)));
    }
}

fn tolerations_multiline(d: &mut Doc, title: &str, tolerations: &[Toleration]) {
    d.w(0, &format!("{title}:\t"));
    if tolerations.is_empty() {
        d.w(0, "<none>\n");
        return;
    }
    let mut tols = tolerations.to_vec();
    tols.sort_by(|a, b| a.key.cmp(&b.key));
    for (i, t) in tols.iter().enumerate() {
        if i != 0 {
            d.w(0, "\t");
        }
        let key = t.key.clone().unwrap_or_default();
        let value = t.value.clone().unwrap_or_default();
        let effect = t.effect.clone().unwrap_or_default();
        let mut s = key.clone();
        if !value.is_empty() {
            s.push_str(&format!("={value}"));
        }
        if !effect.is_empty() {
            s.push_str(&format!(":{effect}"));
        }
        if t.operator.as_deref() == Some("Exists") && value.is_empty() {
            s.push_str(if key.is_empty() && effect.is_empty() {
                "op=Exists"
            } else {
                " op=Exists"
            });
        }
        if let Some(secs) = t.toleration_seconds {
            s.push_str(&format!(" for {secs}s"));
        }
        d.w(0, &format!("{s}\n"));
    }
}

fn parse_q(s: &str) -> Option<Quantity> {
    Quantity::parse(s).ok()
}

/// Pod requests and limits as kubectl totals them (`resourcehelper.PodRequestsAndLimits`, i.e. upstream's
/// `PodRequests` / `PodLimits`): containers summed; sidecars (init containers with `restartPolicy: Always`)
/// added and counted under every later init container; each init container's need taken as a maximum
/// (they run one at a time); overhead added. Requests are defaulted from limits as the API server does.
/// Exact: the quantities are summed at full precision.
fn pod_requests_limits(
    pod: &Pod,
) -> (BTreeMap<String, QuantitySum>, BTreeMap<String, QuantitySum>) {
    type List = BTreeMap<String, QuantitySum>;
    let spec = pod.spec.clone().unwrap_or_default();
    let list = |m: BTreeMap<String, String>| -> List {
        let mut out = List::new();
        for (k, v) in m {
            if let Some(q) = parse_q(&v) {
                out.entry(k).or_default().add(&q);
            }
        }
        out
    };
    let add = |to: &mut List, from: &List| {
        for (k, v) in from {
            to.entry(k.clone()).or_default().add_sum(v);
        }
    };
    let limits_of = |c: &Container| -> BTreeMap<String, String> {
        c.resources
            .as_ref()
            .and_then(|r| r.limits.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect()
    };
    let total = |of: &dyn Fn(&Container) -> BTreeMap<String, String>| -> List {
        let mut out = List::new();
        for c in &spec.containers {
            add(&mut out, &list(of(c)));
        }
        let (mut sidecars, mut init_max) = (List::new(), List::new());
        for ic in spec.init_containers.iter().flatten() {
            let own = list(of(ic));
            let need = if ic.restart_policy.as_deref() == Some("Always") {
                add(&mut out, &own);
                add(&mut sidecars, &own);
                sidecars.clone()
            } else {
                let mut t = own;
                add(&mut t, &sidecars);
                t
            };
            for (k, v) in need {
                init_max.entry(k).or_default().max_with(&v);
            }
        }
        for (k, v) in init_max {
            out.entry(k).or_default().max_with(&v);
        }
        out
    };
    let mut reqs = total(&effective_requests);
    let mut lims = total(&limits_of);
    let overhead: BTreeMap<String, String> = spec
        .overhead
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    let overhead = list(overhead);
    add(&mut reqs, &overhead);
    // Limits get overhead only for resources that have a limit.
    for (k, v) in &overhead {
        if let Some(l) = lims.get_mut(k) {
            l.add_sum(v);
        }
    }
    (reqs, lims)
}

/// `int64(float64(part) / float64(whole) * 100)`, 0 when the node has none of the resource.
fn percent(part: i128, whole: i128) -> i64 {
    if whole == 0 {
        return 0;
    }
    (part as f64 / whole as f64 * 100.0) as i64
}

fn is_terminal(p: &Pod) -> bool {
    matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// `kubectl describe node`. `pods_on_node` are the pods bound to it (terminal ones are skipped, as kubectl
/// lists only non-terminated pods).
pub fn describe_node(node: &Node, pods_on_node: &[Pod], now: Timestamp) -> String {
    let mut d = Doc::default();
    let meta = &node.metadata;
    let spec = node.spec.clone().unwrap_or_default();
    let status = node.status.clone().unwrap_or_default();
    d.w(
        0,
        &format!("Name:\t{}\n", meta.name.clone().unwrap_or_default()),
    );
    let roles = node_roles(node);
    d.w(
        0,
        &format!(
            "Roles:\t{}\n",
            if roles.is_empty() {
                "<none>".to_string()
            } else {
                roles.join(",")
            }
        ),
    );
    labels_multiline(&mut d, "Labels", meta.labels.as_ref());
    annotations_multiline(&mut d, "Annotations", meta.annotations.as_ref());
    d.w(
        0,
        &format!(
            "CreationTimestamp:\t{}\n",
            time_or_zero(meta.creation_timestamp.as_ref())
        ),
    );
    taints_multiline(&mut d, "Taints", spec.taints.as_deref().unwrap_or(&[]));
    d.w(
        0,
        &format!("Unschedulable:\t{}\n", spec.unschedulable.unwrap_or(false)),
    );
    // There is no lease object without a kubelet; kubectl prints <unset> when it finds none.
    d.w(0, "Lease:\n");
    d.w(1, "HolderIdentity:\t<unset>\n");
    d.w(1, "AcquireTime:\t<unset>\n");
    d.w(1, "RenewTime:\t<unset>\n");
    let conditions = status.conditions.clone().unwrap_or_default();
    if !conditions.is_empty() {
        d.w(
            0,
            "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n",
        );
        d.w(
            1,
            "----\t------\t-----------------\t------------------\t------\t-------\n",
        );
        for c in &conditions {
            d.w(
                1,
                &format!(
                    "{} \t{} \t{} \t{} \t{} \t{}\n",
                    c.type_,
                    c.status,
                    time_or_zero(c.last_heartbeat_time.as_ref()),
                    time_or_zero(c.last_transition_time.as_ref()),
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default()
                ),
            );
        }
    }
    d.w(0, "Addresses:\n");
    for a in status.addresses.iter().flatten() {
        d.w(1, &format!("{}:\t{}\n", a.type_, a.address));
    }
    let capacity = status.capacity.clone().unwrap_or_default();
    let allocatable_raw = status.allocatable.clone().unwrap_or_default();
    for (title, list) in [("Capacity", &capacity), ("Allocatable", &allocatable_raw)] {
        if !list.is_empty() {
            d.w(0, &format!("{title}:\n"));
            for (k, v) in list {
                d.w(0, &format!("  {k}:\t{}\n", v.0));
            }
        }
    }
    let info = status.node_info.clone().unwrap_or_default();
    d.w(0, "System Info:\n");
    for (k, v) in [
        ("Machine ID", &info.machine_id),
        ("System UUID", &info.system_uuid),
        ("Boot ID", &info.boot_id),
        ("Kernel Version", &info.kernel_version),
        ("OS Image", &info.os_image),
        ("Operating System", &info.operating_system),
        ("Architecture", &info.architecture),
        ("Container Runtime Version", &info.container_runtime_version),
        ("Kubelet Version", &info.kubelet_version),
        ("Kube-Proxy Version", &info.kube_proxy_version),
    ] {
        d.w(0, &format!("  {k}:\t{v}\n"));
    }
    if let Some(cidr) = spec.pod_cidr.as_deref().filter(|c| !c.is_empty()) {
        d.w(0, &format!("PodCIDR:\t{cidr}\n"));
    }
    if let Some(cidrs) = spec.pod_cidrs.as_ref().filter(|c| !c.is_empty()) {
        d.w(0, &format!("PodCIDRs:\t{}\n", cidrs.join(",")));
    }
    if let Some(p) = spec.provider_id.as_deref().filter(|c| !c.is_empty()) {
        d.w(0, &format!("ProviderID:\t{p}\n"));
    }

    // Percentages are of allocatable (capacity when allocatable is empty).
    let alloc_src = if allocatable_raw.is_empty() {
        &capacity
    } else {
        &allocatable_raw
    };
    let alloc: BTreeMap<String, Quantity> = alloc_src
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), parse_q(&v.0)?)))
        .collect();
    let alloc_milli = |k: &str| alloc.get(k).map_or(0, |q| i128::from(q.milli_value()));
    let alloc_value = |k: &str| alloc.get(k).map_or(0, |q| i128::from(q.value()));

    let mut pods: Vec<&Pod> = pods_on_node.iter().filter(|p| !is_terminal(p)).collect();
    pods.sort_by_key(|p| (p.metadata.namespace.clone(), p.metadata.name.clone()));
    d.w(
        0,
        &format!("Non-terminated Pods:\t({} in total)\n", pods.len()),
    );
    d.w(
        1,
        "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n",
    );
    d.w(
        1,
        "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n",
    );
    let mut total_req: BTreeMap<String, QuantitySum> = BTreeMap::new();
    let mut total_lim: BTreeMap<String, QuantitySum> = BTreeMap::new();
    for p in &pods {
        let (req, lim) = pod_requests_limits(p);
        let get =
            |m: &BTreeMap<String, QuantitySum>, k: &str| m.get(k).copied().unwrap_or_default();
        let (cr, cl, mr, ml) = (
            get(&req, "cpu"),
            get(&lim, "cpu"),
            get(&req, "memory"),
            get(&lim, "memory"),
        );
        d.w(
            1,
            &format!(
                "{}\t{}\t\t{} ({}%)\t{} ({}%)\t{} ({}%)\t{} ({}%)\t{}\n",
                p.metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".into()),
                p.metadata.name.clone().unwrap_or_default(),
                cr,
                percent(cr.milli_value(), alloc_milli("cpu")),
                cl,
                percent(cl.milli_value(), alloc_milli("cpu")),
                mr,
                percent(mr.value(), alloc_value("memory")),
                ml,
                percent(ml.value(), alloc_value("memory")),
                age(p.metadata.creation_timestamp.as_ref(), now)
            ),
        );
        for (k, v) in req {
            total_req.entry(k).or_default().add_sum(&v);
        }
        for (k, v) in lim {
            total_lim.entry(k).or_default().add_sum(&v);
        }
    }
    d.w(
        0,
        "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n",
    );
    d.w(1, "Resource\tRequests\tLimits\n");
    d.w(1, "--------\t--------\t------\n");
    let get = |m: &BTreeMap<String, QuantitySum>, k: &str| m.get(k).copied().unwrap_or_default();
    for (k, by_value) in [
        ("cpu", false),
        ("memory", true),
        ("ephemeral-storage", true),
    ] {
        let (r, l) = (get(&total_req, k), get(&total_lim, k));
        let (rp, lp) = if by_value {
            (
                percent(r.value(), alloc_value(k)),
                percent(l.value(), alloc_value(k)),
            )
        } else {
            (
                percent(r.milli_value(), alloc_milli(k)),
                percent(l.milli_value(), alloc_milli(k)),
            )
        };
        d.w(1, &format!("{k}\t{r} ({rp}%)\t{l} ({lp}%)\n"));
    }
    for k in alloc.keys().filter(|k| k.starts_with("hugepages-")) {
        let (r, l) = (get(&total_req, k), get(&total_lim, k));
        d.w(
            1,
            &format!(
                "{k}\t{r} ({}%)\t{l} ({}%)\n",
                percent(r.value(), alloc_value(k)),
                percent(l.value(), alloc_value(k))
            ),
        );
    }
    let standard = ["cpu", "memory", "ephemeral-storage", "storage", "pods"];
    for k in alloc
        .keys()
        .filter(|k| !standard.contains(&k.as_str()) && !k.starts_with("hugepages-"))
    {
        d.w(
            1,
            &format!("{k}\t{}\t{}\n", get(&total_req, k), get(&total_lim, k)),
        );
    }
    d.w(0, "Events:\t<none>\n");
    d.finish()
}

/// One row of a describe Events table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// `Normal` | `Warning`
    pub type_: String,
    pub reason: String,
    /// When it was first seen; AGE is computed from it (`<unknown>` when absent).
    pub first_seen: Option<Time>,
    /// e.g. `default-scheduler`
    pub from: String,
    pub message: String,
    /// When it was last seen and how often (kubectl prints `<age> (x<count> over <age of first>)`).
    pub last_seen: Option<Time>,
    pub count: u32,
}

impl EventRow {
    /// A row of an event the node supervisor recorded (docs/node-supervisor.md); from `kubelet`.
    pub fn recorded(e: &crate::model::RecordedEvent) -> EventRow {
        let t = |s: &str| s.parse::<Timestamp>().ok().map(Time);
        EventRow {
            type_: e.type_.clone(),
            reason: e.reason.clone(),
            first_seen: t(&e.first_timestamp),
            from: "kubelet".to_string(),
            message: e.message.clone(),
            last_seen: t(&e.last_timestamp),
            count: e.count,
        }
    }
}

/// kubectl describe's event AGE: the first occurrence, or `<last> (x<n> over <first>)` for a repeated one.
fn event_age(e: &EventRow, now: Timestamp) -> String {
    if e.count > 1 {
        format!(
            "{} (x{} over {})",
            age(e.last_seen.as_ref().or(e.first_seen.as_ref()), now),
            e.count,
            age(e.first_seen.as_ref(), now)
        )
    } else {
        age(e.first_seen.as_ref(), now)
    }
}

fn describe_events(d: &mut Doc, events: &[EventRow], now: Timestamp) {
    if events.is_empty() {
        d.w(0, "Events:\t<none>\n");
        return;
    }
    d.flush();
    d.w(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n");
    d.w(1, "----\t------\t----\t----\t-------\n");
    for e in events {
        d.w(
            1,
            &format!(
                "{}\t{}\t{}\t{}\t{}\n",
                e.type_,
                e.reason,
                event_age(e, now),
                e.from,
                e.message.trim()
            ),
        );
    }
}

fn describe_state(d: &mut Doc, title: &str, state: &ContainerState) {
    if let Some(r) = &state.running {
        d.w(2, &format!("{title}:\tRunning\n"));
        d.w(
            3,
            &format!("Started:\t{}\n", time_or_zero(r.started_at.as_ref())),
        );
    } else if let Some(w) = &state.waiting {
        d.w(2, &format!("{title}:\tWaiting\n"));
        if let Some(r) = w.reason.as_deref().filter(|r| !r.is_empty()) {
            d.w(3, &format!("Reason:\t{r}\n"));
        }
    } else if let Some(t) = &state.terminated {
        d.w(2, &format!("{title}:\tTerminated\n"));
        if let Some(r) = t.reason.as_deref().filter(|r| !r.is_empty()) {
            d.w(3, &format!("Reason:\t{r}\n"));
        }
        if let Some(m) = t.message.as_deref().filter(|r| !r.is_empty()) {
            d.w(3, &format!("Message:\t{m}\n"));
        }
        d.w(3, &format!("Exit Code:\t{}\n", t.exit_code));
        if let Some(s) = t.signal.filter(|s| *s > 0) {
            d.w(3, &format!("Signal:\t{s}\n"));
        }
        d.w(
            3,
            &format!("Started:\t{}\n", time_or_zero(t.started_at.as_ref())),
        );
        d.w(
            3,
            &format!("Finished:\t{}\n", time_or_zero(t.finished_at.as_ref())),
        );
    } else {
        d.w(2, &format!("{title}:\tWaiting\n"));
    }
}

fn describe_container(d: &mut Doc, c: &Container, status: Option<&ContainerStatus>) {
    d.w(1, &format!("{}:\n", c.name));
    if let Some(s) = status {
        d.w(
            2,
            &format!(
                "Container ID:\t{}\n",
                s.container_id.clone().unwrap_or_default()
            ),
        );
    }
    d.w(
        2,
        &format!("Image:\t{}\n", c.image.clone().unwrap_or_default()),
    );
    if let Some(s) = status {
        d.w(2, &format!("Image ID:\t{}\n", s.image_id));
    }
    let ports = c.ports.clone().unwrap_or_default();
    let proto = |p: &k8s_openapi::api::core::v1::ContainerPort| {
        p.protocol.clone().unwrap_or_else(|| "TCP".to_string())
    };
    let port_s: Vec<String> = ports
        .iter()
        .map(|p| format!("{}/{}", p.container_port, proto(p)))
        .collect();
    let host_s: Vec<String> = ports
        .iter()
        .map(|p| format!("{}/{}", p.host_port.unwrap_or(0), proto(p)))
        .collect();
    for (one, many, v) in [
        ("Port", "Ports", port_s),
        ("Host Port", "Host Ports", host_s),
    ] {
        if v.len() > 1 {
            d.w(2, &format!("{many}:\t{}\n", v.join(", ")));
        } else {
            d.w(
                2,
                &format!(
                    "{one}:\t{}\n",
                    v.first().cloned().unwrap_or_else(|| "<none>".to_string())
                ),
            );
        }
    }
    for (title, list) in [("Command", &c.command), ("Args", &c.args)] {
        if let Some(list) = list.as_ref().filter(|l| !l.is_empty()) {
            d.w(2, &format!("{title}:\n"));
            for item in list {
                for line in item.split('\n') {
                    d.w(3, &format!("{line}\n"));
                }
            }
        }
    }
    if let Some(s) = status {
        describe_state(d, "State", &s.state.clone().unwrap_or_default());
        if let Some(last) = s.last_state.as_ref().filter(|l| l.terminated.is_some()) {
            describe_state(d, "Last State", last);
        }
        d.w(
            2,
            &format!("Ready:\t{}\n", if s.ready { "True" } else { "False" }),
        );
        d.w(2, &format!("Restart Count:\t{}\n", s.restart_count));
    }
    let res = c.resources.clone().unwrap_or_default();
    for (title, list) in [("Limits", res.limits), ("Requests", res.requests)] {
        let list = list.unwrap_or_default();
        if !list.is_empty() {
            d.w(2, &format!("{title}:\n"));
            for (k, v) in list {
                d.w(3, &format!("{k}:\t{}\n", v.0));
            }
        }
    }
    let env = c.env.clone().unwrap_or_default();
    d.w(
        2,
        if env.is_empty() {
            "Environment:\t<none>\n"
        } else {
            "Environment:\n"
        },
    );
    for e in env {
        match &e.value_from {
            None => {
                for (i, line) in e.value.clone().unwrap_or_default().split('\n').enumerate() {
                    if i == 0 {
                        d.w(3, &format!("{}:\t{line}\n", e.name));
                    } else {
                        d.w(3, &format!("\t{line}\n"));
                    }
                }
            }
            Some(_) => d.w(3, &format!("{}:\t<set from a reference>\n", e.name)),
        }
    }
    let mounts = c.volume_mounts.clone().unwrap_or_default();
    d.w(
        2,
        if mounts.is_empty() {
            "Mounts:\t<none>\n"
        } else {
            "Mounts:\n"
        },
    );
    let mut mounts = mounts;
    mounts.sort_by(|a, b| a.mount_path.cmp(&b.mount_path));
    for m in mounts {
        let flag = if m.read_only == Some(true) {
            "ro"
        } else {
            "rw"
        };
        d.w(3, &format!("{} from {} ({flag})\n", m.mount_path, m.name));
    }
}

/// `kubectl describe pod` with events given as `(type, reason, from, message)`; their AGE is the pod's age
/// (clusterctl derives a pod's events when it observes or schedules it). See [`describe_pod_events`].
pub fn describe_pod(
    pod: &Pod,
    events: &[(String, String, String, String)],
    now: Timestamp,
) -> String {
    let rows: Vec<EventRow> = events
        .iter()
        .map(|(t, r, f, m)| EventRow {
            type_: t.clone(),
            reason: r.clone(),
            first_seen: pod.metadata.creation_timestamp.clone(),
            from: f.clone(),
            message: m.clone(),
            last_seen: None,
            count: 1,
        })
        .collect();
    describe_pod_events(pod, &rows, now)
}

/// The scheduler's event for a pod it could not place, as `describe pod` shows it.
pub fn failed_scheduling_event(message: &str) -> (String, String, String, String) {
    (
        "Warning".to_string(),
        "FailedScheduling".to_string(),
        "default-scheduler".to_string(),
        message.to_string(),
    )
}

/// `kubectl describe pod` with timed events.
pub fn describe_pod_events(pod: &Pod, events: &[EventRow], now: Timestamp) -> String {
    let mut d = Doc::default();
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    d.w(
        0,
        &format!("Name:\t{}\n", meta.name.clone().unwrap_or_default()),
    );
    d.w(
        0,
        &format!(
            "Namespace:\t{}\n",
            meta.namespace.clone().unwrap_or_else(|| "default".into())
        ),
    );
    // The API server's priority admission sets 0 and the service-account admission `default`.
    d.w(0, &format!("Priority:\t{}\n", spec.priority.unwrap_or(0)));
    if let Some(pc) = spec
        .priority_class_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        d.w(0, &format!("Priority Class Name:\t{pc}\n"));
    }
    d.w(
        0,
        &format!(
            "Service Account:\t{}\n",
            spec.service_account_name
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "default".into())
        ),
    );
    match spec.node_name.as_deref().filter(|s| !s.is_empty()) {
        None => d.w(0, "Node:\t<none>\n"),
        Some(n) => d.w(
            0,
            &format!(
                "Node:\t{n}/{}\n",
                status.host_ip.clone().unwrap_or_default()
            ),
        ),
    }
    if let Some(t) = &status.start_time {
        d.w(0, &format!("Start Time:\t{}\n", rfc1123z(t)));
    }
    labels_multiline(&mut d, "Labels", meta.labels.as_ref());
    annotations_multiline(&mut d, "Annotations", meta.annotations.as_ref());
    let phase = status.phase.clone().unwrap_or_default();
    match &meta.deletion_timestamp {
        Some(t) if phase != "Failed" && phase != "Succeeded" => {
            d.w(
                0,
                &format!("Status:\tTerminating (lasts {})\n", age(Some(t), now)),
            );
            d.w(
                0,
                &format!(
                    "Termination Grace Period:\t{}s\n",
                    meta.deletion_grace_period_seconds.unwrap_or(30)
                ),
            );
        }
        _ => d.w(0, &format!("Status:\t{phase}\n")),
    }
    if let Some(r) = status.reason.as_deref().filter(|s| !s.is_empty()) {
        d.w(0, &format!("Reason:\t{r}\n"));
    }
    if let Some(m) = status.message.as_deref().filter(|s| !s.is_empty()) {
        d.w(0, &format!("Message:\t{m}\n"));
    }
    d.w(
        0,
        &format!("IP:\t{}\n", status.pod_ip.clone().unwrap_or_default()),
    );
    let ips = status.pod_ips.clone().unwrap_or_default();
    if ips.is_empty() {
        d.w(0, "IPs:\t<none>\n");
    } else {
        d.w(0, "IPs:\n");
        for ip in ips {
            d.w(1, &format!("IP:\t{}\n", ip.ip));
        }
    }
    if let Some(o) = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
    {
        d.w(0, &format!("Controlled By:\t{}/{}\n", o.kind, o.name));
    }
    if let Some(n) = status
        .nominated_node_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        d.w(0, &format!("NominatedNodeName:\t{n}\n"));
    }
    let statuses: BTreeMap<String, ContainerStatus> = status
        .container_statuses
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();
    let init = spec.init_containers.clone().unwrap_or_default();
    if !init.is_empty() {
        let init_statuses: BTreeMap<String, ContainerStatus> = status
            .init_container_statuses
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect();
        d.w(0, "Init Containers:\n");
        for c in &init {
            describe_container(&mut d, c, init_statuses.get(&c.name));
        }
    }
    d.w(
        0,
        if spec.containers.is_empty() {
            "Containers: <none>\n"
        } else {
            "Containers:\n"
        },
    );
    for c in &spec.containers {
        describe_container(&mut d, c, statuses.get(&c.name));
    }
    let conditions = status.conditions.clone().unwrap_or_default();
    if !conditions.is_empty() {
        d.w(0, "Conditions:\n  Type\tStatus\n");
        for c in &conditions {
            d.w(1, &format!("{} \t{} \n", c.type_, c.status));
        }
    }
    let volumes = spec.volumes.clone().unwrap_or_default();
    if volumes.is_empty() {
        d.w(0, "Volumes:\t<none>\n");
    } else {
        d.w(0, "Volumes:\n");
        for v in volumes {
            d.w(1, &format!("{}:\n", v.name));
            if let Some(h) = &v.host_path {
                d.w(2, "Type:\tHostPath (bare host directory volume)\n");
                d.w(2, &format!("Path:\t{}\n", h.path));
                d.w(
                    2,
                    &format!(
                        "HostPathType:\t{}\n",
                        h.type_.clone().unwrap_or_else(|| "<none>".into())
                    ),
                );
            } else if let Some(e) = &v.empty_dir {
                d.w(
                    2,
                    "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n",
                );
                d.w(
                    2,
                    &format!("Medium:\t{}\n", e.medium.clone().unwrap_or_default()),
                );
                d.w(
                    2,
                    &format!(
                        "SizeLimit:\t{}\n",
                        e.size_limit
                            .as_ref()
                            .map_or("<unset>".to_string(), |q| q.0.clone())
                    ),
                );
            } else {
                d.w(1, "<unknown>\n");
            }
        }
    }
    d.w(0, &format!("QoS Class:\t{}\n", qos_class(pod)));
    labels_multiline(&mut d, "Node-Selectors", spec.node_selector.as_ref());
    tolerations_multiline(
        &mut d,
        "Tolerations",
        spec.tolerations.as_deref().unwrap_or(&[]),
    );
    describe_events(&mut d, events, now);
    d.finish()
}

/// `kubectl describe service`: kubectl's describeService layout. `endpoints` are the service's ready
/// endpoints as `ip:port` (all ports); each port lists those whose port is its target.
pub fn describe_service(svc: &k8s_openapi::api::core::v1::Service, endpoints: &[String]) -> String {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let mut d = Doc::default();
    let spec = svc.spec.clone().unwrap_or_default();
    d.w(
        0,
        &format!("Name:\t{}\n", svc.metadata.name.as_deref().unwrap_or("")),
    );
    d.w(
        0,
        &format!(
            "Namespace:\t{}\n",
            svc.metadata.namespace.as_deref().unwrap_or("default")
        ),
    );
    labels_multiline(&mut d, "Labels", svc.metadata.labels.as_ref());
    annotations_multiline(&mut d, "Annotations", svc.metadata.annotations.as_ref());
    let selector = spec
        .selector
        .as_ref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_else(|| "<none>".to_string());
    d.w(0, &format!("Selector:\t{selector}\n"));
    let ty = spec.type_.clone().unwrap_or_else(|| "ClusterIP".into());
    d.w(0, &format!("Type:\t{ty}\n"));
    d.w(0, "IP Family Policy:\tSingleStack\n");
    d.w(0, "IP Families:\tIPv4\n");
    let ip = spec.cluster_ip.clone().unwrap_or_else(|| "<none>".into());
    d.w(0, &format!("IP:\t{ip}\n"));
    let ips = spec
        .cluster_ips
        .clone()
        .filter(|v| !v.is_empty())
        .map(|v| v.join(","))
        .unwrap_or_else(|| ip.clone());
    d.w(0, &format!("IPs:\t{ips}\n"));
    let ingress: Vec<String> = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| i.ip.filter(|s| !s.is_empty()).or(i.hostname))
        .collect();
    if !ingress.is_empty() {
        d.w(
            0,
            &format!("LoadBalancer Ingress:\t{}\n", ingress.join(", ")),
        );
    }
    for p in spec.ports.iter().flatten() {
        let name = p
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "<unset>".into());
        let proto = p.protocol.clone().unwrap_or_else(|| "TCP".into());
        d.w(0, &format!("Port:\t{name}\t{}/{proto}\n", p.port));
        let target = match &p.target_port {
            Some(IntOrString::Int(n)) => n.to_string(),
            Some(IntOrString::String(s)) => s.clone(),
            None => p.port.to_string(),
        };
        d.w(0, &format!("TargetPort:\t{target}/{proto}\n"));
        if let Some(np) = p.node_port.filter(|n| *n != 0) {
            d.w(0, &format!("NodePort:\t{name}\t{np}/{proto}\n"));
        }
        let mine: Vec<&str> = endpoints
            .iter()
            .filter(|e| match &p.target_port {
                Some(IntOrString::Int(n)) => e.ends_with(&format!(":{n}")),
                _ => true,
            })
            .map(String::as_str)
            .collect();
        let eps = if mine.is_empty() {
            "<none>".to_string()
        } else if mine.len() > 3 {
            format!("{} + {} more...", mine[..3].join(","), mine.len() - 3)
        } else {
            mine.join(",")
        };
        d.w(0, &format!("Endpoints:\t{eps}\n"));
    }
    d.w(
        0,
        &format!(
            "Session Affinity:\t{}\n",
            spec.session_affinity.as_deref().unwrap_or("None")
        ),
    );
    if let Some(etp) = &spec.external_traffic_policy {
        d.w(0, &format!("External Traffic Policy:\t{etp}\n"));
    }
    if let Some(hc) = spec.health_check_node_port.filter(|p| *p != 0) {
        d.w(0, &format!("HealthCheck NodePort:\t{hc}\n"));
    }
    if let Some(ranges) = spec
        .load_balancer_source_ranges
        .as_ref()
        .filter(|r| !r.is_empty())
    {
        d.w(
            0,
            &format!("LoadBalancer Source Ranges:\t{}\n", ranges.join(",")),
        );
    }
    d.w(0, "Events:\t<none>\n");
    d.finish()
}

/// `kubectl describe daemonset` (describeDaemonSet + DescribePodTemplate): counters from `status`, the
/// pod phases of `pods` (the DaemonSet's), the template's labels, containers, volumes, node selector and
/// tolerations. clusterctl records no DaemonSet events: `Events: <none>`.
pub fn describe_daemon_set(ds: &k8s_openapi::api::apps::v1::DaemonSet, pods: &[Pod]) -> String {
    let mut d = Doc::default();
    let spec = ds.spec.clone().unwrap_or_default();
    let st = ds.status.clone().unwrap_or_default();
    let template = &spec.template;
    let tspec = template.spec.clone().unwrap_or_default();
    let selector = super::table::format_selector(Some(&spec.selector));
    let node_selector = super::table::node_selector(template);
    d.w(
        0,
        &format!("Name:\t{}\n", ds.metadata.name.clone().unwrap_or_default()),
    );
    d.w(0, &format!("Selector:\t{selector}\n"));
    d.w(0, &format!("Node-Selector:\t{node_selector}\n"));
    labels_multiline(&mut d, "Labels", ds.metadata.labels.as_ref());
    annotations_multiline(&mut d, "Annotations", ds.metadata.annotations.as_ref());
    for (title, n) in [
        (
            "Desired Number of Nodes Scheduled",
            st.desired_number_scheduled,
        ),
        (
            "Current Number of Nodes Scheduled",
            st.current_number_scheduled,
        ),
        (
            "Number of Nodes Scheduled with Up-to-date Pods",
            st.updated_number_scheduled.unwrap_or(0),
        ),
        (
            "Number of Nodes Scheduled with Available Pods",
            st.number_available.unwrap_or(0),
        ),
        ("Number of Nodes Misscheduled", st.number_misscheduled),
    ] {
        d.w(0, &format!("{title}: {n}\n"));
    }
    let phase = |want: &str| {
        pods.iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(want))
            .count()
    };
    d.w(
        0,
        &format!(
            "Pods Status:\t{} Running / {} Waiting / {} Succeeded / {} Failed\n",
            phase("Running"),
            phase("Pending"),
            phase("Succeeded"),
            phase("Failed")
        ),
    );
    d.w(0, "Pod Template:\n");
    let tmeta = template.metadata.clone().unwrap_or_default();
    labels_multiline(&mut d, "  Labels", tmeta.labels.as_ref());
    if tmeta.annotations.as_ref().is_some_and(|a| !a.is_empty()) {
        annotations_multiline(&mut d, "  Annotations", tmeta.annotations.as_ref());
    }
    if let Some(sa) = tspec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        d.w(0, &format!("  Service Account:\t{sa}\n"));
    }
    for (title, list) in [
        (
            "Init Containers",
            tspec.init_containers.clone().unwrap_or_default(),
        ),
        ("Containers", tspec.containers.clone()),
    ] {
        if list.is_empty() && title == "Init Containers" {
            continue;
        }
        d.w(0, &format!("  {title}:\n"));
        for c in &list {
            // A template's containers sit one space deeper than a pod's: `   name:` over `    Image:`.
            let mut one = Doc::default();
            describe_container(&mut one, c, None);
            d.pending.push(' ');
            d.pending.push_str(&one.pending);
        }
    }
    let volumes = tspec.volumes.clone().unwrap_or_default();
    if volumes.is_empty() {
        d.w(0, "  Volumes:\t<none>\n");
    } else {
        d.w(0, "  Volumes:\n");
        for v in &volumes {
            d.w(0, &format!("   {}:\n", v.name));
        }
    }
    d.w(
        0,
        &format!(
            "  Node-Selectors:\t{}\n",
            node_selector.replace(',', "\n\t")
        ),
    );
    tolerations_multiline(
        &mut d,
        "  Tolerations",
        tspec.tolerations.as_deref().unwrap_or(&[]),
    );
    d.w(0, "Events:\t<none>\n");
    d.finish()
}
