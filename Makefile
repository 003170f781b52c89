# dnas — GNU Makefile. `make` builds libdnas + the dnas tool, `make test` runs every test,
# `make test-asan` runs them under AddressSanitizer + UndefinedBehaviorSanitizer.
# Switches: NO_OMP=1, NO_DNNL=1, NO_BLAS=1, CUDA=0, DEBUG=1, ARCH=<-march value>.

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
endif
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
	@echo "dnas build: CC=$(CC) -march=$(ARCH)  OpenMP $(call yn,$(HAVE_OMP))  oneDNN $(call yn,$(HAVE_DNNL))  OpenBLAS $(call yn,$(HAVE_BLAS))  nvcc $(call yn,$(NVCC))  cuDNN $(call yn,$(HAVE_CUDNN))"

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

# Decoded CIFAR-10 (official binary format) for tests, from ../shared/data's JPEG form.
SHARED_DATA ?= $(abspath ../shared/data)
testdata: $(BUILD)/data/cifar-10-batches-bin/test_batch.bin
$(BUILD)/data/cifar-10-batches-bin/test_batch.bin:
	@mkdir -p $(BUILD)/data/cifar-10-batches-bin
	python3 $(SHARED_DATA)/cifar10/decode.py $(BUILD)/data/cifar-10-batches-bin

test: all testdata
	@BUILD=$(BUILD) DNAS_SHARED_DATA=$(SHARED_DATA) sh tests/run.sh

test-asan:
	$(MAKE) BUILD=build-asan SAN=1 test

bench: all
	@sh bench/run.sh

# Official archives, for users with the internet (md5-checked).
data:
	sh scripts/get-data.sh data

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
