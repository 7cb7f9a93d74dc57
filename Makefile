# The two front doors (see README.md): `make run` starts the service with everything it needs and demo
# data; `make test` runs the whole suite. Both install and start PostgreSQL and SoftHSM2 themselves.
SHELL := /bin/bash
GO ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build run test lint

build:
	CGO_ENABLED=1 $(GO) build -o bin/ ./cmd/...

run: build
	scripts/run.sh

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

test:
	scripts/test.sh
