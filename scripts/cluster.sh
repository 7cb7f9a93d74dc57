#!/usr/bin/env bash
# cluster.sh (make cluster, issue 17): the ACS as an operator would run it, on one machine, on loopback,
# from Debian packages: etcd (one member) holding Patroni's leader lock; two PostgreSQL 15 servers managed
# by Patroni, a primary and a streaming hot standby with synchronous replication; three `acs serve`
# nodes that reach the database through a multi-host URL (they follow the primary: store.followPrimary);
# haproxy in front of the nodes (health check /readyz, no stickiness) and of PostgreSQL (the primary, by
# Patroni's REST check); one SoftHSM2 token directory shared by the nodes, keys created once.
# Everything lives under .local/cluster (git-ignored); Ctrl-C stops it all; running it again reuses the
# data. Ports: 8080 the ACS (haproxy), 8404 haproxy's status page, 18081-18083 the nodes, 55430 the
# primary (haproxy), 55431/55432 the PostgreSQL servers, 8008/8009 Patroni's REST API, 2379 etcd.
# For the chaos run (scripts/chaos.sh) each process's id and command line are kept under
# .local/cluster/run (NAME.pid, NAME.cmd), so that a process it killed can be started again and is still
# stopped with the rest; run/ready appears once everything answers.
#   ACS_CLUSTER_BASE  the configuration the nodes' are made from (default config/dev.yaml; its listen,
#                     database URL, token label and .local/run/ paths are replaced)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
state="$top/.local/cluster"
base=${ACS_CLUSTER_BASE:-config/dev.yaml}
pgbin=/usr/lib/postgresql/15/bin
mkdir -p "$state/logs" "$state/run"
rm -f "$state/run/ready" "$state/run/order" "$state/run/"*.pid
log() { printf 'cluster: %s\n' "$*" >&2; }

install_packages() {
  local missing=()
  [ -x "$pgbin/initdb" ] || missing+=(postgresql-15)
  [ -f /usr/lib/softhsm/libsofthsm2.so ] || missing+=(softhsm2)
  command -v haproxy >/dev/null || missing+=(haproxy)
  command -v patroni >/dev/null || missing+=(patroni)
  command -v etcd >/dev/null || missing+=(etcd-server)
  command -v curl >/dev/null || missing+=(curl)
  [ ${#missing[@]} = 0 ] && return 0
  [ "$(id -u)" = 0 ] || { log "missing Debian packages: ${missing[*]} (install them as root)"; exit 1; }
  log "installing ${missing[*]} from Debian packages"
  mkdir -p /etc/postgresql-common
  [ -f /etc/postgresql-common/createcluster.conf ] || echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
  # No package may start its own service (etcd, haproxy, patroni would take the ports used here).
  local own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; own_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$own_policy" ] || { rm -f /usr/sbin/policy-rc.d; trap - EXIT; }
}

# The PostgreSQL data must be reachable by the postgres user (a clone under /root is not).
pgroot="$state/pg"
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$state" 2>/dev/null; then
  pgroot="/var/tmp/acs-$(printf '%s' "$top" | sha256sum | cut -c1-12)-cluster"
fi
# Patroni runs as the postgres user. setpriv execs it (runuser would fork), and it is started directly
# in the background, not through a function (a subshell would stand between): its pid is Patroni's,
# and stopping that stops Patroni, which stops its PostgreSQL.
as_pg=()
[ "$(id -u)" = 0 ] && as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --)

# start NAME COMMAND...: COMMAND in the background, its output in logs/NAME.log; run/NAME.pid holds its
# id (a restart by the chaos run writes the new one), run/NAME.cmd the command line (with the HSM's
# configuration, which the nodes need).
start() {
  local name=$1
  shift
  "$@" >>"$state/logs/$name.log" 2>&1 &
  echo $! >"$state/run/$name.pid"
  # Out of the shell's job table: a process the chaos run kills is no news here ("Killed").
  disown
  { [ -z "${SOFTHSM2_CONF:-}" ] || printf 'env SOFTHSM2_CONF=%q ' "$SOFTHSM2_CONF"; printf '%q ' "$@"; } >"$state/run/$name.cmd"
  echo "$name" >>"$state/run/order"
}
stop_all() {
  trap - INT TERM EXIT
  log "stopping"
  rm -f "$state/run/ready"
  # Whatever runs now under each name, last started first (a process the chaos run restarted included).
  pids=()
  [ -f "$state/run/order" ] && while read -r name; do
    [ -f "$state/run/$name.pid" ] && pids+=("$(cat "$state/run/$name.pid")")
  done <"$state/run/order"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
  # Patroni stops its PostgreSQL first; give everything 30 s, then end what is left.
  for _ in $(seq 1 60); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
}
trap stop_all EXIT
trap 'stop_all; exit 0' INT TERM

# wait_http URL [CODE]: until URL answers (with CODE), at most 60 s.
wait_http() {
  for _ in $(seq 1 120); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)
    if [ "$code" = "${2:-200}" ]; then return 0; fi
    sleep 0.5
  done
  log "$1 did not answer ${2:-200}"; exit 1
}

install_packages
make -s build

log "etcd on 127.0.0.1:2379"
mkdir -p "$state/etcd"
start etcd etcd --name acs-etcd --data-dir "$state/etcd" --enable-v2=true \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster acs-etcd=http://127.0.0.1:2380
wait_http http://127.0.0.1:2379/health

mkdir -p "$pgroot"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$pgroot"
echo "$pgroot" >"$state/run/pgroot"
# Run once on the first primary: the application's role and database.
cat >"$pgroot/post_bootstrap.sh" <<'SH'
#!/bin/sh
set -e
psql "$1" -v ON_ERROR_STOP=1 -c "CREATE ROLE app LOGIN" -c "CREATE DATABASE acs OWNER app"
SH
chmod 755 "$pgroot/post_bootstrap.sh"
for n in 1 2; do
  cat >"$pgroot/patroni$n.yml" <<YML
scope: acs
name: pg$n
restapi: {listen: 127.0.0.1:800$((7 + n)), connect_address: 127.0.0.1:800$((7 + n))}
etcd: {host: 127.0.0.1:2379}
bootstrap:
  # Failover within seconds: the leader key lives 10 s, Patroni looks every 2 s (issue 17 asks for
  # writes again within 15 s of a fault).
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    # An acknowledged commit is on both servers: a failover loses no approval.
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters: {wal_level: replica, hot_standby: "on", max_wal_senders: 5, max_replication_slots: 5, wal_log_hints: "on"}
  initdb: [{encoding: UTF8}, {locale: C.UTF-8}, {auth: trust}]
  post_bootstrap: $pgroot/post_bootstrap.sh
postgresql:
  # Loopback only, one machine: trust (a real deployment uses scram-sha-256 and TLS between machines).
  pg_hba:
    - host all all 127.0.0.1/32 trust
    - host replication replicator 127.0.0.1/32 trust
    - local all all trust
  listen: 127.0.0.1:5543$n
  connect_address: 127.0.0.1:5543$n
  data_dir: $pgroot/pg$n
  bin_dir: $pgbin
  pgpass: $pgroot/pgpass$n
  authentication:
    superuser: {username: postgres}
    replication: {username: replicator}
  parameters: {unix_socket_directories: "$pgroot"}
  # A new standby copies the primary at once, not after a spread checkpoint (minutes).
  basebackup: [{checkpoint: fast}]
YML
  log "Patroni pg$n (PostgreSQL 127.0.0.1:5543$n, REST 127.0.0.1:800$((7 + n)))"
  start "patroni$n" "${as_pg[@]}" patroni "$pgroot/patroni$n.yml"
  # The first server bootstraps the cluster; the second joins as its standby.
  [ "$n" = 1 ] && { wait_http http://127.0.0.1:8008/health || true; }
done
for _ in $(seq 1 120); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8008/primary)" = 200 ] ||
    [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8009/primary)" = 200 ]; then break; fi
  sleep 0.5
done
wait_http http://127.0.0.1:8009/health
log "primary and standby up: $(curl -s http://127.0.0.1:8008/cluster | tr -d '\n' | cut -c1-300)"

# One SoftHSM2 token for all nodes, as a network HSM's partition would be.
export SOFTHSM2_CONF="$state/softhsm2.conf"
mkdir -p "$state/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' "$state/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --show-slots 2>/dev/null | grep -q 'Label:.*acs-cluster' ||
  softhsm2-util --init-token --free --label acs-cluster --so-pin 87654321 --pin 1234 >/dev/null

# The nodes' configuration: the base (config/dev.yaml) with the cluster's addresses.
for n in 1 2 3; do
  sed -e "s|^listen: .*|listen: 127.0.0.1:1808$n|" \
    -e "s|url: postgres://app@127.0.0.1:54329/acs?sslmode=disable|url: postgres://app@127.0.0.1:55431,127.0.0.1:55432/acs?sslmode=disable\&target_session_attrs=read-write|" \
    -e "s|token_label: acs-run|token_label: acs-cluster|" -e "s|\.local/run/|.local/cluster/|g" \
    "$base" >"$state/node$n.yaml"
done
# The setup commands use the development SMS inbox (demo seed reads the number's confirmation code
# there), whatever gateway the nodes use.
sed -e 's/^  gateway: .*/  gateway: dev/' -e '/^  kannel_/d' "$state/node1.yaml" >"$state/setup.yaml"
# What they print shows; their log goes to logs/setup.log (its end shows when one fails).
acs() {
  bin/acs -config "$state/setup.yaml" "$@" 2>>"$state/logs/setup.log" || { tail -5 "$state/logs/setup.log" >&2; return 1; }
}
acs migrate
acs hsm init
acs pki dev .local/cluster/pki
acs import-cards testdata/cards.csv
# A fleet of app cards (the chaos run's, written by acs-faults cards), registered by demo seed when the
# configuration names it (demo.fleet_cards).
[ -f "$state/fleet.csv" ] && acs import-cards "$state/fleet.csv"
acs demo seed .local/cluster/demo-phone.json
# One after another: SoftHSM2 rewrites the token's file at a login, and a process that reads it
# meanwhile finds no initialised PIN (CKR_USER_PIN_NOT_INITIALIZED). A network HSM has no such limit.
for n in 1 2 3; do
  log "acs node $n on 127.0.0.1:1808$n"
  start "node$n" bin/acs -config "$state/node$n.yaml" serve
  wait_http "http://127.0.0.1:1808$n/readyz"
done

cat >"$state/haproxy.cfg" <<CFG
global
  log stdout format raw local0 info
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  log global
  option httplog
  # A connection a dead node refuses goes to another node at once (no request reached the dead one).
  retries 2
  option redispatch 1
# The ACS: any node serves any step (all state is in PostgreSQL), so no stickiness; a node that fails
# /readyz twice at 1 s is out within 3 s.
frontend acs
  bind 127.0.0.1:8080
  default_backend acs_nodes
backend acs_nodes
  balance roundrobin
  option httpchk GET /readyz
  # Which node answered (the chaos run follows a challenge across nodes by it).
  http-response set-header X-ACS-Node %s
  default-server inter 1s fall 2 rise 2
  server node1 127.0.0.1:18081 check
  server node2 127.0.0.1:18082 check
  server node3 127.0.0.1:18083 check
# The primary, for tools (psql, pg_dump): Patroni's REST API answers /primary 200 on the primary only.
listen postgres
  bind 127.0.0.1:55430
  mode tcp
  option httpchk GET /primary
  http-check expect status 200
  default-server inter 1s fall 2 rise 2 on-marked-down shutdown-sessions
  server pg1 127.0.0.1:55431 check port 8008
  server pg2 127.0.0.1:55432 check port 8009
listen stats
  bind 127.0.0.1:8404
  stats enable
  stats uri /
  stats refresh 2s
CFG
start haproxy haproxy -f "$state/haproxy.cfg"
wait_http http://127.0.0.1:8080/readyz
touch "$state/run/ready"
if grep -q '^  enabled: true' "$state/node1.yaml"; then
  log "ready: the shop at http://127.0.0.1:8080/demo through haproxy, its status at http://127.0.0.1:8404/;"
else
  log "ready: the ACS at http://127.0.0.1:8080 through haproxy, its status at http://127.0.0.1:8404/;"
fi
log "logs under .local/cluster/logs; patronictl -c $pgroot/patroni1.yml list; Ctrl-C stops it all"
# Until Ctrl-C or TERM (the processes are found by their pid files, not as this shell's jobs).
while :; do sleep 1; done
