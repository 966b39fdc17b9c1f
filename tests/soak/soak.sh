#!/usr/bin/env bash
# tests/soak/soak.sh - the soak test: three nodes on three bindfs views of
# one folder doing random work for DURATION, with random SIGKILLs and one
# mount lost and restored; at the end every invariant holds.
#
# While it runs (all through the CLI, 'cohort' copied to $T/bin):
#  - a worker per node (a, b, c on views v1, v2, v3) runs one command at a
#    time, at random: append (one record, or a --lines batch of 2-5; unique
#    payloads NODE.SEQ.I.K.padding, a few over the 4k segment size),
#    install (one of eight jars as soak.p1-3 in namespace 'soak' or root.r1
#    in the root namespace, --version unique per attempt), uninstall,
#    janitor, fsck (check only), materialize into the node's folder, list.
#    Each attempt is logged before it starts, its acknowledgement (exit 0,
#    and the revisions 'append' printed) only after the command returned.
#  - a consumer per node: 'cohort watch --exec HOOK', the hook appending
#    "REV ORIGIN TYPE PAYLOAD" to the node's applied log (local disk);
#    restarted whenever it dies.
#  - a chaos loop SIGKILLs a running worker command (two times in three)
#    or consumer every 0.2-0.9 s (a quarter of the consumer kills take the
#    hook with it); 12% of the worker's commands run with a fault injected
#    (COHORT_FAULT: a SIGKILL, EIO, ENOSPC, ESTALE, EINTR, a short write or
#    a rename/link that lies, at the Nth call of one kind).
#  - at 40% of the run one node's bindfs is killed (ENOTCONN); its worker
#    and consumer keep failing for LOSS_S seconds; then they are stopped,
#    the view unmounted and mounted again, and they start again.
#  - a monitor reads 'status --json' every second: no live node is ever
#    behind the tail (the janitor never removed what it had not applied),
#    no node is retired.
# ROOT/cohort.conf: segment_size 4k, blob_grace 3s, retire_after 60s (three
# times the longest mount loss; 'watch' does not beat, so after a minute a
# node's moving revision file alone keeps it from being retired), short
# lease timings (a killed holder on another view is waited out quickly).
#
# Then everything stops, each node runs a last 'sync --exec HOOK', and:
#  1. every node applied every revision 1..head: first applications in
#     revision order with no gap, the same content on every node; replays
#     (at-least-once, NOTES "Revision files and replay") only of the record
#     in flight (within 3 of the newest applied) and no more than the
#     consumer deaths of that node; node revisions never went back;
#  2. 'log --json' (tail..head) equals what the nodes applied, on all three
#     views; all nodes' revisions are at the one head, none retired;
#  3. per origin node, its records in revision order are its attempts in
#     attempt order, every acknowledged one present exactly once (appends
#     at the revision 'append' printed), unacknowledged ones whole or
#     absent; every record is an attempted payload (nothing half-visible,
#     nothing from nowhere); --lines batches all or nothing, contiguous;
#  4. commit order respects real time: an acknowledged append or install
#     that ended before another one started has the smaller revision;
#  5. 'list --json' is the same on every node and equals the replay of
#     every store record (the last install/uninstall per package wins);
#     'materialize' gives each node's folder exactly those files, with the
#     bytes of the jar installed;
#  6. the janitor removed segments and blobs during the run, never past a
#     live node (monitor, consumers never saw "bootstrap"), and a last
#     janitor with every node at the head leaves at most two segments;
#  7. fsck during the run found nothing that is not repairable (on nodes
#     with their mount); at the end 'fsck' is clean, and after 'fsck
#     --repair --grace 0s' (leftovers of SIGKILLed processes) 'fsck --grace
#     0s' is clean and the journal unchanged;
#  8. no command on a node with its mount failed other than by SIGKILL, an
#     injected fault or a documented refusal ("not installed").
# Figures go out as TAP comments, and one line "# soak-summary {JSON}".
#
# make soak DURATION=10m    (or: BUILD=build DURATION=60s tests/soak/soak.sh)
# DURATION: seconds, or with an s, m or h suffix (default 10m).
# SOAK_LOSS_S: seconds the lost mount stays lost (default: DURATION/10,
# 5..20).  SOAK_FAULTS=0: no injected faults.  COHORT_TEST_KEEP=1 keeps
# the work folder.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/lib.sh
. "$HERE/../cluster/lib.sh"

parse_duration() {
	local d=$1
	case "$d" in
	*h) d=${d%h}; [[ "$d" =~ ^[0-9]+$ ]] && echo $((d * 3600)) ;;
	*m) d=${d%m}; [[ "$d" =~ ^[0-9]+$ ]] && echo $((d * 60)) ;;
	*s) d=${d%s}; [[ "$d" =~ ^[0-9]+$ ]] && echo "$d" ;;
	*) [[ "$d" =~ ^[0-9]+$ ]] && echo "$d" ;;
	esac
}

DURATION=${DURATION:-10m}
RUN_S=$(parse_duration "$DURATION")
if [ -z "$RUN_S" ] || [ "$RUN_S" -lt 10 ]; then
	echo "not ok 1 - DURATION '$DURATION' is a duration of at least 10s (60s, 10m, 1h)"
	exit 2
fi
LOSS_S=${SOAK_LOSS_S:-$((RUN_S / 10))}
[ "$LOSS_S" -lt 5 ] && LOSS_S=5
[ "$LOSS_S" -gt 20 ] && LOSS_S=20

need_prog "$COHORT" "the cohort tool"
for p in jq zip awk sort; do
	command -v "$p" >/dev/null 2>&1 || tap_bail "$p is installed (soak.sh needs it)"
done
cluster_setup 3
tool_copy
node_bind a 1
node_bind b 2
node_bind c 3
NODES="a b c"
W=$T/work
P=$W/pids
mkdir -p "$P" "$W/jars"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=86"

CONF='[cluster]
lock_timeout = 20s
lease_refresh = 250ms
lease_timeout = 3s
skew_margin = 1s
heartbeat_interval = 500ms
stale_after = 10s
[journal]
segment_size = 4k
poll_interval = 100ms
[janitor]
retire_after = 60s
min_age = 0s
blob_grace = 3s
'
write_conf "$CONF"
node_cohort a init >/dev/null 2>"$W/init.err" || tap_bail "cohort init" "$(cat "$W/init.err")"
for n in $NODES; do
	node_cohort "$n" join >/dev/null 2>"$W/join.$n" || tap_bail "join $n" "$(cat "$W/join.$n")"
	mkdir -p "$W/mat.$n"
	: >"$W/applied.$n"
	: >"$W/att.$n"
	: >"$W/ack.$n"
	: >"$W/ops.$n"
	: >"$W/cons.$n"
done
: >"$W/kills"
: >"$W/monitor.bad"
: >"$W/monitor.log"

# The consumer's hook: one line per record, written with one write().
cat >"$W/hook.sh" <<'EOF'
#!/bin/sh
d=$(cat)
printf '%s\t%s\t%s\t%s\n' "$COHORT_REV" "$COHORT_ORIGIN" "$COHORT_TYPE" "$d" >>"$1"
EOF
chmod +x "$W/hook.sh"

# make_jar FILE ID: a jar (zip) with an OSGi manifest and unique content.
make_jar() {
	local d
	d=$(mktemp -d "$W/jar.XXXXXX")
	mkdir -p "$d/META-INF" "$d/org/soak"
	printf 'Manifest-Version: 1.0\r\nBundle-ManifestVersion: 2\r\nBundle-SymbolicName: %s\r\nBundle-Version: 1.0.0\r\n\r\n' \
		"$2" >"$d/META-INF/MANIFEST.MF"
	head -c 2500 /dev/urandom >"$d/org/soak/data.bin"
	(cd "$d" && zip -q -X -r "$1" META-INF org) || return 1
	rm -rf "$d"
}
JARS=(j1 j2 j3 j4 j5 j6 j7 j8)
for j in "${JARS[@]}"; do
	make_jar "$W/jars/$j.jar" "soak.$j" || tap_bail "build jars with zip"
done
# Faults injected into 12% of the worker's commands (COHORT_FAULT, NOTES
# "Fault injection"): a SIGKILL or an error at the Nth call of one kind.
FAULTS=${SOAK_FAULTS:-1}
FAULT_OPS=(open read write fsync rename link unlink mkdir stat lock truncate close)
FAULT_WHAT=(kill kill kill EIO ENOSPC ESTALE EINTR short lie)
PKGS=("soak|soak.p1" "soak|soak.p2" "soak|soak.p3" "-|root.r1")

# ---- workers ---------------------------------------------------------------

# wait_unpaused WHO ID: while W/pause.ID exists, say W/paused.WHO.ID and wait.
wait_unpaused() {
	[ -e "$W/pause.$2" ] || return 0
	touch "$W/paused.$1.$2"
	while [ -e "$W/pause.$2" ] && [ ! -e "$W/stop" ]; do sleep 0.1; done
	rm -f "$W/paused.$1.$2"
}

# run_op ID IN ARGS...: the tool as node ID, stdin from IN, output in
# W/o.ID and W/e.ID; OP_RC, OP_T0, OP_T1 (ns), OP_DOWN (the node's mount
# was lost at the start or at the end).
run_op() {
	local id=$1 in=$2 pid
	shift 2
	OP_DOWN=0
	[ -e "$W/down.$id" ] && OP_DOWN=1
	OP_FAULT=""
	if [ "$FAULTS" = 1 ] && [ $((RANDOM % 100)) -lt 12 ]; then
		OP_FAULT=${FAULT_OPS[$((RANDOM % ${#FAULT_OPS[@]}))]}:$((1 + RANDOM % 24)):${FAULT_WHAT[$((RANDOM % ${#FAULT_WHAT[@]}))]}
	fi
	OP_T0=$(date +%s%N)
	COHORT_FAULT=$OP_FAULT "$COHORT" --root "$(node_root "$id")" --node "$id" \
		--state "$(node_state "$id")" "$@" <"$in" >"$W/o.$id" 2>"$W/e.$id" &
	pid=$!
	echo "$pid" >"$P/op.$id"
	{ wait "$pid"; } 2>/dev/null
	OP_RC=$?
	rm -f "$P/op.$id"
	OP_T1=$(date +%s%N)
	[ -e "$W/down.$id" ] && OP_DOWN=1
	return 0
}

# op_log ID SEQ KIND [REFUSED-REGEX]: one line in W/ops.ID:
# SEQ KIND RC CLASS T0 T1 MESSAGE FAULT; CLASS ok, injected (failed with a
# fault injected), killed, mount (the mount was lost), refused (a documented
# refusal), error.
op_log() {
	local id=$1 seq=$2 kind=$3 re=${4:-} class msg=""
	if [ "$OP_RC" -eq 0 ]; then
		class=ok
	elif [ -n "$OP_FAULT" ]; then
		class=injected
	elif [ "$OP_RC" -eq 137 ]; then
		class=killed
	elif [ "$OP_DOWN" = 1 ]; then
		class=mount
	elif [ -n "$re" ] && [ "$OP_RC" -eq 1 ] && grep -qE "$re" "$W/e.$id"; then
		class=refused
	else
		class=error
	fi
	[ "$OP_RC" -ne 0 ] && msg=$(head -c 300 "$W/e.$id" | tr '\n\t' '  ')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$seq" "$kind" "$OP_RC" "$class" \
		"$OP_T0" "$OP_T1" "$msg" "$OP_FAULT" >>"$W/ops.$id"
	OP_CLASS=$class
}

# A payload: NODE.SEQ.I.K. then padding (a few larger than a segment).
payload() {
	local n pad
	n=$((RANDOM % 200))
	[ $((RANDOM % 50)) -eq 0 ] && n=$((4200 + RANDOM % 1500))
	printf -v pad '%*s' "$n" ''
	echo "$1.$2.$3.$4.${pad// /p}"
}

op_append() {
	local id=$1 seq=$2 k=$3 i
	: >"$W/in.$id"
	for ((i = 0; i < k; i++)); do
		payload "$id" "$seq" "$i" "$k" >>"$W/in.$id"
	done
	awk -v s="$seq" '{ printf "%s\tappend|%s\n", s, $0 }' "$W/in.$id" >>"$W/att.$id"
	if [ "$k" -eq 1 ]; then
		# DATA as the argument: no newline at the end of the record.
		run_op "$id" /dev/null append "$(cat "$W/in.$id")"
	else
		run_op "$id" "$W/in.$id" append --lines
	fi
	op_log "$id" "$seq" append
	[ "$OP_CLASS" = ok ] || return 0
	if [ "$(grep -cE '^[0-9]+$' "$W/o.$id")" != "$k" ]; then
		echo "append as $id (seq $seq) exited 0 but printed: $(head -c 200 "$W/o.$id")" >>"$W/weird"
		return 0
	fi
	# SEQ KEY REV T0 T1
	paste "$W/o.$id" "$W/in.$id" | awk -F'\t' -v s="$seq" -v t0="$OP_T0" -v t1="$OP_T1" \
		'{ printf "%s\tappend|%s\t%s\t%s\t%s\n", s, $2, $1, t0, t1 }' >>"$W/ack.$id"
}

op_install() {
	local id=$1 seq=$2 p ns pid jar ver key
	p=${PKGS[$((RANDOM % ${#PKGS[@]}))]}
	ns=${p%%|*}
	pid=${p#*|}
	jar=${JARS[$((RANDOM % ${#JARS[@]}))]}
	ver="1.$seq-$id"
	key="install|$ns|$pid|$ver"
	printf '%s\t%s\t%s\n' "$seq" "$key" "$jar" >>"$W/att.$id"
	if [ "$ns" = - ]; then
		run_op "$id" /dev/null install --id "$pid" --version "$ver" "$W/jars/$jar.jar"
	else
		run_op "$id" /dev/null install --namespace "$ns" --id "$pid" \
			--version "$ver" "$W/jars/$jar.jar"
	fi
	op_log "$id" "$seq" install
	[ "$OP_CLASS" = ok ] &&
		printf '%s\t%s\t-\t%s\t%s\n' "$seq" "$key" "$OP_T0" "$OP_T1" >>"$W/ack.$id"
	return 0
}

op_uninstall() {
	local id=$1 seq=$2 p ns pid key
	p=${PKGS[$((RANDOM % ${#PKGS[@]}))]}
	ns=${p%%|*}
	pid=${p#*|}
	key="uninstall|$ns|$pid"
	printf '%s\t%s\n' "$seq" "$key" >>"$W/att.$id"
	if [ "$ns" = - ]; then
		run_op "$id" /dev/null uninstall "$pid"
	else
		run_op "$id" /dev/null uninstall --namespace "$ns" "$pid"
	fi
	op_log "$id" "$seq" uninstall "is not installed"
	[ "$OP_CLASS" = ok ] &&
		printf '%s\t%s\t-\t%s\t%s\n' "$seq" "$key" "$OP_T0" "$OP_T1" >>"$W/ack.$id"
	return 0
}

op_janitor() {
	local id=$1 seq=$2
	run_op "$id" /dev/null janitor --json
	op_log "$id" "$seq" janitor
	[ "$OP_CLASS" = ok ] && cat "$W/o.$id" >>"$W/janitor.$id"
	return 0
}

# fsck check only: exit 0 clean, 4 problems (kinds kept), 8 could not run.
op_fsck() {
	local id=$1 seq=$2
	run_op "$id" /dev/null fsck --json
	if [ "$OP_RC" -eq 4 ] || [ "$OP_RC" -eq 1 ]; then
		jq -c --arg n "$id" --arg s "$seq" --arg d "$OP_DOWN" --arg f "$OP_FAULT" \
			'select(.summary != true) | {node: $n, seq: $s, down: $d, fault: $f, kind, path, detail}' \
			<"$W/o.$id" >>"$W/fsck.found" 2>/dev/null
		OP_RC=0 # found problems: judged by kind at the end
		op_log "$id" "$seq" fsck
		sed -i '$ s/\tok\t/\tfound\t/' "$W/ops.$id"
		return 0
	fi
	op_log "$id" "$seq" fsck
}

op_materialize() {
	run_op "$1" /dev/null materialize "$W/mat.$1"
	op_log "$1" "$2" materialize
}

op_list() {
	run_op "$1" /dev/null list --json
	op_log "$1" "$2" list
	[ "$OP_CLASS" = ok ] && ! jq -e . "$W/o.$1" >/dev/null 2>&1 && [ -s "$W/o.$1" ] &&
		echo "list --json as $1 printed what jq cannot read: $(head -c 200 "$W/o.$1")" >>"$W/weird"
	return 0
}

worker() {
	local id=$1 seq=0 r
	RANDOM=$((BASHPID ^ 10#$(date +%N)))
	while [ ! -e "$W/stop" ]; do
		wait_unpaused worker "$id"
		[ -e "$W/stop" ] && break
		seq=$((seq + 1))
		r=$((RANDOM % 100))
		if [ $r -lt 38 ]; then op_append "$id" "$seq" 1
		elif [ $r -lt 52 ]; then op_append "$id" "$seq" $((2 + RANDOM % 4))
		elif [ $r -lt 66 ]; then op_install "$id" "$seq"
		elif [ $r -lt 75 ]; then op_uninstall "$id" "$seq"
		elif [ $r -lt 84 ]; then op_janitor "$id" "$seq"
		elif [ $r -lt 89 ]; then op_fsck "$id" "$seq"
		elif [ $r -lt 95 ]; then op_materialize "$id" "$seq"
		else op_list "$id" "$seq"
		fi
		if [ -e "$W/down.$id" ]; then sleep 0.3; else sleep "0.0$((RANDOM % 6))"; fi
	done
}

# ---- consumers -------------------------------------------------------------

consumer() {
	local id=$1 pid rc class t0
	while [ ! -e "$W/stop" ]; do
		wait_unpaused consumer "$id"
		[ -e "$W/stop" ] && break
		t0=$(date +%s%N)
		"$COHORT" --root "$(node_root "$id")" --node "$id" \
			--state "$(node_state "$id")" watch --poll-ms 100 \
			--exec "$W/hook.sh $W/applied.$id" \
			>>"$W/watch.$id.out" 2>"$W/watch.$id.err" &
		pid=$!
		echo "$pid" >"$P/watch.$id"
		{ wait "$pid"; } 2>/dev/null
		rc=$?
		rm -f "$P/watch.$id"
		if [ $rc -eq 0 ]; then class=stopped
		elif [ $rc -eq 137 ]; then class=killed
		elif [ -e "$W/down.$id" ]; then class=mount
		else class=error
		fi
		printf '%s\t%s\t%s\t%s\n' "$t0" "$rc" "$class" \
			"$(head -c 300 "$W/watch.$id.err" | tr '\n\t' '  ')" >>"$W/cons.$id"
		[ -e "$W/stop" ] && break
		if [ -e "$W/down.$id" ]; then sleep 0.5; else sleep 0.1; fi
	done
}

# ---- chaos and monitor -----------------------------------------------------

# kill_consumer_tree PID: stop 'watch', kill its hook, then it.
kill_consumer_tree() {
	local p
	kill -STOP "$1" 2>/dev/null || return 1
	for p in $(proc_descendants "$1"); do
		kill -KILL "$p" 2>/dev/null
	done
	kill -KILL "$1" 2>/dev/null
}

chaos() {
	local files f pid how
	RANDOM=$((BASHPID ^ 10#$(date +%N)))
	while [ ! -e "$W/stop" ]; do
		sleep "0.$((2 + RANDOM % 8))"
		[ -e "$W/stop" ] && break
		# Worker commands two times in three when one is running.
		files=("$P"/op.*)
		[ -e "${files[0]}" ] && [ $((RANDOM % 3)) -ne 0 ] || files=("$P"/watch.*)
		[ -e "${files[0]}" ] || continue
		f=${files[$((RANDOM % ${#files[@]}))]}
		pid=$(ours_pid "$f") || continue
		how=process
		if [[ "$f" == */watch.* ]] && [ $((RANDOM % 4)) -eq 0 ]; then
			how=tree
			kill_consumer_tree "$pid" || continue
		else
			kill -KILL "$pid" 2>/dev/null || continue
		fi
		printf '%s\t%s\t%s\t%s\n' "$(date +%s%N)" "${f##*/}" "$pid" "$how" >>"$W/kills"
	done
}

# The monitor: every second 'status --json' through a view that is up; a
# node that is not retired is never behind the tail (status reads the
# bounds before the revision files, and revisions only grow).
monitor() {
	local n s via
	while [ ! -e "$W/stop" ]; do
		via=""
		for n in $NODES; do
			[ -e "$W/down.$n" ] || [ -e "$W/pause.$n" ] || { via=$n; break; }
		done
		if [ -n "$via" ] && s=$(node_cohort "$via" status --json 2>/dev/null); then
			jq -r '"\(.head) \(.tail) " + ([.nodes[] | "\(.id):\(.revision):\(.state)"] | join(" "))' \
				<<<"$s" >>"$W/monitor.log" 2>/dev/null
			jq -r '.tail as $t | .nodes[] |
				select(.state == "retired" or (.revision + 1 < $t)) |
				"node \(.id) \(.state) at revision \(.revision), tail \($t)"' \
				<<<"$s" >>"$W/monitor.bad" 2>/dev/null
		fi
		sleep 1
	done
}

# ---- the run ---------------------------------------------------------------

T_START=$(now_ms)
note "soak: $RUN_S s, three nodes on bindfs views, mount loss of $LOSS_S s at 40%"
WORKER_PIDS=()
for n in $NODES; do
	bg_start worker "$n"; WORKER_PIDS+=("$BG_PID")
	bg_start consumer "$n"; WORKER_PIDS+=("$BG_PID")
done
bg_start chaos; WORKER_PIDS+=("$BG_PID")
bg_start monitor; WORKER_PIDS+=("$BG_PID")

all_paused() {
	[ -e "$W/paused.worker.$1" ] && [ -e "$W/paused.consumer.$1" ]
}

# lose_mount ID: the node's bindfs killed, LOSS_S s later its processes
# stopped, the view mounted again, its processes started again.
LOST_NODE=""
LOSS_OK=0
lose_mount() {
	local id=$1 v f
	v=$(node_viewno "$id")
	touch "$W/down.$id"
	note "mount loss: node $id (view v$v) at $((($(now_ms) - T_START) / 1000)) s"
	view_kill "$v" || { note "cannot kill view v$v"; rm -f "$W/down.$id"; return 1; }
	sleep "$LOSS_S"
	touch "$W/pause.$id"
	for f in "$P/op.$id" "$P/watch.$id"; do
		[ -e "$f" ] && kill_tree "$(cat "$f" 2>/dev/null)" KILL 2>/dev/null
	done
	wait_for 60 all_paused "$id" || note "node $id's loops did not pause"
	view_unmount "$v" || note "cannot unmount view v$v"
	view_mount "$v" || { note "cannot mount view v$v again"; return 1; }
	rm -f "$W/down.$id" "$W/pause.$id"
	note "mount back: node $id at $((($(now_ms) - T_START) / 1000)) s"
	LOSS_OK=1
}

sleep $((RUN_S * 2 / 5))
LOST_NODE=$(echo $NODES | tr ' ' '\n' | shuf -n 1)
lose_mount "$LOST_NODE"
left=$((RUN_S - ($(now_ms) - T_START) / 1000))
[ "$left" -gt 0 ] && sleep "$left"

# ---- stop everything -------------------------------------------------------

touch "$W/stop"
for n in $NODES; do
	[ -e "$P/watch.$n" ] && kill -TERM "$(cat "$P/watch.$n" 2>/dev/null)" 2>/dev/null
done
wait_for 90 none_alive "${WORKER_PIDS[@]}" || note "loops still running 90 s after the stop"
for p in "${WORKER_PIDS[@]}"; do
	kill_tree "$p" KILL
	wait "$p" 2>/dev/null
done
RUN_END=$(now_ms)
for i in 1 2 3; do
	is_mounted "$T/v$i" || { note "view v$i not mounted at the end: mounting it"; view_mount "$i"; }
done

# ---- the final sync --------------------------------------------------------

FINAL_BAD=""
for n in $NODES; do
	if ! node_cohort "$n" sync --exec "$W/hook.sh $W/applied.$n" >/dev/null 2>"$W/final.$n.err"; then
		FINAL_BAD="$FINAL_BAD$n: $(cat "$W/final.$n.err") "
	fi
done
tap_is "each node's last 'sync --exec' exits 0" "$FINAL_BAD" ""

# ---- 2. one head, nothing retired ------------------------------------------

for n in $NODES; do
	node_cohort "$n" status --json >"$W/status.$n" 2>&1
done
HEAD=$(jq -r .head "$W/status.a" 2>/dev/null)
TAIL=$(jq -r .tail "$W/status.a" 2>/dev/null)
got=$(for n in $NODES; do jq -r '"\(.head) \(.tail) " + ([.nodes[] | "\(.id)=\(.revision)/\(.state)"] | join(","))' "$W/status.$n"; done | sort -u)
# 'watch' does not beat: the nodes are "stale" (not "live") by now.
got=$(sed 's/\/stale/\/live/g' <<<"$got")
tap_is "all nodes see one head and every node at it, none retired" "$got" \
	"$HEAD $TAIL a=$HEAD/live,b=$HEAD/live,c=$HEAD/live"

# ---- 1. what the consumers applied -----------------------------------------

# The record of each revision: what most deliveries on the three nodes
# carried (W/canon: REV ORIGIN TYPE DATA).  A delivery that differs from it
# must be a truncated copy: a hook that outlived its killed 'watch' read
# the payload up to where the pipe was cut (NOTES "Revision files and
# replay": the record is delivered again, whole).
cat "$W"/applied.? | awk -F'\t' 'NF >= 4 { n[$0]++; if (n[$0] > best[$1]) { best[$1] = n[$0]; rec[$1] = $0 } }
	END { for (r in rec) print rec[r] }' | sort -n -k1,1 >"$W/canon"

# applied_check ID: every revision 1..HEAD delivered whole, first
# deliveries in revision order, every other delivery a truncated copy;
# prints problems.  W/first.ID: the first whole delivery of each revision.
applied_check() {
	awk -F'\t' -v head="$HEAD" -v out="$W/first.$1" -v tr="$W/truncated.$1" '
		NR == FNR { canon[$1] = $0; next }
		!($1 in seen) {
			if ($1 != next_rev + 1) {
				printf "line %d: revision %s delivered first after %d\n", FNR, $1, next_rev; bad++
			}
			next_rev = $1; seen[$1] = 1
		}
		$0 == canon[$1] { if (!($1 in whole)) { whole[$1] = 1; print > out }; next }
		index(canon[$1], $0) == 1 { print > tr; next }
		{ printf "revision %s delivered with other content: %.80s\n", $1, $0; bad++ }
		END {
			if (next_rev != head) printf "last revision delivered %d, head %d\n", next_rev, head
			for (r = 1; r <= next_rev; r++) if (!(r in whole)) { printf "revision %d never delivered whole\n", r; if (++nw > 3) break }
		}
	' "$W/canon" "$W/applied.$1" | head -n 10
}
for n in $NODES; do
	: >"$W/truncated.$n"
	tap_is "node $n applied every revision 1..$HEAD whole, first deliveries in order, no gap" \
		"$(applied_check "$n")" ""
done
if cmp -s "$W/first.a" "$W/canon" && cmp -s "$W/first.b" "$W/canon" && cmp -s "$W/first.c" "$W/canon"; then
	tap_ok "the three nodes applied the same records (type, origin, payload)"
else
	tap_fail "the three nodes applied the same records" \
		"$(diff "$W/first.a" "$W/canon" | head -n 4)" "$(diff "$W/first.b" "$W/canon" | head -n 4)" \
		"$(diff "$W/first.c" "$W/canon" | head -n 4)"
fi
TRUNC=$(cat "$W"/truncated.? | wc -l)
# A replay is of the record in flight when the consumer died: the one
# after the revision file (NOTES "Revision files and replay").  A hook that
# outlived its 'watch' may write it a little after the new 'watch' went on.
for n in $NODES; do
	tap_is "node $n replayed only records in flight (within 3 of the newest applied)" \
		"$(awk -F'\t' '($1 in seen) && $1 + 3 < max { printf "line %d: revision %s again after %d\n", NR, $1, max; bad++ }
			{ seen[$1] = 1; if ($1 + 0 > max) max = $1 + 0 }' "$W/applied.$n" | head -n 3)" ""
done
tap_is "node revisions only grow (status samples)" \
	"$(awk '{ for (i = 3; i <= NF; i++) { split($i, f, ":"); if (f[1] in r && f[2] + 0 < r[f[1]]) printf "node %s went from %d to %d\n", f[1], r[f[1]], f[2]; r[f[1]] = f[2] + 0 } }' "$W/monitor.log" | head -n 3)" ""
declare -A DUPS DEATHS
for n in $NODES; do
	DUPS[$n]=$(($(wc -l <"$W/applied.$n") - $(wc -l <"$W/first.$n")))
	[ "${DUPS[$n]}" -lt 0 ] && DUPS[$n]=0
	DEATHS[$n]=$(awk -F'\t' '$3 != "stopped"' "$W/cons.$n" | wc -l)
done
if [ "${DUPS[a]}" -le "${DEATHS[a]}" ] && [ "${DUPS[b]}" -le "${DEATHS[b]}" ] &&
	[ "${DUPS[c]}" -le "${DEATHS[c]}" ]; then
	tap_ok "replays at most one record per consumer death (a ${DUPS[a]}/${DEATHS[a]}, b ${DUPS[b]}/${DEATHS[b]}, c ${DUPS[c]}/${DEATHS[c]})"
else
	tap_fail "replays at most one record per consumer death" \
		"a ${DUPS[a]}/${DEATHS[a]}, b ${DUPS[b]}/${DEATHS[b]}, c ${DUPS[c]}/${DEATHS[c]} (replays/deaths)"
fi
BEHIND=$(grep -l -i "bootstrap\|oldest retained" "$W"/watch.*.err "$W"/final.*.err 2>/dev/null;
	grep -i "bootstrap\|oldest retained" "$W"/cons.* 2>/dev/null | head -n 3)
tap_is "no consumer was ever left behind the tail" "$BEHIND" ""

# The journal as applied: REV ORIGIN KEY (KEY as the attempts write it).
jq -R -r 'split("\t") as $f |
	if $f[2] == "data" then "\($f[0])\t\($f[1])\tappend|\($f[3])"
	elif $f[2] == "store.install" then ($f[3] | fromjson) as $j |
		"\($f[0])\t\($f[1])\tinstall|\(if ($j.ns // "") == "" then "-" else $j.ns end)|\($j.id)|\($j.version)"
	elif $f[2] == "store.uninstall" then ($f[3] | fromjson) as $j |
		"\($f[0])\t\($f[1])\tuninstall|\(if ($j.ns // "") == "" then "-" else $j.ns end)|\($j.id)"
	else "\($f[0])\t\($f[1])\tother|\($f[2])" end' <"$W/canon" >"$W/journal" 2>"$W/journal.err"
[ -s "$W/journal.err" ] && tap_fail "every applied record parses" "$(head -n 3 "$W/journal.err")"

# 'log --json' through each view: the retained part equals what was applied.
LOG_BAD=""
for n in $NODES; do
	node_cohort "$n" log --json >"$W/log.$n" 2>"$W/log.$n.err" || LOG_BAD="$LOG_BAD$n: $(cat "$W/log.$n.err") "
	jq -r '"\(.rev)\t\(.node)\t\(.type)\t\(.data)"' <"$W/log.$n" >"$W/log.$n.tsv" 2>/dev/null
	awk -F'\t' 'NR == FNR { a[$1] = $0; next } a[$1] != $0 { printf "log rev %s differs from what was applied\n", $1; bad++ }
		END { if (FNR == 0) print "log is empty" }' \
		"$W/canon" "$W/log.$n.tsv" | head -n 3 >>"$W/log.bad"
	[ "$(head -n 1 "$W/log.$n.tsv" | cut -f1)" = "$TAIL" ] && [ "$(tail -n 1 "$W/log.$n.tsv" | cut -f1)" = "$HEAD" ] ||
		echo "log through $n reads $(head -n 1 "$W/log.$n.tsv" | cut -f1)..$(tail -n 1 "$W/log.$n.tsv" | cut -f1), want $TAIL..$HEAD" >>"$W/log.bad"
done
tap_is "'log --json' on every view reads tail..head, equal to what the nodes applied" \
	"$LOG_BAD$(cat "$W/log.bad" 2>/dev/null)" ""

# ---- 3. per origin: the journal is the attempts, acknowledged ones included ----

# origin_check ID: W/att.ID (SEQ KEY ...) against the journal's records
# from ID, in order.  The set of positions reachable in the record list is
# carried over the attempts: an acknowledged attempt must be the next
# record; one that was not may be the next record or absent.  Prints
# problems.
origin_check() {
	local id=$1
	awk -F'\t' -v id="$id" '$2 == id { print $3 }' "$W/journal" >"$W/rec.$id"
	awk -F'\t' -v id="$id" '
		BEGIN { cur[0] = 1 }
		FILENAME == ARGV[1] { acked[$1 "\t" $2] = 1; next }
		FILENAME == ARGV[2] { rec[++nr] = $0; next }
		{
			key = $2; m = (($1 "\t" key) in acked)
			for (p in nxt) delete nxt[p]
			any = 0
			for (p in cur) {
				p += 0
				if (!m) { nxt[p] = 1; any++ }
				if (p < nr && rec[p + 1] == key) { nxt[p + 1] = 1; any++ }
			}
			if (!any) {
				lo = nr; for (p in cur) if (p + 0 < lo) lo = p + 0
				printf "acknowledged attempt %s (%.60s) is not the next record from %s (record %d: %.60s)\n", $1, key, id, lo + 1, rec[lo + 1]
				failed = 1; exit
			}
			for (p in cur) delete cur[p]
			n = 0; for (p in nxt) { cur[p] = 1; n++ }
			if (n > 256) { print "too many possible matchings"; failed = 1; exit }
		}
		END {
			if (failed || (nr in cur)) exit
			lo = nr; for (p in cur) if (p + 0 < lo) lo = p + 0
			printf "record %d of %d from %s is not one of its attempts in order: %.80s\n", lo + 1, nr, id, rec[lo + 1]
		}
	' "$W/ack.$id" "$W/rec.$id" "$W/att.$id" | head -n 5
}
for n in $NODES; do
	tap_is "node $n's records are its attempts in order, every acknowledged one included" \
		"$(origin_check "$n")" ""
done
# Every record is an attempted payload; appends and installs are unique.
BAD=$(cut -f3 "$W/journal" | grep -v '^uninstall|' | sort | uniq -d | head -n 3 | cut -c1-80 | sed 's/^/twice: /')
BAD="$BAD$(cut -f3 "$W/journal" | sort -u | comm -23 - <(cat "$W"/att.* | cut -f2 | sort -u) | head -n 3 | cut -c1-80 | sed 's/^/never attempted: /')"
tap_is "every record is one whole attempted payload, appends and installs once each" "$BAD" ""
# Acknowledged appends at the revisions 'append' printed.
BAD=$(cat "$W"/ack.* | awk -F'\t' 'NR == FNR { k[$1] = $3; next }
	$3 != "-" && k[$3] != $2 { printf "revision %s: acknowledged %.50s, journal has %.50s\n", $3, $2, k[$3] }' \
	"$W/journal" - | head -n 5)
tap_is "every acknowledged append is at the revision it was given" "$BAD" ""
# --lines batches: all or nothing, contiguous, in order.
BAD=$(awk -F'\t' '$3 ~ /^append\|/ {
		split(substr($3, 8), f, "."); b = f[1] "." f[2]
		if (!(b in n)) { first[b] = $1; k[b] = f[4] }
		if (f[3] != n[b] + 0 || $1 != first[b] + n[b]) { printf "batch %s: part %s at revision %s out of place\n", b, f[3], $1 }
		n[b]++
	}
	END { for (b in n) if (n[b] != k[b]) printf "batch %s: %d of %d records\n", b, n[b], k[b] }' "$W/journal" | head -n 5)
tap_is "--lines batches are all or nothing, contiguous and in order" "$BAD" ""

# ---- 4. commit order respects real time ------------------------------------

# Acknowledged appends and installs with their revision and times.
cat "$W"/ack.* | awk -F'\t' 'NR == FNR { if ($3 !~ /^uninstall/) rev[$3] = $1; next }
	($2 in rev) { print rev[$2] "\t" $4 "\t" $5 "\t" $2 }' "$W/journal" - |
	sort -n -k1,1 >"$W/acked.timed"
BAD=$(awk -F'\t' '{ if (NR > 1 && $3 < maxt0) { printf "revision %s ended before revision %s started\n", $1, maxr; bad++ }
	if ($2 > maxt0) { maxt0 = $2; maxr = $1 } }' "$W/acked.timed" | head -n 3)
tap_is "an acknowledged commit that ended before another started has the smaller revision" "$BAD" ""

# ---- 5. the store ----------------------------------------------------------

# Replay of every store record: NS ID VERSION of what is installed.
awk -F'\t' '$3 ~ /^(un)?install\|/ { split($3, f, "|"); k = f[2] " " f[3]
		if (f[1] == "install") st[k] = f[4]; else delete st[k] }
	END { for (k in st) print k, st[k] }' "$W/journal" | sort >"$W/store.replay"
LIST_BAD=""
for n in $NODES; do
	node_cohort "$n" list --json >"$W/list.$n" 2>"$W/list.$n.err" || LIST_BAD="$LIST_BAD$n: $(cat "$W/list.$n.err") "
	jq -r '"\(.namespace // "-") \(.id) \(.version)"' <"$W/list.$n" | sort >"$W/list.$n.txt"
done
if [ -z "$LIST_BAD" ] && cmp -s "$W/list.a" "$W/list.b" && cmp -s "$W/list.a" "$W/list.c"; then
	tap_ok "'list --json' is the same on every node ($(wc -l <"$W/list.a.txt") packages)"
else
	tap_fail "'list --json' is the same on every node" "$LIST_BAD" "$(diff "$W/list.a" "$W/list.b" | head -n 3)" \
		"$(diff "$W/list.a" "$W/list.c" | head -n 3)"
fi
tap_is "the installed packages are the replay of every install and uninstall (last one wins)" \
	"$(diff "$W/store.replay" "$W/list.a.txt")" ""

# Materialize on each node: exactly the listed packages, the jar's bytes.
MAT_BAD=""
for n in $NODES; do
	node_cohort "$n" materialize "$W/mat.$n" >"$W/mat.$n.out" 2>&1 || MAT_BAD="$MAT_BAD$n: $(cat "$W/mat.$n.out") "
	want=$(jq -r '"\(.id)-\(.version)"' <"$W/list.$n" | sort | tr '\n' ' ')
	got=$(cd "$W/mat.$n" && ls | sed 's/\.jar$//' | sort | tr '\n' ' ')
	[ "$want" = "$got" ] || MAT_BAD="$MAT_BAD$n holds '$got', list says '$want' "
	for f in "$W/mat.$n"/*; do
		[ -e "$f" ] || continue
		ok=0
		for j in "${JARS[@]}"; do
			cmp -s "$f" "$W/jars/$j.jar" && ok=1
		done
		[ $ok = 1 ] || MAT_BAD="$MAT_BAD$n: ${f##*/} is none of the jars "
	done
done
[ -z "$MAT_BAD" ] && ! diff -r -x '.*' "$W/mat.a" "$W/mat.b" >/dev/null && MAT_BAD="a and b differ"
[ -z "$MAT_BAD" ] && ! diff -r -x '.*' "$W/mat.a" "$W/mat.c" >/dev/null && MAT_BAD="a and c differ"
tap_is "materialized folders hold exactly the installed packages, byte for byte, on every node" "$MAT_BAD" ""
# Each materialized file is the jar whose hash the index gives.
BAD=$(jq -r '"\(.id)-\(.version).jar \(.size)"' <"$W/list.a" | while read -r f sz; do
	[ "$(stat -c %s "$W/mat.a/$f" 2>/dev/null)" = "$sz" ] || echo "$f: size not $sz"
done | head -n 3)
tap_is "each materialized file has the size the index gives" "$BAD" ""

# ---- 6. the janitor --------------------------------------------------------

cat "$W"/janitor.* >"$W/janitor.all" 2>/dev/null
J_RUNS=$(jq -s '[.[] | select(.busy == false)] | length' "$W/janitor.all" 2>/dev/null || echo 0)
J_BUSY=$(jq -s '[.[] | select(.busy == true)] | length' "$W/janitor.all" 2>/dev/null || echo 0)
J_SEGS=$(jq -s '[.[] | select(.busy == false) | .segments | length] | add // 0' "$W/janitor.all" 2>/dev/null || echo 0)
J_BLOBS=$(jq -s '[.[] | select(.busy == false) | .blobs | length] | add // 0' "$W/janitor.all" 2>/dev/null || echo 0)
J_RETIRED=$(jq -s -c '[.[] | .retired[]?] | unique' "$W/janitor.all" 2>/dev/null || echo '?')
if [ "$J_SEGS" -gt 0 ] && [ "$J_BLOBS" -gt 0 ] && [ "$TAIL" -gt 1 ]; then
	tap_ok "the janitor removed journal segments ($J_SEGS) and blobs ($J_BLOBS) during the run (tail $TAIL)"
else
	tap_fail "the janitor removed journal segments and blobs during the run" \
		"$J_SEGS segments, $J_BLOBS blobs in $J_RUNS runs, tail $TAIL"
fi
tap_is "the janitor retired no node" "$J_RETIRED" "[]"
MON_N=$(wc -l <"$W/monitor.log")
tap_is "no live node was ever behind the tail, none retired ($MON_N status samples)" \
	"$(sort -u "$W/monitor.bad" | head -n 5)" ""

# ---- 7. fsck ---------------------------------------------------------------

REPAIRABLE='^(lock\.stale|lock\.break|lock\.leftover|temp|journal\.unpublished-commit|journal\.uncommitted-tail|journal\.old-segment|journal\.unpublished-segment|node\.heartbeat|node\.instance|store\.blob-unreferenced|store\.stray|zero-length)$'
: >>"$W/fsck.found"
F_RUNS=$(cat "$W"/ops.* | awk -F'\t' '$2 == "fsck"' | wc -l)
F_CLEAN=$(cat "$W"/ops.* | awk -F'\t' '$2 == "fsck" && $4 == "ok"' | wc -l)
F_FOUND=$(cat "$W"/ops.* | awk -F'\t' '$2 == "fsck" && $4 == "found"' | wc -l)
BAD=$(jq -r --arg re "$REPAIRABLE" 'select(.down == "0" and .fault == "" and (.kind | test($re) | not)) |
	"\(.node) seq \(.seq): \(.kind) \(.path): \(.detail)"' "$W/fsck.found" | head -n 8)
tap_is "fsck while running ($F_RUNS runs, $F_CLEAN clean) found nothing that is not repairable" "$BAD" ""

node_cohort a fsck --json >"$W/fsck.end" 2>&1
rc=$?
F_END=$(jq -r 'select(.summary != true) | .kind' "$W/fsck.end" 2>/dev/null | sort | uniq -c | tr '\n' ' ' | tr -s ' ')
BAD=$(jq -r --arg re "$REPAIRABLE" 'select(.summary != true and (.kind | test($re) | not)) |
	"\(.kind) \(.path): \(.detail)"' "$W/fsck.end" 2>/dev/null | head -n 5)
if { [ $rc -eq 0 ] || [ $rc -eq 4 ]; } && [ -z "$BAD" ]; then
	tap_ok "fsck at the end finds nothing but leftovers of killed processes (exit $rc: ${F_END:-clean})"
else
	tap_fail "fsck at the end finds nothing but leftovers of killed processes" "exit $rc" "$BAD"
fi
node_cohort a fsck --grace 0s --json >"$W/fsck.grace0" 2>&1
F_LEFT0=$(jq -r 'select(.summary != true) | .kind' "$W/fsck.grace0" 2>/dev/null | sort | uniq -c | tr '\n' ' ' | tr -s ' ')
cp "$W/log.a.tsv" "$W/log.before-repair"
node_cohort a fsck --repair --grace 0s --json >"$W/fsck.repair" 2>&1
rc=$?
if [ $rc -le 1 ]; then
	tap_ok "fsck --repair --grace 0s repairs every leftover (exit $rc; found: ${F_LEFT0:-nothing})"
else
	tap_fail "fsck --repair --grace 0s repairs every leftover" "exit $rc" \
		"$(jq -r 'select(.summary != true and .repaired != true) | "\(.kind) \(.path): \(.detail)"' "$W/fsck.repair" | head -n 8)"
fi
node_cohort a fsck --grace 0s --json >"$W/fsck.after" 2>&1
tap_is "after the repair fsck --grace 0s is clean" "$? $(jq -r 'select(.summary != true) | "\(.kind) \(.path)"' "$W/fsck.after" 2>/dev/null | head -n 5)" "0 "
node_cohort b log --json 2>/dev/null | jq -r '"\(.rev)\t\(.node)\t\(.type)\t\(.data)"' >"$W/log.after-repair"
cmp -s "$W/log.before-repair" "$W/log.after-repair"
tap_is "the repair changed no record (log before = log after)" "$?" 0

# A last janitor with every node at the head: at most two segments left.
node_cohort c janitor >"$W/janitor.last" 2>&1
SEGS_LEFT=$(find "$ROOT_SHARED/journal" -maxdepth 1 -name 'seg-*' | wc -l)
if [ "$SEGS_LEFT" -le 2 ]; then
	tap_ok "a last janitor, every node at the head, leaves $SEGS_LEFT segment(s)"
else
	tap_fail "a last janitor leaves at most two segments" "$SEGS_LEFT left" "$(cat "$W/janitor.last")"
fi

# ---- 8. errors -------------------------------------------------------------

cat "$W"/ops.* >"$W/ops.all"
ERRS=$(awk -F'\t' '$4 == "error" { print $2 " exit " $3 ": " $7 }' "$W/ops.all")
CERRS=$(cat "$W"/cons.* | awk -F'\t' '$3 == "error" { print "watch exit " $2 ": " $4 }')
[ -s "$W/weird" ] && ERRS="$ERRS
$(cat "$W/weird")"
if [ -z "$ERRS$CERRS" ]; then
	tap_ok "no command on a node with its mount failed other than by SIGKILL, an injected fault or a documented refusal"
else
	tap_fail "no command on a node with its mount failed other than by SIGKILL, an injected fault or a documented refusal" \
		"$(printf '%s\n%s\n' "$ERRS" "$CERRS" | sed '/^$/d' | sed -E 's/[0-9]{3,}/N/g' | sort | uniq -c | sort -rn | head -n 15)"
fi
tap_is "the mount was lost and restored once (node $LOST_NODE)" "$LOSS_OK" 1
K_OPS=$(awk -F'\t' '$2 ~ /^op\./' "$W/kills" | wc -l)
K_CONS=$(awk -F'\t' '$2 ~ /^watch\./' "$W/kills" | wc -l)
if [ "$K_OPS" -gt 0 ] && [ "$K_CONS" -gt 0 ]; then
	tap_ok "the chaos loop SIGKILLed worker commands ($K_OPS) and consumers ($K_CONS)"
else
	tap_fail "the chaos loop SIGKILLed worker commands and consumers" "$K_OPS commands, $K_CONS consumers"
fi

# ---- figures ---------------------------------------------------------------

ELAPSED=$(((RUN_END - T_START) / 1000))
note "figures: run ${ELAPSED} s (DURATION $RUN_S s), head $HEAD, tail $TAIL"
note "operations by kind: attempted / acknowledged (exit 0) / SIGKILLed by the chaos loop / failed on the lost mount / refused as documented / other error / run with a fault injected"
awk -F'\t' '{ n[$2]++; c[$2, $4]++; k[$2] = 1; if ($8 != "") f[$2]++ }
	END { for (x in k) printf "#   %-12s %6d / %6d ok / %5d killed / %4d mount / %4d refused / %4d error / %4d with a fault, %d failed by it%s\n", x, n[x], c[x, "ok"] + c[x, "found"], c[x, "killed"], c[x, "mount"], c[x, "refused"], c[x, "error"], f[x], c[x, "injected"], (c[x, "found"] ? sprintf(" / %d found problems", c[x, "found"]) : "") }' \
	"$W/ops.all" | sort
REC_ATT=$(cat "$W"/att.* | awk -F'\t' '$2 ~ /^append\|/' | wc -l)
REC_ACK=$(cat "$W"/ack.* | awk -F'\t' '$2 ~ /^append\|/' | wc -l)
REC_JOURNAL=$(grep -c $'\tappend|' "$W/journal")
STORE_RECS=$(grep -cE $'\t(un)?install\\|' "$W/journal")
note "records: $REC_ATT attempted, $REC_ACK acknowledged, $REC_JOURNAL in the journal ($((REC_JOURNAL - REC_ACK)) unacknowledged that committed); $STORE_RECS store records"
KILLS=$(wc -l <"$W/kills")
K_OPS=$(awk -F'\t' '$2 ~ /^op\./' "$W/kills" | wc -l)
K_WATCH=$(awk -F'\t' '$2 ~ /^watch\./ && $4 == "process"' "$W/kills" | wc -l)
K_TREE=$(awk -F'\t' '$4 == "tree"' "$W/kills" | wc -l)
note "SIGKILLs: $KILLS ($K_OPS worker commands, $K_WATCH consumers, $K_TREE consumers with their hook)"
C_DEATHS=$(cat "$W"/cons.* | awk -F'\t' '$3 != "stopped"' | wc -l)
C_MOUNT=$(cat "$W"/cons.* | awk -F'\t' '$3 == "mount"' | wc -l)
note "consumers: $C_DEATHS deaths ($C_MOUNT while the mount was lost), replays a ${DUPS[a]}, b ${DUPS[b]}, c ${DUPS[c]}; $TRUNC truncated deliveries (a hook that outlived its killed 'watch' got part of the payload and exited 0)"
note "mount losses: $LOSS_OK (node $LOST_NODE, $LOSS_S s)"
note "janitor: $J_RUNS runs, $J_BUSY busy, $J_SEGS segments and $J_BLOBS blobs removed; retired $J_RETIRED; $SEGS_LEFT segments left"
note "fsck while running: $F_RUNS runs, $F_CLEAN clean, $F_FOUND found problems: $(jq -r .kind "$W/fsck.found" | sort | uniq -c | tr '\n' ' ' | tr -s ' ')"
note "fsck at the end with --grace 0s: ${F_LEFT0:-clean}"
note "temporary files left in the materialized folders by killed materializes (hidden; by design nobody else removes them): $(find "$W"/mat.? -name '.*.tmp.*' | wc -l)"
MOUNT_FAULTS=$(awk -F'\t' '$4 == "mount"' "$W/ops.all" | wc -l)
ERR_N=$(awk -F'\t' '$4 == "error"' "$W/ops.all" | wc -l)
CERR_N=$(cat "$W"/cons.* | awk -F'\t' '$3 == "error"' | wc -l)
INJ=$(awk -F'\t' '$8 != ""' "$W/ops.all" | wc -l)
INJ_FAILED=$(awk -F'\t' '$4 == "injected"' "$W/ops.all" | wc -l)
INJ_KILLED=$(awk -F'\t' '$4 == "injected" && $3 == 137' "$W/ops.all" | wc -l)
note "faults injected: $INJ commands, $INJ_FAILED failed by it ($INJ_KILLED SIGKILLed at a call): $(awk -F'\t' '$4 == "injected" { split($8, f, ":"); print f[1] ":" f[3] }' "$W/ops.all" | sort | uniq -c | sort -rn | awk '{ printf "%s %s, ", $1, $2 }')"
note "faults seen: $MOUNT_FAULTS commands failed on the lost mount, $ERR_N commands and $CERR_N consumers failed otherwise"
note "problems found: $TAP_FAILED"
jq -n -c --argjson dur "$ELAPSED" --argjson head "${HEAD:-0}" --argjson tail "${TAIL:-0}" \
	--argjson rec_att "$REC_ATT" --argjson rec_ack "$REC_ACK" --argjson rec_journal "$REC_JOURNAL" \
	--argjson kills "$KILLS" --argjson kills_ops "$K_OPS" --argjson kills_consumer "$((K_WATCH + K_TREE))" \
	--argjson mount_losses "$LOSS_OK" --argjson mount_faults "$MOUNT_FAULTS" \
	--argjson errors "$((ERR_N + CERR_N))" --argjson janitor_segments "$J_SEGS" \
	--argjson janitor_blobs "$J_BLOBS" --argjson fsck_runs "$F_RUNS" \
	--argjson injected "$INJ" --argjson injected_failed "$INJ_FAILED" --argjson replays "$((DUPS[a] + DUPS[b] + DUPS[c]))" --argjson truncated "$TRUNC" --argjson problems "$TAP_FAILED" \
	--argjson ops "$(awk -F'\t' '{ print $2 "\t" $4 }' "$W/ops.all" | jq -R -s -c 'split("\n") | map(select(length > 0) | split("\t")) |
		group_by(.[0]) | map({key: .[0][0], value: ({attempted: length} + (group_by(.[1]) | map({key: .[0][1], value: length}) | from_entries))}) | from_entries')" \
	'{duration_s: $dur, head: $head, tail: $tail, records: {attempted: $rec_att, acknowledged: $rec_ack, in_journal: $rec_journal},
	  ops: $ops, kills: $kills, kills_ops: $kills_ops, kills_consumer: $kills_consumer, mount_losses: $mount_losses,
	  mount_faults: $mount_faults, injected: $injected, injected_failed: $injected_failed, errors: $errors, replays: $replays, truncated_deliveries: $truncated, janitor_segments: $janitor_segments,
	  janitor_blobs: $janitor_blobs, fsck_runs: $fsck_runs, problems: $problems}' | sed 's/^/# soak-summary /'
