# ctrain — the two commands a new user types:
#   make run    installs what is missing, builds, fetches MNIST once, trains the tutorial's model
#   make test   installs what is missing, builds, runs every test (and again under ASan+UBSan)
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps build run test test-fast asan bench clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS) >/dev/null || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/ctrain data fetch mnist
	$(BUILD)/ctrain train

test: build asan
	$(BUILD)/ctrain data fetch mnist
	cd $(BUILD) && ctest --output-on-failure -j 1
	cd $(ASAN_BUILD) && ctest --output-on-failure -L unit -j 2

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCTRAIN_SANITIZE=ON -DCTRAIN_CUDA=OFF >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

bench: build
	bench/run

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
