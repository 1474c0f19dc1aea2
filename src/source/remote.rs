//! Remote repositories: `--repo` given as a URL (`ssh://…`, `user@host:path`, `file://…`, `https://…`)
//! is cloned bare into a per-user cache and fetched on every run, so branches are
//! resolved as the remote has them now. The cache lives at `$XDG_CACHE_HOME/clusterctl/repos/<sha256 of
//! the URL>` (else `~/.cache/…`; `CLUSTERCTL_CACHE_DIR` overrides the root), every directory 0700; one fetch
//! at a time per repository (an `flock`). Credentials are never written there (an anonymous remote, no
//! config) and never shown: [`redact`] is the only way a URL reaches a message.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use git2::{AutotagOption, FetchOptions, FetchPrune, Repository};
use sha2::{Digest, Sha256};

use super::SourceError;

/// Whether `--repo` names a remote repository rather than a local path.
pub fn is_remote(repo: &str) -> bool {
    let lower = repo.to_ascii_lowercase();
    if ["ssh://", "file://", "https://", "http://", "git://"]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return true;
    }
    scp_like(repo).is_some()
}

/// `user@host:path` (Git's scp-like syntax): a `:` before any `/`, and something before it that is not a
/// single letter (so `C:/x` stays a path) and not a path itself.
pub(super) fn scp_like(repo: &str) -> Option<(&str, &str)> {
    let (host, path) = repo.split_once(':')?;
    if host.is_empty() || host.contains('/') || path.is_empty() || host.len() == 1 {
        return None;
    }
    if !host.contains('@') {
        return None;
    }
    Some((host, path))
}

/// The URL without a password or token: `https://user:secret@host/x` → `https://user@host/x`,
/// `https://token@host/x` → `https://host/x` (a lone user-info over https is a token).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let secretive = scheme.starts_with("http");
    let kept = match userinfo.split_once(':') {
        Some((user, _)) if !secretive || !user.is_empty() => format!("{user}@"),
        Some(_) => String::new(),
        None if secretive => String::new(),
        None => format!("{userinfo}@"),
    };
    format!("{scheme}://{kept}{host}{path}")
}

/// The cache root for remote repositories.
fn cache_root() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("CLUSTERCTL_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("repos"));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("clusterctl/repos"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".cache/clusterctl/repos")),
        None => Err("neither XDG_CACHE_HOME nor HOME is set; set CLUSTERCTL_CACHE_DIR".into()),
    }
}

/// The cache directory of `url`: the same URL (credentials aside) always maps to the same clone.
pub(super) fn cache_dir_for(root: &Path, url: &str) -> PathBuf {
    let digest = hex::encode(Sha256::digest(redact(url).as_bytes()));
    root.join(&digest[..32])
}

/// Directories made 0700 (the cache is per user: a clone may hold what only this user may read).
fn private_dirs(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}

/// An exclusive `flock` on a file, released on drop.
struct FetchLock(std::fs::File);

impl FetchLock {
    fn take(path: &Path) -> std::io::Result<FetchLock> {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        // SAFETY: flock on a descriptor this struct owns; it is released when the file closes.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(FetchLock(f))
    }
}

impl Drop for FetchLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is still open here.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Clones `url` into its cache (the first time) and fetches it: branches mirrored to `refs/heads/*` (and
/// `refs/remotes/origin/*`), tags to `refs/tags/*`, deleted branches pruned, `HEAD` set to the remote's
/// default branch. Returns the cache's path, a bare repository that `source::read` reads.
pub fn sync(url: &str) -> Result<PathBuf, SourceError> {
    let shown = redact(url);
    let fail = |message: String| SourceError::Fetch {
        url: shown.clone(),
        // Whatever libgit2 or ssh said, without the credentials of the URL given.
        message: message.replace(url, &shown),
    };
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("http://") {
        return Err(fail(
            "plain http:// would send the code and any token unprotected; use https://".into(),
        ));
    }
    let https = lower.starts_with("https://");
    if url.to_ascii_lowercase().starts_with("git://") {
        return Err(fail(
            "the unauthenticated git:// protocol is not supported; use ssh:// or file://".into(),
        ));
    }
    super::ssh_git::register().map_err(|e| fail(e.to_string()))?;
    let root = cache_root().map_err(&fail)?;
    private_dirs(&root).map_err(|e| fail(format!("cache {}: {e}", root.display())))?;
    let dir = cache_dir_for(&root, url);
    let _lock = FetchLock::take(&dir.with_extension("lock"))
        .map_err(|e| fail(format!("cache lock {}: {e}", dir.display())))?;
    let repo = match Repository::open_bare(&dir) {
        Ok(r) => r,
        Err(_) => {
            if dir.exists() {
                // A clone left half-made (e.g. an interrupted first fetch): start over.
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| fail(format!("cache {}: {e}", dir.display())))?;
            }
            private_dirs(&dir).map_err(|e| fail(format!("cache {}: {e}", dir.display())))?;
            Repository::init_bare(&dir).map_err(|e| fail(e.message().to_string()))?
        }
    };
    if https {
        // libgit2 here has no TLS: the system's git fetches into the same clone.
        let default = super::https_git::fetch(&dir, url).map_err(&fail)?;
        set_head(&repo, default).map_err(&fail)?;
        return Ok(dir);
    }
    let mut remote = repo
        .remote_anonymous(url)
        .map_err(|e| fail(e.message().to_string()))?;
    let mut opts = FetchOptions::new();
    opts.prune(FetchPrune::On)
        .download_tags(AutotagOption::All)
        .update_fetchhead(false);
    remote
        .fetch(
            &[
                "+refs/heads/*:refs/heads/*",
                "+refs/heads/*:refs/remotes/origin/*",
                "+refs/tags/*:refs/tags/*",
            ],
            Some(&mut opts),
            None,
        )
        .map_err(|e| fail(e.message().to_string()))?;
    // HEAD follows the remote's default branch (its advertised HEAD), as a fresh clone's would.
    let default = remote
        .default_branch()
        .ok()
        .and_then(|b| b.as_str().map(str::to_string));
    set_head(&repo, default).map_err(&fail)?;
    Ok(dir)
}

/// Points the clone's `HEAD` at the remote's default branch when the fetch brought it.
fn set_head(repo: &Repository, default: Option<String>) -> Result<(), String> {
    if let Some(branch) = default.filter(|b| b.starts_with("refs/heads/")) {
        if repo.find_reference(&branch).is_ok() {
            repo.set_head(&branch)
                .map_err(|e| e.message().to_string())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_urls_from_paths() {
        for r in [
            "ssh://git@example.com/x.git",
            "git@example.com:team/x.git",
            "file:///srv/x.git",
            "https://example.com/x.git",
            "SSH://h/x",
        ] {
            assert!(is_remote(r), "{r}");
        }
        for r in [
            ".",
            "apps",
            "/srv/x.git",
            "./a:b",
            "C:/repo",
            "dir/with:colon",
            "a:b",
        ] {
            assert!(!is_remote(r), "{r}");
        }
    }

    #[test]
    fn redacts_credentials() {
        assert_eq!(
            redact("https://user:s3cret@example.com/x.git"),
            "https://user@example.com/x.git"
        );
        assert_eq!(
            redact("https://ghp_token@example.com/x.git"),
            "https://example.com/x.git"
        );
        assert_eq!(
            redact("ssh://git@example.com:2222/x.git"),
            "ssh://git@example.com:2222/x.git"
        );
        assert_eq!(
            redact("ssh://git:pw@example.com/x"),
            "ssh://git@example.com/x"
        );
        assert_eq!(redact("file:///srv/x.git"), "file:///srv/x.git");
        assert_eq!(redact("git@h:x.git"), "git@h:x.git");
    }

    #[test]
    fn one_cache_dir_per_url_whatever_the_credentials() {
        let root = Path::new("/c");
        let a = cache_dir_for(root, "https://u:one@h/x.git");
        assert_eq!(a, cache_dir_for(root, "https://u:two@h/x.git"));
        assert_ne!(a, cache_dir_for(root, "https://h/y.git"));
        assert!(a.starts_with(root));
    }
}
