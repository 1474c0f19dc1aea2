//! A SOPS/age encryptor for tests only (clusterctl itself only decrypts, and no sops binary exists here):
//! writes a document as sops would — values `ENC[AES256_GCM,data:…,iv:…,tag:…,type:str]` with the key path as
//! additional data, the SHA-512 MAC over the plain values encrypted under `lastmodified`, the data key
//! age-encrypted (ASCII armor) to each recipient. Written from the format (docs/secrets.md), shared by the
//! unit tests (`src/manifest/sops_tests.rs`) and the testbed tests through `#[path]`.
#![allow(dead_code)]

use std::io::Write;

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use sha2::{Digest, Sha256, Sha512};

/// A YAML value of a test document (strings only at the leaves: what a Secret holds).
pub enum V {
    S(String),
    M(Vec<(String, V)>),
    L(Vec<V>),
}

pub fn s(v: &str) -> V {
    V::S(v.to_string())
}

pub fn m(entries: Vec<(&str, V)>) -> V {
    V::M(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// How to encrypt: which values (`encrypted_regex` as Flux's docs write it, or every value but
/// `*_unencrypted` ones), to whom, with which data key and timestamp.
pub struct Sops<'a> {
    pub recipients: &'a [&'a str],
    pub encrypted_regex: Option<&'a str>,
    pub data_key: [u8; 32],
    pub lastmodified: &'a str,
}

impl Default for Sops<'_> {
    fn default() -> Self {
        Sops {
            recipients: &[],
            encrypted_regex: Some("^(data|stringData)$"),
            data_key: *b"clusterctl-test-sops-data-key-32",
            lastmodified: "2026-12-01T10:00:00Z",
        }
    }
}

/// A fresh age identity: (secret key `AGE-SECRET-KEY-1…`, recipient `age1…`).
pub fn identity() -> (String, String) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    (
        id.to_string().expose_secret().to_string(),
        id.to_public().to_string(),
    )
}

fn seal(key: &[u8; 32], plain: &[u8], aad: &str) -> String {
    // A deterministic IV (test fixtures only; sops draws a random one).
    let iv: [u8; 32] = Sha256::digest([aad.as_bytes(), b"\0", plain].concat()).into();
    let cipher = AesGcm::<Aes256, U32>::new(key.into());
    let out = cipher
        .encrypt(
            Nonce::<U32>::from_slice(&iv),
            Payload {
                msg: plain,
                aad: aad.as_bytes(),
            },
        )
        .expect("AES-GCM encrypts");
    let (data, tag) = out.split_at(out.len() - 16);
    let b = base64::engine::general_purpose::STANDARD;
    format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:str]",
        b.encode(data),
        b.encode(iv),
        b.encode(tag)
    )
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

struct Enc<'a> {
    opts: &'a Sops<'a>,
    regex: Option<regex::Regex>,
    mac: Sha512,
}

impl Enc<'_> {
    fn encrypted(&self, path: &[String]) -> bool {
        match &self.regex {
            Some(r) => path.iter().any(|k| r.is_match(k)),
            None => !path.iter().any(|k| k.ends_with("_unencrypted")),
        }
    }

    fn emit(&mut self, v: &V, path: &mut Vec<String>, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match v {
            V::S(_) => unreachable!("scalars are emitted by their parent"),
            V::M(entries) => {
                for (k, v) in entries {
                    path.push(k.clone());
                    match v {
                        V::S(x) => {
                            let x = self.leaf(x, path);
                            out.push_str(&format!("{pad}{}: {x}\n", quote(k)));
                        }
                        _ => {
                            out.push_str(&format!("{pad}{}:\n", quote(k)));
                            self.emit(v, path, indent + 2, out);
                        }
                    }
                    path.pop();
                }
            }
            V::L(items) => {
                for item in items {
                    match item {
                        V::S(x) => {
                            let x = self.leaf(x, path);
                            out.push_str(&format!("{pad}- {x}\n"));
                        }
                        _ => {
                            out.push_str(&format!("{pad}-\n"));
                            self.emit(item, path, indent + 2, out);
                        }
                    }
                }
            }
        }
    }

    fn leaf(&mut self, x: &str, path: &[String]) -> String {
        self.mac.update(x.as_bytes());
        if self.encrypted(path) && !x.is_empty() {
            seal(
                &self.opts.data_key,
                x.as_bytes(),
                &format!("{}:", path.join(":")),
            )
        } else {
            quote(x)
        }
    }
}

/// The armored age encryption of `data` to `recipients`.
pub fn age_armor(data: &[u8], recipients: &[&str]) -> String {
    let rs: Vec<age::x25519::Recipient> = recipients
        .iter()
        .map(|r| r.parse().expect("an age1… recipient"))
        .collect();
    let encryptor = age::Encryptor::with_recipients(rs.iter().map(|r| r as &dyn age::Recipient))
        .expect("recipients");
    let mut buf = Vec::new();
    let armor =
        age::armor::ArmoredWriter::wrap_output(&mut buf, age::armor::Format::AsciiArmor).unwrap();
    let mut w = encryptor.wrap_output(armor).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap().finish().unwrap();
    String::from_utf8(buf).unwrap()
}

/// The sops-encrypted YAML of `doc` (a mapping).
pub fn encrypt(doc: &V, opts: &Sops<'_>) -> String {
    let mut enc = Enc {
        opts,
        regex: opts
            .encrypted_regex
            .map(|r| regex::Regex::new(r).expect("a regex")),
        mac: Sha512::new(),
    };
    let mut out = String::new();
    enc.emit(doc, &mut Vec::new(), 0, &mut out);
    let mac = hex::encode_upper(enc.mac.finalize());
    out.push_str("sops:\n  age:\n");
    for r in opts.recipients {
        out.push_str(&format!("    - recipient: {r}\n      enc: |\n"));
        for line in age_armor(&opts.data_key, &[r]).lines() {
            out.push_str(&format!("        {line}\n"));
        }
    }
    out.push_str(&format!("  lastmodified: {}\n", quote(opts.lastmodified)));
    out.push_str(&format!(
        "  mac: {}\n",
        seal(&opts.data_key, mac.as_bytes(), opts.lastmodified)
    ));
    match opts.encrypted_regex {
        Some(r) => out.push_str(&format!("  encrypted_regex: {}\n", quote(r))),
        None => out.push_str("  unencrypted_suffix: _unencrypted\n"),
    }
    out.push_str("  version: 3.9.0\n");
    out
}

/// A Secret `namespace/name` with `stringData`, encrypted as Flux's docs do it (data and stringData only).
pub fn secret(name: &str, string_data: &[(&str, &str)], opts: &Sops<'_>) -> String {
    let doc = m(vec![
        ("apiVersion", s("v1")),
        ("kind", s("Secret")),
        ("metadata", m(vec![("name", s(name))])),
        ("type", s("Opaque")),
        (
            "stringData",
            V::M(
                string_data
                    .iter()
                    .map(|(k, v)| (k.to_string(), s(v)))
                    .collect(),
            ),
        ),
    ]);
    encrypt(&doc, opts)
}
