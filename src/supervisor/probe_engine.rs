//! The Engine API and wire formats of probe attempts, without IO: exec create / start / inspect (an exec
//! probe runs its argv in the container, no shell), the stop that kills a container whose liveness or
//! startup probe failed, the multiplexed stdout/stderr stream, and the HTTP probe's request and status.

/// Docker ids are hex; anything else is refused (never pasted into a path).
fn valid_container_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A request with a JSON body (one per connection).
pub fn request_json(method: &str, path: &str, body: &serde_json::Value) -> Vec<u8> {
    let body = body.to_string();
    let mut out = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: clusterctl-node\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// `POST /containers/<id>/exec` and its body: argv as given, stdout and stderr attached.
pub fn exec_create(id: &str, command: &[String]) -> Option<(String, serde_json::Value)> {
    valid_container_id(id).then(|| {
        (
            format!("/containers/{id}/exec"),
            serde_json::json!({"AttachStdout": true, "AttachStderr": true, "Cmd": command}),
        )
    })
}

/// `POST /exec/<id>/start` (attached: the answer streams the output until the process exits).
pub fn exec_start(exec_id: &str) -> Option<(String, serde_json::Value)> {
    valid_container_id(exec_id).then(|| {
        (
            format!("/exec/{exec_id}/start"),
            serde_json::json!({"Detach": false, "Tty": false}),
        )
    })
}

/// `GET /exec/<id>/json`.
pub fn exec_inspect_path(exec_id: &str) -> Option<String> {
    valid_container_id(exec_id).then(|| format!("/exec/{exec_id}/json"))
}

/// `POST /containers/<id>/stop?t=<grace>`: SIGTERM, then SIGKILL after the grace period.
pub fn stop_path(id: &str, grace: i64) -> Option<String> {
    valid_container_id(id).then(|| format!("/containers/{id}/stop?t={}", grace.max(0)))
}

/// The id in exec create's answer `{"Id": "…"}`.
pub fn exec_id(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("Id")?.as_str().map(str::to_string)
}

/// `(Running, ExitCode)` of exec inspect.
pub fn exec_exit(body: &[u8]) -> Option<(bool, i64)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some((v.get("Running")?.as_bool()?, v.get("ExitCode")?.as_i64()?))
}

/// The output of an attached, non-TTY exec: frames of `[stream, 0, 0, 0, len (u32 BE)]` + payload;
/// stdout and stderr in the order written. A truncated last frame keeps what arrived.
pub fn demux(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let len = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let end = (8 + len).min(b.len());
        out.extend_from_slice(&b[8..end]);
        b = &b[end..];
    }
    out
}

/// The HTTP probe's request: the kubelet's default headers (`User-Agent: kube-probe/1.33`, `Accept: */*`),
/// each replaced by an `httpHeaders` entry of the same name; a `Host` header sets the request host.
/// Header values never contain CR or LF (validation refuses them; dropped here too).
pub fn http_request(host: &str, port: u16, path: &str, headers: &[(String, String)]) -> Vec<u8> {
    let has = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    let mut out = format!("GET {path} HTTP/1.1\r\n");
    if !has("host") {
        out.push_str(&format!("Host: {host}:{port}\r\n"));
    }
    if !has("user-agent") {
        out.push_str("User-Agent: kube-probe/1.33\r\n");
    }
    if !has("accept") {
        out.push_str("Accept: */*\r\n");
    }
    for (k, v) in headers {
        if k.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
            continue;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

/// The status code of an HTTP response's first line.
pub fn http_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    line.split(' ').nth(1)?.trim().parse().ok()
}

/// The kubelet's HTTP rule: success iff 200 ≤ status < 400.
pub fn http_success(status: u16) -> bool {
    (200..400).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_requests() {
        let (path, body) = exec_create("ab12", &["cat".into(), "/tmp/ok".into()]).unwrap();
        assert_eq!(path, "/containers/ab12/exec");
        assert_eq!(body["Cmd"], serde_json::json!(["cat", "/tmp/ok"]));
        let raw = String::from_utf8(request_json("POST", &path, &body)).unwrap();
        assert!(raw.ends_with(&format!("\r\n\r\n{body}")), "{raw}");
        assert!(raw.contains(&format!("Content-Length: {}\r\n", body.to_string().len())));
        assert_eq!(exec_create("../x", &[]), None);
        assert_eq!(
            stop_path("ab12", 3).as_deref(),
            Some("/containers/ab12/stop?t=3")
        );
        assert_eq!(exec_id(br#"{"Id":"ff00"}"#).as_deref(), Some("ff00"));
        assert_eq!(
            exec_exit(br#"{"Running":false,"ExitCode":1}"#),
            Some((false, 1))
        );
    }

    #[test]
    fn demux_joins_the_frames() {
        let mut b = vec![1, 0, 0, 0, 0, 0, 0, 3];
        b.extend_from_slice(b"ok\n");
        b.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 4]);
        b.extend_from_slice(b"err");
        assert_eq!(demux(&b), b"ok\nerr");
    }

    #[test]
    fn http_probe_request_and_status() {
        let r = String::from_utf8(http_request(
            "10.0.0.5",
            80,
            "/healthz",
            &[("X-A".into(), "1".into())],
        ))
        .unwrap();
        assert_eq!(
            r,
            "GET /healthz HTTP/1.1\r\nHost: 10.0.0.5:80\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nX-A: 1\r\nConnection: close\r\n\r\n"
        );
        let r = String::from_utf8(http_request("h", 80, "/", &[("Host".into(), "web".into())]))
            .unwrap();
        assert!(
            r.contains("\r\nHost: web\r\n") && !r.contains("h:80"),
            "{r}"
        );
        assert_eq!(http_status(b"HTTP/1.0 404 Not Found\r\n"), Some(404));
        assert!(http_success(302) && http_success(200) && !http_success(404) && !http_success(199));
    }
}
