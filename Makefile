# Baton: the two commands most people need are `make demo` and `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)
# ccache hits across clones in different folders (CI clones afresh).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all build deps test unit integration e2e demo clean fuzz fuzz-smoke fuzzers sim

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

# Builds build/baton.
build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target baton

# Installs what is missing, builds everything and runs every test: unit,
# integration (real servers on loopback) and browser (Chromium).
test: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)
	ctest --test-dir $(BUILD) --output-on-failure
	tests/e2e/run.sh
	$(MAKE) fuzz-smoke

# One test program per library (tests/CMakeLists.txt), and the layer checks.
unit: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target baton_unit_tests
	ctest --test-dir $(BUILD) -L unit --output-on-failure

integration: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target baton_integration_tests
	$(BUILD)/tests/baton_integration_tests

e2e: build
	tests/e2e/run.sh

# The deterministic transfer simulation (docs/federation.md §14): SIM_SEEDS seeds,
# split over the cores; `make sim SIM_SEED=N` replays seed N and prints what happened.
# `make test` runs 2000 seeds (ctest's sim).
SIM_SEEDS ?= 100000
sim: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target baton-sim
ifdef SIM_SEED
	$(BUILD)/tests/sim/baton-sim --seed $(SIM_SEED)
else
	@rm -f $(BUILD)/sim-*.log; per=$$(( ($(SIM_SEEDS) + $(JOBS) - 1) / $(JOBS) )); pids=""; \
	for j in $$(seq 0 $$(( $(JOBS) - 1 ))); do \
	  first=$$(( 1 + j * per )); n=$$(( $(SIM_SEEDS) - j * per )); [ $$n -gt $$per ] && n=$$per; [ $$n -le 0 ] && continue; \
	  $(BUILD)/tests/sim/baton-sim --first $$first --seeds $$n > $(BUILD)/sim-$$j.log 2>&1 & pids="$$pids $$!"; \
	done; \
	status=0; for p in $$pids; do wait $$p || status=1; done; cat $(BUILD)/sim-*.log; exit $$status
endif

# Installs what is missing, builds, and runs two organizations peered with each other.
demo: deps build
	$(BUILD)/baton demo

clean:
	rm -rf $(BUILD)

# Benchmarks (docs/benchmarks.md): a Release build in build-bench, then the short
# version of every scenario against real servers on loopback; writes
# $(BUILD)/bench/results.json. Installs Debian's Prosody for the side-by-side
# comparison (bench/prosody/install.sh). Not part of `make test`.
.PHONY: bench
bench:
	cmake -S . -B build-bench -G Ninja -DBATON_BENCH=ON -DBATON_TESTS=OFF -DCMAKE_BUILD_TYPE=Release
	cmake --build build-bench -j $(JOBS) --target baton baton-loadgen
	build-bench/bench/loadgen/baton-loadgen selftest
	bench/prosody/install.sh || echo "bench: Prosody could not be installed; the peer comparison is skipped"
	build-bench/bench/loadgen/baton-loadgen all --short --quiet-wait 10 --baton build-bench/baton --workdir $(BUILD)/bench --out $(BUILD)/bench/results.json

# The long soak (docs/operations.md, "Soak test"): SOAK_CONVERSATIONS concurrent
# conversations for SOAK_SECONDS against two real servers peered with each other,
# with transfers of every kind; every message counted end to end, the servers'
# memory and file descriptors checked flat. Writes $(BUILD)/soak/results.json.
# The short version (500 conversations, 75 s) is the soak_short test of `make test`.
SOAK_SECONDS ?= 600
SOAK_CONVERSATIONS ?= 3000
.PHONY: soak
soak: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target baton baton-soak
	$(BUILD)/tests/soak/baton-soak --baton $(BUILD)/baton --workdir $(BUILD)/soak \
	  --seconds $(SOAK_SECONDS) --conversations $(SOAK_CONVERSATIONS) \
	  --message-interval 5 --messages-per-phase 6 --capacity 100 --sample-interval 5

# Fuzzing (fuzz/README.md): libFuzzer targets for every parser of untrusted input,
# built with clang in $(ASAN_BUILD) (ASan + UBSan + fuzzer coverage, -O1), where
# the unit and integration tests are built under the sanitizers too. `make fuzz`
# runs each target for FUZZ_SECONDS on a copy of its seed corpus in fuzz/corpus;
# `make fuzz-smoke` (part of `make test`) runs each for a few seconds.
ASAN_BUILD ?= build-asan
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DBATON_SANITIZE=ON -DBATON_FUZZ=ON \
	  -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only"

fuzzers: deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target fuzzers

fuzz: fuzzers
	fuzz/run.sh $(ASAN_BUILD) $(FUZZ_SECONDS)

fuzz-smoke: fuzzers
	fuzz/run.sh $(ASAN_BUILD) $(FUZZ_SMOKE_SECONDS)

# Sanitizers (docs/decisions/sanitizers.md). `make sanitize` runs the
# unit and integration tests and 1000 seeds of the simulation in $(ASAN_BUILD), the clang build the fuzzers live in
# (AddressSanitizer + UndefinedBehaviorSanitizer, -O1). `make tsan` runs them under
# ThreadSanitizer in a GCC build of its own ($(TSAN_BUILD), -O1). CI runs both after
# `make test` (.ci/run).
TSAN_BUILD ?= build-tsan
SANITIZER_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
.PHONY: sanitize tsan check

sanitize: deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target baton baton_unit_tests baton_integration_tests baton-sim
	$(SANITIZER_ENV) ctest --test-dir $(ASAN_BUILD) -L unit --output-on-failure
	$(SANITIZER_ENV) $(ASAN_BUILD)/tests/baton_integration_tests --gtest_brief=1
	$(SANITIZER_ENV) $(ASAN_BUILD)/tests/sim/baton-sim --seeds 1000

$(TSAN_BUILD)/build.ninja:
	cmake -S . -B $(TSAN_BUILD) -G Ninja -DBATON_TSAN=ON -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g"

tsan: deps $(TSAN_BUILD)/build.ninja
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target baton baton_unit_tests baton_integration_tests
	$(SANITIZER_ENV) ctest --test-dir $(TSAN_BUILD) -L unit --output-on-failure
	$(SANITIZER_ENV) $(TSAN_BUILD)/tests/baton_integration_tests --gtest_brief=1

# Everything CI runs: every test, then the tests again under the sanitizers.
check: test sanitize tsan
