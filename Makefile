# otrange — build, run and test. `make run` and `make test` do all the set-up
# on a fresh Debian machine with Go and gcc: the tools the tests need are
# installed with apt-get (as root; otherwise the exact command is printed).

GO        ?= go
BIN       := bin/otrange
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
STATICCHECK_VERSION := v0.8.2
GOBIN     := $(shell $(GO) env GOPATH)/bin

# Debian packages the test suite drives: Wireshark's dissectors, a real
# browser, independent Modbus clients, a JSON Schema validator for the
# scenario schema, a syslog daemon for CEF delivery and
# tcpreplay for live-capture tests.
TEST_PKGS := tshark chromium mbpoll python3-pymodbus python3-yaml python3-jsonschema rsyslog tcpreplay
TEST_CMDS := tshark chromium mbpoll rsyslogd tcpreplay

.PHONY: all build run test test-go lint fuzz bench capture deps clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/otrange

run: build
	./$(BIN) run

deps:
	@missing=""; \
	for c in $(TEST_CMDS); do PATH="$$PATH:/usr/sbin" command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	/usr/bin/python3 -c 'import pymodbus' >/dev/null 2>&1 || missing="$$missing python3-pymodbus"; \
	/usr/bin/python3 -c 'import yaml, jsonschema' >/dev/null 2>&1 || missing="$$missing python3-yaml python3-jsonschema"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing test tools:$$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(TEST_PKGS); \
	  else \
	    echo "missing test tools:$$missing"; \
	    echo "run: sudo apt-get install -y $(TEST_PKGS)"; exit 1; \
	  fi; \
	fi

$(GOBIN)/staticcheck:
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(GOBIN)/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOBIN)/staticcheck ./...

test: deps lint test-go

test-go:
	$(GO) test -race -count=1 -timeout 15m ./...

# Each fuzz target for FUZZTIME; crashers land in the package's testdata/fuzz.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg; \
	  done; \
	done

# Go benchmarks of every package; the whole-pipeline sensor benchmark on one
# core (1,000,000 packets against a bare read loop and tshark), and the
# 100-PLC plant's CPU, memory and tick jitter over a steady-state window.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) \
	  $$($(GO) list ./... | grep -v -e '/sensor$$' -e '/simulator$$')
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -cpu 1 ./sensor
	$(GO) test -run '^$$' -bench BenchmarkPlant100 -benchtime 1x ./simulator

# A capture of the plant's benign traffic (HMI polling, EWS maintenance),
# checked with tshark and the sensor: make capture MINUTES=3 OUT=data/plant.pcap
MINUTES ?= 3
OUT     ?= data/plant-benign.pcap
capture:
	@mkdir -p $(dir $(OUT))
	OTRANGE_CAPTURE=$(MINUTES)m OTRANGE_CAPTURE_OUT=$(abspath $(OUT)) \
	  $(GO) test -count=1 -run '^TestBenignCapture$$' -timeout 0 -v ./internal/app/

clean:
	rm -rf bin
