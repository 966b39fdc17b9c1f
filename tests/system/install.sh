#!/usr/bin/env bash
# tests/system/install.sh - the Debian packages, installed on this machine.
#
# 1. 'make deb' builds cohort, libcohort0 and libcohort-dev into BUILD/deb
#    and lintian finds no error in them (COHORT_DEB_DIR=DIR: use the
#    packages already in DIR instead).
# 2. dpkg installs the three; /usr/bin/cohort --version prints the
#    version, and the tool is linked against the packaged libcohort.so.0.
# 3. The manual pages, the bash completion and the systemd units are where
#    man, bash-completion and systemd look.
# 4. examples/follow.c compiles against the installed 'pkg-config cohort'
#    (headers from /usr/include, library from the package) and, run on a
#    fresh cluster root, prints a record appended with the installed tool.
# 5. dpkg --purge removes them: no package left, none of their files.
#
# Needs root (dpkg); without it the test fails, it does not skip.  It
# refuses to touch a machine where one of the packages is installed
# already, it holds /run/lock/cohort-install-test.lock so two trees
# testing at once take turns, and an EXIT trap purges what it installed
# also when it fails midway.  A 'make install' into /usr/local is not
# touched: the test names /usr/bin/cohort and the package's pkg-config
# folder explicitly.
#
# BUILD=build bash tests/system/install.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/lib.sh
. "$HERE/../cluster/lib.sh"
TOP=$CLUSTER_TOP
PKGS="cohort libcohort0 libcohort-dev"

[ "$(id -u)" -eq 0 ] ||
	tap_bail "the install test runs as root (it installs the packages with dpkg)" \
		"run it as root: sudo BUILD=$BUILD bash tests/system/install.sh"
for p in dpkg dpkg-deb pkg-config cc flock; do
	command -v $p >/dev/null || tap_bail "$p is installed (scripts/deps.sh)"
done

# dpkg_retry ARGS...: dpkg ARGS, again while another process (apt, another
# developer's dpkg) holds dpkg's lock, for up to two minutes.
dpkg_retry() {
	local i out rc
	for i in $(seq 120); do
		out=$(dpkg "$@" 2>&1)
		rc=$?
		[ $rc -ne 0 ] && grep -q 'lock' <<<"$out" || break
		sleep 1
	done
	printf '%s\n' "$out"
	return $rc
}

W=$(mktemp -d "${TMPDIR:-/tmp}/cohort-install.XXXXXX") || tap_bail "mktemp -d"
INSTALLED=0
FOLLOW_PID=""
cleanup() {
	[ -n "$FOLLOW_PID" ] && kill "$FOLLOW_PID" 2>/dev/null
	if [ $INSTALLED -eq 1 ]; then
		# shellcheck disable=SC2086
		dpkg_retry --purge $PKGS >"$W/purge-on-exit.log" 2>&1 ||
			echo "# cleanup: dpkg --purge $PKGS failed: $(tail -n 5 "$W/purge-on-exit.log")"
	fi
	rm -rf "$W"
}
trap cleanup EXIT
trap 'tap_fail "interrupted (SIGINT)"; exit 130' INT
trap 'tap_fail "interrupted (SIGTERM)"; exit 143' TERM

installed() {
	dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -qv "not-installed$" &&
		dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q .
}

exec 9>/run/lock/cohort-install-test.lock
flock -w 900 9 || tap_bail "another install test holds /run/lock/cohort-install-test.lock"

for p in $PKGS; do
	if installed "$p"; then
		tap_bail "package $p is not installed before the test" \
			"it is ($(dpkg-query -W -f='${Version} ${Status}' "$p")):" \
			"the test would replace and purge it; remove it first (dpkg --purge $PKGS)"
	fi
done

# ---- 1. build ----------------------------------------------------------------
if [ -n "${COHORT_DEB_DIR:-}" ]; then
	DEBS=$COHORT_DEB_DIR
	note "packages from COHORT_DEB_DIR=$DEBS"
else
	DEBS=$BUILD/deb
	tap_check "make deb builds the packages, lintian finds no error" \
		make -s -C "$TOP" BUILD="$BUILD" deb || exit 1
fi
files=()
for p in $PKGS; do
	f=$(ls "$DEBS/${p}_"*.deb 2>/dev/null | tail -n 1)
	[ -n "$f" ] || tap_bail "$DEBS holds ${p}_*.deb"
	files+=("$f")
done
version=$(dpkg-deb -f "${files[0]}" Version)

# ---- 2. install ----------------------------------------------------------------
INSTALLED=1
tap_check "dpkg -i installs ${PKGS// /, }" dpkg_retry -i "${files[@]}" || exit 1
for p in $PKGS; do
	tap_check "$p is installed" bash -c "dpkg-query -W -f='\${Status}' $p | grep -qx 'install ok installed'"
done
tap_is "/usr/bin/cohort --version" "$(/usr/bin/cohort --version 2>&1)" "cohort ${version%%-*}"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
tap_check "/usr/bin/cohort uses the packaged libcohort.so.0" \
	bash -c "ldd /usr/bin/cohort | grep -E 'libcohort\.so\.0 => (/usr)?/lib/$multiarch/libcohort\.so\.0 '"

# ---- 3. where things are looked for ------------------------------------------
for f in /usr/share/man/man1/cohort.1.gz /usr/share/man/man5/cohort.conf.5.gz \
	/usr/share/man/man3/libcohort.3.gz \
	/usr/share/bash-completion/completions/cohort \
	/lib/systemd/system/cohort-node@.service \
	/lib/systemd/system/cohort-watch@.service \
	/lib/systemd/system/cohort-janitor@.service \
	/lib/systemd/system/cohort-janitor@.timer \
	/usr/share/doc/cohort/examples/cohort-janitor.cron \
	/usr/include/cohort.h "/usr/lib/$multiarch/libcohort.a"; do
	tap_check "installed: $f" test -s "$f"
done
tap_check "the installed units run /usr/bin/cohort" \
	bash -c "grep -h ExecStart= /lib/systemd/system/cohort-*.service | grep -q /usr/bin/cohort && ! grep -q /usr/local/bin/cohort /lib/systemd/system/cohort-*"
err=$(MANWIDTH=80 man -l --warnings /usr/share/man/man1/cohort.1.gz 2>&1 >/dev/null)
tap_is "the installed cohort(1) renders without warnings" "$err" ""

# ---- 4. a program built against the installed library ----------------------
PCDIR=/usr/lib/$multiarch/pkgconfig
if cflags=$(PKG_CONFIG_LIBDIR=$PCDIR:/usr/lib/pkgconfig:/usr/share/pkgconfig pkg-config --cflags cohort) &&
	libs=$(PKG_CONFIG_LIBDIR=$PCDIR:/usr/lib/pkgconfig:/usr/share/pkgconfig pkg-config --libs cohort); then
	tap_ok "pkg-config cohort (from $PCDIR)"
	# cc searches /usr/local/include before /usr/include: headers of a
	# 'make install' there would shadow the package's.  Put the package's
	# first then (-I goes before both).
	if [ -e /usr/local/include/cohort.h ]; then
		note "/usr/local/include/cohort.h exists (a make install): compiling with -I to the package's headers"
		mkdir -p "$W/inc"
		ln -s /usr/include/cohort.h /usr/include/cohort "$W/inc/"
		cflags="-I$W/inc $cflags"
	fi
	# shellcheck disable=SC2086
	if cc -std=c11 -Wall -Wextra -Werror $cflags -MD -MF "$W/follow.d" \
		-o "$W/follow" /usr/share/doc/libcohort-dev/examples/follow.c $libs \
		>"$W/cc.log" 2>&1; then
		tap_ok "the packaged follow.c compiles and links with pkg-config cohort"
	else
		tap_fail "the packaged follow.c compiles and links with pkg-config cohort" "$(cat "$W/cc.log")"
	fi
	tap_check "it was compiled with the packaged headers" \
		grep -qE ' (/usr/include|$W/inc)/cohort\.h' "$W/follow.d"
	tap_check "it runs with the packaged libcohort.so.0" \
		bash -c "ldd '$W/follow' | grep -E 'libcohort\.so\.0 => (/usr)?/lib/$multiarch/libcohort\.so\.0 '"
	root=$W/root
	/usr/bin/cohort --root "$root" init >/dev/null
	/usr/bin/cohort --root "$root" --node w --state "$W/state-w" join >/dev/null
	"$W/follow" "$root" f "$W/state-f" >"$W/follow.out" 2>&1 &
	FOLLOW_PID=$!
	rev=$(/usr/bin/cohort --root "$root" --node w --state "$W/state-w" append --type note "hello from the package")
	wait_for 10 grep -q "note hello from the package" "$W/follow.out"
	kill "$FOLLOW_PID" 2>/dev/null
	wait "$FOLLOW_PID"
	frc=$?
	FOLLOW_PID=""
	tap_is "follow prints the record the installed tool appended" \
		"$(grep note "$W/follow.out")" "$rev w note hello from the package"
	tap_is "follow exits 0 on SIGTERM" "$frc" 0
else
	tap_fail "pkg-config cohort (from $PCDIR)"
fi

# ---- 5. purge ---------------------------------------------------------------------
listed=$(for f in "${files[@]}"; do dpkg-deb -c "$f"; done |
	awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }')
# shellcheck disable=SC2086
tap_check "dpkg --purge removes ${PKGS// /, }" dpkg_retry --purge $PKGS && INSTALLED=0
left=""
for p in $PKGS; do
	installed "$p" && left="$left $p"
done
tap_is "no package left" "$left" ""
stray=$(while read -r f; do [ -e "$f" ] || [ -L "$f" ] && echo "$f"; done <<<"$listed")
tap_is "none of their files left" "$stray" ""
for d in /usr/include/cohort /usr/share/doc/cohort /usr/share/doc/libcohort0 \
	/usr/share/doc/libcohort-dev; do
	tap_check "no folder $d left" test ! -e "$d"
done
[ $TAP_FAILED -eq 0 ]
