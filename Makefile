# cnode: a C node for Erlang/Elixir clusters.
#   make            build libcnode.a and cnoded (release flags: -O2, assertions on)
#   make run        install deps if missing, build, start `cnoded --sname cnode`
#   make test       unit tests (Check), fuzz smoke run, interop tests against real BEAM nodes
#   make test SAN=1 the same, built with ASan+UBSan (SAN=thread: ThreadSanitizer, build-tsan/)
#   make test-otp27 the interop tests under Erlang 27 / Elixir 1.18
#   make fuzz       libFuzzer on the network parsers, FUZZ_SECONDS (60) per harness (clang)
#   make bench-procs bytes per idle process and spawn rate, against a BEAM node
#   make module SRC=x.c KEY=k.key   a signed hot-loadable native module (build/modules/x.cnm)
#   make bench-tls  TLS vs plain distribution: connection setup and 16 MiB throughput
#   make bench      cnoded against a BEAM echo node, A/B alternated (QUICK=1: under a minute)
.DEFAULT_GOAL := all

SAN ?= 0
BUILD := build$(if $(filter 1,$(SAN)),-san,)$(if $(filter thread,$(SAN)),-tsan,)$(if $(filter fuzz,$(SAN)),-fuzz,)

# erl_interface lives inside the Erlang install; ask erl where (no hard-coded version).
EI_DIR = $(shell erl -noshell -eval 'io:format("~s",[code:lib_dir(erl_interface)]),halt().' 2>/dev/null)
PKGS := libsodium openssl

CC ?= cc
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -pthread -MMD -MP
ifeq ($(SAN),1)
  OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  # static sanitizer runtimes: the binary also runs inside the OTP 27 root (no libasan there)
  LDSAN := -fsanitize=address,undefined -static-libasan -static-libubsan
else ifeq ($(SAN),thread)
  # ThreadSanitizer (make ... SAN=thread, build-tsan/): for the threading, OTP 25 only
  OPT := -O1 -fno-omit-frame-pointer -fsanitize=thread
  LDSAN := -fsanitize=thread
else ifeq ($(SAN),fuzz)
  # libFuzzer harnesses (make fuzz, build-fuzz/): clang, with ASan+UBSan
  CC := clang
  OPT := -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
    -fno-sanitize-recover=undefined
  LDSAN := -fsanitize=fuzzer,address,undefined
else
  OPT := -O2
  LDSAN :=
endif
CPPFLAGS = -I. -Icnode -Icnode/include -I$(EI_DIR)/include $(shell pkg-config --cflags $(PKGS))
CFLAGS = $(CFLAGS_BASE) $(OPT)
# libsodium is linked statically so the binary also runs inside the OTP 27 root (which lacks it).
LDLIBS = -L$(EI_DIR)/lib -lei -Wl,-Bstatic -lsodium -Wl,-Bdynamic -lssl -lcrypto -lpthread -lm -ldl

LIB_SRC := $(filter-out cnode/cli/%,$(wildcard cnode/*.c cnode/*/*.c epmd_client/*.c))
CLI_SRC := $(wildcard cnode/cli/*.c) $(wildcard workers/*.c)
UNIT_SRC := $(wildcard test/unit/check_*.c)
FUZZ_SRC := $(wildcard test/fuzz/fuzz_*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:test/unit/%.c=$(BUILD)/test/%)
FUZZ_BIN := $(FUZZ_SRC:test/fuzz/%.c=$(BUILD)/fuzz/%)

LIB := $(BUILD)/libcnode.a
CNODED := $(BUILD)/cnoded

.PHONY: all deps run test unit fuzz fuzz-smoke fuzz-bins interop test-otp27 bench-procs bench-rx bench bench-tls clean format module test-modules observer-src
all: $(LIB) $(CNODED)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# -rdynamic + whole archives: every public libcnode and ei function is in cnoded's dynamic
# symbol table, where hot-loaded modules (shared objects) find them.
$(CNODED): $(CLI_OBJ) $(LIB)
	$(CC) $(LDSAN) -pthread -rdynamic -o $@ $(CLI_OBJ) -Wl,--whole-archive $(LIB) \
	  $(EI_DIR)/lib/libei.a -Wl,--no-whole-archive $(LDLIBS)

$(BUILD)/test/%: test/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDSAN) -o $@ $< $(LIB) $(LDLIBS) $(shell pkg-config --libs check)

# check_extractor also links the scanner it tests, which lives in workers/ (not libcnode).
$(BUILD)/test/check_extractor: test/unit/check_extractor.c $(BUILD)/workers/extract_scan.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDSAN) -o $@ $< $(BUILD)/workers/extract_scan.o $(LIB) $(LDLIBS) $(shell pkg-config --libs check)

# Fuzzing the network parsers (test/fuzz/, scripts/fuzz.sh): `make fuzz` runs each harness for
# FUZZ_SECONDS (default 60); `make fuzz-smoke` (in `make test`) replays the seeds and a fixed
# number of mutations. Both build with clang into build-fuzz/, whatever SAN says.
FUZZ_SECONDS ?= 60
fuzz fuzz-smoke:
	@$(MAKE) --no-print-directory SAN=fuzz fuzz-bins
	@bash scripts/fuzz.sh $(if $(filter fuzz,$@),$(FUZZ_SECONDS),0) $(FUZZ_SRC:test/fuzz/%.c=build-fuzz/fuzz/%)

fuzz-bins: $(FUZZ_BIN)

$(BUILD)/fuzz/%: test/fuzz/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDSAN) -o $@ $< $(LIB) $(LDLIBS)

# fuzz_extract also links the scanner it fuzzes (workers/, not libcnode).
$(BUILD)/fuzz/fuzz_extract: test/fuzz/fuzz_extract.c $(BUILD)/workers/extract_scan.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDSAN) -o $@ $< $(BUILD)/workers/extract_scan.o $(LIB) $(LDLIBS)

deps:
	@bash scripts/install-deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	./$(CNODED) --sname cnode $(ARGS)

unit: $(UNIT_BIN)
	@bash test/unit/run.sh $(UNIT_BIN)

interop: all test-modules
	@CNODED=$(CURDIR)/$(CNODED) bash test/interop/run.sh

test: deps
	@$(MAKE) --no-print-directory unit fuzz-smoke interop
	@if [ "$(OTP27)" != 0 ] && [ -x ../shared/tools/otp27 ]; then \
	  $(MAKE) --no-print-directory test-otp27; \
	else echo "test: OTP 27 interop skipped (../shared/tools/otp27 not found or OTP27=0)"; fi

# LeakSanitizer cannot run inside the chroot (no /proc there); ASan and UBSan still do.
# The root has no openssl command or compiler: the TLS test certificates and the test modules
# are made here first.
test-otp27: all test-modules observer-src
	@bash scripts/gen-test-certs.sh $(BUILD)/tls-test-certs >/dev/null
	@CNODED=$(CURDIR)/$(CNODED) CNODE_TLS_CERTS=$(CURDIR)/$(BUILD)/tls-test-certs \
	  $(if $(filter 1,$(SAN)),ASAN_OPTIONS=detect_leaks=0,) \
	  ../shared/tools/otp27 run bash test/interop/run.sh

# Memory per idle process and spawn rate against a BEAM node (the start of `make bench`).
$(BUILD)/bench/procs: test/bench/procs.c $(LIB) $(BUILD)/workers/echo.o $(BUILD)/workers/kv.o $(BUILD)/workers/probe.o
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDSAN) -o $@ $< $(BUILD)/workers/echo.o $(BUILD)/workers/kv.o \
	  $(BUILD)/workers/probe.o $(LIB) $(LDLIBS)

# CPU per message on the receive path (rx, control dispatch, mailbox, echo), no network.
$(BUILD)/bench/rxpath: test/bench/rxpath.c $(LIB) $(BUILD)/workers/echo.o
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDSAN) -o $@ $< $(BUILD)/workers/echo.o $(LIB) $(LDLIBS)

# The plain erl_interface C node `make bench` measures beside cnoded (no libcnode in it).
$(BUILD)/bench/ei_echo: test/bench/ei_echo.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDSAN) -o $@ $< -L$(EI_DIR)/lib -lei -lpthread

bench-rx: $(BUILD)/bench/rxpath
	@$(BUILD)/bench/rxpath $(N)

bench-procs: $(BUILD)/bench/procs
	@bash scripts/bench-procs.sh $(BUILD)/bench/procs $(N)

# A hot-loadable native module, built and signed in one step (README "Hot code loading"):
#   make module SRC=workers/loadable/counter.c KEY=dev.key [OUT=x.cnm] [MODFLAGS=-DVERSION=2]
module: $(CNODED)
	@test -n "$(SRC)" || { echo "make module: SRC=file.c is required" >&2; exit 2; }
	@CC="$(CC)" CNODED=$(CURDIR)/$(CNODED) EI_INC=$(EI_DIR)/include bash scripts/build-module.sh \
	  $(SRC) $(or $(OUT),$(BUILD)/modules/$(basename $(notdir $(SRC))).cnm) "$(KEY)" $(MODFLAGS)

# The two versions of the example module the interop tests load, and one that cannot map
# (unsigned here; the tests sign them with keys they make). Built outside the OTP 27 root, which has no compiler.
TEST_MODULES := $(BUILD)/modules/counter_v1.so $(BUILD)/modules/counter_v2.so $(BUILD)/modules/unresolved.so
$(BUILD)/modules/counter_v%.so: workers/loadable/counter.c cnode/include/cnode.h scripts/build-module.sh
	@CC="$(CC)" EI_INC=$(EI_DIR)/include bash scripts/build-module.sh $< $@ "" -DVERSION=$* >/dev/null
$(BUILD)/modules/unresolved.so: test/interop/support/unresolved.c cnode/include/cnode.h scripts/build-module.sh
	@CC="$(CC)" EI_INC=$(EI_DIR)/include bash scripts/build-module.sh $< $@ "" >/dev/null
test-modules: $(TEST_MODULES)

# etop's sources from this machine's OTP (erlang-src) for observer_test.exs under OTP 27, whose
# root has none and cannot see /usr/lib/erlang outside it (test/interop/observer_test.exs).
observer-src:
	@src=$$(ls -d /usr/lib/erlang/lib/observer-*/src 2>/dev/null | tail -1); \
	  rt=$$(ls -d /usr/lib/erlang/lib/runtime_tools-*/include 2>/dev/null | tail -1); \
	  if [ -z "$$src" ] || [ -z "$$rt" ]; then \
	    echo "observer-src: no observer sources under /usr/lib/erlang/lib (make deps installs erlang-src)" >&2; exit 1; fi; \
	  mkdir -p build/observer-src/include build/observer-src/runtime_tools/include && \
	  cp $$src/etop.erl $$src/etop_txt.erl $$src/etop_tr.erl $$src/etop_defs.hrl build/observer-src/ && \
	  cp $$src/../include/etop.hrl build/observer-src/include/ && \
	  cp $$rt/observer_backend.hrl build/observer-src/runtime_tools/include/

# TLS vs plain distribution: connection setup time and 16 MiB echo throughput, cnode and BEAM.
bench-tls: all
	@bash scripts/bench-tls.sh $(CNODED) $(N)

# Latency, throughput, CPU per operation, memory per process: cnoded vs a BEAM echo node in
# the same run (scripts/bench.sh; results in bench/results/), then the cost of TLS
# (scripts/bench-tls.sh: connection setup, 16 MiB round trips). QUICK=1 for a smoke check.
bench: all $(BUILD)/bench/procs $(BUILD)/bench/ei_echo
	@EI_ECHO=$(BUILD)/bench/ei_echo bash scripts/bench.sh $(CNODED) $(BUILD)/bench/procs $(if $(filter 1,$(QUICK)),1,0)
	@$(if $(filter 1,$(QUICK)),true,bash scripts/bench-tls.sh $(CNODED) 10)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
