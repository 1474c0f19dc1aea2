//! The stages every command shares, in order: inventory → Git source → manifests (validated before any
//! host is contacted) → controllers → observe (over SSH, or from a snapshot file) → plan.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use super::{CliError, Global, Ui, test_hook};
use crate::controllers::{self, Expanded};
use crate::inventory::{self, Inventory};
use crate::manifest;
use crate::model::ObservedState;
use crate::network::HostNet;
use crate::observe;
use crate::plan::{self, Binding, NetworkInput, Plan, PlanInput};
use crate::runtime::{self, Runtime};
use crate::source::{self, SourceTree};
use crate::transport::Transport;
use crate::transport::ssh::SshConnector;
use crate::yaml::{Diagnostic, Severity};

/// What Git wants, validated and expanded.
pub struct Desired {
    pub source: SourceTree,
    pub expanded: Expanded,
}

/// What the hosts run, plus live connections to the reachable ones (none when read from a snapshot).
pub struct Observed {
    pub state: ObservedState,
    pub transports: BTreeMap<String, Arc<dyn Transport>>,
}

pub fn load_inventory(g: &Global) -> Result<Inventory, CliError> {
    inventory::load(&g.cluster).map_err(|e| CliError::Invalid(format!("{e}")))
}

/// Reads and validates the manifests. Prints every diagnostic; fails on errors (and warnings with `strict`).
pub fn load_desired(
    g: &Global,
    inv: &Inventory,
    strict: bool,
    ui: &Ui,
) -> Result<Desired, CliError> {
    let source = source::load(
        &g.repo,
        &g.git_ref,
        &inv.cluster.apps_dir,
        &g.source_options(),
    )
    .map_err(|e| CliError::Invalid(e.to_string()))?;
    tracing::debug!(commit = %source.commit, files = source.files.len(), "read the manifests");
    note_source(&source, &inv.cluster.apps_dir, ui);
    let mut parsed = manifest::parse_with(
        &source.files,
        &manifest::Options {
            node_port_range: inv.cluster.node_port_range,
            service_cidr: inv.cluster.service_cidr.clone(),
            sops: super::sops_keys::load(),
        },
    );
    // What the source did not read (symlinks, submodules, files over a limit) is reported with the rest.
    parsed.diagnostics.extend(
        source
            .skipped
            .iter()
            .map(crate::source::Skipped::diagnostic),
    );
    parsed.diagnostics.sort_by(|a, b| a.source.cmp(&b.source));
    report_diagnostics(&parsed.diagnostics, strict, ui)?;
    let nodes: Vec<String> = inv.hosts.iter().map(|h| h.name.clone()).collect();
    let mut expanded = controllers::expand_on(&parsed.manifests, &nodes);
    add_system_pods(inv, &mut expanded);
    Ok(Desired { source, expanded })
}

/// What every cluster runs besides the repository's objects, for `apply` and `reconcile` alike (a round
/// without them would delete them): every host's node supervisor (docs/node-supervisor.md), planned like
/// any pod, and the cluster DNS (docs/dns.md), a DNS pod per host behind the kube-dns Service.
pub fn add_system_pods(inv: &Inventory, expanded: &mut Expanded) {
    let nodes: Vec<String> = inv.hosts.iter().map(|h| h.name.clone()).collect();
    expanded
        .pod_sets
        .extend(controllers::node_supervisor::pod_sets(
            &inv.cluster.node_supervisor_image,
            &nodes,
            inv.cluster.node_lost_grace_period,
        ));
    if let Some(ip) = cluster_dns_ip(inv) {
        expanded.pod_sets.extend(controllers::cluster_dns::pod_sets(
            &inv.cluster.dns_image,
            &nodes,
        ));
        expanded
            .services
            .push(controllers::cluster_dns::service(ip));
    }
}

/// What the source did beyond reading a local commit: which remote, who signed, an allowed empty commit.
fn note_source(source: &SourceTree, apps_dir: &str, ui: &Ui) {
    if let Some(url) = &source.remote {
        ui.info(&format!("Fetched {url}: commit {}", source.short));
    }
    if let Some(who) = &source.signer {
        ui.info(&format!("Commit {} is signed by {who}", source.short));
    }
    if source.missing_dir {
        ui.warn(&format!(
            "commit {} has no directory '{apps_dir}' and --allow-empty is set: it holds no apps, so every managed pod and Service is removed",
            source.short
        ));
    }
}

/// The cluster DNS address when the cluster has a DNS (`cluster.dnsImage` set): `cluster.clusterDNS`, or
/// the tenth address of the service CIDR.
pub fn cluster_dns_ip(inv: &Inventory) -> Option<std::net::Ipv4Addr> {
    if inv.cluster.dns_image.is_empty() {
        return None;
    }
    match inv.cluster.cluster_dns.parse() {
        Ok(ip) => Some(ip),
        Err(_) => crate::dns::default_cluster_dns(&inv.cluster.service_cidr),
    }
}

pub fn report_diagnostics(diags: &[Diagnostic], strict: bool, ui: &Ui) -> Result<(), CliError> {
    let mut errors = 0;
    for d in diags {
        let fatal = d.severity == Severity::Error || strict;
        if fatal {
            errors += 1;
            ui.error(&d.to_string());
        } else {
            ui.warn(&d.to_string());
        }
    }
    if errors > 0 {
        return Err(CliError::Invalid(format!(
            "{errors} problem(s) in the manifests; no host was contacted"
        )));
    }
    Ok(())
}

/// The command builder of every host whose runtime clusterctl supports.
pub fn runtimes(inv: &Inventory) -> BTreeMap<String, Arc<dyn Runtime>> {
    inv.hosts
        .iter()
        .filter_map(|h| {
            runtime::runtime_for(h.runtime)
                .ok()
                .map(|r| (h.name.clone(), r))
        })
        .collect()
}

/// Observes every host over SSH, or reads a snapshot when `observed_file` is given (then no SSH at all).
pub async fn observe(
    inv: &Inventory,
    observed_file: Option<&Path>,
    ui: &Ui,
) -> Result<Observed, CliError> {
    if let Some(path) = observed_file {
        let state = observe::load_snapshot(path).map_err(|e| CliError::Invalid(e.to_string()))?;
        return Ok(Observed {
            state,
            transports: BTreeMap::new(),
        });
    }
    let cluster = match test_hook::connector().map_err(CliError::Usage)? {
        Some((file, fake)) => {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                ui.warn(&format!(
                    "{}={} is set: canned host answers, no host is contacted (a test hook, never for real use)",
                    test_hook::ENV,
                    file.display()
                ))
            });
            observe::observe(inv, &fake, runtime::runtime_for).await
        }
        None => {
            let connector = SshConnector::new()
                .map_err(|e| CliError::Other(anyhow::anyhow!("cannot prepare SSH: {e}")))?;
            observe::observe(inv, &connector, runtime::runtime_for).await
        }
    };
    Ok(Observed {
        state: cluster.state,
        transports: cluster.transports,
    })
}

pub fn nodes(inv: &Inventory, observed: &ObservedState) -> Vec<Node> {
    crate::nodes::node_objects(inv, observed)
}

pub fn make_plan(inv: &Inventory, desired: &Desired, observed: &ObservedState) -> (Plan, Binding) {
    let nodes = nodes(inv, observed);
    let runtimes = runtimes(inv);
    let hosts = inv
        .hosts
        .iter()
        .filter_map(|h| {
            let node = nodes
                .iter()
                .find(|n| n.metadata.name.as_deref() == Some(h.name.as_str()))?;
            Some(HostNet {
                name: h.name.clone(),
                address: h.address.clone(),
                pod_cidr: node.spec.as_ref()?.pod_cidr.clone()?,
            })
        })
        .collect();
    let network = NetworkInput {
        hosts,
        cluster_cidr: &inv.cluster.pod_cidr,
        service_cidr: &inv.cluster.service_cidr,
        node_port_range: inv.cluster.node_port_range,
        services: &desired.expanded.services,
    };
    // Jobs' pod sets depend on what their pods did: made against this observation.
    let pod_sets = with_job_sets(desired, observed);
    let config = plan::ConfigStore::new(&desired.expanded.config_maps, &desired.expanded.secrets);
    let loss = node_loss(inv, observed);
    plan::compute_with_binding(&PlanInput {
        commit: &desired.source.commit,
        pod_sets: &pod_sets,
        observed,
        nodes: &nodes,
        runtimes: &runtimes,
        network: Some(&network),
        config: Some(&config),
        node_loss: Some(&loss),
        storage: Some(&desired.expanded.storage),
    })
}

/// The desired pod sets plus every Job's pod sets for this observation (`controllers::job::pod_sets`).
pub fn with_job_sets<'a>(
    desired: &'a Desired,
    observed: &ObservedState,
) -> std::borrow::Cow<'a, [controllers::PodSet]> {
    if desired.expanded.jobs.is_empty() {
        return std::borrow::Cow::Borrowed(&desired.expanded.pod_sets);
    }
    let mut sets = desired.expanded.pod_sets.clone();
    sets.extend(controllers::job::pod_sets(&desired.expanded.jobs, observed));
    std::borrow::Cow::Owned(sets)
}

/// A Job whose template differs from the run its pods on the hosts belong to: the template is immutable
/// (the API server's `field is immutable`). Reported like a manifest error; nothing is applied.
pub fn check_jobs(desired: &Desired, observed: &ObservedState, ui: &Ui) -> Result<(), CliError> {
    let diags = controllers::job::immutability_errors(&desired.expanded.jobs, observed);
    for d in &diags {
        ui.error(&d.to_string());
    }
    if diags.is_empty() {
        return Ok(());
    }
    Err(CliError::Invalid(format!(
        "{} Job(s) changed an immutable field; nothing was changed on the hosts",
        diags.len()
    )))
}

/// Every Deployment's rollout state against `observed` (see `plan::rollout`).
pub fn rollouts(
    inv: &Inventory,
    desired: &Desired,
    observed: &ObservedState,
) -> Vec<plan::rollout::Rollout> {
    let nodes = nodes(inv, observed);
    let runtimes = runtimes(inv);
    plan::rollout::rollouts(&PlanInput {
        commit: &desired.source.commit,
        pod_sets: &desired.expanded.pod_sets,
        observed,
        nodes: &nodes,
        runtimes: &runtimes,
        network: None,
        config: None,
        node_loss: None,
        storage: Some(&desired.expanded.storage),
    })
}

/// The roster to write after `plan` is carried out: pods after the plan, and this observation's memory of
/// each host's reachability.
pub fn roster_after(
    desired: &Desired,
    state: &ObservedState,
    plan: &Plan,
    binding: &Binding,
    loss: &plan::NodeLoss,
) -> crate::model::Roster {
    let now = format!("{:.3}", jiff::Timestamp::now());
    let mut roster = plan::roster_after(state, plan, binding, &now);
    roster.hosts = loss.hosts.clone();
    roster.jobs = controllers::job::records(&desired.expanded.jobs, state);
    // Which ReplicaSets still have pods once the plan ran: those are never pruned from the history.
    let live = roster
        .pods
        .iter()
        .filter_map(|p| {
            let o = p.owner.as_ref().filter(|o| o.kind == "ReplicaSet")?;
            Some((p.namespace.clone(), o.name.clone()))
        })
        .collect();
    let previous = state
        .roster()
        .map(|r| r.deployments.clone())
        .unwrap_or_default();
    roster.deployments = controllers::history::records(
        &previous,
        &desired.expanded.pod_sets,
        &desired.source.commit,
        &live,
        &now,
    );
    roster
}

/// Which hosts are lost (unreachable for longer than `cluster.nodeLostGracePeriod`) in this observation,
/// and the reachability memory the roster keeps (docs/reconcile.md, "Node loss").
pub fn node_loss(inv: &Inventory, observed: &ObservedState) -> plan::NodeLoss {
    plan::node_loss::assess(observed, inv.cluster.node_lost_grace_period)
}

pub fn warn_dirty(desired: &Desired, ui: &Ui) {
    if !desired.source.dirty.is_empty() {
        ui.warn(&format!(
            "uncommitted changes are not deployed (commit them first): {}",
            desired.source.dirty.join(", ")
        ));
    }
}

pub fn warn_unreachable(state: &ObservedState, ui: &Ui) {
    for n in state.nodes.iter().filter(|n| !n.reachable) {
        let why = n.error.as_deref().unwrap_or("no answer");
        // The transport's message may already name the host.
        let why = why.strip_prefix(&format!("{}: ", n.name)).unwrap_or(why);
        ui.warn(&format!(
            "node {} is unreachable: {why}\n  It shows NotReady and its pods Unknown; clusterctl leaves them alone.",
            n.name
        ));
    }
}

/// The hosts that could not be observed (unreachable, refused, runtime down), with why.
pub fn unreached(state: &ObservedState) -> Vec<(String, String)> {
    state
        .nodes
        .iter()
        .filter(|n| !n.reachable)
        .map(|n| {
            let why = n.error.as_deref().unwrap_or("no answer");
            let why = why.strip_prefix(&format!("{}: ", n.name)).unwrap_or(why);
            (n.name.clone(), why.lines().next().unwrap_or("").to_string())
        })
        .collect()
}

/// The error that ends `plan`/`apply` when hosts were not observed and a partial cluster was not accepted.
pub fn hosts_failed(unreached: &[(String, String)]) -> CliError {
    let names: Vec<&str> = unreached.iter().map(|(h, _)| h.as_str()).collect();
    CliError::HostsFailed(format!(
        "{} host(s) could not be observed: {}; their pods were left alone (--allow-unreachable accepts a partial cluster)",
        names.len(),
        names.join(", ")
    ))
}
