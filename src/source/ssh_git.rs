//! Git over SSH for remote sources, through the system's OpenSSH client (as `git` itself does), registered
//! as libgit2's `ssh` transport: `ssh://[user@]host[:port]/path` and `user@host:path`. So credentials come
//! from where OpenSSH takes them — the ssh-agent (`SSH_AUTH_SOCK`), `~/.ssh/id_*`, `~/.ssh/config` — or
//! from `CLUSTERCTL_GIT_SSH_KEY` (a key file, used alone); host keys are checked strictly against
//! `~/.ssh/known_hosts` or `CLUSTERCTL_GIT_KNOWN_HOSTS` (never trusted on first use); nothing prompts.
//! Fetch only: `git-upload-pack`, its path quoted once for the remote shell.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream, Transport};

/// Environment: a private key file used instead of the agent and the default keys.
pub const KEY_ENV: &str = "CLUSTERCTL_GIT_SSH_KEY";
/// Environment: the known_hosts file that holds the Git server's host key.
pub const KNOWN_HOSTS_ENV: &str = "CLUSTERCTL_GIT_KNOWN_HOSTS";

/// Where to connect and what to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// The repository path as the server's `git-upload-pack` takes it.
    pub path: String,
}

/// Parses an ssh URL or Git's scp-like `user@host:path`.
pub fn endpoint(url: &str) -> Result<Endpoint, String> {
    let (authority, path) = if let Some(rest) = url
        .strip_prefix("ssh://")
        .or_else(|| url.strip_prefix("SSH://"))
    {
        let i = rest
            .find('/')
            .ok_or_else(|| "an ssh URL needs a path: ssh://host/path".to_string())?;
        let path = &rest[i..];
        // `ssh://host/~/x` means `~/x` on the server, as with git.
        let path = path
            .strip_prefix("/~")
            .map_or(path.to_string(), |p| format!("~{p}"));
        (rest[..i].to_string(), path)
    } else if let Some((host, path)) = super::remote::scp_like(url) {
        (host.to_string(), path.to_string())
    } else {
        return Err("not an ssh URL".into());
    };
    let (user, hostport) = match authority.rsplit_once('@') {
        // A password in an ssh URL is never used (OpenSSH takes none on the command line).
        Some((u, h)) => (Some(u.split(':').next().unwrap_or(u).to_string()), h),
        None => (None, authority.as_str()),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (
            h.trim_matches(['[', ']']).to_string(),
            Some(p.parse::<u16>().map_err(|_| format!("bad port '{p}'"))?),
        ),
        _ => (hostport.trim_matches(['[', ']']).to_string(), None),
    };
    if host.is_empty() || host.starts_with('-') {
        return Err(format!("bad host '{host}'"));
    }
    if user
        .as_deref()
        .is_some_and(|u| u.is_empty() || u.starts_with('-'))
    {
        return Err("bad user name".into());
    }
    if path.is_empty() {
        return Err("an ssh URL needs a path".into());
    }
    Ok(Endpoint {
        user,
        host,
        port,
        path,
    })
}

/// The `ssh` argv that runs `git-upload-pack` for `e` (one element per argument; the remote command is the
/// one string the remote shell parses, its path quoted once).
pub fn argv(e: &Endpoint, key: Option<&str>, known_hosts: Option<&str>) -> Vec<String> {
    let mut a: Vec<String> = vec!["ssh".into()];
    for o in ["BatchMode=yes", "StrictHostKeyChecking=yes"] {
        a.push("-o".into());
        a.push(o.into());
    }
    if let Some(k) = key {
        a.extend([
            "-i".into(),
            k.into(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
        ]);
    }
    if let Some(k) = known_hosts {
        a.extend([
            "-o".into(),
            format!("UserKnownHostsFile={k}"),
            "-o".into(),
            "GlobalKnownHostsFile=/dev/null".into(),
        ]);
    }
    if let Some(p) = e.port {
        a.extend(["-p".into(), p.to_string()]);
    }
    if let Some(u) = &e.user {
        a.extend(["-l".into(), u.clone()]);
    }
    a.push("--".into());
    a.push(e.host.clone());
    a.push(format!(
        "git-upload-pack {}",
        shell_escape::unix::escape(e.path.as_str().into())
    ));
    a
}

/// Registers the transport once per process.
pub fn register() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        // SAFETY: called once (OnceLock), before any remote of this process uses the `ssh` prefix.
        unsafe {
            git2::transport::register("ssh", |remote| {
                Transport::smart(remote, false, SshSubtransport::default())
            })
        }
        .map_err(|e| e.message().to_string())
    })
    .clone()
}

#[derive(Default)]
struct SshSubtransport {
    conn: Mutex<Option<Arc<Mutex<Conn>>>>,
}

struct Conn {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    stderr: Arc<Mutex<String>>,
}

struct Stream(Arc<Mutex<Conn>>);

fn git_err(msg: impl std::fmt::Display) -> git2::Error {
    git2::Error::from_str(&msg.to_string())
}

impl SmartSubtransport for SshSubtransport {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        let mut slot = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        match action {
            Service::UploadPackLs => {}
            // Stateful: the negotiation goes on over the connection the advertisement came from.
            Service::UploadPack => {
                if let Some(c) = slot.as_ref() {
                    return Ok(Box::new(Stream(c.clone())));
                }
            }
            Service::ReceivePackLs | Service::ReceivePack => {
                return Err(git_err("clusterctl only fetches; it never pushes"));
            }
        }
        let e = endpoint(url).map_err(git_err)?;
        let key = std::env::var(KEY_ENV).ok().filter(|k| !k.is_empty());
        let known = std::env::var(KNOWN_HOSTS_ENV)
            .ok()
            .filter(|k| !k.is_empty());
        let args = argv(&e, key.as_deref(), known.as_deref());
        let mut child = Command::new(&args[0])
            .args(&args[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| git_err(format!("cannot run ssh: {err}")))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let sink = stderr.clone();
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = pipe.read_to_string(&mut s);
                sink.lock().unwrap_or_else(|e| e.into_inner()).push_str(&s);
            });
        }
        let conn = Arc::new(Mutex::new(Conn {
            stdin: child.stdin.take(),
            stdout: child.stdout.take().expect("piped stdout"),
            child,
            stderr,
        }));
        *slot = Some(conn.clone());
        Ok(Box::new(Stream(conn)))
    }

    fn close(&self) -> Result<(), git2::Error> {
        if let Some(c) = self.conn.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let mut c = c.lock().unwrap_or_else(|e| e.into_inner());
            c.stdin.take();
            let _ = c.child.kill();
            let _ = c.child.wait();
        }
        Ok(())
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = c.stdout.read(buf)?;
        if n == 0 {
            // The server side ended early: say what ssh said (host key, authentication, no such repo).
            let status = c.child.wait()?;
            std::thread::sleep(std::time::Duration::from_millis(50));
            let said = c.stderr.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let said = said.trim();
            if !status.success() || !said.is_empty() {
                return Err(std::io::Error::other(format!(
                    "ssh ended ({status}): {}",
                    if said.is_empty() { "no message" } else { said }
                )));
            }
        }
        Ok(n)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match c.stdin.as_mut() {
            Some(s) => s.write(buf),
            None => Err(std::io::Error::other("ssh connection closed")),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match c.stdin.as_mut() {
            Some(s) => s.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ssh_and_scp_like_urls() {
        assert_eq!(
            endpoint("ssh://git@example.com:2222/srv/apps.git").unwrap(),
            Endpoint {
                user: Some("git".into()),
                host: "example.com".into(),
                port: Some(2222),
                path: "/srv/apps.git".into()
            }
        );
        let e = endpoint("ssh://h/~/apps.git").unwrap();
        assert_eq!(
            (e.user, e.port, e.path.as_str()),
            (None, None, "~/apps.git")
        );
        let e = endpoint("root@172.30.3.10:repos/apps.git").unwrap();
        assert_eq!(e.user.as_deref(), Some("root"));
        assert_eq!(e.host, "172.30.3.10");
        assert_eq!(e.path, "repos/apps.git");
        let e = endpoint("ssh://git@[::1]:22/x").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", Some(22)));
        for bad in [
            "ssh://-oProxyCommand=x/y",
            "ssh://host",
            "ssh://h:99999/x",
            "ssh://-l@h/x",
        ] {
            assert!(endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_path_is_quoted_once_and_options_come_first() {
        let e = endpoint("ssh://git@h:2222/srv/a b';touch x'.git").unwrap();
        let a = argv(&e, Some("/k/id"), Some("/k/known"));
        assert_eq!(
            a,
            vec![
                "ssh",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-i",
                "/k/id",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "UserKnownHostsFile=/k/known",
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-p",
                "2222",
                "-l",
                "git",
                "--",
                "h",
                "git-upload-pack '/srv/a b'\\'';touch x'\\''.git'",
            ]
        );
    }
}
