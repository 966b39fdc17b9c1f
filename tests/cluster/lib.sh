# tests/cluster/lib.sh - sourced by every cluster test script.
#
# A cluster test runs K "nodes" on K bindfs views of one folder, which behave
# like K NFS clients in the ways that break software (see NFS.md, "Testing
# without a kernel NFS client").  Never run these tests on one plain folder.
#
#	HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
#	. "$HERE/lib.sh"
#	cluster_setup 3 [EXTRA-OPTS]      views $V1..$V3 of $SHARED (EXTRA-OPTS,
#	                                  e.g. attr_timeout=2,entry_timeout=2,
#	                                  override the defaults)
#	node_bind a 1                     node a works through view v1
#	node_cohort a init                $COHORT --root $V1/root --node a
#	                                  --state $T/state/root/a init
#	node_lockcounter a ARGS...        the same for tests/helpers/lockcounter
#	tool_copy                         run a private copy of $COHORT
#	use_root NAME                     work on shared/NAME instead of root
#	write_conf 'TEXT'                 ROOT/cohort.conf via the shared folder
#	bg_start some command             a background process killed at exit
#	tap_check "what it checks" cmd... "ok N - ..." or "not ok N - ..."
#	tap_ok / tap_fail DESC [DETAIL...] / tap_is DESC GOT WANT / tap_bail
#	wait_for SECONDS cmd...           poll until cmd succeeds
#	none_alive PID...                 none of the processes runs any more
#	ours_pid FILE                     the pid in FILE, if it is this test's
#	view_kill N                       lose view vN's mount (ENOTCONN)
#	view_unmount N; view_mount N      and bring it back
#
# Layout under $T (mktemp -d):
#	shared/          the "server" folder; shared/root is the cluster root
#	v1 .. vK         bindfs views of shared/ (one per node)
#	state/ROOT/ID    node ID's private local state folder (ROOT: root)
#	work/            scratch files of the test (not shared)
#
# An EXIT/INT/TERM trap kills every background process the test started
# (with their children), unmounts every view and removes $T, also when the
# test fails.  Without bindfs or FUSE the script prints "not ok" and exits
# 1: a missing prerequisite is a failure, never a skip.
#
# Environment: BUILD (default build, relative to the top of the tree),
# COHORT (default $BUILD/cohort), LOCKCOUNTER ($BUILD/tests/helpers/
# lockcounter), COHORT_TEST_KEEP=1 keeps $T for a post-mortem.

set -u

CLUSTER_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in
/*) ;;
*) BUILD=$CLUSTER_TOP/$BUILD ;;
esac
COHORT=${COHORT:-$BUILD/cohort}
case "$COHORT" in
/*) ;;
*) COHORT=$PWD/$COHORT ;;
esac
LOCKCOUNTER=${LOCKCOUNTER:-$BUILD/tests/helpers/lockcounter}

T=""
SHARED=""
ROOT_NAME=root
ROOT_SHARED=""
CLUSTER_K=0
CLUSTER_VIEWS=()
CLUSTER_PIDS=()
TAP_N=0
TAP_FAILED=0
declare -A NODE_VIEW=()

# ---- TAP -------------------------------------------------------------------

tap_ok() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $1"
}

# tap_fail DESC [DETAIL...]: each detail line is printed as a TAP comment.
tap_fail() {
	local d=$1
	shift
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $d"
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" | head -n 40 | sed 's/^/#   /'
	fi
}

# tap_check DESC CMD [ARGS...]: ok when CMD exits 0; its output goes into
# the failure's comment lines.
tap_check() {
	local d=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		tap_ok "$d"
	else
		tap_fail "$d" "command: $*" "exit $rc" "$out"
	fi
	return $rc
}

# tap_is DESC GOT WANT
tap_is() {
	if [ "$2" == "$3" ]; then
		tap_ok "$1"
	else
		tap_fail "$1" "got:  $2" "want: $3"
	fi
}

# Stop the script at once with a failure (setup that cannot go on).
tap_bail() {
	tap_fail "$@"
	exit 1
}

# A comment line (ignored by tests/run).
note() {
	echo "# $*"
}

# ---- processes -------------------------------------------------------------

# bg_start CMD [ARGS...]: run in the background, remembered for cleanup.
# The pid is left in BG_PID.
BG_PID=""
bg_start() {
	"$@" &
	BG_PID=$!
	CLUSTER_PIDS+=("$BG_PID")
}

# Every descendant of a pid, children first.
proc_descendants() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		proc_descendants "$c"
		echo "$c"
	done
}

# kill_tree PID [SIG]: the process and all its descendants.  Stopped ones
# are continued so that a TERM reaches them.
kill_tree() {
	local sig=${2:-KILL} p
	for p in $(proc_descendants "$1") "$1"; do
		kill -s "$sig" "$p" 2>/dev/null
		[ "$sig" = KILL ] || kill -s CONT "$p" 2>/dev/null
	done
}

# Wait up to SECONDS for CMD to succeed (polls every 50 ms).
wait_for() {
	local secs=$1 end
	shift
	end=$(($(date +%s%N) + secs * 1000000000))
	while ! "$@"; do
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.05
	done
	return 0
}

# none_alive PID...: true when none of the processes runs any more.
none_alive() {
	local p
	for p in "$@"; do
		kill -0 "$p" 2>/dev/null && return 1
	done
	return 0
}

# ours_pid FILE: print the pid in FILE if that process is one of this
# test's (its command line names a folder under $T: a pid may have been
# reused); fail otherwise.
ours_pid() {
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 1
	[ -n "$pid" ] || return 1
	{ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null |
		grep -qF -- "--root $T/" || return 1
	echo "$pid"
}

# Milliseconds on the monotonic-ish wall clock, for durations in a test.
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# ---- views -----------------------------------------------------------------

is_mounted() {
	awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts
}

# view_unmount N|PATH
view_unmount() {
	local v=$1 i
	[[ "$v" =~ ^[0-9]+$ ]] && v=$T/v$v
	for i in 1 2 3 4 5 6 7 8 9 10; do
		is_mounted "$v" || return 0
		fusermount3 -u "$v" 2>/dev/null ||
			fusermount -u "$v" 2>/dev/null ||
			{ [ "$i" -ge 5 ] && umount -l "$v" 2>/dev/null; }
		is_mounted "$v" || return 0
		sleep 0.2
	done
	fusermount3 -u -z "$v" 2>/dev/null || umount -l "$v" 2>/dev/null
	! is_mounted "$v"
}

# view_mount N [EXTRA-OPTS]: (re)mount view vN of shared/.
view_mount() {
	local v=$T/v$1 extra=${2:-} opts="" o
	# Extra options override the defaults of the same name.
	for o in attr_timeout=0 entry_timeout=0; do
		[[ ",$extra," == *",${o%%=*}="* ]] || opts="$opts${opts:+,}$o"
	done
	[ -n "$extra" ] && opts="$opts${opts:+,}$extra"
	mkdir -p "$v"
	bindfs --multithreaded --enable-lock-forwarding -o "$opts" \
		"$SHARED" "$v" || return 1
	wait_for 5 is_mounted "$v"
}

# The pid of the bindfs process serving view vN.
view_pid() {
	ps -eo pid=,args= | awk -v v="$T/v$1" \
		'$2 ~ /bindfs$/ && $NF == v { print $1; exit }'
}

# view_kill N: kill view vN's bindfs: the node "lost its mount" (ENOTCONN).
# view_unmount, then view_mount N, bring it back.
view_kill() {
	local p
	p=$(view_pid "$1")
	[ -n "$p" ] && kill -KILL "$p"
}

cluster_cleanup() {
	local rc=$? p v
	trap - EXIT INT TERM
	# Also any job started with a bare '&' instead of bg_start.
	mapfile -t -O "${#CLUSTER_PIDS[@]}" CLUSTER_PIDS < <(jobs -p)
	{
		for p in "${CLUSTER_PIDS[@]}"; do
			kill_tree "$p" KILL
		done
		for p in "${CLUSTER_PIDS[@]}"; do
			wait "$p"
		done
	} 2>/dev/null
	# Anything else still running in a view (a grandchild that was
	# re-parented) would keep the view busy.
	for v in "${CLUSTER_VIEWS[@]}"; do
		if ! view_unmount "$v"; then
			echo "# warning: cannot unmount '$v'" >&2
		fi
	done
	if [ -n "$T" ] && [ -d "$T" ]; then
		if [ "${COHORT_TEST_KEEP:-0}" = 1 ]; then
			echo "# kept $T" >&2
		else
			rm -rf --one-file-system "$T" 2>/dev/null
		fi
	fi
	if [ "$TAP_N" -gt 0 ]; then
		echo "1..$TAP_N"
	fi
	[ $rc -eq 0 ] && [ "$TAP_FAILED" -ne 0 ] && rc=1
	exit $rc
}

# cluster_setup K [EXTRA-BINDFS-OPTS]
cluster_setup() {
	local k=$1 extra=${2:-} i why=""
	if [ ! -c /dev/fuse ]; then
		why="/dev/fuse is missing"
	elif ! command -v bindfs >/dev/null 2>&1; then
		why="bindfs is not installed"
	elif ! command -v fusermount3 >/dev/null 2>&1 &&
		! command -v fusermount >/dev/null 2>&1; then
		why="fusermount3/fusermount is not installed"
	fi
	if [ -n "$why" ]; then
		echo "not ok 1 - cluster test needs FUSE and bindfs: $why" \
			"(install them with scripts/deps.sh)"
		exit 1
	fi
	T=$(mktemp -d "${TMPDIR:-/tmp}/cohort-cluster.XXXXXX") ||
		tap_bail "cluster setup: mktemp -d"
	trap cluster_cleanup EXIT
	trap 'tap_fail "interrupted (SIGINT)"; exit 130' INT
	trap 'tap_fail "interrupted (SIGTERM)"; exit 143' TERM
	SHARED=$T/shared
	ROOT_SHARED=$SHARED/$ROOT_NAME
	mkdir -p "$SHARED" "$T/state" "$T/work"
	CLUSTER_K=$k
	for i in $(seq 1 "$k"); do
		CLUSTER_VIEWS+=("$T/v$i")
		if ! view_mount "$i" "$extra"; then
			tap_bail "cluster setup: bindfs view v$i of '$SHARED'" \
				"extra bindfs options: '${extra}'"
		fi
		eval "V$i=\$T/v\$i"
	done
}

# ---- nodes -----------------------------------------------------------------

# node_bind ID N: node ID works through view vN.
node_bind() {
	NODE_VIEW[$1]=$2
}

# The view number of node ID: as bound, else the number itself, else a..z
# spread over the views in order.
node_viewno() {
	local id=$1 n
	if [ -n "${NODE_VIEW[$id]:-}" ]; then
		echo "${NODE_VIEW[$id]}"
	elif [[ "$id" =~ ^[0-9]+$ ]]; then
		echo $(((id - 1) % CLUSTER_K + 1))
	else
		n=$(printf '%d' "'${id:0:1}")
		echo $(((n - 97) % CLUSTER_K + 1))
	fi
}

# use_root NAME: later node_* calls work on the cluster root shared/NAME
# (default "root"), with state folders state/NAME/ID.
use_root() {
	ROOT_NAME=$1
	ROOT_SHARED=$SHARED/$1
}

node_view() { echo "$T/v$(node_viewno "$1")"; }
node_root() { echo "$T/v$(node_viewno "$1")/$ROOT_NAME"; }
node_state() { echo "$T/state/$ROOT_NAME/$1"; }

# node_cohort ID ARGS...: the cohort tool as node ID on its view.
node_cohort() {
	local id=$1
	shift
	"$COHORT" --root "$(node_root "$id")" --node "$id" \
		--state "$(node_state "$id")" "$@"
}

# node_lockcounter ID ARGS...: the lock helper as node ID on its view.
node_lockcounter() {
	local id=$1
	shift
	"$LOCKCOUNTER" --root "$(node_root "$id")" --node "$id" \
		--state "$(node_state "$id")" "$@"
}

# write_conf TEXT: ROOT/cohort.conf, written through the shared folder.
write_conf() {
	mkdir -p "$ROOT_SHARED"
	printf '%b' "$1" >"$ROOT_SHARED/cohort.conf.tmp" &&
		mv -f "$ROOT_SHARED/cohort.conf.tmp" "$ROOT_SHARED/cohort.conf"
}

# tool_copy: run a private copy of the tool ($T/bin/cohort), so that a
# rebuild of the tree while the test runs does not swap the program under it.
tool_copy() {
	mkdir -p "$T/bin" && cp "$COHORT" "$T/bin/cohort" ||
		tap_bail "copy '$COHORT'"
	COHORT=$T/bin/cohort
}

# need_prog PATH DESC: "not ok" and exit when a built program is missing.
need_prog() {
	[ -x "$1" ] || tap_bail "$2 is built ('$1')" "run 'make' first (BUILD=$BUILD)"
}
