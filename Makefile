# Two commands on a fresh Debian 12 machine:
#   make train   set-up + build + train the default config on the embedded dataset
#   make test    set-up + build + every test (ctest)
BUILD_DIR ?= build
JOBS ?= 2
CMAKE_FLAGS ?=
ML_TRAIN := $(BUILD_DIR)/ml-train

.PHONY: all setup configure build train test bench clean format format-check

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

bench: setup
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DMLTRAIN_BUILD_BENCH=ON
	cmake --build $(BUILD_DIR) -j $(JOBS)
	bench/run

format: setup
	clang-format -i $$(git ls-files '*.cc' '*.h')

# Fails (listing the files) when a source file is not clang-formatted.
format-check: setup
	clang-format --dry-run --Werror $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD_DIR)
