# dnas — GNU Makefile. `make` builds libdnas + the dnas tool, `make test` runs every test,
# `make test-asan` runs them under AddressSanitizer + UndefinedBehaviorSanitizer.
# Switches: NO_OMP=1, NO_DNNL=1, NO_BLAS=1, CUDA=0, DEBUG=1, ARCH=<-march value>.
# `make cross-aarch64` / `make cross-test-aarch64`: aarch64 build + unit tests under qemu-user.

CC      ?= gcc
ARCH    ?= x86-64-v3
BUILD   ?= build
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter -Wno-format-truncation
CFLAGS  := -std=c11 -D_GNU_SOURCE $(WARN) -fvisibility=hidden -Iinclude -Isrc -march=$(ARCH)
LDLIBS  := -lm -lpthread

ifeq ($(DEBUG),1)
  CFLAGS += -O0 -g
else
  CFLAGS += -O3 -g -ffp-contract=fast
endif
ifeq ($(SAN),1)
  CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
endif

# ---- feature detection (reported as ✓ / ✗) ----------------------------------------------------
HASH  := \#
probe = $(shell printf '$(HASH)include <$(2)>\nint main(void){return 0;}\n' | $(CC) -x c - $(1) -o /dev/null >/dev/null 2>&1 && echo 1)
ifneq ($(NO_OMP),1)
  HAVE_OMP := $(call probe,-fopenmp,omp.h)
endif
ifneq ($(NO_DNNL),1)
  HAVE_DNNL := $(call probe,-ldnnl,dnnl.h)
endif
ifneq ($(NO_BLAS),1)
  HAVE_BLAS := $(call probe,-lopenblas,cblas.h)
endif
ifneq ($(CUDA),0)
  NVCC := $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
  HAVE_CUDNN := $(shell ls /usr/include/cudnn.h /usr/local/cuda/include/cudnn.h /usr/include/x86_64-linux-gnu/cudnn.h 2>/dev/null | head -1)
endif
ifeq ($(HAVE_OMP),1)
  CFLAGS += -fopenmp
  LDFLAGS += -fopenmp
  CFLAGS += -DDNAS_HAVE_OMP=1
else
  # Without OpenMP its pragmas are meant to be ignored (serial code), not -Werror failures.
  CFLAGS += -Wno-unknown-pragmas
endif
# AVX2 + FMA (x86-64-v3) run the hand-written conv kernels; other -march values build the same
# kernels in portable vector code (src/backend/cpu/cpu_simd.h): correct, slower.
HAVE_AVX2 := $(if $(filter 2,$(shell $(CC) -march=$(ARCH) -dM -E -x c /dev/null 2>/dev/null | grep -cE '^.define __(AVX2|FMA)__ ')),1)
ifeq ($(HAVE_DNNL),1)
  CFLAGS += -DDNAS_HAVE_DNNL=1
  LDLIBS += -ldnnl
endif
ifeq ($(HAVE_BLAS),1)
  CFLAGS += -DDNAS_HAVE_BLAS=1
  LDLIBS += -lopenblas
endif
yn = $(if $(1),✓,✗)

# ---- sources ----------------------------------------------------------------------------------
LIB_SRC  := $(sort $(shell find src -name '*.c'))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libdnas.a
TOOL     := $(BUILD)/dnas
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c tests/ref/test_*.c tests/e2e/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC:= $(sort $(wildcard bench/*.c))
BENCH_BIN:= $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all report test test-asan clean data testdata bench fixtures
all: report $(TOOL) $(TEST_BIN) $(BENCH_BIN)

report:
	@echo "dnas build: CC=$(CC) -march=$(ARCH)  AVX2+FMA $(call yn,$(HAVE_AVX2))  OpenMP $(call yn,$(HAVE_OMP))  oneDNN $(call yn,$(HAVE_DNNL))  OpenBLAS $(call yn,$(HAVE_BLAS))  nvcc $(call yn,$(NVCC))  cuDNN $(call yn,$(HAVE_CUDNN))"

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(TOOL): tools/dnas.c $(LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(CFLAGS) -MMD -MP $< -o $@ $(LIB) $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/test.h $(LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(CFLAGS) -Itests -Itests/ref -DDNAS_SRC_DIR='"$(CURDIR)"' -MMD -MP $< -o $@ $(LIB) $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(CFLAGS) -MMD -MP $< -o $@ $(LIB) $(LDFLAGS) $(LDLIBS)

# ---- CUDA backend (issue #17): built only when nvcc and cuDNN are found (CUDA=0: never) ------
# src/backend/cuda/*.cu -> $(BUILD)/libdnas_cuda.a, linked only into the CUDA parity test
# $(BUILD)/cuda/test_cuda_kernels (outside $(BUILD)/tests/, so `make test` never runs it: it
# needs a GPU; bench/gpu-check.sh runs it). libdnas itself stays CUDA-free.
ifneq ($(NVCC),)
ifneq ($(HAVE_CUDNN),)
CUDA_HOME  ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_ARCH  ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
NVCCFLAGS  := -std=c++17 -O3 -g -Iinclude -Isrc $(CUDA_ARCH) \
              -Xcompiler -Wall,-Wextra,-Wshadow,-Wno-unused-parameter
CUDA_SRC   := $(sort $(wildcard src/backend/cuda/*.cu))
CUDA_HDR   := $(wildcard src/backend/cuda/*.cuh src/backend/cuda/*.h) src/backend/backend.h
CUDA_OBJ   := $(CUDA_SRC:%.cu=$(BUILD)/cuda/%.o)
CUDA_LIB   := $(BUILD)/libdnas_cuda.a
CUDA_LIBS  := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudnn -lcublas -lcudart -lstdc++ -ldl
CUDA_TEST  := $(BUILD)/cuda/test_cuda_kernels
all: $(CUDA_TEST)
cuda: $(CUDA_TEST)
.PHONY: cuda

$(BUILD)/cuda/%.o: %.cu $(CUDA_HDR)
	@mkdir -p $(dir $@)
	@echo "NVCC $<"
	@$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(CUDA_LIB): $(CUDA_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(CUDA_TEST): tests/cuda/test_cuda_kernels.c tests/test.h $(CUDA_HDR) $(CUDA_LIB) $(LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(CFLAGS) -Itests -I$(CUDA_HOME)/include $< -o $@ $(CUDA_LIB) $(LIB) $(LDFLAGS) $(LDLIBS) $(CUDA_LIBS)
endif
endif

# ---- shared library + Python package ----------------------------------------------------------
# libdnas.so.MAJOR.MINOR.PATCH (soname libdnas.so.MAJOR) from position-independent copies of the
# objects in $(BUILD)/pic; -fvisibility=hidden leaves only the DNAS_API symbols exported. The
# version comes from include/dnas.h. `make python` copies the library into python/dnas/ (what
# `pip install ./python` packages); `make python-install` also installs that package.
SO_VERSION := $(shell sed -n 's/^.define DNAS_VERSION_STRING "\(.*\)"/\1/p' include/dnas.h)
SO_MAJOR   := $(firstword $(subst ., ,$(SO_VERSION)))
SONAME     := libdnas.so.$(SO_MAJOR)
SO_REAL    := $(BUILD)/libdnas.so.$(SO_VERSION)
SO_LINKS   := $(BUILD)/$(SONAME) $(BUILD)/libdnas.so
PIC_OBJ    := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
all: $(SO_LINKS)
shared: $(SO_LINKS)

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC (pic) $<"
	@$(CC) $(CFLAGS) -fPIC -MMD -MP -c $< -o $@

$(SO_REAL): $(PIC_OBJ)
	@echo "LD $@"
	@$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined $^ -o $@ $(LDFLAGS) $(LDLIBS)

$(SO_LINKS): $(SO_REAL)
	@ln -sf $(notdir $(SO_REAL)) $@

# One file, under the soname the package loads (links would be copied as files by pip).
python: $(SO_LINKS)
	@rm -f python/dnas/libdnas.so*
	cp $(SO_REAL) python/dnas/$(SONAME)

python-install: python
	python3 -m pip install -q ./python

.PHONY: shared python python-install

# Decoded CIFAR-10 (official binary format) for tests, from ../shared/data's JPEG form.
SHARED_DATA ?= $(abspath ../shared/data)
testdata: $(BUILD)/data/cifar-10-batches-bin/test_batch.bin
$(BUILD)/data/cifar-10-batches-bin/test_batch.bin:
	@mkdir -p $(BUILD)/data/cifar-10-batches-bin
	python3 $(SHARED_DATA)/cifar10/decode.py $(BUILD)/data/cifar-10-batches-bin

test: all testdata
	@if [ "$(FUZZ_OK)" = 1 ]; then $(MAKE) -s --no-print-directory $(FUZZ_BIN); fi
	@BUILD=$(BUILD) FUZZ_BUILD=$(FUZZ_BUILD) DNAS_SHARED_DATA=$(SHARED_DATA) sh tests/run.sh

test-asan:
	$(MAKE) BUILD=build-asan SAN=1 test

bench: all
	@sh bench/run.sh

# ---- aarch64 cross build (issue #15): the library and its unit tests, run under qemu-user -----
# `sh scripts/setup-cross` installs Debian's cross compiler and qemu-aarch64. ARCH goes to
# -march, so the AVX2 detection above finds nothing and every kernel takes its portable path
# (cpu_simd.h); oneDNN, OpenBLAS and CUDA are host libraries, left out; OpenMP stays when the
# cross compiler has it. Only tests/unit: e2e/ and ref/ run the tool and host-side Python.
CROSS_CC    ?= aarch64-linux-gnu-gcc
CROSS_ARCH  ?= armv8-a
CROSS_BUILD ?= build-aarch64
CROSS_RUN   ?= qemu-aarch64 -L /usr/aarch64-linux-gnu
CROSS_VARS   = CC=$(CROSS_CC) ARCH=$(CROSS_ARCH) NO_DNNL=1 NO_BLAS=1 CUDA=0 BUILD=$(CROSS_BUILD)
UNIT_BIN    := $(filter $(BUILD)/tests/unit/%,$(TEST_BIN))
# Debian 12's GCC 12.2 for aarch64 dies (ICE in vect_transform_reduction) vectorizing an fmax
# reduction of float loads into a double, the way several tests take their worst error
# (md = fmax(md, fabs(...)) over a float array; -fvect-cost-model=very-cheap still hits it).
# The test programs are built without loop vectorization (their own loops are not what is
# under test); private: not the library objects they depend on, which build as usual.
CROSS_TEST_CFLAGS ?= -fno-tree-loop-vectorize
$(UNIT_BIN): private CFLAGS += $(UNIT_XCFLAGS)
.PHONY: unit cross-aarch64 cross-test-aarch64

unit: report $(LIB) $(UNIT_BIN)

cross-aarch64:
	@$(MAKE) --no-print-directory $(CROSS_VARS) UNIT_XCFLAGS="$(CROSS_TEST_CFLAGS)" unit

# The CIFAR test copy is decoded on the host (it is data, the same for every target).
cross-test-aarch64: cross-aarch64
	@$(MAKE) -s --no-print-directory BUILD=$(CROSS_BUILD) CUDA=0 testdata
	@BUILD=$(CROSS_BUILD) DNAS_SHARED_DATA=$(SHARED_DATA) TEST_DIRS=unit FUZZ_SMOKE=0 \
	    PYTHON_TESTS=0 RUNNER="$(CROSS_RUN)" sh tests/run.sh

# Official archives, for users with the internet (md5-checked).
data:
	sh scripts/get-data.sh data

# ---- fuzzing: libFuzzer harnesses of every reader (tests/fuzz/README.md) ---------------------
# `make fuzz` fuzzes each harness for FUZZ_TIME seconds (FUZZ=name... picks some); `make test`
# runs each for a few seconds when $(FUZZ_CC) can link libFuzzer targets, else prints SKIP.
FUZZ_CC     ?= clang
FUZZ_BUILD  ?= $(BUILD)-fuzz
FUZZ_TIME   ?= 60
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE $(filter-out -Werror -Wno-format-truncation,$(WARN)) \
               -Wno-unknown-pragmas -Iinclude -Isrc -march=$(ARCH) -O1 -g -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_SRC    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN    := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIB    := $(FUZZ_BUILD)/libdnas-fuzz.a
# Deferred (=): only the fuzz and test recipes pay for this probe.
FUZZ_OK      = $(shell printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' | $(FUZZ_CC) -fsanitize=fuzzer,address,undefined -x c - -o /dev/null >/dev/null 2>&1 && echo 1)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC (fuzz) $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_LIB): $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
	@rm -f $@
	@ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(FUZZ_LIB)
	@echo "LD $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -MMD -MP $< -o $@ $(FUZZ_LIB) -lm -lpthread

.PHONY: fuzz fuzz-build fuzz-smoke
fuzz-build:
	@if [ "$(FUZZ_OK)" != 1 ]; then echo "fuzz: $(FUZZ_CC) cannot link libFuzzer targets; install clang and its runtime (scripts/setup)"; exit 1; fi
	@$(MAKE) -s --no-print-directory $(FUZZ_BIN)

fuzz: fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) sh tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZ)

fuzz-smoke:
	@if [ "$(FUZZ_OK)" = 1 ]; then $(MAKE) -s --no-print-directory $(FUZZ_BIN); fi
	@FUZZ_BUILD=$(FUZZ_BUILD) sh tests/fuzz/run.sh smoke

clean:
	rm -rf build build-asan build-fuzz build-asan-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
