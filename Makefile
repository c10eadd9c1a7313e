# uvfio front door. Every target installs what it needs (scripts/deps.sh) and builds first.
#   make        build everything into build/ (CLI: build/uvfio)
#   make demo   the main job
#   make test   the whole test suite: unit + install tests, ASan+UBSan, TSan, format, then the
#               VM tests (tests/vm: real kernel VFIO in QEMU; root or sudo for apt on first use)
#   make bench  the benchmarks (BENCH lines)
.PHONY: all deps build demo test test-unit test-asan test-tsan test-fuzz test-vm bench format clean

JOBS ?= $(shell nproc)
# ccache: paths under the tree are hashed relative to it, so another clone of it hits the cache.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1
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
	@cd build-asan && ctest --output-on-failure --no-tests=error -j $(JOBS) -L 'unit|concurrency|interop'

test-tsan: deps build-tsan/build.ninja
	@cmake --build build-tsan -j $(JOBS)
	@cd build-tsan && ctest --output-on-failure --no-tests=error -j $(JOBS) -L concurrency

# The vfio-user server fuzzer: libFuzzer needs clang, so build-fuzz/ is a clang ASan+UBSan build of
# only libuvfio's objects and the fuzzer (-O1, line tables: quick to build, symbolized reports).
# It runs FUZZ_SECONDS from the committed seeds (tests/fuzz/corpus) and fails on any finding.
FUZZ_SECONDS ?= 60
build-fuzz/build.ninja: | deps
	@CXX=clang++ cmake -S . -B build-fuzz $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug \
	  "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only" -DUVFIO_SANITIZE=address -DUVFIO_FUZZ=ON \
	  -DUVFIO_WERROR=OFF -DUVFIO_BUILD_BENCH=OFF >/dev/null

test-fuzz: deps build-fuzz/build.ninja
	@cmake --build build-fuzz -j $(JOBS) --target vfio_user_server_fuzzer
	@tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

test: test-unit test-asan test-tsan test-fuzz test-vm
	@echo "uvfio: all tests passed"

# The VM tests (tests/vm/README.md): a test kernel (built once, cached in ~/.cache/uvfio), an
# initramfs with build/'s own uvfio and uvfio-conformance (their shared libraries copied in), and
# three QEMU boots that run the conformance scenarios on the kernel and the emulation side by side,
# uvfio ls/bind/unbind/info and the edu demo on the legacy, iommufd and no-IOMMU paths.
# Logs in build/vm/. One boot only: make test-vm VM_BOOTS=iommu (or noiommu, bypass).
VM_BINARIES := build/uvfio build/tests/conformance/uvfio-conformance
test-vm: deps build/build.ninja
	@tests/vm/deps.sh
	@cmake --build build -j $(JOBS) --target uvfio_cli uvfio_conformance
	@JOBS=$(JOBS) tests/vm/build-kernel.sh build/vm
	@tests/vm/mkinitrd.sh build/vm/initrd.gz $(VM_BINARIES)
	@tests/vm/run.sh build/vm $(VM_BOOTS)

bench: build
	@build/bench/uvfio-bench
	@build/bench/uvfio-vfio-user-bench

format: deps
	@git ls-files '*.h' '*.cpp' | xargs clang-format -i

clean:
	@rm -rf build build-asan build-tsan
