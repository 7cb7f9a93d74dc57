#!/usr/bin/env bash
# test.sh: the whole test suite against a private PostgreSQL cluster and a fresh SoftHSM2 token
# (scripts/devenv.sh test), stopped again at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/devenv.sh test
# shellcheck disable=SC1091
. .local/test/env
trap 'scripts/devenv.sh test stop' EXIT
export CGO_ENABLED=1
# devenv.sh installed Chromium: the browser tests must run, not skip.
export ACS_E2E=1
echo "== gofmt"
unformatted=$(gofmt -l .)
[ -z "$unformatted" ] || { echo "not gofmt-formatted: $unformatted" >&2; exit 1; }
echo "== go vet"
go vet ./...
echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
echo "== go test -race"
go test -race -count=1 -timeout 15m ./...
