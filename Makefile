# cohort - one GNU Makefile.
#
#   make                 library (static and shared), tools, examples
#   make test            every test: Check suites, then cluster tests on
#                        bindfs views (needs FUSE; fails loudly without it)
#   make check           the same under ASan + UBSan (build-san/)
#   make demo            a three-node demo cluster on a temporary folder
#   make fuzz            libFuzzer targets (clang, build-fuzz/), each run for
#                        FUZZ_SECONDS (default 30) over tests/fuzz/corpus
#   make bench           benchmarks (BENCH_DIR=/some/mount to measure there)
#   make torture         the crash sweep exhaustively: every fault at every
#                        OS-layer call of every commit path (make test
#                        runs a bounded set; tests/cluster/crash.sh)
#   make soak            soak test, DURATION=10m (60s, 10m, 1h): three nodes,
#                        random work, SIGKILLs, a lost mount; then invariants
#   make nfs             the real-NFS lab alone (tests/nfs/lab.sh): a QEMU VM
#                        with Debian's kernel, nfsd and three NFS clients;
#                        LAB_KINDS="v42 v3" LAB_SCENARIOS="journal" narrow it
#   make nfs-shell       boot the lab with a shell on the console
#   make install         PREFIX=/usr/local DESTDIR=
#   make uninstall, make clean, make deps (install the Debian packages)

PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
CC ?= cc

VERSION := 0.1.0
SOVERSION := 0

# pkg-config name -> Debian package that provides it
PC_LIBS := libarchive libxxhash inih uuid json-c libxml-2.0
deb_libarchive := libarchive-dev
deb_libxxhash := libxxhash-dev
deb_inih := libinih-dev
deb_uuid := uuid-dev
deb_json-c := libjson-c-dev
deb_libxml-2.0 := libxml2-dev
deb_check := check

NODEPS_GOALS := clean deps uninstall help
ifeq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
else
ifeq ($(shell command -v pkg-config),)
$(error pkg-config is missing: install the Debian package 'pkg-config' (or run: sudo scripts/deps.sh))
endif
MISSING := $(strip $(foreach p,$(PC_LIBS),$(if $(shell pkg-config --exists $(p) && echo ok),,$(deb_$(p)))))
ifneq ($(MISSING),)
$(error missing libraries; install the Debian packages: $(MISSING) (or run: sudo scripts/deps.sh))
endif
endif

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wwrite-strings -Wvla -Wformat=2
ifneq ($(CI),)
WARN += -Werror
endif
ifeq ($(WERROR),1)
WARN += -Werror
endif

ifeq ($(SAN),1)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDSAN := -fsanitize=address,undefined
else
OPT := -O2 -g
LDSAN :=
endif

PC_CFLAGS := $(shell pkg-config --cflags $(PC_LIBS) 2>/dev/null)
PC_LDLIBS := $(shell pkg-config --libs $(PC_LIBS) 2>/dev/null)
CFLAGS ?=
CFLAGS += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -fPIC -pthread -Iinclude -Isrc $(PC_CFLAGS)
LDFLAGS += $(LDSAN) -pthread
LDLIBS := $(PC_LDLIBS) -lresolv -lpthread

LIB_SRC := $(wildcard src/*.c src/os/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC := $(wildcard tools/*.c)
TOOLS := $(TOOL_SRC:tools/%.c=$(BUILD)/%)
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLES := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)
TEST_SRC := $(wildcard tests/test_*.c)
TESTS := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_HELPER_SRC := $(wildcard tests/helpers/*.c)
TEST_HELPERS := $(TEST_HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/helpers/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_REPLAYS := $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz/replay_%)
BENCH_SRC := $(wildcard bench/*.c)
BENCHES := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

STATIC := $(BUILD)/libcohort.a
SHARED := $(BUILD)/libcohort.so.$(VERSION)

.PHONY: all test check unit cluster bench install uninstall clean deps help demo \
	fuzz soak torture nfs nfs-shell
all: $(STATIC) $(SHARED) $(TOOLS) $(EXAMPLES)

$(BUILD)/%.o: %.c $(wildcard include/*.h include/cohort/*.h src/*.h src/os/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libcohort.so.$(SOVERSION) $(LDFLAGS) -o $@ $^ $(LDLIBS)
	ln -sf libcohort.so.$(VERSION) $(BUILD)/libcohort.so.$(SOVERSION)
	ln -sf libcohort.so.$(VERSION) $(BUILD)/libcohort.so

$(BUILD)/%: $(BUILD)/tools/%.o $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $< $(STATIC) $(LDLIBS)

$(BUILD)/examples/%: $(BUILD)/examples/%.o $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $< $(STATIC) $(LDLIBS)

$(BUILD)/tests/helpers/%: $(BUILD)/tests/helpers/%.o $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $< $(STATIC) $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $< $(STATIC) $(LDLIBS) -lsqlite3

CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)
# tests/fixture.c: the fixture code every suite shares.
TEST_FIXTURE := $(BUILD)/tests/fixture.o
$(TEST_FIXTURE) $(TESTS:=.o): tests/fixture.h
$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(TEST_FIXTURE) $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $< $(TEST_FIXTURE) $(STATIC) $(LDLIBS) $(CHECK_LIBS)

# Fuzz targets replayed over their seed corpus with the normal compiler.
$(BUILD)/tests/fuzz/replay_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay.o $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
.SECONDARY: $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz/fuzz_%.o) $(BUILD)/tests/fuzz/replay.o

# Unit suites, then the cluster tests; tests/run prints "N passed, N failed".
test: all $(TESTS) $(TEST_HELPERS) $(FUZZ_REPLAYS)
	@BUILD=$(BUILD) tests/run

unit: all $(TESTS) $(TEST_HELPERS) $(FUZZ_REPLAYS)
	@BUILD=$(BUILD) tests/run --unit

cluster: all $(TESTS) $(TEST_HELPERS)
	@BUILD=$(BUILD) tests/run --cluster

check:
	$(MAKE) BUILD=build-san SAN=1 test

# Every fault (kill, EIO, ENOSPC, ESTALE, short, lie) at every OS-layer call
# of every commit path, then the invariants (tests/cluster/crash.sh).
torture: all $(TEST_HELPERS)
	@CRASH_SWEEP=full BUILD=$(BUILD) tests/cluster/crash.sh

bench: all $(BENCHES) $(TEST_HELPERS)
	@BUILD=$(BUILD) BENCH_DIR=$(BENCH_DIR) bench/run

# Three nodes on bindfs views doing random appends, installs, uninstalls,
# janitor runs and fsck checks for DURATION, with random SIGKILLs and one
# mount lost and restored; then every invariant is checked (TAP).
DURATION ?= 10m
soak: all $(TEST_HELPERS)
	@BUILD=$(BUILD) DURATION=$(DURATION) tests/soak/soak.sh

# The real-NFS lab (tests/nfs/): kernel and initramfs cached in $(BUILD)/nfs.
nfs: all
	@BUILD=$(BUILD) tests/run --nfs

nfs-shell: all
	@BUILD=$(BUILD) tests/nfs/lab.sh --shell

deps:
	scripts/deps.sh

# libFuzzer: the library compiled with clang into build-fuzz/, one binary
# per tests/fuzz/fuzz_NAME.c, each run FUZZ_SECONDS over a working corpus
# (build-fuzz/corpus/NAME, seeded from tests/fuzz/corpus/NAME); crashes
# land in build-fuzz/crashes/.
FUZZ_BUILD := build-fuzz
FUZZ_SECONDS ?= 30
FUZZ_CC ?= clang
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer \
	$(FUZZ_SAN) -fsanitize=fuzzer-no-link $(WARN) -pthread -Iinclude -Isrc \
	$(PC_CFLAGS)
# clang's -Wformat=2 also flags vsnprintf through a va_list helper
# without a format attribute (src/cluster.c vpath); gcc does not.
FUZZ_CFLAGS += -Wno-format-nonliteral
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_BINS := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)

$(FUZZ_BUILD)/%.o: %.c $(wildcard include/*.h include/cohort/*.h src/*.h src/os/*.h tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -pthread -o $@ $^ $(LDLIBS)

.SECONDARY: $(FUZZ_LIB_OBJ) $(FUZZ_NAMES:%=$(FUZZ_BUILD)/tests/fuzz/fuzz_%.o)

fuzz: $(FUZZ_BINS)
	@mkdir -p $(FUZZ_BUILD)/crashes
	@bad=""; for n in $(FUZZ_NAMES); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
		echo "# fuzz_$$n: $(FUZZ_SECONDS) s"; \
		$(FUZZ_BUILD)/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) \
			-print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/crashes/$$n- \
			$(FUZZ_BUILD)/corpus/$$n tests/fuzz/corpus/$$n \
			>$(FUZZ_BUILD)/fuzz_$$n.log 2>&1 || bad="$$bad $$n"; \
		grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==ERROR|SUMMARY)' \
			$(FUZZ_BUILD)/fuzz_$$n.log || true; \
	done; \
	if [ -n "$$bad" ]; then \
		echo "fuzz: crashes in:$$bad (logs: $(FUZZ_BUILD)/fuzz_NAME.log, inputs: $(FUZZ_BUILD)/crashes/)"; \
		exit 1; \
	fi

# A three-node cluster on bindfs views of a temporary folder.
demo: all
	@BUILD=$(BUILD) examples/demo.sh

help:
	@sed -n '2,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

cohort.pc: cohort.pc.in Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@PRIVATE@|$(PC_LIBS)|' $< > $@

install: all cohort.pc
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/cohort \
		$(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libcohort.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libcohort.so.$(SOVERSION)
	ln -sf libcohort.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libcohort.so
	install -m 644 include/cohort.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/cohort/*.h $(DESTDIR)$(PREFIX)/include/cohort/
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 cohort.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libcohort.a $(DESTDIR)$(PREFIX)/lib/libcohort.so*
	rm -rf $(DESTDIR)$(PREFIX)/include/cohort $(DESTDIR)$(PREFIX)/include/cohort.h
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(TOOLS)))
	rm -f $(DESTDIR)$(PREFIX)/lib/pkgconfig/cohort.pc

clean:
	rm -rf build build-san build-fuzz cohort.pc
