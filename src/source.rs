//! The desired state's source: a Git ref → the `*.yaml|*.yml` files under the apps directory of that
//! **commit**, read straight from the object database (no checkout, so uncommitted edits are never deployed),
//! plus the list of uncommitted changes under that directory so `plan` can say they are not included.

use std::path::{Path, PathBuf};

use git2::{ObjectType, Repository, Status, StatusOptions, TreeWalkMode, TreeWalkResult};

/// One manifest file as stored in the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFile {
    /// Repository-relative path, e.g. `apps/my_nginx.yaml`.
    pub path: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTree {
    /// Full hex id of the commit.
    pub commit: String,
    /// Abbreviated id (7 hex digits), for people.
    pub short: String,
    /// Sorted by path.
    pub files: Vec<RawFile>,
    /// Paths under the apps directory with uncommitted changes (index, work tree or untracked); empty for bare repos.
    pub dirty: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path} is not inside a Git repository: {reason}")]
    NotARepo { path: PathBuf, reason: String },
    #[error("ref '{git_ref}' not found in {repo}: {reason}")]
    BadRef { git_ref: String, repo: PathBuf, reason: String },
    #[error("directory '{dir}' does not exist in commit {commit} of {repo}")]
    NoDir { dir: String, commit: String, repo: PathBuf },
    #[error("reading {repo}: {reason}")]
    Git { repo: PathBuf, reason: String },
}

/// Reads the manifests under `dir` at `git_ref` (anything `git rev-parse` takes: `HEAD`, `main`, `v1`, a sha,
/// `HEAD~1`).
pub fn read(repo_path: &Path, git_ref: &str, dir: &str) -> Result<SourceTree, SourceError> {
    let repo = Repository::discover(repo_path)
        .map_err(|e| SourceError::NotARepo { path: repo_path.to_path_buf(), reason: e.message().to_string() })?;
    let root = repo.workdir().unwrap_or_else(|| repo.path()).to_path_buf();
    let git = |e: git2::Error| SourceError::Git { repo: root.clone(), reason: e.message().to_string() };
    let commit = repo
        .revparse_single(git_ref)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| SourceError::BadRef { git_ref: git_ref.to_string(), repo: root.clone(), reason: e.message().to_string() })?;
    let id = commit.id().to_string();
    let dir = dir.trim_matches('/');
    let tree = commit.tree().map_err(git)?;
    let sub = if dir.is_empty() || dir == "." {
        tree
    } else {
        let entry = tree
            .get_path(Path::new(dir))
            .map_err(|_| SourceError::NoDir { dir: dir.to_string(), commit: id[..7].to_string(), repo: root.clone() })?;
        entry
            .to_object(&repo)
            .and_then(|o| o.peel_to_tree())
            .map_err(|_| SourceError::NoDir { dir: dir.to_string(), commit: id[..7].to_string(), repo: root.clone() })?
    };
    let prefix = if dir.is_empty() || dir == "." { String::new() } else { format!("{dir}/") };
    let mut files = Vec::new();
    let mut failure = None;
    sub.walk(TreeWalkMode::PreOrder, |parent, entry| {
        let name = entry.name().unwrap_or_default();
        let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        if entry.kind() == Some(ObjectType::Blob) && is_yaml {
            match repo.find_blob(entry.id()) {
                Ok(blob) => files.push(RawFile { path: format!("{prefix}{parent}{name}"), bytes: blob.content().to_vec() }),
                Err(e) => {
                    failure = Some(e);
                    return TreeWalkResult::Abort;
                }
            }
        }
        TreeWalkResult::Ok
    })
    .map_err(git)?;
    if let Some(e) = failure {
        return Err(git(e));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let dirty = if repo.is_bare() { Vec::new() } else { dirty_paths(&repo, &prefix).map_err(git)? };
    Ok(SourceTree { short: id[..7].to_string(), commit: id, files, dirty })
}

fn dirty_paths(repo: &Repository, prefix: &str) -> Result<Vec<String>, git2::Error> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false);
    if !prefix.is_empty() {
        opts.pathspec(prefix);
    }
    let statuses = repo.statuses(Some(&mut opts))?;
    let mut out: Vec<String> = statuses
        .iter()
        .filter(|s| s.status() != Status::CURRENT && !s.status().is_ignored())
        .filter_map(|s| s.path().map(str::to_string))
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git").args(args).current_dir(dir).output().expect("git runs");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn repo_with_commits() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        git(d, &["init", "-q", "-b", "main"]);
        git(d, &["config", "user.email", "t@example.invalid"]);
        git(d, &["config", "user.name", "t"]);
        std::fs::create_dir_all(d.join("apps/sub")).unwrap();
        std::fs::write(d.join("apps/a.yaml"), "kind: Pod # v1\n").unwrap();
        std::fs::write(d.join("apps/sub/b.yml"), "kind: Pod\n").unwrap();
        std::fs::write(d.join("apps/notes.txt"), "not a manifest\n").unwrap();
        std::fs::write(d.join("README.md"), "x\n").unwrap();
        git(d, &["add", "-A"]);
        git(d, &["commit", "-qm", "one"]);
        std::fs::write(d.join("apps/a.yaml"), "kind: Pod # v2\n").unwrap();
        git(d, &["commit", "-qam", "two"]);
        t
    }

    #[test]
    fn reads_yaml_blobs_of_the_commit_not_the_work_tree() {
        let t = repo_with_commits();
        std::fs::write(t.path().join("apps/a.yaml"), "kind: Pod # uncommitted\n").unwrap();
        std::fs::write(t.path().join("apps/new.yaml"), "kind: Pod\n").unwrap();
        let s = read(t.path(), "HEAD", "apps").unwrap();
        let paths: Vec<&str> = s.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["apps/a.yaml", "apps/sub/b.yml"]);
        assert_eq!(s.files[0].bytes, b"kind: Pod # v2\n");
        assert_eq!(s.dirty, ["apps/a.yaml", "apps/new.yaml"]);
        assert_eq!(s.commit.len(), 40);
        assert_eq!(&s.commit[..7], s.short);

        let old = read(t.path(), "HEAD~1", "apps").unwrap();
        assert_eq!(old.files[0].bytes, b"kind: Pod # v1\n");
        assert_ne!(old.commit, s.commit);
    }

    #[test]
    fn clean_tree_has_no_dirty_paths_and_subdirs_are_found() {
        let t = repo_with_commits();
        let s = read(&t.path().join("apps/sub"), "main", "apps").unwrap();
        assert!(s.dirty.is_empty(), "{:?}", s.dirty);
    }

    #[test]
    fn errors_name_the_problem() {
        let t = repo_with_commits();
        let e = read(t.path(), "nope", "apps").unwrap_err().to_string();
        assert!(e.starts_with("ref 'nope' not found in "), "{e}");
        let e = read(t.path(), "HEAD", "manifests").unwrap_err().to_string();
        assert!(e.starts_with("directory 'manifests' does not exist in commit "), "{e}");
        let empty = tempfile::tempdir().unwrap();
        let e = read(empty.path(), "HEAD", "apps").unwrap_err().to_string();
        assert!(e.contains("is not inside a Git repository"), "{e}");
    }
}
