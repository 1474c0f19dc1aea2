//! [`Day2`] on docker: `docker logs`, `docker exec`, `docker stats` plus the host's cgroup or `/proc`
//! counters, and `docker events`. Argv builders and parsers only; every value is an argv element or a
//! positional parameter of a constant script.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::RuntimeError;
use super::day2::{
    ContainerUsage, Day2, LogOptions, Previous, RuntimeEvent, RuntimeEventKind, UsageSample,
};
use crate::cmd::Cmd;
use crate::model::{ObservedContainer, labels};

#[derive(Debug, Clone, Copy, Default)]
pub struct DockerDay2;

/// One usage sample: `docker stats` of the managed containers, and the host's CPU counter read before and
/// after it (so the host's CPU is measured over the same window) and its memory. When the host is itself a
/// container with its own cgroup (a testbed host: PID 1 is not in the root cgroup) that cgroup's counters
/// are the host's (v2: `memory.current`, `cpu.stat`; v1: the memory and cpuacct controllers); on a machine
/// they are `/proc`'s. A constant: nothing is interpolated.
pub const USAGE_SCRIPT: &str = r#"m() { printf '\n@@clusterctl:%s@@\n' "$1"; }
g=/sys/fs/cgroup v1m= v1c=
if [ ! -r $g/memory.current ] && [ -d $g/memory ]; then
  p=$(sed -n 's/^[0-9]*:memory:\(.*\)$/\1/p' /proc/1/cgroup)
  q=$(sed -n 's/^[0-9]*:[^:]*cpuacct[^:]*:\(.*\)$/\1/p' /proc/1/cgroup)
  if [ -n "$p" ] && [ "$p" != / ] && [ -r "$g/memory$p/memory.usage_in_bytes" ]; then v1m=$g/memory$p; fi
  for d in "$g/cpuacct$q" "$g/cpu,cpuacct$q"; do
    if [ -n "$q" ] && [ "$q" != / ] && [ -r "$d/cpuacct.usage" ]; then v1c=$d; fi
  done
fi
t() {
  cut -d' ' -f1 /proc/uptime
  if [ -n "$v1c" ]; then echo "cgroupns $(cat "$v1c/cpuacct.usage")"
  elif [ -r $g/memory.current ] && [ -r $g/cpu.stat ]; then sed -n 's/^usage_usec /cgroup /p' $g/cpu.stat
  else head -n1 /proc/stat; fi
}
a=$(t)
ids=$(docker ps -q --filter label=clusterctl.io/managed=true) || exit 125
m stats
if [ -n "$ids" ]; then docker stats --no-stream --no-trunc --format '{{json .}}' $ids || exit 125; else sleep 1; fi
b=$(t)
m cpu0; printf '%s\n' "$a"
m cpu1; printf '%s\n' "$b"
m memory
if [ -n "$v1m" ]; then echo "current $(cat "$v1m/memory.usage_in_bytes")"; sed -n 's/^total_inactive_file /inactive_file /p' "$v1m/memory.stat"
elif [ -r $g/memory.current ]; then echo "current $(cat $g/memory.current)"; grep '^inactive_file ' $g/memory.stat
else grep -E '^(MemTotal|MemAvailable):' /proc/meminfo; fi
"#;

/// The events of managed containers, then the image pulls (they carry no container labels), over the
/// last `$1`. `--until 0s` makes docker print the history and stop instead of waiting for new events.
pub const EVENTS_SCRIPT: &str = r#"m() { printf '\n@@clusterctl:%s@@\n' "$1"; }
m containers
docker events --since "$1" --until 0s --filter type=container --filter label=clusterctl.io/managed=true --format '{{json .}}' || exit 125
m images
docker events --since "$1" --until 0s --filter type=image --filter event=pull --format '{{json .}}' || exit 125
"#;

/// Sections of a script's output (`@@clusterctl:NAME@@` markers).
fn sections(stdout: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut body = String::new();
    for line in stdout.lines() {
        if let Some(name) = line
            .strip_prefix("@@clusterctl:")
            .and_then(|l| l.strip_suffix("@@"))
        {
            if let Some(c) = current.take() {
                out.insert(c, std::mem::take(&mut body));
            }
            current = Some(name.to_string());
            body.clear();
        } else if current.is_some() {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some(c) = current {
        out.insert(c, body);
    }
    out
}

impl Day2 for DockerDay2 {
    fn logs_cmd(&self, c: &ObservedContainer, o: &LogOptions) -> Cmd {
        let mut args = vec!["logs".to_string()];
        if o.follow {
            args.push("--follow".into());
        }
        if let Some(n) = o.tail {
            args.push(format!("--tail={n}"));
        }
        if let Some(s) = o.since_secs {
            args.push(format!("--since={s}s"));
        }
        if let Some(t) = &o.until {
            args.push(format!("--until={t}"));
        }
        if o.timestamps {
            args.push("--timestamps".into());
        }
        args.push(c.id.clone());
        Cmd::read("docker", args)
    }

    fn previous(&self, c: &ObservedContainer) -> Previous {
        // Docker's restart policy restarts the same container: its log file holds every instance, and the
        // current instance began at startedAt. Without a restart there is nothing before it.
        if c.restart_count == 0 || c.started_at.is_empty() {
            Previous::None
        } else {
            Previous::Until(c.started_at.clone())
        }
    }

    fn exec_cmd(&self, c: &ObservedContainer, argv: &[String], stdin: bool, tty: bool) -> Cmd {
        let mut args = vec!["exec".to_string()];
        if stdin {
            args.push("--interactive".into());
        }
        if tty {
            args.push("--tty".into());
        }
        // docker stops reading its own flags at the container: argv follows as is.
        args.push(c.id.clone());
        args.extend(argv.iter().cloned());
        Cmd::read("docker", args)
    }

    fn usage_cmd(&self) -> Cmd {
        Cmd::read("sh", ["-c", USAGE_SCRIPT, "clusterctl-top"])
    }

    fn parse_usage(&self, stdout: &str) -> Result<UsageSample, RuntimeError> {
        let s = sections(stdout);
        let get = |name: &'static str| s.get(name).ok_or(RuntimeError::MissingSection(name));
        let mut containers = Vec::new();
        for line in get("stats")?.lines().filter(|l| !l.trim().is_empty()) {
            containers.push(parse_stats_line(line)?);
        }
        containers.sort_by(|a, b| a.name.cmp(&b.name));
        let host_cpu_millis = match (
            s.get("cpu0").and_then(|t| cpu_counter(t)),
            s.get("cpu1").and_then(|t| cpu_counter(t)),
        ) {
            (Some(a), Some(b)) => cpu_millis_between(a, b),
            _ => None,
        };
        let host_memory_bytes = s.get("memory").and_then(|m| memory_bytes(m));
        Ok(UsageSample {
            containers,
            host_cpu_millis,
            host_memory_bytes,
        })
    }

    fn events_cmd(&self, since_secs: u64) -> Cmd {
        Cmd::read(
            "sh",
            [
                "-c".to_string(),
                EVENTS_SCRIPT.to_string(),
                "clusterctl-events".to_string(),
                format!("{since_secs}s"),
            ],
        )
    }

    fn parse_events(&self, stdout: &str) -> Result<Vec<RuntimeEvent>, RuntimeError> {
        let s = sections(stdout);
        let get = |name: &'static str| s.get(name).ok_or(RuntimeError::MissingSection(name));
        let mut out = Vec::new();
        for line in get("containers")?
            .lines()
            .chain(get("images")?.lines())
            .filter(|l| !l.trim().is_empty())
        {
            let e: DockerEvent = serde_json::from_str(line)
                .map_err(|e| RuntimeError::Inspect(format!("docker events: {e}: {line}")))?;
            if let Some(ev) = e.into_event() {
                out.push(ev);
            }
        }
        out.sort_by_key(|e| e.time_nanos);
        Ok(out)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StatsLine {
    #[serde(rename = "ID")]
    id: String,
    name: String,
    #[serde(rename = "CPUPerc")]
    cpu_perc: String,
    mem_usage: String,
}

fn parse_stats_line(line: &str) -> Result<ContainerUsage, RuntimeError> {
    let s: StatsLine = serde_json::from_str(line)
        .map_err(|e| RuntimeError::Inspect(format!("docker stats: {e}: {line}")))?;
    let bad =
        |what: &str| RuntimeError::Inspect(format!("docker stats: cannot read {what}: {line}"));
    // Percent of one CPU (docker multiplies by the number of CPUs): 100% = 1000m.
    let perc: f64 = s
        .cpu_perc
        .trim_end_matches('%')
        .trim()
        .parse()
        .map_err(|_| bad("CPUPerc"))?;
    let used = s.mem_usage.split('/').next().unwrap_or("").trim();
    Ok(ContainerUsage {
        id: s.id,
        name: s.name,
        cpu_millis: (perc * 10.0).round().max(0.0) as u64,
        memory_bytes: docker_size(used).ok_or_else(|| bad("MemUsage"))?,
    })
}

/// Docker's human sizes (`go-units`): `1.5MiB`, `512KiB`, `3GB`, `0B`.
pub fn docker_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim() {
        "B" | "" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0f64.powi(3),
        "TiB" => 1024.0f64.powi(4),
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        _ => return None,
    };
    Some((n * mult).round() as u64)
}

/// A CPU reading: uptime in seconds and busy CPU time in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CpuCounter {
    uptime: f64,
    busy_usec: f64,
}

fn cpu_counter(text: &str) -> Option<CpuCounter> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let uptime: f64 = lines.next()?.trim().parse().ok()?;
    let line = lines.next()?;
    let mut f = line.split_whitespace();
    let busy_usec = match f.next()? {
        "cgroup" => f.next()?.parse().ok()?,
        // cgroup v1 `cpuacct.usage`: nanoseconds.
        "cgroupns" => f.next()?.parse::<f64>().ok()? / 1000.0,
        "cpu" => {
            // user nice system idle iowait irq softirq steal …, in USER_HZ (100) ticks.
            let v: Vec<f64> = f.filter_map(|x| x.parse().ok()).collect();
            if v.len() < 4 {
                return None;
            }
            let idle = v[3] + v.get(4).copied().unwrap_or(0.0);
            let total: f64 = v.iter().take(8).sum();
            (total - idle) * 10_000.0
        }
        _ => return None,
    };
    Some(CpuCounter { uptime, busy_usec })
}

fn cpu_millis_between(a: CpuCounter, b: CpuCounter) -> Option<u64> {
    let secs = b.uptime - a.uptime;
    if secs <= 0.0 || b.busy_usec < a.busy_usec {
        return None;
    }
    Some(((b.busy_usec - a.busy_usec) / secs / 1000.0).round() as u64)
}

/// Working set: cgroup `memory.current` minus `inactive_file` (the kubelet's rule), or
/// `MemTotal − MemAvailable` from `/proc/meminfo`.
fn memory_bytes(text: &str) -> Option<u64> {
    let mut kv = BTreeMap::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        if let (Some(k), Some(v)) = (f.next(), f.next()) {
            kv.insert(k.trim_end_matches(':').to_string(), v.parse::<u64>().ok()?);
        }
    }
    if let Some(cur) = kv.get("current") {
        return Some(cur.saturating_sub(kv.get("inactive_file").copied().unwrap_or(0)));
    }
    let total = kv.get("MemTotal")?;
    let avail = kv.get("MemAvailable")?;
    Some(total.saturating_sub(*avail) * 1024)
}

#[derive(Debug, Deserialize)]
struct DockerEvent {
    #[serde(rename = "Type", default)]
    kind: String,
    #[serde(rename = "Action", default)]
    action: String,
    #[serde(rename = "Actor", default)]
    actor: Actor,
    #[serde(rename = "timeNano", default)]
    time_nano: i64,
}

#[derive(Debug, Deserialize, Default)]
struct Actor {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(rename = "Attributes", default)]
    attributes: BTreeMap<String, String>,
}

impl DockerEvent {
    fn into_event(self) -> Option<RuntimeEvent> {
        let a = &self.actor.attributes;
        let label = |k: &str| a.get(k).cloned().unwrap_or_default();
        let kind = match (self.kind.as_str(), self.action.as_str()) {
            ("image", "pull") => RuntimeEventKind::Pulled,
            ("container", "create") => RuntimeEventKind::Created,
            ("container", "start") => RuntimeEventKind::Started,
            ("container", "kill") => RuntimeEventKind::Killed,
            ("container", "oom") => RuntimeEventKind::OomKilled,
            ("container", "die") => {
                RuntimeEventKind::Died(a.get("exitCode").and_then(|c| c.parse().ok()).unwrap_or(-1))
            }
            ("container", action) if action.starts_with("health_status") => {
                RuntimeEventKind::Health(
                    action
                        .strip_prefix("health_status:")
                        .unwrap_or("")
                        .trim()
                        .to_string(),
                )
            }
            _ => return None,
        };
        let image = if kind == RuntimeEventKind::Pulled {
            // The pulled reference is the actor (`nginx:latest`).
            self.actor.id.clone()
        } else {
            label("image")
        };
        Some(RuntimeEvent {
            time_nanos: self.time_nano,
            kind,
            namespace: label(labels::NAMESPACE),
            pod: label(labels::POD),
            container: label(labels::CONTAINER),
            image,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::day2::day2_for;

    fn container(restarts: u32) -> ObservedContainer {
        ObservedContainer {
            id: "c0ffee".into(),
            name: "k8s_app_web_default".into(),
            restart_count: restarts,
            started_at: "2026-12-01T10:00:00.5Z".into(),
            ..Default::default()
        }
    }

    #[test]
    fn logs_and_exec_argv() {
        let d = day2_for(crate::inventory::RuntimeKind::Docker).unwrap();
        let c = container(0);
        let o = LogOptions {
            follow: true,
            tail: Some(10),
            since_secs: Some(300),
            until: None,
            timestamps: true,
        };
        assert_eq!(
            d.logs_cmd(&c, &o).args,
            [
                "logs",
                "--follow",
                "--tail=10",
                "--since=300s",
                "--timestamps",
                "c0ffee"
            ]
        );
        let argv: Vec<String> = ["sh", "-c", "echo \"$(id)\"; exit 3", "-x", "a\nb"]
            .map(String::from)
            .to_vec();
        let cmd = d.exec_cmd(&c, &argv, true, true);
        assert_eq!(cmd.program, "docker");
        assert_eq!(
            cmd.args[..4],
            ["exec", "--interactive", "--tty", "c0ffee"].map(String::from)
        );
        assert_eq!(cmd.args[4..], argv[..]);
        assert!(!cmd.mutating);
    }

    #[test]
    fn previous_instance_is_the_log_before_the_current_start() {
        assert_eq!(DockerDay2.previous(&container(0)), Previous::None);
        assert_eq!(
            DockerDay2.previous(&container(2)),
            Previous::Until("2026-12-01T10:00:00.5Z".into())
        );
    }

    #[test]
    fn usage_from_stats_and_cgroup() {
        let out = "\n@@clusterctl:stats@@\n\
{\"BlockIO\":\"0B / 0B\",\"CPUPerc\":\"99.87%\",\"Container\":\"a\",\"ID\":\"a1\",\"MemPerc\":\"0.01%\",\"MemUsage\":\"1.5MiB / 7.6GiB\",\"Name\":\"k8s_busy_b_default\",\"NetIO\":\"0B / 0B\",\"PIDs\":\"2\"}\n\
{\"CPUPerc\":\"0.00%\",\"ID\":\"b2\",\"MemUsage\":\"512KiB / 7.6GiB\",\"Name\":\"k8s_POD_b_default\"}\n\
\n@@clusterctl:cpu0@@\n100.00\ncgroup 5000000\n\
\n@@clusterctl:cpu1@@\n102.00\ncgroup 7500000\n\
\n@@clusterctl:memory@@\ncurrent 209715200\ninactive_file 10485760\n";
        let u = DockerDay2.parse_usage(out).unwrap();
        assert_eq!(u.containers.len(), 2);
        assert_eq!(u.containers[0].name, "k8s_POD_b_default");
        assert_eq!(u.containers[1].cpu_millis, 999);
        assert_eq!(u.containers[1].memory_bytes, 1_572_864);
        assert_eq!(u.containers[0].memory_bytes, 524_288);
        // 2.5 s of CPU over 2 s: 1250m.
        assert_eq!(u.host_cpu_millis, Some(1250));
        assert_eq!(u.host_memory_bytes, Some(199_229_440));
    }

    #[test]
    fn usage_from_proc() {
        let out = "@@clusterctl:stats@@\n@@clusterctl:cpu0@@\n10.0\ncpu 100 0 100 800 0 0 0 0 0 0\n\
@@clusterctl:cpu1@@\n11.0\ncpu 150 0 150 900 0 0 0 0 0 0\n\
@@clusterctl:memory@@\nMemTotal:       2048 kB\nMemAvailable:    1024 kB\n";
        let u = DockerDay2.parse_usage(out).unwrap();
        assert!(u.containers.is_empty());
        // 100 ticks busy in 1 s = 1 core.
        assert_eq!(u.host_cpu_millis, Some(1000));
        assert_eq!(u.host_memory_bytes, Some(1024 * 1024));
        assert_eq!(
            DockerDay2.parse_usage("nothing"),
            Err(RuntimeError::MissingSection("stats"))
        );
    }

    #[test]
    fn usage_from_cgroup_v1() {
        let out = "@@clusterctl:stats@@\n@@clusterctl:cpu0@@\n10.0\ncgroupns 1000000000\n\
@@clusterctl:cpu1@@\n12.0\ncgroupns 2000000000\n\
@@clusterctl:memory@@\ncurrent 3000\ninactive_file 1000\n";
        let u = DockerDay2.parse_usage(out).unwrap();
        // 1 s of CPU over 2 s.
        assert_eq!(u.host_cpu_millis, Some(500));
        assert_eq!(u.host_memory_bytes, Some(2000));
    }

    /// The script runs under a POSIX shell on this machine (no docker needed for the syntax and the counters).
    #[test]
    fn usage_script_is_valid_sh() {
        let out = std::process::Command::new("sh")
            .args(["-n", "-c", USAGE_SCRIPT])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(docker_size("0B"), Some(0));
        assert_eq!(docker_size("1.5MiB"), Some(1_572_864));
        assert_eq!(docker_size("2GiB"), Some(2 << 30));
        assert_eq!(docker_size("3kB"), Some(3000));
        assert_eq!(docker_size("x"), None);
    }

    #[test]
    fn events_of_containers_and_pulls() {
        let out = "\n@@clusterctl:containers@@\n\
{\"status\":\"die\",\"id\":\"abc\",\"from\":\"busybox\",\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"abc\",\"Attributes\":{\"clusterctl.io/container\":\"app\",\"clusterctl.io/namespace\":\"default\",\"clusterctl.io/pod\":\"web\",\"exitCode\":\"3\",\"image\":\"busybox\"}},\"scope\":\"local\",\"time\":1700000002,\"timeNano\":1700000002000000000}\n\
{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"abc\",\"Attributes\":{\"clusterctl.io/container\":\"app\",\"clusterctl.io/namespace\":\"default\",\"clusterctl.io/pod\":\"web\",\"image\":\"busybox\"}},\"timeNano\":1700000001000000000}\n\
{\"Type\":\"container\",\"Action\":\"exec_start: sh\",\"Actor\":{\"ID\":\"abc\",\"Attributes\":{}},\"timeNano\":1700000001500000000}\n\
{\"Type\":\"container\",\"Action\":\"health_status: unhealthy\",\"Actor\":{\"ID\":\"abc\",\"Attributes\":{\"clusterctl.io/pod\":\"web\"}},\"timeNano\":1700000003000000000}\n\
\n@@clusterctl:images@@\n\
{\"Type\":\"image\",\"Action\":\"pull\",\"Actor\":{\"ID\":\"busybox:latest\",\"Attributes\":{\"name\":\"busybox\"}},\"timeNano\":1700000000000000000}\n";
        let ev = DockerDay2.parse_events(out).unwrap();
        let kinds: Vec<_> = ev.iter().map(|e| e.kind.clone()).collect();
        assert_eq!(
            kinds,
            [
                RuntimeEventKind::Pulled,
                RuntimeEventKind::Started,
                RuntimeEventKind::Died(3),
                RuntimeEventKind::Health("unhealthy".into())
            ]
        );
        assert_eq!(ev[0].image, "busybox:latest");
        assert_eq!(
            (
                ev[2].namespace.as_str(),
                ev[2].pod.as_str(),
                ev[2].container.as_str()
            ),
            ("default", "web", "app")
        );
    }

    #[test]
    fn scripts_are_constants_and_values_positional() {
        let c = DockerDay2.events_cmd(3600);
        assert_eq!(c.args, ["-c", EVENTS_SCRIPT, "clusterctl-events", "3600s"]);
        let u = DockerDay2.usage_cmd();
        assert_eq!(u.args, ["-c", USAGE_SCRIPT, "clusterctl-top"]);
        assert!(!u.mutating && !c.mutating);
    }
}
