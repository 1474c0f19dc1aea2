#!/usr/bin/env bash
# bench/lock.sh — how long taking the cluster lock takes on the running testbed (issue 13, acceptance 7).
#
# Usage: TESTBED_ID=ID bench/lock.sh [RUNS]      (default 5 runs after one warm-up)
#
# Each run is a real `clusterctl apply --yes -v` of a one-pod Deployment toggled between 1 and 0 replicas
# (so every apply has a change and takes the lock), against the testbed's cluster.yaml with its default lock
# hosts (the first three). The time is the one apply logs at -v: "cluster lock ID taken on G of N lock hosts
# in MS ms", measured from sending the compare-and-swap to the lock hosts to the majority's answers (the SSH
# connections are already open then). The wall time of the whole apply is printed next to it for contrast:
# that part grows with the hosts (it observes every host), the lock must not.
# Prints one line per run and a summary: hosts, runs, lock ms min/median/max, apply s median.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
id=${TESTBED_ID:-0}
state=${TESTBED_DIR:-$root/.testbed$([ "$id" = 0 ] || echo "-$id")}
cluster=$state/cluster.yaml
bin=${CLUSTERCTL_BIN:-$root/target/debug/clusterctl}
runs=${1:-5}
[ -f "$cluster" ] || { echo "bench/lock.sh: no testbed at $state (scripts/testbed up)" >&2; exit 1; }
[ -x "$bin" ] || { echo "bench/lock.sh: no $bin (cargo build)" >&2; exit 1; }
hosts=$(grep -c '^  - name:' "$cluster")

repo=$(mktemp -d)
trap 'rm -rf "$repo"' EXIT
git -C "$repo" init -q -b main
mkdir "$repo/apps"
commit() {
  cat > "$repo/apps/bench-lock.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bench-lock
spec:
  replicas: $1
  selector:
    matchLabels:
      app: bench-lock
  template:
    metadata:
      labels:
        app: bench-lock
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: nginx
YAML
  git -C "$repo" add -A
  git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -q --allow-empty -m "replicas $1"
}

apply() {
  local t0 t1 log ms
  t0=$(date +%s%N)
  log=$(NO_COLOR=1 "$bin" --cluster "$cluster" --repo "$repo" apply --yes -v </dev/null 2>&1 >/dev/null) || {
    echo "$log" >&2; echo "bench/lock.sh: apply failed" >&2; exit 1; }
  t1=$(date +%s%N)
  ms=$(sed -n 's/.*cluster lock [0-9a-f]* taken on [0-9]* of [0-9]* lock hosts in \([0-9]*\) ms.*/\1/p' <<<"$log" | head -1)
  [ -n "$ms" ] || { echo "$log" >&2; echo "bench/lock.sh: no lock line in the -v log" >&2; exit 1; }
  echo "$ms $(( (t1 - t0) / 1000000 ))"
}

commit 1; apply >/dev/null   # warm-up: node supervisors, the image on a host
results=()
for i in $(seq 1 "$runs"); do
  commit $(( (i + 1) % 2 ))   # 0, 1, 0, …: every run changes something
  r=$(apply)
  echo "run $i: hosts=$hosts lock_ms=${r% *} apply_ms=${r#* }"
  results+=("$r")
done
if [ $(( runs % 2 )) = 0 ]; then   # leave nothing behind
  commit 0
  NO_COLOR=1 "$bin" --cluster "$cluster" --repo "$repo" apply --yes </dev/null >/dev/null
fi
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
locks=$(printf '%s\n' "${results[@]}" | cut -d' ' -f1 | sort -n)
walls=$(printf '%s\n' "${results[@]}" | cut -d' ' -f2)
echo "hosts=$hosts runs=$runs lock_ms min=$(head -1 <<<"$locks") median=$(median <<<"$locks")" \
  "max=$(tail -1 <<<"$locks") apply_ms median=$(median <<<"$walls")"
