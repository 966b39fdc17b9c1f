#!/usr/bin/env bash
# tests/cluster/fsck.sh - 'cohort fsck' on roots written by the real code
# through bindfs views, each part on its own root.
#
# For every kind of damage (injected by the real code crashing, or by hand
# into what the real code wrote): a check-only 'fsck' exits 4 and names it
# (kind and path in --json), and changes nothing on the root (every file's
# path, size, mtime and content are the same after); 'fsck --repair' exits 1
# when it could repair everything (4 when not), lost+found/<time>/ holds
# what was moved or cut with a MANIFEST line for each; a second 'fsck' exits
# 0; every committed record that 'log --json' showed before is still there,
# in order, after.
#
#  1. A fresh root (three nodes on three views, appends, installs): exit 0
#     from every view, with and without --read-data; '.nfsXXXX' files
#     (empty, old) are never reported; --json is JSON Lines with a final
#     summary; without a terminal no progress bar is drawn, with one
#     (script(1)) it is, on stderr only; a missing root exits 8.
#  2. Appends killed inside (COHORT_FAULT=fsync:1:kill: the data is durable,
#     the head not published): unpublished commit + the dead appender's
#     lease; repair publishes the commit and breaks the lease through the
#     lock protocol.  Junk bytes past the head: an uncommitted tail, cut.
#  3. A committed record with a flipped byte: exit 4 naming its revision,
#     file and offset; --repair replaces it by a lost record (exit 1, the
#     damaged bytes in lost+found), then exit 0, every other record intact.
#  4. A sealed segment (segment_size 4096) with bytes past its last record:
#     cut, and 'log' reads again.
#  5. A 'run-once' job SIGKILLed while it runs: its stale lease is found and
#     broken by repair; the job runs again.  A 'join' killed in the middle
#     (rename:1:kill) leaves a temporary file: not reported while young,
#     reported with --grace 0s and once it is old; repair moves it; the node
#     joins again.  A zero-length file and a damaged heartbeat.
#  6. The store: a damaged index snapshot (rebuilt; 'list' is what it was),
#     a damaged blob (only --read-data sees it; exit 4 naming the package,
#     moved aside by repair, still 4; installing the package again: 0), a
#     missing blob (exit 4 naming the package), an unreferenced old blob
#     (moved), an 'install' killed mid-way (its temporary file).
#  7. A damaged cohort.id: exit 4, kind 'identity'.
#  8. Check-only fsck (two at a time) while two views append, one installs
#     and uninstalls, three sync and a janitor trims the journal and
#     collects blobs, without pause: always exit 0 (nothing in flight is
#     taken for damage).
#  9. A root fresh from a torture run (appenders on three views SIGKILLed at
#     random and by COHORT_FAULT kills): fsck is clean or --repair makes it
#     clean (exit 0 or 1, then 0), and no committed record was lost: every
#     record logged before and every acknowledged append is there after.
#
# BUILD=build bash tests/cluster/fsck.sh
# FSCK_TORTURE_S (default 8): seconds of killed appends in 9.
# FSCK_BUSY_S (default 20): seconds of check-only runs in 8.
# FSCK_PARTS="busy_test ...": run only those parts.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

need_prog "$COHORT" "the cohort tool"
SNAPSHOTTER=${SNAPSHOTTER:-$BUILD/tests/helpers/snapshotter}
need_prog "$SNAPSHOTTER" "the snapshotter test helper"
command -v jq >/dev/null 2>&1 ||
	tap_bail "jq is installed (the cluster tests read JSON output with it)"
command -v zip >/dev/null 2>&1 ||
	tap_bail "zip is installed (the fsck test builds its packages with it)"
cluster_setup 3
tool_copy
node_bind a 1
node_bind b 2
node_bind c 3
W=$T/work
PK=$W/pk
mkdir -p "$PK"
TORTURE_S=${FSCK_TORTURE_S:-8}
BUSY_MS=$((${FSCK_BUSY_S:-20} * 1000))

# ---- helpers -----------------------------------------------------------------

# new_root NAME CONF: root NAME (cohort.conf CONF), nodes a, b, c joined.
new_root() {
	local n
	use_root "$1"
	[ -n "$2" ] && write_conf "$2"
	node_cohort a init >/dev/null || tap_bail "init root $1"
	for n in a b c; do
		node_cohort "$n" join >/dev/null 2>"$W/join.err" ||
			tap_bail "join $n on root $1" "$(cat "$W/join.err")"
	done
}

# fsck_as ID OUT ARGS...: run fsck as node ID; stdout in OUT, stderr in
# OUT.err; FSCK_RC gets the exit status.
fsck_as() {
	local id=$1 out=$2
	shift 2
	node_cohort "$id" fsck "$@" >"$out" 2>"$out.err"
	FSCK_RC=$?
}

# Every file under the shared root with its size, mtime and content hash.
tree_sum() {
	(cd "$ROOT_SHARED" && find . -type f -printf '%p %s %T@\n' | sort |
		while read -r p s m; do
			echo "$p $s $m $(md5sum <"$p" | cut -c1-32)"
		done)
}

log_json() {
	node_cohort "$1" log --json 2>&1
}

# kinds FILE: the "KIND PATH REPAIRED" lines of a --json output.
kinds() {
	jq -r 'select(.kind) | "\(.kind) \(.path) \(.repaired)"' "$1" 2>/dev/null
}

# has_kind FILE KIND [PATH]: a problem of that kind (and path) is listed.
has_kind() {
	[ -n "$(jq -c --arg k "$2" --arg p "${3:-}" \
		'select(.kind == $k and ($p == "" or .path == $p))' "$1" 2>/dev/null)" ]
}

# any FILE FILTER: some JSON line of FILE passes FILTER (a select).
any() {
	[ -n "$(jq -c "$2" "$1" 2>/dev/null)" ]
}

# roundtrip NAME ID KIND [PATH]: the standard flow on the current root:
# check (exit 4, KIND listed, root unchanged), repair as ID (exit 1, KIND
# repaired, lost+found MANIFEST), check again (exit 0), records kept (those
# of 'log --json' now, or in $W/NAME/log.before when the caller took them).
roundtrip() {
	local name=$1 id=$2 kind=$3 path=${4:-} d=$W/$1 lf
	mkdir -p "$d"
	# (taken before the damage when the damage breaks 'log' itself)
	[ -s "$d/log.before" ] || log_json "$id" >"$d/log.before"
	tree_sum >"$d/tree.before"
	fsck_as c "$d/check" --json
	tree_sum >"$d/tree.after"
	if [ "$FSCK_RC" -eq 4 ] && has_kind "$d/check" "$kind" "$path" &&
		cmp -s "$d/tree.before" "$d/tree.after"; then
		tap_ok "$name: fsck exits 4 naming $kind${path:+ $path}, and changes nothing"
	else
		tap_fail "$name: fsck exits 4 naming $kind${path:+ $path}, and changes nothing" \
			"exit $FSCK_RC" "$(cat "$d/check" "$d/check.err")" \
			"$(diff "$d/tree.before" "$d/tree.after" | head -n 6)"
	fi
	fsck_as "$id" "$d/repair" --repair --json
	lf=$(jq -r 'select(.summary) | .lost_found // ""' "$d/repair")
	if [ "$FSCK_RC" -eq 1 ] &&
		[ "$(jq -r --arg k "$kind" 'select(.kind == $k) | .repaired' "$d/repair" |
			sort -u)" = true ] &&
		[ -n "$lf" ] && [ -s "$ROOT_SHARED/$lf/MANIFEST" ]; then
		tap_ok "$name: fsck --repair exits 1, $kind repaired, lost+found has a MANIFEST"
	else
		tap_fail "$name: fsck --repair exits 1, $kind repaired, lost+found has a MANIFEST" \
			"exit $FSCK_RC, lost+found '$lf'" "$(cat "$d/repair" "$d/repair.err")"
	fi
	fsck_as a "$d/again"
	log_json "$id" >"$d/log.after"
	if [ "$FSCK_RC" -eq 0 ] &&
		[ "$(head -n "$(wc -l <"$d/log.before")" "$d/log.after")" = \
			"$(cat "$d/log.before")" ]; then
		tap_ok "$name: a second fsck exits 0 and every committed record is still there"
	else
		tap_fail "$name: a second fsck exits 0 and every committed record is still there" \
			"exit $FSCK_RC" "$(cat "$d/again" "$d/again.err")" \
			"$(diff "$d/log.before" "$d/log.after" | head -n 6)"
	fi
}

# mkjar FILE ID VERSION: a jar with an extension.xed and unique content.
mkjar() {
	local file=$1 id=$2 ver=$3 d=$W/src/$1
	rm -rf "$d"
	mkdir -p "$d/META-INF" "$d/lib"
	printf '<?xml version="1.0" encoding="UTF-8"?>\n<extension><id>%s</id><version>%s</version></extension>\n' \
		"$id" "$ver" >"$d/META-INF/extension.xed"
	{
		echo "$file $id $ver"
		head -c 5000 /dev/urandom
	} >"$d/lib/payload.bin"
	(cd "$d" && zip -qrX "$PK/$file" META-INF lib) || tap_bail "zip '$file'"
}

list_lines() {
	node_cohort "$1" list --json | jq -r '"\(.id) \(.version) \(.hash)"' | sort
}

hash_of() { # ID PACKAGE-ID
	node_cohort "$1" list --json | jq -r --arg p "$2" 'select(.id == $p) | .hash'
}

blob_rel() { # HASH
	echo "store/blobs/${1:0:2}/${1:2:2}/$1"
}

head_seg() {
	find "$ROOT_SHARED/journal" -name 'seg-*' | sort | tail -n 1
}

# ---- 1. a fresh root -----------------------------------------------------------

fresh_test() {
	local d=$W/fresh id ok=1 why=""
	mkdir -p "$d"
	new_root fresh ""
	mkjar p1.jar org.ex.one 1.0
	mkjar p2.jar org.ex.two 2.0
	for id in a b c; do
		node_cohort "$id" append "from $id" >/dev/null || why="append $id"
	done
	node_cohort a install "$PK/p1.jar" >/dev/null || why="install p1"
	node_cohort b install "$PK/p2.jar" >/dev/null || why="install p2"
	node_cohort c uninstall org.ex.two >/dev/null || why="uninstall"
	printf 'a\nb\n' | node_cohort b append --lines >/dev/null || why="lines"
	# Leftovers of NFS silly renames: never reported, even empty and old.
	: >"$ROOT_SHARED/journal/.nfs00000000001234560000001"
	echo x >"$ROOT_SHARED/nodes/a/.nfs00000000001234560000002"
	touch -d '3 hours ago' "$ROOT_SHARED/journal/.nfs00000000001234560000001" \
		"$ROOT_SHARED/nodes/a/.nfs00000000001234560000002"
	[ -z "$why" ] || tap_bail "fresh root: $why"
	for id in a b c; do
		fsck_as "$id" "$d/out.$id"
		[ "$FSCK_RC" -eq 0 ] || { ok=0; why="$why; $id exit $FSCK_RC: $(cat "$d/out.$id")"; }
		grep -q 'result:  clean' "$d/out.$id" || { ok=0; why="$why; $id: no 'clean' line"; }
	done
	fsck_as b "$d/read" --read-data --json
	[ "$FSCK_RC" -eq 0 ] || { ok=0; why="$why; --read-data exit $FSCK_RC"; }
	if grep -q nfs "$d"/out.* "$d/read"; then
		ok=0
		why="$why; .nfs files mentioned"
	fi
	if [ $ok = 1 ]; then
		tap_ok "fresh root: fsck exits 0 on every view (and --read-data), .nfs files ignored"
	else
		tap_fail "fresh root: fsck exits 0 on every view (and --read-data), .nfs files ignored" \
			"$why" "$(cat "$d/read" "$d/read.err")"
	fi
	# JSON Lines: one summary object, last; counts that say what was checked.
	if jq -e . "$d/read" >/dev/null 2>&1 &&
		[ "$(jq -c 'select(.summary)' "$d/read" | wc -l)" -eq 1 ] &&
		tail -n 1 "$d/read" | jq -e '.summary and .exit == 0 and .clean and
			.records == 8 and .head == 8 and .nodes == 3 and
			.packages == 1 and .blobs == 2 and .blob_bytes_hashed > 0 and
			.problems == 0 and .read_data' >/dev/null; then
		tap_ok "fresh root: --json ends with one summary object (records, nodes, blobs)"
	else
		tap_fail "fresh root: --json ends with one summary object (records, nodes, blobs)" \
			"$(cat "$d/read")"
	fi
	# Progress only on a terminal, and only on stderr.
	fsck_as a "$d/plain"
	# script(1) runs it on a terminal: stderr goes there (and into the
	# typescript), stdout to a file.
	script -qec "$COHORT --root $(node_root a) --node a --state $(node_state a) fsck --read-data >$d/tty.out" \
		"$d/tty.err" </dev/null >/dev/null 2>&1
	if [ ! -s "$d/plain.err" ] && grep -q 'fsck: ' "$d/tty.err" &&
		! grep -q 'fsck: ' "$d/tty.out" && grep -q 'result:  clean' "$d/tty.out"; then
		tap_ok "fresh root: a progress bar on stderr only when stderr is a terminal"
	else
		tap_fail "fresh root: a progress bar on stderr only when stderr is a terminal" \
			"plain stderr: $(cat "$d/plain.err")" \
			"tty stderr: $(tr '\r' '\n' <"$d/tty.err" | head -n 3)" \
			"tty stdout: $(head -n 3 "$d/tty.out")"
	fi
	"$COHORT" --root "$T/no-such-root" fsck >"$d/none" 2>&1
	FSCK_RC=$?
	tap_is "a root that is not a cluster: fsck exits 8" "$FSCK_RC" 8
}

# ---- 2. appends killed inside; bytes past the head -----------------------------

journal_tail_test() {
	local d=$W/tail rc
	mkdir -p "$d"
	new_root tail ""
	node_cohort a append one >/dev/null && node_cohort b append two >/dev/null ||
		tap_bail "tail: appends"
	COHORT_FAULT=fsync:1:kill node_cohort b append "durable, unpublished" \
		>/dev/null 2>&1
	rc=$?
	[ "$rc" -eq 137 ] || tap_fail "tail: append killed at its data fsync (exit $rc)"
	fsck_as c "$d/pre" --json
	if has_kind "$d/pre" journal.unpublished-commit &&
		has_kind "$d/pre" lock.stale locks/journal.lease; then
		tap_ok "killed append: fsck names the unpublished commit and the dead appender's lease"
	else
		tap_fail "killed append: fsck names the unpublished commit and the dead appender's lease" \
			"$(cat "$d/pre")"
	fi
	roundtrip "killed append" a journal.unpublished-commit
	if log_json c | jq -r .data | grep -qx "durable, unpublished"; then
		tap_ok "killed append: repair published the durable commit"
	else
		tap_fail "killed append: repair published the durable commit" "$(log_json c)"
	fi
	printf 'CJRC torn bytes of a writer that died while writing' >>"$(head_seg)"
	roundtrip "torn tail" b journal.uncommitted-tail
	if node_cohort a append "appends go on" >/dev/null; then
		tap_ok "torn tail: appends go on after the repair"
	else
		tap_fail "torn tail: appends go on after the repair"
	fi
}

# ---- 3. a committed record damaged ---------------------------------------------

committed_damage_test() {
	local d=$W/committed seg off
	mkdir -p "$d"
	new_root committed ""
	for i in 1 2 3 4 5; do
		node_cohort a append "record $i" >/dev/null || tap_bail "committed: append"
	done
	seg=$(head_seg)
	# Record 3's payload: flip one byte of it.
	off=$(grep -obUa 'record 3' "$seg" | head -n 1 | cut -d: -f1)
	[ -n "$off" ] || tap_bail "committed: record 3 not found in $seg"
	printf 'X' | dd of="$seg" bs=1 seek="$off" conv=notrunc 2>/dev/null
	fsck_as c "$d/check" --json
	if [ "$FSCK_RC" -eq 4 ] &&
		any "$d/check" 'select(.kind == "journal.record") |
			select(.rev == 3 and (.path | test("^journal/seg-")) and
			.offset > 0 and (.detail | test("record 3")) and
			(.repaired | not))'; then
		tap_ok "flipped byte: exit 4, journal.record names revision 3, its file and offset"
	else
		tap_fail "flipped byte: exit 4, journal.record names revision 3, its file and offset" \
			"exit $FSCK_RC" "$(cat "$d/check" "$d/check.err")"
	fi
	fsck_as a "$d/repair" --repair
	# Repair: revision 3 becomes a lost record (the damaged bytes in
	# lost+found), every other record is what it was.
	if [ "$FSCK_RC" -eq 1 ] &&
		grep -q '^repaired .*journal.record.*replaced by lost records' "$d/repair" &&
		grep -rqa 'Xecord 3' "$ROOT_SHARED/lost+found"; then
		tap_ok "flipped byte: --repair replaces revision 3 by a lost record (exit 1, bytes in lost+found)"
	else
		tap_fail "flipped byte: --repair replaces revision 3 by a lost record (exit 1, bytes in lost+found)" \
			"exit $FSCK_RC" "$(cat "$d/repair" "$d/repair.err")"
	fi
	fsck_as b "$d/again"
	tap_is "flipped byte: a second fsck exits 0" "$FSCK_RC" 0
	log_json c >"$d/log.after"
	if [ "$(jq -r 'select(.rev == 3) | .type' "$d/log.after")" = cohort.lost ] &&
		[ "$(jq -r 'select(.rev != 3) | .data' "$d/log.after" | tr '\n' ,)" = \
			"record 1,record 2,record 4,record 5," ]; then
		tap_ok "flipped byte: revision 3 is a cohort.lost record, the others as they were"
	else
		tap_fail "flipped byte: revision 3 is a cohort.lost record, the others as they were" \
			"$(cat "$d/log.after")"
	fi
}

# ---- 4. a sealed segment that changed ------------------------------------------

sealed_test() {
	local d=$W/sealed i n
	mkdir -p "$d"
	new_root sealed '[journal]\nsegment_size = 4096\n'
	for i in $(seq 1 12); do
		seq -f "sealed-$i-%g padding padding padding" 1 10 |
			node_cohort a append --lines >/dev/null || tap_bail "sealed: append"
	done
	n=$(find "$ROOT_SHARED/journal" -name 'seg-*' | wc -l)
	[ "$n" -ge 3 ] || tap_bail "sealed: only $n segments"
	# Bytes past a sealed segment's end break readers: log before them.
	mkdir -p "$W/sealed segment"
	log_json a >"$W/sealed segment/log.before"
	printf 'bytes of a writer that lost its lease' \
		>>"$ROOT_SHARED/journal/seg-0000000000000001"
	roundtrip "sealed segment" b journal.sealed-tail journal/seg-0000000000000001
}

# ---- 5. locks, temporary files, empty files, heartbeats ------------------------

nodes_locks_test() {
	local d=$W/locks pid tmpf out
	mkdir -p "$d"
	new_root locks ""
	node_cohort a append x >/dev/null
	# A run-once job killed while it runs: its lease stays behind.
	# (exec: the test reaps the killed process itself; an orphan would
	# stay a zombie where pid 1 reaps nothing, and a zombie's pid exists)
	(exec "$COHORT" --root "$(node_root b)" --node b --state "$(node_state b)" \
		run-once nightly -- sleep 30) >/dev/null 2>&1 &
	pid=$!
	wait_for 10 test -e "$ROOT_SHARED/locks/job.nightly.lease" ||
		tap_fail "locks: run-once took its lease"
	kill_tree "$pid" KILL
	wait "$pid" 2>/dev/null
	roundtrip "dead run-once" a lock.stale locks/job.nightly.lease
	out=$(node_cohort c run-once nightly -- echo ran 2>&1)
	tap_is "dead run-once: the job runs again after the repair" "$out" "ran"

	# A join killed in the middle of writing its instance file.
	COHORT_FAULT=rename:1:kill node_cohort d join >/dev/null 2>&1
	tmpf=$(find "$ROOT_SHARED/nodes/d" -name '.*.tmp.*' | head -n 1)
	[ -n "$tmpf" ] || tap_bail "locks: the killed join left no temporary file"
	# Its lease of node.d is stale at once (its pid is gone): repair it
	# first, then look at the young temporary file.
	node_cohort a fsck --repair >/dev/null 2>&1
	fsck_as c "$d/young" --json
	fsck_as c "$d/grace0" --json --grace 0s
	if [ "$(jq -c 'select(.kind)' "$d/young" | wc -l)" -eq 0 ] &&
		[ "$(jq -r 'select(.summary) | .temp_files' "$d/young")" -ge 1 ] &&
		has_kind "$d/grace0" temp "${tmpf#"$ROOT_SHARED"/}"; then
		tap_ok "killed join: a young temporary file is counted, not reported; --grace 0s reports it"
	else
		tap_fail "killed join: a young temporary file is counted, not reported; --grace 0s reports it" \
			"$(cat "$d/young" "$d/grace0")"
	fi
	touch -d '2 hours ago' "$tmpf"
	roundtrip "stale temporary file" b temp "${tmpf#"$ROOT_SHARED"/}"
	if node_cohort d join >/dev/null 2>&1; then
		tap_ok "stale temporary file: the node joins after the repair"
	else
		tap_fail "stale temporary file: the node joins after the repair"
	fi

	# A zero-length file where content belongs; lock files stay empty.
	: >"$ROOT_SHARED/jobs/nightly"
	roundtrip "zero-length file" a zero-length jobs/nightly
	if ! has_kind "$W/zero-length file/check" zero-length locks/journal.lock; then
		tap_ok "zero-length file: empty lock files are not reported"
	else
		tap_fail "zero-length file: empty lock files are not reported"
	fi

	# A heartbeat that is garbage and has not changed for a long time.
	(exec "$COHORT" --root "$(node_root b)" --node b --state "$(node_state b)" \
		node --poll-ms 100) >/dev/null 2>&1 &
	pid=$!
	wait_for 10 test -s "$ROOT_SHARED/nodes/b/heartbeat"
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null
	# the node releases its claim on the way out
	wait_for 10 grep -q 'nonce released' "$ROOT_SHARED/nodes/b/instance"
	printf 'garbage' >"$ROOT_SHARED/nodes/b/heartbeat"
	touch -d '1 hour ago' "$ROOT_SHARED/nodes/b/heartbeat"
	roundtrip "damaged heartbeat" a node.heartbeat nodes/b/heartbeat
}

# ---- 6. the store --------------------------------------------------------------

store_test() {
	local d=$W/store h1 h2 rel lf
	mkdir -p "$d"
	new_root store ""
	mkjar s1.jar org.st.one 1.0
	mkjar s2.jar org.st.two 1.0
	mkjar s3.jar org.st.three 1.0
	node_cohort a install "$PK/s1.jar" >/dev/null &&
		node_cohort b install "$PK/s2.jar" >/dev/null ||
		tap_bail "store: install"
	node_cohort c append "not a store record" >/dev/null
	list_lines a >"$d/list.before"

	# The index snapshot damaged: rebuilt from the journal.
	printf 'X' | dd of="$ROOT_SHARED/store/index" bs=1 seek=30 conv=notrunc 2>/dev/null
	roundtrip "index snapshot" b store.index store/index
	list_lines c >"$d/list.after"
	if cmp -s "$d/list.before" "$d/list.after"; then
		tap_ok "index snapshot: 'list' after the repair is what it was"
	else
		tap_fail "index snapshot: 'list' after the repair is what it was" \
			"$(diff "$d/list.before" "$d/list.after")"
	fi

	# A blob damaged in place (same size): only --read-data sees it.
	h1=$(hash_of a org.st.one)
	rel=$(blob_rel "$h1")
	printf 'X' | dd of="$ROOT_SHARED/$rel" bs=1 seek=200 conv=notrunc 2>/dev/null
	fsck_as c "$d/blob.plain"
	fsck_as c "$d/blob.read" --read-data --json
	if [ "$(jq -r 'select(.summary) | .exit' "$d/blob.read")" = 4 ] &&
		[ "$FSCK_RC" -eq 4 ] &&
		any "$d/blob.read" "select(.kind == \"store.blob-damaged\" and
			.path == \"$rel\" and (.detail | test(\"org.st.one\")))"; then
		tap_ok "damaged blob: --read-data exits 4 naming the package that needs it"
	else
		tap_fail "damaged blob: --read-data exits 4 naming the package that needs it" \
			"exit $FSCK_RC" "$(cat "$d/blob.read" "$d/blob.read.err")"
	fi
	fsck_as a "$d/blob.repair" --repair --read-data --json
	lf=$(jq -r 'select(.summary) | .lost_found // ""' "$d/blob.repair")
	if [ "$FSCK_RC" -eq 4 ] && [ -n "$lf" ] && [ -f "$ROOT_SHARED/$lf/$rel" ] &&
		[ ! -e "$ROOT_SHARED/$rel" ] && grep -q "^$rel	" "$ROOT_SHARED/$lf/MANIFEST"; then
		tap_ok "damaged blob: repair sets it aside in lost+found and still exits 4 (content gone)"
	else
		tap_fail "damaged blob: repair sets it aside in lost+found and still exits 4 (content gone)" \
			"exit $FSCK_RC, lost+found '$lf'" "$(cat "$d/blob.repair")"
	fi
	node_cohort b install "$PK/s1.jar" >/dev/null
	fsck_as c "$d/blob.again" --read-data
	tap_is "damaged blob: after installing the package again, fsck --read-data exits 0" \
		"$FSCK_RC" 0

	# A blob gone.
	h2=$(hash_of a org.st.two)
	mv "$ROOT_SHARED/$(blob_rel "$h2")" "$d/gone"
	fsck_as b "$d/missing" --json
	if [ "$FSCK_RC" -eq 4 ] &&
		any "$d/missing" 'select(.kind == "store.blob-missing" and
			(.detail | test("org.st.two")))'; then
		tap_ok "missing blob: exit 4 naming the package that needs it"
	else
		tap_fail "missing blob: exit 4 naming the package that needs it" \
			"$(cat "$d/missing")"
	fi
	mv "$d/gone" "$ROOT_SHARED/$(blob_rel "$h2")"

	# A blob nothing references (content of another cluster), old.
	use_root store2
	node_cohort a init >/dev/null && node_cohort a join >/dev/null &&
		node_cohort a install "$PK/s3.jar" >/dev/null || tap_bail "store2"
	h1=$(hash_of a org.st.three)
	use_root store
	mkdir -p "$ROOT_SHARED/$(dirname "$(blob_rel "$h1")")"
	cp "$SHARED/store2/$(blob_rel "$h1")" "$ROOT_SHARED/$(blob_rel "$h1")"
	touch -d '3 hours ago' "$ROOT_SHARED/$(blob_rel "$h1")"
	roundtrip "unreferenced blob" a store.blob-unreferenced "$(blob_rel "$h1")"

	# An install killed while it copies the package into the store.
	COHORT_FAULT=write:1:kill node_cohort b install "$PK/s3.jar" >/dev/null 2>&1
	rel=$(cd "$ROOT_SHARED" && find store -name '.*.tmp.*' | head -n 1)
	if [ -n "$rel" ]; then
		touch -d '2 hours ago' "$ROOT_SHARED/$rel"
		roundtrip "killed install" c temp "$rel"
	else
		tap_fail "killed install: it left a temporary file in the store"
	fi
	list_lines a >"$d/list.end"
	if cmp -s "$d/list.before" "$d/list.end"; then
		tap_ok "store: what is installed never changed through the repairs"
	else
		tap_fail "store: what is installed never changed through the repairs" \
			"$(diff "$d/list.before" "$d/list.end")"
	fi
}

# ---- 7. identity ---------------------------------------------------------------

identity_test() {
	local d=$W/identity
	mkdir -p "$d"
	new_root identity ""
	printf 'cohort-format 1\ncluster not-a-uuid\n' >"$ROOT_SHARED/cohort.id"
	fsck_as a "$d/out" --json
	if [ "$FSCK_RC" -eq 4 ] && has_kind "$d/out" identity cohort.id; then
		tap_ok "damaged cohort.id: exit 4, kind identity"
	else
		tap_fail "damaged cohort.id: exit 4, kind identity" "exit $FSCK_RC" \
			"$(cat "$d/out" "$d/out.err")"
	fi
}

# ---- 8. check-only while the cluster works -------------------------------------

busy_test() {
	local d=$W/busy pids=() fpids id k bad=0 runs=0 t0 tail kinds
	mkdir -p "$d"
	new_root busy '[journal]\nsegment_size = 8192\n'
	for k in 1 2 3; do
		mkjar "busy$k.jar" "org.busy.p$k" 1.0
	done
	# Appenders on a and b, an installer that installs and uninstalls on
	# b, every node syncing, a janitor trimming what all have applied and
	# collecting blobs: the journal moves at both ends and the store's
	# index is rewritten while fsck looks.
	for id in a b; do
		(
			k=0
			while [ ! -e "$d/stop" ]; do
				k=$((k + 1))
				node_cohort "$id" append "busy $id $k padding padding" \
					>/dev/null 2>&1
			done
		) &
		pids+=($!)
	done
	(
		k=0
		while [ ! -e "$d/stop" ]; do
			k=$((k % 3 + 1))
			node_cohort b install "$PK/busy$k.jar" >/dev/null 2>&1
			node_cohort b uninstall "org.busy.p$(((k + 1) % 3 + 1))" \
				>/dev/null 2>&1
		done
	) &
	pids+=($!)
	for id in a b c; do
		(
			while [ ! -e "$d/stop" ]; do
				node_cohort "$id" sync >/dev/null 2>&1
			done
		) &
		pids+=($!)
	done
	(
		while [ ! -e "$d/stop" ]; do
			node_cohort c janitor >/dev/null 2>&1
			sleep 0.$((RANDOM % 3))
		done
	) &
	pids+=($!)
	# The janitor's snapshot of the store's index, rewritten without pause
	# through both fscks' views: a rename over store/index that a look
	# can meet half-way (on a FUSE view, ENOENT for that moment) happens
	# while nearly every fsck runs, not once in a while.
	for id in a c; do
		"$SNAPSHOTTER" --root "$(node_root "$id")" --node "$id" \
			--state "$(node_state "$id")" --until "$d/stop" \
			>"$d/snapshots.$id" 2>&1 &
		pids+=($!)
	done
	# Two check-only fscks at a time, from views a and c.
	t0=$(now_ms)
	while [ $(($(now_ms) - t0)) -lt "$BUSY_MS" ]; do
		fpids=()
		for id in a c; do
			(
				node_cohort "$id" fsck --json >"$d/run.$id" 2>&1
				echo $? >"$d/rc.$id"
			) &
			fpids+=($!)
		done
		wait "${fpids[@]}"
		for id in a c; do
			runs=$((runs + 1))
			if [ "$(cat "$d/rc.$id")" != 0 ]; then
				bad=$((bad + 1))
				cp "$d/run.$id" "$d/bad.$bad"
			fi
		done
	done
	touch "$d/stop"
	for k in "${pids[@]}"; do
		wait "$k"
	done
	for id in a c; do
		[ "$(head -c 1 "$d/snapshots.$id")" != 0 ] &&
			grep -qx '[0-9]*' "$d/snapshots.$id" ||
			tap_fail "snapshotter on view $id" "$(cat "$d/snapshots.$id")"
	done
	note "busy: $(cat "$d/snapshots.a") + $(cat "$d/snapshots.c") index snapshots rewritten"
	tail=$(node_cohort a status --json | jq -r .tail)
	kinds=$(cat "$d"/bad.* 2>/dev/null | jq -r 'select(.kind) | .kind' |
		sort | uniq -c | tr '\n' ' ')
	if [ "$bad" -eq 0 ] && [ "$runs" -ge 6 ] && [ "$tail" -gt 1 ]; then
		tap_ok "check-only fsck while views append, install, uninstall, sync and trim: $runs runs, all exit 0 (tail now $tail)"
	else
		tap_fail "check-only fsck while views append, install, uninstall, sync and trim: $runs runs, all exit 0, the janitor trimmed" \
			"$bad runs did not exit 0 (tail now $tail): $kinds" \
			"$(cat "$d"/bad.* 2>/dev/null | head -n 10)"
	fi
}

# ---- 9. a root fresh from a torture run ----------------------------------------

# appender ID P DIR: append as node ID, slot P, until DIR/stop exists, with
# a COHORT_FAULT kill now and then; "REV PAYLOAD" of each acknowledged
# append goes to DIR/ack.ID-P; the pid of the running append in DIR/pid.ID-P.
torture_appender() {
	local id=$1 p=$2 dir=$3 k=0 f pid
	local faults=("fsync:1:kill" "" "write:2:kill" "" "write:3:kill" ""
		"write:2:short,write:3:kill" "")
	while [ ! -e "$dir/stop" ]; do
		k=$((k + 1))
		f=${faults[$(((k * 7 + p) % ${#faults[@]}))]}
		# exec: the pid is the cohort process itself (for the killer)
		(
			export COHORT_FAULT=$f
			exec "$COHORT" --root "$(node_root "$id")" --node "$id" \
				--state "$(node_state "$id")" append "t-$id-$p-$k"
		) >"$dir/out.$id-$p" 2>/dev/null &
		pid=$!
		echo "$pid" >"$dir/pid.$id-$p"
		if wait "$pid" 2>/dev/null; then
			echo "$(cat "$dir/out.$id-$p") t-$id-$p-$k" >>"$dir/ack.$id-$p"
		fi
		rm -f "$dir/pid.$id-$p"
	done
}

# torture_killer DIR TAGS...: SIGKILL a running append every 100-300 ms,
# by its pid (only one of ours: its command line names our views).
torture_killer() {
	local dir=$1 tag pid
	shift
	local tags=("$@")
	while [ ! -e "$dir/stop" ]; do
		sleep "0.$((RANDOM % 3 + 1))"
		tag=${tags[$((RANDOM % ${#tags[@]}))]}
		pid=$(ours_pid "$dir/pid.$tag") || continue
		kill -KILL "$pid" 2>/dev/null && echo "$pid" >>"$dir/kills"
	done
}

torture_test() {
	local d=$W/torture pids=() tags=() id p missing=0 rev data kind
	mkdir -p "$d"
	new_root torture '[journal]\nsegment_size = 8192\n'
	for id in a b c; do
		for p in 1 2; do
			torture_appender "$id" "$p" "$d" &
			pids+=($!)
			tags+=("$id-$p")
		done
	done
	torture_killer "$d" "${tags[@]}" &
	pids+=($!)
	sleep "$TORTURE_S"
	touch "$d/stop"
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	# And last, one append torn in the middle of its write (half the
	# bytes, then SIGKILL), so that there is something to repair: after a
	# plain append (which recovers what the killed ones left), its second
	# write is its data.
	node_cohort c append "plain" >/dev/null ||
		tap_fail "torture: an append after the run"
	COHORT_FAULT=write:2:short,write:3:kill node_cohort b append "torn" \
		>/dev/null 2>&1
	cat "$d"/ack.* 2>/dev/null | sort -n >"$d/acked"
	log_json a >"$d/log.before" 2>&1
	fsck_as b "$d/check" --json
	kind=$(kinds "$d/check" | cut -d' ' -f1 | sort -u | tr '\n' ' ')
	note "torture: $(wc -l <"$d/acked") acknowledged appends," \
		"$(cat "$d/kills" 2>/dev/null | wc -l) killed by the killer," \
		"check exit $FSCK_RC: $kind"
	if [ "$FSCK_RC" -eq 4 ] && has_kind "$d/check" journal.uncommitted-tail; then
		tap_ok "torture: fsck finds the torn append (exit 4)"
	else
		tap_fail "torture: fsck finds the torn append (exit 4)" \
			"exit $FSCK_RC" "$(cat "$d/check")"
	fi
	if [ "$FSCK_RC" -eq 0 ] || [ "$FSCK_RC" -eq 4 ]; then
		fsck_as c "$d/repair" --repair --json
		if [ "$FSCK_RC" -eq 1 ]; then
			tap_ok "torture: --repair repairs all of it (exit 1)"
		else
			tap_fail "torture: --repair repairs all of it (exit 1)" \
				"exit $FSCK_RC" "$(cat "$d/repair" "$d/repair.err")"
		fi
	else
		tap_fail "torture: fsck ran (exit 0 or 4)" "exit $FSCK_RC" \
			"$(cat "$d/check" "$d/check.err")"
	fi
	fsck_as a "$d/again"
	tap_is "torture: a second fsck exits 0" "$FSCK_RC" 0
	log_json b >"$d/log.after"
	if [ -s "$d/log.before" ] &&
		[ "$(head -n "$(wc -l <"$d/log.before")" "$d/log.after")" = \
			"$(cat "$d/log.before")" ]; then
		tap_ok "torture: every record committed before the repair is still there"
	else
		tap_fail "torture: every record committed before the repair is still there" \
			"$(diff "$d/log.before" "$d/log.after" | head -n 8)"
	fi
	jq -r '"\(.rev) \(.data)"' "$d/log.after" >"$d/have"
	while read -r rev data; do
		grep -qx "$rev $data" "$d/have" || missing=$((missing + 1))
	done <"$d/acked"
	tap_is "torture: every acknowledged append is at its revision" "$missing" 0
	if node_cohort a append "after the torture" >/dev/null; then
		tap_ok "torture: appends go on"
	else
		tap_fail "torture: appends go on"
	fi
}

for part in ${FSCK_PARTS:-fresh_test journal_tail_test committed_damage_test \
	sealed_test nodes_locks_test store_test identity_test busy_test \
	torture_test}; do
	t_part=$(now_ms)
	$part
	note "$part: $(($(now_ms) - t_part)) ms"
done
