# Shortcuts; each target is one command documented in README.md.
.PHONY: build test up bench lint

build:
	go build -o bin/recon ./services/recon

test:
	scripts/test.sh

up:
	go run ./services/recon up --demo

bench:
	scripts/bench.sh

lint:
	gofmt -l . && go vet ./...
