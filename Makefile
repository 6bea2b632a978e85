# Canopy — an OpenStack cloud made of other clouds.
# `make help` lists every target.

GO        ?= go
BIN       := bin/canopy
DATA_DIR  ?= $(CURDIR)/.data
LISTEN    ?= 127.0.0.1:5000
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/canopy-cloud/canopy/cmd/canopy/version.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/canopy
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/canopy

.PHONY: run
run: build ## build and start `canopy dev` (all-in-one, in-memory registry, simulated local pool)
	$(BIN) dev --data-dir $(DATA_DIR) --listen $(LISTEN)

.PHONY: test
test: ## vet and run every test (unit, registry against real redis, e2e with openstackclient)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

.PHONY: lint
lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

.PHONY: bench
bench: build ## run the benchmarks of DESIGN.md's budgets and write benchmarks/RESULTS.md
	bash benchmarks/run.sh

.PHONY: e2e
e2e: ## run only the end-to-end openstackclient scenario against a fresh `canopy dev`
	$(GO) test -count=1 -v ./e2e/

.PHONY: tempest
tempest: build ## run tempest's interop list against a fresh `canopy dev` (needs Debian's tempest)
	bash e2e/tempest.sh

.PHONY: fmt
fmt: ## gofmt every Go file
	gofmt -w $$(git ls-files '*.go')

.PHONY: clean
clean: ## remove build output and the dev data directory
	rm -rf bin $(DATA_DIR)
