#!/usr/bin/env bash
# tests/cluster/journal.sh - the journal's guarantees across bindfs views.
#
# 1. Three nodes a, b, c on three views, two appender loops each, append
#    concurrently (single records and 'append --lines' commits of 2-5
#    records, every payload unique) while a killer SIGKILLs appenders at
#    random.  Then, from 'cohort log --json': revisions are 1..head without
#    a gap; every acknowledged revision (printed by an append that exited 0)
#    holds its payload; no payload appears twice; every commit that appears
#    at all appears whole, in order, at consecutive revisions; nothing
#    appears that nobody appended; no append failed except by SIGKILL; and
#    'cohort sync --json' on each node (each on its own view) prints exactly
#    the log.
# 2. A node whose watcher is stopped (SIGTERM) and whose mount goes away
#    while the others append catches up when it returns: watch output +
#    sync output = the log, in order, nothing twice.
# 3. A hook that fails on one record ('sync --exec'): exit 1, the node's
#    revision stays at the record before, a second sync fails on the same
#    record without running the hook on anything else, and once the hook
#    is cured sync resumes at exactly that record.  A hook that outlives a
#    killed sync still reads the whole record (COHORT_SIZE: its length).
#    A batch hook ('sync --batch 2 --exec-batch') that fails on a batch:
#    exit 1 naming the batch, the revision before it; once cured the batch
#    runs again whole, then the rest, with COHORT_FIRST_REV, _LAST_REV,
#    _COUNT and _SIZE right.
# 4. 'watch' on view b sees a commit made on view a within the poll
#    interval (--poll-ms 200) plus slack, in order; the same on views with
#    attr_timeout=2,entry_timeout=2 (stale attribute caches); and on the same
#    view (inotify) within 1 s although the poll interval is 5 s.
#    A reader ('log') on such a view reads a record committed a moment ago
#    through another view.
# 5. 'watch' exits 0 on SIGTERM and on SIGINT; with a slow hook it exits
#    after the record in hand.
# 6. An append killed inside (COHORT_FAULT=OP:N:kill) leaves nothing visible;
#    the next append on another view succeeds at once with the next
#    revision (a whole commit that was already written may be kept: then it
#    is whole and comes first).
#
# BUILD=build bash tests/cluster/journal.sh
# JOURNAL_STRESS_S (default 15): seconds of concurrent appending in 1 (up
# to three times as long while fewer than 2000 records are acknowledged).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

need_prog "$COHORT" "the cohort tool"
command -v jq >/dev/null 2>&1 ||
	tap_bail "jq is installed (the cluster tests read JSON output with it)"
cluster_setup 3
tool_copy
node_bind a 1
node_bind b 2
node_bind c 3
node_bind x 1 # a second node on view 1 (same-view watcher)

STRESS_S=${JOURNAL_STRESS_S:-15}
STRESS_MAX_S=$((STRESS_S * 3))
STRESS_MIN=2000
W=$T/work

# The journal as "REV NODE TYPE DATA" lines, read as node ID.
log_lines() {
	node_cohort "$1" log --json | jq -r '"\(.rev) \(.node) \(.type) \(.data)"'
}

# The head revision, from 'status --json' as node ID.
head_of() {
	node_cohort "$1" status --json | jq -r .head
}

# The revision of node N, from 'status --json' as node ID.
revision_of() {
	node_cohort "$1" status --json |
		jq -r --arg n "$2" '.nodes[] | select(.id == $n) | .revision'
}

# Microseconds since the epoch (no fork).
now_us() {
	echo "${EPOCHREALTIME/./}"
}

node_cohort a init >/dev/null || tap_bail "cohort init"
for n in a b c x; do
	node_cohort "$n" join >/dev/null 2>"$W/join.$n" ||
		tap_bail "cohort join as $n" "$(cat "$W/join.$n")"
done

# ---- 1. concurrent appenders under a killer --------------------------------

# appender ID P DIR: append as node ID, slot P, until DIR/stop exists.  Every attempted commit is one line of DIR/try.ID-P (its payloads); an
# acknowledged one adds "REV PAYLOAD" lines to DIR/ack.ID-P.  While an
# append runs its pid is in DIR/pid.ID-P.
appender() {
	local id=$1 p=$2 dir=$3 tag=$1-$2 seq=0 k i rc pid
	local root state payloads
	root=$(node_root "$id")
	state=$(node_state "$id")
	while [ ! -e "$dir/stop" ]; do
		seq=$((seq + 1))
		payloads=()
		if [ $((seq % 3)) -eq 0 ]; then
			k=$((2 + seq % 4))
			for ((i = 0; i < k; i++)); do
				payloads+=("$tag-$seq-$i")
			done
		else
			payloads=("$tag-$seq")
		fi
		echo "${payloads[*]}" >>"$dir/try.$tag"
		if [ ${#payloads[@]} -gt 1 ]; then
			printf '%s\n' "${payloads[@]}" >"$dir/in.$tag"
			"$COHORT" --root "$root" --node "$id" --state "$state" \
				append --lines <"$dir/in.$tag" \
				>"$dir/out.$tag" 2>"$dir/err.$tag" &
		else
			"$COHORT" --root "$root" --node "$id" --state "$state" \
				append "${payloads[0]}" \
				>"$dir/out.$tag" 2>"$dir/err.$tag" &
		fi
		pid=$!
		echo "$pid" >"$dir/pid.$tag"
		{ wait "$pid"; } 2>/dev/null
		rc=$?
		rm -f "$dir/pid.$tag"
		case $rc in
		0)
			if [ "$(wc -l <"$dir/out.$tag")" -ne ${#payloads[@]} ]; then
				echo "append of ${payloads[*]} printed" \
					"'$(tr '\n' ' ' <"$dir/out.$tag")'" >>"$dir/errors"
			fi
			paste -d' ' "$dir/out.$tag" <(printf '%s\n' "${payloads[@]}") \
				>>"$dir/ack.$tag"
			;;
		137) echo "${payloads[*]}" >>"$dir/killed.$tag" ;;
		*)
			echo "append of '${payloads[*]}' as $id exited $rc:" \
				"$(cat "$dir/err.$tag")" >>"$dir/errors"
			;;
		esac
	done
}

# killer DIR TAGS...: SIGKILL a running append every 50-250 ms.
killer() {
	local dir=$1 pid tag
	shift
	local tags=("$@")
	while [ ! -e "$dir/stop" ]; do
		sleep "0.$((RANDOM % 5 * 5 + 5))"
		tag=${tags[$((RANDOM % ${#tags[@]}))]}
		pid=$(ours_pid "$dir/pid.$tag") || continue
		kill -KILL "$pid" 2>/dev/null && echo "$pid" >>"$dir/kills"
	done
}

stress_test() {
	local dir=$W/stress p pids=() tags=() kpid t0 t1 n head bad dups el
	local acked killed kept nrec f
	mkdir -p "$dir"
	: >"$dir/kills"
	t0=$(now_ms)
	for id in a b c; do
		for p in 1 2; do
			bg_start appender "$id" "$p" "$dir"
			pids+=("$BG_PID")
			tags+=("$id-$p")
		done
	done
	bg_start killer "$dir" "${tags[@]}"
	kpid=$BG_PID
	# STRESS_S seconds, longer (up to STRESS_MAX_S) on a slow machine
	# until STRESS_MIN records are acknowledged.
	while :; do
		sleep 1
		el=$(($(now_ms) - t0))
		n=$(cat "$dir"/ack.* 2>/dev/null | wc -l)
		[ "$el" -ge $((STRESS_S * 1000)) ] &&
			{ [ "$n" -ge "$STRESS_MIN" ] ||
				[ "$el" -ge $((STRESS_MAX_S * 1000)) ]; } && break
		none_alive "${pids[@]}" && break
	done
	touch "$dir/stop"
	if ! wait_for 60 none_alive "${pids[@]}"; then
		echo "appenders still running 60 s after the stop" >>"$dir/errors"
	fi
	for p in "${pids[@]}"; do
		kill_tree "$p" KILL
		wait "$p" 2>/dev/null
	done
	wait "$kpid" 2>/dev/null
	t1=$(now_ms)

	cat "$dir"/ack.* 2>/dev/null | sort -n >"$dir/acked"
	cat "$dir"/try.* >"$dir/tries"
	cat "$dir"/killed.* 2>/dev/null >"$dir/killed"
	node_cohort a log --json >"$dir/log.json" 2>"$dir/log.err"
	jq -r '"\(.rev) \(.data)"' <"$dir/log.json" >"$dir/log"
	head=$(head_of b)
	nrec=$(wc -l <"$dir/log")
	acked=$(wc -l <"$dir/acked")
	killed=$(wc -l <"$dir/killed")
	note "stress: $nrec records in $(wc -l <"$dir/tries") attempted commits," \
		"$acked acknowledged records, $(wc -l <"$dir/kills") kills" \
		"($killed appends died), $(((t1 - t0) / 1000)) s"

	if [ -s "$dir/errors" ]; then
		tap_fail "stress: no append failed except by SIGKILL" \
			"$(head -n 20 "$dir/errors")"
	else
		tap_ok "stress: no append failed except by SIGKILL"
	fi
	if [ "$nrec" -ge 1000 ] && [ "$killed" -ge 5 ]; then
		tap_ok "stress: thousands of records under fire ($nrec records, $killed appends killed)"
	else
		tap_fail "stress: thousands of records under fire" \
			"$nrec records, $killed appends killed: too little exercised"
	fi
	bad=$(awk '$1 != NR { printf "line %d has revision %s\n", NR, $1; exit }' \
		"$dir/log")
	if [ -z "$bad" ] && [ "$head" = "$nrec" ] && [ "$nrec" -gt 0 ]; then
		tap_ok "stress: revisions are 1..head ($head) without a gap"
	else
		tap_fail "stress: revisions are 1..head without a gap" \
			"head $head, $nrec records" "$bad" "$(head -c 300 "$dir/log.err")"
	fi
	bad=$(awk 'NR == FNR { got[$1] = $2; next }
		got[$1] != $2 {
			printf "acknowledged %s at revision %s; the log has \"%s\"\n",
			       $2, $1, got[$1]
		}' "$dir/log" "$dir/acked" | head -n 10)
	dups=$(cut -d' ' -f1 "$dir/acked" | uniq -d | head -n 5)
	if [ -z "$bad" ] && [ -z "$dups" ] && [ "$acked" -gt 0 ]; then
		tap_ok "stress: every acknowledged revision ($acked) holds its payload"
	else
		tap_fail "stress: every acknowledged revision holds its payload" \
			"$bad" "${dups:+revisions acknowledged twice: $dups}"
	fi
	dups=$(cut -d' ' -f2 "$dir/log" | sort | uniq -d | head -n 10)
	if [ -z "$dups" ]; then
		tap_ok "stress: no payload appears twice"
	else
		tap_fail "stress: no payload appears twice" "$dups"
	fi
	# Every commit tried: absent, or whole at consecutive revisions.
	bad=$(awk 'NR == FNR { rev[$2] = $1; next }
		{
			present = 0
			for (i = 1; i <= NF; i++)
				if ($i in rev) present++
			if (present == 0) next
			if (present != NF) {
				printf "commit \"%s\": only %d of %d records\n", $0,
				       present, NF
				next
			}
			for (i = 2; i <= NF; i++)
				if (rev[$i] != rev[$1] + i - 1) {
					printf "commit \"%s\": %s at %d, %s at %d\n",
					       $0, $1, rev[$1], $i, rev[$i]
					break
				}
			if (NF > 1) whole++
		}
		END { if (whole < 20) printf "only %d multi-record commits\n", whole }' \
		"$dir/log" "$dir/tries" | head -n 10)
	if [ -z "$bad" ]; then
		tap_ok "stress: every commit appears whole, in order, or not at all"
	else
		tap_fail "stress: every commit appears whole, in order, or not at all" \
			"$bad"
	fi
	bad=$(awk 'NR == FNR { for (i = 1; i <= NF; i++) tried[$i] = 1; next }
		!($2 in tried) { printf "revision %s: \"%s\" was never appended\n",
				 $1, $2 }' "$dir/tries" "$dir/log" | head -n 10)
	kept=$(awk 'NR == FNR { rev[$2] = $1; next } ($1 in rev) { n++ }
		END { print n + 0 }' "$dir/log" "$dir/killed")
	if [ -z "$bad" ]; then
		tap_ok "stress: nothing appears that nobody appended ($kept of $killed killed commits were kept whole)"
	else
		tap_fail "stress: nothing appears that nobody appended" "$bad"
	fi
	# Every node replays the same sequence, each through its own view.
	for n in a b c; do
		node_cohort "$n" sync --json >"$dir/sync.$n" 2>"$dir/sync.$n.err"
		f=$?
		if [ "$f" -eq 0 ] && cmp -s "$dir/sync.$n" "$dir/log.json"; then
			tap_ok "stress: 'sync' on node $n (view $(node_viewno "$n")) prints the log exactly"
		else
			tap_fail "stress: 'sync' on node $n prints the log exactly" \
				"exit $f: $(head -c 300 "$dir/sync.$n.err")" \
				"$(diff "$dir/log.json" "$dir/sync.$n" | head -n 6)"
		fi
	done
	for n in a b c; do
		f=$(node_cohort "$n" sync --json | wc -l)
		[ "$(revision_of "$n" "$n")" = "$head" ] && [ "$f" -eq 0 ] ||
			f="revision $(revision_of "$n" "$n"), head $head, second sync printed $f"
		[ "$f" = 0 ] || break
	done
	tap_is "stress: every node is at the head and a second sync prints nothing" \
		"$f" 0
}

# ---- 2. a node that was away catches up ------------------------------------

# append_some ID N TAG: N records as node ID (every fourth a 3-line commit).
append_some() {
	local id=$1 n=$2 tag=$3 i
	for ((i = 1; i <= n; i++)); do
		if [ $((i % 4)) -eq 0 ]; then
			printf '%s\n' "$tag-$i-0" "$tag-$i-1" "$tag-$i-2" |
				node_cohort "$id" append --lines >/dev/null || return 1
		else
			node_cohort "$id" append "$tag-$i" >/dev/null || return 1
		fi
	done
}

catch_up_test() {
	local dir=$W/catchup wpid rc start end pa pb okA okB
	mkdir -p "$dir"
	start=$(revision_of c c)
	bg_start "$COHORT" --root "$(node_root c)" --node c --state "$(node_state c)" \
		watch --json --poll-ms 100 >"$dir/watch.c" 2>"$dir/watch.c.err"
	wpid=$BG_PID
	append_some a 5 away-pre || tap_fail "catch-up: appends before the stop"
	wait_for 10 eval '[ "$(wc -l <"$dir/watch.c")" -ge 7 ]'
	kill -TERM "$wpid"
	wait "$wpid"
	rc=$?
	# Node c's mount goes away while a and b append.
	view_unmount "$T/v3" || tap_bail "catch-up: unmount view 3"
	bg_start append_some a 40 away-a
	pa=$BG_PID
	bg_start append_some b 40 away-b
	pb=$BG_PID
	wait "$pa"
	okA=$?
	wait "$pb"
	okB=$?
	view_mount 3 || tap_bail "catch-up: mount view 3 again"
	end=$(head_of a)
	node_cohort c sync --json >"$dir/sync.c" 2>"$dir/sync.c.err"
	node_cohort a log --from $((start + 1)) --json >"$dir/log"
	cat "$dir/watch.c" "$dir/sync.c" >"$dir/seen"
	if [ "$rc" -eq 0 ] && [ "$okA" -eq 0 ] && [ "$okB" -eq 0 ] &&
		cmp -s "$dir/seen" "$dir/log" &&
		[ "$(wc -l <"$dir/log")" -eq $((end - start)) ]; then
		tap_ok "catch-up: a node back after missing $(wc -l <"$dir/sync.c") records replays them in order (watch + sync = log)"
	else
		tap_fail "catch-up: a node back after its absence replays what it missed, in order" \
			"watch exit $rc, appenders $okA $okB, head $end, start $start" \
			"$(cat "$dir/watch.c.err" "$dir/sync.c.err" | head -n 5)" \
			"$(diff "$dir/log" "$dir/seen" | head -n 8)"
	fi
	tap_is "catch-up: node c's revision is the head" "$(revision_of a c)" "$end"
}

# ---- 3. a failing hook -----------------------------------------------------

hook_test() {
	local dir=$W/hook base rc err hook got want
	mkdir -p "$dir"
	node_cohort b sync >/dev/null
	base=$(revision_of b b)
	node_cohort a append --type t1 "h-1" >/dev/null &&
		printf '%s\n' h-2 poison h-4 | node_cohort c append --lines \
			--type t2 >/dev/null &&
		node_cohort a append "h-5" >/dev/null ||
		tap_fail "hook: appends"
	# The hook fails on "poison" until 'cured' exists.
	hook='read -r p; if [ "$p" = poison ] && [ ! -e "'$dir'/cured" ]; then exit 3; fi
	echo "$COHORT_REV $COHORT_TYPE $COHORT_ORIGIN $p" >>"'$dir'/applied"
	case "$COHORT_TIME" in 20[0-9][0-9]-*T*Z) ;; *) echo "bad time $COHORT_TIME" >>"'$dir'/applied" ;; esac'
	node_cohort b sync --exec "$hook" >"$dir/out1" 2>"$dir/err1"
	rc=$?
	err=$(cat "$dir/err1")
	want="$((base + 1)) t1 a h-1
$((base + 2)) t2 c h-2"
	got=$(cat "$dir/applied" 2>/dev/null)
	if [ "$rc" -eq 1 ] && [ "$got" = "$want" ] &&
		[[ "$err" == "cohort: "*"$((base + 3))"* ]] &&
		[ "$(wc -l <<<"$err")" -eq 1 ]; then
		tap_ok "hook: sync --exec stops with exit 1 at the failing record"
	else
		tap_fail "hook: sync --exec stops with exit 1 at the failing record" \
			"exit $rc, stderr: $err" "applied:" "$got" "want:" "$want"
	fi
	tap_is "hook: the revision stays at the record before" \
		"$(revision_of b b)" "$((base + 2))"
	node_cohort b sync --exec "$hook" >/dev/null 2>&1
	rc=$?
	got=$(cat "$dir/applied" 2>/dev/null)
	if [ "$rc" -eq 1 ] && [ "$got" = "$want" ] &&
		[ "$(revision_of b b)" = "$((base + 2))" ]; then
		tap_ok "hook: a second sync fails on the same record, running nothing else"
	else
		tap_fail "hook: a second sync fails on the same record, running nothing else" \
			"exit $rc, revision $(revision_of b b)" "$got"
	fi
	touch "$dir/cured"
	node_cohort b sync --exec "$hook" >/dev/null 2>"$dir/err3"
	rc=$?
	want="$want
$((base + 3)) t2 c poison
$((base + 4)) t2 c h-4
$((base + 5)) data a h-5"
	got=$(cat "$dir/applied")
	if [ "$rc" -eq 0 ] && [ "$got" = "$want" ] &&
		[ "$(revision_of b b)" = "$((base + 5))" ]; then
		tap_ok "hook: once cured, sync resumes at exactly the failed record"
	else
		tap_fail "hook: once cured, sync resumes at exactly the failed record" \
			"exit $rc: $(cat "$dir/err3")" "got:" "$got" "want:" "$want"
	fi

	# A sync killed while its (slow) hook has not read the record yet:
	# the hook, in its own process group, outlives it and must still read
	# the whole record, and COHORT_SIZE says how long it is.
	head -c 300000 /dev/urandom | base64 -w0 >"$dir/big"
	node_cohort a append - <"$dir/big" >/dev/null || tap_fail "hook: big append"
	node_cohort b sync --exec 'sleep 1; cat >"'$dir'/big.got"; echo "$COHORT_SIZE" >"'$dir'/big.size"' \
		>/dev/null 2>&1 &
	local sp=$!
	sleep 0.3
	kill -KILL "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
	wait_for 10 test -s "$dir/big.size"
	if cmp -s "$dir/big" "$dir/big.got" &&
		[ "$(cat "$dir/big.size")" = "$(wc -c <"$dir/big")" ]; then
		tap_ok "hook: a hook that outlives its killed sync reads the whole record (COHORT_SIZE $(cat "$dir/big.size"))"
	else
		tap_fail "hook: a hook that outlives its killed sync reads the whole record" \
			"got $(wc -c <"$dir/big.got" 2>/dev/null) bytes, COHORT_SIZE '$(cat "$dir/big.size" 2>/dev/null)', want $(wc -c <"$dir/big")"
	fi
	node_cohort b sync >/dev/null
}

# ---- 3b. batches: sync --exec-batch ----------------------------------------

batch_test() {
	local dir=$W/batch base rc rc2 err got want hook i
	mkdir -p "$dir"
	node_cohort b sync >/dev/null
	base=$(revision_of b b)
	for i in 1 2 3 4 5; do
		echo "bt-$i"
	done | node_cohort a append --lines --type bt >/dev/null ||
		tap_fail "batch: appends"
	# The hook logs its environment and the payloads of its batch; it
	# fails on a batch holding "bt-4" until 'cured' exists.
	hook='in=$(cat); n=$(printf "%s\n" "$in" | wc -c)
	echo "$COHORT_FIRST_REV $COHORT_LAST_REV $COHORT_COUNT $([ "$n" = "$COHORT_SIZE" ] && echo size-ok)" >>"'$dir'/batches"
	case "$in" in *\"bt-4\"*) [ -e "'$dir'/cured" ] || exit 5 ;; esac
	printf "%s\n" "$in" | jq -r .data >>"'$dir'/applied"'
	node_cohort b sync --batch 2 --exec-batch "$hook" >"$dir/out1" 2>"$dir/err1"
	rc=$?
	err=$(cat "$dir/err1")
	want="cohort: batch hook failed on revisions $((base + 3))-$((base + 4)) (exit status 5); the node stays at revision $((base + 2))"
	if [ "$rc" -eq 1 ] && [ "$err" = "$want" ] &&
		[ "$(tr '\n' ' ' <"$dir/applied")" = "bt-1 bt-2 " ]; then
		tap_ok "batch: sync --exec-batch stops with exit 1 at the failing batch"
	else
		tap_fail "batch: sync --exec-batch stops with exit 1 at the failing batch" \
			"exit $rc, stderr: $err" "want: $want" "applied: $(cat "$dir/applied" 2>/dev/null)"
	fi
	tap_is "batch: the revision stays before the failed batch" \
		"$(revision_of b b)" "$((base + 2))"
	touch "$dir/cured"
	node_cohort b sync --batch 2 --exec-batch "$hook" >/dev/null 2>"$dir/err2"
	rc=$?
	want="$((base + 1)) $((base + 2)) 2 size-ok
$((base + 3)) $((base + 4)) 2 size-ok
$((base + 3)) $((base + 4)) 2 size-ok
$((base + 5)) $((base + 5)) 1 size-ok"
	got=$(cat "$dir/batches")
	if [ "$rc" -eq 0 ] && [ "$got" = "$want" ] &&
		[ "$(tr '\n' ' ' <"$dir/applied")" = "bt-1 bt-2 bt-3 bt-4 bt-5 " ] &&
		[ "$(revision_of b b)" = "$((base + 5))" ]; then
		tap_ok "batch: once cured, the failed batch runs again whole, then the rest (COHORT_FIRST_REV, _LAST_REV, _COUNT, _SIZE)"
	else
		tap_fail "batch: once cured, the failed batch runs again whole, then the rest" \
			"exit $rc: $(cat "$dir/err2")" "batches:" "$got" "want:" "$want" \
			"applied: $(cat "$dir/applied")"
	fi
	node_cohort b sync --exec true --exec-batch true >/dev/null 2>&1
	rc=$?
	node_cohort b sync --batch 0 >/dev/null 2>&1
	rc2=$?
	if [ "$rc" -eq 2 ] && [ "$rc2" -eq 2 ]; then
		tap_ok "batch: --exec with --exec-batch, and --batch 0, are usage errors"
	else
		tap_fail "batch: --exec with --exec-batch, and --batch 0, are usage errors" \
			"exit $rc and $rc2"
	fi
}

# ---- 4. watch latency ------------------------------------------------------

# stamp: prefix each line of stdin with the time it arrived (microseconds).
stamp() {
	local line
	while IFS= read -r line; do
		printf '%s %s\n' "$(now_us)" "$line"
	done
}

# start_watch ID DIR POLL_MS: 'watch --json' as node ID into DIR/stamped
# (each line with its arrival time); its pid in WATCH_PID.
WATCH_PID=""
start_watch() {
	local id=$1 dir=$2 poll=$3
	mkdir -p "$dir"
	rm -f "$dir/fifo"
	mkfifo "$dir/fifo"
	# Not bg_start: the redirection must happen in the background process
	# (opening a FIFO blocks until its other end is opened).
	stamp <"$dir/fifo" >"$dir/stamped" &
	CLUSTER_PIDS+=("$!")
	bg_start "$COHORT" --root "$(node_root "$id")" --node "$id" \
		--state "$(node_state "$id")" watch --json --poll-ms "$poll" \
		>"$dir/fifo" 2>"$dir/watch.err"
	WATCH_PID=$BG_PID
}

# latency_test WATCHER APPENDER POLL_MS LIMIT_MS WHAT: five commits by
# APPENDER, each must reach WATCHER's watch within LIMIT_MS of the append
# returning, in order.  Leaves the watcher running (WATCH_PID).
latency_test() {
	local watcher=$1 appender=$2 poll=$3 limit=$4 what=$5
	local dir=$W/lat-$watcher-$appender i rev t_ack t_arr worst=0 bad="" h
	local revs=()
	node_cohort "$watcher" sync >/dev/null
	start_watch "$watcher" "$dir" "$poll"
	sleep 0.5 # let it finish its first sync and start waiting
	: >"$dir/acks"
	for i in 1 2 3 4 5; do
		rev=$(node_cohort "$appender" append "lat-$watcher-$i")
		t_ack=$(now_us)
		echo "$rev $t_ack" >>"$dir/acks"
		revs+=("$rev")
		if ! wait_for 10 grep -q "\"rev\":$rev," "$dir/stamped"; then
			bad="revision $rev never arrived"
			break
		fi
		t_arr=$(grep "\"rev\":$rev," "$dir/stamped" | cut -d' ' -f1)
		h=$(((t_arr - t_ack) / 1000))
		[ "$h" -gt "$worst" ] && worst=$h
		[ "$h" -le "$limit" ] ||
			bad="$bad revision $rev arrived after $h ms;"
		sleep "0.$((RANDOM % 5 + 2))"
	done
	if [ -z "$bad" ]; then
		tap_ok "watch: $what: each commit arrives within $limit ms (worst $worst ms, poll $poll ms)"
	else
		tap_fail "watch: $what: each commit arrives within $limit ms (poll $poll ms)" \
			"$bad" "$(cat "$dir/watch.err")"
	fi
	# In order, exactly the commits, as the log has them.
	got=$(cut -d' ' -f2- "$dir/stamped")
	want=$(node_cohort "$watcher" log --from "${revs[0]}" --json)
	tap_is "watch: $what: records arrive in order, each once" "$got" "$want"
}

# stop_watch SIG WHAT: the watcher WATCH_PID must still be running; send
# SIG; it must exit 0.
stop_watch() {
	local sig=$1 what=$2 rc dir=$3
	if ! kill -0 "$WATCH_PID" 2>/dev/null; then
		wait "$WATCH_PID"
		tap_fail "watch: $what: runs until SIG$sig, then exits 0" \
			"it had already ended (exit $?): $(cat "$dir/watch.err")"
		return
	fi
	kill -s "$sig" "$WATCH_PID"
	wait "$WATCH_PID"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		tap_ok "watch: $what: runs until SIG$sig, then exits 0"
	else
		tap_fail "watch: $what: runs until SIG$sig, then exits 0" \
			"exit $rc: $(cat "$dir/watch.err")"
	fi
}

watch_tests() {
	local i rev got err
	# Across views: only polling can see it (NFS fact 1).
	latency_test b a 200 1500 "commit on view 1, watcher on view 2"
	stop_watch TERM "watcher on view 2" "$W/lat-b-a"

	# Views that cache attributes and names for 2 s.
	view_mount 4 "attr_timeout=2,entry_timeout=2" ||
		tap_bail "bindfs view v4 with attr_timeout=2"
	CLUSTER_VIEWS+=("$T/v4")
	view_mount 5 "attr_timeout=2,entry_timeout=2" ||
		tap_bail "bindfs view v5 with attr_timeout=2"
	CLUSTER_VIEWS+=("$T/v5")
	node_bind d 4
	node_bind e 5
	node_cohort d join >/dev/null || tap_fail "join as d on view 4"
	node_cohort e join >/dev/null || tap_fail "join as e on view 5"
	latency_test d a 200 1500 "attr_timeout=2 view, commit from a fresh view"
	stop_watch INT "watcher on an attr_timeout=2 view" "$W/lat-d-a"
	latency_test d e 200 1500 "watcher and appender on two attr_timeout=2 views"
	stop_watch TERM "watcher and appender on attr_timeout=2 views" "$W/lat-d-e"
	# A reader on a caching view reads a record committed a moment ago
	# through another view (its cached size of the segment is stale).
	err=""
	for i in 1 2 3; do
		node_cohort d log >/dev/null 2>&1 # cache the segment's size
		rev=$(node_cohort a append "cached-$i")
		got=$(node_cohort d log --from "$rev" --json 2>&1)
		[ "$(jq -r .data <<<"$got" 2>/dev/null)" = "cached-$i" ] ||
			err="$err revision $rev read on view 4 right after its commit on view 1: $got;"
	done
	if [ -z "$err" ]; then
		tap_ok "watch: 'log' on an attr_timeout=2 view reads a record committed a moment ago on another view"
	else
		tap_fail "watch: 'log' on an attr_timeout=2 view reads a record committed a moment ago on another view" \
			"$err"
	fi

	# The same view: inotify wakes it long before the 5 s poll.
	latency_test x a 5000 1000 "same view (inotify), poll 5 s"
	stop_watch TERM "same-view watcher" "$W/lat-x-a"
}

# A slow hook: SIGTERM during the first of three pending records lets that
# record finish and stops there, exit 0.
watch_stop_test() {
	local dir=$W/slowhook pid rc base got
	mkdir -p "$dir"
	node_cohort c sync >/dev/null
	base=$(revision_of c c)
	printf '%s\n' slow-1 slow-2 slow-3 | node_cohort a append --lines >/dev/null
	bg_start "$COHORT" --root "$(node_root c)" --node c --state "$(node_state c)" \
		watch --poll-ms 100 --exec \
		'echo "start $COHORT_REV" >>"'$dir'/log"; sleep 1; echo "done $COHORT_REV" >>"'$dir'/log"' \
		>"$dir/out" 2>"$dir/err"
	pid=$BG_PID
	wait_for 10 grep -qs "^start" "$dir/log"
	kill -TERM "$pid"
	wait_for 10 eval '! kill -0 $pid 2>/dev/null'
	wait "$pid"
	rc=$?
	got=$(tr '\n' ' ' <"$dir/log")
	if [ "$rc" -eq 0 ] && [ "$got" = "start $((base + 1)) done $((base + 1)) " ] &&
		[ "$(revision_of c c)" = "$((base + 1))" ]; then
		tap_ok "watch: SIGTERM during a hook: that record finishes, then exit 0"
	else
		tap_fail "watch: SIGTERM during a hook: that record finishes, then exit 0" \
			"exit $rc, hook log: $got, revision $(revision_of c c) (base $base)" \
			"$(cat "$dir/err")"
	fi
	node_cohort c sync >/dev/null
}

# ---- 6. appends killed inside ----------------------------------------------

kill_test() {
	local spec=$1 dir=$W/kill-$2 rc head0 head1 rev t0 dt tail_log want
	mkdir -p "$dir"
	head0=$(head_of b)
	log_lines b >"$dir/before"
	printf '%s\n' "k$2-0" "k$2-1" "k$2-2" >"$dir/in"
	COHORT_FAULT=$spec node_cohort a append --lines <"$dir/in" \
		>"$dir/out" 2>"$dir/err"
	rc=$?
	log_lines b >"$dir/after-kill"
	head1=$(head_of b)
	if [ "$rc" -eq 137 ] && [ "$head1" = "$head0" ] &&
		cmp -s "$dir/before" "$dir/after-kill"; then
		tap_ok "kill $spec: the append died and left nothing visible"
	else
		tap_fail "kill $spec: the append died and left nothing visible" \
			"exit $rc (want 137: SIGKILL), head $head0 -> $head1" \
			"$(cat "$dir/out" "$dir/err")" \
			"$(diff "$dir/before" "$dir/after-kill" | head -n 5)"
	fi
	t0=$(now_ms)
	rev=$(node_cohort b append "after-$2" 2>"$dir/err2")
	rc=$?
	dt=$(($(now_ms) - t0))
	# What follows the old head: maybe the killed commit, whole, then ours.
	node_cohort b log --from $((head0 + 1)) --json |
		jq -r .data | tr '\n' ' ' >"$dir/tail"
	tail_log=$(cat "$dir/tail")
	want="after-$2 "
	if [ "$3" = may-keep ] && [ "$tail_log" = "k$2-0 k$2-1 k$2-2 after-$2 " ]; then
		want=$tail_log
		note "kill $spec: the killed commit was written whole before the kill and kept"
	fi
	if [ "$rc" -eq 0 ] && [ "$tail_log" = "$want" ] &&
		[ "$rev" = "$(head_of c)" ] && [ "$dt" -lt 10000 ]; then
		tap_ok "kill $spec: the next append on view 2 succeeds with the next revision ($rev, $dt ms)"
	else
		tap_fail "kill $spec: the next append on view 2 succeeds with the next revision" \
			"exit $rc after $dt ms: $(cat "$dir/err2")" \
			"old head $head0, printed '$rev', head $(head_of c)" \
			"records after the old head: $tail_log"
	fi
}

kill_tests() {
	# Before any record is written: while taking the lock (the lease's
	# temporary file, then its link), and holding it, reading the head
	# (reads 1-2 are cohort.id).
	kill_test write:1:kill w1 strict
	kill_test link:1:kill l1 strict
	kill_test read:3:kill r3 strict
	# Records written, not yet synced: a whole commit may be kept by the
	# next writer (it cannot tell), never a part of one.
	kill_test fsync:1:kill f1 may-keep
	# The second write: the records, or a lease refresh before them.
	kill_test write:2:kill w2 may-keep
	# The first rename of an append is the lock release (the lease is
	# moved aside), after the commit point: killed there, the append's
	# record is committed, exactly once, and the next append on another
	# view gets past the dead holder's lease.
	local out rc before n
	before=$(head_of b)
	out=$(COHORT_FAULT=rename:1:kill node_cohort a append "rename-kill" 2>&1)
	rc=$?
	n=$(node_cohort b log --from "$((before + 1))" --json | jq -r .data | grep -c '^rename-kill$')
	if [ "$rc" -eq 137 ] && [ "$(head_of b)" -eq $((before + 1)) ] && [ "$n" -eq 1 ]; then
		tap_ok "kill rename:1:kill: killed at the release, after its commit: the record is there once"
	else
		tap_fail "kill rename:1:kill: killed at the release, after its commit: the record is there once" \
			"exit $rc, head $(head_of b) (was $before), copies $n: $out"
	fi
	out=$(node_cohort b append "after-rename-kill" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && [ "$out" -eq $((before + 2)) ]; then
		tap_ok "kill rename:1:kill: the next append on view 2 gets past the dead holder ($out)"
	else
		tap_fail "kill rename:1:kill: the next append on view 2 gets past the dead holder" \
			"exit $rc: $out"
	fi
}

for part in stress_test catch_up_test hook_test batch_test watch_tests \
	watch_stop_test kill_tests; do
	t_part=$(now_ms)
	"$part"
	note "$part: $((($(now_ms) - t_part) / 1000)) s"
done
exit 0
