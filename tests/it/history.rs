//! Revision history on the testbed (issue 10's acceptance 5, and the history lane): two commits changing
//! the image → `rollout history` lists both revisions with their commits and change causes, `get rs` lists
//! the old ReplicaSet with DESIRED 0; `rollout undo` prints the Git commands and changes nothing;
//! `rollout undo --apply` returns to the previous revision with zero failed requests through every host's
//! node port and never fewer than 4 running pods; a crashing update stops at its deadline and `describe
//! deploy` remembers Progressing=False/ProgressDeadlineExceeded; `apply --auto-rollback` returns to the
//! previous ReplicaSet and still exits 4; `revisionHistoryLimit` prunes the oldest scaled-down revision.
//!
//! Traffic goes only to the testbed's host addresses.

use crate::common::{Repo, Testbed, clusterctl, ok, reset, serial, table, unique};
use crate::rollout::{SURGE_ONE, Watch, counts, node_port, running};

/// A 4-replica Deployment `name` whose pods carry `run: my-nginx` (the seed Service's selector) and
/// whose container is `my-nginx` (what `running` counts).
fn deployment(name: &str, image: &str, cause: &str, extra: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  annotations:\n    kubernetes.io/change-cause: {cause}\nspec:\n  selector:\n    matchLabels:\n      run: my-nginx\n  replicas: 4\n  revisionHistoryLimit: 1\n{extra}  strategy:\n{SURGE_ONE}  template:\n    metadata:\n      labels:\n        run: my-nginx\n    spec:\n      terminationGracePeriodSeconds: 5\n      containers:\n      - name: my-nginx\n        image: {image}\n        ports:\n        - containerPort: 80\n"
    )
}

fn head(repo: &Repo) -> String {
    repo.git(&["rev-parse", "--short=7", "HEAD"])
        .trim()
        .to_string()
}

/// `rollout history` rows: (revision, commit, change cause).
fn history(tb: &Testbed, repo: &Repo, target: &str) -> Vec<(String, String, String)> {
    let out = ok(clusterctl(tb, repo, &["rollout", "history", target])).stdout;
    out.lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .map(|l| {
            let mut cells = l.split_whitespace();
            let rev = cells.next().unwrap_or_default().to_string();
            let commit = cells.next().unwrap_or_default().to_string();
            (rev, commit, cells.collect::<Vec<_>>().join(" "))
        })
        .collect()
}

#[test]
fn history_undo_and_auto_rollback_keep_every_request_served() {
    let _g = serial();
    let tb = Testbed::get();
    reset(&tb);
    let name = unique("hist");
    let target = format!("deploy/{name}");
    let repo = Repo::new();
    repo.write("web.yaml", &deployment(&name, "nginx", "first", ""))
        .seed("my_service.yaml")
        .commit("nginx x4");
    let c1 = head(&repo);
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    repo.write("web.yaml", &deployment(&name, "nginx:1.14.2", "second", ""))
        .commit("nginx:1.14.2");
    let c2 = head(&repo);
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert_eq!(running(&tb), vec!["nginx:1.14.2"; 4]);

    // Both revisions, with their commits and change causes.
    assert_eq!(
        history(&tb, &repo, &target),
        vec![
            ("1".to_string(), c1.clone(), "first".to_string()),
            ("2".to_string(), c2.clone(), "second".to_string()),
        ]
    );
    let one = ok(clusterctl(
        &tb,
        &repo,
        &["rollout", "history", &target, "--revision", "1"],
    ));
    assert!(
        one.stdout
            .contains(&format!("deployment.apps/{name} with revision #1"))
            && one.stdout.contains("Image:")
            && one.stdout.contains("nginx\n"),
        "{one:?}"
    );
    // `get rs`: the old ReplicaSet is listed, scaled to 0.
    let rs = ok(clusterctl(&tb, &repo, &["get", "rs"])).stdout;
    let mine: Vec<Vec<String>> = table(&rs)
        .into_iter()
        .filter(|r| r[0].starts_with(&format!("{name}-")))
        .collect();
    assert_eq!(mine.len(), 2, "{rs}");
    assert!(
        mine.iter().any(|r| r[1] == "0" && r[2] == "0") && mine.iter().any(|r| r[1] == "4"),
        "{rs}"
    );

    // `rollout undo` without --apply: the Git commands, nothing changed.
    let undo = ok(clusterctl(&tb, &repo, &["rollout", "undo", &target]));
    assert!(
        undo.stdout
            .contains(&format!("git checkout {c1} -- apps/web.yaml")),
        "{undo:?}"
    );
    assert!(
        undo.stdout.contains(&format!("git revert --no-edit {c2}")),
        "{undo:?}"
    );
    assert_eq!(running(&tb), vec!["nginx:1.14.2"; 4]);

    // `rollout undo --apply`: back to revision 1's template with the rolling-update guarantees.
    let port = node_port(&tb, &repo);
    let watch = Watch::start(&tb, port);
    let run = clusterctl(
        &tb,
        &repo,
        &["rollout", "undo", &target, "--apply", "--yes"],
    );
    let (answered, failed, samples) = watch.finish();
    eprintln!(
        "undo --apply: {answered} requests answered, {failed} failed; running pods every 200 ms: {:?}",
        counts(&samples)
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("Git disagrees"), "{run:?}");
    assert_eq!(failed, 0, "failed requests during undo --apply");
    assert!(answered > 0);
    assert!(
        samples.iter().all(|s| s.len() >= 4 && s.len() <= 5),
        "running pods left 4..=5: {:?}",
        counts(&samples)
    );
    assert_eq!(running(&tb), vec!["nginx"; 4]);
    // kubectl's rollback numbering: revision 1 became 3.
    let h = history(&tb, &repo, &target);
    assert_eq!(
        h.iter()
            .map(|r| (r.0.as_str(), r.1.as_str()))
            .collect::<Vec<_>>(),
        vec![("2", c2.as_str()), ("3", c1.as_str())],
        "{h:?}"
    );

    // A crashing update stops at its deadline; describe remembers why.
    repo.write(
        "web.yaml",
        &deployment(
            &name,
            "clusterctl/crash",
            "crash",
            "  progressDeadlineSeconds: 5\n",
        ),
    )
    .commit("crash");
    let c3 = head(&repo);
    let run = clusterctl(&tb, &repo, &["apply", "--yes"]);
    assert_eq!(run.code, 4, "{run:?}");
    let described = ok(clusterctl(&tb, &repo, &["describe", "deploy", &name])).stdout;
    assert!(
        described
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["Progressing", "False", "ProgressDeadlineExceeded"]),
        "{described}"
    );
    assert!(described.contains("OldReplicaSets:"), "{described}");
    assert!(
        described.contains("(4/4 replicas created)"),
        "the old ReplicaSet still serves: {described}"
    );

    // --auto-rollback on another failing template: it stops at the deadline, goes back to the ReplicaSet
    // that serves (not to the first failed one), and exits 4.
    repo.write(
        "web.yaml",
        &deployment(
            &name,
            "clusterctl/crash:latest",
            "crash again",
            "  progressDeadlineSeconds: 5\n",
        ),
    )
    .commit("crash again");
    let c4 = head(&repo);
    let watch = Watch::start(&tb, port);
    let run = clusterctl(&tb, &repo, &["apply", "--yes", "--auto-rollback"]);
    let (answered, failed, samples) = watch.finish();
    eprintln!(
        "auto-rollback: {answered} requests answered, {failed} failed; running pods: {:?}",
        counts(&samples)
    );
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr.contains("was rolled back to revision"),
        "{run:?}"
    );
    assert_eq!(failed, 0, "failed requests during the auto-rollback");
    assert_eq!(running(&tb), vec!["nginx"; 4]);
    // revisionHistoryLimit 1: of the scaled-down revisions 2, 4 and 5 only the newest stays, and nginx
    // (revision 3 before) is current as revision 6.
    let h = history(&tb, &repo, &target);
    assert_eq!(
        h.iter()
            .map(|r| (r.0.as_str(), r.1.as_str()))
            .collect::<Vec<_>>(),
        vec![("5", c4.as_str()), ("6", c1.as_str())],
        "{h:?} (crash was {c3})"
    );
    let described = ok(clusterctl(&tb, &repo, &["describe", "deploy", &name])).stdout;
    assert!(
        !described.contains("ProgressDeadlineExceeded"),
        "cleared by the rollback: {described}"
    );
}
