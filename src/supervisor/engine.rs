//! The Engine API as the supervisor uses it, without IO: the HTTP/1.1 requests it writes to the docker
//! socket and the parsers of dockerd's answers (HTTP/1.1 with `Content-Length`, chunked or close-delimited
//! bodies; the container list; inspect), reduced to what [`super::decide`] needs.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::decide::{PodInfo, Seen};
use crate::model::labels;

/// The label filter of the container list: managed containers only.
pub const LIST_PATH: &str =
    "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22clusterctl.io%2Fmanaged%3Dtrue%22%5D%7D";

/// A complete HTTP/1.1 request (one per connection: `Connection: close`).
pub fn request(method: &str, path: &str) -> Vec<u8> {
    let len = if method == "POST" {
        "Content-Length: 0\r\n"
    } else {
        ""
    };
    format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: clusterctl-node\r\n{len}Connection: close\r\n\r\n")
        .into_bytes()
}

/// `/containers/<id>/json`; ids are hex, anything else is refused (never pasted into a path).
pub fn inspect_path(id: &str) -> Option<String> {
    valid_id(id).then(|| format!("/containers/{id}/json"))
}

/// `/containers/<id>/start`.
pub fn start_path(id: &str) -> Option<String> {
    valid_id(id).then(|| format!("/containers/{id}/start"))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HttpError {
    #[error("malformed HTTP response: {0}")]
    Malformed(&'static str),
}

/// A parsed response: status code and the (de-chunked) body.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Parses a whole response as read until the server closed the connection.
pub fn parse_response(raw: &[u8]) -> Result<Response, HttpError> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(HttpError::Malformed("no end of headers"))?;
    let head =
        std::str::from_utf8(&raw[..end]).map_err(|_| HttpError::Malformed("headers not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or(HttpError::Malformed("no status line"))?;
    let mut chunked = false;
    let mut length: Option<usize> = None;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
            chunked = true;
        } else if k == "content-length" {
            length = v.parse().ok();
        }
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = length {
        rest.get(..n)
            .ok_or(HttpError::Malformed("body shorter than Content-Length"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response { status, body })
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::new();
    loop {
        let nl = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or(HttpError::Malformed("chunk size line"))?;
        let size_text =
            std::str::from_utf8(&b[..nl]).map_err(|_| HttpError::Malformed("chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| HttpError::Malformed("chunk size"))?;
        b = &b[nl + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = b.get(..size).ok_or(HttpError::Malformed("short chunk"))?;
        out.extend_from_slice(chunk);
        b = b
            .get(size + 2..)
            .ok_or(HttpError::Malformed("short chunk"))?;
    }
}

/// An entry of `GET /containers/json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Listed {
    pub id: String,
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub state: String,
}

impl Listed {
    pub fn label(&self, k: &str) -> Option<&str> {
        self.labels.as_ref()?.get(k).map(String::as_str)
    }
    pub fn name(&self) -> String {
        self.names
            .first()
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default()
    }
}

pub fn parse_list(body: &[u8]) -> Result<Vec<Listed>, serde_json::Error> {
    serde_json::from_slice(body)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspect {
    id: String,
    name: String,
    #[serde(default)]
    created: String,
    config: InspectConfig,
    state: InspectState,
}
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectConfig {
    #[serde(default)]
    image: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectState {
    #[serde(default)]
    status: String,
    #[serde(default)]
    exit_code: i32,
    #[serde(rename = "OOMKilled", default)]
    oom_killed: bool,
    #[serde(default)]
    started_at: String,
    #[serde(default)]
    finished_at: String,
}

/// `GET /containers/<id>/json` → [`Seen`]; `None` for a container without the pod labels.
pub fn parse_inspect(body: &[u8]) -> Result<Option<Seen>, serde_json::Error> {
    let i: Inspect = serde_json::from_slice(body)?;
    let l = i.config.labels.unwrap_or_default();
    let get = |k: &str| l.get(k).cloned();
    let (Some(namespace), Some(pod), Some(container)) = (
        get(labels::NAMESPACE),
        get(labels::POD),
        get(labels::CONTAINER),
    ) else {
        return Ok(None);
    };
    Ok(Some(Seen {
        id: i.id,
        name: i.name.trim_start_matches('/').to_string(),
        container,
        namespace,
        pod,
        image: i.config.image,
        status: i.state.status,
        exit_code: i.state.exit_code,
        oom_killed: i.state.oom_killed,
        created_at: i.created,
        started_at: i.state.started_at,
        finished_at: i.state.finished_at,
    }))
}

/// The pods to supervise, from their sandboxes in the list: restartPolicy and uid from the pod manifest
/// label. The supervisor's own pod (pod label [`labels::NODE_SUPERVISOR`]) is left to docker.
pub fn pods(list: &[Listed], grace_secs: u64) -> BTreeMap<(String, String), PodInfo> {
    let mut out = BTreeMap::new();
    for c in list {
        if c.label(labels::CONTAINER) != Some(labels::SANDBOX_CONTAINER) {
            continue;
        }
        let (Some(ns), Some(pod)) = (c.label(labels::NAMESPACE), c.label(labels::POD)) else {
            continue;
        };
        let manifest: Option<k8s_openapi::api::core::v1::Pod> = c
            .label(labels::POD_MANIFEST)
            .and_then(|m| serde_json::from_str(m).ok());
        let meta = manifest.as_ref().map(|m| &m.metadata);
        if meta
            .and_then(|m| m.labels.as_ref())
            .is_some_and(|l| l.get(labels::NODE_SUPERVISOR).map(String::as_str) == Some("true"))
        {
            continue;
        }
        let restart_policy = manifest
            .as_ref()
            .and_then(|m| m.spec.as_ref())
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".to_string());
        out.insert(
            (ns.to_string(), pod.to_string()),
            PodInfo {
                restart_policy,
                uid: meta.and_then(|m| m.uid.clone()).unwrap_or_default(),
                sandbox_running: c.state == "running",
                evicted_after: super::hold::replaceable(c.label(labels::OWNER_KIND))
                    .then(|| {
                        super::hold::unreachable_toleration_secs(
                            manifest.as_ref().and_then(|m| m.spec.as_ref()),
                            grace_secs,
                        )
                    })
                    .flatten(),
                init_containers: manifest
                    .as_ref()
                    .and_then(|m| m.spec.as_ref())
                    .and_then(|s| s.init_containers.as_ref())
                    .into_iter()
                    .flatten()
                    .filter(|c| c.restart_policy.as_deref() != Some("Always"))
                    .map(|c| c.name.clone())
                    .collect(),
                init_order: manifest
                    .as_ref()
                    .and_then(|m| m.spec.as_ref())
                    .and_then(|s| s.init_containers.as_ref())
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        (
                            c.name.clone(),
                            c.restart_policy.as_deref() == Some("Always"),
                        )
                    })
                    .collect(),
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_with_length_chunks_or_close() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"[]"[..]));
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[{}\r\n1;x=y\r\n]\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"[{}]");
        let r = parse_response(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.len()), (204, 0));
        assert!(parse_response(b"garbage").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
    }

    #[test]
    fn requests_and_paths() {
        assert_eq!(
            String::from_utf8(request("POST", "/containers/ab12/start")).unwrap(),
            "POST /containers/ab12/start HTTP/1.1\r\nHost: docker\r\nUser-Agent: clusterctl-node\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            start_path("ab12").as_deref(),
            Some("/containers/ab12/start")
        );
        assert_eq!(inspect_path("../x"), None);
        assert_eq!(start_path(""), None);
    }

    #[test]
    fn sandboxes_give_the_pods_and_the_supervisor_skips_itself() {
        let list = serde_json::json!([
            {"Id": "a1", "Names": ["/k8s_POD_p_default"], "State": "running", "Labels": {
                "clusterctl.io/namespace": "default", "clusterctl.io/pod": "p", "clusterctl.io/container": "POD",
                "clusterctl.io/pod-manifest": "{\"metadata\":{\"name\":\"p\",\"uid\":\"u\"},\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[]}}"}},
            {"Id": "b2", "Names": ["/k8s_POD_q_default"], "State": "exited", "Labels": {
                "clusterctl.io/namespace": "default", "clusterctl.io/pod": "q", "clusterctl.io/container": "POD",
                "clusterctl.io/owner-kind": "ReplicaSet"}},
            {"Id": "c3", "Names": ["/k8s_POD_clusterctl-node-h_clusterctl-system"], "State": "running", "Labels": {
                "clusterctl.io/namespace": "clusterctl-system", "clusterctl.io/pod": "clusterctl-node-h", "clusterctl.io/container": "POD",
                "clusterctl.io/pod-manifest": "{\"metadata\":{\"labels\":{\"clusterctl.io/node-supervisor\":\"true\"}},\"spec\":{\"containers\":[]}}"}},
            {"Id": "d4", "Names": ["/k8s_app_p_default"], "State": "exited", "Labels": {
                "clusterctl.io/namespace": "default", "clusterctl.io/pod": "p", "clusterctl.io/container": "app"}}
        ]);
        let list = parse_list(list.to_string().as_bytes()).unwrap();
        let pods = pods(&list, 40);
        assert_eq!(pods.len(), 2);
        let p = &pods[&("default".to_string(), "p".to_string())];
        assert_eq!(
            (p.restart_policy.as_str(), p.uid.as_str(), p.sandbox_running),
            ("Never", "u", true)
        );
        let q = &pods[&("default".to_string(), "q".to_string())];
        assert_eq!(
            (q.restart_policy.as_str(), q.sandbox_running),
            ("Always", false)
        );
        // A ReplicaSet's pod is evicted after the grace; a bare pod never.
        assert_eq!((q.evicted_after, p.evicted_after), (Some(40), None));
        assert_eq!(list[3].name(), "k8s_app_p_default");
    }

    #[test]
    fn inspect_reduces_to_seen() {
        let body = serde_json::json!({
            "Id": "d4", "Name": "/k8s_app_p_default", "Created": "2026-12-01T12:00:00.5Z",
            "Config": {"Image": "clusterctl/crash", "Labels": {
                "clusterctl.io/namespace": "default", "clusterctl.io/pod": "p", "clusterctl.io/container": "app"}},
            "State": {"Status": "exited", "ExitCode": 137, "OOMKilled": true,
                "StartedAt": "2026-12-01T12:00:01Z", "FinishedAt": "2026-12-01T12:00:02Z"}
        });
        let s = parse_inspect(body.to_string().as_bytes()).unwrap().unwrap();
        assert_eq!(
            (
                s.name.as_str(),
                s.container.as_str(),
                s.exit_code,
                s.oom_killed
            ),
            ("k8s_app_p_default", "app", 137, true)
        );
        let unlabelled = serde_json::json!({"Id": "x", "Name": "/x", "Config": {}, "State": {}});
        assert_eq!(
            parse_inspect(unlabelled.to_string().as_bytes()).unwrap(),
            None
        );
    }
}
