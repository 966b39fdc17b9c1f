#!/usr/bin/env bash
# tests/cluster/fence.sh - a journal writer paused past its lease in the
# middle of a commit, whose writes come late (issue 17), on bindfs views.
#
# Each round: node a's 'cohort append' is stopped (SIGSTOP, the fault
# injector's 'stop') right before its Nth write call (N = 1..FENCE_N: the
# lease, the data, the head slot, ...); while it is stopped, nodes b and
# c break its lease and commit; then a is continued and its held write
# is made.  After every round: every acknowledged record is present once
# at its revision, revisions are contiguous, a's record appears whole or
# not at all (and if a said it committed, at the revision it printed),
# reading from every revision works, fsck is clean, and everyone appends.
#
# BUILD=build bash tests/cluster/fence.sh
#   FENCE_N   rounds (the write call a is stopped at: 1..FENCE_N; default 3:
#             the lease, the data, the head slot of a one-record append)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/lib.sh
. "$HERE/lib.sh"

cluster_setup 3
node_bind a 1
node_bind b 2
node_bind c 3
tool_copy
ROUNDS=${FENCE_N:-3}
write_conf '[cluster]\nlock_mode = lease\nlease_refresh = 100ms\nlease_timeout = 1s\nskew_margin = 500ms\n[journal]\nsegment_size = 8192\n'
node_cohort a init >/dev/null || tap_bail "init"
for n in a b c; do
	node_cohort "$n" join >/dev/null || tap_bail "join $n"
done
ACKS=$T/work/acks # "REV PAYLOAD" of every acknowledged record
: >"$ACKS"
ack() { # ack ID PAYLOAD: append and note it; 1 if it failed
	local rev
	rev=$(node_cohort "$1" append "$2" 2>>"$T/work/err") || return 1
	echo "$rev $2" >>"$ACKS"
}
for i in 1 2 3 4 5; do
	ack b "old-$i" || tap_bail "history append"
done

# is_stopped PID: the process is in state T (stopped).
is_stopped() {
	local s
	s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ "$s" = T ]
}

stopped_or_gone() {
	is_stopped "$1" || ! kill -0 "$1" 2>/dev/null
}

# check_all WHAT A_PAYLOAD A_REV: the invariants (A_REV empty: a failed).
check_all() {
	local what=$1 ap=$2 arev=$3 log head bad=""
	log=$T/work/log.$what
	if ! node_cohort c log --json >"$log" 2>"$T/work/logerr"; then
		tap_fail "$what: log through c" "$(cat "$T/work/logerr")"
		return
	fi
	head=$(node_cohort c status --json | jq -r .head)
	# contiguous 1..head
	if [ "$(jq -r .rev "$log" | tr '\n' ' ')" != "$(seq 1 "$head" | tr '\n' ' ')" ]; then
		bad="revisions are not 1..$head"
	fi
	# every acknowledged record once, at its revision
	while read -r rev p; do
		got=$(jq -r --argjson r "$rev" 'select(.rev == $r) | .data' "$log")
		[ "$got" = "$p" ] || bad="$bad; acknowledged $rev '$p' reads '$got'"
		cnt=$(jq -r --arg p "$p" 'select(.data == $p) | .rev' "$log" | wc -l)
		[ "$cnt" -eq 1 ] || bad="$bad; '$p' appears $cnt times"
	done <"$ACKS"
	cnt=$(jq -r --arg p "$ap" 'select(.data == $p) | .rev' "$log" | wc -l)
	[ "$cnt" -le 1 ] || bad="$bad; a's '$ap' appears $cnt times"
	if [ -n "$arev" ]; then
		got=$(jq -r --argjson r "$arev" 'select(.rev == $r) | .data' "$log")
		[ "$got" = "$ap" ] || bad="$bad; a's acknowledged $arev reads '$got'"
	fi
	# a reader from every revision
	for r in $(seq 1 "$head"); do
		node_cohort b log --from "$r" --limit 1 >/dev/null 2>&1 ||
			bad="$bad; log --from $r fails"
	done
	if [ -z "$bad" ]; then
		tap_ok "$what: acknowledged records once at their revisions, 1..$head contiguous, a's record whole or absent, reads from every revision"
	else
		tap_fail "$what: what readers see" "$bad"
	fi
	tap_check "$what: fsck is clean" node_cohort c fsck
	if ack a "after-a-$what" && ack b "after-b-$what"; then
		tap_ok "$what: a and b append afterwards"
	else
		tap_fail "$what: a and b append afterwards" "$(tail -3 "$T/work/err")"
	fi
}

for n in $(seq 1 "$ROUNDS"); do
	what="write $n"
	ap="a-stale-$n"
	out=$T/work/a.$n
	# The tool itself in the background (not a function's subshell):
	# $! is the process that stops.
	COHORT_FAULT="write:$n:stop" "$COHORT" --root "$(node_root a)" \
		--node a --state "$(node_state a)" append "$ap" \
		>"$out" 2>"$out.err" &
	apid=$!
	wait_for 20 stopped_or_gone "$apid"
	if is_stopped "$apid"; then
		sleep 2 # past lease_timeout + skew_margin
		ok=1
		for k in 1 2; do
			ack b "b-$n-$k" || ok=0
			ack c "c-$n-$k" || ok=0
		done
		[ $ok -eq 1 ] || tap_fail "$what: b and c commit while a is stopped" \
			"$(tail -3 "$T/work/err")"
		kill -CONT "$apid"
	else
		note "$what: a never reached its write $n (it ended first)"
	fi
	wait "$apid"
	arc=$?
	arev=""
	if [ $arc -eq 0 ]; then
		arev=$(head -1 "$out")
		echo "$arev $ap" >>"$ACKS"
		note "$what: a acknowledged revision $arev"
	else
		note "$what: a failed ($arc): $(head -1 "$out.err")"
		if [ $arc -ne 1 ] || [ "$(wc -l <"$out.err")" -ne 1 ]; then
			tap_fail "$what: a fails with exit 1 and one line" \
				"exit $arc: $(cat "$out.err")"
		fi
	fi
	check_all "$what" "$ap" "$arev"
done
exit 0
