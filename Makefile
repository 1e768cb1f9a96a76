# pymemtop build. Layers: lib/ (no curses) <- probes/ <- tui/. The agent is a
# separate shared object built against the CPython stable ABI (3.8+).

BUILD     ?= build
CC        ?= cc
PYTHON    ?= /usr/bin/python3
SAN       ?=

WARN      := -std=c11 -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
             -Wformat=2 -Wcast-qual -Wwrite-strings -Wundef -Werror
CPPFLAGS  := -D_GNU_SOURCE -Ilib -Iprobes -Itui
OPT       ?= -O2 -g
CFLAGS    := $(OPT) $(WARN) $(SAN)
PKGS_LIBS := $(shell pkg-config --libs ncursesw libproc2 inih 2>/dev/null)
PKGS_CFLAGS := $(shell pkg-config --cflags ncursesw libproc2 inih 2>/dev/null)

# The agent: limited API 3.8, headers from whatever python3-dev ships (3.11 on
# Debian 12); the stable ABI makes the result loadable by 3.8 to 3.13.
PY_INC    := $(shell $(PYTHON) -c 'import sysconfig;print(sysconfig.get_paths()["include"])' 2>/dev/null)
AGENT_CFLAGS := -O2 -g -fPIC -fvisibility=hidden $(WARN) -Wno-cast-qual \
             -D_GNU_SOURCE -DPy_LIMITED_API=0x03080000 -I$(PY_INC) -Ilib

LIB_SRC   := $(wildcard lib/*.c)
PROBE_SRC := $(wildcard probes/*.c)
TUI_SRC   := $(wildcard tui/*.c)
AGENT_SRC := $(wildcard probes/agent/*.c) lib/proto.c lib/proto_encode.c lib/pylayout.c lib/commands.c
UNIT_SRC  := $(wildcard tests/unit/test_*.c)

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
PROBE_OBJ := $(PROBE_SRC:%.c=$(BUILD)/%.o)
TUI_OBJ   := $(TUI_SRC:%.c=$(BUILD)/%.o)
AGENT_OBJ := $(AGENT_SRC:%.c=$(BUILD)/agent-obj/%.o)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

BIN       := $(BUILD)/pymemtop
AGENT     := $(BUILD)/pymemtop_agent.so

.PHONY: all deps pythons demo check fresh-check test unit asan check-asan bench clean \
        install uninstall
all: $(BIN) $(AGENT) $(UNIT_BIN)

# Installs only what is missing; through sudo when not root. The list is in
# the script, which README's set-up lines also run before make exists.
deps:
	@sh tests/deps.sh

# Current CPythons for the suite: a Debian sid root with python3.14, python3.15
# and python3.14-dbg in $$PYMEMTOP_SID_ROOT (default /var/cache/pymemtop/sid-root),
# run with chroot. Reused when present; needs root and the apt mirror (installs
# debootstrap if missing); without them it says so and the suite skips them.
pythons:
	@tests/provision_pythons.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PKGS_CFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/agent-obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libpm.a: $(LIB_OBJ) $(PROBE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(TUI_OBJ) $(BUILD)/libpm.a
	$(CC) $(CFLAGS) -o $@ $(TUI_OBJ) $(BUILD)/libpm.a $(PKGS_LIBS) -lm

# No libpython on the link line: the symbols come from the process it is loaded into.
$(AGENT): $(AGENT_OBJ)
	$(CC) -shared -fPIC -o $@ $^ -lpthread
	chmod 0755 $@

$(BUILD)/tests/%: tests/unit/%.c tests/unit/harness.h $(BUILD)/libpm.a $(BUILD)/tui-nocurses.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PKGS_CFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/tui-nocurses.a $(BUILD)/libpm.a $(PKGS_LIBS) -lm

# Pure parts of tui/ (layout maths, formatting) that unit tests link against.
TUI_PURE_OBJ := $(filter $(BUILD)/tui/layout.o $(BUILD)/tui/format.o,$(TUI_OBJ))
$(BUILD)/tui-nocurses.a: $(TUI_PURE_OBJ)
	@rm -f $@
	ar rcs $@ $^

unit: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do $$t || true; done

# The whole suite: unit tests, then real targets on every CPython on the machine.
test: all
	@$(PYTHON) tests/run.py --build $(BUILD)

check: deps pythons
	@$(MAKE) --no-print-directory all
	@$(PYTHON) tests/run.py --build $(BUILD)

# README's two set-up lines, copied from README.md, run as root in a fresh
# Debian 12 minbase root (debootstrap from this machine's apt mirror) holding a
# copy of this checkout under /root: the demo must open, the suite must end
# "N passed, 0 failed". Takes as long as the suite; needs root and the mirror
# (says so and exits 0 without them).
fresh-check:
	@tests/fresh_root.sh

# Sanitizer build of the monitor and unit tests; the agent stays uninstrumented
# because it is loaded into a Python that was not built with ASan.
asan:
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" all

check-asan: deps asan
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(PYTHON) tests/run.py --build build-asan --quick

demo: deps
	@$(MAKE) --no-print-directory all
	@tests/targets/demo.sh $(BUILD)

# Benchmarks report numbers (attach latency, overhead by parts, census,
# allocator hook, cycle hunt); they assert nothing.
BENCHES := bench/run.py bench/overhead.py bench/census.py bench/alloc.py bench/cycles.py \
           bench/dashboard.py bench/why.py bench/pauses.py bench/serve.py bench/monitors.py \
           bench/capture.py
bench: all
	@for b in $(BENCHES); do \
	  if [ -f $$b ]; then echo "== $$b"; $(PYTHON) $$b --build $(BUILD) || exit 1; fi; \
	done

PREFIX  ?= /usr/local
DESTDIR ?=
# The binary finds its agent at ../lib/pymemtop relative to itself. The agent
# runs inside targets: installed 0755, never group/other-writable.
install: $(BIN) $(AGENT)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pymemtop \
	  $(DESTDIR)$(PREFIX)/share/pymemtop $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/pymemtop
	install -m 0755 $(AGENT) $(DESTDIR)$(PREFIX)/lib/pymemtop/pymemtop_agent.so
	install -m 0644 config/pymemtop.ini $(DESTDIR)$(PREFIX)/share/pymemtop/pymemtop.ini
	install -m 0644 tui/pymemtop.1 $(DESTDIR)$(PREFIX)/share/man/man1/pymemtop.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/pymemtop $(DESTDIR)$(PREFIX)/lib/pymemtop/pymemtop_agent.so \
	      $(DESTDIR)$(PREFIX)/share/pymemtop/pymemtop.ini $(DESTDIR)$(PREFIX)/share/man/man1/pymemtop.1
	-rmdir $(DESTDIR)$(PREFIX)/lib/pymemtop $(DESTDIR)$(PREFIX)/share/pymemtop

# Fuzzing the protocol decoder and the config parser (libFuzzer, clang):
# make fuzz [FUZZ_SECONDS=300 | FUZZ_RUNS=10000000]; make check replays the
# seed corpus through test_fuzz_corpus.
include tests/fuzz/fuzz.mk
$(BUILD)/tests/test_fuzz_corpus: tests/fuzz/fuzz_proto.c tests/fuzz/fuzz_config.c

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
