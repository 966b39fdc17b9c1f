#!/usr/bin/env bash
# tests/cluster/crash.sh - the crash and fault sweep over every commit path.
#
# For each commit path (append, install, uninstall, revision update,
# revision updates per batch (sync printing, sync --exec-batch), snapshot,
# janitor removal, fsck repair of torn bytes, fsck repair of a damaged
# committed record into a lost record) the sweep
#
#  1. builds a pristine cluster for the path (two nodes, a on view v1 and
#     b on view v2, some committed history) and saves it;
#  2. runs the path's command once as node a with COHORT_FAULT_COUNTS to
#     learn how many calls of each OS-layer operation it makes: each call
#     is a crash point;
#  3. for each operation, each call N and each fault that operation can
#     suffer (kill = SIGKILL before the call, EIO, ENOSPC, ESTALE, short =
#     a write or read that does half, lie = a rename or link that was done
#     but reported EIO), restores the pristine cluster, runs the command
#     with COHORT_FAULT=OP:N:FAULT and then checks the invariants:
#      - the command exited 0 (acknowledged), 1 (a clear "cohort: " error)
#        or was killed; never another status (an abort, a sanitizer
#        report, a crash);
#      - 'fsck' on node b is clean, or 'fsck --repair' fixes it (exit 0
#        or 1, never "problems left") and 'fsck' is clean afterwards;
#      - the path's own check: every commit of the pristine history is
#        present exactly once and intact; the faulted commit is present
#        exactly once if acknowledged, and if not, wholly present or
#        wholly absent (never half: e.g. one record of a two-record
#        commit, a package listed whose bytes do not verify, half a
#        snapshot, a revision file ahead of what the hook applied);
#      - nobody is wedged: node b commits on its own view, node a
#        restarts and redoes its command, both succeed within the lock
#        timeout, and 'fsck' is clean at the end.
#
# CRASH_SWEEP=bounded (the default, run by 'make test'): every fault an
# operation can suffer at every call of the operations that change files
# (kill, and EIO, ENOSPC, ESTALE, short, lie where they apply), a kill at
# every open and lock, nothing at reads and stats: a kill before a read leaves the same
# files as a kill before the next call that changes something, which the
# sweep makes.  CRASH_SWEEP=full ('make torture'): every applicable fault
# at every call of every operation, reads and stats included.
# CRASH_PATHS="append install ..." limits the paths.
# The last line before the plan is "# crash points: N runs: M".
#
# BUILD=build bash tests/cluster/crash.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/lib.sh
. "$HERE/lib.sh"

need_prog "$COHORT" "the cohort tool"
command -v jq >/dev/null 2>&1 ||
	tap_bail "jq is installed (the cluster tests read JSON output with it)"
command -v zip >/dev/null 2>&1 ||
	tap_bail "zip is installed (the crash sweep builds its packages with it)"

SWEEP=${CRASH_SWEEP:-bounded}
case "$SWEEP" in
bounded | full) ;;
*) tap_bail "CRASH_SWEEP is 'bounded' or 'full', not '$SWEEP'" ;;
esac
PATHS=${CRASH_PATHS:-append install uninstall revision batch batchhook snapshot janitor repair lost}

cluster_setup 2
tool_copy
node_bind a 1
node_bind b 2

# Under sanitizers a report must not pass for an expected "exit 1".
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=86"
unset COHORT_FAULT COHORT_FAULT_COUNTS

W=$T/work
PK=$W/pkgs
TPL=$T/tpl
# Files of a run that the restore puts back with the cluster (hook logs).
RUNF=$T/state/run
mkdir -p "$PK" "$TPL"

CONF='[cluster]
lock_timeout = 10s
lease_timeout = 3s
skew_margin = 1s
[journal]
segment_size = 4k
[janitor]
min_age = 0s
blob_grace = 0s
'

# mkjar FILE ID VERSION: an XWiki extension jar with unique content.
mkjar() {
	local file=$1 id=$2 ver=$3 d
	d=$W/src/$file
	rm -rf "$d"
	mkdir -p "$d/META-INF" "$d/lib"
	printf '<?xml version="1.0"?>\n<extension><id>%s</id><version>%s</version></extension>\n' \
		"$id" "$ver" >"$d/META-INF/extension.xed"
	printf 'Manifest-Version: 1.0\n' >"$d/META-INF/MANIFEST.MF"
	{
		echo "$file $id $ver"
		head -c 6000 /dev/urandom
	} >"$d/lib/payload.bin"
	(cd "$d" && zip -qrX "$PK/$file" META-INF lib) || tap_bail "zip '$file'"
}
mkjar p1.jar p1 1.0
mkjar p2.jar p2 1.0
mkjar p3.jar p3 1.0
head -c 20000 /dev/urandom >"$W/snap1"
head -c 30000 /dev/urandom >"$W/snap2"
head -c 5000 /dev/urandom >"$W/snap3"

# ---- cluster save and restore -------------------------------------------

# The pristine cluster of a path: the shared root and every state folder
# (with the run files), copied through the server's folder.
save_tpl() {
	rm -rf "$TPL/$1"
	mkdir -p "$TPL/$1"
	cp -a "$SHARED/root" "$TPL/$1/root" &&
		cp -a "$T/state" "$TPL/$1/state" || tap_bail "save the '$1' cluster"
}
restore_tpl() {
	rm -rf "$SHARED/root" "$T/state"
	cp -a "$TPL/$1/root" "$SHARED/root" &&
		cp -a "$TPL/$1/state" "$T/state" || tap_bail "restore the '$1' cluster"
}
fresh_cluster() {
	rm -rf "$SHARED/root" "$T/state"
	mkdir -p "$RUNF"
	write_conf "$CONF"
	node_cohort a init >/dev/null && node_cohort a join >/dev/null &&
		node_cohort b join >/dev/null || tap_bail "init and join"
}

# ---- helpers of the checks ----------------------------------------------

# Failures of the current run, one line each; empty when all held.
PROBLEMS=()
bad() { PROBLEMS+=("$*"); }

# b_ok DESC ARGS...: node b runs cohort ARGS and must succeed.
b_ok() {
	local d=$1 out
	shift
	out=$(node_cohort b "$@" 2>&1) || bad "$d: node b 'cohort $*' failed: $out"
}
a_ok() {
	local d=$1 out
	shift
	out=$(node_cohort a "$@" 2>&1) || bad "$d: node a 'cohort $*' failed: $out"
}

# The journal's payloads in revision order, "REV DATA" per line, from b.
log_lines() {
	node_cohort b log --json | jq -r '"\(.rev) \(.data)"'
}

# Revisions contiguous from the oldest retained to the head.
check_contiguous() {
	local prev="" r
	while read -r r _; do
		if [ -n "$prev" ] && [ "$r" -ne $((prev + 1)) ]; then
			bad "journal: revision $r follows $prev"
			return
		fi
		prev=$r
	done <"$W/log"
}

# fsck on b: clean, or repaired to clean.  $1: when.
FSCK_REPAIRS=0
FSCK_GRACE=0
declare -A REPAIR_KINDS=()
check_fsck() {
	local out rc k
	out=$(node_cohort b fsck --json --grace "$FSCK_GRACE" 2>&1)
	rc=$?
	[ $rc -eq 0 ] && return 0
	if [ $rc -ne 4 ]; then
		bad "$1: fsck exit $rc: $out"
		return 1
	fi
	for k in $(jq -r 'select(.summary != true) | .kind' <<<"$out" 2>/dev/null); do
		REPAIR_KINDS[$k]=$((${REPAIR_KINDS[$k]:-0} + 1))
	done
	out=$(node_cohort b fsck --repair --grace "$FSCK_GRACE" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
		bad "$1: fsck --repair exit $rc: $out"
		return 1
	fi
	FSCK_REPAIRS=$((FSCK_REPAIRS + 1))
	out=$(node_cohort b fsck --grace "$FSCK_GRACE" 2>&1) ||
		bad "$1: fsck not clean after --repair: $out"
}

# The installed packages as "ID VERSION" lines, sorted, from b.
list_ids() {
	node_cohort b list | awk '{ print $2 " " $3 }' | sort
}

# cat_is ID FILE: b's 'cat ID' is exactly FILE.
cat_is() {
	node_cohort b cat "$1" >"$W/cat.out" 2>"$W/cat.err" &&
		cmp -s "$W/cat.out" "$2" ||
		bad "cat $1: not the bytes of $(basename "$2"): $(cat "$W/cat.err")"
}

# ---- the paths ------------------------------------------------------------
# Each path has setup_P (builds the pristine cluster), run_P (the faulted
# command, as node a, with stdin/out to files), check_P ACKED (the path's
# invariants after fsck) and after_P (b commits, a redoes its command,
# final checks).

# append: a two-record commit (--lines) after three single ones.
setup_append() {
	fresh_cluster
	node_cohort b append r1 >/dev/null && node_cohort b append r2 >/dev/null &&
		node_cohort a append r3 >/dev/null || tap_bail "append setup"
}
run_append() {
	printf 'x1\nx2\n' | node_cohort a append --lines
}
check_append() {
	local acked=$1 got want
	log_lines >"$W/log" || { bad "log fails"; return; }
	check_contiguous
	got=$(awk '{ print $2 }' "$W/log" | tr '\n' ' ')
	if [ "$acked" = 1 ]; then
		want="r1 r2 r3 x1 x2 "
		[ "$(tr '\n' ' ' <"$W/out")" = "4 5 " ] ||
			bad "append acknowledged revisions '$(cat "$W/out")', not 4 5"
	else
		want="r1 r2 r3 "
		[ "$got" = "r1 r2 r3 x1 x2 " ] && want=$got
	fi
	[ "$got" = "$want" ] || bad "journal holds '$got', want '$want'"
}
after_append() {
	b_ok "b commits after" append y
	a_ok "a restarts" append z
	log_lines >"$W/log" || { bad "log fails"; return; }
	check_contiguous
	[ "$(awk '{ print $2 }' "$W/log" | tail -n 2 | tr '\n' ' ')" = "y z " ] ||
		bad "the journal does not end with y z: $(tail -n 3 "$W/log" | tr '\n' ' ')"
}

# install: p2 after p1.
setup_install() {
	fresh_cluster
	node_cohort b install "$PK/p1.jar" >/dev/null || tap_bail "install setup"
}
run_install() {
	node_cohort a install "$PK/p2.jar"
}
check_install() {
	local acked=$1 got
	got=$(list_ids | tr '\n' ' ')
	case "$got" in
	"p1 1.0 p2 1.0 ") cat_is p2 "$PK/p2.jar" ;;
	"p1 1.0 ") [ "$acked" = 1 ] && bad "acknowledged install of p2 is not listed" ;;
	*) bad "installed: '$got'" ;;
	esac
	cat_is p1 "$PK/p1.jar"
}
after_install() {
	b_ok "b commits after" install "$PK/p3.jar"
	a_ok "a restarts" install "$PK/p2.jar"
	[ "$(list_ids | tr '\n' ' ')" = "p1 1.0 p2 1.0 p3 1.0 " ] ||
		bad "after: installed '$(list_ids | tr '\n' ' ')'"
	cat_is p2 "$PK/p2.jar"
	cat_is p3 "$PK/p3.jar"
}

# uninstall: p2 of p1, p2.
setup_uninstall() {
	fresh_cluster
	node_cohort b install "$PK/p1.jar" >/dev/null &&
		node_cohort b install "$PK/p2.jar" >/dev/null || tap_bail "uninstall setup"
}
run_uninstall() {
	node_cohort a uninstall p2
}
check_uninstall() {
	local acked=$1 got
	got=$(list_ids | tr '\n' ' ')
	case "$got" in
	"p1 1.0 ") ;;
	"p1 1.0 p2 1.0 ")
		[ "$acked" = 1 ] && bad "acknowledged uninstall of p2: still listed"
		cat_is p2 "$PK/p2.jar" ;;
	*) bad "installed: '$got'" ;;
	esac
	cat_is p1 "$PK/p1.jar"
}
after_uninstall() {
	b_ok "b commits after" install "$PK/p3.jar"
	if list_ids | grep -q '^p2 '; then
		a_ok "a restarts" uninstall p2
	fi
	[ "$(list_ids | tr '\n' ' ')" = "p1 1.0 p3 1.0 " ] ||
		bad "after: installed '$(list_ids | tr '\n' ' ')'"
}

# revision: a applies r4..r6 through a hook that logs "REV DATA".
HOOK='printf "%s %s\n" "$COHORT_REV" "$(cat)" >>"$RUNF_DIR/applied"'
export RUNF_DIR=$RUNF
setup_revision() {
	fresh_cluster
	node_cohort b append r1 >/dev/null && node_cohort b append r2 >/dev/null &&
		node_cohort b append r3 >/dev/null &&
		node_cohort a sync --exec "$HOOK" >/dev/null &&
		node_cohort b append r4 >/dev/null && node_cohort b append r5 >/dev/null &&
		node_cohort b append r6 >/dev/null || tap_bail "revision setup"
	: >"$RUNF/applied"
}
rev_of() { # NODE: its revision in 'status --json'
	node_cohort b status --json |
		jq -r --arg n "$1" '.nodes[] | select(.id == $n) | .revision'
}
# The hook log: revisions in order from 4, each line "REV rREV", a
# revision repeated only right after itself (the record in flight when the
# run died is applied again), ending at LAST.  $1: LAST (or "" for any).
check_applied() {
	local last=$1 prev=3 r d
	while read -r r d; do
		[ "$d" = "r$r" ] || bad "hook applied revision $r as '$d'"
		if [ "$r" -ne $((prev + 1)) ] && [ "$r" -ne "$prev" ]; then
			bad "hook applied $r after $prev: $(tr '\n' ' ' <"$RUNF/applied")"
			return
		fi
		prev=$r
	done <"$RUNF/applied"
	APPLIED_LAST=$prev
	[ -z "$last" ] || [ "$prev" -eq "$last" ] ||
		bad "hook applied up to $prev, want $last"
}
run_revision() {
	node_cohort a sync --exec "$HOOK"
}
check_revision() {
	check_apply_run "$1" check_applied 6 3 1
}
# check_apply_run ACKED CHECK LAST COUNT BEHIND: after a sync that should
# apply COUNT records up to LAST, with CHECK reading the log (it sets
# APPLIED_LAST): acknowledged, all of them once and the revision at LAST;
# else the revision never past what was applied and at most BEHIND short.
check_apply_run() {
	local acked=$1 check=$2 last=$3 count=$4 behind=$5 rev
	rev=$(rev_of a)
	if [ "$acked" = 1 ]; then
		"$check" "$last"
		[ "$rev" = "$last" ] || bad "acknowledged sync left a at revision '$rev'"
		[ "$(wc -l <"$RUNF/applied")" -eq "$count" ] ||
			bad "acknowledged sync applied: $(tr '\n' ' ' <"$RUNF/applied")"
	else
		"$check" ""
		if ! [[ "$rev" =~ ^[0-9]+$ ]] || [ "$rev" -gt "$APPLIED_LAST" ] ||
			[ "$rev" -lt $((APPLIED_LAST - behind)) ]; then
			bad "a's revision '$rev' with records applied up to $APPLIED_LAST"
		fi
	fi
}
after_revision() {
	b_ok "b commits after" append r7
	a_ok "a restarts" sync --exec "$HOOK"
	check_applied 7
	[ "$(rev_of a)" = 7 ] || bad "after: a at revision '$(rev_of a)', not 7"
}

# batch, batchhook: a applies r4..r8 in batches of two (revision writes at
# 5, 7 and 8): 'sync --batch 2' printing them, and 'sync --exec-batch' with
# a hook that logs the batch's records.  "REV DATA" lines go to the log in
# the order they were printed or applied.  A kill or a fault anywhere may
# replay the batch in flight (at most 2 records), never skip a record, and
# the revision is never past what was printed or applied.
BATCH_HOOK='sed -E "s/^[{]\"rev\":([0-9]+),.*\"data\":\"([^\"]*)\"[}]\$/\\1 \\2/" >>"$RUNF_DIR/applied"'
setup_batch() {
	fresh_cluster
	node_cohort b append r1 >/dev/null && node_cohort b append r2 >/dev/null &&
		node_cohort b append r3 >/dev/null &&
		node_cohort a sync >/dev/null || tap_bail "batch setup"
	for r in 4 5 6 7 8; do
		node_cohort b append "r$r" >/dev/null || tap_bail "batch setup"
	done
	: >"$RUNF/applied"
}
setup_batchhook() { setup_batch; }
run_batch() {
	node_cohort a sync --batch 2 | awk '{ print $1, $5 }' >>"$RUNF/applied"
	return "${PIPESTATUS[0]}"
}
run_batchhook() {
	node_cohort a sync --batch 2 --exec-batch "$BATCH_HOOK"
}
# The log: every revision from 4 on, in order; a step back (a replay)
# goes back at most 2 (one batch) and only to a record already applied;
# it ends at LAST ($1, or "" for any).  Sets APPLIED_LAST (the highest).
check_batch_log() {
	local last=$1 max=3 r d
	while read -r r d; do
		[ "$d" = "r$r" ] || bad "revision $r applied as '$d'"
		if [ "$r" -gt $((max + 1)) ]; then
			bad "skipped: $r after $max: $(tr '\n' ' ' <"$RUNF/applied")"
			return
		fi
		if [ "$r" -le "$max" ] && [ $((max - r)) -ge 2 ]; then
			bad "replayed more than a batch: $r after $max: $(tr '\n' ' ' <"$RUNF/applied")"
			return
		fi
		[ "$r" -gt "$max" ] && max=$r
	done <"$RUNF/applied"
	APPLIED_LAST=$max
	[ -z "$last" ] || [ "$max" -eq "$last" ] ||
		bad "applied up to $max, want $last"
}
check_batch() {
	check_apply_run "$1" check_batch_log 8 5 2
}
check_batchhook() { check_batch "$@"; }
after_batch() {
	b_ok "b commits after" append r9
	run_batch >/dev/null 2>&1 || bad "after: a's 'sync --batch 2' failed"
	check_batch_log 9
	[ "$(rev_of a)" = 9 ] || bad "after: a at revision '$(rev_of a)', not 9"
}
after_batchhook() {
	b_ok "b commits after" append r9
	a_ok "a restarts" sync --batch 2 --exec-batch "$BATCH_HOOK"
	check_batch_log 9
	[ "$(rev_of a)" = 9 ] || bad "after: a at revision '$(rev_of a)', not 9"
}

# snapshot: a publishes snap2 over snap1.
setup_snapshot() {
	fresh_cluster
	node_cohort b append r1 >/dev/null && node_cohort a sync >/dev/null &&
		node_cohort a snapshot put "$W/snap1" >/dev/null &&
		node_cohort b append r2 >/dev/null && node_cohort a sync >/dev/null ||
		tap_bail "snapshot setup"
}
run_snapshot() {
	node_cohort a snapshot put "$W/snap2"
}
snap_is() { # FILE...: b's 'snapshot get' is one of them (sets SNAP_WHICH)
	local f
	SNAP_WHICH=""
	node_cohort b snapshot get >"$W/snap.out" 2>"$W/snap.err" ||
		{ bad "snapshot get: $(cat "$W/snap.err")"; return; }
	for f in "$@"; do
		cmp -s "$W/snap.out" "$W/$f" && { SNAP_WHICH=$f; return; }
	done
	bad "snapshot get returns $(wc -c <"$W/snap.out") bytes that are none of $*"
}
check_snapshot() {
	snap_is snap1 snap2
	[ "$1" = 1 ] && [ -n "$SNAP_WHICH" ] && [ "$SNAP_WHICH" != snap2 ] &&
		bad "acknowledged snapshot put: get returns $SNAP_WHICH"
}
after_snapshot() {
	b_ok "b syncs" sync
	b_ok "b commits after" snapshot put "$W/snap3"
	snap_is snap3
	a_ok "a restarts" snapshot put "$W/snap2"
	snap_is snap2
}

# janitor: 60 records of 200 bytes over 4k segments, a and b at the head, a
# third node c registered at revision 40: only what c applied may go; p1
# installed and uninstalled leaves a blob nothing references.
jrec() { printf 'j%03d-%0196d' "$1" 0; }
setup_janitor() {
	local i
	# fsck leaves the fresh unreferenced blob alone: it is the janitor's
	# (blob_grace 0s) to remove.
	FSCK_GRACE=10m
	fresh_cluster
	node_cohort c join >/dev/null || tap_bail "join c"
	for i in $(seq 1 60); do
		node_cohort b append "$(jrec "$i")" >/dev/null ||
			tap_bail "janitor setup"
		[ "$i" -ne 40 ] || node_cohort c sync >/dev/null ||
			tap_bail "janitor setup: c syncs"
	done
	node_cohort b install "$PK/p1.jar" >/dev/null &&
		node_cohort b uninstall p1 >/dev/null &&
		node_cohort a sync >/dev/null && node_cohort b sync >/dev/null ||
		tap_bail "janitor setup"
	[ "$(find "$SHARED/root/journal" -name 'seg-*' | wc -l)" -ge 3 ] ||
		tap_bail "janitor setup: the journal has several segments"
	node_cohort b janitor --dry-run >"$W/dry" 2>&1 || tap_bail "janitor --dry-run"
	grep -q seg- "$W/dry" ||
		tap_bail "janitor setup: the janitor has segments to remove" "$(cat "$W/dry")"
}
run_janitor() {
	node_cohort a janitor
}
check_janitor() {
	local first r want
	log_lines >"$W/log" || { bad "log fails"; return; }
	check_contiguous
	first=$(head -n 1 "$W/log" | cut -d' ' -f1)
	[ -n "$first" ] && [ "$first" -le 41 ] ||
		bad "the oldest retained revision is '$first': c (at 40) has not applied it"
	# Each retained j-record intact.
	while read -r r d; do
		[ "$r" -le 60 ] || continue
		want=$(jrec "$r")
		[ "$d" = "$want" ] || { bad "revision $r holds '${d:0:20}...'"; break; }
	done <"$W/log"
	[ "$(tail -n 1 "$W/log" | cut -d' ' -f1)" = 62 ] ||
		bad "the head moved: $(tail -n 1 "$W/log" | cut -c1-20)"
}
after_janitor() {
	b_ok "b commits after" append y
	a_ok "a restarts" janitor
	node_cohort c sync >/dev/null 2>"$W/c.err" || bad "c cannot catch up: $(cat "$W/c.err")"
	log_lines >"$W/log" || { bad "log fails"; return; }
	check_contiguous
	[ "$(tail -n 1 "$W/log")" = "63 y" ] || bad "after: the journal ends '$(tail -n 1 "$W/log" | cut -c1-30)'"
	find "$SHARED/root/store/blobs" -type f 2>/dev/null | grep -q . &&
		bad "after: unreferenced blobs left: $(find "$SHARED/root/store/blobs" -type f | head -n 3)"
}

# repair: a dead writer's torn bytes past the head and a stale temporary
# file; 'fsck --repair' by a.
setup_repair() {
	local seg rc
	fresh_cluster
	node_cohort b append r1 >/dev/null && node_cohort b append r2 >/dev/null &&
		node_cohort b append r3 >/dev/null || tap_bail "repair setup"
	seg=$(ls "$SHARED/root/journal"/* | grep -v head | sort | tail -n 1)
	head -c 300 /dev/urandom >>"$seg"
	echo half >"$SHARED/root/journal/.head.tmp.x.1.abc"
	node_cohort b fsck --grace 0 >"$W/fsck.setup" 2>&1
	rc=$?
	[ $rc -eq 4 ] || tap_bail "repair setup: fsck finds the damage" \
		"exit $rc" "$(cat "$W/fsck.setup")" "$(ls -la "$SHARED/root/journal")"
}
run_repair() {
	node_cohort a fsck --repair --grace 0
}
check_repair() {
	log_lines >"$W/log" || { bad "log fails"; return; }
	[ "$(awk '{ print $2 }' "$W/log" | tr '\n' ' ')" = "r1 r2 r3 " ] ||
		bad "journal holds '$(tr '\n' ' ' <"$W/log")'"
	# The cut bytes are kept, not deleted.
	if [ -d "$SHARED/root/lost+found" ]; then
		[ -n "$(find "$SHARED/root/lost+found" -type f -name MANIFEST)" ] ||
			bad "lost+found without a MANIFEST"
	fi
}
after_repair() {
	b_ok "b commits after" append y
	a_ok "a restarts" fsck --repair --grace 0
	a_ok "a commits" append z
	log_lines >"$W/log" || { bad "log fails"; return; }
	[ "$(awk '{ print $2 }' "$W/log" | tr '\n' ' ')" = "r1 r2 r3 y z " ] ||
		bad "after: journal holds '$(tr '\n' ' ' <"$W/log")'"
}

# lost: a committed record damaged in place (one bit of its payload); 'fsck
# --repair' by a replaces it by a lost record (the head segment is sealed
# first, the segment written again, the damaged bytes kept in lost+found).
# A crash anywhere in it leaves a root that the next repair completes.
lrec() { printf 'l%d-payload-%040d' "$1" "$1"; }
setup_lost() {
	local seg off rc k
	fresh_cluster
	for k in 1 2 3 4 5 6; do
		node_cohort b append "$(lrec "$k")" >/dev/null || tap_bail "lost setup"
	done
	seg=$(ls "$SHARED/root/journal"/seg-* | sort | tail -n 1)
	off=$(grep -obUa "$(lrec 3)" "$seg" | head -n 1 | cut -d: -f1)
	[ -n "$off" ] || tap_bail "lost setup: record 3 not found in $seg"
	printf 'X' | dd of="$seg" bs=1 seek=$((off + 5)) conv=notrunc 2>/dev/null
	node_cohort b fsck --grace 0 >"$W/fsck.setup" 2>&1
	rc=$?
	[ $rc -eq 4 ] || tap_bail "lost setup: fsck finds the damage" \
		"exit $rc" "$(cat "$W/fsck.setup")"
}
run_lost() {
	node_cohort a fsck --repair --grace 0
}
# Whatever the fault, after check_fsck's own repair: 1-6 readable, 3 a
# lost record naming itself, the others intact.
check_lost() {
	local want k
	log_lines >"$W/log" || { bad "log fails: $(node_cohort b log 2>&1 | tail -n 1)"; return; }
	want=""
	for k in 1 2 3 4 5 6; do
		if [ "$k" = 3 ]; then
			want="$want$k {\"lost\":[3,3],"
		else
			want="$want$k $(lrec "$k")"
		fi
		want="$want|"
	done
	[ "$(head -n 6 "$W/log" | sed 's/\("repaired"\).*//' | tr '\n' '|')" = "$want" ] ||
		bad "journal holds '$(head -n 6 "$W/log" | cut -c1-40 | tr '\n' '|')'"
	grep -rqa "$(lrec 3 | cut -c1-5)" "$SHARED/root/lost+found" 2>/dev/null ||
		bad "the damaged bytes are not in lost+found"
}
after_lost() {
	b_ok "b commits after" append y
	a_ok "a restarts" fsck --repair --grace 0
	a_ok "a commits" append z
	log_lines >"$W/log" || { bad "log fails"; return; }
	check_contiguous
	[ "$(tail -n 2 "$W/log" | awk '{ print $2 }' | tr '\n' ' ')" = "y z " ] ||
		bad "after: the journal ends '$(tail -n 2 "$W/log" | tr '\n' ' ')'"
}

# ---- the sweep ------------------------------------------------------------

# The faults an operation can suffer.  A kill before a read or a stat
# leaves the same files as a kill before the next call that changes
# something, so the bounded sweep faults reads and stats not at all and
# opens, locks and the like (which may create a file or take a lock) with
# a kill only; the full sweep does everything.
faults_of() {
	local op=$1 all=$2
	case "$op" in
	write) echo "kill EIO ENOSPC ESTALE short" ;;
	fsync | truncate | close) echo "kill EIO ENOSPC ESTALE" ;;
	rename | link) echo "kill EIO ENOSPC ESTALE lie" ;;
	unlink | mkdir | rmdir) echo "kill EIO ESTALE" ;;
	read) [ "$all" = 1 ] && echo "kill EIO ESTALE short" ;;
	stat) [ "$all" = 1 ] && echo "kill EIO ESTALE" ;;
	*) [ "$all" = 1 ] && echo "kill EIO ESTALE" || echo "kill" ;;
	esac
}

POINTS=0
RUNS=0
TOTAL_POINTS=0
TOTAL_RUNS=0
TOTAL_REPAIRS=0

# sweep PATH
sweep() {
	local p=$1 op n count what rc acked spec failed=0 all=0 first="" k kinds=""
	local -A counts=()
	[ "$SWEEP" = full ] && all=1
	FSCK_GRACE=0
	"setup_$p"
	save_tpl "$p"
	# The counting run, which must succeed and pass the checks.
	COHORT_FAULT_COUNTS=$W/counts "run_$p" >"$W/out" 2>"$W/err" </dev/null
	rc=$?
	[ $rc -eq 0 ] || { [ $rc -eq 1 ] && { [ "$p" = repair ] || [ "$p" = lost ]; }; } ||
		tap_bail "$p: the command without faults (exit $rc)" "$(cat "$W/err")"
	PROBLEMS=()
	check_fsck "$p clean run"
	"check_$p" 1
	"after_$p"
	if [ ${#PROBLEMS[@]} -ne 0 ]; then
		tap_fail "$p: the command without faults passes the checks" "${PROBLEMS[@]}"
		return
	fi
	while read -r op count; do
		counts[$op]=$count
	done <"$W/counts"
	POINTS=0
	RUNS=0
	FSCK_REPAIRS=0
	REPAIR_KINDS=()
	for op in "${!counts[@]}"; do
		count=${counts[$op]}
		[ "$count" -gt 0 ] || continue
		POINTS=$((POINTS + count))
		for n in $(seq 1 "$count"); do
			for what in $(faults_of "$op" "$all"); do
				spec=$op:$n:$what
				restore_tpl "$p"
				COHORT_FAULT=$spec "run_$p" >"$W/out" 2>"$W/err" </dev/null
				rc=$?
				RUNS=$((RUNS + 1))
				PROBLEMS=()
				acked=0
				# fsck --repair acknowledges with 0 or 1 and fails
				# with 4 (left) or 8 (could not finish, 'cohort: ').
				if [ "$p" = repair ] || [ "$p" = lost ]; then
					case $rc in
					0 | 1) rc=0 ;;
					4) rc=1 && echo "cohort: (fsck: problems left)" >>"$W/err" ;;
					8) rc=1 ;;
					esac
				fi
				case $rc in
				0) acked=1 ;;
				1) grep -q '^cohort: ' "$W/err" ||
					bad "exit 1 without a 'cohort: ' line: $(head -c 300 "$W/err")" ;;
				137) [ "$what" = kill ] ||
					bad "killed without a kill fault" ;;
				*) bad "exit $rc: $(head -c 600 "$W/err")" ;;
				esac
				check_fsck "after the fault"
				"check_$p" "$acked"
				"after_$p"
				check_fsck "at the end"
				if [ ${#PROBLEMS[@]} -ne 0 ]; then
					failed=$((failed + 1))
					[ -n "$first" ] ||
						first=$(printf '%s\n' "COHORT_FAULT=$spec (exit $rc)" "${PROBLEMS[@]}")
				fi
			done
		done
	done
	TOTAL_POINTS=$((TOTAL_POINTS + POINTS))
	TOTAL_RUNS=$((TOTAL_RUNS + RUNS))
	TOTAL_REPAIRS=$((TOTAL_REPAIRS + FSCK_REPAIRS))
	for k in "${!REPAIR_KINDS[@]}"; do
		kinds="$kinds $k=${REPAIR_KINDS[$k]}"
	done
	note "$p: what fsck --repair fixed after the faults:${kinds:- nothing}"
	if [ "$failed" -eq 0 ]; then
		tap_ok "$p: $POINTS crash points, $RUNS faulted runs ($SWEEP), every invariant held ($FSCK_REPAIRS needed fsck --repair)"
	else
		tap_fail "$p: $failed of $RUNS faulted runs broke an invariant ($POINTS crash points)" \
			"$first"
	fi
}

for p in $PATHS; do
	declare -F "run_$p" >/dev/null || tap_bail "CRASH_PATHS: no path '$p'"
	sweep "$p"
done
note "crash points: $TOTAL_POINTS runs: $TOTAL_RUNS fsck-repairs: $TOTAL_REPAIRS sweep: $SWEEP"
