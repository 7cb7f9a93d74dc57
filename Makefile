# The two front doors (see README.md): `make run` starts the service with everything it needs and demo
# data; `make test` runs the whole suite. Both install and start PostgreSQL and SoftHSM2 themselves.
# `make faults` runs the fault scenarios against a real service and prints the figures (issue 12);
# `make bench` the load runs with their figures and targets (issue 13); `make cluster` the service as
# three nodes behind haproxy on a Patroni-managed primary and standby, `make chaos` that cluster under
# faults with its figures (issue 17).
SHELL := /bin/bash
GO ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build run test lint faults bench cluster chaos

build:
	CGO_ENABLED=1 $(GO) build -o bin/ ./cmd/...

run: build
	scripts/run.sh

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

test:
	scripts/test.sh

faults:
	faults/run.sh

bench:
	bench/run.sh

# Three nodes behind haproxy, PostgreSQL primary and standby under Patroni with etcd (issue 17; README
# "Running a cluster").
cluster:
	scripts/cluster.sh

# make cluster under faults: node kills, a switchover and a killed primary while purchases run through
# haproxy; prints the figures, exits 1 on a miss (issue 17).
chaos:
	scripts/chaos.sh
