#!/usr/bin/env bash
# tests/cluster/committer.sh - the node's committer (cohort/committer.h)
# on bindfs views, with committers and clients killed at bad moments.
#
# Nodes a (view v1) and b (view v2) run 'cohort node', which hosts each
# node's committer; node c (view v3) runs none, so its processes commit
# for themselves.  Four processes of a, three of b and two of c append
# unique payloads with 'cohort append' in loops (every fifth append of a
# and b a 3-record --lines batch) for about ten seconds, while:
#  - a's node is killed with SIGKILL every 0.3-0.9 s and started again,
#    every other time with COHORT_FAULT making it kill itself at one of
#    its first fsyncs (a commit's fdatasync among them);
#  - b's node is stopped with SIGTERM twice (it must answer every request
#    it took) and started again;
#  - one more process of a and one of b start 'cohort append' and kill
#    it with SIGKILL 0-40 ms later, whatever it is doing then.
# Then, from the log read through view v3:
#  1. revisions run 1..head with no gap, and no payload appears twice;
#  2. every acknowledged append (exit 0) is there once, at the revision it
#     printed, a batch's three records at consecutive revisions;
#  3. an append that failed saying its records "may or may not appear"
#     (or "may still appear") has them at most once; one that failed
#     without saying so has none of them; a killed one at most once;
#  4. appends went through the committers: b's node says it served
#     requests when stopped, and the clients' socket is mode 0600;
#  5. with a's node stopped the committer's socket is gone, and an append
#     of a still works (directly).
#
# BUILD=build bash tests/cluster/committer.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/lib.sh
. "$HERE/lib.sh"

need_prog "$COHORT" "the cohort tool"
cluster_setup 3
tool_copy
node_bind a 1
node_bind b 2
node_bind c 3
W=$T/work
SECONDS_RUN=${COHORT_COMMITTER_SECONDS:-10}

node_cohort a init >/dev/null || tap_bail "init"
for n in a b c; do
	node_cohort "$n" join >/dev/null || tap_bail "join $n"
done

# start_node ID [FAULT]: 'cohort node' of ID in the background; its pid in
# $W/node.ID.pid, its log appended to $W/node.ID.log.
start_node() {
	local id=$1 fault=${2:-}
	# The tool itself, not a function around it: $! must be its pid.
	COHORT_FAULT=$fault "$COHORT" --root "$(node_root "$id")" --node "$id" \
		--state "$(node_state "$id")" node --poll-ms 100 \
		>/dev/null 2>>"$W/node.$id.log" &
	echo $! >"$W/node.$id.pid"
	CLUSTER_PIDS+=($!)
}

# appender NAME ID: append NAME.1, NAME.2, ... as node ID until
# $W/stop exists; one line per append in $W/out.NAME:
#   ok PAYLOAD REV...    | may PAYLOAD | fail PAYLOAD MSG | killed PAYLOAD
appender() {
	local name=$1 id=$2 i=0 p out rc
	while [ ! -e "$W/stop" ]; do
		i=$((i + 1))
		p=$name.$i
		if [ "$id" != c ] && [ $((i % 5)) = 0 ]; then
			out=$(printf '%s.x\n%s.y\n%s.z\n' "$p" "$p" "$p" |
				node_cohort "$id" append --lines 2>&1)
			rc=$?
			p="$p.x $p.y $p.z"
		else
			out=$(node_cohort "$id" append "$p" 2>&1)
			rc=$?
		fi
		if [ $rc = 0 ]; then
			echo "ok $p $(tr '\n' ' ' <<<"$out")"
		elif [ $rc -ge 128 ]; then
			echo "killed $p"
		elif grep -qE 'may or may not appear|may still appear' <<<"$out"; then
			echo "may $p"
		else
			echo "fail $p $(tr '\n' ' ' <<<"$out")"
		fi
	done >"$W/out.$name"
}

# victim NAME ID: like appender, but each 'cohort append' is killed with
# SIGKILL after 0-40 ms, whatever it is doing then (the tool itself, so
# that $! is its pid); "ok" when it finished first.
victim() {
	local name=$1 id=$2 i=0 p pid rc
	while [ ! -e "$W/stop" ]; do
		i=$((i + 1))
		p=$name.$i
		"$COHORT" --root "$(node_root "$id")" --node "$id" \
			--state "$(node_state "$id")" append "$p" \
			>"$W/victim.$name.out" 2>&1 &
		pid=$!
		sleep "0.0$((RANDOM % 5))"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rc=$?
		if [ $rc = 0 ]; then
			echo "ok $p $(tr '\n' ' ' <"$W/victim.$name.out")"
		elif [ $rc -ge 128 ]; then
			echo "killed $p"
		elif grep -qE 'may or may not appear|may still appear' "$W/victim.$name.out"; then
			echo "may $p"
		else
			echo "fail $p $(tr '\n' ' ' <"$W/victim.$name.out")"
		fi
	done >"$W/out.$name"
}

start_node a
start_node b
wait_for 10 test -S "$(node_state a)/committer.sock" || tap_bail "a's committer listens"
wait_for 10 test -S "$(node_state b)/committer.sock" || tap_bail "b's committer listens"
tap_is "the committer's socket is the owner's alone (mode 600)" \
	"$(stat -c %a "$(node_state a)/committer.sock")" 600

apids=()
for name in a1 a2 a3 a4; do
	appender "$name" a &
	apids+=($!)
done
for name in b1 b2 b3; do
	appender "$name" b &
	apids+=($!)
done
for name in c1 c2; do
	appender "$name" c &
	apids+=($!)
done
victim va a 2>/dev/null &
apids+=($!)
victim vb b 2>/dev/null &
apids+=($!)
CLUSTER_PIDS+=("${apids[@]}")

# The chaos, for SECONDS_RUN seconds (the shell's "Killed" notices go to
# chaos.err).
exec 3>&2 2>>"$W/chaos.err"
end=$(($(now_ms) + SECONDS_RUN * 1000))
round=0
akills=0
while [ "$(now_ms)" -lt "$end" ]; do
	round=$((round + 1))
	sleep "0.$((3 + RANDOM % 7))"
	# a's node: SIGKILL (or it died of its fault), then a new one.
	p=$(cat "$W/node.a.pid")
	kill -KILL "$p" 2>/dev/null && akills=$((akills + 1))
	wait "$p" 2>/dev/null
	if [ $((round % 2)) = 0 ]; then
		start_node a "fsync:$((1 + RANDOM % 6)):kill"
	else
		start_node a
	fi
	# b's node: stopped cleanly twice along the way.
	if [ $round = 4 ] || [ $round = 9 ]; then
		p=$(cat "$W/node.b.pid")
		kill -TERM "$p"
		wait "$p"
		echo "$?" >>"$W/b.exits"
		start_node b
	fi
done
touch "$W/stop"
for p in "${apids[@]}"; do
	wait "$p"
done
exec 2>&3 3>&-
note "$round rounds, $akills SIGKILLs of a's node"

p=$(cat "$W/node.b.pid")
kill -TERM "$p"
wait "$p"
echo "$?" >>"$W/b.exits"
tap_is "b's node exits 0 on each SIGTERM" "$(sort -u "$W/b.exits" | tr '\n' ' ')" "0 "
served=$(sed -n 's/.*committer stopped: \([0-9]*\) commit request.*/\1/p' "$W/node.b.log" |
	awk '{ s += $1 } END { print s + 0 }')
if [ "$served" -gt 0 ]; then
	tap_ok "b's committer served $served requests of b's processes"
else
	tap_fail "b's committer served requests of b's processes" "$(tail -n 5 "$W/node.b.log")"
fi

# 5. A node of a without faults, stopped cleanly: its socket goes.
p=$(cat "$W/node.a.pid")
kill -KILL "$p" 2>/dev/null
wait "$p" 2>/dev/null
start_node a
wait_for 10 grep -q 'committer listening' <(tail -n 1 "$W/node.a.log") ||
	wait_for 10 test -S "$(node_state a)/committer.sock"
sleep 0.5
p=$(cat "$W/node.a.pid")
kill -TERM "$p"
wait "$p"
tap_is "a's node exits 0 on SIGTERM" "$?" 0
tap_is "a's node stopped with SIGTERM leaves no socket" \
	"$(ls "$(node_state a)" | grep -c committer)" 0
out=$(node_cohort a append "after the chaos" 2>&1)
tap_is "with a's node gone an append of a commits directly" "$?" 0

node_cohort c log --json >"$W/log.json" || tap_bail "log through v3"
jq -r '"\(.rev) \(.data)"' <"$W/log.json" >"$W/log.txt"
head=$(node_cohort c status --json | jq -r .head)
cat "$W"/out.* >"$W/outcomes"

# 1. contiguous revisions, no payload twice.
tap_is "revisions run 1..head without a gap" \
	"$(awk '$1 != NR { print "gap at line " NR ": " $0; exit }' "$W/log.txt")" ""
tap_is "the log holds head ($head) records" "$(wc -l <"$W/log.txt")" "$head"
tap_is "no payload appears twice" \
	"$(cut -d' ' -f2- "$W/log.txt" | sort | uniq -d | head -n 5)" ""

# 2-3. every outcome against the log.
bad=$(awk '
	FNR == NR { at[$2] = $1; next }
	$1 == "ok" {
		n = 0
		for (i = 2; i <= NF; i++) if ($i !~ /^[0-9]+$/) p[++n] = $i
		k = 0
		for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) r[++k] = $i
		if (k != n) { print "ok line with " n " payloads and " k " revisions: " $0; next }
		for (i = 1; i <= n; i++) {
			if (!(p[i] in at)) print "acknowledged but missing: " p[i] " (rev " r[i] ")"
			else if (at[p[i]] != r[i]) print "acknowledged at " r[i] " but found at " at[p[i]] ": " p[i]
			if (i > 1 && r[i] != r[i - 1] + 1) print "batch not consecutive: " $0
		}
		acked += n
		next
	}
	$1 == "fail" {
		for (i = 2; i <= NF && $i ~ /^(v?[a-c][0-9]*)\.[0-9]+(\.[xyz])?$/; i++)
			if ($i in at) print "failed without saying it may appear, yet present: " $i " (" $0 ")"
		fails++
		next
	}
	$1 == "may" { may++; next }
	$1 == "killed" { killed++; next }
	{ print "unknown outcome: " $0 }
	END {
		printf "acked=%d may=%d killed=%d fails=%d\n", acked, may, killed, fails > "/dev/stderr"
	}' "$W/log.txt" "$W/outcomes" 2>"$W/counts")
tap_is "every acknowledged record is there once at its revision; no definite failure is there" "$bad" ""
note "$(cat "$W/counts")"
acked=$(sed -n 's/.*acked=\([0-9]*\).*/\1/p' "$W/counts")
if [ "${acked:-0}" -ge 50 ]; then
	tap_ok "the appenders got $acked records acknowledged"
else
	tap_fail "the appenders got at least 50 records acknowledged" "$(cat "$W/counts")"
fi
fails=$(grep -c '^fail' "$W/outcomes")
if [ "$fails" -gt 0 ]; then
	note "definite failures: $(grep '^fail' "$W/outcomes" | head -n 3 | tr '\n' '|')"
fi

tap_is "c's log through v3 equals a's through v1" \
	"$(node_cohort a log --json | md5sum)" "$(md5sum <"$W/log.json")"
