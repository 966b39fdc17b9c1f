#!/usr/bin/env bash
# tests/cluster/node.sh - 'cohort node' (mount-and-go, read-only when cut
# off, priority modes) and 'cohort run-once', on bindfs views.
#
# 1. Catch-up: node a installs packages (jars built with zip, id and version
#    from META-INF/MANIFEST.MF) and appends records while node b's
#    'cohort node --exec HOOK --materialize DIR' is stopped; once b is
#    started again its hook has received every record exactly once, in
#    revision order, as 'cohort log' shows them (type and payload bytes),
#    and b's folder holds the same file names and bytes as a's
#    'cohort materialize'.  A store change made while b runs is
#    materialized in b's folder as it lands.
# 2. Cut off: b's bindfs process is killed while 'cohort node' runs on it.
#    Within [node] heartbeat_timeout (plus a heartbeat interval, a poll and
#    slack) b is read-only: 'status --json' as b shows "mode":"ro" and
#    'append' as b exits 1 saying "read-only".  a appends meanwhile; b's
#    view is mounted again (a new bindfs on the same mount point); b
#    catches up (its hook gets the new records), returns to read-write by
#    itself ("mode":"rw", append works) and no revision reached the hook
#    twice.  Then b's bindfs is stopped (SIGSTOP: a hung mount, every call
#    blocks): within the same limit b's node logs that it is read-only;
#    once the mount answers again b catches up and is read-write.
# 3. Priorities (--priority 90/50/10, three nodes on three views).  Static
#    mode: the main node (90) stopped with SIGTERM leaves its heartbeat
#    unchanged; the others stay read-write until it is stale_after old,
#    then turn read-only (status "ro", append refused); the main node
#    restarted: all read-write again.  Dynamic mode: the others stay
#    read-write while the main node is stopped and stale.
# 4. run-once: three nodes race 'cohort run-once JOB --every 3s' every
#    ~300 ms for ~13 s; one runner is SIGKILLed (with its command) in
#    the middle.  By the file server's clock (the job's start as recorded
#    on the root, read with 'status --json'): no period ran twice; every
#    period the race covered entirely ran exactly once, the one after the
#    killed run too; every other invocation printed 'skipped: ...' and
#    exited 0; 'status --json' shows the last run (node, start, end,
#    status).
# 5. 'cohort node' exits 0 on SIGTERM (every stop in 1-3); a second
#    'cohort node' with the id of a running one is refused with exit 1
#    (same state folder, and another state folder on another view).
#
# BUILD=build bash tests/cluster/node.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

need_prog "$COHORT" "the cohort tool"
for p in jq zip base64 stat date; do
	command -v "$p" >/dev/null 2>&1 ||
		tap_bail "$p is installed (node.sh needs it)"
done
cluster_setup 3
# A bindfs left stopped (SIGSTOP, the hung-mount test) would hang the
# cleanup: continue it first.
STOPPED_VIEW_PID=""
trap 'rc=$?; [ -n "$STOPPED_VIEW_PID" ] && kill -CONT "$STOPPED_VIEW_PID"; (exit $rc); cluster_cleanup' EXIT
tool_copy
node_bind a 1
node_bind b 2
node_bind c 3
W=$T/work

# Short intervals: every timeout below is a few seconds.
HB_INTERVAL_MS=200
STALE_MS=2000
HB_TIMEOUT_MS=1000
POLL_MS=100
CONF='[cluster]
heartbeat_interval = 200ms
stale_after = 2s
lease_refresh = 100ms
lease_timeout = 1s
skew_margin = 500ms
lock_timeout = 5s
'
NODE_CONF='[node]
heartbeat_timeout = 1s
'

# new_root NAME [EXTRA-CLUSTER-LINES]: a fresh cluster root shared/NAME
# with the short intervals, initialized through view 1.
new_root() {
	use_root "$1"
	write_conf "$CONF${2:-}$NODE_CONF"
	node_cohort a init >/dev/null 2>"$W/init.$1" ||
		tap_bail "cohort init of root '$1'" "$(cat "$W/init.$1")"
}

# ---- nodes -------------------------------------------------------------------

declare -A NODE_PID=()

# node_start ID [NODE-OPTIONS...]: 'cohort node' as ID in the background
# (the pid is cohort's own), stderr appended to $W/node.ROOT.ID.err; waits
# until it has joined.
node_start() {
	local id=$1 err
	shift
	err=$W/node.$ROOT_NAME.$id.err
	echo "---- start $*" >>"$err"
	"$COHORT" --root "$(node_root "$id")" --node "$id" \
		--state "$(node_state "$id")" node --poll-ms "$POLL_MS" "$@" \
		2>>"$err" &
	NODE_PID[$id]=$!
	CLUSTER_PIDS+=("$!")
	if ! wait_for 15 node_joined "$id"; then
		tap_fail "node $id ($ROOT_NAME) starts and joins" \
			"$(tail -n 20 "$err")"
		return 1
	fi
	return 0
}

# Has the last start of node ID logged "joined"?
node_joined() {
	local err=$W/node.$ROOT_NAME.$1.err
	kill -0 "${NODE_PID[$1]}" 2>/dev/null || return 1
	awk '/^---- start/ { j = 0 } /joined cluster/ { j = 1 } END { exit !j }' \
		"$err"
}

# node_stop ID: SIGTERM, wait (at most 15 s); 'cohort node' must exit 0.
node_stop() {
	local id=$1 pid=${NODE_PID[$1]} rc i
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill_tree "$pid" KILL
		wait "$pid" 2>/dev/null
		tap_fail "node $id ($ROOT_NAME) exits on SIGTERM" \
			"still running 15 s after SIGTERM"
		return 1
	fi
	wait "$pid" 2>/dev/null
	rc=$?
	NODE_PID[$id]=""
	tap_is "node $id ($ROOT_NAME) exits 0 on SIGTERM" "$rc" 0
}

# The mode ("rw", "ro", or "error: ...") that 'status --json' reports as
# node ID.  A node cut off from the root may not be able to say more than
# its mode: the "mode" field counts whatever the exit status.
mode_of() {
	local out err m
	out=$(node_cohort "$1" status --json 2>"$W/status.err")
	m=$(jq -r '.mode // empty' <<<"$out" 2>/dev/null)
	if [ -n "$m" ]; then
		echo "$m"
	else
		echo "error: $(cat "$W/status.err")"
	fi
}

mode_is() { [ "$(mode_of "$1")" = "$2" ]; }

# append_refused ID: 'append' as ID exits 1 with a message saying
# read-only; the message is left in APPEND_OUT.
APPEND_OUT=""
append_refused() {
	local rc
	APPEND_OUT=$(node_cohort "$1" append "refused-$RANDOM" 2>&1)
	rc=$?
	APPEND_OUT="exit $rc: $APPEND_OUT"
	[ $rc -eq 1 ] && grep -q 'read-only' <<<"$APPEND_OUT"
}

# The hook: one line per record, "REV TYPE BASE64(PAYLOAD)", appended to $1.
cat >"$W/hook.sh" <<'EOF'
#!/bin/sh
printf '%s %s %s\n' "$COHORT_REV" "$COHORT_TYPE" "$(base64 -w0)" >>"$1"
EOF
chmod +x "$W/hook.sh"

# The journal in the hook's format, read as node ID.
log_as_hook() {
	node_cohort "$1" log --json |
		jq -r '"\(.rev) \(.type) \(.data_base64 // (.data | @base64))"'
}

# The last revision in a hook log (0 when empty).
hook_last() {
	local n
	n=$(tail -n 1 "$1" 2>/dev/null | awk '{ print $1 + 0 }')
	echo "${n:-0}"
}

head_of() {
	node_cohort "$1" status --json | jq -r .head
}

# hook_has LOG REV: the hook has applied REV (or later).
hook_has() {
	[ "$(hook_last "$1")" -ge "$2" ]
}

# Revisions that appear more than once in a hook log.
hook_dups() {
	awk '{ print $1 }' "$1" | sort -n | uniq -d | tr '\n' ' '
}

# make_jar FILE ID VERSION CONTENT: a jar (zip) with an OSGi manifest.
make_jar() {
	local d
	d=$(mktemp -d "$W/jar.XXXXXX")
	mkdir -p "$d/META-INF" "$d/org/example"
	printf 'Manifest-Version: 1.0\r\nBundle-ManifestVersion: 2\r\nBundle-SymbolicName: %s\r\nBundle-Version: %s\r\n\r\n' \
		"$2" "$3" >"$d/META-INF/MANIFEST.MF"
	printf '%s\n' "$4" >"$d/org/example/Main.class"
	head -c 3000 /dev/urandom >"$d/org/example/data.bin"
	(cd "$d" && zip -q -X -r "$1" META-INF org) || return 1
	rm -rf "$d"
}

# dirs_same A B: same file names and same bytes (diff -r), leaving out
# the materializer's own bookkeeping ('.cohort-*': inode numbers and times
# of that folder's files, which differ between folders by nature).
dirs_same() {
	diff -r -x '.cohort-*' "$1" "$2"
}

# ---- 1. catch-up after a stop; 5. a second instance is refused -------------

catchup_test() {
	local hb=$W/hook.catchup.b mb=$W/mat.b ma=$W/mat.a out rc i head
	local got want
	new_root catchup
	node_cohort a join >/dev/null 2>&1 || tap_bail "join a (catchup)"
	make_jar "$W/foo-1.0.jar" org.example.foo 1.0.0 foo1 &&
		make_jar "$W/foo-2.0.jar" org.example.foo 2.0.0 foo2 &&
		make_jar "$W/bar.jar" org.example.bar 3.1.4 bar &&
		make_jar "$W/baz.jar" org.example.baz 0.9.0 baz ||
		tap_bail "build jars with zip"

	node_start b --exec "$W/hook.sh $hb" --materialize "$mb" || return
	node_cohort a append "before the stop" >/dev/null ||
		tap_fail "append on a (catchup)"
	wait_for 10 hook_has "$hb" 1
	tap_is "node b's hook applies a record appended on a while it runs" \
		"$(cat "$hb" 2>/dev/null)" "$(log_as_hook a)"

	# 5. a second 'cohort node' as b: refused while the first runs.
	out=$(timeout 30 "$COHORT" --root "$(node_root b)" --node b \
		--state "$(node_state b)" node 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && grep -q '^cohort: ' <<<"$out"; then
		tap_ok "a second 'cohort node' as b (same state folder) is refused with exit 1"
	else
		tap_fail "a second 'cohort node' as b (same state folder) is refused with exit 1" \
			"exit $rc" "$out"
	fi
	out=$(timeout 30 "$COHORT" --root "$(node_root c)" --node b \
		--state "$W/other-state-b" node 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && grep -q '^cohort: ' <<<"$out"; then
		tap_ok "a second 'cohort node' as b (another view, another state folder) is refused with exit 1"
	else
		tap_fail "a second 'cohort node' as b (another view, another state folder) is refused with exit 1" \
			"exit $rc" "$out"
	fi
	tap_check "the first 'cohort node' as b still runs after the refusals" \
		kill -0 "${NODE_PID[b]}"

	node_stop b || return

	# While b is stopped: installs, an upgrade and appends on a.
	{
		node_cohort a install "$W/foo-1.0.jar" &&
			node_cohort a append --type note "first missed" &&
			node_cohort a install "$W/bar.jar" &&
			printf 'line one\nline two\nline three\n' |
			node_cohort a append --lines --type batch &&
			printf 'a payload\nwith\ttabs and\nnewlines' |
			node_cohort a append &&
			node_cohort a install "$W/foo-2.0.jar" &&
			node_cohort a append "last missed"
	} >"$W/catchup.out" 2>&1 || tap_fail "install and append on a while b is stopped" \
		"$(cat "$W/catchup.out")"
	head=$(head_of a)
	node_cohort a materialize "$ma" >/dev/null 2>&1 ||
		tap_fail "materialize on a"

	node_start b --exec "$W/hook.sh $hb" --materialize "$mb" || return
	wait_for 15 hook_has "$hb" "$head"
	got=$(cat "$hb")
	want=$(log_as_hook a)
	tap_is "b's hook received every record it missed, in order, once each (as 'cohort log')" \
		"$got" "$want"
	tap_is "no revision reached b's hook twice" "$(hook_dups "$hb")" ""
	wait_for 10 dirs_same "$ma" "$mb" >/dev/null 2>&1
	tap_check "b's materialized folder matches a's (names and bytes)" \
		dirs_same "$ma" "$mb"
	tap_check "b's folder holds the installed versions" \
		test -f "$mb/org.example.foo-2.0.0.jar" -a \
		-f "$mb/org.example.bar-3.1.4.jar" -a \
		! -e "$mb/org.example.foo-1.0.0.jar"
	tap_check "b's copy of a package is its jar, byte for byte" \
		cmp "$W/foo-2.0.jar" "$mb/org.example.foo-2.0.0.jar"

	# A store change while b runs lands in b's folder.
	{
		node_cohort a uninstall org.example.bar &&
			node_cohort a install "$W/baz.jar"
	} >"$W/catchup.out" 2>&1 || tap_fail "uninstall and install on a while b runs" \
		"$(cat "$W/catchup.out")"
	node_cohort a materialize "$ma" >/dev/null 2>&1 ||
		tap_fail "materialize on a"
	wait_for 10 dirs_same "$ma" "$mb" >/dev/null 2>&1
	tap_check "a store change made while b runs is materialized in b's folder" \
		dirs_same "$ma" "$mb"
	node_stop b
}

# ---- 2. cut off: b's mount is lost, then comes back -------------------------

cutoff_test() {
	local hb=$W/hook.cutoff.b t0 el limit head i out rc
	new_root cutoff
	node_cohort a join >/dev/null 2>&1 || tap_bail "join a (cutoff)"
	node_start b --exec "$W/hook.sh $hb" || return
	for i in 1 2 3; do
		node_cohort a append "before cut $i" >/dev/null ||
			tap_fail "append on a before the cut"
	done
	wait_for 10 hook_has "$hb" 3
	tap_check "b is read-write and caught up before the cut" \
		wait_for 5 mode_is b rw

	# Lose b's mount.
	t0=$(now_ms)
	view_kill 2 || tap_bail "kill view 2's bindfs"
	limit=$((HB_TIMEOUT_MS + HB_INTERVAL_MS + POLL_MS + 1500))
	wait_for 10 mode_is b ro
	el=$(($(now_ms) - t0))
	if mode_is b ro && [ "$el" -le "$limit" ]; then
		tap_ok "b's status shows \"mode\":\"ro\" ${el} ms after its mount was lost (limit ${limit} ms)"
	else
		tap_fail "b's status shows \"mode\":\"ro\" within ${limit} ms after its mount was lost" \
			"after ${el} ms: mode $(mode_of b)" \
			"node log: $(tail -n 5 "$W/node.cutoff.b.err")"
	fi
	tap_check "b's node logged that it went read-only" \
		grep -q 'read-only' "$W/node.cutoff.b.err"
	if append_refused b; then
		tap_ok "'append' as b exits 1 saying read-only while cut off"
	else
		tap_fail "'append' as b exits 1 saying read-only while cut off" \
			"$APPEND_OUT"
	fi

	# The others go on.
	for i in 1 2 3 4; do
		node_cohort a append "during cut $i" >/dev/null ||
			tap_fail "append on a while b is cut off"
	done
	head=$(head_of a)
	tap_is "b's hook got nothing while cut off" "$(hook_last "$hb")" 3

	# Bring the mount back: unmount the dead view, a new bindfs.
	view_unmount 2 || tap_bail "unmount the dead view 2"
	view_mount 2 || tap_bail "mount view 2 again"
	t0=$(now_ms)
	wait_for 20 hook_has "$hb" "$head"
	tap_is "b catches up after its mount returns" "$(hook_last "$hb")" "$head"
	wait_for 20 mode_is b rw
	el=$(($(now_ms) - t0))
	tap_is "b returns to read-write by itself (after ${el} ms)" \
		"$(mode_of b)" rw
	out=$(node_cohort b append "after the cut" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		tap_ok "'append' as b works again"
	else
		tap_fail "'append' as b works again" "exit $rc" "$out"
	fi
	[ $rc -eq 0 ] && wait_for 10 hook_has "$hb" "$out"
	tap_is "b's hook got every record once, in order (as 'cohort log')" \
		"$(cat "$hb")" "$(log_as_hook a)"
	tap_is "no revision reached b's hook twice" "$(hook_dups "$hb")" ""
	hung_test "$hb"
	node_stop b
}

# A hung mount (b's bindfs stopped: every call on view 2 blocks) rather
# than a lost one: a heartbeat write that takes longer than
# heartbeat_timeout makes the node read-only too.  Commands run as b
# would block on the root, so the node's own log line is what shows it.
# log_count_above FILE WORD N: more than N lines of FILE hold WORD.
log_count_above() {
	[ "$(grep -c -- "$2" "$1")" -gt "$3" ]
}

hung_test() {
	local hb=$1 err=$W/node.cutoff.b.err t0 el limit head n0 out rc
	STOPPED_VIEW_PID=$(view_pid 2)
	[ -n "$STOPPED_VIEW_PID" ] || tap_bail "find view 2's bindfs"
	n0=$(grep -c 'read-only' "$err")
	t0=$(now_ms)
	kill -STOP "$STOPPED_VIEW_PID"
	limit=$((HB_TIMEOUT_MS + HB_INTERVAL_MS + POLL_MS + 1500))
	wait_for 8 log_count_above "$err" read-only "$n0"
	el=$(($(now_ms) - t0))
	if [ "$(grep -c 'read-only' "$err")" -gt "$n0" ] && [ "$el" -le "$limit" ]; then
		tap_ok "hung mount: b's node turns read-only ${el} ms after its mount stopped answering (limit ${limit} ms)"
	else
		tap_fail "hung mount: b's node turns read-only within ${limit} ms after its mount stopped answering" \
			"after ${el} ms the node's log ends with:" "$(tail -n 3 "$err")"
	fi
	node_cohort a append "during hang" >/dev/null ||
		tap_fail "append on a while b's mount hangs"
	head=$(head_of a)
	kill -CONT "$STOPPED_VIEW_PID"
	STOPPED_VIEW_PID=""
	wait_for 15 hook_has "$hb" "$head"
	tap_is "hung mount: b catches up once its mount answers again" \
		"$(hook_last "$hb")" "$head"
	wait_for 15 mode_is b rw
	tap_is "hung mount: b returns to read-write by itself" "$(mode_of b)" rw
	out=$(node_cohort b append "after the hang" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		tap_ok "hung mount: 'append' as b works again"
		wait_for 10 hook_has "$hb" "$out"
	else
		tap_fail "hung mount: 'append' as b works again" "exit $rc" "$out"
	fi
	tap_is "hung mount: b's hook got every record once, in order" \
		"$(cat "$hb")" "$(log_as_hook a)"
}

# ---- 3. priority modes ------------------------------------------------------

# node_state_of ID AS: the state ("live", "stale") of node ID in 'status'
# as node AS.
node_state_of() {
	node_cohort "$2" status --json |
		jq -r --arg n "$1" '.nodes[] | select(.id == $n) | .state'
}

state_is() { [ "$(node_state_of "$1" "$2")" = "$3" ]; }

all_modes() {
	local id s=""
	for id in "$@"; do
		s="$s$id=$(mode_of "$id") "
	done
	echo "${s% }"
}

# modes_are WANT ID...: all_modes ID... prints WANT.
modes_are() {
	local want=$1
	shift
	[ "$(all_modes "$@")" = "$want" ]
}

priority_test() {
	local mode=$1 id t0 el want
	if [ "$mode" = static ]; then
		new_root prio-static 'priority_mode = static\n'
	else
		new_root prio-dynamic 'priority_mode = dynamic\n'
	fi
	node_start a --priority 90 || return
	node_start b --priority 50 || return
	node_start c --priority 10 || return
	wait_for 10 modes_are "a=rw b=rw c=rw" a b c
	tap_is "$mode: three nodes, all read-write" "$(all_modes a b c)" \
		"a=rw b=rw c=rw"
	tap_is "$mode: priorities 90/50/10, all live" \
		"$(node_cohort b status --json |
			jq -r '[.nodes[] | "\(.id):\(.priority):\(.state)"] | join(" ")')" \
		"a:90:live b:50:live c:10:live"

	# Stop the main node; its heartbeat file just stops changing.
	node_stop a
	t0=$(now_ms)
	if [ "$mode" = static ]; then
		sleep 0.4
		tap_is "static: right after the main node stopped (not yet stale) b and c stay read-write" \
			"$(all_modes b c)" "b=rw c=rw"
		wait_for 10 modes_are "b=ro c=ro" b c
		el=$(($(now_ms) - t0))
		want="b=ro c=ro"
		if [ "$(all_modes b c)" = "$want" ] &&
			[ "$el" -ge $((STALE_MS - 500)) ] &&
			[ "$el" -le $((STALE_MS + 3000)) ]; then
			tap_ok "static: b and c turn read-only once the main node is stale (${el} ms, stale_after ${STALE_MS} ms)"
		else
			tap_fail "static: b and c turn read-only once the main node is stale (stale_after ${STALE_MS} ms)" \
				"after ${el} ms: $(all_modes b c)"
		fi
		tap_is "static: status shows the main node stale" \
			"$(node_state_of a b)" stale
		for id in b c; do
			if append_refused "$id"; then
				tap_ok "static: 'append' as $id is refused (read-only) while the main node is stale"
			else
				tap_fail "static: 'append' as $id is refused (read-only) while the main node is stale" \
					"$APPEND_OUT"
			fi
		done
	else
		wait_for 10 state_is a b stale
		tap_is "dynamic: status shows the main node stale" \
			"$(node_state_of a b)" stale
		sleep 0.5 # a few node loop turns with the main node stale
		tap_is "dynamic: b and c stay read-write while the main node is stale" \
			"$(all_modes b c)" "b=rw c=rw"
		for id in b c; do
			tap_check "dynamic: 'append' as $id works while the main node is stale" \
				node_cohort "$id" append "while main is away"
		done
	fi

	# The main node returns.
	node_start a --priority 90 || return
	t0=$(now_ms)
	wait_for 10 modes_are "a=rw b=rw c=rw" a b c
	el=$(($(now_ms) - t0))
	tap_is "$mode: the main node restarted, all read-write again (after ${el} ms)" \
		"$(all_modes a b c)" "a=rw b=rw c=rw"
	for id in b c; do
		tap_check "$mode: 'append' as $id works again" \
			node_cohort "$id" append "main is back"
	done
	for id in a b c; do
		node_stop "$id"
	done
}

# ---- 4. run-once ------------------------------------------------------------

JOB=harvest
EVERY_MS=3000
RACE_S=13

# The file server's clock in ms: the mtime of a file just created in the
# shared folder.
server_ms() {
	local f=$SHARED/.clock.$BASHPID ms
	: >"$f" && ms=$(stat -c %.3Y "$f") && rm -f "$f" || return 1
	echo "${ms/./}"
}

# runner ID END_MS: as node ID, 'cohort run-once' every ~300 ms until the
# local clock passes END_MS; one line per invocation in $W/inv.ID:
# "EXIT<TAB>OUTPUT" (output lines joined with '|').
runner() {
	local id=$1 end=$2 out rc
	while [ "$(now_ms)" -lt "$end" ]; do
		out=$("$COHORT" --root "$(node_root "$id")" --node "$id" \
			--state "$(node_state "$id")" run-once "$JOB" --every 3s \
			-- "$W/job.sh" "$id" 2>&1)
		rc=$?
		printf '%s\t%s\n' "$rc" "$(tr '\n' '|' <<<"$out")" >>"$W/inv.$id"
		sleep 0.3
	done
}

runonce_test() {
	local s0 s1 p0 p1 p id pids=() kp cp kperiod kstart n bad
	local ran killed skipped other last job
	new_root runonce
	for id in a b c; do
		node_cohort "$id" join >/dev/null 2>&1 || tap_bail "join $id (runonce)"
	done
	# The job: one line "PERIOD NODE START" per run, PERIOD from the
	# start the code recorded on the root (server time / every).  When
	# armed, the first run to see it sleeps until the test kills it.
	cat >"$W/job.sh" <<EOF
#!/bin/bash
id=\$1
start=\$("$COHORT" --root "$T/v\$(( \$(printf '%d' "'\$id") - 96 ))/$ROOT_NAME" \\
	--node "\$id" --state "$T/state/$ROOT_NAME/\$id" status --json |
	jq -r '.jobs[] | select(.name == "$JOB") | "\(.node) \(.start)"')
node=\${start% *}
start=\${start#* }
ms=\$(date -d "\$start" +%s%3N) || exit 3
echo "\$((ms / $EVERY_MS)) \$id \$start \$node" >>"$W/runs.log"
if [ -e "$W/kill.armed" ] && mkdir "$W/kill.claim" 2>/dev/null; then
	echo "\$PPID \$\$ \$((ms / $EVERY_MS)) \$start" >"$W/kill.tmp"
	mv "$W/kill.tmp" "$W/kill.info"
	sleep 60
fi
sleep 0.1
EOF
	chmod +x "$W/job.sh"
	: >"$W/runs.log"

	s0=$(server_ms) || tap_bail "read the server clock"
	local end=$(($(now_ms) + RACE_S * 1000))
	for id in a b c; do
		: >"$W/inv.$id"
		bg_start runner "$id" "$end"
		pids+=("$BG_PID")
	done
	# Arm the kill once the race is past its first period boundary, so
	# the killed run's period and the next one are covered entirely.
	sleep $((EVERY_MS / 1000)).2
	touch "$W/kill.armed"
	if wait_for 8 test -e "$W/kill.info"; then
		read -r kp cp kperiod kstart <"$W/kill.info"
		kill_tree "$kp" KILL
		kill -KILL "$cp" 2>/dev/null
		note "killed the runner of period $kperiod (run-once pid $kp, command pid $cp)"
		job=$(node_cohort a status --json | jq -c --arg j "$JOB" '.jobs[] | select(.name == $j)')
		if [ "$(jq -r .start <<<"$job")" = "$kstart" ]; then
			tap_is "status shows the killed run without an end" \
				"$(jq -c '[.end, .status]' <<<"$job")" "[null,null]"
		else
			tap_ok "status shows a later run than the killed one # $job"
		fi
	else
		tap_fail "an armed run starts (to be killed)"
		kperiod=""
	fi
	for p in "${pids[@]}"; do
		wait "$p"
	done
	s1=$(server_ms) || tap_bail "read the server clock"
	p0=$((s0 / EVERY_MS))
	p1=$((s1 / EVERY_MS))
	note "race from period $p0 to $p1 (server clock), runs: $(awk '{ printf "%s:%s ", $1, $2 }' "$W/runs.log")"

	n=$(awk '{ print $1 }' "$W/runs.log" | sort | uniq -d | tr '\n' ' ')
	tap_is "no period ran twice" "$n" ""
	bad=""
	for ((p = p0 + 1; p < p1; p++)); do
		n=$(awk -v p="$p" '$1 == p' "$W/runs.log" | wc -l)
		[ "$n" -eq 1 ] || bad="$bad period $p ran $n times;"
	done
	tap_is "every period covered by the race ran exactly once ($((p1 - p0 - 1)) periods)" \
		"$bad" ""
	n=$(awk -v a="$p0" -v b="$p1" '$1 < a || $1 > b' "$W/runs.log")
	tap_is "no run outside the race's periods" "$n" ""
	tap_is "every run recorded its own node as the runner" \
		"$(awk '$2 != $4' "$W/runs.log")" ""
	if [ -n "$kperiod" ]; then
		tap_is "the period after the killed run ran (its lease lapsed)" \
			"$(awk -v p="$((kperiod + 1))" '$1 == p' "$W/runs.log" | wc -l)" 1
	fi

	# Every invocation: ran (exit 0, no output), skipped (exit 0,
	# "skipped: ..."), or the one killed (137).
	ran=0 killed=0 skipped=0 other=""
	for id in a b c; do
		while IFS=$'\t' read -r rc out; do
			if [ "$rc" = 137 ]; then
				killed=$((killed + 1))
			elif [ "$rc" = 0 ] && [[ "$out" == "skipped: "* ]]; then
				skipped=$((skipped + 1))
			elif [ "$rc" = 0 ] && [ -z "${out//|/}" ]; then
				ran=$((ran + 1))
			else
				other="$other [$id exit $rc: $out]"
			fi
		done <"$W/inv.$id"
	done
	note "invocations: $ran ran, $skipped skipped, $killed killed"
	tap_is "every other invocation printed 'skipped: ...' and exited 0" "$other" ""
	tap_is "one invocation was killed" "$killed" 1
	tap_is "the runs counted by the job are the invocations that ran" \
		"$((ran + killed))" "$(wc -l <"$W/runs.log")"
	tap_check "most invocations were skipped (the race was a race)" \
		test "$skipped" -gt $((3 * ran))

	# The last run, as status shows it.
	last=$(tail -n 1 "$W/runs.log")
	job=$(node_cohort c status --json | jq -c --arg j "$JOB" '.jobs[] | select(.name == $j)')
	tap_is "status --json shows the job's last run (node, start, status)" \
		"$(jq -r '"\(.node) \(.start) \(.status)"' <<<"$job")" \
		"$(awk '{ print $2, $3 }' <<<"$last") 0"
	local sm em
	sm=$(date -d "$(jq -r .start <<<"$job")" +%s%3N 2>/dev/null)
	em=$(date -d "$(jq -r '.end // empty' <<<"$job")" +%s%3N 2>/dev/null)
	if [ -n "$sm" ] && [ -n "$em" ] && [ "$em" -ge $((sm + 100)) ] &&
		[[ "$(jq -r .end <<<"$job")" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]]; then
		tap_ok "status --json shows the last run's end (RFC 3339, after its start and the command's 100 ms)"
	else
		tap_fail "status --json shows the last run's end (RFC 3339, after its start and the command's 100 ms)" \
			"$job"
	fi
}

t_start=$(now_ms)
catchup_test
cutoff_test
priority_test static
priority_test dynamic
runonce_test
note "node.sh took $((($(now_ms) - t_start) / 1000)) s"
