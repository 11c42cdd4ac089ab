# Tiercel. `make run` starts the embedded demo; `make test` installs what the
# tests need (redis-server, kcat, wrk, haproxy) and runs every test with the
# race detector.

GO          ?= go
BIN         := bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Debian packages the tests run for real: a Redis server, an independent
# Kafka client, and HAProxy in front of restarted replicas (TestRollout).
TEST_DEBS   := redis-server:redis-server kcat:kcat wrk:wrk haproxy:haproxy
BENCH_DEBS  := wrk:wrk redis-server:redis-server
# The peers of `make bench-compare`: nginx proxy_cache and Varnish.
COMPARE_DEBS := $(BENCH_DEBS) nginx:nginx-light varnishd:varnish
# Where `make bench` and `make bench-compare` write (one directory a day).
BENCH_OUT   ?= bench/results/$(shell date -u +%Y-%m-%d)
TEST_TIMEOUT ?= 12m
# What `tiercel version` and tiercel_build_info say: stamped at link time
# (internal/buildinfo); a plain `go build` falls back to the VCS stamp.
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
REVISION    ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS     := -X github.com/tiercel/tiercel/internal/buildinfo.version=$(VERSION) \
               -X github.com/tiercel/tiercel/internal/buildinfo.revision=$(REVISION)

.PHONY: all build run test test-short deps bench-deps lint fmt vet staticcheck \
        bench bench-compare compare-deps bench-go bench-wrk fuzz check-all clean chaos

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/tiercel ./cmd/tiercel
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/tiercel-bench ./cmd/tiercel-bench

run: build
	./$(BIN)/tiercel serve

# deps installs missing Debian packages (binary:package pairs). As root it
# calls apt-get directly, otherwise through sudo.
deps:
	@./scripts/ensure-debs.sh $(TEST_DEBS)

bench-deps:
	@./scripts/ensure-debs.sh $(BENCH_DEBS)

compare-deps:
	@./scripts/ensure-debs.sh $(COMPARE_DEBS)

test: deps
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

# chaos runs the chaos suite's full form (internal/chaos, CHAOS=full: a few
# seconds of load per fault at 200 requests/s, without the race detector)
# and prints its table; CHAOS_REPORT=file.md also writes it as Markdown.
# It also runs the rolling restart behind HAProxy (TestRollout, CHAOS=full:
# the default 5s drain delay, three rounds). `make test` runs the short forms.
chaos: deps
	CHAOS=full $(GO) test -count=1 -v -timeout 30m -run '^(TestChaos|TestRollout)$$' ./internal/chaos/

# test-short skips the slower integration tests: for a quick edit loop.
test-short:
	$(GO) test -short -count=1 ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

staticcheck:
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install $(STATICCHECK)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...

lint: vet staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

check-all: lint test

# bench: the short scenario suite (bench/scenarios/default.yaml, about
# two minutes): report.md, results.json and SVG plots in $(BENCH_OUT).
# Servers run on CPU 0, the load generator on CPU 1.
bench: build bench-deps
	./$(BIN)/tiercel-bench run -scenarios bench/scenarios/default.yaml -out $(BENCH_OUT)

# bench-compare: Tiercel, bare fasthttp, nginx and Varnish side by side
# (about three minutes): compare.md, compare.json and a plot in $(BENCH_OUT).
bench-compare: build compare-deps
	./$(BIN)/tiercel-bench compare -out $(BENCH_OUT)

bench-go:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./...

bench-wrk: build bench-deps
	./scripts/bench-wrk.sh

# fuzz runs every fuzz target for FUZZTIME each.
FUZZTIME ?= 30s
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

clean:
	rm -rf $(BIN)
