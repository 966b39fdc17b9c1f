#!/usr/bin/env bash
# tests/nfs/s_watch.sh - watch propagation across kernel NFS clients.
#
# Nodes b (c2) and c (c3) run 'cohort watch --json --poll-ms 250'; node a
# appends 8 records through c1, one every ~0.3 s.  Each watcher prints
# every record once, in order, as the log has them.  The time from a
# record's own time (taken by the appender just before its commit; the
# three clients share the VM's one clock) to a watcher's line is measured
# (NFS never notifies another client: fact 1, so this is the poll) and
# its p50, p99 and maximum printed; every record arrives within 5 s (the
# poll interval plus slack for a TCG-slow VM).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/nfs/lib.sh
. "$HERE/lib.sh"
lab_setup watch
W=$T/work
NREC=8
LIMIT_MS=5000
lab_cluster a b c

# watcher ID: 'watch --json' lines stamped with the receive time (us).
watcher() {
	node_cohort "$1" watch --json --poll-ms 250 2>>"$W/watch.err.$1" |
		while IFS= read -r l; do
			echo "${EPOCHREALTIME/./} $l"
		done >>"$W/seen.$1"
}
bg_start watcher b
wb=$BG_PID
bg_start watcher c
wc=$BG_PID
# Both watchers are up once they print a first record.
node_cohort a append warmup >/dev/null || tap_bail "append warmup"
wait_for 60 eval '[ -s "$W/seen.b" ] && [ -s "$W/seen.c" ]' ||
	tap_bail "both watchers print the first record" "$(cat "$W"/watch.err.*)"

for i in $(seq 1 "$NREC"); do
	node_cohort a append "w$i" >/dev/null || tap_fail "append w$i"
	sleep 0.3
done
head=$(node_cohort a status --json | jq -r .head)
# last_rev ID: the revision of the watcher's last line.
last_rev() { tail -n 1 "$W/seen.$1" 2>/dev/null | cut -d' ' -f2- | jq -r .rev 2>/dev/null; }
at_head() { [ "$(last_rev b)" = "$head" ] && [ "$(last_rev c)" = "$head" ]; }
wait_for 30 at_head
kill_tree "$wb" TERM
kill_tree "$wc" TERM

node_cohort a log --json | jq -r '"\(.rev) \(.data)"' >"$W/log"
: >"$W/lat"
for n in b c; do
	cut -d' ' -f2- "$W/seen.$n" | jq -r '"\(.rev) \(.data)"' >"$W/got.$n"
	tap_check "watcher $n (c$([ $n = b ] && echo 2 || echo 3)) printed every record once, in order" \
		cmp "$W/log" "$W/got.$n"
	# latency: receive time (us) - the record's time (ms), in ms; the
	# warm-up record is left out
	paste -d' ' <(cut -d' ' -f1 "$W/seen.$n") <(cut -d' ' -f2- "$W/seen.$n" |
		jq -r '"\(.data) \(.time | ((.[0:19] + "Z" | fromdate) * 1000 + (.[20:23] | tonumber)))"') |
		awk '$2 != "warmup" { printf "%.1f\n", $1 / 1000 - $3 }' >>"$W/lat"
done
n=$(wc -l <"$W/lat")
p50=$(percentile 50 "$W/lat")
p99=$(percentile 99 "$W/lat")
max=$(percentile 100 "$W/lat")
note "watch propagation ($LAB_KIND, poll 250 ms, $n samples): p50 $p50 ms, p99 $p99 ms, max $max ms"
echo "$LAB_KIND watch p50=$p50 p99=$p99 max=$max n=$n" >>"${LAB_RESULTS:-$T}/figures"
if [ "$n" -eq $((2 * NREC)) ] && awk -v m="$max" -v l="$LIMIT_MS" 'BEGIN { exit !(m < l) }'; then
	tap_ok "every record reached both watchers within $LIMIT_MS ms of its ack (p99 $p99 ms)"
else
	tap_fail "every record reached both watchers within $LIMIT_MS ms of its ack" \
		"$n samples of $((2 * NREC)), max $max ms" "$(cat "$W"/watch.err.*)"
fi
