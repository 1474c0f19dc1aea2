//! scripts/lib.sh `apt_mirror`: the testbed's debootstrap mirror comes from the machine's apt sources
//! (one-line `.list` and deb822 `.sources`), never a built-in host name. Hermetic: bash on fixture dirs.

use std::path::Path;
use std::process::Command;

fn mirror(suite: &str, files: &[(&str, &str)]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sources.list.d")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lib.sh");
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"source "$1" && apt_mirror "$2" "$3""#)
        .args(["bash", lib.to_str().unwrap(), suite])
        .arg(dir.path())
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap().trim().to_string())
}

#[test]
fn one_line_sources_with_options_and_comments() {
    let list = "# deb http://commented.invalid/debian bookworm main\n\
                deb-src http://src.invalid/debian bookworm main\n\
                deb [ arch=amd64 signed-by=/k.gpg ] http://updates.invalid/debian/ bookworm-updates main\n\
                deb [arch=amd64] cdrom:[Debian]/ bookworm main\n\
                deb [arch=amd64] http://main.invalid/debian/ bookworm main # the one\n";
    assert_eq!(
        mirror("bookworm", &[("sources.list", list)]).as_deref(),
        Some("http://main.invalid/debian")
    );
}

#[test]
fn deb822_sources_skip_disabled_stanzas_and_read_continuations() {
    let sources = "Types: deb\nURIs: http://off.invalid/debian\nSuites: bookworm\nEnabled: no\n\n\
                   # a comment\ntypes: deb deb-src\nuris: https://a.invalid/debian/\n http://b.invalid/debian\n\
                   suites: trixie\n  bookworm\ncomponents: main\n";
    assert_eq!(
        mirror(
            "bookworm",
            &[
                ("sources.list.d/debian.sources", sources),
                (
                    "sources.list.d/x.list.disabled",
                    "deb http://disabled.invalid/d bookworm main\n"
                ),
            ]
        )
        .as_deref(),
        Some("https://a.invalid/debian")
    );
}

#[test]
fn the_suite_itself_wins_over_an_earlier_source_of_another_release() {
    let list = "deb http://old.invalid/debian bullseye main\n\
                deb http://main.invalid/debian bookworm main\n";
    assert_eq!(
        mirror("bookworm", &[("sources.list", list)]).as_deref(),
        Some("http://main.invalid/debian")
    );
}

#[test]
fn another_release_main_suite_serves_when_the_suite_is_not_listed() {
    let sources = "Types: deb\nURIs: http://sec.invalid/debian-security\nSuites: trixie-security\n\n\
                   Types: deb\nURIs: http://main.invalid/debian\nSuites: trixie trixie-updates\n";
    assert_eq!(
        mirror("bookworm", &[("sources.list.d/debian.sources", sources)]).as_deref(),
        Some("http://main.invalid/debian")
    );
}

#[test]
fn no_usable_source_is_a_failure_not_a_default() {
    assert_eq!(mirror("bookworm", &[]), None);
    let only_security = "deb http://sec.invalid/debian-security bookworm-security main\n";
    assert_eq!(mirror("bookworm", &[("sources.list", only_security)]), None);
}
