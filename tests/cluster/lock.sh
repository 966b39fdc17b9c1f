#!/usr/bin/env bash
# tests/cluster/lock.sh - cluster locks exclude across bindfs views.
#
# 1. For each lock mode (fcntl, lease, both): three nodes a, b, c (one per
#    view), two lockcounter processes each (one in fcntl mode: see
#    exclusion_test), increment one shared counter
#    under the lock "counter" while a killer SIGKILLs random lockcounters at
#    random moments (and each slot starts a replacement).  Then: every
#    reported value is distinct, the ledger slot of each names the process
#    that reported it, and the final counter C satisfies
#    reported <= C <= reported + kills.
# 2. Lease mode, a stalled holder (SIGSTOP past lease_timeout + skew_margin):
#    another node breaks the lease and commits; the stalled one, continued,
#    learns it lost the lock before its commit point ("lost", exit 3) and
#    writes nothing.
# 3. Lease mode, a live holder that pauses longer than the lease timeout
#    keeps its lock (the refresher runs): the waiter gets it only after.
# 4. Mode both, a stalled holder: its fcntl lock still excludes, so the
#    waiter waits; continued, the holder commits or aborts before its
#    commit point, and the waiter commits after it.
#
# BUILD=build bash tests/cluster/lock.sh
#   LOCK_ITERS      increments per lockcounter slot (default 200; 6 slots)
#   LOCK_MODES      modes of the exclusion test (default "fcntl lease both")
#   LOCK_PAUSE_TESTS=0  skip 2-4
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/lib.sh
. "$HERE/lib.sh"

need_prog "$LOCKCOUNTER" "tests/helpers/lockcounter"
cluster_setup 3
node_bind a 1
node_bind b 2
node_bind c 3

ITERS=${LOCK_ITERS:-200}  # per lockcounter slot; 6 slots per mode
MODE_LIMIT_S=${LOCK_MODE_LIMIT_S:-50}
CONF_TAIL='lease_refresh = 100ms\nlease_timeout = 1s\nskew_margin = 500ms\n'

# lc ID DATA ARGS...: the lock helper as node ID, on DATA (a folder name
# under shared/) seen through the node's view.
lc_args() {
	local id=$1 data=$2
	echo "--root $(node_root "$id") --node $id --state $(node_state "$id")" \
		"--counter $(node_view "$id")/$data/counter" \
		"--ledger $(node_view "$id")/$data/ledger"
}

# init_root NAME MODE: a fresh cluster root with its lock configuration.
init_root() {
	use_root "$1"
	write_conf "[cluster]\nlock_mode = $2\n$CONF_TAIL"
	# shellcheck disable=SC2046
	"$LOCKCOUNTER" --init $(lc_args a "data-$1") --iterations 0 ||
		tap_bail "init cluster root '$1' ($2)"
	mkdir -p "$SHARED/data-$1"
}

# driver ID SLOT DATA DIR: keep a lockcounter of node ID running in slot
# SLOT until the slot has ITERS reported increments.  Each run's stdout is
# kept as DIR/out.SLOT.PID; its pid is in DIR/pid.SLOT while it runs.
driver() {
	local id=$1 slot=$2 data=$3 dir=$4 n pid rc
	while [ ! -e "$dir/stop" ]; do
		n=$(cat "$dir"/out."$slot".* 2>/dev/null | grep -c '^done ')
		[ "$n" -ge "$ITERS" ] && break
		# shellcheck disable=SC2046
		"$LOCKCOUNTER" $(lc_args "$id" "$data") \
			--iterations $((ITERS - n)) --hold-ms $((RANDOM % 6)) --trace \
			>"$dir/cur.$slot" 2>>"$dir/err.$slot" &
		pid=$!
		echo "$pid" >"$dir/pid.$slot"
		{ wait "$pid"; } 2>/dev/null
		rc=$?
		rm -f "$dir/pid.$slot"
		# (Killed before its redirections were set up: no output.)
		[ ! -e "$dir/cur.$slot" ] || mv "$dir/cur.$slot" "$dir/out.$slot.$pid"
		echo "$pid $rc node $id slot $slot" >>"$dir/exits"
		case $rc in
		0 | 137) ;;
		3) echo "$pid" >>"$dir/lost" ;;
		*)
			echo "node $id slot $slot: lockcounter $pid exited $rc" \
				>>"$dir/errors"
			break
			;;
		esac
	done
}

# killer DIR NSLOTS: SIGKILL a random running lockcounter every 20-80 ms.
killer() {
	local dir=$1 nslots=$2 pid
	while [ ! -e "$dir/stop" ]; do
		sleep "0.0$((RANDOM % 7 + 2))"
		pid=$(ours_pid "$dir/pid.$((RANDOM % nslots))") || continue
		kill -KILL "$pid" 2>/dev/null && echo "$pid" >>"$dir/kills"
	done
}

exclusion_test() {
	local mode=$1 data dir slot id t0 t1 pids=() p left reported c kills k
	local dups bad errs lost
	init_root "lock-$mode" "$mode"
	data=data-lock-$mode
	dir=$T/work/$mode
	mkdir -p "$dir"
	: >"$dir/kills"
	t0=$(now_ms)
	slot=0
	# In fcntl mode, one process per view: bindfs holds every forwarded
	# lock as its own process's, so a process of a view that closes the
	# lock file (a killed one does, late) drops the lock another process
	# of that view holds (NFS.md, "Locks inside one view"); a real NFS
	# client does not.  The lease layer (modes lease and both) excludes
	# two processes per view too.
	local ids="a a b b c c"
	[ "$mode" = fcntl ] && ids="a b c"
	for id in $ids; do
		bg_start driver "$id" "$slot" "$data" "$dir"
		pids+=("$BG_PID")
		slot=$((slot + 1))
	done
	bg_start killer "$dir" "$slot"
	local kpid=$BG_PID
	left=1
	while [ "$left" -eq 1 ]; do
		left=0
		for p in "${pids[@]}"; do
			kill -0 "$p" 2>/dev/null && left=1
		done
		[ "$left" -eq 1 ] || break
		if [ $(($(now_ms) - t0)) -gt $((MODE_LIMIT_S * 1000)) ]; then
			touch "$dir/stop"
			for p in "${pids[@]}"; do
				kill_tree "$p" KILL
			done
			echo "time limit of ${MODE_LIMIT_S}s reached" >>"$dir/errors"
			break
		fi
		sleep 0.2
	done
	touch "$dir/stop"
	for p in "${pids[@]}" "$kpid"; do
		wait "$p" 2>/dev/null
	done
	t1=$(now_ms)

	# "K PID" for every reported increment.
	for f in "$dir"/out.*; do
		[ -e "$f" ] || continue
		p=${f##*.}
		sed -n "s/^done \([0-9]*\)$/\1 $p/p" "$f"
	done | sort -n >"$dir/reported"
	reported=$(wc -l <"$dir/reported")
	kills=$(wc -l <"$dir/kills")
	lost=$(cat "$dir/lost" 2>/dev/null | wc -l)
	c=$(cat "$SHARED/$data/counter" 2>/dev/null || echo 0)
	note "$mode: $reported increments reported, counter $c, $kills kills," \
		"$lost lost leases, $(((t1 - t0) / 1000))s"

	errs=$(cat "$dir/errors" 2>/dev/null)
	if [ -z "$errs" ]; then
		tap_ok "$mode: every lockcounter ended done, killed or lost"
	else
		tap_fail "$mode: every lockcounter ended done, killed or lost" \
			"$errs" "$(cat "$dir"/err.* 2>/dev/null | grep -v '^T ' | tail -n 20)"
	fi
	tap_is "$mode: all $((ITERS * slot)) increments reported" \
		"$reported" "$((ITERS * slot))"
	# Enough kills that holders die inside the critical section.
	if [ "$kills" -ge $((ITERS / 10 + 1)) ]; then
		tap_ok "$mode: the killer SIGKILLed lockcounters ($kills)"
	else
		tap_fail "$mode: the killer SIGKILLed lockcounters" \
			"only $kills kills: the test exercised too little"
	fi
	dups=$(cut -d' ' -f1 "$dir/reported" | uniq -d | head -n 10)
	if [ -z "$dups" ]; then
		tap_ok "$mode: every reported value is distinct"
	else
		# Each lockcounter's --trace (stderr), merged by time, around
		# the first value reported twice.
		k=$(echo "$dups" | head -n 1)
		cat "$dir"/err.* | grep '^T ' | sort -k2,2 >"$dir/trace"
		local at
		at=$(grep -n " read $((k - 1))$" "$dir/trace" | head -n 1 | cut -d: -f1)
		tap_fail "$mode: every reported value is distinct" \
			"reported twice: $(echo "$dups" | tr '\n' ' ')" \
			"$(grep "^$k " "$dir/reported" | sort -u |
				while read -r _ p; do
					echo "$k by pid $p: $(grep "^$p " "$dir/exits")"
				done)" \
			"trace (time pid step value) around the first read of $((k - 1)):" \
			"$(sed -n "$((${at:-1} > 12 ? ${at:-1} - 12 : 1)),$((${at:-1} + 14))p" "$dir/trace")"
	fi
	# The ledger: fixed 32-byte slots, slot K at offset (K-1)*32 (a hole
	# reads as dots).  Slot K must name the pid that reported K.
	tr '\0\n' '.#' <"$SHARED/$data/ledger" | fold -w 32 >"$dir/ledger.lines"
	bad=$(awk 'NR == FNR { slot[NR] = $0; next }
		{
			want = sprintf("slot %d pid %d ", $1, $2)
			if (substr(slot[$1], 1, length(want)) != want)
				printf "reported %d by pid %d; ledger slot %d: \"%s\"\n",
				       $1, $2, $1, slot[$1]
		}' "$dir/ledger.lines" "$dir/reported" | head -n 10)
	if [ -z "$bad" ]; then
		tap_ok "$mode: the ledger slot of each reported value names its reporter"
	else
		tap_fail "$mode: the ledger slot of each reported value names its reporter" \
			"$bad"
	fi
	if [ "$c" -ge "$reported" ] && [ $((c - reported)) -le "$kills" ]; then
		tap_ok "$mode: reported <= counter <= reported + kills ($reported <= $c <= $((reported + kills)))"
	else
		tap_fail "$mode: reported <= counter <= reported + kills" \
			"reported $reported, counter $c, kills $kills"
	fi
}

# The ledger's slot K (1-based) of the data folder DATA.
ledger_slot() {
	dd if="$SHARED/$1/ledger" bs=32 skip=$(($2 - 1)) count=1 2>/dev/null |
		tr -d '\0\n' | sed 's/ *$//'
}

stalled_holder_test() {
	local data=data-lease-stall dir=$T/work/stall apid bpid arc brc
	local t_stop t_b t_cont
	init_root lease-stall lease
	mkdir -p "$dir"
	# A: node a on v1, holds the lock for 1 s after writing its ledger slot.
	# shellcheck disable=SC2046
	bg_start "$LOCKCOUNTER" $(lc_args a "$data") --iterations 1 \
		--hold-ms 1000 >"$dir/a.out" 2>"$dir/a.err"
	apid=$BG_PID
	if ! wait_for 10 eval '[ "$(ledger_slot "$data" 1)" = "slot 1 pid $apid" ]'; then
		tap_fail "stalled holder: A took the lock" "$(cat "$dir/a.err")"
		return
	fi
	kill -STOP "$apid"
	t_stop=$(now_ms)
	# B: node b on v2 waits for the lease, which stops changing now.
	# shellcheck disable=SC2046
	bg_start "$LOCKCOUNTER" $(lc_args b "$data") --iterations 1 \
		>"$dir/b.out" 2>"$dir/b.err"
	bpid=$BG_PID
	wait_for 3 eval '! kill -0 $bpid 2>/dev/null'
	t_b=$(now_ms)
	if kill -0 "$bpid" 2>/dev/null; then
		tap_fail "stalled holder: B broke the stale lease and committed while A was stopped" \
			"B still waiting $((t_b - t_stop)) ms after A stopped" \
			"$(cat "$dir/b.err")"
	else
		wait "$bpid"
		brc=$?
		if [ "$brc" -eq 0 ] && [ "$(cat "$dir/b.out")" = "done 1" ]; then
			tap_ok "stalled holder: B broke the stale lease and committed while A was stopped"
		else
			tap_fail "stalled holder: B broke the stale lease and committed while A was stopped" \
				"exit $brc, stdout: $(cat "$dir/b.out")" "$(cat "$dir/b.err")"
		fi
		# lease_timeout + skew_margin = 1.5 s without change, minus the
		# up to 100 ms between A's last refresh and its stop.
		if [ $((t_b - t_stop)) -ge 1350 ]; then
			tap_ok "stalled holder: B waited out lease_timeout + skew_margin ($((t_b - t_stop)) ms)"
		else
			tap_fail "stalled holder: B waited out lease_timeout + skew_margin" \
				"B done $((t_b - t_stop)) ms after A stopped (expected >= 1400)"
		fi
	fi
	# Continue A 4 s after it stopped.
	sleep "$(awk -v ms=$((4000 - ($(now_ms) - t_stop))) \
		'BEGIN { if (ms < 0) ms = 0; printf "%.3f", ms / 1000 }')"
	kill -CONT "$apid"
	t_cont=$(now_ms)
	wait_for 10 eval '! kill -0 $apid 2>/dev/null'
	if kill -0 "$apid" 2>/dev/null; then
		tap_fail "stalled holder: A, continued, prints 'lost 1' and exits 3" \
			"A still running $(($(now_ms) - t_cont)) ms after SIGCONT"
		kill_tree "$apid" KILL
		return
	fi
	wait "$apid"
	arc=$?
	if [ "$arc" -eq 3 ] && [ "$(cat "$dir/a.out")" = "lost 1" ]; then
		tap_ok "stalled holder: A, continued, prints 'lost 1' and exits 3"
	else
		tap_fail "stalled holder: A, continued, prints 'lost 1' and exits 3" \
			"exit $arc, stdout: $(cat "$dir/a.out")" "$(cat "$dir/a.err")"
	fi
	if [ "$(cat "$SHARED/$data/counter" 2>/dev/null)" = 1 ] &&
		[ "$(ledger_slot "$data" 1)" = "slot 1 pid $bpid" ] &&
		[ ! -e "$SHARED/$data/counter.tmp.$apid" ]; then
		tap_ok "stalled holder: A wrote no counter; counter 1 and ledger slot 1 are B's"
	else
		tap_fail "stalled holder: A wrote no counter; counter 1 and ledger slot 1 are B's" \
			"counter: $(cat "$SHARED/$data/counter" 2>/dev/null)" \
			"ledger slot 1: $(ledger_slot "$data" 1) (A $apid, B $bpid)" \
			"$(ls "$SHARED/$data")"
	fi
}

live_holder_test() {
	local data=data-lease-live dir=$T/work/live apid bpid arc brc
	local t_a t_b
	init_root lease-live lease
	mkdir -p "$dir"
	# A pauses 3 s before its commit, twice lease_timeout + skew_margin:
	# its refresher keeps the lease alive, so B must wait for A.
	# shellcheck disable=SC2046
	bg_start "$LOCKCOUNTER" $(lc_args a "$data") --iterations 1 \
		--pause-before-commit-ms 3000 >"$dir/a.out" 2>"$dir/a.err"
	apid=$BG_PID
	if ! wait_for 10 eval '[ "$(ledger_slot "$data" 1)" = "slot 1 pid $apid" ]'; then
		tap_fail "live holder: A took the lock" "$(cat "$dir/a.err")"
		return
	fi
	# shellcheck disable=SC2046
	bg_start "$LOCKCOUNTER" $(lc_args b "$data") --iterations 1 \
		>"$dir/b.out" 2>"$dir/b.err"
	bpid=$BG_PID
	wait "$apid"
	arc=$?
	t_a=$(now_ms)
	wait_for 10 eval '! kill -0 $bpid 2>/dev/null'
	wait "$bpid"
	brc=$?
	t_b=$(now_ms)
	if [ "$arc" -eq 0 ] && [ "$(cat "$dir/a.out")" = "done 1" ]; then
		tap_ok "live holder: A pausing 3 s (> lease_timeout + skew_margin) keeps its lock and commits"
	else
		tap_fail "live holder: A pausing 3 s (> lease_timeout + skew_margin) keeps its lock and commits" \
			"exit $arc, stdout: $(cat "$dir/a.out")" "$(cat "$dir/a.err")"
	fi
	if [ "$brc" -eq 0 ] && [ "$(cat "$dir/b.out")" = "done 2" ] &&
		[ "$t_b" -ge "$t_a" ] &&
		[ "$(ledger_slot "$data" 1)" = "slot 1 pid $apid" ] &&
		[ "$(ledger_slot "$data" 2)" = "slot 2 pid $bpid" ] &&
		[ "$(cat "$SHARED/$data/counter" 2>/dev/null)" = 2 ]; then
		tap_ok "live holder: B waited for A and then committed"
	else
		tap_fail "live holder: B waited for A and then committed" \
			"B exit $brc, stdout: $(cat "$dir/b.out")" "$(cat "$dir/b.err")" \
			"counter: $(cat "$SHARED/$data/counter" 2>/dev/null)" \
			"slot 1: $(ledger_slot "$data" 1) slot 2: $(ledger_slot "$data" 2)" \
			"(A $apid, B $bpid)"
	fi
}

# Mode both: the fcntl lock of a stopped (but live) holder still excludes,
# so its lease is never judged stale by a waiter; continued, the holder
# either commits or, not having refreshed for lease_timeout, aborts.
stalled_both_test() {
	local data=data-both-stall dir=$T/work/both-stall apid bpid arc brc
	local t_stop aout bout
	init_root both-stall both
	mkdir -p "$dir"
	# shellcheck disable=SC2046
	bg_start "$LOCKCOUNTER" $(lc_args a "$data") --iterations 1 \
		--hold-ms 1000 >"$dir/a.out" 2>"$dir/a.err"
	apid=$BG_PID
	if ! wait_for 10 eval '[ "$(ledger_slot "$data" 1)" = "slot 1 pid $apid" ]'; then
		tap_fail "both, stalled holder: A took the lock" "$(cat "$dir/a.err")"
		return
	fi
	kill -STOP "$apid"
	t_stop=$(now_ms)
	# shellcheck disable=SC2046
	bg_start "$LOCKCOUNTER" $(lc_args b "$data") --iterations 1 \
		>"$dir/b.out" 2>"$dir/b.err"
	bpid=$BG_PID
	sleep 3
	if kill -0 "$bpid" 2>/dev/null && [ ! -e "$SHARED/$data/counter" ]; then
		tap_ok "both, stalled holder: B waits while A, stopped, keeps its fcntl lock"
	else
		tap_fail "both, stalled holder: B waits while A, stopped, keeps its fcntl lock" \
			"B: $(cat "$dir/b.out") $(cat "$dir/b.err")" \
			"counter: $(cat "$SHARED/$data/counter" 2>/dev/null)"
	fi
	sleep "$(awk -v ms=$((4000 - ($(now_ms) - t_stop))) \
		'BEGIN { if (ms < 0) ms = 0; printf "%.3f", ms / 1000 }')"
	kill -CONT "$apid"
	wait_for 10 eval '! kill -0 $apid 2>/dev/null && ! kill -0 $bpid 2>/dev/null'
	wait "$apid"
	arc=$?
	wait "$bpid"
	brc=$?
	aout=$(cat "$dir/a.out")
	bout=$(cat "$dir/b.out")
	# A committed and B followed, or A aborted (its lease went unrefreshed
	# for 4 s) and B took slot 1.
	if { [ "$arc" = 0 ] && [ "$aout" = "done 1" ] && [ "$brc" = 0 ] &&
		[ "$bout" = "done 2" ] && [ "$(cat "$SHARED/$data/counter")" = 2 ] &&
		[ "$(ledger_slot "$data" 1)" = "slot 1 pid $apid" ] &&
		[ "$(ledger_slot "$data" 2)" = "slot 2 pid $bpid" ]; } ||
		{ [ "$arc" = 3 ] && [ "$aout" = "lost 1" ] && [ "$brc" = 0 ] &&
			[ "$bout" = "done 1" ] &&
			[ "$(cat "$SHARED/$data/counter")" = 1 ] &&
			[ "$(ledger_slot "$data" 1)" = "slot 1 pid $bpid" ]; }; then
		tap_ok "both, stalled holder: continued, A commits or aborts before its commit; then B commits ($aout / $bout)"
	else
		tap_fail "both, stalled holder: continued, A commits or aborts before its commit; then B commits" \
			"A exit $arc: $aout $(cat "$dir/a.err")" \
			"B exit $brc: $bout $(cat "$dir/b.err")" \
			"counter: $(cat "$SHARED/$data/counter" 2>/dev/null)" \
			"slot 1: $(ledger_slot "$data" 1) slot 2: $(ledger_slot "$data" 2)" \
			"(A $apid, B $bpid)"
	fi
}

for mode in ${LOCK_MODES:-fcntl lease both}; do
	exclusion_test "$mode"
done
if [ "${LOCK_PAUSE_TESTS:-1}" = 1 ]; then
	stalled_holder_test
	live_holder_test
	stalled_both_test
fi
exit 0
