#!/usr/bin/env bash
# chaos.sh (make chaos, issue 17): make cluster under faults. It starts scripts/cluster.sh with a
# configuration of its own (the SMS gateway and the DS played by acs-faults over their real protocols,
# Kannel's sendsms and mutual TLS; RReqs retried every second; no velocity rule and no SMS budget, since
# one card buys many times a minute here) and a fleet of app cards, then runs `acs-faults chaos`: browser
# purchases with an mTAN and purchases approved in the app go through haproxy while a node is killed
# (SIGKILL) and started again, Patroni switches the primary over, and the primary's machine is killed
# (its Patroni and PostgreSQL, SIGKILL) and started again. It prints the figures and exits 1 when one
# misses its bar; the cluster is stopped at the end either way.
#   CHAOS_CARDS  fleet cards (default 600; each may be used 5 times in ten minutes)
#   CHAOS_ARGS   more flags for acs-faults chaos (e.g. "-run 200s -app-clients 6")
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
state=.local/cluster
began=$(date +%s)
mkdir -p "$state"

cluster_pid=""
stop_cluster() {
  trap - INT TERM EXIT
  if [ -n "$cluster_pid" ]; then
    kill -TERM "$cluster_pid" 2>/dev/null || true
    wait "$cluster_pid" 2>/dev/null || true
  fi
}
trap stop_cluster INT TERM EXIT

go build -o bin/acs-faults ./faults
bin/acs-faults cards "${CHAOS_CARDS:-600}" "$state/fleet.csv"
# In config/dev.yaml's form: scripts/cluster.sh replaces the listen address, the database URL, the token
# label and the .local/run/ paths.
cat >"$state/chaos-base.yaml" <<'YAML'
listen: 127.0.0.1:8080
public_url: http://127.0.0.1:8080
database:
  url: postgres://app@127.0.0.1:54329/acs?sslmode=disable
  max_conns: 20
hsm:
  module: /usr/lib/softhsm/libsofthsm2.so
  token_label: acs-run
  pin: "1234"
  key_prefix: acs
  max_sessions: 32
  pool_wait_timeout: 5s
log:
  level: info
  format: json
issuer:
  name: Musterbank AG
letters:
  out_dir: .local/run/letters
sms:
  gateway: kannel
  kannel_url: http://127.0.0.1:8293/cgi-bin/sendsms
  kannel_username: chaos
  kannel_password: chaos
  sender: Musterbank
  price: "0.09"
  currency: EUR
  budget_per_hour: 0
  budget_per_day: 0
shutdown_timeout: 10s
threeds:
  reference_number: 3DS_LOA_ACS_MUSTER_020200_00001
  operator_id: ACS-MUSTER-DEV
  directory_servers:
    - {scheme: visa, url: "https://127.0.0.1:8292/rreq", hosts: ["127.0.0.1:8292"]}
    - {scheme: mastercard, url: "https://127.0.0.1:8292/rreq", hosts: ["127.0.0.1:8292"]}
  ds_link:
    ca_file: .local/run/pki/ca.pem
    client_cert_file: .local/run/pki/acs-ds-client.pem
    read_timeout: 5s
  rreq_max_attempts: 100
  rreq_retry_interval: 1s
  low_value: {enabled: true, max_amount: "30", max_cumulative: "100", max_count: 5}
  risk: {tra_up_to_100: true, challenge_above: "2000", velocity_count: 0, velocity_window: 10m, known_browsers: true,
    whitelist_max_amount: "500"}
authentication_values: {generate_missing_keys: true}
# demo seed (run by cluster.sh with the development inbox) registers the fleet; the demo shop stays off.
demo:
  enabled: false
  phone_state: .local/run/demo-phone.json
  fleet_cards: .local/run/fleet.csv
  fleet_phone: .local/run/fleet-phone.json
YAML

ACS_CLUSTER_BASE="$state/chaos-base.yaml" scripts/cluster.sh &
cluster_pid=$!
# The first run installs packages and bootstraps PostgreSQL: allow it ten minutes.
for _ in $(seq 1 1200); do
  [ -f "$state/run/ready" ] && break
  kill -0 "$cluster_pid" 2>/dev/null || { echo "chaos: make cluster ended before it was ready" >&2; exit 1; }
  sleep 0.5
done
[ -f "$state/run/ready" ] || { echo "chaos: make cluster not ready within ten minutes" >&2; exit 1; }
echo "chaos: cluster ready in $(($(date +%s) - began)) s on $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
status=0
# shellcheck disable=SC2086
bin/acs-faults chaos -cluster "$state" ${CHAOS_ARGS:-} || status=$?
echo "chaos: total run time $(($(date +%s) - began)) s"
exit $status
