# curfew — see README.md. `make check test` is what CI runs.
GO ?= go
PKGS := ./...

.PHONY: all build deb lab test unit check bench fuzz clean

all: build

build: ## the curfew binary, static
	CGO_ENABLED=0 $(GO) build -o curfew ./cmd/curfew

deb: ## the Debian package, curfew.deb (VERSION=... to set its version) (Go and dpkg-deb only; no network)
	deploy/debian/build curfew.deb $(VERSION)

lab: build ## the simulated network of namespaces: watch a client cut off and restored (root; uses sudo if needed)
	$(if $(filter 0,$(shell id -u)),,sudo) ./curfew lab

test: ## everything CI runs: unit, netns kernel tests and whole-daemon integration (root), then every fuzz target briefly
	CURFEW_REQUIRE_NETNS=$${CURFEW_REQUIRE_NETNS:-$${CI:+1}} $(GO) test -race -count=1 -timeout 20m -tags=integration $(PKGS)
	$(MAKE) --no-print-directory fuzz FUZZTIME=3s

unit: ## fast; no root needed (root-only tests skip); run before every commit
	$(GO) test -count=1 $(PKGS)

check: ## gofmt, vet, staticcheck (pinned by the go.mod tool directive), go.mod and go.sum tidy
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags=integration $(PKGS)
	$(GO) tool staticcheck -tags=integration $(PKGS)
	$(GO) mod tidy -diff

FUZZTIME ?= 30s
fuzz: ## run every fuzz target for FUZZTIME (30s) beyond its seeds
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg 2>/dev/null | grep ^Fuzz); do \
	    echo "fuzz $$pkg $$f for $(FUZZTIME)"; \
	    $(GO) test -run XXX -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench: ## the benchmarks behind docs/benchmarks.md (root)
	$(GO) test -run XXX -bench . -skip ReloadGap -benchtime 20x -count 5 ./internal/netfilter/
	$(GO) test -run XXX -bench ReloadGap -benchtime 5x -count 1 ./internal/netfilter/
	$(GO) test -run XXX -bench ForwardThrottled -benchtime 5x -count 1 -v ./internal/shaper/

clean:
	rm -f curfew curfew.deb
