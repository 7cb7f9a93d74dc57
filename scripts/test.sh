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
# Every decoder of the wire format is fuzzed for a few seconds on each run (README "EMV conformance":
# a longer run is one -fuzztime away). New crashers land in testdata/fuzz and fail the run.
echo "== fuzz"
for pkg in ./emv/ ./acs/; do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
    # Go's fuzzing engine now and then gives up with "context deadline exceeded" on a loaded machine
    # and no crasher; one more run tells that apart from a real find, which is saved under
    # testdata/fuzz and fails the second run too (it is replayed first).
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "${ACS_FUZZTIME:-3s}" "$pkg" ||
      go test -run '^$' -fuzz "^${target}\$" -fuzztime "${ACS_FUZZTIME:-3s}" "$pkg"
  done
done
