# Fuzzing the wire protocol decoders (lib/proto.c, lib/proto_results.c) and the config parser
# (lib/config.c over inih) with libFuzzer, under ASan and UBSan.
# The Makefile includes this file:   include tests/fuzz/fuzz.mk
#
#   make fuzz                       both fuzzers, FUZZ_SECONDS each (default 300)
#   make fuzz FUZZ_RUNS=10000000    a fixed number of executions each instead
#   make fuzz-proto / fuzz-config   one of them
#   make fuzz-build                 build only (build-fuzz/fuzz_proto, fuzz_config)
#   make fuzz-seeds                 rewrite tests/fuzz/corpus/proto from the encoder
#
# The seed corpus in tests/fuzz/corpus/ is only read; inputs the fuzzer finds
# go to build-fuzz/corpus/, crashes to build-fuzz/crash-*. A crash becomes a
# file in tests/fuzz/corpus/<target>/ (make check replays every file there
# through tests/unit/test_fuzz_corpus.c, without clang) and a unit test.
# Needs clang with its libFuzzer runtime (Debian 12: clang, libclang-rt-14-dev,
# both pulled in by `apt-get install clang`).

FUZZ_CC      ?= clang
FUZZ_DIR     ?= build-fuzz
FUZZ_SECONDS ?= 300
FUZZ_RUNS    ?=
FUZZ_FLAGS   ?=
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer -std=c11 -D_GNU_SOURCE -Ilib $(FUZZ_SAN) \
                $(shell pkg-config --cflags inih 2>/dev/null)
FUZZ_INIH    := $(shell pkg-config --libs inih 2>/dev/null || echo -linih)
FUZZ_LIMIT    = $(if $(FUZZ_RUNS),-runs=$(FUZZ_RUNS),-max_total_time=$(FUZZ_SECONDS))
FUZZ_RUN      = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
                $(FUZZ_DIR)/fuzz_$(1) $(FUZZ_LIMIT) -print_final_stats=1 -max_len=$(2) \
                -artifact_prefix=$(FUZZ_DIR)/crash-$(1)- $(FUZZ_FLAGS) \
                $(FUZZ_DIR)/corpus/$(1) tests/fuzz/corpus/$(1)

.PHONY: fuzz fuzz-build fuzz-proto fuzz-config fuzz-seeds

fuzz-build: $(FUZZ_DIR)/fuzz_proto $(FUZZ_DIR)/fuzz_config

# The code under test is instrumented for coverage (fuzzer-no-link); only the
# harness brings libFuzzer's main.
$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

PROTO_FUZZ_OBJ := $(FUZZ_DIR)/obj/lib/proto.o $(FUZZ_DIR)/obj/lib/proto_results.o \
                  $(FUZZ_DIR)/obj/lib/proto_encode.o
$(FUZZ_DIR)/fuzz_proto: tests/fuzz/fuzz_proto.c $(PROTO_FUZZ_OBJ) lib/proto.h lib/model.h
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(PROTO_FUZZ_OBJ)

$(FUZZ_DIR)/fuzz_config: tests/fuzz/fuzz_config.c $(FUZZ_DIR)/obj/lib/config.o lib/config.h
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_DIR)/obj/lib/config.o $(FUZZ_INIH) -lm

$(PROTO_FUZZ_OBJ): lib/proto.h lib/proto_fields.h lib/model.h
$(FUZZ_DIR)/obj/lib/config.o: lib/config.h

fuzz-proto: $(FUZZ_DIR)/fuzz_proto
	@mkdir -p $(FUZZ_DIR)/corpus/proto
	$(call FUZZ_RUN,proto,65536)

fuzz-config: $(FUZZ_DIR)/fuzz_config
	@mkdir -p $(FUZZ_DIR)/corpus/config
	$(call FUZZ_RUN,config,4096)

fuzz: fuzz-build
	@$(MAKE) --no-print-directory fuzz-proto
	@$(MAKE) --no-print-directory fuzz-config

fuzz-seeds: $(FUZZ_DIR)/gen_corpus
	rm -f tests/fuzz/corpus/proto/[0-9][0-9]-*
	$(FUZZ_DIR)/gen_corpus tests/fuzz/corpus/proto

PROTO_SRC := lib/proto.c lib/proto_encode.c lib/proto_results.c
$(FUZZ_DIR)/gen_corpus: tests/fuzz/gen_corpus.c $(PROTO_SRC) lib/proto.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -O1 -g -std=c11 -D_GNU_SOURCE -Ilib -o $@ tests/fuzz/gen_corpus.c $(PROTO_SRC)
