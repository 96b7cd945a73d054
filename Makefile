# raftkv: the two commands a new user needs are `make run` and `make test`.
# Both install missing Debian packages and build first.

BUILD_DIR      ?= build
ASAN_BUILD_DIR ?= build-asan
TSAN_BUILD_DIR ?= build-tsan
JOBS           ?= $(shell nproc)
SEEDS          ?= 100000
FIRST_SEED     ?= 1
CMAKE_FLAGS    ?=

.PHONY: all deps build build-asan package docs run demo bench bench-compare bench-election bench-profile bench-restart bench-watch bench-overload bench-fairness check-perf chaos chaos-etcd chaos-planted test test-release test-asan test-tsan sim check-model fuzz format check-format clean

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD_DIR)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

$(ASAN_BUILD_DIR)/build.ninja: CMakeLists.txt
	cmake -S . -B $(ASAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DRAFTKV_SANITIZE=ON $(CMAKE_FLAGS)

build-asan: deps $(ASAN_BUILD_DIR)/build.ninja
	cmake --build $(ASAN_BUILD_DIR) -j $(JOBS)

# ThreadSanitizer build: one command away, not part of `make test`.
build-tsan: deps
	cmake -S . -B $(TSAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DRAFTKV_TSAN=ON $(CMAKE_FLAGS)
	cmake --build $(TSAN_BUILD_DIR) -j $(JOBS)

# The runtime's and the limiter's tests under ThreadSanitizer (slow, so not part of make test). A race fails
# the run. The server's tests are left out: gRPC's callback API synchronises inside
# Debian's libgrpc, which TSan cannot see, so there it reports races that are not.
TSAN_RUN = TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp halt_on_error=1"
test-tsan: deps
	cmake -S . -B $(TSAN_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DRAFTKV_TSAN=ON $(CMAKE_FLAGS)
	cmake --build $(TSAN_BUILD_DIR) -j $(JOBS) --target raft_node_test request_tracker_test limiter_test
	$(TSAN_RUN) ./$(TSAN_BUILD_DIR)/bin/limiter_test
	$(TSAN_RUN) ./$(TSAN_BUILD_DIR)/bin/request_tracker_test
	$(TSAN_RUN) ./$(TSAN_BUILD_DIR)/bin/raft_node_test

# The Debian packages raftkv and raftkv-dev (CPack): build/raftkv_<version>_amd64.deb and
# build/raftkv-dev_<version>_amd64.deb. Install with: apt install ./build/raftkv_*.deb
package: build
	cmake --build $(BUILD_DIR) --target raftkv_package_files
	cd $(BUILD_DIR) && cpack -G DEB

# The API reference of the public headers, docs/embedding.md its front page: build/docs/html.
docs: deps
	@mkdir -p $(BUILD_DIR)/docs
	doxygen docs/Doxyfile

# The main job: a 3-node raftkv cluster on 127.0.0.1 (Ctrl-C stops it).
run: build
	./scripts/run-cluster.sh $(BUILD_DIR)/bin

# The simulated cluster that narrates elections, commits and faults.
demo: build
	./$(BUILD_DIR)/bin/raftkv-sim --demo

test-release: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

test-asan: build-asan
	cd $(ASAN_BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -LE "planted|static"

# Every test, in a release build and again under AddressSanitizer + UBSan.
test: test-release test-asan

# More simulator seeds than `make test` runs: make sim SEEDS=100000
sim: build
	./$(BUILD_DIR)/bin/raftkv-sim --seeds $(SEEDS) --first-seed $(FIRST_SEED)

# Chaos testing of real processes (tests/chaos, docs/verification.md): CHAOS_MIXES for
# CHAOS_S seconds each, against raftkv or etcd; every run keeps its results in
# build/chaos-results. `make test` runs the short mix and the planted bug.
CHAOS_S      ?= 300
CHAOS_MIXES  ?= partitions process disk membership clock everything
CHAOS_SEED   ?=
CHAOS = /usr/bin/python3 tests/chaos/harness/chaos.py --require-privileges \
        --results $(CURDIR)/$(BUILD_DIR)/chaos-results $(if $(CHAOS_SEED),--seed $(CHAOS_SEED))
chaos: build
	@for mix in $(CHAOS_MIXES); do \
	  RAFTKV_CHAOS_BIN=$(CURDIR)/$(BUILD_DIR)/bin $(CHAOS) --mix $$mix --seconds $(CHAOS_S) || exit 1; \
	done
chaos-etcd: build
	@for mix in $(CHAOS_MIXES); do \
	  RAFTKV_CHAOS_BIN=$(CURDIR)/$(BUILD_DIR)/bin $(CHAOS) --target etcd --mix $$mix --seconds $(CHAOS_S) || exit 1; \
	done
# One planted bug: make chaos-bug-ack-before-fsync (must be caught), then its control.
chaos-bug-%: build
	RAFTKV_CHAOS_BIN=$(CURDIR)/$(BUILD_DIR)/bin $(CHAOS) --planted $*
	RAFTKV_CHAOS_BIN=$(CURDIR)/$(BUILD_DIR)/bin $(CHAOS) --planted $* --control

# Each planted bug must be caught, and the same schedule without it must pass.
CHAOS_BUGS ?= follower-local-read ack-before-fsync leader-ignores-quorum-loss
chaos-planted: $(addprefix chaos-bug-,$(CHAOS_BUGS))

# The exhaustive checker with a larger bound than `make test` uses.
MODEL_DEPTH ?= 14
check-model: build
	./$(BUILD_DIR)/bin/raftkv-model --depth $(MODEL_DEPTH)
	./$(BUILD_DIR)/bin/raftkv-model --depth $(MODEL_DEPTH) --inflight 1

# Microbenchmarks of the hot paths (Google Benchmark): the core, the WAL, the KV store.
bench: build
	./$(BUILD_DIR)/bin/core_bench
	./$(BUILD_DIR)/bin/wal_bench
	./$(BUILD_DIR)/bin/kv_bench
	./$(BUILD_DIR)/bin/metrics_bench
	./$(BUILD_DIR)/bin/limits_bench

# The compatibility suites including etcdctl check perf --load=s (60 s, timing-based,
# so not part of make test).
check-perf: build
	cd $(BUILD_DIR) && RAFTKV_SLOW=1 ctest --output-on-failure -R compat.etcdctl_test

# raftkv and etcd 3.4 side by side on this machine (docs/benchmarks.md), each workload driven
# by raftkv-bench and by raftkv-goload (etcd's own Go client): one table with both.
# BENCH_FLAGS="--at-leader --floor": every request to the leader, and gRPC alone beside both.
BENCH_DURATION ?= 10
BENCH_FLAGS ?=
bench-compare: build
	/usr/bin/python3 tests/bench/bench_compare.py --duration $(BENCH_DURATION) --bin $(BUILD_DIR)/bin $(BENCH_FLAGS)

# 5,000 watch streams on one member, raftkv and etcd 3.4: time to create, threads, memory.
WATCH_STREAMS ?= 5000
bench-watch: build
	/usr/bin/python3 tests/bench/watch_streams.py --streams $(WATCH_STREAMS) --bin $(BUILD_DIR)/bin

# Issue 14: 2,000 clients of 100 KiB writes for 60 s into 3 members, raftkv with a 64 MiB
# member budget and etcd 3.4: RSS and /health every second, refusals (tests/bench/overload.py).
OVERLOAD_FLAGS ?=
bench-overload: build
	/usr/bin/python3 tests/bench/overload.py --bin $(BUILD_DIR)/bin $(OVERLOAD_FLAGS)

# Issue 14: a light client's p99 beside a greedy one, raftkv with per-client rate limits and
# without, and etcd 3.4 (tests/bench/fairness.py).
FAIRNESS_FLAGS ?=
bench-fairness: build
	/usr/bin/python3 tests/bench/fairness.py --bin $(BUILD_DIR)/bin $(FAIRNESS_FLAGS)

# Election latency over 20 trials: leader SIGKILLed, and planned transfers.
bench-election: build
	/usr/bin/python3 tests/bench/election_latency.py --bin $(BUILD_DIR)/bin

# Where one put goes, thread by thread and syscall by syscall (perf; root).
PROFILE_CLIENTS ?= 1
bench-profile: build
	/usr/bin/python3 tests/bench/put_profile.py --clients $(PROFILE_CLIENTS) --bin $(BUILD_DIR)/bin

# Restart to serving, and a leader stopped just after a restart, raftkv beside etcd 3.4.
bench-restart: build
	/usr/bin/python3 tests/bench/restart_latency.py --bin $(BUILD_DIR)/bin

# Coverage-guided fuzzing (libFuzzer, clang-14) of the parsers and AuthStore, in build-fuzz:
# every target of tests/fuzz for FUZZ_S seconds, one after the other (docs/fuzzing.md).
# FUZZ_FLAGS adds libFuzzer flags (scripts/fuzz.sh).
FUZZ_S     ?= 60
FUZZ_FLAGS ?=
fuzz: deps
	FUZZ_FLAGS="$(FUZZ_FLAGS)" ./scripts/fuzz.sh $(FUZZ_S)

format:
	find src tests examples -name '*.h' -o -name '*.cc' 2>/dev/null | xargs clang-format-14 -i

check-format:
	./scripts/check-format.sh

clean:
	rm -rf $(BUILD_DIR) $(ASAN_BUILD_DIR) $(TSAN_BUILD_DIR) build-fuzz
