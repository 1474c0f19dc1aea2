//! SOPS decryption against the test encryptor (tests/support/sops_encrypt.rs) and one file written by the
//! real sops (tests/fixtures/sops/).

use super::*;
use crate::manifest::{self, Object, Options, RawFile};

#[path = "../../tests/support/sops_encrypt.rs"]
mod enc;

fn keys_of(secret_key: &str) -> Keys {
    let mut k = Keys::default();
    k.add("SOPS_AGE_KEY", secret_key, true);
    k
}

fn parse(text: &str, keys: Keys) -> manifest::Parsed {
    manifest::parse_with(
        &[RawFile {
            path: "apps/db.yaml".to_string(),
            bytes: text.as_bytes().to_vec(),
        }],
        &Options {
            sops: keys,
            ..Options::default()
        },
    )
}

fn string_data(parsed: &manifest::Parsed) -> Vec<(String, String)> {
    let Some(Object::Secret(s)) = parsed.manifests.first().map(|m| &m.object) else {
        panic!("no Secret: {:?}", parsed.diagnostics);
    };
    // stringData is merged into data, as the API server does.
    s.data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), String::from_utf8(v.0.clone()).unwrap()))
        .collect()
}

fn messages(parsed: &manifest::Parsed) -> Vec<String> {
    parsed.diagnostics.iter().map(|d| d.to_string()).collect()
}

#[test]
fn decrypts_a_secret_encrypted_to_one_of_the_identities() {
    let (sk, rcpt) = enc::identity();
    let (_, other) = enc::identity();
    let text = enc::secret(
        "db",
        &[("password", "s3cr3t-sentinel"), ("user", "app")],
        &enc::Sops {
            recipients: &[&other, &rcpt],
            ..Default::default()
        },
    );
    assert!(text.contains("ENC[AES256_GCM,data:"), "{text}");
    assert!(!text.contains("s3cr3t-sentinel"));
    let parsed = parse(&text, keys_of(&sk));
    assert!(parsed.diagnostics.is_empty(), "{:?}", messages(&parsed));
    assert_eq!(
        string_data(&parsed),
        vec![
            ("password".to_string(), "s3cr3t-sentinel".to_string()),
            ("user".to_string(), "app".to_string())
        ]
    );
    // The object keeps where it was written.
    assert_eq!(parsed.manifests[0].source.line, 1);
}

#[test]
fn every_value_encrypted_without_a_regex() {
    let (sk, rcpt) = enc::identity();
    let text = enc::secret(
        "db",
        &[("password", "pw")],
        &enc::Sops {
            recipients: &[&rcpt],
            encrypted_regex: None,
            ..Default::default()
        },
    );
    assert!(!text.contains("Secret\n"), "kind is encrypted too: {text}");
    let parsed = parse(&text, keys_of(&sk));
    assert!(parsed.diagnostics.is_empty(), "{:?}", messages(&parsed));
    assert_eq!(string_data(&parsed)[0].1, "pw");
}

#[test]
fn a_file_written_by_the_real_sops_decrypts_and_its_mac_verifies() {
    let text = include_str!("../../tests/fixtures/sops/flux-age.yaml");
    let key = include_str!("../../tests/fixtures/sops/flux-age.txt");
    let mut keys = Keys::default();
    keys.add("SOPS_AGE_KEY_FILE=flux-age.txt", key, false);
    assert_eq!(
        keys.recipients(),
        vec!["age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29"]
    );
    let parsed = parse(text, keys);
    assert!(parsed.diagnostics.is_empty(), "{:?}", messages(&parsed));
    assert_eq!(
        string_data(&parsed),
        vec![("key".to_string(), "value".to_string())]
    );
}

#[test]
fn the_wrong_identity_is_an_error_naming_the_recipients_and_no_object_is_read() {
    let (_, rcpt) = enc::identity();
    let (wrong, wrong_pub) = enc::identity();
    let text = enc::secret(
        "db",
        &[("password", "s3cr3t-sentinel")],
        &enc::Sops {
            recipients: &[&rcpt],
            ..Default::default()
        },
    );
    let parsed = parse(&text, keys_of(&wrong));
    assert!(parsed.manifests.is_empty());
    let m = messages(&parsed);
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].starts_with("apps/db.yaml:"), "{m:?}");
    assert!(
        m[0].contains(": sops.age: cannot decrypt the file's data key"),
        "{m:?}"
    );
    assert!(m[0].contains(&rcpt) && m[0].contains(&wrong_pub), "{m:?}");
    assert!(
        !m[0].contains("AGE-SECRET-KEY") && !m[0].contains("sentinel"),
        "{m:?}"
    );
}

#[test]
fn no_identity_at_all_says_where_it_looked() {
    let (_, rcpt) = enc::identity();
    let text = enc::secret(
        "db",
        &[("password", "x")],
        &enc::Sops {
            recipients: &[&rcpt],
            ..Default::default()
        },
    );
    let mut keys = Keys::default();
    keys.note("SOPS_AGE_KEY (unset)".to_string());
    let m = messages(&parse(&text, keys));
    assert!(
        m[0].contains("no age identity found (looked in SOPS_AGE_KEY (unset))"),
        "{m:?}"
    );
    assert!(m[0].contains("SOPS_AGE_KEY_FILE"), "{m:?}");
}

#[test]
fn a_changed_plain_value_fails_the_mac() {
    let (sk, rcpt) = enc::identity();
    let text = enc::secret(
        "db",
        &[("password", "pw")],
        &enc::Sops {
            recipients: &[&rcpt],
            ..Default::default()
        },
    );
    let tampered = text.replace("\"db\"", "\"other\"");
    assert_ne!(tampered, text);
    let parsed = parse(&tampered, keys_of(&sk));
    assert!(parsed.manifests.is_empty());
    let m = messages(&parsed);
    assert!(m[0].contains("sops.mac: MAC mismatch"), "{m:?}");
}

#[test]
fn an_encrypted_value_moved_to_another_key_does_not_decrypt() {
    let (sk, rcpt) = enc::identity();
    let text = enc::secret(
        "db",
        &[("a", "one"), ("b", "two")],
        &enc::Sops {
            recipients: &[&rcpt],
            ..Default::default()
        },
    );
    // Swap the two ciphertexts: each is bound to its path (`stringData:a:`).
    let lines: Vec<&str> = text.lines().collect();
    let ia = lines.iter().position(|l| l.contains("\"a\": ENC")).unwrap();
    let ib = lines.iter().position(|l| l.contains("\"b\": ENC")).unwrap();
    let va = lines[ia].split_once(": ").unwrap().1;
    let vb = lines[ib].split_once(": ").unwrap().1;
    let mut swapped: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    swapped[ia] = format!("  \"a\": {vb}");
    swapped[ib] = format!("  \"b\": {va}");
    let parsed = parse(&(swapped.join("\n") + "\n"), keys_of(&sk));
    let m = messages(&parsed);
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(m[0].contains(&format!("apps/db.yaml:{}:", ia + 1)), "{m:?}");
    assert!(
        m[0].contains("stringData.a: cannot decrypt: authentication failed"),
        "{m:?}"
    );
}

#[test]
fn a_plain_document_is_untouched_and_keys_never_show_a_secret_key() {
    let (sk, _) = enc::identity();
    let keys = keys_of(&sk);
    assert!(!format!("{keys:?}").contains("AGE-SECRET-KEY"));
    let parsed = parse(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: p}\nstringData: {a: b}\n",
        keys,
    );
    assert!(parsed.diagnostics.is_empty());
    assert_eq!(string_data(&parsed), vec![("a".into(), "b".into())]);
}

#[test]
fn key_text_as_sops_reads_it() {
    let (a, pa) = enc::identity();
    let (b, pb) = enc::identity();
    let mut k = Keys::default();
    k.add("SOPS_AGE_KEY", &format!("# comment\n{a} {b}\n\n"), true);
    assert_eq!(k.recipients(), vec![pa.clone(), pb]);
    let mut f = Keys::default();
    f.add("f", &format!("{a}\nnot-a-key\n"), false);
    assert_eq!(f.recipients(), vec![pa]);
    assert!(format!("{f:?}").contains("line 2 is not an age X25519 identity"));
}

#[test]
fn rfc3339_drops_fractional_seconds() {
    assert_eq!(rfc3339("2024-11-12T13:33:42Z"), "2024-11-12T13:33:42Z");
    assert_eq!(
        rfc3339("2024-11-12T13:33:42.123456Z"),
        "2024-11-12T13:33:42Z"
    );
}
