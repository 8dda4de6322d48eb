# dormant: build, run and test. `make run` starts the all-in-one with embedded NATS and SQLite;
# `make test` runs everything CI runs.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c

MODULES := events services/platform services/platform/testenv services/openmrs services/login-ingest services/policy services/dormant deploy/deploytest deploy/examples chaos
PKGS := $(MODULES:%=./%/...)
GOBIN ?= $(shell go env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/dormant-dev/dormant/services/platform/buildinfo.Version=$(VERSION)

DORMANT_DATA_DIR ?= ./data
DORMANT_CONFIG ?= deploy/dormant.example.yaml
DORMANT_HTTP_ADDR ?= 127.0.0.1:8080

.PHONY: all build run demo test lint verify vet fmt-check staticcheck browser unit java fuzz fuzz-ci bench clean chaos chaos-ci soak

all: build

build:
	@mkdir -p bin
	go build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./services/dormant/cmd/dormant ./services/login-ingest/cmd/login-ingest ./services/policy/cmd/policy

run: build
	@echo "dormant: admin page, intake, health and metrics on http://$(DORMANT_HTTP_ADDR)/"
	DORMANT_DATA_DIR=$(DORMANT_DATA_DIR) DORMANT_CONFIG=$(DORMANT_CONFIG) DORMANT_HTTP_ADDR=$(DORMANT_HTTP_ADDR) \
	DORMANT_DEMO_TOKEN=$${DORMANT_DEMO_TOKEN:-demo-token} DORMANT_LOG_FORMAT=$${DORMANT_LOG_FORMAT:-console} \
	./bin/dormant serve

# Everything against a fake OpenMRS (deploy/demo): sign in to the admin page as admin /
# Admin123, send logins with `bin/dormant send-login --site demo --token demo-token`. The fake
# makes new user uuids at every start, so the demo starts from empty data each time.
demo: build
	@mkdir -p bin && go build -o bin/ ./services/openmrs/cmd/fake-openmrs
	@rm -rf $(DORMANT_DATA_DIR)/demo
	@echo "fake OpenMRS on http://127.0.0.1:8090/openmrs (admin / Admin123)"
	@echo "dormant: admin page on http://$(DORMANT_HTTP_ADDR)/ (sign in as admin / Admin123)"
	@./bin/fake-openmrs -addr 127.0.0.1:8090 -seed deploy/demo/openmrs-seed.json & fake=$$!; \
	trap "kill $$fake 2>/dev/null" EXIT INT TERM; \
	DORMANT_DATA_DIR=$(DORMANT_DATA_DIR)/demo DORMANT_CONFIG=deploy/demo/dormant.yaml DORMANT_HTTP_ADDR=$(DORMANT_HTTP_ADDR) \
	DORMANT_DEMO_TOKEN=$${DORMANT_DEMO_TOKEN:-demo-token} DORMANT_DEMO_OPENMRS_PASSWORD=Admin123 \
	DORMANT_LOG_FORMAT=$${DORMANT_LOG_FORMAT:-console} ./bin/dormant serve

# The whole suite CI runs: formatting, vet, staticcheck, Go tests (real PostgreSQL and NATS,
# headless Chromium for the admin page), the Java hook's build and tests, a brief fuzz of the
# event decoders (fuzz-ci), and the short chaos run. Every fuzz target's seed corpus runs as a
# plain test in `unit`; exploring every target (`make fuzz`) stays out of CI, because a random
# search in the policy or OpenMRS parsers that finds something new would fail an unrelated
# change: run it on its own and commit what it finds to testdata/fuzz as a seed.
test: fmt-check verify vet staticcheck browser unit java fuzz-ci chaos-ci

# Every dependency is pinned in go.sum and the module cache holds exactly those bytes.
verify:
	@for m in $(MODULES); do (cd $$m && go mod verify >/dev/null) || { echo "go mod verify failed in $$m"; exit 1; }; done; echo "go mod verify: all modules verified"

# Debian's Chromium drives the admin page's browser tests. Installed when missing and we may
# (root with apt); otherwise those tests skip, except under CI=true where they fail.
browser:
	@if command -v chromium >/dev/null 2>&1; then chromium --version 2>/dev/null || true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else echo "chromium is not installed: the admin page's browser tests will skip (apt-get install chromium)"; fi

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	go vet $(PKGS)

$(STATICCHECK):
	GOFLAGS=-mod=mod go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) $(PKGS)

lint: fmt-check vet staticcheck

unit:
	go test -count=1 -timeout 20m $(PKGS)

java:
	bash deploy/openmrs-module/build.sh

FUZZTIME ?= 20s
# Every fuzz target in the repository, found in the test sources, for FUZZTIME each (the seed
# corpora under testdata/fuzz run as plain tests in `unit` too).
fuzz:
	@for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' events services | xargs -n1 dirname | sort -u); do \
		for f in $$(grep -h '^func Fuzz' $$dir/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
			echo "fuzz ./$$dir $$f for $(FUZZTIME)"; \
			go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./$$dir || exit 1; \
		done; \
	done

# The event decoders every byte from outside goes through (NATS, HTTP, data), explored briefly
# in CI: none may panic or fail without a reason. They have run for millions of inputs
# (docs/reliability.md), so a find here is a real regression in the decoders.
FUZZCI_TIME ?= 10s
fuzz-ci:
	@for f in FuzzFromNATS FuzzFromHTTP FuzzDecode; do \
		echo "fuzz ./events $$f for $(FUZZCI_TIME)"; \
		go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZCI_TIME) ./events || exit 1; \
	done

# Fault injection against the real binaries (docs/chaos.md): kills, restarts, dropped
# connections, OpenMRS faults, duplicates, reordering, clock jumps, checked against an oracle.
# chaos-ci is the short version CI runs.
chaos:
	cd chaos && CI=true DORMANT_CHAOS=full go test -count=1 -run '^TestChaos$$' -timeout 40m -v .

chaos-ci:
	cd chaos && DORMANT_CHAOS=ci go test -count=1 -run '^TestChaos$$' -timeout 10m -v .

# Steady load with hourly simulated ticks; reports memory, goroutines and consumer lag.
SOAK_DURATION ?= 10m
soak:
	cd chaos && DORMANT_SOAK=1 DORMANT_SOAK_DURATION=$(SOAK_DURATION) go test -count=1 -run '^TestSoak$$' -timeout 40m -v .

BENCHTIME ?= 1x
# Benchmarks print ratios against a baseline measured in the same run; docs/benchmarks.md
# records the figures. Needs the machine's PostgreSQL and NATS, and takes several minutes.
bench:
	go test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout 30m $(PKGS)
	DORMANT_BENCH=1 go test -count=1 -run TestBenchmark -v -timeout 30m ./services/login-ingest/bench/
	DORMANT_BENCH=1 go test -count=1 -run TestSync100k -v -timeout 20m ./services/policy/roster/
	DORMANT_BENCH=1 go test -count=1 -run TestThroughput -v -timeout 10m ./services/policy/actuator/
	DORMANT_BENCH=1 go test -count=1 -run RosterListing -v -timeout 10m ./services/openmrs/

clean:
	rm -rf bin
