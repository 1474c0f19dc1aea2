//! Authenticated image pulls (`imagePullSecrets`): which registry an image reference names (docker's
//! normalisation), the credential a `kubernetes.io/dockerconfigjson` Secret holds for it (as the kubelet's
//! keyring matches it), and the pull step that uses it. Pure: builds [`Cmd`]s, runs nothing.
//!
//! The credential never reaches a command line or a file: the step sends the Engine API request
//! `POST /images/create` with the `X-Registry-Auth` header on the stdin of `docker system dial-stdio`
//! (the docker CLI's own connection to its daemon), and the step is marked [`Cmd::sensitive`], so the
//! plan shows a hash of the request instead (docs/secrets.md). The daemon keeps no copy of it after the
//! pull (unlike `docker login`, which writes `~/.docker/config.json`).

use base64::Engine as _;
use serde::Deserialize;

use super::docker::{PULL_ARG0, pulled_policy, query_escape};
use crate::cmd::Cmd;

/// One registry credential (username and password, as `docker login` takes them).
#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    pub username: String,
    pub password: String,
    /// The registry host as the credential names it (`X-Registry-Auth`'s `serveraddress`).
    pub server: String,
}

impl std::fmt::Debug for Auth {
    // Never prints the password (errors and test failures may show an Auth).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Auth({}@{}, password redacted)",
            self.username, self.server
        )
    }
}

/// The registry host of an image reference as docker resolves it: the first path component when it has
/// a `.` or a `:` or is `localhost`, else Docker Hub (`docker.io`).
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// A `.dockerconfigjson` key as a registry host: the scheme and any path go (`https://h:5000/v1/` →
/// `h:5000`), and Docker Hub's historical names are `docker.io`.
fn normalise_key(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io",
        h => h,
    }
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    /// base64 of `username:password` (what `docker login` writes).
    #[serde(default)]
    auth: Option<String>,
}

/// The credential a `.dockerconfigjson` document holds for `registry`, if any. Malformed documents
/// give `None` (validation reports them, without their contents).
pub fn auth_for(dockerconfigjson: &[u8], registry: &str) -> Option<Auth> {
    let cfg: DockerConfig = serde_json::from_slice(dockerconfigjson).ok()?;
    let (key, e) = cfg
        .auths
        .iter()
        .find(|(k, _)| normalise_key(k) == registry)?;
    let (username, password) = match (&e.username, &e.password) {
        (Some(u), Some(p)) => (u.clone(), p.clone()),
        _ => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(e.auth.as_deref()?.trim())
                .ok()?;
            let s = String::from_utf8(raw).ok()?;
            let (u, p) = s.split_once(':')?;
            (u.to_string(), p.to_string())
        }
    };
    Some(Auth {
        username,
        password,
        server: normalise_key(key).to_string(),
    })
}

/// `fromImage` and `tag` of `POST /images/create` for a reference: `name@sha256:…` pulls that digest
/// (docker passes the digest as the tag), `name:tag` that tag, `name` `latest`.
pub fn split_reference(image: &str) -> (&str, &str) {
    // A ':' before the last '/' is a registry port, not a tag.
    let untagged = |name: &'_ str| -> Option<(usize, usize)> {
        let i = name.rfind(':')?;
        (!name[i..].contains('/')).then_some((i, i + 1))
    };
    if let Some((name, digest)) = image.split_once('@') {
        // `name:tag@sha256:…` pulls the digest; the tag is only a label.
        let name = untagged(name).map_or(name, |(i, _)| &image[..i]);
        return (name, digest);
    }
    match untagged(image) {
        Some((i, j)) => (&image[..i], &image[j..]),
        None => (image, "latest"),
    }
}

/// Where a host records its failed pulls, one file per image: `<failures> <epoch of the last>[ b]` (`b`: a
/// later round was held back by the back-off), then the image and the registry's message. The image
/// back-off reads it; a successful pull removes it; the observe command prints it (`pulls` section).
pub const PULL_RECORDS: &str = "/var/lib/clusterctl/pulls";

/// The first and the longest wait of the kubelet's image pull back-off (it doubles in between).
pub const BACKOFF_INITIAL_SECS: u64 = 10;
pub const BACKOFF_MAX_SECS: u64 = 300;

/// The head both pull scripts share (policy and image are their positional arguments, never pasted into
/// them). Never and IfNotPresent look for the image first; a missing image under Never fails with the
/// kubelet's message. Then the kubelet's image back-off, on the host's own clock so every machine that
/// applies sees the same: after N failed pulls of the image no pull is tried for 10 s · 2^(N-1) (at most
/// 5 min), and the step fails with `ImagePullBackOff` at once. `pulled` / `failed MESSAGE` keep the record;
/// `pulled` also leaves the node supervisor a mark (`supervisor::pulled`: this image was really pulled, from
/// when to when) for the `Pulled` event of the container created next. A mark that cannot be written only
/// costs the event's accuracy.
macro_rules! pull_head {
    () => {
        r#"policy=$1 image=$2
if [ "$policy" != Always ] && docker image inspect --format=. -- "$image" >/dev/null 2>&1; then cat >/dev/null 2>&1; exit 0; fi
if [ "$policy" = Never ]; then
  echo "ErrImageNeverPull: Container image \"$image\" is not present with pull policy of Never" >&2
  exit 1
fi
rec=/var/lib/clusterctl/pulls/$(printf '%s' "$image" | sha256sum | cut -c1-32)
now=$(date +%s) n=0 at=0
[ -r "$rec" ] && read -r n at b _ <"$rec"
case $n$at in *[!0-9]*) n=0 at=0 ;; esac
if [ "$n" -gt 0 ]; then
  k=$((n > 6 ? 5 : n - 1)); wait=$((10 << k)); [ "$wait" -le 300 ] || wait=300
  if [ $((now - at)) -lt "$wait" ]; then
    cat >/dev/null 2>&1
    [ "$b" = b ] || sed -i '1s/$/ b/' "$rec"
    echo "ImagePullBackOff: Back-off pulling image \"$image\" (attempt $((n + 1)) in $((at + wait - now))s)" >&2
    exit 1
  fi
fi
pulled() {
  rm -f "$rec"; d=/var/lib/clusterctl/node/pulled
  { mkdir -p "$d" && printf '%s %s\n%s\n' "$now" "$(date +%s)" "$image" >"$d/${rec##*/}"; } 2>/dev/null
  exit 0
}
failed() {
  mkdir -p "${rec%/*}" && printf '%s %s\n%s\n%s\n' "$((n + 1))" "$now" "$image" "$1" >"$rec.tmp" && mv "$rec.tmp" "$rec"
  printf '%s\n' "$1" >&2; exit 1
}
"#
    };
}

/// The plain pull step's script: `docker pull`, its stderr (the registry's answer) the failure message.
pub const PULL_SCRIPT: &str = concat!(
    pull_head!(),
    r#"err=$(docker pull --quiet -- "$image" 2>&1 >/dev/null) && pulled
failed "$err""#
);

/// The pull step's script when a credential is needed: the pull is the Engine API request on stdin, kept
/// open until the daemon has answered (dial-stdio half-closes the connection at the end of its input, and the
/// daemon cancels a pull whose client went away; the empty marker file only says "answered"). The
/// daemon answers 200 with a JSON progress stream whose last object has `error` when the pull failed, or
/// an HTTP error with `message`; either text is the failure message, as docker's CLI prints it.
pub const AUTH_PULL_SCRIPT: &str = concat!(
    pull_head!(),
    r#"req=$(cat; printf x); req=${req%x}
done=$(mktemp -u /tmp/clusterctl-pull.XXXXXX)
resp=$( { printf '%s' "$req"; i=0; while [ ! -e "$done" ] && [ "$i" -lt 18000 ]; do sleep 0.1; i=$((i + 1)); done; } |
  { docker system dial-stdio; touch "$done"; } )
rm -f "$done"
code=${resp#HTTP/1.? }; code=${code%% *}
msg() { printf '%s\n' "$resp" | sed -n "s/.*\"$1\":\"\(\([^\"\\\\]\|\\\\.\)*\)\".*/\1/p" | head -n 1; }
case $code in
  2??) err=$(msg error); [ -n "$err" ] || pulled ;;
  *) err=$(msg message); [ -n "$err" ] || err="HTTP $code" ;;
esac
failed "Error response from daemon: $err""#
);

/// The wait after `failures` failed pulls: 10 s, doubling, at most 5 min (the pull scripts' arithmetic).
pub fn backoff_secs(failures: u32) -> u64 {
    if failures == 0 {
        return 0;
    }
    (BACKOFF_INITIAL_SECS << (failures - 1).min(5)).min(BACKOFF_MAX_SECS)
}

/// Separates the records in the observe command's `pulls` section.
pub const RECORD_END: &str = "@@pull-record-end@@";

/// Parses the observe command's `pulls` section: the host's `date +%s`, then each record followed by
/// [`RECORD_END`]. Unreadable records are skipped (a record is only a memory of failed pulls).
pub fn parse_records(section: &str) -> Vec<crate::model::PullFailure> {
    let mut lines = section.lines();
    let _host_now = lines.next();
    let rest: Vec<&str> = lines.collect();
    let mut out: Vec<crate::model::PullFailure> = rest
        .split(|l| *l == RECORD_END)
        .filter_map(|rec| {
            let (head, tail) = rec.split_first()?;
            let (image, message) = tail.split_first()?;
            let mut f = head.split_whitespace();
            let failures: u32 = f.next()?.parse().ok()?;
            let at: i64 = f.next()?.parse().ok()?;
            let backing_off = f.next() == Some("b");
            let time = |secs: i64| {
                jiff::Timestamp::from_second(secs)
                    .map(|t| format!("{t:.0}"))
                    .ok()
            };
            Some(crate::model::PullFailure {
                image: image.to_string(),
                message: message.join("\n").trim().to_string(),
                failures,
                last_failure: time(at)?,
                retry_after: time(at + backoff_secs(failures) as i64)?,
                backing_off,
            })
        })
        .collect();
    out.sort_by(|a, b| a.image.cmp(&b.image));
    out
}

/// The authenticated form of a plain pull step ([`super::docker::pull_cmd`]); `None` when `plain` is not
/// a pull step or its policy is Never (nothing is pulled, no credential needed).
pub fn with_auth(plain: &Cmd, auth: &Auth) -> Option<Cmd> {
    let image = super::docker::pulled_image(plain)?;
    let policy = pulled_policy(plain)?;
    if policy == "Never" {
        return None;
    }
    Some(auth_pull_cmd(image, policy, auth))
}

fn auth_pull_cmd(image: &str, policy: &str, auth: &Auth) -> Cmd {
    let header = serde_json::json!({
        "username": auth.username,
        "password": auth.password,
        "serveraddress": auth.server,
    });
    // The docker CLI's encoding of X-Registry-Auth: URL-safe base64 of the JSON.
    let header = base64::engine::general_purpose::URL_SAFE.encode(header.to_string());
    let (from, tag) = split_reference(image);
    let request = format!(
        "POST /images/create?fromImage={}&tag={} HTTP/1.1\r\nHost: docker\r\nX-Registry-Auth: {header}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        query_escape(from),
        query_escape(tag),
    );
    Cmd::write(
        "sh",
        [
            "-c".to_string(),
            AUTH_PULL_SCRIPT.to_string(),
            PULL_ARG0.to_string(),
            policy.to_string(),
            image.to_string(),
        ],
    )
    .with_stdin(request)
    .sensitive()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::docker::{PullPolicy, pull_cmd, pulled_image};

    fn cfg(json: &str) -> Vec<u8> {
        json.as_bytes().to_vec()
    }

    #[test]
    fn the_back_off_doubles_from_10_s_to_5_min() {
        let waits: Vec<u64> = (0..9).map(backoff_secs).collect();
        assert_eq!(waits, [0, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn pull_records_parse_from_the_observe_section() {
        let section = format!(
            "1700000100\n2 1700000000 b\nh:5443/private/web:1\nError response from daemon: no basic auth credentials\n{RECORD_END}\n1 1700000050\nnginx:9\nmanifest unknown\n{RECORD_END}\ngarbage\n{RECORD_END}"
        );
        let r = parse_records(&section);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[0].image, "h:5443/private/web:1");
        assert_eq!(r[0].failures, 2);
        assert!(r[0].backing_off);
        assert_eq!(r[0].last_failure, "2023-11-14T22:13:20Z");
        assert_eq!(r[0].retry_after, "2023-11-14T22:13:40Z");
        assert_eq!(r[1].image, "nginx:9");
        assert!(!r[1].backing_off);
        assert_eq!(r[1].message, "manifest unknown");
    }

    #[test]
    fn registry_hosts_are_docker_s() {
        assert_eq!(registry_of("nginx"), "docker.io");
        assert_eq!(registry_of("library/nginx:1"), "docker.io");
        assert_eq!(
            registry_of("172.30.7.1:5443/private/web:1"),
            "172.30.7.1:5443"
        );
        assert_eq!(registry_of("registry.k8s.io/pause:3.9"), "registry.k8s.io");
        assert_eq!(registry_of("localhost/x"), "localhost");
    }

    #[test]
    fn references_split_into_from_image_and_tag() {
        assert_eq!(split_reference("nginx"), ("nginx", "latest"));
        assert_eq!(split_reference("nginx:1.14.2"), ("nginx", "1.14.2"));
        assert_eq!(
            split_reference("h:5443/private/web"),
            ("h:5443/private/web", "latest")
        );
        assert_eq!(split_reference("h:5443/p/w:1"), ("h:5443/p/w", "1"));
        assert_eq!(split_reference("nginx@sha256:abc"), ("nginx", "sha256:abc"));
        assert_eq!(
            split_reference("h:5443/w:1@sha256:abc"),
            ("h:5443/w", "sha256:abc")
        );
    }

    #[test]
    fn credentials_match_the_registry_by_host() {
        let c = cfg(
            r#"{"auths":{"https://h:5443/v1/":{"username":"u","password":"p w"},"index.docker.io":{"auth":"aHViOnNlY3JldA=="}}}"#,
        );
        let a = auth_for(&c, "h:5443").unwrap();
        assert_eq!((a.username.as_str(), a.password.as_str()), ("u", "p w"));
        assert_eq!(a.server, "h:5443");
        let hub = auth_for(&c, "docker.io").unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("hub", "secret")
        );
        assert!(auth_for(&c, "other:5000").is_none());
        assert!(auth_for(b"not json", "h:5443").is_none());
        assert!(
            !format!("{a:?}").contains("p w"),
            "Debug hides the password"
        );
    }

    #[test]
    fn the_authenticated_step_carries_the_credential_only_on_stdin() {
        let auth = Auth {
            username: "u".into(),
            password: "s3cret-pw".into(),
            server: "h:5443".into(),
        };
        let plain = pull_cmd("h:5443/private/web:1", PullPolicy::IfNotPresent);
        let step = with_auth(&plain, &auth).unwrap();
        assert!(step.sensitive && step.mutating);
        assert!(step.args.iter().all(|a| !a.contains("s3cret")), "{step:?}");
        assert_eq!(pulled_image(&step), Some("h:5443/private/web:1"));
        assert_eq!(pulled_policy(&step), Some("IfNotPresent"));
        let stdin = step.stdin.as_deref().unwrap();
        assert!(stdin.starts_with(
            "POST /images/create?fromImage=h%3A5443%2Fprivate%2Fweb&tag=1 HTTP/1.1\r\n"
        ));
        let header = stdin
            .lines()
            .find_map(|l| l.strip_prefix("X-Registry-Auth: "))
            .unwrap()
            .trim();
        let json: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE
                .decode(header)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(json["password"], "s3cret-pw");
        assert_eq!(json["serveraddress"], "h:5443");
        // Never pulls nothing, so it needs no credential.
        assert!(with_auth(&pull_cmd("h:5443/x:1", PullPolicy::Never), &auth).is_none());
    }
}
