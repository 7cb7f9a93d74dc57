#!/usr/bin/env bash
# devenv.sh NAME: prepares a private PostgreSQL cluster and SoftHSM2 token for NAME (run, test or faults)
# under .local/NAME, installing the Debian packages when they are missing, and writes .local/NAME/env with
# the variables the acs binary and the tests read. It is idempotent: a cluster that already runs is reused.
# faults (the fault runs of faults/run.sh) and bench (the load runs of bench/run.sh) run like production,
# fsync and synchronous_commit on, and start every run from nothing: a fresh token and a fresh database.
#   devenv.sh NAME stop   stops that cluster again; devenv.sh NAME restart restarts it (pg_ctl -m fast).
# PostgreSQL refuses to run as root, so as root the cluster runs as the postgres user; when the checkout
# lies below a folder that user cannot enter (a clone under /root), the cluster lives under /var/tmp.
set -euo pipefail

name=${1:?usage: devenv.sh run|test|faults|bench [stop]}
action=${2:-up}
top=$(cd "$(dirname "$0")/.." && pwd)
state="$top/.local/$name"
case "$name" in
  run) port=${ACS_PG_PORT:-54329} ;;
  test) port=${ACS_PG_PORT:-54339} ;;
  faults) port=${ACS_PG_PORT:-54349} ;;
  bench) port=${ACS_PG_PORT:-54359} ;;
  *) echo "devenv.sh: unknown environment $name" >&2; exit 2 ;;
esac
pgbin=/usr/lib/postgresql/15/bin
softhsm_module=/usr/lib/softhsm/libsofthsm2.so
mkdir -p "$state"

log() { printf 'devenv(%s): %s\n' "$name" "$*" >&2 || true; }
# A closed terminal or pipe must not stop the clean-up half-way (the stop action runs from an EXIT trap).
trap '' PIPE

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pgdir prints the folder for the cluster, one the server's user can reach.
pgdir() {
  local d="$state/pg"
  if [ "$(id -u)" = 0 ]; then
    if ! id postgres >/dev/null 2>&1 || ! runuser -u postgres -- test -x "$state"; then
      d="/var/tmp/acs-$(printf '%s' "$top" | sha256sum | cut -c1-12)-$name"
    fi
  fi
  printf '%s' "$d"
}

install_packages() {
  local missing=()
  [ -x "$pgbin/initdb" ] || missing+=(postgresql-15)
  [ -f "$softhsm_module" ] || missing+=(softhsm2)
  # The tests run a real SMS gateway (Kannel, with fakesmsc as the operator's SMSC) on loopback.
  if [ "$name" = test ]; then
    [ -x /usr/sbin/bearerbox ] || missing+=(kannel)
    [ -x /usr/lib/kannel/test/fakesmsc ] || missing+=(kannel-extras)
    # The end-to-end tests drive Debian's Chromium headless (never a downloaded browser).
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    # axe-core (npm) checks every page of the browser tests for WCAG 2.1 A/AA violations (issue 18).
    command -v npm >/dev/null || missing+=(npm)
    # promtool checks and unit-tests the operator's alert rules (ops/prometheus); only the tool is used.
    [ -x /usr/bin/promtool ] || missing+=(prometheus)
  fi
  [ ${#missing[@]} = 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "devenv.sh: missing Debian packages: ${missing[*]} (install them as root)" >&2; exit 1
  fi
  log "installing ${missing[*]} from Debian packages"
  # The package would create and start a system-wide cluster on port 5432; this project needs none.
  mkdir -p /etc/postgresql-common
  [ -f /etc/postgresql-common/createcluster.conf ] || echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No package may start a service while it installs (prometheus would listen on :9090, kannel on its
  # ports): a policy-rc.d that refuses every start (invoke-rc.d and deb-systemd-invoke honour it) when
  # the machine has none, and prometheus masked so that a systemd boot does not start it either.
  local own_policy="" rc=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; own_policy=1
    # An interrupted install must not leave every service start on the machine refused.
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  if [[ " ${missing[*]} " == *" prometheus "* ]] && [ ! -e /etc/systemd/system/prometheus.service ]; then
    mkdir -p /etc/systemd/system; ln -s /dev/null /etc/systemd/system/prometheus.service
  fi
  apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null || rc=$?
  [ -z "$own_policy" ] || { rm -f /usr/sbin/policy-rc.d; trap - EXIT; }
  [ "$rc" = 0 ] || exit "$rc"
}

# axe_up installs the pinned axe-core of the browser tests (package-lock.json, integrity-checked) once;
# the tests read node_modules/axe-core/axe.min.js and never download at run time.
axe_up() {
  local dir=$top/cmd/acs/testdata/axe
  [ -f "$dir/node_modules/axe-core/axe.min.js" ] && return 0
  log "installing axe-core from the npm registry (npm ci)"
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
}

pg_up() {
  local d; d=$(pgdir)
  if [ ! -f "$d/data/PG_VERSION" ]; then
    log "creating PostgreSQL cluster in $d"
    rm -rf "$d"; mkdir -p "$d"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$d"
    as_pg "$pgbin/initdb" -D "$d/data" -U app --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$d/initdb.log" 2>&1 \
      || { cat "$d/initdb.log" >&2; exit 1; }
  fi
  if ! as_pg "$pgbin/pg_ctl" -D "$d/data" status >/dev/null 2>&1; then
    log "starting PostgreSQL on 127.0.0.1:$port"
    # fsync off only for the throw-away test cluster: it makes the suite faster, and a crash loses nothing.
    local extra=""
    [ "$name" = test ] && extra="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    # The load runs (bench/) count the statements each operation costs.
    [ "$name" = bench ] && extra="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top -c pg_stat_statements.track_planning=on"
    as_pg "$pgbin/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$d -c max_connections=200 $extra" start >/dev/null \
      || { tail -20 "$d/server.log" >&2; exit 1; }
  fi
  if [ "$name" = faults ] || [ "$name" = bench ]; then
    # The data keysets of an earlier run are wrapped by the previous token's key: start from nothing.
    PGOPTIONS='-c client_min_messages=warning' "$pgbin/psql" -h 127.0.0.1 -p "$port" -U app -d postgres -qc \
      'DROP DATABASE IF EXISTS acs WITH (FORCE)' >/dev/null
  fi
  if [ "$name" = run ] || [ "$name" = faults ] || [ "$name" = bench ]; then
    if ! "$pgbin/psql" -h 127.0.0.1 -p "$port" -U app -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='acs'" | grep -q 1; then
      "$pgbin/psql" -h 127.0.0.1 -p "$port" -U app -d postgres -qc 'CREATE DATABASE acs' >/dev/null
    fi
  fi
}

pg_stop() {
  local d; d=$(pgdir)
  if [ -f "$d/data/PG_VERSION" ] && as_pg "$pgbin/pg_ctl" -D "$d/data" status >/dev/null 2>&1; then
    log "stopping PostgreSQL"
    as_pg "$pgbin/pg_ctl" -D "$d/data" -m fast -w stop >/dev/null
  fi
}

# pg_restart restarts the running cluster the fast way (open sessions are ended), as an operator or a
# failover does; the fault runs (faults/) measure what the service makes of it.
pg_restart() {
  local d; d=$(pgdir)
  log "restarting PostgreSQL (fast)"
  # -l: the new server must not write to this script's output, which the caller may be waiting on.
  as_pg "$pgbin/pg_ctl" -D "$d/data" -l "$d/server.log" -m fast -w -t 60 restart >/dev/null
}

hsm_up() {
  local conf="$state/softhsm2.conf" tokens="$state/tokens"
  # Every test or fault run gets a token of its own: keys left by an earlier run must not make it pass.
  case "$name" in test | faults | bench) rm -rf "$tokens" "$state/per-process" ;; esac
  mkdir -p "$tokens"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' "$tokens" >"$conf"
  export SOFTHSM2_CONF="$conf"
  if ! softhsm2-util --show-slots 2>/dev/null | grep -q 'Label:.*acs-'"$name"; then
    log "initialising SoftHSM2 token acs-$name"
    softhsm2-util --init-token --free --label "acs-$name" --so-pin 87654321 --pin 1234 >/dev/null
  fi
}

case "$action" in
  up)
    install_packages
    [ "$name" = test ] && axe_up
    pg_up
    hsm_up
    cat >"$state/env" <<ENV
export SOFTHSM2_CONF=$state/softhsm2.conf
export ACS_PG_URL=postgres://app@127.0.0.1:$port
ENV
    ;;
  stop) pg_stop ;;
  restart) pg_restart ;;
  *) echo "devenv.sh: unknown action $action" >&2; exit 2 ;;
esac
