# uvfio front door. Every target installs what it needs (scripts/deps.sh) and builds first.
#   make        build everything into build/ (CLI: build/uvfio)
#   make demo   the main job
#   make test   the whole test suite: unit + install tests, ASan+UBSan, TSan, format
#   make bench  the benchmarks (BENCH lines)
.PHONY: all deps build demo test test-unit test-asan test-tsan test-vm bench format clean

JOBS ?= $(shell nproc)
CMAKE_GEN := -G Ninja -DCMAKE_EXPORT_COMPILE_COMMANDS=ON

all: build

deps:
	@scripts/deps.sh

build/build.ninja: | deps
	@cmake -S . -B build $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: deps build/build.ninja
	@cmake --build build -j $(JOBS)

build-asan/build.ninja: | deps
	@cmake -S . -B build-asan $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DUVFIO_SANITIZE=address >/dev/null

build-tsan/build.ninja: | deps
	@cmake -S . -B build-tsan $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUVFIO_SANITIZE=thread >/dev/null

demo: build
	@build/uvfio demo

test-unit: build
	@cd build && ctest --output-on-failure --no-tests=error -j $(JOBS)
	@build/tests/conformance/uvfio-conformance --provider emulated

test-asan: deps build-asan/build.ninja
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ctest --output-on-failure --no-tests=error -j $(JOBS) -L 'unit|concurrency'

test-tsan: deps build-tsan/build.ninja
	@cmake --build build-tsan -j $(JOBS)
	@cd build-tsan && ctest --output-on-failure --no-tests=error -j $(JOBS) -L concurrency

test: test-unit test-asan test-tsan
	@echo "uvfio: all tests passed"

# The conformance scenarios against a real kernel: builds (or reuses from ~/.cache/uvfio) a test
# kernel and a static uvfio-conformance in build-vm/, boots it in QEMU three times (tests/vm/).
# Not part of `test`: it needs root for apt, network on a fresh machine and minutes of CPU.
# One boot only: make test-vm VM_BOOTS=iommu (or noiommu, bypass).
test-vm: deps
	@tests/vm/deps.sh
	@tests/vm/build-kernel.sh build-vm
	@[ -f build-vm/build.ninja ] || cmake -S . -B build-vm $(CMAKE_GEN) \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUVFIO_BUILD_BENCH=OFF -DUVFIO_FMT_HEADER_ONLY=ON \
	  -DCMAKE_EXE_LINKER_FLAGS=-static >/dev/null
	@cmake --build build-vm -j $(JOBS) --target uvfio_conformance
	@tests/vm/mkinitrd.sh build-vm/tests/conformance/uvfio-conformance build-vm/initrd.gz
	@tests/vm/run.sh build-vm $(VM_BOOTS)

bench: build
	@build/bench/uvfio-bench

format: deps
	@git ls-files '*.h' '*.cpp' | xargs clang-format -i

clean:
	@rm -rf build build-asan build-tsan
