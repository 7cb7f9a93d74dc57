#!/usr/bin/env bash
# run.sh: starts the ACS for local use with everything it needs: a private PostgreSQL cluster and
# SoftHSM2 token (scripts/devenv.sh run), the HSM keys, the schema and the demo issuer cards. Ctrl-C
# stops the service and the cluster. Another address: ACS_LISTEN=127.0.0.1:9090 make run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/devenv.sh run
# shellcheck disable=SC1091
. .local/run/env
trap 'scripts/devenv.sh run stop' EXIT
acs() { bin/acs -config "${ACS_CONFIG:-config/dev.yaml}" "$@"; }
acs hsm init
acs pki dev .local/run/pki
acs migrate
acs import-cards testdata/cards.csv
acs demo seed .local/run/demo-phone.json
acs letters sample .local/run/letters/sample-letter.pdf
acs serve
