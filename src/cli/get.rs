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
    /// What to list (or their short names: po, deploy, rs, ds, no, svc, ev, cm, sts, pvc, pv, sc), or a
    /// comma list of them (`cm,secret`).
    #[arg(value_parser = ResourcesParser, value_name = "RESOURCE[,RESOURCE...]")]
    pub resource: Resources,
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
    let resources = &args.resource.0;
    if resources.contains(&Resource::Events) {
        if resources.len() > 1 {
            return Err(CliError::Usage(
                "events cannot be listed together with other resources".into(),
            ));
        }
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
    // Several kinds at once (`get cm,secret`): as kubectl, one table per kind, names as `kind/name`.
    let multi = resources.len() > 1;
    let mut lists = Vec::new();
    for &r in resources {
        lists.push(list(r, &w, g, name, &scope, wide, multi)?);
    }
    let count: usize = lists.iter().map(|l| l.count).sum();
    if let (Some(n), 0) = (name, count) {
        return Err(CliError::Reported(format!(
            "{} \"{n}\" not found",
            resources[0].plural()
        )));
    }
    let out = match g.output {
        Format::Json | Format::Yaml => {
            let values: Vec<serde_json::Value> = lists.into_iter().flat_map(|l| l.values).collect();
            let by_name = name.is_some() && !multi;
            let text = if g.output == Format::Json {
                objects::to_json(&values, by_name)
            } else {
                objects::to_yaml(&values, by_name)
            };
            Rendered::Table(text.map_err(|e| CliError::Other(e.into()))?)
        }
        // `-o markdown` is refused for get before anything is read (`cli::accepts`).
        Format::Table | Format::Wide | Format::Markdown => {
            let tables: Vec<String> = lists
                .into_iter()
                .filter_map(|l| match l.table {
                    Rendered::Table(t) => Some(t),
                    Rendered::Empty(_) => None,
                })
                .collect();
            if tables.is_empty() {
                Rendered::Empty(scope.empty_message())
            } else {
                Rendered::Table(tables.join("\n"))
            }
        }
    };
    match out {
        Rendered::Table(t) => ui.out(&t),
        Rendered::Empty(msg) => ui.info(&msg),
    }
    Ok(ExitCode::Ok)
}

/// One kind's objects: how many, their table, their JSON values.
struct Listed {
    count: usize,
    table: Rendered,
    values: Vec<serde_json::Value>,
}

/// The objects of `resource`, filtered by name, namespace and selector. With `prefixed` (several kinds
/// listed), the table names them `kind/name` as kubectl does; the JSON/YAML values keep their names.
fn list(
    resource: Resource,
    w: &World,
    g: &Global,
    name: Option<&str>,
    scope: &Scope,
    wide: bool,
    prefixed: bool,
) -> Result<Listed, CliError> {
    let p = prefixed.then(|| singular_of(resource));
    let now = w.now;
    match resource {
        Resource::Pods => listed(
            filter(w.pods.clone(), g, name, |p| &p.metadata, true)?,
            p,
            |o| &mut o.metadata,
            |i| table::pods(i, scope, wide, now),
        ),
        Resource::Deployments => listed(
            filter(w.deployments.clone(), g, name, |d| &d.metadata, true)?,
            p,
            |o| &mut o.metadata,
            |i| table::deployments(i, scope, wide, now),
        ),
        Resource::Replicasets => listed(
            filter(w.replica_sets.clone(), g, name, |r| &r.metadata, true)?,
            p,
            |o| &mut o.metadata,
            |i| table::replica_sets(i, scope, wide, now),
        ),
        Resource::Daemonsets => listed(
            filter(w.daemon_sets.clone(), g, name, |d| &d.metadata, true)?,
            p,
            |o| &mut o.metadata,
            |i| table::daemon_sets(i, scope, wide, now),
        ),
        Resource::Jobs => listed(
            filter(w.jobs.clone(), g, name, |j| &j.metadata, true)?,
            p,
            |o| &mut o.metadata,
            |i| table::jobs(i, scope, wide, now),
        ),
        Resource::Nodes => listed(
            filter(w.nodes.clone(), g, name, |n| &n.metadata, false)?,
            p,
            |o| &mut o.metadata,
            |i| table::nodes(i, wide, now),
        ),
        Resource::Services => listed(
            filter(w.services.clone(), g, name, |s| &s.metadata, true)?,
            p,
            |o| &mut o.metadata,
            |i| table::services(i, scope, wide, now),
        ),
        Resource::Events => unreachable!("events are listed by `events::run`"),
        Resource::Configmaps => listed(
            filter(w.config_maps.clone(), g, name, |c| &c.metadata, true)?,
            p,
            |o| &mut o.metadata,
            |i| crate::output::config::config_maps(i, scope, now),
        ),
        // Values never leave clusterctl: the JSON/YAML form has no `data`; the table counts the keys.
        Resource::Secrets => {
            let items = filter(w.secrets.clone(), g, name, |s| &s.metadata, true)?;
            let values = items
                .iter()
                .map(|s| serde_json::to_value(crate::output::config::redacted(s)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| CliError::Other(e.into()))?;
            let mut l = listed(
                items,
                p,
                |o| &mut o.metadata,
                |i| crate::output::config::secrets(i, scope, now),
            )?;
            l.values = values;
            Ok(l)
        }
        Resource::Statefulsets => listed(
            filter(w.stateful_sets.clone(), g, name, |s| &s.metadata, true)?,
            p,
            |o| &mut o.metadata,
            |i| crate::output::storage::stateful_sets(i, scope, wide, now),
        ),
        Resource::Persistentvolumeclaims => listed(
            filter(w.claims.clone(), g, name, |c| &c.metadata, true)?,
            p,
            |o| &mut o.metadata,
            |i| crate::output::storage::claims(i, scope, wide, now),
        ),
        Resource::Persistentvolumes => listed(
            filter(w.volumes.clone(), g, name, |v| &v.metadata, false)?,
            p,
            |o| &mut o.metadata,
            |i| crate::output::storage::volumes(i, wide, now),
        ),
        Resource::Storageclasses => listed(
            filter(w.classes.clone(), g, name, |c| &c.metadata, false)?,
            p,
            |o| &mut o.metadata,
            |i| crate::output::storage::classes(i, now),
        ),
    }
}

fn listed<T: serde::Serialize>(
    mut items: Vec<T>,
    prefix: Option<&str>,
    meta: impl Fn(&mut T) -> &mut ObjectMeta,
    table: impl FnOnce(&[T]) -> Rendered,
) -> Result<Listed, CliError> {
    let values = items
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CliError::Other(e.into()))?;
    if let Some(p) = prefix {
        for item in &mut items {
            let m = meta(item);
            m.name = Some(format!("{p}/{}", m.name.as_deref().unwrap_or_default()));
        }
    }
    Ok(Listed {
        count: items.len(),
        table: table(&items),
        values,
    })
}

/// `get`'s first argument: one resource or a comma list (`cm,secret`), each by any of its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources(pub Vec<Resource>);

/// Parses [`Resources`] and still offers each resource to `--help` and shell completion.
#[derive(Clone)]
struct ResourcesParser;

impl clap::builder::TypedValueParser for ResourcesParser {
    type Value = Resources;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Resources, clap::Error> {
        let text = value
            .to_str()
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidUtf8).with_cmd(cmd))?;
        parse_resources(text).map_err(|m| {
            clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{m}\n")).with_cmd(cmd)
        })
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            Resource::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value),
        ))
    }
}

fn parse_resources(s: &str) -> Result<Resources, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let r = Resource::from_str(part, true).map_err(|_| {
            let names: Vec<String> = Resource::value_variants()
                .iter()
                .filter_map(|v| v.to_possible_value())
                .map(|v| v.get_name().to_string())
                .collect();
            format!(
                "the server doesn't have a resource type \"{part}\" (possible: {})",
                names.join(", ")
            )
        })?;
        // Listed once, in the order first named (kubectl too).
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(Resources(out))
}

/// kubectl's `kind/name` prefix when several kinds are listed.
fn singular_of(r: Resource) -> &'static str {
    match r {
        Resource::Pods => "pod",
        Resource::Deployments => "deployment.apps",
        Resource::Replicasets => "replicaset.apps",
        Resource::Daemonsets => "daemonset.apps",
        Resource::Jobs => "job.batch",
        Resource::Nodes => "node",
        Resource::Services => "service",
        Resource::Events => "event",
        Resource::Configmaps => "configmap",
        Resource::Secrets => "secret",
        Resource::Statefulsets => "statefulset.apps",
        Resource::Persistentvolumeclaims => "persistentvolumeclaim",
        Resource::Persistentvolumes => "persistentvolume",
        Resource::Storageclasses => "storageclass.storage.k8s.io",
    }
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
