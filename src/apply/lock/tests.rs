use super::*;
use crate::cmd::Cmd;
use crate::transport::Output;
use crate::transport::fake::FakeConnector;

fn holder() -> Holder {
    Holder {
        user: "u".into(),
        machine: "m".into(),
        commit: "c".into(),
        started: "2026-01-01T00:00:00Z".into(),
        pid: 1,
        id: "0123456789ab".into(),
        ci_job_url: None,
        ttl_seconds: Some(60),
    }
}

fn spec(hosts: &[&str], ttl: Duration) -> LockSpec {
    LockSpec {
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        ttl,
    }
}

fn transports(fake: &FakeConnector, hosts: &[&str]) -> BTreeMap<String, Arc<dyn Transport>> {
    hosts
        .iter()
        .map(|h| (h.to_string(), fake.transport(h) as Arc<dyn Transport>))
        .collect()
}

fn op(c: &Cmd) -> Option<&str> {
    (c.program == "sh" && c.args.get(1).map(String::as_str) == Some(script::SCRIPT))
        .then(|| c.args[3].as_str())
}

/// True when the last lock command run on `host` released it.
fn released(fake: &FakeConnector, host: &str) -> bool {
    fake.commands(host)
        .iter()
        .rfind(|c| matches!(op(c), Some("acquire" | "release")))
        .is_some_and(|c| op(c) == Some("release"))
}

fn held_by_alice() -> Result<Output, crate::transport::TransportError> {
    Ok(Output {
        status: script::HELD,
        stdout: b"now 1000\nlease feedfacecafe 61000\nholder {\"user\":\"alice\",\"machine\":\"laptop\",\"commit\":\"abc1234\",\"started\":\"2026-01-01T00:00:00Z\",\"pid\":7,\"id\":\"feedfacecafe\"}\n".to_vec(),
        stderr: Vec::new(),
    })
}

const ABC: [&str; 3] = ["a", "b", "c"];

#[tokio::test(flavor = "multi_thread")]
async fn an_early_error_return_releases_the_lock() {
    let fake = FakeConnector::new();
    let t = transports(&fake, &ABC);
    let s = spec(&ABC, Duration::from_secs(60));
    async fn work(s: &LockSpec, t: &BTreeMap<String, Arc<dyn Transport>>) -> Result<(), String> {
        let _lock = acquire(s, t, &holder(), "apply")
            .await
            .map_err(|e| e.to_string())?;
        Err("something failed while holding the lock".to_string())?;
        Ok(())
    }
    assert!(work(&s, &t).await.is_err());
    assert!(ABC.iter().all(|h| released(&fake, h)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_releases_the_lock() {
    let fake = FakeConnector::new();
    let t = transports(&fake, &ABC);
    let s = spec(&ABC, Duration::from_secs(60));
    let task = tokio::spawn(async move {
        let _lock = acquire(&s, &t, &holder(), "apply").await.unwrap();
        panic!("a bug while holding the lock");
    });
    assert!(task.await.unwrap_err().is_panic());
    assert!(ABC.iter().all(|h| released(&fake, h)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_majority_is_enough_and_takes_are_sent_to_every_lock_host_only() {
    let fake = FakeConnector::new();
    fake.on(|h, c| h == "c" && op(c) == Some("acquire"), held_by_alice());
    let t = transports(&fake, &["a", "b", "c", "d"]);
    let lock = acquire(&spec(&ABC, Duration::from_secs(60)), &t, &holder(), "apply")
        .await
        .unwrap();
    assert_eq!(lock.hosts(), ["a", "b"]);
    assert!(fake.commands("d").is_empty(), "not a lock host");
    lock.finish("applied").await;
    let release = fake
        .commands("a")
        .into_iter()
        .find(|c| op(c) == Some("release"))
        .unwrap();
    let entry: audit::Entry = serde_json::from_str(release.stdin.as_deref().unwrap()).unwrap();
    assert_eq!(
        (
            entry.action.as_str(),
            entry.result.as_str(),
            entry.lock_id.as_str()
        ),
        ("apply", "applied", "0123456789ab")
    );
    assert!(
        !fake.commands("c").iter().any(|c| op(c) == Some("release")),
        "alice's lease is not ours to release"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_minority_is_refused_naming_the_holder_and_gives_back_what_it_took() {
    let fake = FakeConnector::new();
    fake.on(|h, c| h != "a" && op(c) == Some("acquire"), held_by_alice());
    let err = acquire(
        &spec(&ABC, Duration::from_secs(60)),
        &transports(&fake, &ABC),
        &holder(),
        "apply",
    )
    .await
    .err()
    .unwrap();
    let text = err.to_string();
    assert!(
        matches!(err, LockError::Held { ref host, ref id, .. } if host == "b" && id == "feedfacecafe"),
        "{text}"
    );
    assert!(
        text.contains("(on host b): held by alice@laptop (pid 7) applying commit abc1234 since 2026-01-01T00:00:00Z; lock id feedfacecafe, its lease expires in 60 s"),
        "{text}"
    );
    assert!(released(&fake, "a"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_lock_hosts_leave_no_quorum() {
    let fake = FakeConnector::new();
    let t = transports(&fake, &["a"]);
    let err = acquire(&spec(&ABC, Duration::from_secs(60)), &t, &holder(), "apply")
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            LockError::NoQuorum {
                needed: 2,
                total: 3,
                granted: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("b: not reached; c: not reached"),
        "{err}"
    );
    assert!(released(&fake, "a"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_host_cluster_locks_on_its_one_host() {
    let fake = FakeConnector::new();
    let lock = acquire(
        &spec(&["a"], Duration::from_secs(60)),
        &transports(&fake, &["a"]),
        &holder(),
        "apply",
    )
    .await
    .unwrap();
    assert_eq!(lock.hosts(), ["a"]);
    lock.release().await;
    assert!(released(&fake, "a"));
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_the_lease_on_a_majority_fires_the_stop_and_a_healthy_lease_renews() {
    let fake = FakeConnector::new();
    let t = transports(&fake, &ABC);
    let s = spec(&ABC, Duration::from_secs(3));
    let lock = acquire(&s, &t, &holder(), "apply").await.unwrap();
    let stop = lock.watch(&Stop::never(), Duration::from_secs(10));
    // Renewals succeed for a while: no stop.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fake.commands("a").iter().any(|c| op(c) == Some("renew")) {
        assert!(Instant::now() < deadline, "never renewed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!stop.requested() && lock.lost().is_none());
    // Then two hosts say the lease is not ours any more (released by force).
    fake.on(
        |h, c| h != "a" && op(c) == Some("renew"),
        Ok(Output {
            status: script::NOT_OURS,
            ..Default::default()
        }),
    );
    tokio::time::timeout(Duration::from_secs(20), stop.wait())
        .await
        .expect("the stop fired");
    assert!(
        lock.lost().unwrap().contains("no longer ours"),
        "{:?}",
        lock.lost()
    );
    lock.release().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn release_goes_once_per_host() {
    let fake = FakeConnector::new();
    let lock = acquire(
        &spec(&ABC, Duration::from_secs(60)),
        &transports(&fake, &ABC),
        &holder(),
        "apply",
    )
    .await
    .unwrap();
    lock.release().await;
    let releases = fake
        .all_commands()
        .into_iter()
        .filter(|(_, c)| op(c) == Some("release"))
        .count();
    assert_eq!(releases, 3);
}

#[test]
fn the_ci_job_comes_from_the_usual_variables_without_credentials() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    assert_eq!(
        ci_job_url(env(&[
            ("GITHUB_SERVER_URL", "https://github.com/"),
            ("GITHUB_REPOSITORY", "acme/infra"),
            ("GITHUB_RUN_ID", "42"),
            ("BUILD_URL", "https://jenkins/job/1/"),
        ])),
        Some("https://github.com/acme/infra/actions/runs/42".into())
    );
    assert_eq!(
        ci_job_url(env(&[(
            "CI_JOB_URL",
            "https://gitlab.example/a/b/-/jobs/7"
        )])),
        Some("https://gitlab.example/a/b/-/jobs/7".into())
    );
    assert_eq!(
        ci_job_url(env(&[(
            "BUILD_URL",
            "https://bot:s3cret@jenkins.example/job/x/9/"
        )])),
        Some("https://jenkins.example/job/x/9/".into())
    );
    assert_eq!(ci_job_url(env(&[])), None);
}

#[test]
fn lock_ids_are_twelve_hex_digits_and_differ() {
    let (a, b) = (new_id(), new_id());
    assert!(valid_id(&a) && valid_id(&b) && a != b, "{a} {b}");
    assert!(!valid_id("0123456789AB") && !valid_id("$(x)") && !valid_id(""));
}

#[test]
fn a_record_from_before_leases_reads_and_shows_as_before() {
    let h: Holder = serde_json::from_str(
        r#"{"user":"alice","machine":"laptop-7","commit":"abc1234","started":"2026-11-26T10:00:00Z","pid":4242}"#,
    )
    .unwrap();
    assert_eq!(
        h.to_string(),
        "held by alice@laptop-7 (pid 4242) applying commit abc1234 since 2026-11-26T10:00:00Z"
    );
    let mut evil = h.clone();
    evil.user = "a\x1b[31mb".into();
    assert!(!evil.to_string().contains('\x1b'));
}

#[test]
fn identity_comes_from_the_password_database_not_the_environment() {
    // The uid's entry in /etc/passwd (read independently of libc) is what getpwuid must give.
    let uid = unsafe { libc::getuid() };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let expected = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == uid.to_string())
        .map(|f| f[0].to_string())
        .unwrap_or_else(|| format!("uid {uid}"));
    let (user, machine) = local_identity();
    assert_eq!(user, expected);
    assert!(!machine.is_empty() && machine != "unknown-host");
}
