//! `clusterctl get` and the object views it shares with `describe`: pods (observed + Pending), deployments,
//! replicasets, daemonsets, nodes, services — Kubernetes-shaped objects built from Git and the hosts.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{CliError, ExitCode, Format, Global, Ui, pipeline};
use crate::controllers::{PodNaming, PodSet};
use crate::inventory::Inventory;
use crate::model;
use crate::output::{Rendered, Scope, objects, table};
use crate::selector::Selector;
use crate::view;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Resource {
    #[value(alias = "pod", alias = "po")]
    Pods,
    #[value(alias = "deployment", alias = "deploy")]
    Deployments,
    #[value(alias = "replicaset", alias = "rs")]
    Replicasets,
    #[value(alias = "daemonset", alias = "ds")]
    Daemonsets,
    #[value(alias = "job")]
    Jobs,
    #[value(alias = "node", alias = "no")]
    Nodes,
    #[value(alias = "service", alias = "svc")]
    Services,
    #[value(alias = "event", alias = "ev")]
    Events,
    #[value(alias = "configmap", alias = "cm")]
    Configmaps,
    #[value(alias = "secret")]
    Secrets,
    #[value(alias = "statefulset", alias = "sts")]
    Statefulsets,
    #[value(alias = "persistentvolumeclaim", alias = "pvc")]
    Persistentvolumeclaims,
    #[value(alias = "persistentvolume", alias = "pv")]
    Persistentvolumes,
    #[value(alias = "storageclass", alias = "sc")]
    Storageclasses,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// What to list.
    #[arg(value_enum)]
    pub resource: Resource,
    /// Only this object.
    pub name: Option<String>,
    /// Read the hosts' state from a snapshot file instead of SSH.
    #[arg(long, value_name = "FILE")]
    pub observed: Option<PathBuf>,
    /// `get events` only: events about this object, e.g. pod/NAME.
    #[arg(long = "for", value_name = "KIND/NAME")]
    pub for_object: Option<String>,
}

/// Every object the views know about, already with status.
pub struct World {
    pub now: jiff::Timestamp,
    pub pods: Vec<Pod>,
    pub deployments: Vec<Deployment>,
    pub replica_sets: Vec<ReplicaSet>,
    pub daemon_sets: Vec<DaemonSet>,
    /// Jobs with status (those ttlSecondsAfterFinished removed are gone, as upstream deletes them).
    pub jobs: Vec<k8s_openapi::api::batch::v1::Job>,
    pub nodes: Vec<Node>,
    pub services: Vec<Service>,
    /// Scheduler messages of Pending pods, by (namespace, name).
    pub pending: BTreeMap<(String, String), String>,
    /// Endpoints (`ip:port`) of each service, by (namespace, name).
    pub endpoints: BTreeMap<(String, String), Vec<String>>,
    pub config_maps: Vec<k8s_openapi::api::core::v1::ConfigMap>,
    pub secrets: Vec<k8s_openapi::api::core::v1::Secret>,
    /// Events the node supervisors recorded, by pod (namespace, name); docs/node-supervisor.md.
    pub pod_events: BTreeMap<(String, String), Vec<model::RecordedEvent>>,
    pub stateful_sets: Vec<k8s_openapi::api::apps::v1::StatefulSet>,
    pub claims: Vec<k8s_openapi::api::core::v1::PersistentVolumeClaim>,
    pub volumes: Vec<k8s_openapi::api::core::v1::PersistentVolume>,
    pub classes: Vec<k8s_openapi::api::storage::v1::StorageClass>,
    /// Each Deployment's recorded revisions and failed rollout (`controllers::history`), by `namespace/name`.
    pub history: BTreeMap<String, model::DeploymentRecord>,
}

pub async fn world(
    g: &Global,
    observed_file: Option<&std::path::Path>,
    ui: &Ui,
) -> Result<World, CliError> {
    Ok(world_and_plan(g, observed_file, ui).await?.0)
}

/// What [`world`] was made from, for `status`: the desired state, the observation and the plan.
pub struct Basis {
    pub desired: pipeline::Desired,
    pub state: model::ObservedState,
    pub plan: crate::plan::Plan,
}

/// [`world`], and what it was made from.
pub async fn world_and_plan(
    g: &Global,
    observed_file: Option<&std::path::Path>,
    ui: &Ui,
) -> Result<(World, Basis), CliError> {
    let inv = pipeline::load_inventory(g)?;
    let desired = pipeline::load_desired(g, &inv, false, ui)?;
    let observed = pipeline::observe(&inv, observed_file, ui).await?;
    pipeline::warn_unreachable(&observed.state, ui);
    let (plan, binding) = pipeline::make_plan(&inv, &desired, &observed.state);
    let now = observed
        .state
        .observed_at
        .parse::<jiff::Timestamp>()
        .unwrap_or_else(|_| jiff::Timestamp::now());

    let observed_pods = model::observed_pods(&observed.state);
    let mut pod_events: BTreeMap<(String, String), Vec<model::RecordedEvent>> = observed_pods
        .iter()
        .map(|p| ((p.namespace.clone(), p.name.clone()), view::pod_events(p)))
        .filter(|(_, e)| !e.is_empty())
        .collect();
    // Pods a lost host's loss evicted are being deleted, as the taint manager deletes them: Terminating.
    let loss = pipeline::node_loss(&inv, &observed.state);
    let mut pods: Vec<Pod> = observed_pods
        .iter()
        .map(|p| {
            let mut pod = view::pod_from_observed(p);
            if let Some(lost) = loss.evicted(p) {
                view::mark_evicted(&mut pod, &lost.lost_at);
            }
            with_host_ip(pod, &inv)
        })
        .collect();
    let mut pending = BTreeMap::new();
    let all_sets = pipeline::with_job_sets(&desired, &observed.state);
    for p in &plan.pending {
        let set = all_sets.iter().find(|s| {
            s.namespace == p.namespace
                && match &s.naming {
                    PodNaming::Fixed(n) => n == &p.name,
                    PodNaming::Generated { prefix } => p.name.starts_with(prefix.as_str()),
                }
        });
        if let Some(set) = set {
            pods.push(view::pending_pod(&set.template, &p.name, &p.message()));
            pending.insert((p.namespace.clone(), p.name.clone()), p.message());
        }
    }
    // Pods whose image pull failed on their node: not on the host, but the host's pull record says why.
    for c in plan.changes.iter().filter(|c| {
        c.kind == crate::plan::ChangeKind::Pod && c.action == crate::plan::Action::Create
    }) {
        let Some(node) = observed.state.nodes.iter().find(|n| n.name == c.node) else {
            continue;
        };
        let images: Vec<&str> = c
            .steps
            .iter()
            .filter_map(crate::runtime::docker::pulled_image)
            .collect();
        let failures: Vec<model::PullFailure> = node
            .pull_failures
            .iter()
            .filter(|f| images.contains(&f.image.as_str()))
            .cloned()
            .collect();
        if failures.is_empty() {
            continue;
        }
        let set = all_sets.iter().find(|s| {
            s.namespace == c.namespace
                && match &s.naming {
                    PodNaming::Fixed(n) => n == &c.name,
                    PodNaming::Generated { prefix } => c.name.starts_with(prefix.as_str()),
                }
        });
        if let Some(set) = set {
            let pod = view::image_pull_pod(&set.template, &c.name, &c.node, &failures);
            pods.push(with_host_ip(pod, &inv));
            pod_events.insert(
                (c.namespace.clone(), c.name.clone()),
                failures.iter().flat_map(view::image_pull_events).collect(),
            );
        }
    }
    pods.sort_by_key(|p| key(&p.metadata));
    let history = observed
        .state
        .roster()
        .map(|r| r.deployments.clone())
        .unwrap_or_default();
    let mut replica_sets: Vec<ReplicaSet> = desired
        .expanded
        .replica_sets
        .iter()
        .map(|rs| view::replica_set_with_status(rs, &pods))
        .collect();
    // The recorded revisions: old ReplicaSets (DESIRED 0 once scaled down) and the current one's revision.
    replica_sets.extend(super::history_view::old_replica_sets(
        &desired.expanded.deployments,
        &replica_sets,
        &history,
        &pods,
    ));
    super::history_view::annotate_replica_sets(&mut replica_sets, &history);
    replica_sets.sort_by_key(|r| key(&r.metadata));
    let deployments: Vec<Deployment> = desired
        .expanded
        .deployments
        .iter()
        .map(|d| view::deployment_with_status(d, &desired.expanded.replica_sets, &pods))
        .map(|d| super::history_view::with_history(d, &history))
        .collect();
    let nodes = pipeline::nodes(&inv, &observed.state);
    let daemon_sets = desired
        .expanded
        .daemon_sets
        .iter()
        .map(|ds| daemon_set_view(ds, &desired.expanded.pod_sets, &nodes, &pods))
        .collect();
    let decisions = crate::controllers::job::decisions(&desired.expanded.jobs, &observed.state);
    let jobs = desired
        .expanded
        .jobs
        .iter()
        .filter_map(|d| {
            let k = (
                d.job.metadata.namespace.clone().unwrap_or_default(),
                d.job.metadata.name.clone().unwrap_or_default(),
            );
            view::job::job_with_status(d, decisions.get(&k)?)
        })
        .collect();
    let stateful_sets = desired
        .expanded
        .stateful_sets
        .iter()
        .map(|s| crate::output::storage::stateful_set_with_status(s, &pods))
        .collect();
    // The claims' volumes after this plan's provisioning are not there yet: what the hosts have.
    let claim_volumes = observed.state.claim_volumes();
    let storage = &desired.expanded.storage;
    let world = World {
        stateful_sets,
        claims: crate::output::storage::claims_with_status(storage, &claim_volumes),
        volumes: crate::output::storage::volumes_with_status(storage, &claim_volumes),
        classes: storage.classes.clone(),
        now,
        pods,
        deployments,
        replica_sets,
        daemon_sets,
        jobs,
        nodes,
        // With their allocated ClusterIPs and NodePorts, dated by the roster.
        services: with_creation_times(binding.services.services, &observed.state),
        pending,
        endpoints: binding.services.endpoints,
        config_maps: desired.expanded.config_maps.clone(),
        secrets: desired.expanded.secrets.clone(),
        pod_events,
        history,
    };
    Ok((
        world,
        Basis {
            desired,
            state: observed.state,
            plan,
        },
    ))
}

/// A DaemonSet with status: it should run on the nodes where its candidate pod fits
/// (`scheduler::daemon_fit`, the same rule the planner applies).
fn daemon_set_view(ds: &DaemonSet, sets: &[PodSet], nodes: &[Node], pods: &[Pod]) -> DaemonSet {
    let ns = ds.metadata.namespace.as_deref().unwrap_or("default");
    let name = ds.metadata.name.as_deref().unwrap_or_default();
    let mine: Vec<&PodSet> = sets
        .iter()
        .filter(|s| s.namespace == ns)
        .filter(|s| s.daemon.as_ref().is_some_and(|d| d.daemon_set == name))
        .collect();
    let should_run: Vec<String> = mine
        .iter()
        .filter_map(|s| s.daemon.as_ref())
        .filter(|d| {
            nodes
                .iter()
                .find(|n| n.metadata.name.as_deref() == Some(d.node.as_str()))
                .is_some_and(|n| crate::scheduler::daemon_fit(&d.unpinned, n).0)
        })
        .map(|d| d.node.clone())
        .collect();
    let revision = mine
        .first()
        .map(|s| s.template_hash.clone())
        .unwrap_or_default();
    view::daemon_set_with_status(ds, &should_run, &revision, pods)
}

/// Services get the time they were first applied (kept in the roster) as their creationTimestamp.
fn with_creation_times(
    mut services: Vec<Service>,
    state: &crate::model::ObservedState,
) -> Vec<Service> {
    let Some(roster) = state.roster() else {
        return services;
    };
    for s in &mut services {
        let key = format!(
            "{}/{}",
            s.metadata.namespace.as_deref().unwrap_or_default(),
            s.metadata.name.as_deref().unwrap_or_default()
        );
        if let Some(t) = roster
            .services
            .get(&key)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        {
            s.metadata.creation_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t));
        }
    }
    services
}

fn key(m: &ObjectMeta) -> (String, String) {
    (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
}

fn with_host_ip(mut pod: Pod, inv: &Inventory) -> Pod {
    let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
    if let Some(host) = node.and_then(|n| inv.hosts.iter().find(|h| h.name == n)) {
        pod.status.get_or_insert_with(Default::default).host_ip = Some(host.address.clone());
    }
    pod
}

/// Keeps objects in the namespace asked for (all with -A), matching the selector and name.
pub fn filter<T>(
    items: Vec<T>,
    g: &Global,
    name: Option<&str>,
    meta: impl Fn(&T) -> &ObjectMeta,
    namespaced: bool,
) -> Result<Vec<T>, CliError> {
    let selector = match &g.selector {
        Some(s) => Selector::parse(s).map_err(|e| CliError::Reported(e.to_string()))?,
        None => Selector::default(),
    };
    Ok(items
        .into_iter()
        .filter(|item| {
            let m = meta(item);
            let labels = m.labels.clone().unwrap_or_default();
            (!namespaced
                || g.all_namespaces
                || m.namespace.as_deref().unwrap_or("default") == g.namespace)
                && name.is_none_or(|n| m.name.as_deref() == Some(n))
                && selector.matches(&labels)
        })
        .collect())
}

pub async fn run(g: &Global, args: &GetArgs, ui: &Ui) -> Result<ExitCode, CliError> {
    if args.resource == Resource::Events {
        super::events::check(g, args.name.as_deref())?;
        if args.observed.is_some() {
            return Err(CliError::Usage(
                "events are read from the hosts; drop --observed".into(),
            ));
        }
        return super::events::run(g, args.for_object.as_deref(), ui).await;
    }
    if args.for_object.is_some() {
        return Err(CliError::Usage("--for applies to `get events` only".into()));
    }
    let w = world(g, args.observed.as_deref(), ui).await?;
    let wide = g.output == Format::Wide;
    let scope = if g.all_namespaces {
        Scope::AllNamespaces
    } else {
        Scope::Namespace(g.namespace.clone())
    };
    let name = args.name.as_deref();
    let (count, out) = match args.resource {
        Resource::Pods => show(
            filter(w.pods, g, name, |p| &p.metadata, true)?,
            g,
            name,
            |i| table::pods(i, &scope, wide, w.now),
        )?,
        Resource::Deployments => show(
            filter(w.deployments, g, name, |d| &d.metadata, true)?,
            g,
            name,
            |i| table::deployments(i, &scope, wide, w.now),
        )?,
        Resource::Replicasets => show(
            filter(w.replica_sets, g, name, |r| &r.metadata, true)?,
            g,
            name,
            |i| table::replica_sets(i, &scope, wide, w.now),
        )?,
        Resource::Daemonsets => show(
            filter(w.daemon_sets, g, name, |d| &d.metadata, true)?,
            g,
            name,
            |i| table::daemon_sets(i, &scope, wide, w.now),
        )?,
        Resource::Jobs => show(
            filter(w.jobs, g, name, |j| &j.metadata, true)?,
            g,
            name,
            |i| table::jobs(i, &scope, wide, w.now),
        )?,
        Resource::Nodes => show(
            filter(w.nodes, g, name, |n| &n.metadata, false)?,
            g,
            name,
            |i| table::nodes(i, wide, w.now),
        )?,
        Resource::Services => show(
            filter(w.services, g, name, |s| &s.metadata, true)?,
            g,
            name,
            |i| table::services(i, &scope, wide, w.now),
        )?,
        Resource::Events => unreachable!("handled above"),
        Resource::Configmaps => show(
            filter(w.config_maps, g, name, |c| &c.metadata, true)?,
            g,
            name,
            |i| crate::output::config::config_maps(i, &scope, w.now),
        )?,
        // Values never leave clusterctl: the JSON/YAML form has no `data`.
        Resource::Secrets => show(
            filter(w.secrets, g, name, |s| &s.metadata, true)?
                .iter()
                .map(crate::output::config::redacted)
                .collect(),
            g,
            name,
            |i| crate::output::config::secrets(i, &scope, w.now),
        )?,
        Resource::Statefulsets => show(
            filter(w.stateful_sets, g, name, |s| &s.metadata, true)?,
            g,
            name,
            |i| crate::output::storage::stateful_sets(i, &scope, wide, w.now),
        )?,
        Resource::Persistentvolumeclaims => show(
            filter(w.claims, g, name, |c| &c.metadata, true)?,
            g,
            name,
            |i| crate::output::storage::claims(i, &scope, wide, w.now),
        )?,
        Resource::Persistentvolumes => show(
            filter(w.volumes, g, name, |v| &v.metadata, false)?,
            g,
            name,
            |i| crate::output::storage::volumes(i, wide, w.now),
        )?,
        Resource::Storageclasses => show(
            filter(w.classes, g, name, |c| &c.metadata, false)?,
            g,
            name,
            |i| crate::output::storage::classes(i, w.now),
        )?,
    };
    if let (Some(n), 0) = (name, count) {
        return Err(CliError::Reported(format!(
            "{} \"{n}\" not found",
            args.resource.plural()
        )));
    }
    match out {
        Rendered::Table(t) => ui.out(&t),
        Rendered::Empty(msg) => ui.info(&msg),
    }
    Ok(ExitCode::Ok)
}

/// Renders `items` in the format asked for: kubectl's table, or Kubernetes objects as JSON/YAML.
fn show<T: serde::Serialize>(
    items: Vec<T>,
    g: &Global,
    name: Option<&str>,
    table: impl FnOnce(&[T]) -> Rendered,
) -> Result<(usize, Rendered), CliError> {
    let by_name = name.is_some();
    let text = match g.output {
        Format::Json => objects::to_json(&items, by_name),
        Format::Yaml => objects::to_yaml(&items, by_name),
        // `-o markdown` is refused for get before anything is read (`cli::accepts`).
        Format::Table | Format::Wide | Format::Markdown => return Ok((items.len(), table(&items))),
    };
    Ok((
        items.len(),
        Rendered::Table(text.map_err(|e| CliError::Other(e.into()))?),
    ))
}

impl Resource {
    /// kubectl's resource name in messages (`pods "x" not found`).
    fn plural(self) -> &'static str {
        match self {
            Resource::Pods => "pods",
            Resource::Deployments => "deployments.apps",
            Resource::Replicasets => "replicasets.apps",
            Resource::Daemonsets => "daemonsets.apps",
            Resource::Jobs => "jobs.batch",
            Resource::Nodes => "nodes",
            Resource::Services => "services",
            Resource::Events => "events",
            Resource::Configmaps => "configmaps",
            Resource::Secrets => "secrets",
            Resource::Statefulsets => "statefulsets.apps",
            Resource::Persistentvolumeclaims => "persistentvolumeclaims",
            Resource::Persistentvolumes => "persistentvolumes",
            Resource::Storageclasses => "storageclasses.storage.k8s.io",
        }
    }
}
