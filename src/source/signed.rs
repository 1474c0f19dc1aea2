//! `--require-signed`: the commit at `--ref` must carry a signature by an allowed key, checked offline
//! before any host is contacted. SSH signatures (`gpg.format=ssh`) are checked by `ssh-keygen -Y
//! find-principals` + `-Y verify` (namespace `git`) against an `allowed_signers` file, as `git verify-commit`
//! does; OpenPGP signatures by `gpgv` against a keyring of allowed keys. The signed payload is the commit
//! object without its `gpgsig` header (libgit2's `extract_signature`); it reaches the verifier on stdin and
//! in a private temporary directory, never in argv.

use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use git2::{Oid, Repository};

use super::{Options, SourceError};

/// A 0700 directory removed on drop, holding the signature and payload files of one check.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "clusterctl-verify-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a verifier with `stdin` as its input: (success, stdout, stderr).
fn run(
    program: &str,
    args: &[&std::ffi::OsStr],
    stdin: &[u8],
) -> Result<(bool, String, String), String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let Some(mut i) = child.stdin.take() {
        // A verifier that stops reading early fails on its own; a broken pipe here says nothing more.
        let _ = i.write_all(stdin);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{program}: {e}"))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    ))
}

/// Verifies the signature of `commit` in the repository at `repo`; returns who signed it.
pub fn verify(repo: &Path, commit: &str, opts: &Options) -> Result<String, SourceError> {
    let short: String = commit.chars().take(7).collect();
    let fail = |message: String| SourceError::Signature {
        short: short.clone(),
        repo: repo.to_path_buf(),
        message,
    };
    if opts.allowed_signers.is_none() && opts.gpg_keyring.is_none() {
        return Err(fail(
            "no allowed keys given: pass --allowed-signers FILE (SSH) or --gpg-keyring FILE (GPG)"
                .into(),
        ));
    }
    let r = Repository::open(repo)
        .or_else(|_| Repository::discover(repo))
        .map_err(|e| fail(e.message().to_string()))?;
    let oid = Oid::from_str(commit).map_err(|e| fail(e.message().to_string()))?;
    let (signature, payload) = match r.extract_signature(&oid, None) {
        Ok(x) => x,
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            return Err(fail("the commit is not signed".into()));
        }
        Err(e) => return Err(fail(e.message().to_string())),
    };
    let signature = signature.as_str().unwrap_or_default().to_string();
    let scratch = Scratch::new().map_err(|e| fail(format!("temporary directory: {e}")))?;
    let sig_file = scratch.0.join("commit.sig");
    std::fs::write(&sig_file, &signature).map_err(|e| fail(format!("temporary file: {e}")))?;
    if signature.starts_with("-----BEGIN SSH SIGNATURE-----") {
        let Some(allowed) = &opts.allowed_signers else {
            return Err(fail(
                "it is signed with an SSH key, but no --allowed-signers file was given".into(),
            ));
        };
        let (found, principals, said) = run(
            "ssh-keygen",
            &[
                "-Y".as_ref(),
                "find-principals".as_ref(),
                "-f".as_ref(),
                allowed.as_os_str(),
                "-s".as_ref(),
                sig_file.as_os_str(),
            ],
            b"",
        )
        .map_err(&fail)?;
        let principal = principals.lines().next().unwrap_or("").trim().to_string();
        if !found || principal.is_empty() {
            return Err(fail(format!(
                "its SSH signature is by a key not in {} ({})",
                allowed.display(),
                if said.is_empty() {
                    "no principal"
                } else {
                    &said
                }
            )));
        }
        let (good, said_out, said) = run(
            "ssh-keygen",
            &[
                "-Y".as_ref(),
                "verify".as_ref(),
                "-f".as_ref(),
                allowed.as_os_str(),
                "-I".as_ref(),
                principal.as_ref(),
                "-n".as_ref(),
                "git".as_ref(),
                "-s".as_ref(),
                sig_file.as_os_str(),
            ],
            &payload,
        )
        .map_err(&fail)?;
        if !good {
            return Err(fail(format!(
                "its SSH signature does not verify: {}",
                if said.is_empty() {
                    said_out.trim()
                } else {
                    &said
                }
            )));
        }
        return Ok(principal);
    }
    if signature.starts_with("-----BEGIN PGP SIGNATURE-----") {
        let Some(keyring) = &opts.gpg_keyring else {
            return Err(fail(
                "it is signed with a GPG key, but no --gpg-keyring file was given".into(),
            ));
        };
        // gpgv looks a relative keyring up in ~/.gnupg: make it the file the user named.
        let keyring = std::fs::canonicalize(keyring)
            .map_err(|e| fail(format!("--gpg-keyring {}: {e}", keyring.display())))?;
        let (good, status, said) = run(
            "gpgv",
            &[
                "--status-fd".as_ref(),
                "1".as_ref(),
                "--keyring".as_ref(),
                keyring.as_os_str(),
                sig_file.as_os_str(),
                "-".as_ref(),
            ],
            &payload,
        )
        .map_err(&fail)?;
        let valid = status
            .lines()
            .find_map(|l| l.strip_prefix("[GNUPG:] VALIDSIG "))
            .and_then(|l| l.split_whitespace().next());
        return match (good, valid) {
            (true, Some(fpr)) => Ok(format!("GPG key {fpr}")),
            _ => Err(fail(format!(
                "its GPG signature is not by a key in {}: {}",
                keyring.display(),
                said.lines().last().unwrap_or("gpgv failed")
            ))),
        };
    }
    Err(fail("its signature is neither SSH nor OpenPGP".into()))
}
