//! The Git source: a ref → the manifest files of one commit, read straight from the object database
//! (no checkout, works on bare repositories), plus which of those paths have uncommitted changes.
//! Owns no parsing: bytes go to `manifest::parse`. [`load`] is the entry point of the commands: `--repo` is
//! a local path or a remote URL (`remote`: a per-user cache fetched on every run, `ssh_git`: Git over the
//! system's `ssh`, `https_git`: https through the system's `git` with a token from the environment), the
//! commit may have to be signed by an allowed key (`signed`), and a missing apps directory is refused
//! unless `--allow-empty` (docs/git-sources.md).

mod https_git;
mod remote;
mod signed;
mod ssh_git;

use std::path::{Path, PathBuf};

use crate::yaml::{Diagnostic, Severity, SourceRef, escape_controls as esc};
use git2::{ObjectType, Repository, Status, StatusOptions, TreeWalkMode, TreeWalkResult};

use crate::manifest::RawFile;

/// The manifest files of one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTree {
    /// Full hex id of the commit.
    pub commit: String,
    /// First 7 hex digits.
    pub short: String,
    /// `*.yaml` and `*.yml` under the directory, recursively, sorted by path.
    pub files: Vec<RawFile>,
    /// Paths under the directory with uncommitted changes (index or work tree, untracked included), sorted.
    /// Always empty for a bare repository.
    pub dirty: Vec<String>,
    /// Entries under the directory that were not read, and why, sorted by path.
    pub skipped: Vec<Skipped>,
    /// The remote URL (credentials removed) when `--repo` was one; the commit came from its cache.
    pub remote: Option<String>,
    /// Who signed the commit, when `--require-signed` verified it (the allowed signer's principal or key).
    pub signer: Option<String>,
    /// The apps directory does not exist in the commit and `--allow-empty` made that "no manifests".
    pub missing_dir: bool,
}

/// How [`load`] reads a commit (the global flags `--allow-empty`, `--require-signed`, `--allowed-signers`,
/// `--gpg-keyring`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// A commit without the apps directory means "no manifests" (remove everything) instead of an error.
    pub allow_empty: bool,
    /// The commit must carry a signature by one of the allowed keys.
    pub require_signed: bool,
    /// ssh-keygen `allowed_signers` file (SSH signatures, `ssh-keygen -Y verify`).
    pub allowed_signers: Option<PathBuf>,
    /// A GPG keyring of allowed keys (OpenPGP signatures, `gpgv --keyring`).
    pub gpg_keyring: Option<PathBuf>,
}

pub use remote::{is_remote, redact};

/// Reads the manifests of `git_ref` from `repo` (a local path or a remote URL) as the commands do:
/// fetches a remote into its cache first, verifies the signature when asked, and turns a missing apps
/// directory into an empty tree only with `allow_empty`.
pub fn load(
    repo: &Path,
    git_ref: &str,
    dir: &str,
    opts: &Options,
) -> Result<SourceTree, SourceError> {
    let url = repo.to_str().filter(|r| is_remote(r));
    let (path, shown) = match url {
        Some(url) => (remote::sync(url)?, Some(redact(url))),
        None => (repo.to_path_buf(), None),
    };
    let rename = |e: SourceError| match &shown {
        Some(s) => e.shown_as(s),
        None => e,
    };
    let mut tree = read_or_empty(&path, git_ref, dir, opts).map_err(rename)?;
    if opts.require_signed {
        tree.signer = Some(signed::verify(&path, &tree.commit, opts).map_err(rename)?);
    }
    tree.remote = shown;
    Ok(tree)
}

fn read_or_empty(
    path: &Path,
    git_ref: &str,
    dir: &str,
    opts: &Options,
) -> Result<SourceTree, SourceError> {
    match read(path, git_ref, dir) {
        Err(SourceError::DirNotFound { commit, short, .. }) if opts.allow_empty => Ok(SourceTree {
            commit,
            short,
            files: Vec::new(),
            dirty: Vec::new(),
            skipped: Vec::new(),
            remote: None,
            signer: None,
            missing_dir: true,
        }),
        other => other,
    }
}

/// Limits of what one commit's manifest directory may hold (docs/manifests.md): far above real repositories,
/// low enough that reading them stays bounded.
pub mod limits {
    /// A manifest file larger than this is not read (`yaml::limits::MAX_FILE_BYTES`).
    pub const MAX_FILE_BYTES: usize = crate::yaml::limits::MAX_FILE_BYTES;
    /// Manifest files read per commit.
    pub const MAX_FILES: usize = 10_000;
    /// Bytes of all manifest files together.
    pub const MAX_TOTAL_BYTES: usize = 64 << 20;
}

/// An entry of the manifest directory that was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    /// An error (the commit cannot be deployed as it is) rather than a warning.
    pub error: bool,
    pub why: String,
}

impl Skipped {
    /// The entry as a diagnostic at `path:1:1`, beside the manifests' own.
    pub fn diagnostic(&self) -> Diagnostic {
        Diagnostic {
            source: SourceRef {
                file: self.path.clone(),
                line: 1,
                column: 1,
            },
            severity: if self.error {
                Severity::Error
            } else {
                Severity::Warning
            },
            field: String::new(),
            message: self.why.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{} is not inside a Git repository: {} (point --repo at the repository holding the manifests)", path.display(), source.message())]
    NotARepo {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("ref '{}' not found in {} (try a branch, a tag, a commit id or HEAD~1)", esc(git_ref), esc(&repo.display().to_string()))]
    RefNotFound {
        git_ref: String,
        repo: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("ref '{}' in {} does not point to a commit: {source}", esc(git_ref), esc(&repo.display().to_string()))]
    NotACommit {
        git_ref: String,
        repo: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("directory '{}' not found in commit {short} of {}: Git keeps no empty directories, so a commit whose apps directory is misspelt or lost looks like one with no apps; check `cluster.appsDir` in cluster.yaml and the commit, or pass --allow-empty to remove every app", esc(dir), esc(&repo.display().to_string()))]
    DirNotFound {
        dir: String,
        /// Full id of the commit that lacks it.
        commit: String,
        short: String,
        repo: PathBuf,
    },
    #[error("'{}' in commit {short} of {} is a file, not a directory", esc(dir), esc(&repo.display().to_string()))]
    NotADirectory {
        dir: String,
        short: String,
        repo: PathBuf,
    },
    #[error("reading {}: {source}", repo.display())]
    Git {
        repo: PathBuf,
        #[source]
        source: git2::Error,
    },
    /// `--repo` is a URL and fetching it failed (the message never holds credentials).
    #[error("cannot fetch {}: {message}", esc(url))]
    Fetch { url: String, message: String },
    /// `--require-signed`: the commit carries no signature, or none by an allowed key.
    #[error("commit {short} of {}: {message} (--require-signed); no host was contacted", esc(&repo.display().to_string()))]
    Signature {
        short: String,
        repo: PathBuf,
        message: String,
    },
}

impl SourceError {
    /// The same error naming the repository as `shown` (a remote URL) instead of its cache path.
    fn shown_as(self, shown: &str) -> SourceError {
        let p = PathBuf::from(shown);
        match self {
            SourceError::NotARepo { source, .. } => SourceError::NotARepo { path: p, source },
            SourceError::RefNotFound {
                git_ref, source, ..
            } => SourceError::RefNotFound {
                git_ref,
                repo: p,
                source,
            },
            SourceError::NotACommit {
                git_ref, source, ..
            } => SourceError::NotACommit {
                git_ref,
                repo: p,
                source,
            },
            SourceError::DirNotFound {
                dir, commit, short, ..
            } => SourceError::DirNotFound {
                dir,
                commit,
                short,
                repo: p,
            },
            SourceError::NotADirectory { dir, short, .. } => SourceError::NotADirectory {
                dir,
                short,
                repo: p,
            },
            SourceError::Git { source, .. } => SourceError::Git { repo: p, source },
            SourceError::Signature { short, message, .. } => SourceError::Signature {
                short,
                repo: p,
                message,
            },
            e @ SourceError::Fetch { .. } => e,
        }
    }
}

/// Normalise a repo-relative directory: no leading `./` or `/`, no trailing `/`; `.` and `` mean the root.
fn normalize_dir(dir: &str) -> String {
    let d = dir.trim().trim_matches('/');
    let d = d.strip_prefix("./").unwrap_or(d);
    if d == "." {
        String::new()
    } else {
        d.trim_end_matches('/').to_string()
    }
}

fn is_manifest(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// Read the `*.yaml|*.yml` files under `dir` (relative to the repository root) at `git_ref`.
/// The repository is discovered upward from `repo`.
pub fn read(repo: &Path, git_ref: &str, dir: &str) -> Result<SourceTree, SourceError> {
    let r = Repository::discover(repo).map_err(|source| SourceError::NotARepo {
        path: repo.to_path_buf(),
        source,
    })?;
    let repo_path = r.workdir().unwrap_or_else(|| r.path()).to_path_buf();
    let git_err = |source| SourceError::Git {
        repo: repo_path.clone(),
        source,
    };
    let object = r
        .revparse_single(git_ref)
        .map_err(|source| SourceError::RefNotFound {
            git_ref: git_ref.to_string(),
            repo: repo_path.clone(),
            source,
        })?;
    let commit = object
        .peel_to_commit()
        .map_err(|source| SourceError::NotACommit {
            git_ref: git_ref.to_string(),
            repo: repo_path.clone(),
            source,
        })?;
    let id = commit.id().to_string();
    let short = id[..7].to_string();
    let dir = normalize_dir(dir);
    let root_tree = commit.tree().map_err(git_err)?;
    let tree = if dir.is_empty() {
        root_tree
    } else {
        let entry = root_tree
            .get_path(Path::new(&dir))
            .map_err(|_| SourceError::DirNotFound {
                dir: dir.clone(),
                commit: id.clone(),
                short: short.clone(),
                repo: repo_path.clone(),
            })?;
        if entry.kind() != Some(ObjectType::Tree) {
            return Err(SourceError::NotADirectory {
                dir,
                short,
                repo: repo_path,
            });
        }
        entry
            .to_object(&r)
            .and_then(|o| o.peel_to_tree())
            .map_err(git_err)?
    };

    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut found: Vec<(String, git2::Oid)> = Vec::new();
    let mut skipped = Vec::new();
    tree.walk(TreeWalkMode::PreOrder, |parent, entry| {
        let path = || {
            format!(
                "{prefix}{parent}{}",
                String::from_utf8_lossy(entry.name_bytes())
            )
        };
        // Regular blobs only (0o100644 / 0o100755); say what else is skipped, as it may hold manifests.
        match entry.filemode() {
            0o100644 | 0o100755
                if entry.kind() == Some(ObjectType::Blob)
                    && is_manifest(&String::from_utf8_lossy(entry.name_bytes())) =>
            {
                found.push((path(), entry.id()));
            }
            0o120000 => skipped.push(Skipped {
                path: path(),
                error: false,
                why: "skipped: a symbolic link (clusterctl reads only regular files of the commit)"
                    .to_string(),
            }),
            0o160000 => skipped.push(Skipped {
                path: path(),
                error: false,
                why: "skipped: a Git submodule (clusterctl does not read other repositories)"
                    .to_string(),
            }),
            _ => {}
        }
        TreeWalkResult::Ok
    })
    .map_err(git_err)?;
    found.sort();
    let odb = r.odb().map_err(git_err)?;
    let mut files = Vec::with_capacity(found.len().min(limits::MAX_FILES));
    let mut total = 0usize;
    for (i, (path, oid)) in found.into_iter().enumerate() {
        if i == limits::MAX_FILES {
            skipped.push(Skipped {
                path,
                error: true,
                why: format!(
                    "more than {} manifest files under the apps directory; clusterctl reads at most {}",
                    limits::MAX_FILES,
                    limits::MAX_FILES
                ),
            });
            break;
        }
        // The size from the object header: a huge blob is refused without being read.
        let (size, _) = odb.read_header(oid).map_err(git_err)?;
        if size > limits::MAX_FILE_BYTES {
            skipped.push(Skipped {
                path,
                error: true,
                why: format!(
                    "file is {size} bytes, over the limit of {} MiB (split it into several files)",
                    limits::MAX_FILE_BYTES >> 20
                ),
            });
            continue;
        }
        total += size;
        if total > limits::MAX_TOTAL_BYTES {
            skipped.push(Skipped {
                path,
                error: true,
                why: format!(
                    "the manifest files pass {} MiB together, the most clusterctl reads from one commit",
                    limits::MAX_TOTAL_BYTES >> 20
                ),
            });
            break;
        }
        let blob = r.find_blob(oid).map_err(git_err)?;
        files.push(RawFile {
            path,
            bytes: blob.content().to_vec(),
        });
    }
    skipped.sort_by(|a, b| a.path.cmp(&b.path));

    let dirty = if r.is_bare() {
        Vec::new()
    } else {
        dirty_paths(&r, &dir).map_err(git_err)?
    };
    Ok(SourceTree {
        commit: id,
        short,
        files,
        dirty,
        skipped,
        remote: None,
        signer: None,
        missing_dir: false,
    })
}

fn dirty_paths(r: &Repository, dir: &str) -> Result<Vec<String>, git2::Error> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .exclude_submodules(true);
    if !dir.is_empty() {
        opts.pathspec(dir);
    }
    let statuses = r.statuses(Some(&mut opts))?;
    let prefix = format!("{dir}/");
    let mut out: Vec<String> = statuses
        .iter()
        .filter(|s| s.status() != Status::CURRENT && !s.status().contains(Status::IGNORED))
        .filter_map(|s| s.path().map(str::to_string))
        .filter(|p| dir.is_empty() || p.starts_with(&prefix) || p == dir)
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use git2::Signature;
    use std::fs;

    fn commit_all(r: &Repository, msg: &str) -> git2::Oid {
        let mut index = r.index().unwrap();
        index
            .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree_id = index.write_tree().unwrap();
        let tree = r.find_tree(tree_id).unwrap();
        let sig = Signature::now("t", "t@example.com").unwrap();
        let parents: Vec<git2::Commit> = r
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .into_iter()
            .collect();
        let parent_refs: Vec<&git2::Commit> = parents.iter().collect();
        r.commit(Some("HEAD"), &sig, &sig, msg, &tree, &parent_refs)
            .unwrap()
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn setup() -> (tempfile::TempDir, Repository) {
        let td = tempfile::tempdir().unwrap();
        let r = Repository::init(td.path()).unwrap();
        write(td.path(), "apps/b.yaml", "kind: B\n");
        write(td.path(), "apps/a.yml", "kind: A\n");
        write(td.path(), "apps/sub/c.yaml", "kind: C\n");
        write(td.path(), "apps/README.md", "not yaml\n");
        write(td.path(), "other/d.yaml", "kind: D\n");
        commit_all(&r, "first");
        (td, r)
    }

    fn paths(t: &SourceTree) -> Vec<&str> {
        t.files.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn reads_yaml_files_of_a_commit_recursively() {
        let (td, _r) = setup();
        let t = read(td.path(), "HEAD", "apps").unwrap();
        assert_eq!(
            paths(&t),
            vec!["apps/a.yml", "apps/b.yaml", "apps/sub/c.yaml"]
        );
        assert_eq!(t.files[1].bytes, b"kind: B\n");
        assert_eq!(t.commit.len(), 40);
        assert_eq!(t.short, &t.commit[..7]);
        assert!(t.dirty.is_empty(), "{:?}", t.dirty);
        // Variants of the directory spelling and discovery from a subdirectory.
        let t2 = read(&td.path().join("apps/sub"), "HEAD", "./apps/").unwrap();
        assert_eq!(paths(&t2), paths(&t));
        let all = read(td.path(), "HEAD", ".").unwrap();
        assert_eq!(all.files.len(), 4);
    }

    #[test]
    fn resolves_older_refs_and_reports_dirty_paths() {
        let (td, r) = setup();
        let first = r.head().unwrap().peel_to_commit().unwrap().id().to_string();
        r.tag_lightweight("v1", &r.revparse_single("HEAD").unwrap(), false)
            .unwrap();
        write(td.path(), "apps/b.yaml", "kind: B2\n");
        write(td.path(), "apps/new.yaml", "kind: N\n");
        commit_all(&r, "second");
        // Uncommitted changes: a modified file, an untracked file, one outside the dir.
        write(td.path(), "apps/a.yml", "kind: A-changed\n");
        write(td.path(), "apps/sub/untracked.yaml", "kind: U\n");
        write(td.path(), "other/d.yaml", "kind: D-changed\n");

        let head = read(td.path(), "HEAD", "apps").unwrap();
        assert_eq!(
            head.files
                .iter()
                .find(|f| f.path == "apps/b.yaml")
                .unwrap()
                .bytes,
            b"kind: B2\n"
        );
        // Committed content, not the work tree's.
        assert_eq!(head.files[0].bytes, b"kind: A\n");
        assert_eq!(head.dirty, vec!["apps/a.yml", "apps/sub/untracked.yaml"]);

        for r in ["HEAD~1", "v1", first.as_str(), &first[..8]] {
            let t = read(td.path(), r, "apps").unwrap();
            assert_eq!(t.commit, first, "{r}");
            assert_eq!(
                paths(&t),
                vec!["apps/a.yml", "apps/b.yaml", "apps/sub/c.yaml"]
            );
        }
    }

    #[test]
    fn helpful_errors() {
        let (td, _r) = setup();
        let e = read(td.path(), "nope", "apps").unwrap_err();
        assert!(matches!(e, SourceError::RefNotFound { .. }));
        assert!(e.to_string().starts_with("ref 'nope' not found in "), "{e}");
        let e = read(td.path(), "HEAD", "missing").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("directory 'missing' not found in commit "),
            "{e}"
        );
        let e = read(td.path(), "HEAD", "apps/b.yaml").unwrap_err();
        assert!(matches!(e, SourceError::NotADirectory { .. }), "{e}");
        let outside = tempfile::tempdir().unwrap();
        let e = read(outside.path(), "HEAD", "apps").unwrap_err();
        assert!(matches!(e, SourceError::NotARepo { .. }), "{e}");
    }

    #[test]
    fn a_missing_apps_dir_is_an_error_unless_allow_empty() {
        let (td, _r) = setup();
        let e = load(td.path(), "HEAD", "app", &Options::default()).unwrap_err();
        assert!(matches!(e, SourceError::DirNotFound { .. }), "{e}");
        assert!(e.to_string().contains("pass --allow-empty"), "{e}");
        let opts = Options {
            allow_empty: true,
            ..Options::default()
        };
        let t = load(td.path(), "HEAD", "app", &opts).unwrap();
        assert!(t.missing_dir && t.files.is_empty(), "{t:?}");
        assert_eq!(t.commit.len(), 40);
        // An existing directory is read as usual with the flag.
        let t = load(td.path(), "HEAD", "apps", &opts).unwrap();
        assert!(!t.missing_dir && t.files.len() == 3);
        // A file:// URL is a remote: fetched into the cache, read from there.
        let cache = tempfile::tempdir().unwrap();
        // SAFETY: this test alone reads CLUSTERCTL_CACHE_DIR, set before its only use.
        unsafe { std::env::set_var("CLUSTERCTL_CACHE_DIR", cache.path()) };
        let url = format!("file://{}", td.path().display());
        let t = load(Path::new(&url), "HEAD", "apps", &Options::default()).unwrap();
        assert_eq!(t.remote.as_deref(), Some(url.as_str()));
        assert_eq!(
            paths(&t),
            vec!["apps/a.yml", "apps/b.yaml", "apps/sub/c.yaml"]
        );
        let e = load(Path::new(&url), "HEAD", "app", &Options::default()).unwrap_err();
        assert!(e.to_string().contains(&format!("of {url}:")), "{e}");
    }

    #[test]
    fn bare_repositories_work() {
        let (td, _r) = setup();
        let bare_dir = tempfile::tempdir().unwrap();
        let bare = Repository::init_bare(bare_dir.path()).unwrap();
        let mut remote = bare.remote_anonymous(td.path().to_str().unwrap()).unwrap();
        remote
            .fetch(&["+refs/heads/*:refs/heads/*"], None, None)
            .unwrap();
        let head_branch = Repository::open(td.path())
            .unwrap()
            .head()
            .unwrap()
            .shorthand()
            .unwrap()
            .to_string();
        let t = read(bare_dir.path(), &head_branch, "apps").unwrap();
        assert_eq!(
            paths(&t),
            vec!["apps/a.yml", "apps/b.yaml", "apps/sub/c.yaml"]
        );
        assert!(t.dirty.is_empty());
    }
}
