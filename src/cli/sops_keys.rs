//! The edge of SOPS decryption: finds the age identities where sops itself looks — `SOPS_AGE_KEY` (the
//! keys, several per line), `SOPS_AGE_KEY_FILE` (a key file) and the user's key file
//! `$XDG_CONFIG_HOME/sops/age/keys.txt` (else `~/.config/sops/age/keys.txt`) — for
//! [`crate::manifest::sops`]. A place that cannot be read is noted for the error message, which is shown
//! only when an encrypted document needs a key; nothing here fails.

use std::path::PathBuf;

use crate::manifest::sops::Keys;

pub fn load() -> Keys {
    let mut keys = Keys::default();
    match std::env::var("SOPS_AGE_KEY") {
        Ok(text) => keys.add("SOPS_AGE_KEY", &text, true),
        Err(_) => keys.note("SOPS_AGE_KEY (unset)".to_string()),
    }
    match std::env::var_os("SOPS_AGE_KEY_FILE") {
        Some(path) => read(&mut keys, "SOPS_AGE_KEY_FILE=", PathBuf::from(path), true),
        None => keys.note("SOPS_AGE_KEY_FILE (unset)".to_string()),
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(dir) = config {
        read(&mut keys, "", dir.join("sops/age/keys.txt"), false);
    }
    keys
}

/// Adds the key file at `path`; a missing default file is only noted, as sops does.
fn read(keys: &mut Keys, label: &str, path: PathBuf, required: bool) {
    let place = format!("{label}{}", path.display());
    match std::fs::read_to_string(&path) {
        Ok(text) => keys.add(&place, &text, false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            keys.note(format!("{place} (not found)"))
        }
        Err(e) => keys.note(format!("{place} (cannot read: {e})")),
    }
}
