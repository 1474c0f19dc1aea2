//! `clusterctl port-forward pod/NAME|svc/NAME [LOCAL:]REMOTE...`: listens on this machine (loopback by
//! default, `--address` like kubectl) and carries each accepted connection to the pod's IP through an SSH
//! `direct-tcpip` channel of the pod's host (`Transport::tunnel_command`, `ssh -W` over the run's master):
//! nothing listens on the hosts. `svc/NAME` picks a Ready pod of the Service's selector (by name, so the
//! choice is deterministic) and maps the service port to its targetPort, by number or by name, as kubectl
//! does; the arrows show the pod's port. Runs until Ctrl-C (exit 130, every ssh helper terminated).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Stdio;
use std::sync::Arc;

use clap::Args;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use super::day2;
use super::{CliError, ExitCode, Global, Ui, children, pipeline, signals::Signals};
use crate::model::ObservedPod;
use crate::transport::Transport;

#[derive(Debug, Args)]
pub struct PortForwardArgs {
    /// pod/NAME, svc/NAME or NAME (a pod).
    pub target: String,
    /// [LOCAL:]REMOTE, e.g. 18080:8080, 8080, :8080 (a random local port); REMOTE may be a port name.
    #[arg(required = true, value_name = "PORT")]
    pub ports: Vec<String>,
    /// Addresses to listen on (comma-separated); `localhost` is 127.0.0.1 and ::1.
    #[arg(long, value_delimiter = ',', default_value = "localhost")]
    pub address: Vec<String>,
}

/// A remote port as given: a number or a port name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    Number(u16),
    Name(String),
}

/// `[LOCAL:]REMOTE` as kubectl parses it: `LOCAL` empty = a random free port (`None`), absent = REMOTE.
pub fn parse_port(spec: &str) -> Result<(Option<u16>, Remote), String> {
    let (local, remote) = match spec.split_once(':') {
        Some((l, r)) => (Some(l), r),
        None => (None, spec),
    };
    let remote = match remote.parse::<u16>() {
        Ok(0) => return Err(format!("remote port must be > 0 in {spec:?}")),
        Ok(n) => Remote::Number(n),
        Err(_) if crate::rules::is_valid_port_name(remote).is_empty() => {
            Remote::Name(remote.to_string())
        }
        Err(_) => return Err(format!("invalid port {remote:?} in {spec:?}")),
    };
    let local = match local {
        None => match &remote {
            Remote::Number(n) => Some(*n),
            Remote::Name(_) => {
                return Err(format!(
                    "a named port needs a local port: LOCAL:{spec} (or :{spec} for a random one)"
                ));
            }
        },
        Some("") => None,
        Some(l) => Some(
            l.parse::<u16>()
                .map_err(|_| format!("invalid local port {l:?} in {spec:?}"))?,
        ),
    };
    Ok((local.filter(|p| *p != 0), remote))
}

/// The listen addresses `--address` names.
fn listen_ips(addresses: &[String]) -> Result<Vec<IpAddr>, String> {
    let mut out = Vec::new();
    for a in addresses {
        match a.as_str() {
            "localhost" => {
                out.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
                out.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
            }
            other => out.push(
                other
                    .parse()
                    .map_err(|_| format!("{other} is not a valid IP"))?,
            ),
        }
    }
    Ok(out)
}

/// The container port named `name` in the pod's spec.
fn named_port(pod: &Pod, name: &str) -> Option<u16> {
    pod.spec.as_ref()?.containers.iter().find_map(|c| {
        c.ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name))
            .and_then(|p| u16::try_from(p.container_port).ok())
    })
}

/// kubectl's translation of a service port to the chosen pod's port.
fn service_to_pod_port(svc: &Service, pod: &Pod, remote: &Remote) -> Result<u16, String> {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    let sp = ports
        .iter()
        .find(|p| match remote {
            Remote::Number(n) => p.port == i32::from(*n),
            Remote::Name(s) => p.name.as_deref() == Some(s.as_str()),
        })
        .ok_or_else(|| {
            let r = match remote {
                Remote::Number(n) => n.to_string(),
                Remote::Name(s) => s.clone(),
            };
            format!("Service {name} does not have a service port {r}")
        })?;
    match &sp.target_port {
        None => u16::try_from(sp.port).map_err(|_| format!("bad port {}", sp.port)),
        Some(IntOrString::Int(n)) => u16::try_from(*n).map_err(|_| format!("bad port {n}")),
        Some(IntOrString::String(s)) => named_port(pod, s).ok_or_else(|| {
            format!(
                "Pod '{}' does not have a named port '{s}'",
                pod.metadata.name.as_deref().unwrap_or_default()
            )
        }),
    }
}

fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// One forwarded port: where we listen, and the pod's port.
struct Forward {
    local: u16,
    remote: u16,
}

pub async fn run(
    g: &Global,
    args: &PortForwardArgs,
    ui: &Ui,
    _signals: &Signals,
) -> Result<ExitCode, CliError> {
    let specs: Vec<(Option<u16>, Remote)> = args
        .ports
        .iter()
        .map(|p| parse_port(p))
        .collect::<Result<_, _>>()
        .map_err(CliError::Usage)?;
    let ips = listen_ips(&args.address).map_err(CliError::Usage)?;
    let (kind, name) = match args.target.split_once('/') {
        Some(("svc" | "service" | "services", n)) => ("svc", n),
        Some(("pod" | "pods" | "po", n)) => ("pod", n),
        None => ("pod", args.target.as_str()),
        Some((k, _)) => {
            return Err(CliError::Usage(format!(
                "`{}`: port-forward takes pod/NAME or svc/NAME, not {k}",
                args.target
            )));
        }
    };
    let service = if kind == "svc" {
        let inv = pipeline::load_inventory(g)?;
        let desired = pipeline::load_desired(g, &inv, false, ui)?;
        let svc = desired
            .expanded
            .services
            .into_iter()
            .find(|s| {
                s.metadata.name.as_deref() == Some(name)
                    && s.metadata.namespace.as_deref().unwrap_or("default") == g.namespace
            })
            .ok_or_else(|| CliError::Reported(format!("services \"{name}\" not found")))?;
        Some(svc)
    } else {
        None
    };
    let hosts = day2::observe(g, ui).await?;
    let (observed, pod): (&ObservedPod, Pod) = match &service {
        None => {
            let p = hosts.pod(&g.namespace, name)?;
            (p, crate::view::pod_from_observed(p))
        }
        Some(svc) => {
            let selector = svc
                .spec
                .as_ref()
                .and_then(|s| s.selector.clone())
                .unwrap_or_default();
            let mut candidates: Vec<(&ObservedPod, Pod)> = hosts
                .pods
                .iter()
                .filter(|p| p.namespace == g.namespace && p.node_reachable)
                .map(|p| (p, crate::view::pod_from_observed(p)))
                .filter(|(_, v)| {
                    let labels = v.metadata.labels.clone().unwrap_or_default();
                    !selector.is_empty()
                        && selector.iter().all(|(k, val)| labels.get(k) == Some(val))
                })
                .filter(|(_, v)| pod_ready(v))
                .collect();
            candidates.sort_by(|a, b| a.0.name.cmp(&b.0.name));
            candidates.into_iter().next().ok_or_else(|| {
                CliError::Reported(format!("no Ready pod found for service {name}"))
            })?
        }
    };
    let ip = observed
        .sandbox
        .as_ref()
        .and_then(|s| s.ip.clone())
        .or_else(|| {
            observed
                .sandbox
                .as_ref()
                .and_then(|s| s.label(crate::model::labels::POD_IP).map(str::to_string))
        })
        .filter(|ip| !ip.is_empty())
        .ok_or_else(|| {
            CliError::Reported(format!(
                "pod {} has no IP address (is it running?)",
                observed.name
            ))
        })?;
    let (transport, _) = hosts.host_of(observed)?;
    let mut forwards = Vec::new();
    for (local, remote) in &specs {
        let port = match (&service, remote) {
            (Some(svc), r) => service_to_pod_port(svc, &pod, r).map_err(CliError::Reported)?,
            (None, Remote::Number(n)) => *n,
            (None, Remote::Name(n)) => named_port(&pod, n).ok_or_else(|| {
                CliError::Reported(format!(
                    "Pod '{}' does not have a named port '{n}'",
                    observed.name
                ))
            })?,
        };
        forwards.push((local, port));
    }
    let mut listeners = Vec::new();
    for (local, remote) in forwards {
        let mut port = local.unwrap_or(0);
        let mut bound_any = false;
        for ip in &ips {
            match TcpListener::bind(SocketAddr::new(*ip, port)).await {
                Ok(l) => {
                    let addr = l.local_addr().map_err(|e| CliError::Other(e.into()))?;
                    port = addr.port();
                    bound_any = true;
                    let shown = match ip {
                        IpAddr::V6(_) => format!("[{ip}]:{port}"),
                        IpAddr::V4(_) => format!("{ip}:{port}"),
                    };
                    ui.out(&format!("Forwarding from {shown} -> {remote}"));
                    listeners.push((
                        l,
                        Forward {
                            local: port,
                            remote,
                        },
                    ));
                }
                Err(e) => tracing::debug!(%ip, port, error = %e, "cannot listen"),
            }
        }
        if !bound_any {
            return Err(CliError::Reported(format!(
                "unable to listen on any of the requested ports: [{{{} {remote}}}]",
                local.unwrap_or(0)
            )));
        }
    }
    let ip: Arc<str> = ip.into();
    let accepts = listeners.into_iter().map(|(l, f)| {
        let (transport, ip, ui) = (transport.clone(), ip.clone(), ui.clone());
        async move {
            loop {
                let Ok((tcp, _)) = l.accept().await else {
                    continue;
                };
                ui.out(&format!("Handling connection for {}", f.local));
                let (transport, ip, ui) = (transport.clone(), ip.clone(), ui.clone());
                tokio::spawn(async move {
                    if let Err(e) = carry(tcp, transport.as_ref(), &ip, f.remote).await {
                        ui.error(&format!(
                            "an error occurred forwarding {} -> {}: {e}",
                            f.local, f.remote
                        ));
                    }
                });
            }
        }
    });
    // Forever: a signal ends clusterctl (and the helpers) with 130/143.
    futures::future::join_all(accepts).await;
    Ok(ExitCode::Ok)
}

/// One connection through one `ssh -W` helper: bytes both ways until both sides are done.
async fn carry(
    tcp: TcpStream,
    transport: &dyn Transport,
    ip: &str,
    port: u16,
) -> Result<(), String> {
    let mut cmd = transport
        .tunnel_command(ip, port)
        .map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut helper = children::spawn(cmd).map_err(|e| format!("cannot start ssh: {e}"))?;
    let (mut from_client, mut to_client) = tcp.into_split();
    let mut to_ssh = helper.child.stdin.take().ok_or("no stdin")?;
    let mut from_ssh = helper.child.stdout.take().ok_or("no stdout")?;
    let up = async {
        let _ = tokio::io::copy(&mut from_client, &mut to_ssh).await;
        let _ = to_ssh.shutdown().await;
        drop(to_ssh);
    };
    let down = async {
        let _ = tokio::io::copy(&mut from_ssh, &mut to_client).await;
        let _ = to_client.shutdown().await;
    };
    let mut err = helper.child.stderr.take();
    let mut why = Vec::new();
    let errs = async {
        if let Some(e) = err.as_mut() {
            let _ = tokio::io::AsyncReadExt::read_to_end(e, &mut why).await;
        }
    };
    futures::join!(up, down, errs);
    let status = helper.child.wait().await.map_err(|e| e.to_string())?;
    if !status.success() {
        let why = String::from_utf8_lossy(&why).trim().to_string();
        return Err(if why.is_empty() {
            format!("ssh exited with {status}")
        } else {
            why
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs_like_kubectl() {
        assert_eq!(
            parse_port("18080:8080"),
            Ok((Some(18080), Remote::Number(8080)))
        );
        assert_eq!(parse_port("8080"), Ok((Some(8080), Remote::Number(8080))));
        assert_eq!(parse_port(":8080"), Ok((None, Remote::Number(8080))));
        assert_eq!(
            parse_port("9000:http"),
            Ok((Some(9000), Remote::Name("http".into())))
        );
        assert!(parse_port("http").is_err());
        assert!(parse_port("x:80").is_err());
        assert!(parse_port("80:0").is_err());
    }

    #[test]
    fn service_ports_map_to_target_ports() {
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "my-nginx"},
            "spec": {"ports": [
                {"name": "http", "port": 8080, "targetPort": 80},
                {"name": "alt", "port": 9090, "targetPort": "web"},
                {"port": 7070}
            ]}
        }))
        .unwrap();
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "ports": [{"name": "web", "containerPort": 8000}]}]}
        }))
        .unwrap();
        assert_eq!(
            service_to_pod_port(&svc, &pod, &Remote::Number(8080)),
            Ok(80)
        );
        assert_eq!(
            service_to_pod_port(&svc, &pod, &Remote::Name("http".into())),
            Ok(80)
        );
        assert_eq!(
            service_to_pod_port(&svc, &pod, &Remote::Number(9090)),
            Ok(8000)
        );
        assert_eq!(
            service_to_pod_port(&svc, &pod, &Remote::Number(7070)),
            Ok(7070)
        );
        assert_eq!(
            service_to_pod_port(&svc, &pod, &Remote::Number(1)),
            Err("Service my-nginx does not have a service port 1".into())
        );
        assert_eq!(listen_ips(&["localhost".into()]).unwrap().len(), 2);
        assert!(listen_ips(&["nope".into()]).is_err());
    }
}
