# Thin front over scripts/setup.sh, CMake presets, ctest and the end-to-end suite.
#   make run    install what is missing, build (release), serve examples/todos on http://127.0.0.1:2403
#   make test   install what is missing, build, run unit + end-to-end tests (release), then the same under ASan+UBSan
PRESET ?= release
PORT ?= 2403
JOBS ?= $(shell nproc)
DPD := build/$(PRESET)/src/cli/dpd

.PHONY: all setup build run test test-release test-asan unit e2e crash bench attack format clean

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
	@$(MAKE) --no-print-directory test-asan

test-release:
	@$(MAKE) --no-print-directory build PRESET=release
	@$(MAKE) --no-print-directory unit e2e PRESET=release

# Sanitizers: unit tests and the whole end-to-end suite against the asan+ubsan binary.
test-asan:
	@$(MAKE) --no-print-directory build PRESET=asan
	@$(MAKE) --no-print-directory unit e2e PRESET=asan

unit:
	ctest --preset $(PRESET) -j $(JOBS)

e2e:
	cd tests && DPD_BIN=$(CURDIR)/$(DPD) node --test --test-concurrency=2 e2e/ crash/

# Many kill -9 rounds (make test runs 3).
crash: setup
	@$(MAKE) --no-print-directory build PRESET=release
	cd tests && CRASH_ITERATIONS=$${CRASH_ITERATIONS:-50} DPD_BIN=$(CURDIR)/build/release/src/cli/dpd node --test crash/

bench: setup
	@$(MAKE) --no-print-directory build PRESET=release
	bench/run.sh

# The floods of issue #11 at full size (bounded, loopback only); prints what each did. ATTACKS=regex,login for a subset.
attack: setup
	@$(MAKE) --no-print-directory build PRESET=release
	node bench/attack.mjs $(CURDIR)/build/release/src/cli/dpd

format:
	clang-format -i $$(git ls-files 'src/*.h' 'src/*.cc' 'bench/*.cc')

clean:
	rm -rf build
