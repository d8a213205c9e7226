# Thin wrapper: the build is CMake, the tests are CTest. `make run` and `make test` work on a
# fresh Debian 12 machine: they install missing packages first.

JOBS ?= $(shell nproc)
ARGS ?=
RUN_DATA_DIR ?= ./data

.PHONY: deps run build test test-release test-asan test-tsan test-fuzz dist clean

deps:
	@scripts/install-deps.sh

build/release/Makefile: CMakeLists.txt | deps
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DLEADD_BUILD_TESTS=OFF

build: deps build/release/Makefile
	cmake --build build/release -j $(JOBS) --target leadd

run: build
	./build/release/leadd serve --data-dir $(RUN_DATA_DIR) $(ARGS)

# Every unit and integration test against an optimized build with assertions, then all of them
# again under AddressSanitizer + UBSan and under ThreadSanitizer, then each fuzzer for 30 s.
# Deterministic suites first: the first stage that fails stops the run.
test: test-release test-asan test-tsan test-fuzz

test-release: deps
	cmake -S . -B build/test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEADD_BUILD_TESTS=ON
	cmake --build build/test -j $(JOBS)
	ctest --test-dir build/test --output-on-failure -j 2

# Debug: assertions on (Boost's too); the sanitizer flags add -O1.
test-asan: deps
	cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DLEADD_BUILD_TESTS=ON -DLEADD_SANITIZE=address
	cmake --build build/asan -j $(JOBS)
	UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir build/asan --output-on-failure -j 2

# One test at a time: two TSan tests side by side starve each other's timing-bound parts (the
# snapshot test's niced snapshot thread, the connection-count tests) and take longer, not less.
test-tsan: deps
	cmake -S . -B build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEADD_BUILD_TESTS=ON -DLEADD_SANITIZE=thread
	cmake --build build/tsan -j $(JOBS)
	ctest --test-dir build/tsan --output-on-failure

# The libFuzzer targets of tests/fuzz (clang), FUZZ_SECONDS each, two at a time.
FUZZ_SECONDS ?= 30
test-fuzz: deps
	cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DLEADD_BUILD_TESTS=ON \
	  -DLEADD_SANITIZE=fuzz -DLEADD_FUZZ_SECONDS=$(FUZZ_SECONDS)
	cmake --build build/fuzz -j $(JOBS) --target leadd_fuzzers
	ctest --test-dir build/fuzz -L fuzz --output-on-failure -j 2

# The self-contained release in dist/: static (all but glibc), stripped, + tarball (README).
dist: deps
	scripts/dist.sh

# Load tests against leadd and an nginx ceiling, plus the micro-benchmarks (load/README.md).
# Installs wrk, nginx-light, gnuplot and Google Benchmark if missing. QUICK=1: under 2 minutes.
# More options: make bench BENCH_ARGS="--connections 256 --leads 100000" (load/bench.py --help).
QUICK ?=
BENCH_ARGS ?=
.PHONY: bench
bench: deps
	@scripts/install-deps.sh load/debian-packages.txt
	/usr/bin/python3 load/bench.py $(if $(filter-out 0,$(QUICK)),--quick) $(BENCH_ARGS)

# Listing at 1 000 000 leads, leadd against PostgreSQL 15 on the same leads and queries, and
# leadd's RSS per lead (load/README.md): about 6 minutes; QUICK=1: 100 000 leads, under a minute.
# More options: make bench-scale SCALE_ARGS="--baseline-binary OTHER/leadd" (load/scale_bench.py --help).
SCALE_ARGS ?=
.PHONY: bench-scale
bench-scale: deps
	@scripts/install-deps.sh load/debian-packages.txt
	/usr/bin/python3 load/scale_bench.py $(if $(filter-out 0,$(QUICK)),--quick) $(SCALE_ARGS)

clean:
	rm -rf build
