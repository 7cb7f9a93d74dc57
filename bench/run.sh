#!/usr/bin/env bash
# run.sh (make bench): the load runs of issue 13. Prepares a production-like private PostgreSQL cluster
# (fsync and synchronous commit on, pg_stat_statements loaded) and a fresh SoftHSM2 token (scripts/devenv.sh
# bench), the keys, the schema and the demo cards, starts `acs serve` with the bench configuration, and
# runs bin/acs-bench against it: every scenario next to the database's commit floor, the open-loop run
# at half of peak, 10,000 open challenges, and the import of 1,000,000 cards. Exit 1 when a target is
# missed. Everything is stopped on exit.
#   BENCH_ARGS   more flags for acs-bench (e.g. "-d 5s -only areq-frictionless,half-peak")
#   BENCH_FLEET  app cards on the fleet phone for app-flow and app-sdk-flow (default 1000: each serves 5 purchases a run)
set -euo pipefail
cd "$(dirname "$0")/.."
state=.local/bench
began=$(date +%s)
serve_pid=""
stop_all() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null || true
  scripts/devenv.sh bench stop
}
trap stop_all EXIT

CGO_ENABLED=1 go build -o bin/acs ./cmd/acs
go build -o bin/acs-bench ./bench
scripts/devenv.sh bench
# shellcheck disable=SC1091
. "$state/env"
rm -rf "$state/letters" "$state/pki" "$state"/*.json "$state/serve.log" "$state/setup.log"
port=${ACS_PG_PORT:-54359}
# The bench configuration: config/dev.yaml's rules on ports of its own, the DS, merchant and SMS gateway
# played by acs-bench (the DS over mutual TLS with the development PKI, the gateway with Kannel's
# protocol), no SMS budget, and the velocity rule off (one
# card buys thousands of times a minute here; that rule would challenge every purchase after the tenth).
cat >"$state/acs.yaml" <<YAML
listen: 127.0.0.1:8095
public_url: http://127.0.0.1:8095
database:
  url: postgres://app@127.0.0.1:$port/acs?sslmode=disable
  max_conns: 20
hsm:
  module: /usr/lib/softhsm/libsofthsm2.so
  token_label: acs-bench
  pin: "1234"
  key_prefix: acs
  max_sessions: 32
  pool_wait_timeout: 5s
log: {level: warn, format: json}
issuer: {name: Musterbank AG}
letters: {out_dir: $state/letters}
sms: {gateway: kannel, kannel_url: "http://127.0.0.1:8096/cgi-bin/sendsms", kannel_username: bench, kannel_password: bench,
  sender: Musterbank, price: "0.09", currency: EUR, budget_per_hour: 0, budget_per_day: 0}
shutdown_timeout: 10s
# The profiler, for go tool pprof http://127.0.0.1:8098/debug/pprof/profile?seconds=10 during a run (no backquotes: this heredoc expands them).
admin_listen: 127.0.0.1:8098
threeds:
  reference_number: 3DS_LOA_ACS_MUSTER_020200_00001
  operator_id: ACS-MUSTER-DEV
  directory_servers:
    - {scheme: visa, url: "https://127.0.0.1:8097/ds/rreq", hosts: ["127.0.0.1:8097"], signing_cert_file: $state/pki/acs-signing.pem}
    - {scheme: mastercard, url: "https://127.0.0.1:8097/ds/rreq", hosts: ["127.0.0.1:8097"], signing_cert_file: $state/pki/acs-signing.pem}
  ds_link: {ca_file: $state/pki/ca.pem, client_cert_file: $state/pki/acs-ds-client.pem, read_timeout: 5s}
  rreq_max_attempts: 30
  rreq_retry_interval: 10s
  low_value: {enabled: true, max_amount: "30", max_cumulative: "100", max_count: 5}
  risk: {tra_up_to_100: true, challenge_above: "2000", velocity_count: 0, velocity_window: 10m, known_browsers: true,
    whitelist_max_amount: "500"}
authentication_values: {generate_missing_keys: true}
demo:
  fleet_cards: $state/fleet.csv
  fleet_phone: $state/fleet-phone.json
YAML
acs() {
  bin/acs -config "$state/acs.yaml" "$@" 2>>"$state/setup.log" || { tail -5 "$state/setup.log" >&2; return 1; }
}
# The development commands (the DS link's PKI, the demo seed, which reads the number-confirmation code
# from the development SMS inbox) run with that inbox as the gateway.
sed 's/gateway: kannel, kannel_url: [^,]*, kannel_username: bench, kannel_password: bench,/gateway: dev,/' \
  "$state/acs.yaml" >"$state/dev.yaml"
dev() {
  bin/acs -config "$state/dev.yaml" "$@" 2>>"$state/setup.log" || { tail -5 "$state/setup.log" >&2; return 1; }
}
acs hsm init >/dev/null
dev pki dev "$state/pki" >/dev/null
acs migrate >/dev/null
acs import-cards testdata/cards.csv >/dev/null
# The app cards of app-flow: a fleet registered on one phone (as make faults has it).
rm -f "$state/fleet.csv" "$state/fleet-phone.json"
bin/acs-bench cards "${BENCH_FLEET:-1000}" "$state/fleet.csv"
acs import-cards "$state/fleet.csv" >/dev/null
# Anna's card for mTAN, through the cardholder's steps,
# and the fleet of app cards on their phone (demo.fleet_cards).
dev demo seed >/dev/null
bin/acs -config "$state/acs.yaml" serve 2>"$state/serve.log" &
serve_pid=$!
for _ in $(seq 100); do
  curl -fsS http://127.0.0.1:8095/readyz >/dev/null 2>&1 && break
  sleep 0.2
done
echo "bench: prepared in $(($(date +%s) - began)) s on $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
status=0
# shellcheck disable=SC2086
bin/acs-bench -acs http://127.0.0.1:8095 -db "postgres://app@127.0.0.1:$port/acs?sslmode=disable" -acs-pid "$serve_pid" \
  -fleet "$state/fleet.csv" -fleet-phone "$state/fleet-phone.json" \
  -import "bin/acs -config $state/acs.yaml import-cards" ${BENCH_ARGS:-} || status=$?
echo "bench: total run time $(($(date +%s) - began)) s"
exit $status
