//! The objects `kubectl create deployment|service` builds, as JSON values shaped field for field like
//! kubectl's (`creationTimestamp: null`, `strategy: {}`, `resources: {}`, `status: {}`, the `app: NAME`
//! label, container names from the image, port names `PORT-TARGET`), for `clusterctl create` to write into
//! the apps directory or print with `--dry-run -o yaml`. Pure; key order does not matter (output sorts).

use serde_json::{Value, json};

use crate::rules;

/// `clusterctl create deployment NAME --image=IMG… [-r N] [--port P]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentSpec {
    pub name: String,
    pub namespace: Option<String>,
    pub images: Vec<String>,
    pub replicas: i32,
    pub port: Option<i32>,
}

/// `clusterctl create service clusterip|nodeport NAME --tcp=PORT[:TARGET]…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    pub name: String,
    pub namespace: Option<String>,
    /// `ClusterIP` or `NodePort`.
    pub type_: String,
    /// `(port, targetPort)` from each `--tcp`.
    pub ports: Vec<(i32, i32)>,
}

/// kubectl's container name for an image: the last path element without tag or digest. kubectl adds a random
/// suffix when that is not a DNS-1123 label; clusterctl refuses instead (a manifest must be deterministic).
pub fn container_name(image: &str) -> Result<String, String> {
    let last = image.rsplit('/').next().unwrap_or(image);
    let base = last.split(['@', ':']).next().unwrap_or(last);
    if rules::is_dns1123_label(base).is_empty() {
        Ok(base.to_string())
    } else {
        Err(format!(
            "the container name {base:?} derived from image {image:?} is not a lowercase RFC 1123 label (kubectl would add a random suffix); use an image whose last path element is one"
        ))
    }
}

fn metadata(name: &str, namespace: Option<&str>) -> Value {
    let mut m = json!({
        "creationTimestamp": null,
        "labels": { "app": name },
        "name": name,
    });
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

fn check_name(name: &str) -> Result<(), String> {
    let errs = rules::is_dns1123_subdomain(name);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(format!("invalid name {name:?}: {}", errs.join("; ")))
    }
}

/// The Deployment kubectl prints for the same command.
pub fn deployment(d: &DeploymentSpec) -> Result<Value, String> {
    check_name(&d.name)?;
    if d.images.is_empty() {
        return Err("--image is required".into());
    }
    if d.replicas < 0 {
        return Err(format!("--replicas must be 0 or more, not {}", d.replicas));
    }
    let mut containers = Vec::new();
    for (i, image) in d.images.iter().enumerate() {
        let mut c = json!({
            "image": image,
            "name": container_name(image)?,
            "resources": {},
        });
        // kubectl exposes the port on the first container only.
        if let Some(p) = d.port.filter(|_| i == 0) {
            if !rules::is_valid_port_num(p.into()).is_empty() {
                return Err(format!(
                    "--port {p}: must be between 1 and 65535, inclusive"
                ));
            }
            c["ports"] = json!([{ "containerPort": p }]);
        }
        containers.push(c);
    }
    Ok(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(&d.name, d.namespace.as_deref()),
        "spec": {
            "replicas": d.replicas,
            "selector": { "matchLabels": { "app": d.name } },
            "strategy": {},
            "template": {
                "metadata": { "creationTimestamp": null, "labels": { "app": d.name } },
                "spec": { "containers": containers },
            },
        },
        "status": {},
    }))
}

/// Parses one `--tcp` value as kubectl does: `PORT` or `PORT:TARGET`.
pub fn parse_tcp(s: &str) -> Result<(i32, i32), String> {
    let bad = || format!("--tcp {s:?}: expected PORT or PORT:TARGET, each 1-65535");
    let num = |p: &str| -> Result<i32, String> {
        let n: i32 = p.parse().map_err(|_| bad())?;
        if rules::is_valid_port_num(n.into()).is_empty() {
            Ok(n)
        } else {
            Err(bad())
        }
    };
    match s.split_once(':') {
        Some((p, t)) => Ok((num(p)?, num(t)?)),
        None => {
            let p = num(s)?;
            Ok((p, p))
        }
    }
}

/// The Service kubectl prints for the same command.
pub fn service(s: &ServiceSpec) -> Result<Value, String> {
    check_name(&s.name)?;
    if s.ports.is_empty() {
        return Err("at least one --tcp=PORT:TARGET is required".into());
    }
    let ports: Vec<Value> = s
        .ports
        .iter()
        .map(|(port, target)| {
            let name = if port == target {
                port.to_string()
            } else {
                format!("{port}-{target}")
            };
            json!({ "name": name, "port": port, "protocol": "TCP", "targetPort": target })
        })
        .collect();
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(&s.name, s.namespace.as_deref()),
        "spec": {
            "ports": ports,
            "selector": { "app": s.name },
            "type": s.type_,
        },
        "status": { "loadBalancer": {} },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_as_kubectl_derives_them() {
        assert_eq!(container_name("nginx").unwrap(), "nginx");
        assert_eq!(container_name("nginx:1.14.2").unwrap(), "nginx");
        assert_eq!(
            container_name("registry.k8s.io/pause:3.9").unwrap(),
            "pause"
        );
        assert_eq!(container_name("busybox@sha256:abc").unwrap(), "busybox");
        assert!(container_name("my_repo/Foo.Bar:1").is_err());
    }

    #[test]
    fn tcp_values() {
        assert_eq!(parse_tcp("8080:80").unwrap(), (8080, 80));
        assert_eq!(parse_tcp("80").unwrap(), (80, 80));
        assert!(parse_tcp("0:80").is_err());
        assert!(parse_tcp("x").is_err());
    }
}
