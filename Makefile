# Everything here is also plain `go` commands; the targets only fix the flags
# that CI and the README rely on.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
FUZZTIME ?= 20s
# package:FuzzTarget pairs; `make fuzz` runs each for $(FUZZTIME).
FUZZ_TARGETS ?= ./sfu/signal:FuzzDecode ./simulcast:FuzzParseVP8 ./loadbot:FuzzSRTPKeysSniff
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build run test bench fuzz lint profile tidy clean

all: build

# Every command under cmd/ (surge, loadbot) into bin/.
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

# Embedded defaults: loopback only, built-in dev key.
run:
	$(GO) run ./cmd/surge serve

# The test command CI runs (.ci/run). The race detector stays on: the packet
# path is concurrent by design.
test:
	$(GO) test -race -p 1 -timeout 15m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# A short run of each fuzz target; -fuzz takes one target per invocation.
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$fn in $$pkg"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# CPU and allocation profiles of a loaded server; see scripts/profile.sh.
profile:
	bash scripts/profile.sh

tidy:
	$(GO) mod tidy

clean:
	rm -rf bin/
