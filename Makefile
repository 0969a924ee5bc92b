# Baton: the two commands most people need are `make demo` and `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)
# ccache hits across clones in different folders (CI clones afresh).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all build deps test unit integration e2e demo clean

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

unit: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target baton_unit_tests
	$(BUILD)/tests/baton_unit_tests

integration: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target baton_integration_tests
	$(BUILD)/tests/baton_integration_tests

e2e: build
	tests/e2e/run.sh

# Installs what is missing, builds, and runs two organizations peered with each other.
demo: deps build
	$(BUILD)/baton demo

clean:
	rm -rf $(BUILD)

# Benchmarks (docs/benchmarks.md): a Release build in build-bench, then the short
# version of every scenario against real servers on loopback; writes
# $(BUILD)/bench/results.json. Installs Debian's Prosody for the side-by-side
# comparison (bench/prosody/install.sh). Not part of `make test`. The -Wno-* flags silence
# GCC 12's false positives at -O3 (docs/decisions/benchmarks.md).
.PHONY: bench
bench:
	cmake -S . -B build-bench -G Ninja -DBATON_BENCH=ON -DBATON_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
	  "-DCMAKE_CXX_FLAGS=-Wno-mismatched-new-delete -Wno-stringop-overflow -Wno-stringop-overread -Wno-array-bounds -Wno-restrict -Wno-free-nonheap-object"
	cmake --build build-bench -j $(JOBS) --target baton baton-loadgen
	build-bench/bench/loadgen/baton-loadgen selftest
	bench/prosody/install.sh || echo "bench: Prosody could not be installed; the peer comparison is skipped"
	build-bench/bench/loadgen/baton-loadgen all --short --quiet-wait 10 --baton build-bench/baton --workdir $(BUILD)/bench --out $(BUILD)/bench/results.json
