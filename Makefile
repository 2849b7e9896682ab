# Thin front over scripts/setup.sh, CMake presets, ctest and the end-to-end suite.
#   make run    install what is missing, build (release), serve examples/todos on http://127.0.0.1:2403
#   make test   install what is missing, build, run unit + end-to-end tests (release), then the same under ASan+UBSan,
#               then the unit tests and the concurrency-heavy end-to-end suites under ThreadSanitizer
PRESET ?= release
PORT ?= 2403
JOBS ?= $(shell nproc)
DPD := build/$(PRESET)/src/cli/dpd

.PHONY: all setup build run test test-release test-asan test-package test-fuzz fuzz fuzz-build test-tsan unit e2e crash powerloss soak soak-smoke bench bench-compare bench-smoke attack \
        package install format clean

all: build

setup:
	@./scripts/setup.sh

build: setup
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)

run: setup
	@$(MAKE) --no-print-directory build PRESET=release
	./build/release/src/cli/dpd examples/todos --port $(PORT)

test: setup
	@$(MAKE) --no-print-directory test-release
	@$(MAKE) --no-print-directory test-package
	@$(MAKE) --no-print-directory test-fuzz
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory test-tsan

test-release:
	@$(MAKE) --no-print-directory build PRESET=release
	@$(MAKE) --no-print-directory unit e2e PRESET=release
	@$(MAKE) --no-print-directory bench-smoke
	@$(MAKE) --no-print-directory soak-smoke

# Sanitizers: unit tests and the whole end-to-end suite against the asan+ubsan binary.
test-asan:
	@$(MAKE) --no-print-directory build PRESET=asan
	@$(MAKE) --no-print-directory unit e2e PRESET=asan

# libFuzzer targets (fuzz/, docs/fuzzing.md), built with clang + ASan + UBSan. test-fuzz replays every corpus file
# once (each crash ever found is one); `make fuzz FUZZ_SECONDS=300` fuzzes each target, new inputs going to
# build/fuzz/corpus/<target>, crashes to build/fuzz/artifacts/ (add them to fuzz/corpus/<target>/ once fixed).
FUZZ_TARGETS := fuzz_json fuzz_query_string fuzz_query fuzz_sql fuzz_update fuzz_engineio fuzz_static fuzz_cookie fuzz_http fuzz_router fuzz_aggregate
FUZZ_SECONDS ?= 60
fuzz-build: setup
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)

test-fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  n=$$(ls fuzz/corpus/$$t | wc -l); \
	  build/fuzz/fuzz/$$t fuzz/corpus/$$t/* >build/fuzz/$$t.log 2>&1 || { cat build/fuzz/$$t.log; echo "test-fuzz: $$t failed"; exit 1; }; \
	  echo "test-fuzz: $$t replayed $$n inputs"; \
	done

fuzz: fuzz-build
	@mkdir -p build/fuzz/artifacts
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t; \
	  dict=fuzz/$$(echo $$t | sed 's/^fuzz_//; s/query_string/query/; s/sql/query/; s/aggregate/query/').dict; \
	  build/fuzz/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -dict=$$dict -artifact_prefix=build/fuzz/artifacts/$$t- \
	    build/fuzz/corpus/$$t fuzz/corpus/$$t 2>&1 | grep -E '^(#[0-9]+ *DONE|Done|==[0-9]+== ERROR|SUMMARY)' ; \
	done

# ThreadSanitizer (docs/fuzzing.md § Threads): the unit tests and the concurrency-heavy end-to-end suites against the
# tsan build, with tests/tsan.supp (libraries not built with TSan only). Part of make test.
TSAN_SUITES ?= e2e/realtime.test.mjs e2e/users.test.mjs e2e/reload.test.mjs e2e/internal_client.test.mjs e2e/cluster.test.mjs crash/
test-tsan: setup
	@$(MAKE) --no-print-directory build PRESET=tsan
	ctest --preset tsan -j $(JOBS)
	cd tests && TSAN_OPTIONS="halt_on_error=1 exitcode=66 suppressions=$(CURDIR)/tests/tsan.supp" \
	  DPD_BIN=$(CURDIR)/build/tsan/src/cli/dpd node --test --test-concurrency=2 $(TSAN_SUITES)

# The Debian package (CPack): build/release/package/dpd_<version>_amd64.deb. `apt install ./build/release/package/dpd_*.deb`
package: setup
	@$(MAKE) --no-print-directory build PRESET=release
	cd build/release && cpack
	@ls build/release/package/dpd_*.deb

# The binary, its man page and the dpd@ unit under PREFIX (default /usr/local); see cmake/install.cmake.
PREFIX ?= /usr/local
install: setup
	@$(MAKE) --no-print-directory build PRESET=release
	cmake --install build/release --prefix $(PREFIX) --strip

# The package as installed: lintian, systemd-analyze verify, and the unpacked dpd run with the checkout hidden.
test-package: package
	tests/package/test.sh $$(ls build/release/package/dpd_*.deb)

unit:
	ctest --preset $(PRESET) -j $(JOBS)

# Every server's log of the run is kept and checked for secrets afterwards (tests/check-logs.mjs).
e2e:
	rm -rf tests/output/logs/$(PRESET)
	cd tests && DPD_LOG_DIR=$(CURDIR)/tests/output/logs/$(PRESET) DPD_BIN=$(CURDIR)/$(DPD) node --test --test-concurrency=2 e2e/ crash/ powerloss/
	node tests/check-logs.mjs tests/output/logs/$(PRESET)

# Many kill -9 rounds (make test runs 3).
crash: setup
	@$(MAKE) --no-print-directory build PRESET=release
	cd tests && CRASH_ITERATIONS=$${CRASH_ITERATIONS:-50} DPD_BIN=$(CURDIR)/build/release/src/cli/dpd node --test crash/

# Many power cuts through the LD_PRELOAD shim (make test runs 20); POWERLOSS_SYNC=normal shows what that option loses.
powerloss: setup
	@$(MAKE) --no-print-directory build PRESET=release
	cd tests && POWERLOSS_CUTS=$${POWERLOSS_CUTS:-500} DPD_BIN=$(CURDIR)/build/release/src/cli/dpd node --test powerloss/

# Mixed traffic for SOAK_SECONDS (default 600, docs/reliability-tests.md): fails when RSS grows more than 0.5 % per
# 10 minutes after the warm-up or a count does not return to its baseline. SOAK_TRAFFIC=crud,auth,realtime,edit.
soak: setup
	@$(MAKE) --no-print-directory build PRESET=release
	cd tests && SOAK_SECONDS=$${SOAK_SECONDS:-600} DPD_BIN=$(CURDIR)/build/release/src/cli/dpd node --test soak/

# Two minutes of the soak (make test): every count must return to its baseline; the RSS trend is printed only (too
# short a run to judge it; make soak judges it over 10 minutes).
soak-smoke:
	cd tests && SOAK_SECONDS=120 SOAK_RSS=report DPD_BIN=$(CURDIR)/build/release/src/cli/dpd node --test soak/

bench: setup
	@$(MAKE) --no-print-directory build PRESET=release
	bench/run.sh

# C0 and W1–W6 in one run, the ratios against bench/baseline.json (exit 1 on a regression beyond the tolerance).
bench-compare: setup
	@$(MAKE) --no-print-directory build PRESET=release
	bench/compare

# One second per workload: the benchmark still runs and no workload errors (never judges a timing; make test).
bench-smoke:
	bench/compare --smoke

# The floods of issue #11 at full size (bounded, loopback only); prints what each did. ATTACKS=regex,login for a subset.
attack: setup
	@$(MAKE) --no-print-directory build PRESET=release
	node bench/attack.mjs $(CURDIR)/build/release/src/cli/dpd

format:
	clang-format -i $$(git ls-files 'src/*.h' 'src/*.cc' 'bench/*.cc')

clean:
	rm -rf build
