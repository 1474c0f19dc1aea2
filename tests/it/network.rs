//! The flat pod network on the testbed when the inventory changes: a host that leaves cluster.yaml is
//! forgotten by every other host's VXLAN device (route, neighbour, forwarding entry) and relearned when it
//! returns, each host's peer entries going out as one `bridge -batch` and one `ip -batch` command.

use serde_json::Value;

use crate::common::*;

/// `(routes, neighbours, forwarding entries)` of `host`'s VXLAN device, as the host's own tools list them.
fn entries(tb: &Testbed, host: &str) -> (String, String, String) {
    (
        tb.ssh_ok(host, "ip route show dev clusterctl.1"),
        tb.ssh_ok(host, "ip neigh show dev clusterctl.1 nud permanent"),
        tb.ssh_ok(host, "bridge fdb show dev clusterctl.1 | grep ' dst '"),
    )
}

#[test]
fn a_host_leaving_the_inventory_is_forgotten_and_relearned_in_two_batched_commands() {
    let _g = serial();
    let tb = Testbed::get();
    reset(&tb);
    let (first, _) = tb.hosts[1].clone();
    let (last, last_addr) = tb.hosts[tb.hosts.len() - 1].clone();
    let peers = tb.hosts.len() - 1;
    let (routes, neigh, fdb) = entries(&tb, &first);
    assert_eq!(routes.lines().count(), peers, "{routes}");
    assert_eq!(neigh.lines().count(), peers, "{neigh}");
    assert!(fdb.contains(&last_addr), "{fdb}");
    // The last host's VTEP address (10.244.N.0): peers route its pod CIDR via it.
    let addr = tb.ssh_ok(&last, "ip -j addr show dev clusterctl.1");
    let addr: Value = serde_json::from_str(&addr).unwrap();
    let last_vtep = addr[0]["addr_info"][0]["local"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(routes.contains(&format!("via {last_vtep}")), "{routes}");

    let repo = Repo::new();
    repo.commit("empty");
    let (_d, small) = cluster_without(&tb, &[&last]);
    let plan = ok(clusterctl_with(
        &small,
        repo.path(),
        &["plan", "-o", "json"],
    ))
    .stdout;
    let plan: Value = serde_json::from_str(&plan).unwrap();
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(
        changes.len(),
        tb.hosts.len() - 1,
        "one network change per remaining host: {plan:#}"
    );
    for c in changes {
        assert_eq!(c["kind"], "Network", "{c:#}");
        let steps: Vec<String> = c["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let args: Vec<&str> = s["args"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap())
                    .collect();
                format!("{} {}", s["program"].as_str().unwrap(), args.join(" "))
            })
            .collect();
        assert_eq!(steps, ["bridge -batch -", "ip -batch -"], "{c:#}");
        let details = c["details"].to_string();
        assert!(
            details.contains(&format!("via {last_vtep} removed")),
            "{details}"
        );
    }
    ok(clusterctl_with(&small, repo.path(), &["apply", "--yes"]));
    let (routes, neigh, fdb) = entries(&tb, &first);
    assert_eq!(routes.lines().count(), peers - 1, "{routes}");
    assert!(!routes.contains(&last_vtep), "{routes}");
    assert!(!neigh.contains(&last_vtep), "{neigh}");
    assert!(!fdb.contains(&last_addr), "{fdb}");

    // The host returns: every other host learns it again, and then nothing is left to do.
    let plan = ok(clusterctl(&tb, &repo, &["plan"])).stdout;
    assert!(
        plan.contains(&format!("({last}) via {last_addr}")),
        "{plan}"
    );
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let (routes, neigh, fdb) = entries(&tb, &first);
    assert_eq!(routes.lines().count(), peers, "{routes}");
    assert!(routes.contains(&format!("via {last_vtep}")), "{routes}");
    assert!(neigh.contains(&last_vtep), "{neigh}");
    assert!(fdb.contains(&last_addr), "{fdb}");
    let plan = ok(clusterctl(&tb, &repo, &["plan"])).stdout;
    assert!(plan.contains("No changes"), "{plan}");
}

/// A bare pod whose nodeSelector now names another host moves there: deleted on its old host, created on
/// the new one with an address of that host's pod CIDR, and it serves from there.
#[test]
fn a_bare_pod_that_must_move_is_deleted_on_its_host_and_created_on_the_other() {
    let _g = serial();
    let tb = Testbed::get();
    reset(&tb);
    let pod = |host: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: mover\nspec:\n  nodeSelector:\n    kubernetes.io/hostname: {host}\n  containers:\n  - name: web\n    image: nginx\n"
        )
    };
    let (from, to) = (tb.hosts[1].0.clone(), tb.hosts[2].0.clone());
    let repo = Repo::new();
    repo.write("pod.yaml", &pod(&from))
        .commit("on the first worker");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert!(managed_names(&tb, &from).contains(&"k8s_web_mover_default".to_string()));

    repo.write("pod.yaml", &pod(&to))
        .commit("on the second worker");
    let plan = ok(clusterctl(&tb, &repo, &["plan"])).stdout;
    assert!(
        plan.contains(&format!("- pod \"default/mover\" on {from}")),
        "{plan}"
    );
    assert!(
        plan.contains(&format!("+ pod \"default/mover\" on {to}")),
        "{plan}"
    );
    assert!(plan.contains(&format!("moves to node {to}")), "{plan}");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert!(managed_names(&tb, &from).is_empty());
    assert!(managed_names(&tb, &to).contains(&"k8s_web_mover_default".to_string()));
    let rows = pod_rows(&tb, &repo);
    let row = rows.iter().find(|r| r[0] == "mover").expect("mover row");
    assert_eq!(row[2], "Running", "{rows:?}");
    assert_eq!(row[6], to, "{rows:?}");
    // Its address is in the new host's pod CIDR, and it answers there from another host.
    let ip = row[5].clone();
    let page = tb.ssh_ok(&from, &format!("wget -qO- -T 3 http://{ip}/"));
    assert!(page.contains("mover"), "{page}");
    let plan = ok(clusterctl(&tb, &repo, &["plan"])).stdout;
    assert!(plan.contains("No changes"), "{plan}");
}
