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
#   make java            the Java binding: build/java/cohort.jar and
#                        build/libcohort-jni.so (JDK 17: javac, jar),
#                        with its JUnit tests and examples/java
#   make man             the manual pages (man/*.scd, scdoc) into BUILD/man
#   make deb             Debian packages cohort, libcohort0, libcohort-dev
#                        into BUILD/deb/ (dpkg-buildpackage, no tests)
#   make install         PREFIX=/usr/local DESTDIR= (LIBDIR=PREFIX/lib);
#                        with a JDK (WITH_JAVA=1, the default when javac
#                        is found) also the Java binding:
#                        PREFIX/share/java/cohort.jar, LIBDIR/jni/
#   make nfs             the real-NFS lab alone (tests/nfs/lab.sh): a QEMU VM
#                        with Debian's kernel, nfsd and three NFS clients;
#                        LAB_KINDS="v42 v3" LAB_SCENARIOS="journal" narrow it
#   make nfs-shell       boot the lab with a shell on the console
#   make uninstall, make clean, make deps (install the Debian packages)

PREFIX ?= /usr/local
DESTDIR ?=
LIBDIR ?= $(PREFIX)/lib
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
LDLIBS := $(PC_LDLIBS) -lresolv -lpthread -ldl
# libarchive and libxml2 are loaded when the store first needs them
# (src/lazy.h), not linked into the library and the tool: linking them cost
# every 'cohort' process 10-15 ms of start-up.  Their sonames, read here
# from the -dev packages' links, are what src/lazy.c opens.  Programs that
# call libarchive themselves (the tests) still link it (LDLIBS).
PC_LAZY := libarchive libxml-2.0
LIB_LDLIBS := $(shell pkg-config --libs $(filter-out $(PC_LAZY),$(PC_LIBS)) 2>/dev/null) \
	-lresolv -lpthread -ldl
soname_of = $(shell readelf -d "$$(pkg-config --variable=libdir $(1))/lib$(2).so" 2>/dev/null | \
	sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
SONAME_ARCHIVE := $(call soname_of,libarchive,archive)
SONAME_XML2 := $(call soname_of,libxml-2.0,xml2)
$(BUILD)/src/lazy.o: CFLAGS += $(if $(SONAME_ARCHIVE),-DCOHORT_LIBARCHIVE_SONAME='"$(SONAME_ARCHIVE)"') \
	$(if $(SONAME_XML2),-DCOHORT_LIBXML2_SONAME='"$(SONAME_XML2)"')

LIB_SRC := $(wildcard src/*.c src/os/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
# The cohort tool, split by command family (tools/cohort/cli.h).
COHORT_TOOL_SRC := $(wildcard tools/cohort/*.c)
COHORT_TOOL_OBJ := $(COHORT_TOOL_SRC:%.c=$(BUILD)/%.o)
TOOLS := $(BUILD)/cohort
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
	fuzz soak torture java man deb nfs nfs-shell
all: $(STATIC) $(SHARED) $(TOOLS) $(EXAMPLES)

$(BUILD)/%.o: %.c $(wildcard include/*.h include/cohort/*.h src/*.h src/os/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libcohort.so.$(SOVERSION) $(LDFLAGS) -o $@ $^ $(LIB_LDLIBS)
	ln -sf libcohort.so.$(VERSION) $(BUILD)/libcohort.so.$(SOVERSION)
	ln -sf libcohort.so.$(VERSION) $(BUILD)/libcohort.so

# SHARED_TOOLS=1 (the Debian packages) links the tool against
# libcohort.so.0 instead of the static library.
ifeq ($(SHARED_TOOLS),1)
TOOL_LIB_DEP := $(SHARED)
TOOL_LIB := -L$(BUILD) -Wl,--as-needed -lcohort
else
TOOL_LIB_DEP := $(STATIC)
TOOL_LIB := $(STATIC)
endif

$(BUILD)/cohort: $(COHORT_TOOL_OBJ) $(TOOL_LIB_DEP)
	$(CC) $(LDFLAGS) -o $@ $(COHORT_TOOL_OBJ) $(TOOL_LIB) $(LIB_LDLIBS)
$(COHORT_TOOL_OBJ): tools/cohort/cli.h

$(BUILD)/examples/%: $(BUILD)/examples/%.o $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $< $(STATIC) $(LIB_LDLIBS)

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

# The Java binding (java/; NOTES.md "Java binding"): javac and jar of the
# JDK (Debian openjdk-17-jdk-headless), JUnit 5 (Debian junit5) for its
# tests; no network build tool.  The native half, libcohort-jni.so, links
# against libcohort.so and finds it next to itself or one folder up
# (PREFIX/lib/jni -> PREFIX/lib).
JAVAC ?= javac
JAR ?= jar
JAVA_HOME ?= $(patsubst %/bin/javac,%,$(realpath $(shell command -v $(JAVAC) 2>/dev/null)))
JAVA_WARN := -Xlint:all
ifneq ($(CI)$(filter 1,$(WERROR)),)
JAVA_WARN += -Werror
endif
JAVAC_FLAGS := --release 17 -encoding UTF-8 $(JAVA_WARN)
JUNIT_CP := /usr/share/java/junit-jupiter-api.jar:/usr/share/java/opentest4j.jar:/usr/share/java/apiguardian-api.jar
JAVA_SRC := $(wildcard java/src/main/java/org/cohort/*.java)
JAVA_TEST_SRC := $(wildcard java/src/test/java/org/cohort/*.java)
JAVA_EXAMPLE_SRC := $(wildcard examples/java/*.java)
JNI_SRC := $(wildcard java/jni/*.c)
JNI_OBJ := $(JNI_SRC:%.c=$(BUILD)/%.o)
JNI_LIB := $(BUILD)/libcohort-jni.so
JAVA_JAR := $(BUILD)/java/cohort.jar
JAVA_TESTS := $(BUILD)/java/tests.stamp
JAVA_EXAMPLES := $(BUILD)/java/examples.stamp

# javac -h writes the native methods' prototypes (org_cohort_*.h), which
# the C files include: a signature that drifts from the Java side fails
# to compile instead of failing at run time.
$(JNI_OBJ): CFLAGS += -isystem $(JAVA_HOME)/include \
	-isystem $(JAVA_HOME)/include/linux -I$(BUILD)/java/include
$(JNI_OBJ): java/jni/cohort_jni.h $(JAVA_JAR)

$(JNI_LIB): $(JNI_OBJ) $(SHARED)
	$(CC) -shared $(LDFLAGS) -Wl,-rpath,'$$ORIGIN:$$ORIGIN/..' -o $@ $(JNI_OBJ) \
		-L$(BUILD) -lcohort $(LDLIBS)

$(JAVA_JAR): $(JAVA_SRC)
	@if [ ! -f "$(JAVA_HOME)/include/jni.h" ]; then echo "make java: no JDK found (javac, jni.h): install the Debian package openjdk-17-jdk-headless (or run: sudo scripts/deps.sh)" >&2; exit 1; fi
	rm -rf $(BUILD)/java/classes $(BUILD)/java/include
	@mkdir -p $(BUILD)/java/classes
	$(JAVAC) $(JAVAC_FLAGS) -h $(BUILD)/java/include -d $(BUILD)/java/classes $(JAVA_SRC)
	$(JAR) --create --file $@ -C $(BUILD)/java/classes .

$(JAVA_TESTS): $(JAVA_JAR) $(JAVA_TEST_SRC)
	@if [ ! -f /usr/share/java/junit-jupiter-api.jar ]; then echo "make java: JUnit 5 is missing: install the Debian package junit5 (or run: sudo scripts/deps.sh)" >&2; exit 1; fi
	rm -rf $(BUILD)/java/test-classes
	@mkdir -p $(BUILD)/java/test-classes
	$(JAVAC) $(JAVAC_FLAGS) -cp $(JAVA_JAR):$(JUNIT_CP) -d $(BUILD)/java/test-classes $(JAVA_TEST_SRC)
	touch $@

$(JAVA_EXAMPLES): $(JAVA_JAR) $(JAVA_EXAMPLE_SRC)
	rm -rf $(BUILD)/java/examples
	@mkdir -p $(BUILD)/java/examples
	$(JAVAC) $(JAVAC_FLAGS) -cp $(JAVA_JAR) -d $(BUILD)/java/examples $(JAVA_EXAMPLE_SRC)
	touch $@

java: $(JAVA_JAR) $(JNI_LIB) $(JAVA_TESTS) $(JAVA_EXAMPLES)

# Unit suites, system and cluster tests, then the real-NFS lab; tests/run
# prints "N passed, N failed".
test: all java $(TESTS) $(TEST_HELPERS) $(FUZZ_REPLAYS)
	@BUILD=$(BUILD) tests/run

unit: all $(TESTS) $(TEST_HELPERS) $(FUZZ_REPLAYS)
	@BUILD=$(BUILD) tests/run --unit

cluster: all java $(TESTS) $(TEST_HELPERS)
	@BUILD=$(BUILD) tests/run --cluster

# Everything but the real-NFS lab again under ASan and UBSan (under TCG the
# sanitized build would take the lab past an hour; tests/run says so).
check:
	$(MAKE) BUILD=build-san SAN=1 COHORT_NFS_LAB=0 test

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
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@PRIVATE@|$(PC_LIBS)|' $< > $@

# Manual pages: man/NAME.SECTION.scd -> BUILD/man/NAME.SECTION (scdoc).
MAN_SRC := $(wildcard man/*.scd)
MANS := $(MAN_SRC:man/%.scd=$(BUILD)/man/%)
man: $(MANS)
$(BUILD)/man/%: man/%.scd
	@mkdir -p $(dir $@)
	@command -v scdoc >/dev/null || { echo "cohort: scdoc is missing: install the Debian package 'scdoc' (or run: sudo scripts/deps.sh)" >&2; exit 1; }
	scdoc < $< > $@.tmp && mv $@.tmp $@
all: $(MANS)

# The Java binding goes with 'make install' when a JDK is there (WITH_JAVA=
# leaves it out: the Debian packages do not carry it yet).
WITH_JAVA ?= $(if $(shell command -v javac 2>/dev/null),1,)

install: all cohort.pc $(if $(WITH_JAVA),java)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PREFIX)/include/cohort \
		$(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(addprefix $(DESTDIR)$(PREFIX)/share/man/man,1 3 5)
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf libcohort.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libcohort.so.$(SOVERSION)
	ln -sf libcohort.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libcohort.so
	install -m 644 include/cohort.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/cohort/*.h $(DESTDIR)$(PREFIX)/include/cohort/
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 cohort.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	for m in $(MANS); do \
		install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$${m##*.}/ || exit 1; \
	done
	install -m 644 completion/cohort.bash \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/cohort
ifneq ($(WITH_JAVA),)
	install -d $(DESTDIR)$(LIBDIR)/jni $(DESTDIR)$(PREFIX)/share/java
	install -m 644 $(JAVA_JAR) $(DESTDIR)$(PREFIX)/share/java/cohort-$(VERSION).jar
	ln -sf cohort-$(VERSION).jar $(DESTDIR)$(PREFIX)/share/java/cohort.jar
	install -m 755 $(JNI_LIB) $(DESTDIR)$(LIBDIR)/jni/
endif

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libcohort.a $(DESTDIR)$(LIBDIR)/libcohort.so*
	rm -rf $(DESTDIR)$(PREFIX)/include/cohort $(DESTDIR)$(PREFIX)/include/cohort.h
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(TOOLS)))
	rm -f $(DESTDIR)$(LIBDIR)/pkgconfig/cohort.pc
	for m in $(notdir $(MANS)); do \
		rm -f $(DESTDIR)$(PREFIX)/share/man/man$${m##*.}/$$m; \
	done
	rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/cohort
	rm -f $(DESTDIR)$(PREFIX)/share/java/cohort.jar \
		$(DESTDIR)$(PREFIX)/share/java/cohort-$(VERSION).jar \
		$(DESTDIR)$(LIBDIR)/jni/libcohort-jni.so

# Debian packages (debian/): dpkg-buildpackage writes its results to the
# parent of the tree it builds, so it builds an export of the committed
# tree plus the working copy's changes (git ls-files) in BUILD/deb/src and
# the packages land in BUILD/deb/.  No tests (DEB_BUILD_OPTIONS=nocheck):
# make test runs them.
deb:
	scripts/make-deb.sh $(BUILD)/deb

clean:
	rm -rf build build-san build-fuzz cohort.pc
