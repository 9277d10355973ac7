# dptrace - the two README commands and a few helpers. CMake does the real work.
#   make demo   installs the demo's packages, builds the library, CLI and examples (no
#               tests: they need packages the demo does not), runs the traced mesh
#   make test   installs the test packages, builds everything from scratch, runs every phase
.PHONY: all build demo test bench install clean

BUILD ?= build

all: build

build:
	@scripts/deps.sh demo
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDPT_BUILD_TESTS=OFF >/dev/null
	cmake --build $(BUILD) -j2

# The main job: the traced mini mesh, its traces in demo-out/, a waterfall and a report.
demo: build
	@BUILD=$(BUILD) scripts/demo.sh

# Every test phase; ends with "N passed, M failed".
test:
	@scripts/test.sh

bench:
	@scripts/deps.sh bench
	cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DDPT_BUILD_TESTS=OFF -DDPT_BUILD_EXAMPLES=OFF >/dev/null
	cmake --build build-release -j2 --target dptrace_bench
	build-release/bench/dptrace_bench $(SCENARIOS)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf build build-* demo-out
