//! A simulated docker engine for tests and benchmarks: interprets the `docker create/start/restart/rm`
//! commands the docker runtime builds into [`ObservedContainer`]s, as a host's engine would, so "apply,
//! then observe" can be exercised without SSH. Never used by the CLI.

use std::collections::BTreeMap;

use crate::cmd::Cmd;
use crate::model::{ObservedContainer, ObservedNode};

/// Applies `steps` to `node`'s containers. `clock` numbers the containers (ids and creation times) so results
/// are deterministic. Panics on commands a docker engine would refuse (a duplicate name, an unknown container).
pub fn apply_steps(node: &mut ObservedNode, steps: &[Cmd], clock: &mut u64) {
    for cmd in steps {
        // Image pulls change no container: every image is present in the simulation.
        if super::docker::pulled_image(cmd).is_some() {
            continue;
        }
        *clock += 1;
        // configMap/secret volume writes and removals: the content hash the observe script reads back.
        if cmd.program == "sh"
            && cmd.args.get(2).map(String::as_str) == Some(super::config::WRITE_ARG0)
        {
            let dir = cmd.args[3]
                .trim_start_matches(super::config::PODS_DIR)
                .trim_start_matches('/');
            node.config_volumes
                .insert(format!("{dir}/{}", cmd.args[4]), cmd.args[6].clone());
            continue;
        }
        if cmd.program == "sh"
            && cmd.args.get(2).map(String::as_str) == Some(super::config::CLEANUP_ARG0)
        {
            let dir = cmd.args[3]
                .trim_start_matches(super::config::PODS_DIR)
                .trim_start_matches('/');
            node.config_volumes
                .retain(|k, _| !k.starts_with(&format!("{dir}/")));
            continue;
        }
        if let Some((name, config)) = crate::runtime::docker::decode_api_create(cmd) {
            // The Engine API form of `docker create` (oversized values).
            let labels = config["Labels"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            let image = config["Image"].as_str().unwrap_or_default().to_string();
            create(node, *clock, name, image, labels);
            continue;
        }
        // A preStop hook changes no container here.
        if super::terminate::is_pre_stop(cmd) {
            continue;
        }
        // Host-side storage steps (directories, hostPath checks) change no container.
        if cmd.program == "rm"
            || (cmd.program == "sh" && cmd.args.first().map(String::as_str) == Some("-c"))
        {
            if cmd.args.get(2).map(String::as_str) == Some("clusterctl-reclaim") {
                let name = &cmd.args[3];
                node.volumes.retain(|v| &v.name != name);
            }
            continue;
        }
        assert_eq!(cmd.program, "docker", "only docker commands are simulated");
        if cmd.args[0] == "volume" {
            let name = cmd.args.last().expect("a volume name").clone();
            match cmd.args[1].as_str() {
                "create" => {
                    let labels = cmd
                        .args
                        .iter()
                        .filter_map(|a| a.strip_prefix("--label="))
                        .filter_map(|l| l.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    node.volumes.retain(|v| v.name != name);
                    node.volumes.push(crate::model::ObservedVolume {
                        name,
                        node: String::new(),
                        labels,
                        created_at: format!(
                            "2026-11-26T12:{:02}:{:02}Z",
                            (*clock / 60) % 60,
                            *clock % 60
                        ),
                    });
                    node.volumes.sort_by(|a, b| a.name.cmp(&b.name));
                }
                "rm" => node.volumes.retain(|v| v.name != name),
                other => panic!("unexpected docker volume {other}"),
            }
            continue;
        }
        match cmd.args[0].as_str() {
            "create" => {
                let name = flag(&cmd.args, "--name=").expect("docker create --name=");
                let labels: BTreeMap<String, String> = cmd
                    .args
                    .iter()
                    .filter_map(|a| a.strip_prefix("--label="))
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                let image_at = cmd
                    .args
                    .iter()
                    .position(|a| a == "--")
                    .expect("image after --")
                    + 1;
                create(node, *clock, name, cmd.args[image_at].clone(), labels);
            }
            "start" | "restart" => {
                let c = node
                    .containers
                    .iter_mut()
                    .find(|c| c.name == cmd.args[1])
                    .expect("container exists");
                c.status = "running".into();
                c.started_at = format!(
                    "2026-11-26T12:{:02}:{:02}Z",
                    (*clock / 60) % 60,
                    *clock % 60
                );
            }
            "stop" => {
                for name in &cmd.args[3..] {
                    if let Some(c) = node.containers.iter_mut().find(|c| &c.name == name) {
                        c.status = "exited".into();
                    }
                }
            }
            "rm" => {
                let name = cmd.args.last().expect("a name");
                node.containers.retain(|c| &c.name != name);
            }
            other => panic!("unexpected docker {other}"),
        }
    }
    node.containers.sort_by(|a, b| a.name.cmp(&b.name));
}

fn create(
    node: &mut ObservedNode,
    clock: u64,
    name: String,
    image: String,
    labels: BTreeMap<String, String>,
) {
    assert!(
        node.containers.iter().all(|c| c.name != name),
        "duplicate container {name}"
    );
    node.containers.push(ObservedContainer {
        id: format!("{clock:064x}"),
        name,
        image,
        labels,
        status: "created".into(),
        created_at: format!("2026-11-26T12:{:02}:{:02}Z", (clock / 60) % 60, clock % 60),
        ..Default::default()
    });
}

fn flag(args: &[String], prefix: &str) -> Option<String> {
    args.iter()
        .find_map(|a| a.strip_prefix(prefix).map(str::to_string))
}
