#!/usr/bin/env bash
# tests/cluster/java.sh - the Java binding's JUnit 5 tests (java/src/test),
# on two bindfs views of one folder: two JVMs as two nodes (the second runs
# the programs of examples/java), bad input, and the whole run under
# -Xcheck:jni (this JVM and every peer), whose output must hold no JNI
# warning.  Each JUnit test becomes one TAP line, so tests/run counts them.
# Needs 'make java' (build/java/..., build/libcohort-jni.so).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

JUNIT=/usr/share/java/junit-platform-console-standalone.jar
JAR=$BUILD/java/cohort.jar
JNI=$BUILD/libcohort-jni.so
need_prog "$COHORT" "cohort"
for f in "$JAR" "$JNI" "$BUILD/java/tests.stamp" "$BUILD/java/examples.stamp"; do
	[ -f "$f" ] || tap_bail "the Java binding is built ('$f')" "run 'make java' first (BUILD=$BUILD)"
done
[ -f "$JUNIT" ] || tap_bail "JUnit 5 is installed ('$JUNIT')" "install the Debian package junit5 (scripts/deps.sh)"
command -v java >/dev/null || tap_bail "java is installed" "install openjdk-17-jdk-headless (scripts/deps.sh)"

cluster_setup 2
W=$T/work
CP=$JAR:$BUILD/java/examples:$BUILD/java/test-classes

# A library built with sanitizers (make check) must come first in the
# process; the JVM's own signal handling and allocations are not ours.
if ldd "$JNI" | grep -q libasan; then
	LD_PRELOAD=$(ldd "$JNI" | awk '/libasan/ { print $3 }')
	export LD_PRELOAD
	export ASAN_OPTIONS=detect_leaks=0:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:allow_user_segv_handler=1:use_sigaltstack=0
	note "sanitizer build: LD_PRELOAD=$LD_PRELOAD"
fi

FLAGS="-Xcheck:jni"
note "JUnit under $FLAGS (this JVM and the peers)"
java $FLAGS -Dcohort.test.views="$V1,$V2" -Dcohort.test.work="$W" \
	-Dcohort.test.classpath="$CP" -Dcohort.test.jvmflags="$FLAGS" \
	-Dcohort.jni.library="$JNI" -Djava.io.tmpdir="$W" -Dcohort.test.cohort="$COHORT" \
	-jar "$JUNIT" --disable-banner --details=tree --class-path "$CP" \
	--select-package org.cohort --reports-dir "$W/reports" \
	>"$W/junit.out" 2>&1
rc=$?
sed 's/^/# /' "$W/junit.out"

# One TAP line per test case of the XML report (a skipped test is a failure:
# nothing here may be skipped).
report=$(ls "$W"/reports/TEST-*.xml 2>/dev/null | head -n 1)
if [ -z "$report" ]; then
	tap_fail "JUnit wrote a report (exit $rc)"
else
	tr -d '\n' <"$report" | sed 's/<testcase /\n<testcase /g' | tail -n +2 |
		sed -E 's/<\/testsuite>.*//' >"$W/cases"
	n=0
	while IFS= read -r tc; do
		name=$(sed -E 's/^<testcase name="([^"]*)" classname="([^"]*)".*/\2.\1/' <<<"$tc")
		n=$((n + 1))
		if grep -qE '<(failure|error|skipped)' <<<"$tc"; then
			tap_fail "java: $name" "$(grep -oE '<(failure|error)[^>]*message="[^"]*"' <<<"$tc" | head -c 2000)"
		else
			tap_ok "java: $name"
		fi
	done <"$W/cases"
	[ "$n" -gt 0 ] || tap_fail "JUnit ran at least one test"
	[ $rc -eq 0 ] || tap_fail "JUnit exited 0 (exit $rc)"
fi

# -Xcheck:jni reports misuse of JNI as "WARNING ..." lines (and aborts on
# the worst); the peers' output is in the test failures above.
if grep -nE 'WARNING|FATAL ERROR|JNI (call|local refs)' "$W/junit.out" >"$W/jni-warnings"; then
	tap_fail "no JNI warnings under -Xcheck:jni" "$(cat "$W/jni-warnings")"
else
	tap_ok "no JNI warnings under -Xcheck:jni"
fi
