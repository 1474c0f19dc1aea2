//! `clusterctl status`: every app (Deployment, DaemonSet, StatefulSet, Job, Service, bare Pod) with its sync
//! status and health, as Argo CD's app list shows them. **Sync** compares Git with the hosts through the
//! plan: an app is `OutOfSync` when the plan holds a change of it (its drift details are that change's
//! words), `Synced` otherwise; apps the hosts run but Git no longer has are `OutOfSync` too (the next apply
//! removes them). **Health** is from the objects' status: `Healthy`, `Progressing` (pods starting, a rollout
//! under way, a Job running), `Degraded` (crash loops, failed pulls, Pending pods, a failed Job) or
//! `Missing` (nothing runs yet). DEPLOYED is the commit label (`clusterctl.io/commit`) of the app's
//! containers; TARGET the commit at `--ref`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::get::{Basis, World};
use super::{CliError, ExitCode, Format, Global, Ui};
use crate::model::{self, labels};
use crate::plan::{ChangeKind, Plan, Reason};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Exit 2 when an app is OutOfSync, 7 when all are Synced but one is not Healthy (see `clusterctl --help`).
    #[arg(long)]
    pub exit_code: bool,
    /// Read the hosts' state from a snapshot file instead of SSH.
    #[arg(long, value_name = "FILE")]
    pub observed: Option<PathBuf>,
}

/// An app: `(kind, namespace, name)`.
type AppKey = (String, String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Sync {
    Synced,
    OutOfSync,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Health {
    Healthy,
    Progressing,
    Degraded,
    Missing,
}

/// One row of the status table (and one object of `-o json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub sync: Sync,
    pub health: Health,
    /// Commits (short) the app's containers were created from, sorted; empty for none.
    pub deployed: Vec<String>,
    pub target: String,
    /// Why it is not Healthy, in one line.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The plan's changes of this app, one line each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<String>,
}

/// The app a pod belongs to, from its owner (`clusterctl.io/owner-*`): a ReplicaSet's Deployment is found
/// by the ReplicaSet name minus `-<pod-template-hash>`.
fn app_of_observed(p: &model::ObservedPod, deployments: &BTreeSet<(String, String)>) -> AppKey {
    let ns = p.namespace.clone();
    match &p.owner {
        Some(o) if o.kind == "ReplicaSet" => {
            let deploy = p
                .template_hash
                .as_deref()
                .and_then(|h| o.name.strip_suffix(&format!("-{h}")))
                .or_else(|| o.name.rsplit_once('-').map(|(d, _)| d))
                .map(str::to_string);
            match deploy {
                Some(d)
                    if deployments.contains(&(ns.clone(), d.clone())) || p.manifest.is_some() =>
                {
                    ("Deployment".into(), ns, d)
                }
                _ => ("ReplicaSet".into(), ns, o.name.clone()),
            }
        }
        Some(o) => (o.kind.clone(), ns, o.name.clone()),
        None => ("Pod".into(), ns, p.name.clone()),
    }
}

/// The app a create change is for, from its reason.
fn app_of_reason(ns: &str, pod: &str, r: &Reason) -> Option<AppKey> {
    let k = |kind: &str, name: &str| Some((kind.to_string(), ns.to_string(), name.to_string()));
    match r {
        Reason::DeploymentWants { deployment, .. } => k("Deployment", deployment),
        Reason::OwnerWants { kind, name, .. } => k(kind, name),
        Reason::PodDefined => k("Pod", pod),
        Reason::JobWants { job, .. } | Reason::JobRemoves { job, .. } => k("Job", job),
        Reason::StatefulSetWants { stateful_set, .. } => k("StatefulSet", stateful_set),
        _ => None,
    }
}

/// Whether a line of a service-rules change is about Service `ns/name` (kube-proxy's comments name it
/// `ns/name` or `ns/name:port`).
fn mentions_service(line: &str, ns: &str, name: &str) -> bool {
    let key = format!("{ns}/{name}");
    line.match_indices(&key).any(|(i, _)| {
        let before = line[..i].chars().last();
        let after = line[i + key.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '.' || c == '/')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '.' || c == '/')
    })
}

const BAD_POD_STATES: [&str; 9] = [
    "CrashLoopBackOff",
    "Error",
    "ErrImagePull",
    "ImagePullBackOff",
    "CreateContainerError",
    "CreateContainerConfigError",
    "OOMKilled",
    "Unknown",
    "Failed",
];

/// Computes every app's status. Pure: the world `get` shows, and what it was made from.
pub fn statuses(world: &World, basis: &Basis) -> (Vec<AppStatus>, Vec<String>) {
    let target = basis.desired.source.short.clone();
    let observed = model::observed_pods(&basis.state);
    let deployments: BTreeSet<(String, String)> =
        world.deployments.iter().map(|d| key(&d.metadata)).collect();
    let mut apps: BTreeMap<AppKey, AppStatus> = BTreeMap::new();
    let mut add =
        |kind: &str, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            let (ns, name) = key(meta);
            apps.insert(
                (kind.to_string(), ns.clone(), name.clone()),
                AppStatus {
                    kind: kind.into(),
                    namespace: ns,
                    name,
                    sync: Sync::Synced,
                    health: Health::Healthy,
                    deployed: Vec::new(),
                    target: target.clone(),
                    message: String::new(),
                    drift: Vec::new(),
                },
            );
        };
    for d in &world.deployments {
        add("Deployment", &d.metadata);
    }
    for d in &world.daemon_sets {
        add("DaemonSet", &d.metadata);
    }
    for s in &world.stateful_sets {
        add("StatefulSet", &s.metadata);
    }
    for j in &basis.desired.expanded.jobs {
        add("Job", &j.job.metadata);
    }
    for s in &world.services {
        add("Service", &s.metadata);
    }
    for set in &basis.desired.expanded.pod_sets {
        if set.owner.is_none() && set.namespace != "clusterctl-system" {
            let mut meta = set.template.metadata.clone();
            meta.name = Some(set.pod_name(0));
            meta.namespace = Some(set.namespace.clone());
            add("Pod", &meta);
        }
    }
    let desired_apps: BTreeSet<AppKey> = apps.keys().cloned().collect();

    // Pods per app, and the commits their containers carry.
    let mut pods_of: BTreeMap<AppKey, Vec<(String, String)>> = BTreeMap::new();
    let mut by_pod: BTreeMap<(String, String, String), AppKey> = BTreeMap::new();
    for p in &observed {
        if p.namespace == "clusterctl-system" {
            continue;
        }
        let app = app_of_observed(p, &deployments);
        by_pod.insert(
            (p.namespace.clone(), p.name.clone(), p.node.clone()),
            app.clone(),
        );
        pods_of
            .entry(app.clone())
            .or_default()
            .push((p.namespace.clone(), p.name.clone()));
        let entry = apps.entry(app.clone()).or_insert_with(|| AppStatus {
            kind: app.0.clone(),
            namespace: app.1.clone(),
            name: app.2.clone(),
            sync: Sync::OutOfSync,
            health: Health::Healthy,
            deployed: Vec::new(),
            target: target.clone(),
            message: String::new(),
            drift: Vec::new(),
        });
        for c in p.sandbox.iter().chain(p.containers.values()) {
            if let Some(commit) = c.label(labels::COMMIT) {
                let short: String = commit.chars().take(7).collect();
                if !entry.deployed.contains(&short) {
                    entry.deployed.push(short);
                }
            }
        }
    }
    for a in apps.values_mut() {
        a.deployed.sort();
    }

    // Sync: the plan's changes, attributed to their apps.
    let mut cluster = Vec::new();
    attribute(&basis.plan, &by_pod, &mut apps, &mut cluster);
    for (k, a) in apps.iter_mut() {
        if !desired_apps.contains(k) {
            a.sync = Sync::OutOfSync;
            if a.drift.is_empty() {
                a.drift.push("not in Git: the next apply removes it".into());
            }
        }
    }
    // Services: the commit of the last apply that wrote the rules (the roster's), when it knows the Service.
    if let Some(roster) = basis.state.roster() {
        for a in apps.values_mut().filter(|a| a.kind == "Service") {
            if roster
                .services
                .contains_key(&format!("{}/{}", a.namespace, a.name))
            {
                a.deployed = vec![roster.commit.chars().take(7).collect()];
            }
        }
    }
    health(world, &pods_of, &mut apps);
    (apps.into_values().collect(), cluster)
}

/// Marks the apps the plan changes OutOfSync, with a line per change; changes of no app (networks, rule
/// jumps, the node supervisor, volumes) go to `cluster`.
fn attribute(
    plan: &Plan,
    by_pod: &BTreeMap<(String, String, String), AppKey>,
    apps: &mut BTreeMap<AppKey, AppStatus>,
    cluster: &mut Vec<String>,
) {
    for c in &plan.changes {
        let line = format!(
            "{} {} on {}: {}",
            action_word(c.action),
            if c.name.is_empty() { "-" } else { &c.name },
            c.node,
            crate::output::plan::reason(&c.reason)
        );
        match c.kind {
            ChangeKind::Pod => {
                let app = by_pod
                    .get(&(c.namespace.clone(), c.name.clone(), c.node.clone()))
                    .cloned()
                    .or_else(|| app_of_reason(&c.namespace, &c.name, &c.reason));
                match app.and_then(|k| apps.get_mut(&k)) {
                    Some(a) => {
                        a.sync = Sync::OutOfSync;
                        a.drift.push(line);
                    }
                    None => cluster.push(line),
                }
            }
            ChangeKind::ServiceRules => {
                let lines: Vec<String> = c
                    .details
                    .iter()
                    .flat_map(crate::output::plan::detail_lines)
                    .collect();
                let mut any = false;
                for a in apps.values_mut().filter(|a| a.kind == "Service") {
                    let mine: Vec<&String> = lines
                        .iter()
                        .filter(|l| mentions_service(l, &a.namespace, &a.name))
                        .collect();
                    if !mine.is_empty() {
                        any = true;
                        a.sync = Sync::OutOfSync;
                        a.drift
                            .push(format!("service rules on {} differ: {}", c.node, mine[0]));
                    }
                }
                if !any {
                    cluster.push(line);
                }
            }
            ChangeKind::Network | ChangeKind::Volume => cluster.push(line),
        }
    }
}

fn action_word(a: crate::plan::Action) -> &'static str {
    use crate::plan::Action::*;
    match a {
        Create => "create",
        Start => "start",
        Replace => "replace",
        Delete => "delete",
        Update => "update",
    }
}

fn key(m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (String, String) {
    (
        m.namespace.clone().unwrap_or_else(|| "default".into()),
        m.name.clone().unwrap_or_default(),
    )
}

/// Health from the objects' status and their pods' STATUS words.
fn health(
    world: &World,
    pods_of: &BTreeMap<AppKey, Vec<(String, String)>>,
    apps: &mut BTreeMap<AppKey, AppStatus>,
) {
    let pod_word: BTreeMap<(String, String), String> = world
        .pods
        .iter()
        .map(|p| {
            (
                key(&p.metadata),
                crate::view::pod_cells(p, world.now).status,
            )
        })
        .collect();
    for (k, a) in apps.iter_mut() {
        let mine = pods_of.get(k).cloned().unwrap_or_default();
        let bad: Vec<String> = mine
            .iter()
            .filter_map(|p| {
                pod_word
                    .get(p)
                    .filter(|w| BAD_POD_STATES.contains(&w.as_str()))
                    .map(|w| format!("pod {} is {w}", p.1))
            })
            .collect();
        let pending: Vec<String> = world
            .pending
            .iter()
            .filter(|((ns, name), _)| ns == &a.namespace && pod_belongs(name, &a.kind, &a.name))
            .map(|((_, name), msg)| format!("pod {name} is Pending: {msg}"))
            .collect();
        let (want, ready, progressing) = match a.kind.as_str() {
            "Deployment" => world
                .deployments
                .iter()
                .find(|d| key(&d.metadata) == (a.namespace.clone(), a.name.clone()))
                .map(|d| {
                    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    let s = d.status.clone().unwrap_or_default();
                    let updated = s.updated_replicas.unwrap_or(0);
                    let avail = s.available_replicas.unwrap_or(0);
                    let total = s.replicas.unwrap_or(0);
                    (want, avail, updated < want || total > want || avail < want)
                })
                .unwrap_or((0, 0, false)),
            "DaemonSet" => world
                .daemon_sets
                .iter()
                .find(|d| key(&d.metadata) == (a.namespace.clone(), a.name.clone()))
                .map(|d| {
                    let s = d.status.clone().unwrap_or_default();
                    let want = s.desired_number_scheduled;
                    let avail = s.number_available.unwrap_or(0);
                    let updated = s.updated_number_scheduled.unwrap_or(0);
                    (want, avail, updated < want || avail < want)
                })
                .unwrap_or((0, 0, false)),
            "StatefulSet" => world
                .stateful_sets
                .iter()
                .find(|d| key(&d.metadata) == (a.namespace.clone(), a.name.clone()))
                .map(|d| {
                    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    let ready = d
                        .status
                        .as_ref()
                        .and_then(|s| s.ready_replicas)
                        .unwrap_or(0);
                    (want, ready, ready < want)
                })
                .unwrap_or((0, 0, false)),
            "Job" => {
                let job = world
                    .jobs
                    .iter()
                    .find(|j| key(&j.metadata) == (a.namespace.clone(), a.name.clone()));
                match job.map(crate::view::job::job_status_word) {
                    Some("Failed") => {
                        a.health = Health::Degraded;
                        a.message = "the Job failed".into();
                        continue;
                    }
                    Some("Complete") => (1, 1, false),
                    Some(_) => (1, 0, true),
                    None => (1, 1, false),
                }
            }
            "Pod" => {
                let ready = mine
                    .iter()
                    .filter(|p| {
                        world.pods.iter().any(|w| {
                            key(&w.metadata) == **p && crate::view::is_pod_ready(w)
                                || key(&w.metadata) == **p
                                    && pod_word.get(*p).is_some_and(|s| s == "Completed")
                        })
                    })
                    .count() as i32;
                (1, ready, ready < 1)
            }
            _ => (0, 0, false),
        };
        if !bad.is_empty() || !pending.is_empty() {
            a.health = Health::Degraded;
            a.message = bad
                .into_iter()
                .chain(pending)
                .collect::<Vec<_>>()
                .join("; ");
        } else if mine.is_empty() && want > 0 {
            a.health = Health::Missing;
            a.message = "no pod runs yet".into();
        } else if progressing {
            a.health = Health::Progressing;
            a.message = format!("{ready}/{want} ready");
        }
    }
}

/// Whether pod `name` is one of app `kind name`'s (by the names controllers give their pods).
fn pod_belongs(pod: &str, kind: &str, name: &str) -> bool {
    match kind {
        "Pod" => pod == name,
        "Deployment" | "DaemonSet" | "Job" | "ReplicaSet" => pod.starts_with(&format!("{name}-")),
        "StatefulSet" => pod
            .strip_prefix(&format!("{name}-"))
            .is_some_and(|o| o.parse::<u32>().is_ok()),
        _ => false,
    }
}

fn render(apps: &[AppStatus], cluster: &[String], all_namespaces: bool) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header: Vec<&str> = Vec::new();
    if all_namespaces {
        header.push("NAMESPACE");
    }
    header.extend([
        "KIND",
        "NAME",
        "SYNC STATUS",
        "HEALTH",
        "DEPLOYED",
        "TARGET",
        "MESSAGE",
    ]);
    rows.push(header.iter().map(|h| h.to_string()).collect());
    for a in apps {
        let mut r = Vec::new();
        if all_namespaces {
            r.push(a.namespace.clone());
        }
        r.extend([
            a.kind.clone(),
            a.name.clone(),
            format!("{:?}", a.sync),
            format!("{:?}", a.health),
            if a.deployed.is_empty() {
                "<none>".into()
            } else {
                a.deployed.join(",")
            },
            a.target.clone(),
            a.message.clone(),
        ]);
        rows.push(r);
    }
    let text: String = rows.iter().map(|r| r.join("\t") + "\n").collect();
    let mut out = crate::output::tabwriter::TABLE.format(&text);
    let drift: Vec<&AppStatus> = apps.iter().filter(|a| !a.drift.is_empty()).collect();
    if !drift.is_empty() || !cluster.is_empty() {
        out.push_str("\nDrift:\n");
        for a in drift {
            for d in &a.drift {
                out.push_str(&format!(
                    "  {}/{}: {d}\n",
                    a.kind.to_ascii_lowercase(),
                    a.name
                ));
            }
        }
        for d in cluster {
            out.push_str(&format!("  cluster: {d}\n"));
        }
    }
    out
}

pub async fn run(g: &Global, args: &StatusArgs, ui: &Ui) -> Result<ExitCode, CliError> {
    let (world, basis) = super::get::world_and_plan(g, args.observed.as_deref(), ui).await?;
    let (apps, cluster) = statuses(&world, &basis);
    let apps: Vec<AppStatus> = apps
        .into_iter()
        .filter(|a| g.all_namespaces || a.namespace == g.namespace)
        .collect();
    match g.output {
        Format::Json => {
            let value = serde_json::json!({
                "target": basis.desired.source.commit,
                "apps": apps,
                "clusterDrift": cluster,
            });
            ui.out(&serde_json::to_string_pretty(&value).map_err(anyhow::Error::from)?);
        }
        _ => ui.out(&render(&apps, &cluster, g.all_namespaces)),
    }
    let unreached = super::pipeline::unreached(&basis.state);
    if !unreached.is_empty() {
        super::pipeline::warn_unreachable(&basis.state, ui);
    }
    if !args.exit_code {
        return Ok(ExitCode::Ok);
    }
    if !cluster.is_empty() || apps.iter().any(|a| a.sync == Sync::OutOfSync) {
        return Ok(ExitCode::Changes);
    }
    if apps.iter().any(|a| a.health != Health::Healthy) {
        return Ok(ExitCode::Unhealthy);
    }
    Ok(ExitCode::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_mentions_are_whole_names() {
        assert!(mentions_service(
            "-A KUBE-SERVICES -m comment --comment \"default/web:http cluster IP\"",
            "default",
            "web"
        ));
        assert!(mentions_service("default/web", "default", "web"));
        assert!(!mentions_service("default/web2:http", "default", "web"));
        assert!(!mentions_service("xdefault/web", "default", "web"));
    }

    #[test]
    fn pods_belong_by_their_controllers_names() {
        assert!(pod_belongs("web-5b56ccd65f-4bqsx", "Deployment", "web"));
        assert!(!pod_belongs("webx-5b56ccd65f-4bqsx", "Deployment", "web"));
        assert!(pod_belongs("db-0", "StatefulSet", "db"));
        assert!(!pod_belongs("db-x", "StatefulSet", "db"));
        assert!(pod_belongs("sc", "Pod", "sc"));
    }

    #[test]
    fn a_replica_set_pod_belongs_to_its_deployment() {
        let p = model::ObservedPod {
            namespace: "default".into(),
            name: "web-abc12-xyz".into(),
            node: "n1".into(),
            node_reachable: true,
            sandbox: None,
            containers: BTreeMap::new(),
            owner: Some(model::OwnerRef {
                kind: "ReplicaSet".into(),
                name: "web-abc12".into(),
            }),
            template_hash: Some("abc12".into()),
            manifest: None,
        };
        let deps: BTreeSet<(String, String)> = [("default".to_string(), "web".to_string())].into();
        assert_eq!(
            app_of_observed(&p, &deps),
            ("Deployment".into(), "default".into(), "web".into())
        );
        assert_eq!(
            app_of_observed(&p, &BTreeSet::new()),
            ("ReplicaSet".into(), "default".into(), "web-abc12".into())
        );
    }
}
