#!/usr/bin/env bash
# tests/nfs/s_rpc.sh - what each command costs in NFS RPCs (NFS.md fact 12).
#
# On a quiet two-node cluster, node a runs through client c1: append (one
# 100-byte record), append --lines (a batch of 10), log, status, sync,
# install (a 20 kB jar), materialize (into a local folder), janitor and
# fsck, each under tests/nfs/rpc-count, which reads the client's per-op
# counters in /proc/self/mountstats before and after.  Each command must
# succeed; its RPCs per operation kind are printed (and collected in
# /lab-results/rpc for the lab's table).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/nfs/lib.sh
. "$HERE/lib.sh"
lab_setup rpc
W=$T/work
lab_cluster a b
lab_jar "$W/r.jar" lab.rpc 1.0
node_cohort a append warmup >/dev/null || tap_bail "append warmup"
REC=$(printf 'r%099d' 0)
seq 1 10 | awk -v r="$REC" '{ print r }' >"$W/batch"

# measure NAME ARGS...: one command as a, its RPCs.
measure() {
	local name=$1 out rc
	shift
	out=$(node_rpc a "$W/rpc.$name" "$@" 2>&1 </dev/null)
	rc=$?
	if [ $rc -ne 0 ]; then
		tap_fail "$name: exit $rc" "$out"
		return
	fi
	local line
	read -r line <"$W/rpc.$name"
	tap_ok "$name costs ${line%% *} RPCs"
	note "rpc $LAB_KIND $name: $line"
	echo "$LAB_KIND $name $line" >>"${LAB_RESULTS:-$T}/rpc"
}

measure append append "$REC"
out=$(node_rpc a "$W/rpc.batch" append --lines <"$W/batch" 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ "$(wc -l <<<"$out")" -eq 10 ]; then
	tap_ok "append --lines (10 records) costs $(cut -d' ' -f1 "$W/rpc.batch") RPCs"
	note "rpc $LAB_KIND batch10: $(cat "$W/rpc.batch")"
	echo "$LAB_KIND batch10 $(cat "$W/rpc.batch")" >>"${LAB_RESULTS:-$T}/rpc"
else
	tap_fail "append --lines: exit $rc" "$out"
fi
measure log log
measure status status
measure sync sync
measure install install "$W/r.jar"
measure materialize materialize "$W/plugins"
measure janitor janitor
measure fsck fsck
