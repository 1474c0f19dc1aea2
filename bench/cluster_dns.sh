#!/usr/bin/env bash
# bench/cluster_dns.sh — what the cluster DNS (docs/dns.md) costs a testbed test's reset, on the running testbed.
#
# Usage: TESTBED_ID=ID bench/cluster_dns.sh [ROUNDS]      (default 3)
#
# Per round, once without and once with `dnsImage` (the testbed's cluster.yaml with and without that line):
# every managed container is removed from every host, as tests/it/common.rs `reset` does, then timed: the
# `apply --yes` of an empty repository (what reset runs: without the DNS it recreates the node supervisors,
# with it also the 4 DNS pods and the kube-dns rules), a second, converged `apply --yes`, and a `plan`.
# Prints one line per round and configuration (milliseconds, wall time).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
id=${TESTBED_ID:-0}
state=${TESTBED_DIR:-$root/.testbed$([ "$id" = 0 ] || echo "-$id")}
bin=${CLUSTERCTL_BIN:-$root/target/debug/clusterctl}
rounds=${1:-3}
[ -f "$state/cluster.yaml" ] || { echo "bench/cluster_dns.sh: no testbed at $state (scripts/testbed up)" >&2; exit 1; }
[ -x "$bin" ] || { echo "bench/cluster_dns.sh: no $bin (cargo build)" >&2; exit 1; }
dns=$(cat "$state/dns-image" 2>/dev/null) || { echo "bench/cluster_dns.sh: no $state/dns-image" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/on" "$work/off" "$work/repo/apps"
grep -v '^  dnsImage: ' "$state/cluster.yaml" >"$work/off/cluster.yaml"
sed "s|^cluster:\$|cluster:\n  dnsImage: $dns|" "$work/off/cluster.yaml" >"$work/on/cluster.yaml"
for d in on off; do cp "$state/id_ed25519" "$state/known_hosts" "$work/$d/"; done
touch "$work/repo/apps/.keep"
git -C "$work/repo" init -q -b main
git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=bench -c user.email=bench@localhost commit -q -m empty
mapfile -t hosts < <(grep '^  - name: ' "$state/cluster.yaml" | sed 's/^  - name: //')

ms() { date +%s%3N; }
timed() { # timed CONFIG ARGS...: the wall time of one clusterctl run, in ms; fails on a non-zero exit
  local s; s=$(ms)
  NO_COLOR=1 "$bin" --cluster "$work/$1/cluster.yaml" --repo "$work/repo" "${@:2}" >"$work/out" 2>&1 ||
    { cat "$work/out" >&2; exit 1; }
  echo $(($(ms) - s))
}
for r in $(seq 1 "$rounds"); do
  for d in off on; do
    for h in "${hosts[@]}"; do
      ssh -F "$state/ssh_config" "$h" 'ids=$(docker ps -aq --filter label=clusterctl.io/managed=true); [ -z "$ids" ] || docker rm -f $ids >/dev/null; rm -rf /var/lib/clusterctl/lock /var/lib/clusterctl/pulls' &
    done
    wait
    reset=$(timed "$d" apply --yes)
    noop=$(timed "$d" apply --yes)
    plan=$(timed "$d" plan)
    echo "round $r dns=$d reset-apply ${reset} ms, converged apply ${noop} ms, plan ${plan} ms"
  done
done
