#!/usr/bin/env bash
# tests/nfs/s_fsck.sh - fsck clean and repair on three kernel NFS clients.
#
# A cluster with records and a package, written through c1 and c2: fsck
# through each client is clean (exit 0).  Then the damage a dead writer
# leaves, made through c1: 300 random bytes past the head of the head
# segment and a stale temporary file.  fsck through c3 finds it (exit 4,
# the root unchanged); 'fsck --repair' through c2 repairs it (exit 1) and
# keeps what it removed in lost+found with a MANIFEST; fsck through c1 is
# clean again, the journal holds exactly what was committed, and a new
# append through c3 follows at the next revision.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/nfs/lib.sh
. "$HERE/lib.sh"
lab_setup fsck
W=$T/work
lab_cluster
lab_jar "$W/f.jar" lab.fsck 1.0
node_cohort a append r1 >/dev/null && node_cohort b append r2 >/dev/null &&
	node_cohort a install "$W/f.jar" >/dev/null &&
	node_cohort b append r3 >/dev/null || tap_bail "appends and an install"
log_data() { node_cohort "$1" log --json | jq -r 'select(.type != "store.install") | .data' | tr '\n' ' '; }

for n in a b c; do
	out=$(node_cohort "$n" fsck 2>&1)
	tap_rc "fsck through $n's client is clean (exit 0)" "$?" 0 "$out"
done

seg=$(find "$ROOT_SHARED/journal" -name 'seg-*' | sort | tail -n 1)
head -c 300 /dev/urandom >>"$seg"
echo half >"$ROOT_SHARED/journal/.head.tmp.x.1.abc"
sum0=$(find "$ROOT_SHARED" -type f -exec md5sum {} + | sort | md5sum)
out=$(node_cohort c fsck --grace 0 2>&1)
rc=$?
tap_rc "fsck through c3 finds the torn bytes and the temp file (exit 4)" "$rc" 4 "$out"
tap_is "fsck without --repair changed nothing" \
	"$(find "$ROOT_SHARED" -type f -exec md5sum {} + | sort | md5sum)" "$sum0"
out=$(node_cohort b fsck --repair --grace 0 2>&1)
rc=$?
tap_rc "fsck --repair through c2 repairs everything (exit 1)" "$rc" 1 "$out"
if find "$ROOT_SHARED/lost+found" -name MANIFEST 2>/dev/null | grep -q .; then
	tap_ok "what repair removed is in lost+found with a MANIFEST"
else
	tap_fail "what repair removed is in lost+found with a MANIFEST" "$(ls -R "$ROOT_SHARED" | head -n 30)"
fi
out=$(node_cohort a fsck 2>&1)
tap_rc "fsck through c1 is clean after the repair (exit 0)" "$?" 0 "$out"
tap_is "the journal holds what was committed" "$(log_data c)" "r1 r2 r3 "
rev=$(node_cohort c append r4 2>&1)
tap_is "an append through c3 follows at the next revision" "$rev" 5
