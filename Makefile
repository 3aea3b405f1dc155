# anonjob developer commands. `make run` and `make test` are the two a newcomer needs.
GO ?= go
GOLANGCI_LINT_VERSION := v2.15.0
GREMLINS_VERSION := v0.6.0
GOBIN := $(shell $(GO) env GOPATH)/bin

.PHONY: run test test-short generate check-generated lint bench fuzz build mutation

run: ## Run anonjobd on its defaults: embedded PostgreSQL in ./anonjob-data, gRPC 127.0.0.1:9090, HTTP 127.0.0.1:8080, built-in engine.
	scripts/install-detector-data.sh
	$(GO) run ./cmd/anonjobd

test: ## Vet and run every test against a real PostgreSQL (TEST_DATABASE_URL, or a throwaway cluster).
	scripts/install-detector-data.sh
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

test-short: ## The tests without the race detector.
	$(GO) test -count=1 ./...

build:
	$(GO) build -o bin/ ./cmd/...

generate: ## Regenerate gen/ from proto/ (offline, pinned tools).
	scripts/generate.sh

check-generated: ## Fail if gen/ is stale or buf lint fails.
	scripts/generate.sh --check

lint: ## golangci-lint, pinned, built outside the module's go.mod.
	test -x $(GOBIN)/golangci-lint && $(GOBIN)/golangci-lint version | grep -q $(patsubst v%,%,$(GOLANGCI_LINT_VERSION)) || \
		$(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	$(GOBIN)/golangci-lint run ./...

bench: ## Benchmarks of the job API, the watch fan-out and the built-in engine.
	$(GO) test -run '^$$' -bench . -benchtime 3s ./internal/server/
	$(GO) test -run '^$$' -bench . -benchtime 10x ./internal/blazeface/ ./internal/anonymize/ ./internal/engine/

fuzz: ## Run each fuzz target for a minute.
	$(GO) test ./internal/providerhook -run '^$$' -fuzz FuzzParse -fuzztime 60s
	$(GO) test ./internal/pagetoken -run '^$$' -fuzz FuzzDecode -fuzztime 60s

# Mutation testing: one package at a time (each mutant rebuilds and reruns its package's tests),
# one worker with one CPU, and a generous timeout, so that a busy machine times out no mutant
# that the tests would have killed. `make mutation MUTATION_PKGS=dispatch` runs one package.
# GOFLAGS=-count=1: gremlins times its first run and scales every mutant's timeout from it, so
# that run must not come from the test cache. TEST_DATABASE_URL, when set, is passed through:
# one running PostgreSQL instead of a new cluster per mutant.
MUTATION_PKGS ?= dispatch store watch job clientwebhook
GREMLINS_FLAGS ?= --workers 1 --test-cpu 1 --timeout-coefficient 10 --threshold-efficacy 85 --threshold-mcover 80

mutation: ## Mutation testing (gremlins, pinned) of the core packages; slow, not part of `make test`. See docs/testing.md.
	$(GO) version -m $(GOBIN)/gremlins 2>/dev/null | grep -q 'mod.*go-gremlins/gremlins.*$(GREMLINS_VERSION)' || \
		$(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)
	@fail=0; for p in $(MUTATION_PKGS); do \
		echo "== internal/$$p"; \
		GOFLAGS=-count=1 $(GOBIN)/gremlins unleash $(GREMLINS_FLAGS) ./internal/$$p || fail=1; \
	done; exit $$fail
