//! Validation of a container's liveness, readiness and startup probes (upstream `validateProbe`,
//! kubernetes-semantics.md §10.1) with upstream's wording. Every handler (exec, httpGet over HTTP or
//! HTTPS, tcpSocket, grpc) is evaluated by the node supervisor, so none is warned about.

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Issues, rules};
use crate::yaml::FieldPath;

/// The probes of one container at `p` (`spec.containers[i]`).
pub fn container(v: &mut Issues, c: &Container, p: &FieldPath) {
    for (field, probe, one_success) in [
        ("livenessProbe", &c.liveness_probe, true),
        ("readinessProbe", &c.readiness_probe, false),
        ("startupProbe", &c.startup_probe, true),
    ] {
        if let Some(probe) = probe {
            one(
                v,
                probe,
                &p.child(field),
                one_success,
                field == "readinessProbe",
            );
        }
    }
}

fn one(v: &mut Issues, pr: &Probe, p: &FieldPath, one_success: bool, readiness: bool) {
    let handlers = [
        pr.exec.is_some(),
        pr.http_get.is_some(),
        pr.tcp_socket.is_some(),
        pr.grpc.is_some(),
    ]
    .iter()
    .filter(|h| **h)
    .count();
    if handlers == 0 {
        v.required(p, "must specify a handler type");
    } else if handlers > 1 {
        v.forbidden(p, "may not specify more than 1 handler type");
    }
    for (field, value) in [
        ("initialDelaySeconds", pr.initial_delay_seconds),
        ("timeoutSeconds", pr.timeout_seconds),
        ("periodSeconds", pr.period_seconds),
        ("successThreshold", pr.success_threshold),
        ("failureThreshold", pr.failure_threshold),
    ] {
        v.non_negative(&p.child(field), value.map(i64::from));
    }
    if one_success
        && let Some(n) = pr.success_threshold
        && n > 0
        && n != 1
    {
        v.invalid_num(&p.child("successThreshold"), n.into(), "must be 1");
    }
    if let Some(g) = pr.termination_grace_period_seconds {
        if readiness {
            v.invalid_num(
                &p.child("terminationGracePeriodSeconds"),
                g,
                "must not be set for readinessProbes",
            );
        } else if g <= 0 {
            v.invalid_num(
                &p.child("terminationGracePeriodSeconds"),
                g,
                "must be greater than 0",
            );
        }
    }
    if let Some(e) = &pr.exec
        && e.command.as_ref().is_none_or(|c| c.is_empty())
    {
        v.required(&p.child("exec").child("command"), "");
    }
    if let Some(h) = &pr.http_get {
        let hp = p.child("httpGet");
        port(v, &h.port, &hp.child("port"));
        if let Some(s) = h.scheme.as_deref()
            && !["HTTP", "HTTPS"].contains(&s)
        {
            v.unsupported(&hp.child("scheme"), s, &["HTTP", "HTTPS"]);
        }
        for (i, hd) in h.http_headers.iter().flatten().enumerate() {
            let np = hp.child("httpHeaders").index(i).child("name");
            if hd.name.is_empty()
                || !hd
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
            {
                v.invalid_str(&np, &hd.name, "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')");
            }
            if hd.value.contains(['\r', '\n']) {
                v.invalid_str(
                    &hp.child("httpHeaders").index(i).child("value"),
                    &hd.value,
                    "must not contain a line break",
                );
            }
        }
    }
    if let Some(t) = &pr.tcp_socket {
        port(v, &t.port, &p.child("tcpSocket").child("port"));
    }
    if let Some(g) = &pr.grpc {
        for msg in rules::is_valid_port_num(g.port.into()) {
            v.invalid_num(&p.child("grpc").child("port"), g.port.into(), &msg);
        }
    }
}

fn port(v: &mut Issues, port: &IntOrString, p: &FieldPath) {
    match port {
        IntOrString::Int(n) => {
            for msg in rules::is_valid_port_num((*n).into()) {
                v.invalid_num(p, (*n).into(), &msg);
            }
        }
        IntOrString::String(s) => match s.parse::<i64>() {
            Ok(n) => {
                for msg in rules::is_valid_port_num(n) {
                    v.invalid_num(p, n, &msg);
                }
            }
            Err(_) => {
                for msg in rules::is_valid_port_name(s) {
                    v.invalid_str(p, s, &msg);
                }
            }
        },
    }
}
