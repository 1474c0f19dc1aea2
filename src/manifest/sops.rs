//! SOPS-encrypted manifests (the format Flux's kustomize-controller decrypts): a document whose top-level
//! `sops:` mapping holds the data key encrypted to age recipients, and whose values are
//! `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`. [`decrypt`] turns such a document tree into the plain tree
//! (positions kept, `sops:` removed) after checking the MAC; [`Keys`] holds the age identities the CLI
//! found in sops' own places (`SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, `~/.config/sops/age/keys.txt`).
//! Pure: the CLI reads the environment and files; this module only parses and decrypts (docs/secrets.md).
//!
//! The format, as sops writes it (read from its source, written here anew):
//! - each value is AES-256-GCM with a 32-byte IV under the 32-byte data key; its additional data is the
//!   value's path of mapping keys joined with `:` plus a trailing `:` (`stringData:password:`; a sequence
//!   adds nothing to the path);
//! - which values are encrypted: all, or per `unencrypted_suffix`, `encrypted_suffix`, `unencrypted_regex`,
//!   `encrypted_regex` tested against every key of the path;
//! - the MAC is SHA-512 over the plain values in document order (strings as bytes, booleans `True`/`False`,
//!   numbers in Go's shortest decimal form; nulls and comments not at all), upper-case hex, stored
//!   encrypted in `sops.mac` with `sops.lastmodified` as the additional data.

use std::io::Read;
use std::sync::Arc;

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use sha2::{Digest, Sha512};

use crate::yaml::{Entry, FieldPath, Node, NodeKind, Pos, Resolved, Scalar};

/// AES-256-GCM with sops' 32-byte nonce.
type Cipher = AesGcm<Aes256, U32>;

/// The bytes a `mac_only_encrypted` MAC starts with (a constant of the format, so such a MAC never equals
/// a MAC over all values).
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// The age identities available to decrypt data keys, and where they were looked for (for messages).
/// Never shows a secret key: `Debug` and messages name public keys and places only.
#[derive(Clone, Default)]
pub struct Keys {
    identities: Arc<Vec<::age::x25519::Identity>>,
    looked: Vec<String>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("recipients", &self.recipients())
            .field("looked", &self.looked)
            .finish()
    }
}

impl PartialEq for Keys {
    fn eq(&self, other: &Keys) -> bool {
        self.recipients() == other.recipients() && self.looked == other.looked
    }
}

impl Eq for Keys {}

impl Keys {
    /// Adds the identities of `text` found at `place` (`SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE=/p`, a path).
    /// As sops: empty lines and `#` comments are skipped; `many_per_line` (the environment variable) also
    /// splits lines at whitespace. A line that is no X25519 identity is noted by line number only.
    pub fn add(&mut self, place: &str, text: &str, many_per_line: bool) {
        let mut found = Vec::new();
        let mut bad = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = if many_per_line {
                line.split_whitespace().collect()
            } else {
                vec![line.trim()]
            };
            for w in words {
                match w.parse::<::age::x25519::Identity>() {
                    Ok(id) => found.push(id),
                    Err(_) => bad.push(n + 1),
                }
            }
        }
        let mut note = format!(
            "{place} ({} identit{})",
            found.len(),
            if found.len() == 1 { "y" } else { "ies" }
        );
        if !bad.is_empty() {
            let lines: Vec<String> = bad.iter().map(usize::to_string).collect();
            note.push_str(&format!(
                "; line {} is not an age X25519 identity (AGE-SECRET-KEY-1…)",
                lines.join(", ")
            ));
        }
        self.looked.push(note);
        Arc::make_mut(&mut self.identities).extend(found);
    }

    /// Notes a place that was looked at but held nothing usable (`SOPS_AGE_KEY_FILE=/p: not found`).
    pub fn note(&mut self, what: String) {
        self.looked.push(what);
    }

    /// The public keys (`age1…`) of the identities, in order.
    pub fn recipients(&self) -> Vec<String> {
        self.identities
            .iter()
            .map(|i| i.to_public().to_string())
            .collect()
    }

    fn describe(&self) -> String {
        if self.looked.is_empty() {
            "nothing was looked for".to_string()
        } else {
            self.looked.join(", ")
        }
    }
}

/// A problem of an encrypted document: where, which field, what. Messages never hold a decrypted value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub pos: Pos,
    pub path: FieldPath,
    pub message: String,
}

/// Whether `root` is a sops-encrypted document: a mapping with a top-level `sops` mapping.
pub fn is_encrypted(root: &Node) -> bool {
    matches!(root.get("sops"), Some(e) if e.value.as_map().is_some())
}

/// Which values sops encrypted, from the `sops:` metadata.
struct Rules {
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<regex::Regex>,
    encrypted_regex: Option<regex::Regex>,
    mac_only_encrypted: bool,
}

impl Rules {
    /// sops' `shouldBeEncrypted`, each later rule overriding the earlier ones.
    fn encrypted(&self, path: &[String]) -> bool {
        let mut enc = true;
        if let Some(s) = &self.unencrypted_suffix {
            if path.iter().any(|k| k.ends_with(s.as_str())) {
                enc = false;
            }
        }
        if let Some(s) = &self.encrypted_suffix {
            enc = path.iter().any(|k| k.ends_with(s.as_str()));
        }
        if let Some(r) = &self.unencrypted_regex {
            if path.iter().any(|k| r.is_match(k)) {
                enc = false;
            }
        }
        if let Some(r) = &self.encrypted_regex {
            enc = path.iter().any(|k| r.is_match(k));
        }
        enc
    }
}

fn problem(pos: Pos, path: &str, message: impl Into<String>) -> Problem {
    Problem {
        pos,
        path: FieldPath::parse(path),
        message: message.into(),
    }
}

/// The string of `sops.<key>`, if set.
fn meta_str<'n>(sops: &'n Node, key: &str) -> Option<(&'n str, Pos)> {
    let e = sops.get(key)?;
    match e.value.as_scalar()?.resolve() {
        Resolved::Str(s) if !s.is_empty() => Some((s, e.value.pos)),
        _ => None,
    }
}

/// The plain document of an encrypted one (see [`is_encrypted`]): every encrypted value replaced by its
/// plaintext at the same position, the `sops` entry removed. Fails, before anything is used, on a missing
/// or wrong identity, a value that does not decrypt, or a MAC that does not match.
pub fn decrypt(root: &Node, keys: &Keys) -> Result<Node, Vec<Problem>> {
    let Some(sops_entry) = root.get("sops") else {
        return Ok(root.clone());
    };
    let sops = &sops_entry.value;
    let rules = rules(sops)?;
    let key = data_key(sops, sops_entry.key_pos, keys)?;
    let mut hash = Sha512::new();
    if rules.mac_only_encrypted {
        hash.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    let mut problems = Vec::new();
    let mut walker = Walker {
        key: &key,
        rules: &rules,
        hash: &mut hash,
        problems: &mut problems,
    };
    let entries = root.as_map().unwrap_or_default();
    let mut out = Vec::with_capacity(entries.len());
    for e in entries.iter().filter(|e| e.key != "sops") {
        let mut path = vec![e.key.clone()];
        out.push(Entry {
            key: e.key.clone(),
            key_pos: e.key_pos,
            value: walker.node(&e.value, &mut path),
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let computed = hex::encode_upper(hash.finalize());
    let Some(mac) = sops.get("mac") else {
        return Err(vec![problem(
            sops_entry.key_pos,
            "sops.mac",
            "Required value: the file has no MAC, so its integrity cannot be verified (sops refuses it too)",
        )]);
    };
    let mac_pos = mac.value.pos;
    let stored = mac
        .value
        .as_scalar()
        .map(|s| s.text.as_str())
        .unwrap_or_default();
    let modified = meta_str(sops, "lastmodified").map_or(String::new(), |(s, _)| rfc3339(s));
    let stored = match open(stored, &key, modified.as_bytes()) {
        Ok((plain, _)) => String::from_utf8(plain).unwrap_or_default(),
        Err(why) => {
            return Err(vec![problem(
                mac_pos,
                "sops.mac",
                format!(
                    "cannot decrypt the MAC ({why}): sops.lastmodified or sops.mac was changed after encryption"
                ),
            )]);
        }
    };
    if stored != computed {
        return Err(vec![problem(
            mac_pos,
            "sops.mac",
            "MAC mismatch: a value, key or their order was changed after the file was encrypted (re-encrypt it with sops)",
        )]);
    }
    Ok(Node {
        pos: root.pos,
        kind: NodeKind::Map(Arc::new(out)),
    })
}

/// `sops.lastmodified` as sops formats it for the MAC's additional data (Go's RFC 3339: whole seconds).
fn rfc3339(s: &str) -> String {
    match (s.find('.'), s.len() >= 19) {
        (Some(dot), true) if dot == 19 => {
            let rest = &s[dot + 1..];
            let zone = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            format!("{}{zone}", &s[..dot])
        }
        _ => s.to_string(),
    }
}

fn rules(sops: &Node) -> Result<Rules, Vec<Problem>> {
    let regex = |key: &str| -> Result<Option<regex::Regex>, Vec<Problem>> {
        match meta_str(sops, key) {
            None => Ok(None),
            Some((r, pos)) => regex::Regex::new(r).map(Some).map_err(|e| {
                vec![problem(
                    pos,
                    &format!("sops.{key}"),
                    format!("invalid regular expression: {e}"),
                )]
            }),
        }
    };
    for key in ["encrypted_comment_regex", "unencrypted_comment_regex"] {
        if let Some((_, pos)) = meta_str(sops, key) {
            return Err(vec![problem(
                pos,
                &format!("sops.{key}"),
                "not supported: clusterctl decrypts files whose encrypted values are chosen by key (suffix or regex), not by comment",
            )]);
        }
    }
    let mac_only_encrypted = sops.get("mac_only_encrypted").is_some_and(|e| {
        e.value
            .as_scalar()
            .is_some_and(|s| s.resolve() == Resolved::Bool(true))
    });
    Ok(Rules {
        unencrypted_suffix: meta_str(sops, "unencrypted_suffix").map(|(s, _)| s.to_string()),
        encrypted_suffix: meta_str(sops, "encrypted_suffix").map(|(s, _)| s.to_string()),
        unencrypted_regex: regex("unencrypted_regex")?,
        encrypted_regex: regex("encrypted_regex")?,
        mac_only_encrypted,
    })
}

/// The data key: the first `sops.age[].enc` that one of the identities opens.
fn data_key(sops: &Node, sops_pos: Pos, keys: &Keys) -> Result<[u8; 32], Vec<Problem>> {
    let mut recipients = Vec::new();
    let mut stanzas = Vec::new();
    let age_pos = sops.get("age").map_or(sops_pos, |e| e.value.pos);
    for (i, item) in sops
        .get("age")
        .and_then(|e| e.value.as_seq())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let text = |k: &str| {
            item.get(k)
                .and_then(|e| e.value.as_scalar())
                .map(|s| s.text.clone())
        };
        recipients.push(text("recipient").unwrap_or_default());
        if let Some(enc) = text("enc") {
            stanzas.push((i, item.pos, enc));
        }
    }
    if stanzas.is_empty() {
        let others: Vec<&str> = [
            "pgp",
            "kms",
            "gcp_kms",
            "azure_kv",
            "hc_vault",
            "key_groups",
        ]
        .into_iter()
        .filter(|k| {
            sops.get(k).is_some_and(|e| {
                e.value.as_seq().is_some_and(|s| !s.is_empty())
                    || e.value.as_map().is_some_and(|m| !m.is_empty())
            })
        })
        .collect();
        let why = if others.is_empty() {
            "the file names no age recipient (sops.age is empty)".to_string()
        } else {
            format!(
                "the file's data key is encrypted with {} only; clusterctl decrypts age recipients only",
                others.join(", ")
            )
        };
        return Err(vec![problem(age_pos, "sops.age", why)]);
    }
    let identities: Vec<&dyn ::age::Identity> = keys
        .identities
        .iter()
        .map(|i| i as &dyn ::age::Identity)
        .collect();
    let mut broken = Vec::new();
    for (i, pos, enc) in &stanzas {
        let reader = ::age::armor::ArmoredReader::new(enc.as_bytes());
        let decryptor = match ::age::Decryptor::new(reader) {
            Ok(d) => d,
            Err(e) => {
                broken.push(problem(
                    *pos,
                    &format!("sops.age[{i}].enc"),
                    format!("not an age-encrypted data key: {e}"),
                ));
                continue;
            }
        };
        if identities.is_empty() {
            continue;
        }
        let Ok(mut plain) = decryptor.decrypt(identities.iter().copied()) else {
            continue;
        };
        let mut key = Vec::new();
        if plain.read_to_end(&mut key).is_ok() {
            if let Ok(key) = <[u8; 32]>::try_from(key.as_slice()) {
                return Ok(key);
            }
        }
        broken.push(problem(
            *pos,
            &format!("sops.age[{i}].enc"),
            "the age payload is not a 32-byte sops data key",
        ));
    }
    if !broken.is_empty() {
        return Err(broken);
    }
    let to = recipients
        .iter()
        .filter(|r| !r.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let message = if keys.identities.is_empty() {
        format!(
            "cannot decrypt the file's data key: no age identity found (looked in {}); it is encrypted to {to}. Set SOPS_AGE_KEY_FILE to the key file (or SOPS_AGE_KEY to the key)",
            keys.describe()
        )
    } else {
        format!(
            "cannot decrypt the file's data key: it is encrypted to {to}, and no identity found matches (looked in {}: {})",
            keys.describe(),
            keys.recipients().join(", ")
        )
    };
    Err(vec![problem(age_pos, "sops.age", message)])
}

/// Opens one `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` value: its plaintext bytes and type. The error says
/// why without echoing the value.
fn open(value: &str, key: &[u8; 32], aad: &[u8]) -> Result<(Vec<u8>, String), String> {
    let body = value
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|v| v.strip_suffix(']'))
        .ok_or("not an ENC[AES256_GCM,…] value")?;
    let mut data = None;
    let mut iv = None;
    let mut tag = None;
    let mut ty = None;
    for part in body.split(',') {
        let (k, v) = part.split_once(':').ok_or("malformed ENC[…] value")?;
        match k {
            "data" => data = Some(v),
            "iv" => iv = Some(v),
            "tag" => tag = Some(v),
            "type" => ty = Some(v),
            _ => return Err(format!("unknown part {k:?} in ENC[…] value")),
        }
    }
    let b64 = |name: &str, v: Option<&str>| -> Result<Vec<u8>, String> {
        let v = v.ok_or_else(|| format!("ENC[…] value without {name}"))?;
        base64::engine::general_purpose::STANDARD
            .decode(v)
            .map_err(|_| format!("the {name} of the ENC[…] value is not base64"))
    };
    let mut sealed = b64("data", data)?;
    let iv = b64("iv", iv)?;
    let tag = b64("tag", tag)?;
    let ty = ty.ok_or("ENC[…] value without type")?.to_string();
    if iv.len() != 32 || tag.len() != 16 {
        return Err("the iv or tag of the ENC[…] value has the wrong length".to_string());
    }
    sealed.extend_from_slice(&tag);
    let cipher = Cipher::new(key.into());
    let plain = cipher
        .decrypt(Nonce::<U32>::from_slice(&iv), Payload { msg: &sealed, aad })
        .map_err(|_| {
            "authentication failed: the value, its path or the data key does not match".to_string()
        })?;
    Ok((plain, ty))
}

struct Walker<'a> {
    key: &'a [u8; 32],
    rules: &'a Rules,
    hash: &'a mut Sha512,
    problems: &'a mut Vec<Problem>,
}

impl Walker<'_> {
    fn node(&mut self, node: &Node, path: &mut Vec<String>) -> Node {
        let kind = match &node.kind {
            NodeKind::Map(entries) => NodeKind::Map(Arc::new(
                entries
                    .iter()
                    .map(|e| {
                        path.push(e.key.clone());
                        let value = self.node(&e.value, path);
                        path.pop();
                        Entry {
                            key: e.key.clone(),
                            key_pos: e.key_pos,
                            value,
                        }
                    })
                    .collect(),
            )),
            // A sequence adds nothing to sops' path.
            NodeKind::Seq(items) => {
                NodeKind::Seq(Arc::new(items.iter().map(|n| self.node(n, path)).collect()))
            }
            NodeKind::Scalar(s) => NodeKind::Scalar(self.scalar(node.pos, s, path)),
        };
        Node {
            pos: node.pos,
            kind,
        }
    }

    fn scalar(&mut self, pos: Pos, s: &Scalar, path: &[String]) -> Scalar {
        let resolved = s.resolve();
        if resolved == Resolved::Null {
            return s.clone(); // sops neither encrypts nor hashes a null
        }
        let encrypted = self.rules.encrypted(path);
        let field = path.join(".");
        if !encrypted {
            if !self.rules.mac_only_encrypted {
                self.hash.update(mac_bytes_plain(s));
            }
            return s.clone();
        }
        let text = match resolved {
            Resolved::Str(t) => t,
            _ => {
                self.problems.push(problem(
                    pos,
                    &field,
                    "the value is not encrypted although the file's sops rules say it must be (changed after encryption?)",
                ));
                return s.clone();
            }
        };
        // sops leaves an empty string as it is.
        if text.is_empty() {
            return s.clone();
        }
        let aad = format!("{}:", path.join(":"));
        match open(text, self.key, aad.as_bytes()) {
            Ok((plain, ty)) => match typed(&plain, &ty) {
                Ok((scalar, mac)) => {
                    self.hash.update(mac);
                    scalar
                }
                Err(why) => {
                    self.problems
                        .push(problem(pos, &field, format!("cannot decrypt: {why}")));
                    s.clone()
                }
            },
            Err(why) => {
                self.problems
                    .push(problem(pos, &field, format!("cannot decrypt: {why}")));
                s.clone()
            }
        }
    }
}

/// The decrypted scalar of a plaintext of sops type `ty`, and its MAC bytes.
fn typed(plain: &[u8], ty: &str) -> Result<(Scalar, Vec<u8>), String> {
    let text = std::str::from_utf8(plain).map_err(|_| "the plaintext is not UTF-8".to_string())?;
    let quoted = |t: &str| Scalar {
        text: t.to_string(),
        plain: false,
        tag: None,
    };
    let bare = |t: String| Scalar {
        text: t,
        plain: true,
        tag: None,
    };
    Ok(match ty {
        "str" | "bytes" => (quoted(text), plain.to_vec()),
        "int" => {
            let i: i64 = text
                .parse()
                .map_err(|_| "an int value that is no integer")?;
            (bare(i.to_string()), i.to_string().into_bytes())
        }
        "float" => {
            let f: f64 = text
                .parse()
                .map_err(|_| "a float value that is no number")?;
            (bare(text.to_string()), go_float(f).into_bytes())
        }
        "bool" => {
            let b = match text {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
                "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
                _ => return Err("a bool value that is no boolean".to_string()),
            };
            let t = if b { "True" } else { "False" };
            (bare(t.to_string()), t.as_bytes().to_vec())
        }
        "time" => (bare(text.to_string()), plain.to_vec()),
        other => return Err(format!("unknown value type {other:?}")),
    })
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest decimal that reads back, never an exponent
/// (Rust's `Display` of f64 is the same).
fn go_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{f}")
    }
}

/// The MAC bytes of a value sops left unencrypted, typed as sops' YAML library (YAML 1.2 core schema:
/// `yes`/`on` stay strings) reads it.
fn mac_bytes_plain(s: &Scalar) -> Vec<u8> {
    if !s.plain || s.tag.as_deref() == Some("!!str") {
        return s.text.clone().into_bytes();
    }
    match s.text.as_str() {
        "true" | "True" | "TRUE" => return b"True".to_vec(),
        "false" | "False" | "FALSE" => return b"False".to_vec(),
        _ => {}
    }
    match s.resolve() {
        Resolved::Int(i) => i.to_string().into_bytes(),
        Resolved::Float(f) => go_float(f).into_bytes(),
        _ => s.text.clone().into_bytes(),
    }
}

#[cfg(test)]
#[path = "sops_tests.rs"]
mod tests;
