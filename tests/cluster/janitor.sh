#!/usr/bin/env bash
# tests/cluster/janitor.sh - the janitor across bindfs views.
#
# 1. Three nodes, one far behind: 'janitor --json' stops at its revision
#    (limit = its revision, held_by names it, nothing at or after its next
#    record goes, 'log --from' its next record still works); once it has
#    caught up (and its sync printed every record after its revision) the
#    next run goes further, down to the head segment.
# 2. Retirement and bootstrap: nodes a, b, c run 'cohort node' with a hook
#    that appends each payload to a state file; c is stopped; a publishes
#    its state with 'snapshot put'; the journal moves on; a janitor with
#    '--retire-after 2s' retires c (status says "retired") and removes what
#    the live nodes and the snapshot no longer need.  c comes back: plain
#    'sync' refuses (exit 1, says to bootstrap); 'sync --exec ...
#    --exec-snapshot "cat > STATE"' bootstraps: its state file ends equal to
#    a's (the snapshot + the records after the snapshot's revision).
# 3. Janitors started at once from three views: exactly one works, two
#    print "another janitor is running", all exit 0.
# 4. A janitor loop (as node a) while appenders (b, c) and syncers (a, b, c)
#    run on the views and a killer SIGKILLs appends, syncs and janitors at
#    random: no append, sync or janitor fails other than by SIGKILL; each
#    node's sync output across the run (plus a final sync) holds every
#    revision 1..head (none skipped, none behind the tail), with the same
#    payload on every node, and every acknowledged append at its revision;
#    the journal was trimmed during the run; a last janitor, with every
#    node at the head, leaves only the head segment (nothing leaked by a
#    janitor killed while it removed files).
# 5. A long run: LONG_APPENDS (20000) records in '--lines' batches on node
#    b, nodes b and c syncing in loops, a janitor every second: du of journal/
#    never exceeds LONG_BOUND_SEGS (5) segment sizes while far more than
#    that is appended, and ends at most two segments once all caught up.
#
# BUILD=build bash tests/cluster/janitor.sh
# JANITOR_CHAOS_S (default 20): seconds of 4.  LONG_APPENDS (default 20000).
# JANITOR_TESTS (default "behind boot race chaos long"): which parts to run.
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
W=$T/work
CHAOS_S=${JANITOR_CHAOS_S:-20}
LONG_APPENDS=${LONG_APPENDS:-20000}
LONG_BATCH=200
LONG_SEG=262144
LONG_BOUND_SEGS=5
PAD=$(printf '%060d' 0)

# new_root NAME CONF NODES...: init root NAME with cohort.conf CONF, join
# the nodes.
new_root() {
	local name=$1 conf=$2 n
	shift 2
	use_root "$name"
	write_conf "$conf"
	node_cohort a init >"$W/init.$name" 2>&1 ||
		tap_bail "cohort init of root '$name'" "$(cat "$W/init.$name")"
	for n in "$@"; do
		node_cohort "$n" join >"$W/join.$name.$n" 2>&1 ||
			tap_bail "join $n ($name)" "$(cat "$W/join.$name.$n")"
	done
}

status_json() {
	node_cohort "$1" status --json
}

head_of() {
	status_json "$1" | jq -r .head
}

tail_of() {
	status_json "$1" | jq -r .tail
}

# revision_of AS ID
revision_of() {
	status_json "$1" | jq -r --arg n "$2" '.nodes[] | select(.id == $n) | .revision'
}

# state_of AS ID
state_of() {
	status_json "$1" | jq -r --arg n "$2" '.nodes[] | select(.id == $n) | .state'
}

# Segment files of the current root (through the shared folder).
seg_count() {
	find "$ROOT_SHARED/journal" -maxdepth 1 -name 'seg-*' | wc -l
}

# append_batches ID COUNT SIZE TAG: COUNT records in '--lines' commits of
# SIZE, payloads TAG-<n> padded to 60 bytes.
append_batches() {
	local id=$1 count=$2 size=$3 tag=$4 i=0 k
	while [ "$i" -lt "$count" ]; do
		k=$size
		[ $((count - i)) -lt "$k" ] && k=$((count - i))
		seq $((i + 1)) $((i + k)) |
			awk -v t="$tag" '{ printf "%s-%06d-%s\n", t, $1, "pppppppppppppppppppppppppppppppppppppppppppppp" }' |
			node_cohort "$id" append --lines >/dev/null ||
			return 1
		i=$((i + k))
	done
}

# revs FILE: the revisions of 'sync --json' / 'log --json' output, one a line.
revs() {
	jq -R -r 'fromjson? | .rev' <"$1"
}

# contiguous FROM TO FILE: FILE (numbers, one a line) holds exactly FROM..TO
# in order; prints what is wrong.
contiguous() {
	awk -v from="$1" -v to="$2" '
		{ if ($1 != from + NR - 1) { printf "line %d holds %s, expected %d\n", NR, $1, from + NR - 1; bad = 1; exit } }
		END { if (!bad && NR != to - from + 1) printf "%d lines, expected %d (%d..%d)\n", NR, to - from + 1, from, to }' "$3"
}

# ---- 1. one node far behind ------------------------------------------------

behind_test() {
	local d=$W/behind j limit held tail1 tail2 head out bad rc
	mkdir -p "$d"
	new_root root '[journal]\nsegment_size = 4k\n' a b c
	append_batches a 100 20 early || tap_bail "append (behind)"
	node_cohort c sync --json >"$d/c1" 2>"$d/c1.err" ||
		tap_bail "sync c (behind)" "$(cat "$d/c1.err")"
	append_batches a 400 20 late || tap_bail "append (behind)"
	node_cohort a sync >/dev/null 2>&1 && node_cohort b sync >/dev/null 2>&1 ||
		tap_bail "sync a, b (behind)"
	head=$(head_of a)
	tap_is "behind: c stopped at revision 100, a and b at the head" \
		"$(revision_of a c) $(revision_of a a) $(revision_of a b)" \
		"100 $head $head"

	j=$(node_cohort a janitor --json 2>"$d/j1.err")
	rc=$?
	tap_is "behind: the janitor exits 0 and is not busy" \
		"$rc:$(jq -r .busy <<<"$j")" "0:false"
	limit=$(jq -r .limit <<<"$j")
	held=$(jq -r .held_by <<<"$j")
	tail1=$(jq -r .tail_after <<<"$j")
	tap_is "behind: cleanup stops at c's revision (limit, held_by)" \
		"$limit $held" "100 c"
	if [ "$tail1" -gt 1 ] && [ "$tail1" -le 101 ] &&
		[ "$(jq '[.segments[] | select(.last > 100)] | length' <<<"$j")" = 0 ] &&
		[ "$(jq '.segments | length' <<<"$j")" -gt 0 ]; then
		tap_ok "behind: segments up to revision 100 removed, none after (tail $tail1)"
	else
		tap_fail "behind: segments up to revision 100 removed, none after" "$j"
	fi
	tap_is "behind: status shows the new tail" "$(tail_of b)" "$tail1"
	out=$(node_cohort b log --from 101 --json | revs /dev/stdin | head -n 1)
	tap_is "behind: c's next record (101) is still readable" "$out" 101
	if node_cohort b log --from 1 >/dev/null 2>"$d/log1.err"; then
		tap_fail "behind: 'log --from 1' below the tail fails"
	else
		tap_ok "behind: 'log --from 1' below the tail fails ($(head -c 120 "$d/log1.err"))"
	fi

	node_cohort c sync --json >"$d/c2" 2>"$d/c2.err"
	tap_is "behind: c catches up (sync exits 0)" "$?" 0
	revs "$d/c2" >"$d/c2.revs"
	bad=$(contiguous 101 "$head" "$d/c2.revs")
	tap_is "behind: c's sync printed every record 101..$head" "$bad" ""

	j=$(node_cohort b janitor --json 2>"$d/j2.err")
	tail2=$(jq -r .tail_after <<<"$j")
	if [ "$(jq -r .limit <<<"$j")" = "$head" ] && [ "$tail2" -gt "$tail1" ] &&
		[ "$(jq -r .held_by <<<"$j")" = null ]; then
		tap_ok "behind: once c caught up, cleanup goes further (tail $tail1 -> $tail2, limit $head)"
	else
		tap_fail "behind: once c caught up, cleanup goes further" "$j" \
			"$(cat "$d/j2.err")"
	fi
	tap_is "behind: only the head segment is left" "$(seg_count)" 1
	out=$(node_cohort a log --json | revs /dev/stdin >"$d/tail.revs"; contiguous "$tail2" "$head" "$d/tail.revs")
	tap_is "behind: the log reads $tail2..$head" "$out" ""
}

# ---- 2. retirement and bootstrap from the application snapshot -------------

# The hook: append the payload and a newline to W/boot.state.ID.
boot_node() {
	local id=$1
	bg_start "$COHORT" --root "$(node_root "$id")" --node "$id" \
		--state "$(node_state "$id")" node \
		--exec "cat >>'$W/boot.state.$id'; echo >>'$W/boot.state.$id'" \
		--poll-ms 100 >"$W/boot.node.$id" 2>&1
	eval "BOOT_PID_$id=\$BG_PID"
}

at_head() {
	local h
	h=$(head_of "$1") || return 1
	[ "$(revision_of "$1" "$2")" = "$h" ]
}

boot_test() {
	local d=$W/boot j pub head srev t_stop el out
	mkdir -p "$d"
	new_root boot '[journal]\nsegment_size = 4k\n[cluster]\nheartbeat_interval = 300ms\n' a b c
	: >"$W/boot.state.a" && : >"$W/boot.state.b" && : >"$W/boot.state.c"
	boot_node a
	boot_node b
	boot_node c
	append_batches a 100 20 boot1 || tap_bail "append (boot)"
	wait_for 30 at_head a a && wait_for 30 at_head a b && wait_for 30 at_head a c ||
		tap_bail "the three nodes apply the first records" \
			"$(status_json a)" "$(tail -n 5 "$W"/boot.node.*)"
	kill -TERM "$BOOT_PID_c"
	wait "$BOOT_PID_c"
	tap_is "boot: c's 'cohort node' stops on SIGTERM" "$?" 0
	t_stop=$(now_ms)

	append_batches a 200 20 boot2 || tap_bail "append (boot)"
	wait_for 30 at_head a a && wait_for 30 at_head a b ||
		tap_bail "a and b apply" "$(status_json a)"
	head=$(head_of a)
	out=$(node_cohort a snapshot put "$W/boot.state.a" 2>&1)
	pub=$(sed -n 's/^published snapshot at revision \([0-9]*\) .*/\1/p' <<<"$out")
	tap_is "boot: a publishes its state at its revision (the head)" "$pub" "$head"
	node_cohort b snapshot get >"$d/snap" 2>"$d/snap.rev"
	if cmp -s "$d/snap" "$W/boot.state.a" && [ "$(cat "$d/snap.rev")" = "$pub" ]; then
		tap_ok "boot: 'snapshot get' on b gives a's bytes, revision $pub on stderr"
	else
		tap_fail "boot: 'snapshot get' on b gives a's bytes and revision" \
			"stderr: $(cat "$d/snap.rev")"
	fi
	append_batches a 200 20 boot3 || tap_bail "append (boot)"
	wait_for 30 at_head a a && wait_for 30 at_head a b ||
		tap_bail "a and b apply" "$(status_json a)"
	head=$(head_of a)

	# c has been stopped for longer than 2 s.
	el=$(($(now_ms) - t_stop))
	[ "$el" -lt 2500 ] && sleep "$(awk -v m=$((2500 - el)) 'BEGIN { print m / 1000 }')"
	j=$(node_cohort a janitor --retire-after 2s --json 2>"$d/j.err")
	tap_is "boot: the janitor retires c, and only c" \
		"$(jq -c .retired <<<"$j")" '["c"]'
	if [ "$(jq -r .limit <<<"$j")" = "$pub" ] &&
		[ "$(jq -r .held_by <<<"$j")" = "the application snapshot" ] &&
		[ "$(jq -r .tail_after <<<"$j")" -gt 101 ] &&
		[ "$(jq -r .tail_after <<<"$j")" -le $((pub + 1)) ]; then
		tap_ok "boot: cleanup goes past c, up to the snapshot's revision $pub (tail $(jq -r .tail_after <<<"$j"))"
	else
		tap_fail "boot: cleanup goes past c, up to the snapshot's revision" \
			"$j" "$(cat "$d/j.err")"
	fi
	tap_is "boot: status shows c retired, a and b live" \
		"$(state_of b a) $(state_of b b) $(state_of b c)" "live live retired"

	node_cohort c sync >"$d/plain.out" 2>"$d/plain.err"
	if [ $? -eq 1 ] && grep -q "exec-snapshot" "$d/plain.err" &&
		grep -q "^cohort: " "$d/plain.err"; then
		tap_ok "boot: c's plain sync refuses, says to bootstrap: $(head -c 160 "$d/plain.err")"
	else
		tap_fail "boot: c's plain sync refuses and says to bootstrap" \
			"$(cat "$d/plain.err")"
	fi
	node_cohort c sync --exec "cat >>'$W/boot.state.c'; echo >>'$W/boot.state.c'" \
		--exec-snapshot "cat >'$W/boot.state.c'; echo \$COHORT_REV >'$d/hook.rev'" \
		>"$d/boot.out" 2>"$d/boot.err"
	tap_is "boot: c's 'sync --exec-snapshot' exits 0" "$?" 0
	grep -q "bootstrapped" "$d/boot.err" &&
		tap_ok "boot: it says it bootstrapped: $(head -n 1 "$d/boot.err")" ||
		tap_fail "boot: it says it bootstrapped" "$(cat "$d/boot.err")"
	tap_is "boot: the snapshot hook saw COHORT_REV = the snapshot's revision" \
		"$(cat "$d/hook.rev" 2>/dev/null)" "$pub"
	tap_is "boot: c ends at the head" "$(revision_of a c)" "$head"
	srev=$(wc -l <"$W/boot.state.a")
	if cmp -s "$W/boot.state.c" "$W/boot.state.a" &&
		[ "$srev" = "$head" ]; then
		tap_ok "boot: c's state = snapshot + records after it = a's state ($srev records)"
	else
		tap_fail "boot: c's state = snapshot + records after it = a's state" \
			"$(wc -l "$W"/boot.state.*)" \
			"$(diff "$W/boot.state.a" "$W/boot.state.c" | head -n 5)"
	fi
	cmp -s "$W/boot.state.b" "$W/boot.state.a"
	tap_is "boot: b's state (replayed) = a's state" "$?" 0
	node_cohort c join >/dev/null 2>&1
	out=$(state_of a c)
	if [ "$out" != retired ] && [ -n "$out" ]; then
		tap_ok "boot: c joins again and is no longer retired ($out)"
	else
		tap_fail "boot: c joins again and is no longer retired" "state '$out'"
	fi
	kill -TERM "$BOOT_PID_a" "$BOOT_PID_b"
	wait "$BOOT_PID_a" "$BOOT_PID_b"
}

# ---- 3. three janitors at once ----------------------------------------------

race_test() {
	local d=$W/race i n pids=() rc busy=0 worked=0 other=0 f
	mkdir -p "$d"
	new_root race '[journal]\nsegment_size = 4k\n' a b c
	# One commit per segment: 160 segments to remove keep a janitor
	# busy for a good while.
	for i in $(seq 1 160); do
		seq 1 60 | sed "s/^/race-$i-/" | node_cohort a append --lines >/dev/null ||
			tap_bail "append (race)"
	done
	for n in a b c; do
		node_cohort "$n" join --from-head >/dev/null 2>&1 ||
			tap_bail "join --from-head $n (race)"
	done
	for n in a b c; do
		(
			while [ ! -e "$d/go" ]; do sleep 0.005; done
			exec "$COHORT" --root "$(node_root "$n")" --node "$n" \
				--state "$(node_state "$n")" janitor
		) >"$d/out.$n" 2>"$d/err.$n" &
		pids+=($!)
	done
	sleep 0.3
	touch "$d/go"
	rc=0
	for i in "${pids[@]}"; do
		wait "$i" || rc=1
	done
	tap_is "race: all three janitors exit 0" "$rc" 0
	for n in a b c; do
		f=$d/out.$n
		if grep -q "another janitor is running" "$f"; then
			busy=$((busy + 1))
		elif grep -qE '^freed [1-9][0-9]* bytes' "$f"; then
			worked=$((worked + 1))
		else
			other=$((other + 1))
		fi
	done
	tap_is "race: exactly one works, two print 'another janitor is running'" \
		"worked $worked, busy $busy, other $other" "worked 1, busy 2, other 0"
	if [ "$busy" -ne 2 ] || [ "$worked" -ne 1 ]; then
		note "$(head -n 3 "$d"/out.* "$d"/err.*)"
	fi
	tap_is "race: the one that worked removed all but the head segment" \
		"$(seg_count)" 1
}

# ---- 4. janitor loop under fire ----------------------------------------------

# appender ID DIR: append as ID until DIR/stop; acked "REV PAYLOAD" lines
# go to DIR/ack.ID, failures other than SIGKILL to DIR/errors.
appender() {
	local id=$1 dir=$2 seq=0 k i rc pid payloads
	while [ ! -e "$dir/stop" ]; do
		seq=$((seq + 1))
		payloads=()
		k=1
		[ $((seq % 3)) -eq 0 ] && k=$((2 + seq % 4))
		# ~120-byte records: a 4k segment fills every ~30 records.
		for ((i = 0; i < k; i++)); do
			payloads+=("$id-$seq-$i-$PAD")
		done
		printf '%s\n' "${payloads[@]}" >"$dir/in.$id"
		"$COHORT" --root "$(node_root "$id")" --node "$id" \
			--state "$(node_state "$id")" append --lines <"$dir/in.$id" \
			>"$dir/out.$id" 2>"$dir/err.$id" &
		pid=$!
		echo "$pid" >"$dir/pid.append.$id"
		{ wait "$pid"; } 2>/dev/null
		rc=$?
		rm -f "$dir/pid.append.$id"
		case $rc in
		0) paste -d' ' "$dir/out.$id" "$dir/in.$id" >>"$dir/ack.$id" ;;
		137) echo "${payloads[*]}" >>"$dir/killed.append" ;;
		*) echo "append as $id exited $rc: $(cat "$dir/err.$id")" >>"$dir/errors" ;;
		esac
		sleep 0.0$((RANDOM % 5))
	done
}

# syncer ID DIR: 'sync --json' as ID until DIR/stop, output to DIR/sync.ID.
syncer() {
	local id=$1 dir=$2 rc pid
	while [ ! -e "$dir/stop" ]; do
		"$COHORT" --root "$(node_root "$id")" --node "$id" \
			--state "$(node_state "$id")" sync --json \
			>>"$dir/sync.$id" 2>"$dir/serr.$id" &
		pid=$!
		echo "$pid" >"$dir/pid.sync.$id"
		{ wait "$pid"; } 2>/dev/null
		rc=$?
		rm -f "$dir/pid.sync.$id"
		case $rc in
		0) ;;
		137) echo "$id" >>"$dir/killed.sync" ;;
		*) echo "sync as $id exited $rc: $(cat "$dir/serr.$id")" >>"$dir/errors" ;;
		esac
		sleep 0.0$((RANDOM % 10))
	done
}

# janitor_loop ID DIR: 'janitor --json' as ID every 0.2-0.5 s.
janitor_loop() {
	local id=$1 dir=$2 rc pid
	while [ ! -e "$dir/stop" ]; do
		"$COHORT" --root "$(node_root "$id")" --node "$id" \
			--state "$(node_state "$id")" janitor --json \
			>>"$dir/janitor" 2>"$dir/jerr" &
		pid=$!
		echo "$pid" >"$dir/pid.janitor.$id"
		{ wait "$pid"; } 2>/dev/null
		rc=$?
		rm -f "$dir/pid.janitor.$id"
		case $rc in
		0) ;;
		137) echo "$id" >>"$dir/killed.janitor" ;;
		*) echo "janitor as $id exited $rc: $(cat "$dir/jerr")" >>"$dir/errors" ;;
		esac
		sleep 0.$((2 + RANDOM % 4))
	done
}

# killer DIR: every 50-250 ms SIGKILL a running append, sync or janitor.
killer() {
	local dir=$1 pid f files
	while [ ! -e "$dir/stop" ]; do
		sleep "0.$((RANDOM % 5 * 5 + 5))"
		files=("$dir"/pid.*)
		[ -e "${files[0]}" ] || continue
		f=${files[$((RANDOM % ${#files[@]}))]}
		# Janitors less often than the others.
		case $f in *janitor*) [ $((RANDOM % 3)) -eq 0 ] || continue ;; esac
		pid=$(ours_pid "$f") || continue
		kill -KILL "$pid" 2>/dev/null && echo "$pid $f" >>"$dir/kills"
	done
}

chaos_test() {
	local d=$W/chaos pids=() p n head tail bad acked removed runs kills
	mkdir -p "$d"
	new_root chaos '[journal]\nsegment_size = 4k\n' a b c
	: >"$d/kills"
	: >"$d/janitor"
	for n in a b c; do : >"$d/sync.$n"; done
	bg_start appender b "$d"; pids+=("$BG_PID")
	bg_start appender c "$d"; pids+=("$BG_PID")
	for n in a b c; do
		bg_start syncer "$n" "$d"
		pids+=("$BG_PID")
	done
	bg_start janitor_loop a "$d"; pids+=("$BG_PID")
	bg_start killer "$d"; pids+=("$BG_PID")
	sleep "$CHAOS_S"
	touch "$d/stop"
	wait_for 60 none_alive "${pids[@]}" ||
		echo "loops still running 60 s after the stop" >>"$d/errors"
	for p in "${pids[@]}"; do
		kill_tree "$p" KILL
		wait "$p" 2>/dev/null
	done
	# A last sync on each node, and a last janitor, none of them killed.
	for n in a b c; do
		node_cohort "$n" sync --json >>"$d/sync.$n" 2>"$d/serr.$n" ||
			echo "final sync as $n: $(cat "$d/serr.$n")" >>"$d/errors"
	done
	node_cohort a janitor >"$d/jlast" 2>&1 ||
		echo "last janitor: $(cat "$d/jlast")" >>"$d/errors"
	head=$(head_of a)
	tail=$(tail_of a)
	cat "$d"/ack.* 2>/dev/null | sort -n >"$d/acked"
	acked=$(wc -l <"$d/acked")
	kills=$(wc -l <"$d/kills")
	removed=$(jq -R 'fromjson? | select(.busy == false) | .segments | length' \
		<"$d/janitor" | awk '{ s += $1 } END { print s + 0 }')
	runs=$(jq -R 'fromjson? | select(.busy == false) | 1' <"$d/janitor" | wc -l)
	note "chaos: head $head, tail $tail, $acked acknowledged records," \
		"$kills kills ($(cat "$d"/killed.append 2>/dev/null | wc -l) appends," \
		"$(cat "$d"/killed.sync 2>/dev/null | wc -l) syncs," \
		"$(cat "$d"/killed.janitor 2>/dev/null | wc -l) janitors)," \
		"$runs janitor runs removed $removed segments"

	if [ -s "$d/errors" ]; then
		tap_fail "chaos: no append, sync or janitor failed except by SIGKILL" \
			"$(head -n 20 "$d/errors")"
	else
		tap_ok "chaos: no append, sync or janitor failed except by SIGKILL"
	fi
	if [ "$removed" -ge 10 ] && [ "$tail" -gt 1 ] && [ "$acked" -ge 200 ] &&
		[ "$(cat "$d"/killed.sync 2>/dev/null | wc -l)" -ge 3 ] &&
		[ "$(cat "$d"/killed.append 2>/dev/null | wc -l)" -ge 3 ]; then
		tap_ok "chaos: the journal was trimmed under fire ($removed segments, tail $tail, head $head)"
	else
		tap_fail "chaos: the journal was trimmed under fire" \
			"$removed segments removed, tail $tail, $acked acked: too little exercised"
	fi
	# Killed janitors may leave files below the tail; a later run
	# removes them.
	if [ "$(seg_count)" = 1 ]; then
		tap_ok "chaos: a last janitor, every node at the head, leaves only the head segment"
	else
		tap_fail "chaos: a last janitor, every node at the head, leaves only the head segment" \
			"$(ls "$ROOT_SHARED/journal" | tr '\n' ' ')" "$(cat "$d/jlast")" \
			"killed janitors: $(cat "$d"/killed.janitor 2>/dev/null | wc -l)"
	fi
	for n in a b c; do
		jq -R -r 'fromjson? | "\(.rev) \(.data)"' <"$d/sync.$n" | sort -n -u >"$d/seen.$n"
		cut -d' ' -f1 "$d/seen.$n" >"$d/seen.revs.$n"
		bad=$(uniq -d "$d/seen.revs.$n" | head -n 3)
		[ -n "$bad" ] && bad="revisions printed with two payloads: $bad"
		[ -z "$bad" ] && bad=$(contiguous 1 "$head" "$d/seen.revs.$n")
		tap_is "chaos: node $n's syncs printed every revision 1..$head, none skipped" \
			"$bad" ""
		bad=$(awk 'NR == FNR { got[$1] = $2; next }
			got[$1] != $2 { printf "acknowledged %s at %s; %s printed \"%s\"\n", $2, $1, n, got[$1] }' \
			n="$n" "$d/seen.$n" "$d/acked" | head -n 5)
		tap_is "chaos: node $n printed every acknowledged append at its revision" \
			"$bad" ""
	done
	if cmp -s "$d/seen.a" "$d/seen.b" && cmp -s "$d/seen.a" "$d/seen.c"; then
		tap_ok "chaos: the three nodes printed the same records"
	else
		tap_fail "chaos: the three nodes printed the same records" \
			"$(diff "$d/seen.a" "$d/seen.b" | head -n 3)" \
			"$(diff "$d/seen.a" "$d/seen.c" | head -n 3)"
	fi
}

# ---- 5. a long run: the journal stays bounded ---------------------------------

long_appender() {
	local dir=$1 i=0 lag h rb rc
	while [ "$i" -lt "$LONG_APPENDS" ]; do
		# Keep the syncers within reach: a journal is bounded only by
		# what live nodes have not applied.
		h=$(status_json b) || { echo "status failed" >>"$dir/errors"; return; }
		lag=$(jq '.head - ([.nodes[].revision] | min)' <<<"$h")
		if [ "$lag" -gt 1000 ]; then
			sleep 0.05
			continue
		fi
		seq $((i + 1)) $((i + LONG_BATCH)) |
			awk '{ printf "L-%06d-%0190d\n", $1, 0 }' |
			node_cohort b append --lines >/dev/null 2>"$dir/aerr"
		rc=$?
		if [ $rc -ne 0 ]; then
			echo "append exited $rc: $(cat "$dir/aerr")" >>"$dir/errors"
			return
		fi
		i=$((i + LONG_BATCH))
		echo "$i" >"$dir/appended"
	done
}

long_syncer() {
	local id=$1 dir=$2
	while [ ! -e "$dir/stop" ]; do
		node_cohort "$id" sync >/dev/null 2>"$dir/serr.$id" ||
			echo "sync as $id: $(cat "$dir/serr.$id")" >>"$dir/errors"
		sleep 0.05
	done
}

long_janitor() {
	local dir=$1
	while [ ! -e "$dir/stop" ]; do
		node_cohort c janitor --json >>"$dir/janitor" 2>"$dir/jerr" ||
			echo "janitor: $(cat "$dir/jerr")" >>"$dir/errors"
		# What piles up is what live nodes have not applied (the
		# appender keeps that under 1000 records) plus what is appended
		# between two runs: since appends got faster (one process
		# ~10 ms cheaper), 2 s of them could pass a fifth segment.
		sleep 1
	done
}

long_test() {
	local d=$W/long pids=() apid p kb max=0 bound head t0 el final total runs
	mkdir -p "$d"
	new_root long "[journal]\nsegment_size = $LONG_SEG\n" b c
	: >"$d/janitor"
	t0=$(now_ms)
	bg_start long_appender "$d"; apid=$BG_PID
	bg_start long_syncer b "$d"; pids+=("$BG_PID")
	bg_start long_syncer c "$d"; pids+=("$BG_PID")
	bg_start long_janitor "$d"; pids+=("$BG_PID")
	while kill -0 "$apid" 2>/dev/null; do
		kb=$(du -sk "$ROOT_SHARED/journal" | cut -f1)
		[ "$kb" -gt "$max" ] && max=$kb
		sleep 0.25
	done
	wait "$apid"
	head=$(head_of b)
	wait_for 120 at_head b b && wait_for 120 at_head b c ||
		echo "syncers did not catch up" >>"$d/errors"
	touch "$d/stop"
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	node_cohort c janitor --json >>"$d/janitor" 2>"$d/jerr" ||
		echo "last janitor: $(cat "$d/jerr")" >>"$d/errors"
	final=$(du -sk "$ROOT_SHARED/journal" | cut -f1)
	el=$(($(now_ms) - t0))
	bound=$((LONG_BOUND_SEGS * LONG_SEG / 1024))
	total=$((LONG_APPENDS * 248 / 1024))
	runs=$(jq -R 'fromjson? | select(.busy == false and (.segments | length) > 0) | 1' \
		<"$d/janitor" | wc -l)
	note "long: $head records (~$total KiB) in $((el / 1000)) s; journal/ at most" \
		"$max KiB, $final KiB at the end; $runs janitor runs removed segments"
	if [ -s "$d/errors" ]; then
		tap_fail "long: appends, syncs and janitors all succeed" "$(head -n 10 "$d/errors")"
	else
		tap_ok "long: appends, syncs and janitors all succeed"
	fi
	tap_is "long: every record appended" "$head" "$LONG_APPENDS"
	if [ "$max" -le "$bound" ] && [ "$total" -ge $((3 * bound)) ] && [ "$runs" -ge 3 ]; then
		tap_ok "long: du of journal/ stayed at or below $bound KiB ($LONG_BOUND_SEGS segments; at most $max KiB) while ~$total KiB was appended"
	else
		tap_fail "long: du of journal/ stays bounded" \
			"at most $max KiB, bound $bound KiB, ~$total KiB appended, $runs janitor runs removed segments"
	fi
	if [ "$final" -le $((2 * LONG_SEG / 1024 + 8)) ]; then
		tap_ok "long: once all caught up, journal/ holds at most two segments ($final KiB)"
	else
		tap_fail "long: once all caught up, journal/ holds at most two segments" \
			"$final KiB" "$(ls -l "$ROOT_SHARED/journal")"
	fi
}

for t in ${JANITOR_TESTS:-behind boot race chaos long}; do
	"${t}_test"
done
