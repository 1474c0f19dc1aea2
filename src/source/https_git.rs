//! Git over https for remote sources, through the system's `git` CLI (the bundled libgit2 has no TLS, and
//! Argo CD shells out to `git` as well): `git ls-remote` for the remote's default branch, then `git fetch`
//! into the same bare cache that `remote` made. TLS is always verified (the CA from Git's usual places:
//! `GIT_SSL_CAINFO`, `http.sslCAInfo`, the system store). Credentials: a token in `CLUSTERCTL_GIT_TOKEN`
//! (or the URL's user-info), handed to `git` by a credential helper that reads it from the environment, so
//! it is never on an argv, never written to disk (no other helper may store it) and scrubbed from every
//! message; without a token, the user's own Git credential configuration answers. Nothing prompts.

use std::path::Path;
use std::process::{Command, Stdio};

/// Environment: the token (password) sent to https remotes.
pub const TOKEN_ENV: &str = "CLUSTERCTL_GIT_TOKEN";
/// Environment: the user name sent with the token (default [`DEFAULT_USER`]).
pub const USERNAME_ENV: &str = "CLUSTERCTL_GIT_USERNAME";
/// The user name of a token without one: GitHub takes any name with a token, and documents this one.
pub const DEFAULT_USER: &str = "x-access-token";

/// The credential helper given to `git`: it answers `get` from the environment of the `git` process,
/// so the argv (visible in `ps`) holds only the variables' names; `store` and `erase` do nothing.
const HELPER: &str = "!f() { test \"$1\" = get || return 0; \
                      printf 'username=%s\\npassword=%s\\n' \"$CLUSTERCTL_GIT_USERNAME\" \"$CLUSTERCTL_GIT_TOKEN\"; }; f";

/// Where the credentials of one fetch come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub token: String,
}

/// Splits the user-info off an https URL: the URL `git` is given (no credentials) and what the URL held.
/// `https://user:tok@h/x` → user and token; `https://tok@h/x` → a lone user-info is a token (as
/// [`super::remote::redact`] reads it).
pub fn split_url(url: &str) -> (String, Option<String>, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None, None);
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_string(), None, None);
    };
    let bare = format!("{scheme}://{host}{path}");
    let nonempty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    match userinfo.split_once(':') {
        Some((user, token)) => (bare, nonempty(user), nonempty(token)),
        None => (bare, None, nonempty(userinfo)),
    }
}

/// The credentials of a fetch: the URL's token, else `CLUSTERCTL_GIT_TOKEN`; none means the user's own
/// Git credential configuration answers.
pub fn credentials(
    url_user: Option<String>,
    url_token: Option<String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Credentials>, String> {
    let Some(token) = url_token.or_else(|| env(TOKEN_ENV).filter(|t| !t.is_empty())) else {
        return Ok(None);
    };
    let user = url_user
        .or_else(|| env(USERNAME_ENV).filter(|u| !u.is_empty()))
        .unwrap_or_else(|| DEFAULT_USER.to_string());
    // Git's credential protocol is line based: a newline would let the value say more than a password.
    if token.contains(['\n', '\r', '\0']) || user.contains(['\n', '\r', '\0']) {
        return Err(format!(
            "{TOKEN_ENV} or {USERNAME_ENV} holds a line break; it cannot be a token"
        ));
    }
    Ok(Some(Credentials { user, token }))
}

/// The `git` arguments every call starts with: TLS verified, https only, and with credentials, this
/// helper alone (the empty value first clears the user's helpers, so none of them stores the token).
pub fn base_args(with_token: bool) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut c = |kv: &str| {
        a.push("-c".into());
        a.push(kv.into());
    };
    c("http.sslVerify=true");
    c("protocol.allow=never");
    c("protocol.https.allow=always");
    if with_token {
        c("credential.helper=");
        c(&format!("credential.helper={HELPER}"));
    }
    a
}

/// The refspecs of a fetch: the same mapping as the ssh and file transports (`remote::sync`).
pub const REFSPECS: [&str; 3] = [
    "+refs/heads/*:refs/heads/*",
    "+refs/heads/*:refs/remotes/origin/*",
    "+refs/tags/*:refs/tags/*",
];

/// Runs `git` with the credentials in its environment only; its stderr is the error, scrubbed.
fn git(args: &[String], creds: Option<&Credentials>) -> Result<String, String> {
    let mut cmd = Command::new("git");
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        // Verification is never switched off from the environment behind the user's back.
        .env_remove("GIT_SSL_NO_VERIFY")
        .env_remove(TOKEN_ENV)
        .env_remove(USERNAME_ENV);
    if let Some(c) = creds {
        cmd.env(TOKEN_ENV, &c.token).env(USERNAME_ENV, &c.user);
    }
    let out = cmd.output().map_err(|e| {
        format!("cannot run git (https remotes are fetched with the system's git): {e}")
    })?;
    let scrub = |s: &[u8]| {
        let s = String::from_utf8_lossy(s).into_owned();
        match creds {
            Some(c) => s.replace(&c.token, "***"),
            None => s,
        }
    };
    if out.status.success() {
        return Ok(scrub(&out.stdout));
    }
    let said = scrub(&out.stderr);
    let lines: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    Err(if lines.is_empty() {
        format!("git exited with {}", out.status)
    } else {
        lines.join("; ")
    })
}

/// The branch the remote's `HEAD` names, from `git ls-remote --symref` output.
pub fn symref_head(ls_remote: &str) -> Option<String> {
    ls_remote.lines().find_map(|l| {
        let rest = l.strip_prefix("ref: ")?;
        let (target, name) = rest.split_once('\t')?;
        (name.trim() == "HEAD" && target.starts_with("refs/heads/")).then(|| target.to_string())
    })
}

/// Fetches `url` (https) into the bare repository `dir`; returns the remote's default branch, if any.
pub fn fetch(dir: &Path, url: &str) -> Result<Option<String>, String> {
    let (bare, user, token) = split_url(url);
    let creds = credentials(user, token, |k| std::env::var(k).ok())?;
    let base = base_args(creds.is_some());
    let mut ls = base.clone();
    ls.extend(["ls-remote", "--symref", "--", &bare, "HEAD"].map(String::from));
    let head = symref_head(&git(&ls, creds.as_ref())?);
    let mut f = base;
    f.push("--git-dir".into());
    f.push(dir.display().to_string());
    f.extend(
        [
            "fetch",
            "--quiet",
            "--prune",
            "--no-write-fetch-head",
            "--no-auto-gc",
            "--",
            &bare,
        ]
        .map(String::from),
    );
    f.extend(REFSPECS.map(String::from));
    git(&f, creds.as_ref())?;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_credentials_off_the_url() {
        assert_eq!(
            split_url("https://ci:s3cret@git.example.com/ops/apps.git"),
            (
                "https://git.example.com/ops/apps.git".into(),
                Some("ci".into()),
                Some("s3cret".into())
            )
        );
        assert_eq!(
            split_url("https://ghp_tok@h:8443/x.git"),
            ("https://h:8443/x.git".into(), None, Some("ghp_tok".into()))
        );
        assert_eq!(
            split_url("https://h/x.git"),
            ("https://h/x.git".into(), None, None)
        );
    }

    #[test]
    fn the_token_comes_from_the_url_else_the_environment() {
        let env = |k: &str| match k {
            TOKEN_ENV => Some("envtok".to_string()),
            _ => None,
        };
        let c = credentials(None, None, env).unwrap().unwrap();
        assert_eq!(
            (c.user.as_str(), c.token.as_str()),
            (DEFAULT_USER, "envtok")
        );
        let c = credentials(Some("me".into()), Some("urltok".into()), env)
            .unwrap()
            .unwrap();
        assert_eq!((c.user.as_str(), c.token.as_str()), ("me", "urltok"));
        assert_eq!(credentials(None, None, |_| None).unwrap(), None);
        let bad = credentials(None, Some("a\npassword=b".into()), |_| None).unwrap_err();
        assert!(!bad.contains("password=b"), "{bad}");
    }

    #[test]
    fn the_argv_never_holds_the_token_and_clears_other_helpers() {
        let a = base_args(true);
        let joined = a.join(" ");
        assert!(joined.contains("http.sslVerify=true"));
        let helpers: Vec<&String> = a
            .iter()
            .filter(|s| s.starts_with("credential.helper="))
            .collect();
        assert_eq!(helpers.len(), 2);
        assert_eq!(helpers[0], "credential.helper=");
        assert!(helpers[1].contains("\"$CLUSTERCTL_GIT_TOKEN\""));
        assert!(!base_args(false).join(" ").contains("credential"));
    }

    #[test]
    fn reads_the_default_branch_of_ls_remote() {
        let out = "ref: refs/heads/main\tHEAD\n1a2b\tHEAD\n";
        assert_eq!(symref_head(out).as_deref(), Some("refs/heads/main"));
        assert_eq!(symref_head("1a2b\tHEAD\n"), None);
    }
}
