# Pensieve — build, test and check every module of the workspace.
# `make test` is what CI runs (through .ci/run); long runs live in bench, soak and fuzz.

MODULES   := core model engine metal claude config proxy server cli
ALLMODS   := $(MODULES) tools deploy
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/pensieve-llm/pensieve/cli/app.Version=$(VERSION)
BIN       := bin
export CGO_ENABLED ?= 0
# The race detector needs cgo; CGO_ENABLED=1 only for -race test runs.
RACE      ?= -race
FUZZTIME  ?= 30s
# One fuzzing worker per target by default, so `make fuzz` leaves a core free.
FUZZPAR   ?= 1
PENSIEVE_FIXTURES ?= $(CURDIR)/../shared/fixtures
export PENSIEVE_FIXTURES

# CONTAINER picks the engine for `make image`: podman, else docker.
CONTAINER ?= $(shell command -v podman 2>/dev/null || command -v docker 2>/dev/null)

.PHONY: all build test image test-modules lint layering cross bench fuzz demo tidy clean soak e2e

all: build

build:
	@mkdir -p $(BIN)
	cd cli && $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o ../$(BIN)/pensieve-cli ./cmd/pensieve-cli
	cd proxy && $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o ../$(BIN)/pensieve-proxy ./cmd/pensieve-proxy

# test: formatting, vet, the layer check, then every module on its own
# (GOWORK=off, so a missing require in a go.mod fails here).
test: lint layering test-modules

lint:
	@out=$$(gofmt -l $(ALLMODS)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@for m in $(ALLMODS); do (cd $$m && GOWORK=off $(GO) vet ./...) || exit 1; done

layering:
	cd tools && $(GO) test -count=1 ./layering/

test-modules:
	@for m in $(ALLMODS); do \
		echo "== $$m"; \
		(cd $$m && GOWORK=off CGO_ENABLED=1 $(GO) test $(RACE) -count=1 -timeout 20m ./...) || exit 1; \
	done

cross:
	@for m in $(MODULES); do \
		echo "== $$m (darwin/arm64)"; \
		(cd $$m && GOWORK=off CGO_ENABLED=0 GOOS=darwin GOARCH=arm64 $(GO) build ./... && \
		 GOWORK=off CGO_ENABLED=0 GOOS=darwin GOARCH=arm64 $(GO) vet ./...) || exit 1; \
	done
	@for m in $(MODULES); do (cd $$m && GOWORK=off CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build ./...) || exit 1; done

# bench: the models of the llama.cpp reference table (issue 12), synthesized once into BENCH_CACHE,
# measured with `pensieve-cli bench --bandwidth` and the warm-prefix test; the results replace the
# marked section of docs/performance.md. BENCH_ARGS passes more flags (e.g. -runs 5, -models ...).
BENCH_CACHE ?= $(HOME)/.cache/pensieve/bench
BENCH_VOCAB ?= $(PENSIEVE_FIXTURES)/models/vocab-llama3.gguf
bench: build
	cd tools && GOWORK=off $(GO) run ./bench -cli ../$(BIN)/pensieve-cli -cache $(BENCH_CACHE) \
		-vocab $(BENCH_VOCAB) -doc ../docs/performance.md -cli-dir ../cli $(BENCH_ARGS)

# fuzz runs every Fuzz target for FUZZTIME each.
fuzz:
	@for m in $(MODULES); do \
		(cd $$m && for pkg in $$(GOWORK=off $(GO) list ./...); do \
			for f in $$(GOWORK=off $(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
				echo "== $$pkg $$f"; \
				GOWORK=off $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -parallel $(FUZZPAR) $$pkg || exit 1; \
			done; done) || exit 1; \
	done

# demo: build, then serve the configured models — or, when none is configured, a small model with
# random weights synthesized once into DEMO_CACHE — on a free port, stream one answer through the
# official Go SDK, print it and stop the server with SIGINT. Needs no network and no ../shared.
DEMO_CACHE ?= $(CURDIR)/.cache/demo
demo: build
	cd cli && $(GO) build -trimpath -o ../$(BIN)/pensieve-demo ./cmd/pensieve-demo
	./$(BIN)/pensieve-demo -cli ./$(BIN)/pensieve-cli -cache $(DEMO_CACHE)

# e2e: install Claude Code from npm into E2E_CACHE and run `claude -p "Say hi"` against
# pensieve-cli serve; it passes when claude exits 0 with output. The model has the fixtures' tiny
# llama shape and Llama 3 vocabulary, its context widened to 32768 (Claude Code's first prompt is
# ~18,000 tokens) and its weights rigged to answer "Hi!" and end the turn: a random model would
# not stop before max_tokens, which Claude Code reports as an error.
E2E_CACHE ?= $(CURDIR)/.cache/e2e
E2E_VOCAB ?= $(PENSIEVE_FIXTURES)/models/vocab-llama3.gguf
e2e: build
	cd cli && $(GO) build -trimpath -o ../$(BIN)/pensieve-demo ./cmd/pensieve-demo
	test -x $(E2E_CACHE)/node_modules/.bin/claude || npm install --prefix $(E2E_CACHE) --no-audit --no-fund @anthropic-ai/claude-code
	./$(BIN)/pensieve-demo -cli ./$(BIN)/pensieve-cli -cache $(E2E_CACHE) \
		-claude $(E2E_CACHE)/node_modules/.bin/claude -prompt "Say hi" -answer "Hi!" -max-tokens 32 -timeout 45m \
		-vocab $(E2E_VOCAB) -context 32768 -serve-arg=--context -serve-arg=32768 -serve-arg=--slots -serve-arg=1

tidy:
	@for m in $(ALLMODS); do (cd $$m && GOWORK=off $(GO) mod tidy) || exit 1; done

image:
	@test -n "$(CONTAINER)" || { echo "make image: no podman or docker found"; exit 1; }
	$(CONTAINER) build -f Containerfile --build-arg VERSION=$(VERSION) -t pensieve:$(VERSION) .

clean:
	rm -rf $(BIN)

# soak: TestReliabilitySoak for SOAK_DURATION — the built server under rounds of 32
# concurrent streams (8 hanging up mid-stream), non-stream and malformed requests; fails
# on an invalid stream, goroutine growth or RSS growth (docs/reliability.md). soak-long
# is the 10-minute run behind the figures in the docs; SOAK_REPORT gets the JSON report.
SOAK_DURATION ?= 2m
SOAK_REPORT   ?= $(CURDIR)/$(BIN)/soak-report.json
soak:
	@mkdir -p $(dir $(SOAK_REPORT))
	cd cli && $(GO) test -count=1 -timeout 40m -v -run '^TestReliabilitySoak$$' ./app \
		-soak.duration=$(SOAK_DURATION) -soak.report=$(SOAK_REPORT)

soak-long:
	$(MAKE) soak SOAK_DURATION=10m

.PHONY: soak-long
