#!/usr/bin/env bash
# tests/cluster/damage.sh - one damaged record must not stop the cluster,
# with the real tool on three bindfs views (nodes a, b, c) and a fourth
# node d that joins after the repair.
#
# 500 committed records; node b has applied all of them, node c the first
# 100.  One bit of record 251's payload is flipped through the server's
# folder (media damage, a bad RAM on the file server).  Then:
#  1. a appends (501); b's 'sync' applies only 501 and b's 'watch' (started
#     before) applies 502 as it lands; 'log --from 400' reads 400-502; c's
#     'sync' applies 101-250 and stops with exit 1 naming record 251.
#  2. 'fsck' exits 4 naming revision 251; 'fsck --repair' exits 1 (lost+found
#     holds the damaged bytes), a second 'fsck' exits 0 and counts one lost
#     record; 'log' shows revision 251 as a cohort.lost record and every
#     other record as it was.
#  3. c's 'sync' stops at the lost record with exit 1, one line naming
#     251-251 and both ways on; 'sync --skip-lost' applies the rest, and
#     'status --json' lists [[251,251]] for c; d joins (replays all history),
#     stops at 251, and 'sync --exec-snapshot' restores it past the loss
#     from the snapshot b published; 'node --skip-lost' on d follows new
#     commits; appends go on and 'fsck' stays clean.
#
# BUILD=build bash tests/cluster/damage.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/lib.sh
. "$HERE/lib.sh"

need_prog "$COHORT" "the cohort tool"
command -v jq >/dev/null 2>&1 ||
	tap_bail "jq is installed (the cluster tests read JSON output with it)"
cluster_setup 4
tool_copy
node_bind a 1
node_bind b 2
node_bind c 3
node_bind d 4
W=$T/work
mkdir -p "$W"

node_cohort a init >/dev/null || tap_bail "init"
for n in a b c; do
	node_cohort "$n" join >/dev/null || tap_bail "join $n"
done
rec() { printf 'record-%04d-%s' "$1" "padding-to-make-it-longer"; }
for k in $(seq 1 100); do rec "$k"; echo; done |
	node_cohort a append --lines >/dev/null || tap_bail "append 1-100"
node_cohort c sync >/dev/null || tap_bail "c syncs 1-100"
for k in $(seq 101 500); do rec "$k"; echo; done |
	node_cohort a append --lines >/dev/null || tap_bail "append 101-500"
node_cohort b sync >/dev/null || tap_bail "b syncs 1-500"
node_cohort a log --json >"$W/log.before" || tap_bail "log before"

# ---- the damage ------------------------------------------------------------

seg=$(ls "$ROOT_SHARED/journal"/seg-* | sort | tail -n 1)
off=$(grep -obUa "$(rec 251)" "$seg" | head -n 1 | cut -d: -f1)
[ -n "$off" ] || tap_bail "record 251 is in '$seg'"
printf 'X' | dd of="$seg" bs=1 seek=$((off + 3)) conv=notrunc 2>/dev/null

# ---- 1. readers past the damage go on -----------------------------------------

tap_is "a appends after the damage" "$(node_cohort a append after-1 2>&1)" 501
out=$(node_cohort b sync 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ "$(printf '%s\n' "$out" | grep -c .)" = 1 ] &&
	printf '%s\n' "$out" | grep -q after-1; then
	tap_ok "b (past the damage) syncs 501 and only 501"
else
	tap_fail "b (past the damage) syncs 501 and only 501" "exit $rc" "$out"
fi
# Then b watches: new commits reach its hook.
bg_start env COHORT_ROOT="$(node_root b)" COHORT_NODE=b \
	COHORT_STATE="$(node_state b)" "$COHORT" watch --poll-ms 50 \
	--exec "cat >>'$W/b.watched'; echo >>'$W/b.watched'"
node_cohort a append after-2 >/dev/null
if wait_for 10 grep -q after-2 "$W/b.watched"; then
	tap_ok "b's watch applies 502 as it is committed"
else
	tap_fail "b's watch applies 502 as it is committed" \
		"$(cat "$W/b.watched" 2>/dev/null)"
fi
n=$(node_cohort c log --from 400 --json 2>"$W/log400.err" | jq -r .rev | tr '\n' ' ')
tap_is "log --from 400 reads 400-502" "$n" "$(seq 400 502 | tr '\n' ' ')"
out=$(node_cohort c sync --exec 'cat >/dev/null' 2>&1)
rc=$?
crev=$(node_cohort c status --json | jq -r '.nodes[] | select(.id == "c") | .revision')
if [ $rc -eq 1 ] && [ "$crev" = 250 ] && printf '%s\n' "$out" | grep -q '251' &&
	printf '%s\n' "$out" | grep -q '^cohort: .*fsck'; then
	tap_ok "c (before the damage) applies 101-250, then stops naming record 251"
else
	tap_fail "c (before the damage) applies 101-250, then stops naming record 251" \
		"exit $rc, revision $crev" "$out"
fi

# ---- 2. repair ------------------------------------------------------------

node_cohort b fsck --json >"$W/check" 2>&1
rc=$?
if [ $rc -eq 4 ] && jq -r 'select(.kind == "journal.record") | .rev' \
	"$W/check" | grep -qx 251; then
	tap_ok "fsck exits 4 naming revision 251"
else
	tap_fail "fsck exits 4 naming revision 251" "exit $rc" "$(cat "$W/check")"
fi
node_cohort b fsck --repair --json >"$W/repair" 2>&1
rc=$?
lf=$(jq -r 'select(.summary) | .lost_found // ""' "$W/repair")
if [ $rc -eq 1 ] && [ -n "$lf" ] &&
	grep -rqa "0251-padding" "$ROOT_SHARED/$lf" &&
	[ "$(jq -r 'select(.summary) | .lost' "$W/repair")" = 1 ]; then
	tap_ok "fsck --repair exits 1: record 251 is a lost record, its bytes in lost+found"
else
	tap_fail "fsck --repair exits 1: record 251 is a lost record, its bytes in lost+found" \
		"exit $rc" "$(cat "$W/repair")"
fi
node_cohort c fsck --json >"$W/again" 2>&1
rc=$?
tap_is "a second fsck exits 0 and counts one lost record" \
	"$rc $(jq -r 'select(.summary) | .lost_records' "$W/again")" "0 1"
node_cohort c log --json >"$W/log.after" || tap_fail "log after the repair"
if [ "$(jq -r 'select(.rev == 251) | .type' "$W/log.after")" = cohort.lost ] &&
	[ "$(jq -c 'select(.rev != 251)' "$W/log.after" | head -n 499)" = \
		"$(jq -c 'select(.rev != 251)' "$W/log.before")" ]; then
	tap_ok "log: 251 is a cohort.lost record, every other record is as it was"
else
	tap_fail "log: 251 is a cohort.lost record, every other record is as it was" \
		"$(jq -c 'select(.rev == 251)' "$W/log.after")"
fi

# ---- 3. the ways on -------------------------------------------------------

out=$(node_cohort c sync --exec 'cat >/dev/null' 2>&1)
rc=$?
if [ $rc -eq 1 ] && [ "$(printf '%s\n' "$out" | grep -c .)" = 1 ] &&
	printf '%s\n' "$out" | grep -q 'revisions 251-251 were lost' &&
	printf '%s\n' "$out" | grep -q -- '--exec-snapshot' &&
	printf '%s\n' "$out" | grep -q -- '--skip-lost'; then
	tap_ok "c stops at the lost record: one line naming 251-251 and both ways on"
else
	tap_fail "c stops at the lost record: one line naming 251-251 and both ways on" \
		"exit $rc" "$out"
fi
out=$(node_cohort c sync --skip-lost --exec "cat >>'$W/c.applied'; echo >>'$W/c.applied'" 2>&1)
rc=$?
crev=$(node_cohort c status --json | jq -r '.nodes[] | select(.id == "c") | .revision')
skipped=$(node_cohort a status --json | jq -c '.nodes[] | select(.id == "c") | .skipped_lost')
if [ $rc -eq 0 ] && [ "$crev" = 502 ] && [ "$skipped" = '[[251,251]]' ] &&
	[ "$(grep -c . "$W/c.applied")" = 251 ] && ! grep -q lost "$W/c.applied"; then
	tap_ok "c --skip-lost applies 252-502 and its status lists [[251,251]]"
else
	tap_fail "c --skip-lost applies 252-502 and its status lists [[251,251]]" \
		"exit $rc, revision $crev, skipped $skipped" "$out"
fi
node_cohort a status | grep -q 'node c skipped lost revisions 251-251' ||
	tap_fail "status (text) says c skipped 251-251" "$(node_cohort a status)"

# A node that joins afterwards replays all history: it stops at 251, and
# the application snapshot b publishes (at 502) restores it past the loss.
node_cohort d join >/dev/null || tap_bail "join d"
out=$(node_cohort d sync --exec 'cat >/dev/null' 2>&1)
tap_is "d (joined after) stops at the lost record" \
	"$?:$(printf '%s\n' "$out" | grep -c 'revisions 251-251 were lost')" "1:1"
printf 'state as of b\n' >"$W/snap"
node_cohort b snapshot put "$W/snap" >/dev/null 2>"$W/snap.err" ||
	tap_fail "b publishes a snapshot" "$(cat "$W/snap.err")"
out=$(node_cohort d sync --exec-snapshot "cat >'$W/d.restored'" --exec 'cat >/dev/null' 2>&1)
rc=$?
drev=$(node_cohort d status --json | jq -r '.nodes[] | select(.id == "d") | .revision')
if [ $rc -eq 0 ] && [ "$drev" = 502 ] && grep -q 'state as of b' "$W/d.restored"; then
	tap_ok "d --exec-snapshot restores past the loss (revision 502)"
else
	tap_fail "d --exec-snapshot restores past the loss (revision 502)" \
		"exit $rc, revision $drev" "$out"
fi
bg_start env COHORT_ROOT="$(node_root d)" COHORT_NODE=d \
	COHORT_STATE="$(node_state d)" "$COHORT" node --poll-ms 50 --skip-lost \
	--exec "cat >>'$W/d.node'; echo >>'$W/d.node'"
node_cohort a append after-3 >/dev/null || tap_fail "a appends after the repair"
if wait_for 15 grep -q after-3 "$W/d.node"; then
	tap_ok "d's 'node --skip-lost' applies new commits"
else
	tap_fail "d's 'node --skip-lost' applies new commits" "$(cat "$W/d.node" 2>/dev/null)"
fi
node_cohort a fsck >"$W/end" 2>&1
tap_is "fsck is clean at the end" "$?" 0
