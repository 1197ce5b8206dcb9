# Two commands on a fresh Debian 12 machine:
#   make train   set-up + build + train the default config on the embedded dataset
#   make test    set-up + build + every test (ctest)
BUILD_DIR ?= build
JOBS ?= 2
CMAKE_FLAGS ?=
ML_TRAIN := $(BUILD_DIR)/ml-train

.PHONY: all setup configure build train test test-slurm bench clean format format-check fuzz sanitize

all: build

setup:
	@bash scripts/setup

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_CXX_COMPILER_LAUNCHER=$$(command -v ccache || true) $(CMAKE_FLAGS)

configure: setup $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

train: build
	$(ML_TRAIN) train

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# A real one-node Slurm (slurm-wlm + munge, started and stopped by the test,
# as root): a job-array sweep and `srun -n 2` ranks against local results.
test-slurm: build
	ML_TRAIN=$(CURDIR)/$(ML_TRAIN) SOURCE_DIR=$(CURDIR) PYTHON=/usr/bin/python3 \
	  bash tests/slurm/slurm_test.sh

# Every benchmark (bench/run all): against PyTorch, data at scale, fastText.
# bench/setup installs what only the benchmarks need (fastText, GNU time).
bench: setup
	bench/setup
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DMLTRAIN_BUILD_BENCH=ON
	cmake --build $(BUILD_DIR) -j $(JOBS)
	bench/run all

# libFuzzer targets (clang, ASan + UBSan) on the config loader, the data
# readers, the run records and the checkpoint reader, FUZZ_SECONDS each.
FUZZ_SECONDS ?= 20
fuzz: setup
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_COMPILER=clang++ -DMLTRAIN_FUZZ=ON -DMLTRAIN_BUILD_TESTS=OFF \
	  -DMLTRAIN_BUILD_EXAMPLES=OFF -DMLTRAIN_PCH=OFF
	cmake --build build-fuzz -j $(JOBS) --target fuzz_config fuzz_reader fuzz_records \
	  fuzz_checkpoint fuzz_token_cache make_checkpoint_seeds
	fuzz/run build-fuzz $(FUZZ_SECONDS)

# The whole test suite built with AddressSanitizer + UBSan (any finding fails
# the test it happens in), and the loader, child-process and Run tests under
# ThreadSanitizer.
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  LSAN_OPTIONS=suppressions=$(CURDIR)/fuzz/lsan.supp \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
sanitize: setup
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLTRAIN_SANITIZE=address
	cmake --build build-asan -j $(JOBS)
	cd build-asan && $(SAN_ENV) ctest --output-on-failure -j $(JOBS)
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLTRAIN_SANITIZE=thread \
	  -DMLTRAIN_BUILD_EXAMPLES=OFF
	cmake --build build-tsan -j $(JOBS) --target core_tests torch_tests experiment_tests
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp \
	  ctest --output-on-failure \
	  -R 'LoaderInvariance|Loader\.|RunChild|Run\.|PrepareData|RecordStream|TokenCache|BagMean|FusedAdam'

format: setup
	clang-format -i $$(git ls-files '*.cc' '*.h')

# Fails (listing the files) when a source file is not clang-formatted.
format-check: setup
	clang-format --dry-run --Werror $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD_DIR)
