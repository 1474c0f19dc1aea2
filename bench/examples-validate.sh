#!/bin/sh
# Runs `clusterctl validate` on every *.yaml / *.yml file under DIR (e.g. a checkout of
# github.com/kubernetes/examples), one file at a time in a scratch Git repository, and tallies the
# diagnostics: files clean / with warnings only / with errors, then warnings and errors by field (indices
# folded to []) and the start of their message. Contacts no host. Prints a Markdown report.
#   bench/examples-validate.sh DIR [CLUSTERCTL]   (default: target/debug/clusterctl)
set -eu
dir=${1:?usage: bench/examples-validate.sh DIR [CLUSTERCTL]}
bin=${2:-target/debug/clusterctl}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
dir=$(cd "$dir" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/repo/apps"
cat > "$work/cluster.yaml" <<'YAML'
ssh:
  user: root
  identityFile: id_ed25519
  knownHostsFile: known_hosts
cluster:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
hosts:
  - name: n1
    address: 127.0.0.1
    runtime: docker
YAML
: > "$work/id_ed25519"
: > "$work/known_hosts"
git -C "$work/repo" init -q -b main
git -C "$work/repo" -c user.name=b -c user.email=b@b commit -q --allow-empty -m empty
out=$work/diags
: > "$out"
clean=0 warned=0 failed=0 total=0
find "$dir" \( -name .git -prune \) -o -type f \( -name '*.yaml' -o -name '*.yml' \) -print | LC_ALL=C sort > "$work/files"
while IFS= read -r f; do
  total=$((total + 1))
  rm -f "$work/repo/apps/"*
  cp "$f" "$work/repo/apps/example.yaml"
  git -C "$work/repo" add -A apps
  git -C "$work/repo" -c user.name=b -c user.email=b@b commit -q --allow-empty -m f
  rel=${f#"$dir"/}
  NO_COLOR=1 "$bin" --cluster "$work/cluster.yaml" --repo "$work/repo" validate > "$work/one" 2>&1 || true
  # `Error: apps/example.yaml:L:C: FIELD: MESSAGE` and `Warning: …` (cli::Ui, without colour).
  sed -nE "s|^(Error\|Warning): apps/example.yaml:|\\1 $rel:|p" "$work/one" > "$work/mine"
  cat "$work/mine" >> "$out"
  if grep -q '^Error ' "$work/mine"; then
    failed=$((failed + 1))
  elif [ -s "$work/mine" ]; then
    warned=$((warned + 1))
  else
    clean=$((clean + 1))
  fi
done < "$work/files"
echo "files: $total; no diagnostic: $clean; warnings only: $warned; errors: $failed"
echo
for sev in warning error; do
  echo "| $sev: field | message | count |"
  echo "| --- | --- | --- |"
  if [ $sev = warning ]; then grep '^Warning ' "$out" || true; else grep '^Error ' "$out" || true; fi |
    sed -E 's/^[A-Za-z]+ [^:]+:[0-9]+:[0-9]+: //' |
    awk -F': ' '{ f = $1; m = $2; if (NF < 2 || f ~ / /) { m = f; f = "-" }
                  gsub(/\[[^]]*\]/, "[]", f); m = substr(m, 1, 60); print f "\t" m }' |
    LC_ALL=C sort | uniq -c | sort -rn -k1,1 | head -40 |
    awk -F'\t' '{ n = $1; sub(/^ *[0-9]+ /, "", n); c = $1; sub(/^ */, "", c); sub(/ .*/, "", c);
                  f = $1; sub(/^ *[0-9]+ /, "", f); printf "| `%s` | %s | %s |\n", f, $2, c }'
  echo
done
if [ -n "${KEEP_DIAGNOSTICS:-}" ]; then cp "$out" "$KEEP_DIAGNOSTICS"; fi
