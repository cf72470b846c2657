# Convenience entry points; CMake does the real work.
#   make build   configure and build into build/
#   make test    ctest in build/, then the same suite under ASan+UBSan in build-asan/
#   make demo    the transcription pipeline, cold then warm (examples/transcribe/demo)
#   make bench   bench/run.sh, when present
#   make install cmake --install build (PREFIX=... to choose where)
#   make clean   remove build/ and build-asan/

MAKEFLAGS += -j2 --no-print-directory
JOBS      ?= 2
BUILD     ?= build
ASAN_BUILD ?= build-asan
BUILD_TYPE ?= RelWithDebInfo
CTEST_FLAGS ?= --output-on-failure

.PHONY: all bootstrap build test test-plain test-asan demo bench install clean

all: build

bootstrap:
	@scripts/bootstrap

# The CMake-generated makefiles get their own -j$(JOBS), not this make's
# jobserver (MAKEFLAGS replaced), which would warn about the forced -j.
build: bootstrap
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	MAKEFLAGS=--no-print-directory cmake --build $(BUILD) -j$(JOBS)

# The two passes run one after the other (the sanitizer pass is heavier and
# the machine has two cores); either failing fails `make test`.
test: build
	ctest --test-dir $(BUILD) $(CTEST_FLAGS)
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DARCA_SANITIZE=ON
	MAKEFLAGS=--no-print-directory cmake --build $(ASAN_BUILD) -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) $(CTEST_FLAGS) -E '^(e2e|fuzz)\.'

demo: build
	ARCA=$(CURDIR)/$(BUILD)/arca examples/transcribe/demo

bench: build
	@if [ -x bench/run.sh ]; then ARCA=$(CURDIR)/$(BUILD)/arca bench/run.sh; \
	elif [ -f bench/run.sh ]; then ARCA=$(CURDIR)/$(BUILD)/arca bash bench/run.sh; \
	else echo "bench: no bench/run.sh yet"; fi

install:
	cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX))

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
