//! `clusterctl create deployment|service`: kubectl's imperative `create`, GitOps-style — the object kubectl
//! would send is written as a manifest into the apps directory (and committed with `--commit`), or printed
//! with `--dry-run -o yaml` byte for byte as `kubectl create … --dry-run=client -o yaml` prints it. Contacts
//! no host. A name the apps directory already defines for that kind is refused as kubectl refuses it.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{CliError, ExitCode, Format, Global, Ui, pipeline};
use crate::manifest::create::{self as build, DeploymentSpec, ServiceSpec};
use crate::manifest::{self, RawFile};

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(subcommand)]
    pub what: What,
}

#[derive(Debug, Subcommand)]
pub enum What {
    /// A Deployment NAME running --image (as `kubectl create deployment`).
    #[command(
        visible_aliases = ["deploy"],
        after_help = "Examples:\n  clusterctl create deployment k8s-nginx --image=nginx -r 3\n  clusterctl create deployment web --image=nginx --port 80 --commit\n  clusterctl create deployment web --image=nginx --dry-run=client -o yaml"
    )]
    Deployment(DeploymentArgs),
    /// A Service of type clusterip or nodeport (as `kubectl create service`).
    #[command(visible_aliases = ["svc"])]
    Service(ServiceArgs),
}

#[derive(Debug, Args)]
pub struct Common {
    /// Print the object instead of writing it (only `client`: there is no API server).
    #[arg(long, value_name = "STRATEGY", num_args = 0..=1, default_missing_value = "client", value_parser = ["client"])]
    pub dry_run: Option<String>,
    /// Commit the new manifest to the repository (`git add FILE && git commit`).
    #[arg(long, conflicts_with = "dry_run")]
    pub commit: bool,
}

#[derive(Debug, Args)]
pub struct DeploymentArgs {
    pub name: String,
    /// Image to run; repeat for more containers.
    #[arg(long, required = true, value_name = "IMAGE")]
    pub image: Vec<String>,
    /// Number of replicas.
    #[arg(short = 'r', long, default_value_t = 1)]
    pub replicas: i32,
    /// The containerPort this container exposes.
    #[arg(long)]
    pub port: Option<i32>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub type_: ServiceType,
}

#[derive(Debug, Subcommand)]
pub enum ServiceType {
    /// A ClusterIP Service.
    #[command(
        after_help = "Examples:\n  clusterctl create service clusterip my-svc --tcp=5678:8080"
    )]
    Clusterip(ServiceTypeArgs),
    /// A NodePort Service.
    #[command(after_help = "Examples:\n  clusterctl create service nodeport my-svc --tcp=8080:80")]
    Nodeport(ServiceTypeArgs),
}

#[derive(Debug, Args)]
pub struct ServiceTypeArgs {
    pub name: String,
    /// Port pairs PORT[:TARGET]; repeat for more ports.
    #[arg(long, required = true, value_name = "PORT:TARGET")]
    pub tcp: Vec<String>,
    #[command(flatten)]
    pub common: Common,
}

/// The namespace to write: none for `default` (kubectl writes one only when asked).
fn namespace(g: &Global) -> Option<String> {
    (g.namespace != "default").then(|| g.namespace.clone())
}

pub fn run(g: &Global, args: &CreateArgs, ui: &Ui) -> Result<ExitCode, CliError> {
    let (kind, resource, value, common, name) = match &args.what {
        What::Deployment(d) => {
            let spec = DeploymentSpec {
                name: d.name.clone(),
                namespace: namespace(g),
                images: d.image.clone(),
                replicas: d.replicas,
                port: d.port,
            };
            let v = build::deployment(&spec).map_err(CliError::Usage)?;
            ("deployment", "deployments.apps", v, &d.common, &d.name)
        }
        What::Service(s) => {
            let (type_, a) = match &s.type_ {
                ServiceType::Clusterip(a) => ("ClusterIP", a),
                ServiceType::Nodeport(a) => ("NodePort", a),
            };
            let ports = a
                .tcp
                .iter()
                .map(|t| build::parse_tcp(t))
                .collect::<Result<Vec<_>, _>>()
                .map_err(CliError::Usage)?;
            let spec = ServiceSpec {
                name: a.name.clone(),
                namespace: namespace(g),
                type_: type_.into(),
                ports,
            };
            let v = build::service(&spec).map_err(CliError::Usage)?;
            ("service", "services", v, &a.common, &a.name)
        }
    };
    let yaml = crate::output::objects::to_yaml(&[&value], true).map_err(anyhow::Error::from)?;
    if common.dry_run.is_some() {
        if g.output == Format::Yaml {
            ui.out(&yaml);
        } else {
            let group = resource.split_once('.').map_or("", |(_, g)| g);
            let dot = if group.is_empty() { "" } else { "." };
            ui.out(&format!("{kind}{dot}{group}/{name} created (dry run)"));
        }
        return Ok(ExitCode::Ok);
    }

    let inv = pipeline::load_inventory(g)?;
    let apps = g.repo.join(&inv.cluster.apps_dir);
    let ns = namespace(g).unwrap_or_else(|| "default".into());
    let kind_title = value["kind"].as_str().unwrap_or_default();
    if let Some(at) = defined(&apps, &g.repo, kind_title, name, &ns)? {
        return Err(CliError::Reported(format!(
            "failed to create {kind}: {resource} {name:?} already exists ({at})"
        )));
    }
    let file_name = if ns == "default" {
        format!("{kind}-{name}.yaml")
    } else {
        format!("{ns}-{kind}-{name}.yaml")
    };
    let path = apps.join(&file_name);
    // The manifest passes clusterctl's own validation before it is written.
    let rel = format!("{}/{file_name}", inv.cluster.apps_dir.trim_end_matches('/'));
    let check = manifest::parse(&[RawFile {
        path: rel.clone(),
        bytes: yaml.clone().into_bytes(),
    }]);
    pipeline::report_diagnostics(&check.diagnostics, false, ui)?;
    std::fs::create_dir_all(&apps)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", apps.display()))?;
    std::fs::write(&path, &yaml)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    let group = resource.split_once('.').map_or("", |(_, g)| g);
    let dot = if group.is_empty() { "" } else { "." };
    if common.commit {
        let id = commit(
            &g.repo,
            Path::new(&rel),
            &format!("clusterctl create {kind} {name}"),
        )
        .map_err(|e| anyhow::anyhow!("wrote {}, but cannot commit it: {e}", path.display()))?;
        ui.out(&format!(
            "{kind}{dot}{group}/{name} created ({rel}, commit {id:.7})"
        ));
    } else {
        ui.out(&format!(
            "{kind}{dot}{group}/{name} created ({rel}; commit it to deploy)"
        ));
    }
    Ok(ExitCode::Ok)
}

/// Where the apps directory of the work tree already defines `kind` `namespace/name` (`file:line:col`).
fn defined(
    apps: &Path,
    repo: &Path,
    kind: &str,
    name: &str,
    namespace: &str,
) -> Result<Option<String>, CliError> {
    Ok(find(apps, repo, kind, name, namespace)?.map(|s| s.to_string()))
}

/// The source (file relative to `repo`, line, column) of `kind` `namespace/name` in the work tree's apps
/// directory (`rollout restart` edits that file).
pub(super) fn find(
    apps: &Path,
    repo: &Path,
    kind: &str,
    name: &str,
    namespace: &str,
) -> Result<Option<crate::yaml::SourceRef>, CliError> {
    let mut files = Vec::new();
    collect(apps, repo, &mut files)?;
    let parsed = manifest::parse(&files);
    Ok(parsed
        .manifests
        .iter()
        .find(|m| {
            let meta = m.object.metadata();
            m.object.kind() == kind
                && meta.name.as_deref() == Some(name)
                && meta.namespace.as_deref().unwrap_or("default") == namespace
        })
        .map(|m| m.source.clone()))
}

fn collect(dir: &Path, repo: &Path, out: &mut Vec<RawFile>) -> Result<(), CliError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            collect(&p, repo, out)?;
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let bytes = std::fs::read(&p)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?;
            let path = p
                .strip_prefix(repo)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            out.push(RawFile { path, bytes });
        }
    }
    Ok(())
}

/// `git add REL && git commit -m MESSAGE` with git2; returns the new commit's id.
pub(super) fn commit(repo: &Path, rel: &Path, message: &str) -> Result<String, git2::Error> {
    let repo = git2::Repository::discover(repo)?;
    let mut index = repo.index()?;
    index.add_path(rel)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = repo
        .signature()
        .or_else(|_| git2::Signature::now("clusterctl", "clusterctl@localhost"))?;
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    let id = repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)?;
    Ok(id.to_string())
}
