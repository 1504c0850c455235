# ctrain — the two commands a new user types:
#   make run    installs what is missing, builds, fetches MNIST once, trains the tutorial's model
#   make test   installs what is missing, builds, runs every test (and again under ASan+UBSan)
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc)
# tests side by side: each spends much of its time in one thread (a CLI process, Python's
# reference, the CUDA emulator); 2 halves the release tree's time on a 2-core machine
TEST_JOBS  ?= 2
CMAKE_ARGS ?=

.PHONY: all deps deps-test build run test test-fast asan bench fuzz clean
# (one target at a time: under make -j, deps and deps-test would run apt-get side by side; each
# build still compiles on every core)
.NOTPARALLEL:

all: build

deps:
	@scripts/install-deps

# the build's packages and, when they can be installed, PyTorch, torchvision, ONNX, protobuf
# and crcmod (to read TensorBoard files back) and PIL (JPEG files) for the reference tests
# (without them they print SKIP); one apt-get update for all
deps-test:
	@scripts/install-deps --optional python3-torch python3-torchvision python3-onnx \
	  python3-protobuf python3-crcmod python3-pil

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS) >/dev/null || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/ctrain data fetch mnist
	$(BUILD)/ctrain train

test: deps-test build asan
	$(BUILD)/ctrain data fetch mnist
	cd $(BUILD) && ctest --output-on-failure -j $(TEST_JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -L unit -j $(TEST_JOBS)

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCTRAIN_SANITIZE=ON -DCTRAIN_CUDA=OFF >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

bench: build
	bench/run

# libFuzzer on each reader of users' files (tests/fuzz): FUZZ_SECONDS each, from the committed
# corpus; new inputs go to $(FUZZ_BUILD)/corpus, crashing ones to $(FUZZ_BUILD)/crashes.
fuzz:
	@scripts/install-deps clang libclang-rt-dev
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCTRAIN_FUZZ=ON -DCTRAIN_CUDA=OFF -DCTRAIN_MPI=OFF -DCTRAIN_CUDA_EMU=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_idx fuzz_image fuzz_spec fuzz_checkpoint fuzz_train_flags
	@scripts/fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
