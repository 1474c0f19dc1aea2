# shellcheck shell=bash
# Shared helpers for scripts/testbed, scripts/test and scripts/demo.
# Source it; it defines functions and a few variables, and runs nothing.

# The repository root (this file lives in <root>/scripts/).
# shellcheck disable=SC2034 # used by the scripts that source this file
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# What the testbed needs on this machine (docker.io is added only when no engine answers).
# (apache2-utils: htpasswd -B, the bcrypt password file of the testbed's private registry; openssl: its CA)
TESTBED_HOST_PACKAGES=(debootstrap busybox-static openssh-client ca-certificates procps docker-registry curl apache2-utils openssl)
# What building and testing clusterctl needs (git2/openssl-sys/libssh2-sys build C code; openssh uses ssh).
# (git: https remotes are fetched with it; python3: the tests' loopback https Git server; gnupg, gpgv: the
# --require-signed --gpg-keyring test makes a key, signs and verifies)
BUILD_PACKAGES=(git build-essential pkg-config libssl-dev zlib1g-dev cmake iptables python3 gnupg gpgv)

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/clusterctl-dockerd.log}
APT_LOG=${APT_LOG:-/var/log/clusterctl-apt.log}

# --- logging ---------------------------------------------------------------------------------------

# log MSG...: one timestamped line on stderr, prefixed with the calling script's name.
log() { printf '%s %s: %s\n' "$(date +%H:%M:%S)" "${LOG_PREFIX:-${0##*/}}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# now_ms: milliseconds since the epoch, for phase timings.
now_ms() { date +%s%3N; }

# testbed_default_dir: the state dir of testbed $TESTBED_ID (see scripts/testbed: .testbed, .testbed-ID).
testbed_default_dir() {
  if [ "${TESTBED_ID:-0}" = 0 ]; then echo "$REPO_ROOT/.testbed"; else echo "$REPO_ROOT/.testbed-$((10#$TESTBED_ID))"; fi
}
# since MS: seconds elapsed since MS, with one decimal ("12.3s").
since() { local d=$(( $(now_ms) - $1 )); printf '%d.%ds' $((d / 1000)) $((d % 1000 / 100)); }

# --- packages ---------------------------------------------------------------------------------------

_apt_updated=0
# ensure_packages PKG...: installs the Debian packages that are not installed yet (apt-get update once).
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]}"
  log "installing Debian packages: ${missing[*]} (log: $APT_LOG)"
  export DEBIAN_FRONTEND=noninteractive
  if [ "$_apt_updated" -eq 0 ]; then
    apt-get update >>"$APT_LOG" 2>&1 || { tail -n 20 "$APT_LOG" >&2; die "apt-get update failed"; }
    _apt_updated=1
  fi
  apt-get install -y --no-install-recommends "${missing[@]}" >>"$APT_LOG" 2>&1 </dev/null ||
    { tail -n 20 "$APT_LOG" >&2; die "apt-get install ${missing[*]} failed"; }
}

# ensure_prereqs: everything scripts/test and scripts/demo need, installed only when missing.
ensure_prereqs() {
  ensure_packages "${TESTBED_HOST_PACKAGES[@]}" "${BUILD_PACKAGES[@]}"
  ensure_cargo_on_path
  ensure_docker
}

# ensure_cargo_on_path: rustup installs into ~/.cargo/bin, which a non-login shell may not have on PATH.
ensure_cargo_on_path() {
  command -v cargo >/dev/null 2>&1 && return 0
  if [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
  fi
}

# --- docker -----------------------------------------------------------------------------------------

# ensure_docker: makes sure a Docker engine answers; installs docker.io and starts dockerd if not.
ensure_docker() {
  docker info >/dev/null 2>&1 && return 0
  command -v dockerd >/dev/null 2>&1 || ensure_packages docker.io
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    log "no Docker engine answers: starting dockerd in the background (log: $DOCKERD_LOG)"
    # (fd 9 is scripts/testbed's lock: the daemon must not keep it open)
    setsid -f dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null 9>&-
  else
    log "dockerd is running but does not answer yet: waiting"
  fi
  local t0; t0=$(now_ms)
  local i
  for i in $(seq 1 120); do
    docker info >/dev/null 2>&1 && { log "Docker engine answers (after $(since "$t0"))"; return 0; }
    sleep 0.5
  done
  tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
  die "dockerd did not answer within 60 s (see $DOCKERD_LOG)"
}

# --- apt sources ------------------------------------------------------------------------------------

# apt_sources [APT_DIR]: "URI SUITE" for every enabled `deb` source of this machine's apt configuration
# (APT_DIR, default /etc/apt: sources.list and sources.list.d/*.list one-line entries, then
# sources.list.d/*.sources deb822 stanzas), in the order apt reads them. URIs lose a trailing '/'.
apt_sources() {
  local dir=${1:-/etc/apt} f
  local lists=() stanzas=()
  [ -f "$dir/sources.list" ] && lists+=("$dir/sources.list")
  for f in "$dir"/sources.list.d/*.list; do [ -f "$f" ] && lists+=("$f"); done
  for f in "$dir"/sources.list.d/*.sources; do [ -f "$f" ] && stanzas+=("$f"); done
  if [ ${#lists[@]} -gt 0 ]; then
    # deb [opt=v ...] URI SUITE COMPONENT...
    awk '{ sub(/#.*/, "") } $1 == "deb" {
      i = 2
      if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      if (i + 1 <= NF) { u = $i; sub(/\/+$/, "", u); print u, $(i + 1) }
    }' "${lists[@]}"
  fi
  if [ ${#stanzas[@]} -gt 0 ]; then
    # Types: / URIs: / Suites: / Enabled: fields, case-insensitive; a blank line ends a stanza.
    awk 'function flush(   n, m, us, ss, a, b) {
        if (types ~ /(^| )deb( |$)/ && tolower(enabled) != "no") {
          n = split(uris, us, " "); m = split(suites, ss, " ")
          for (a = 1; a <= n; a++) for (b = 1; b <= m; b++) { u = us[a]; sub(/\/+$/, "", u); print u, ss[b] }
        }
        types = uris = suites = enabled = ""; last = ""
      }
      FNR == 1 { flush() }
      /^#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ { if (last != "") { v = $0; gsub(/^[ \t]+|[ \t]+$/, "", v); vals[last] = vals[last] " " v; set(last) } next }
      {
        k = tolower($0); sub(/:.*/, "", k); v = $0; sub(/^[^:]*:[ \t]*/, "", v); sub(/[ \t]+$/, "", v)
        last = k; vals[k] = v; set(k)
      }
      function set(k) { if (k == "types") types = vals[k]; else if (k == "uris") uris = vals[k];
        else if (k == "suites") suites = vals[k]; else if (k == "enabled") enabled = vals[k] }
      END { flush() }' "${stanzas[@]}"
  fi
}

# apt_mirror SUITE [APT_DIR]: the Debian mirror debootstrap should fetch SUITE from — the first apt source
# of this machine for SUITE itself, else the first for a main suite of another release (a Debian mirror
# carries every release; `-updates`, `-security`, `-backports` archives are not mirrors of the main one).
# Only http(s) and file URIs. Fails (prints nothing) when the machine has none.
apt_mirror() {
  local suite=$1 dir=${2:-/etc/apt}
  apt_sources "$dir" | awk -v want="$suite" '
    $1 !~ /^(https?:\/\/|file:\/)/ { next }
    $2 == want && exact == "" { exact = $1 }
    $2 !~ /[-\/]/ && other == "" { other = $1 }
    END { if (exact != "") print exact; else if (other != "") print other; else exit 1 }'
}
