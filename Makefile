# Everything here is also plain `go` commands; the targets only fix the flags
# that CI and the README rely on.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
FUZZTIME ?= 20s
# package:FuzzTarget pairs; `make fuzz` runs each for $(FUZZTIME).
FUZZ_TARGETS ?= ./sfu/signal:FuzzDecode ./simulcast:FuzzParseVP8
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build run test bench fuzz lint profile tidy clean release image

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
	rm -rf bin/ $(DIST)/

# Static (CGO_ENABLED=0), stripped, versioned binaries for every platform in
# $(RELEASE_PLATFORMS), one directory per platform (what the Dockerfile
# copies), a tarball each and SHA256SUMS. `surge version` names $(VERSION).
DIST              ?= dist
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64
RELEASE_CMDS      ?= surge loadbot
RELEASE_LDFLAGS   := -s -w -X main.version=$(VERSION)
release:
	@set -e; rm -rf $(DIST); mkdir -p $(DIST); \
	for p in $(RELEASE_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; dir=$(DIST)/$${os}_$${arch}; mkdir -p $$dir; \
		for c in $(RELEASE_CMDS); do \
			echo "== $$c $(VERSION) $$os/$$arch"; \
			CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "$(RELEASE_LDFLAGS)" -o $$dir/$$c ./cmd/$$c; \
		done; \
		tar -C $$dir -czf $(DIST)/surge_$(VERSION)_$${os}_$${arch}.tar.gz $(RELEASE_CMDS); \
	done; \
	if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt $(DIST)/; fi; \
	cd $(DIST) && sha256sum *.tar.gz > SHA256SUMS && cat SHA256SUMS

# The container image from the release binaries (FROM scratch, see
# Dockerfile); podman or buildah, nothing is pulled.
IMAGE_TOOL ?= podman
IMAGE      ?= surge:$(VERSION)
image: release
	$(IMAGE_TOOL) build --platform linux/amd64 --build-arg TARGETARCH=amd64 -t $(IMAGE) -f Dockerfile .
