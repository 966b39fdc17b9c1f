#!/usr/bin/env bash
# tests/cluster/init.sh - cluster identity and node registration across
# bindfs views.
#
# 1. Twenty concurrent 'cohort init' spread over three views of one root
#    (three rounds, fresh roots): all exit 0 and print the same UUID v4, the
#    one in cohort.id; no temporary file is left; a later init prints it too.
# 2. A root whose cohort.id has an unknown format version ("cohort-format
#    99") is refused by init, status and join: exit 1, one 'cohort: ' line
#    naming the version.
# 3. 'join' of nodes a, b, c on three views: all three appear in
#    'status --json' seen from every view, live, in one cluster; 'leave'
#    retires a node and a re-join brings it back.
# 4. A node id held by a live process (tests/helpers/nodeclaim) is refused
#    to a second 'join', from the same state folder and from another view
#    with another state folder; once the holder stops (SIGTERM) or dies
#    (SIGKILL) the id can be joined again.
#
# BUILD=build bash tests/cluster/init.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/lib.sh
. "$HERE/lib.sh"

NODECLAIM=${NODECLAIM:-$BUILD/tests/helpers/nodeclaim}
need_prog "$COHORT" "the cohort tool"
need_prog "$NODECLAIM" "tests/helpers/nodeclaim"
command -v jq >/dev/null 2>&1 ||
	tap_bail "jq is installed (the cluster tests read 'status --json' with it)"
cluster_setup 3
node_bind a 1
node_bind b 2
node_bind c 3

UUID4='^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'

# ---- 1. concurrent init ----------------------------------------------------

# concurrent_init NAME N: N inits of shared/NAME spread over the views, all
# released at once by a FIFO barrier.  Results in work/NAME/.
concurrent_init() {
	local name=$1 n=$2 dir=$T/work/$1 i v pids=() fifo
	mkdir -p "$dir"
	fifo=$dir/go
	mkfifo "$fifo"
	exec 3<>"$fifo"
	for i in $(seq 1 "$n"); do
		v=$(((i - 1) % CLUSTER_K + 1))
		bg_start bash -c ': >"$2"; read -r _ <"$1"; shift 2; exec "$@"' \
			_ "$fifo" "$dir/ready.$i" \
			"$COHORT" --root "$T/v$v/$name" init \
			>"$dir/out.$i" 2>"$dir/err.$i"
		pids+=("$BG_PID")
	done
	# Release them together once all wait at the barrier.
	wait_for 20 eval '[ "$(ls "$dir" | grep -c "^ready\.")" -ge "$n" ]'
	for i in $(seq 1 "$n"); do
		echo go >&3
	done
	for i in $(seq 1 "$n"); do
		wait "${pids[$((i - 1))]}"
		echo $? >"$dir/rc.$i"
	done
	exec 3>&-
}

for round in $(seq 1 "${INIT_ROUNDS:-3}"); do
	name=init-$round
	concurrent_init "$name" 20
	dir=$T/work/$name
	bad=""
	for i in $(seq 1 20); do
		rc=$(cat "$dir/rc.$i")
		lines=$(wc -l <"$dir/out.$i")
		if [ "$rc" != 0 ] || [ "$lines" != 1 ] ||
			! grep -Eq "$UUID4" "$dir/out.$i"; then
			bad="$bad init $i (view v$(((i - 1) % 3 + 1))): exit $rc, stdout '$(cat "$dir/out.$i")', stderr '$(cat "$dir/err.$i")'
"
		fi
	done
	ids=$(cat "$dir"/out.* | sort -u)
	if [ -z "$bad" ]; then
		tap_ok "round $round: 20 concurrent inits over 3 views all exit 0 and print one UUID v4"
	else
		tap_fail "round $round: 20 concurrent inits over 3 views all exit 0 and print one UUID v4" "$bad"
	fi
	file_id=$(sed -n 's/^cluster //p' "$SHARED/$name/cohort.id" 2>/dev/null)
	if [ "$(printf '%s\n' "$ids" | wc -l)" = 1 ] && [ "$ids" = "$file_id" ]; then
		tap_ok "round $round: every init printed the same id, the one in cohort.id"
	else
		tap_fail "round $round: every init printed the same id, the one in cohort.id" \
			"printed: $(echo "$ids" | tr '\n' ' ')" "cohort.id: $file_id"
	fi
	leftovers=$(find "$SHARED/$name" -name '*.tmp.*' 2>/dev/null)
	if [ -z "$leftovers" ]; then
		tap_ok "round $round: no temporary files left in the root"
	else
		tap_fail "round $round: no temporary files left in the root" "$leftovers"
	fi
done

again=$("$COHORT" --root "$T/v2/init-1" init 2>&1)
tap_is "init of an existing root prints its id again" "$again" \
	"$(sed -n 's/^cluster //p' "$SHARED/init-1/cohort.id")"

# ---- 2. unknown format version ---------------------------------------------

mkdir -p "$SHARED/future"
printf 'cohort-format 99\ncluster %s\ncreated 0\n' \
	"$(cat /proc/sys/kernel/random/uuid)" >"$SHARED/future/cohort.id"
# refused CMD ARGS...: exit 1 and one "cohort: " line naming version 99.
refused_future() {
	local what=$1 out rc
	shift
	out=$("$@" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" = 1 ] && [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] &&
		[[ "$out" == "cohort: "* ]] && [[ "$out" == *version* ]] &&
		[[ "$out" == *99* ]]; then
		tap_ok "$what on a root of format version 99 is refused (exit 1, says the version)"
	else
		tap_fail "$what on a root of format version 99 is refused (exit 1, says the version)" \
			"exit $rc" "stderr: $out"
	fi
}
refused_future init "$COHORT" --root "$T/v1/future" init
refused_future status "$COHORT" --root "$T/v2/future" status
refused_future join "$COHORT" --root "$T/v3/future" --node a \
	--state "$T/state/future/a" join
if grep -q '^cohort-format 99$' "$SHARED/future/cohort.id" &&
	[ "$(ls -A "$SHARED/future")" = cohort.id ]; then
	tap_ok "a refused root is left untouched"
else
	tap_fail "a refused root is left untouched" "$(ls -lA "$SHARED/future")" \
		"$(cat "$SHARED/future/cohort.id")"
fi

# ---- 3. join / status / leave ----------------------------------------------

use_root root
id=$(node_cohort a init 2>&1)
for n in a b c; do
	tap_check "join of node $n on view v$(node_viewno $n)" node_cohort "$n" join
done

# status_json ID: 'status --json' as node ID, through its view.
status_json() {
	node_cohort "$1" status --json
}
for n in a b c; do
	js=$(status_json "$n" 2>&1)
	got=$(jq -r '[.cluster, (.nodes | map(.id + ":" + .state) | join(" "))] |
		join(" ")' <<<"$js" 2>&1)
	tap_is "status --json on view v$(node_viewno $n) lists a, b, c live in cluster $id" \
		"$got" "$id a:live b:live c:live"
done
tap_check "the root holds nodes/a, nodes/b and nodes/c" \
	test -d "$ROOT_SHARED/nodes/a" -a -d "$ROOT_SHARED/nodes/b" \
	-a -d "$ROOT_SHARED/nodes/c"

tap_check "leave of node b" node_cohort b leave
got=$(status_json c | jq -r '.nodes | map(.id + ":" + .state) | join(" ")' 2>&1)
tap_is "after leave, status shows b retired" "$got" "a:live b:retired c:live"
tap_check "re-join of node b" node_cohort b join
got=$(status_json a | jq -r '.nodes | map(.id + ":" + .state) | join(" ")' 2>&1)
tap_is "after re-join, status shows b live" "$got" "a:live b:live c:live"

# ---- 4. a live instance holds its id ---------------------------------------

# refused_join DESC CMD...: exit 1, one "cohort: " line that says the id is
# held.
refused_join() {
	local d=$1 out rc
	shift
	out=$("$@" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" = 1 ] && [[ "$out" == "cohort: "* ]] &&
		[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] && [[ "$out" == *held* ]]; then
		tap_ok "$d"
	else
		tap_fail "$d" "exit $rc" "stderr: $out"
	fi
}

start_claim() {
	bg_start "$NODECLAIM" --root "$(node_root a)" --node a \
		--state "$(node_state a)" >"$T/work/claim.out" 2>"$T/work/claim.err"
	CLAIM_PID=$BG_PID
	if wait_for 10 grep -q claimed "$T/work/claim.out"; then
		return 0
	fi
	tap_fail "a long-running process claims node a" "$(cat "$T/work/claim.err")"
	return 1
}

if start_claim; then
	refused_join "a second join of a, same state folder, is refused while a live process holds it" \
		node_cohort a join
	refused_join "a second join of a from another view and state folder is refused while it is held" \
		"$COHORT" --root "$T/v2/root" --node a --state "$T/state/elsewhere-a" join
	kill -TERM "$CLAIM_PID"
	wait "$CLAIM_PID"
	rc=$?
	tap_is "the holder releases the id on SIGTERM (exit 0)" "$rc" 0
	tap_check "join of a succeeds once the holder stopped" node_cohort a join
fi
if start_claim; then
	kill -KILL "$CLAIM_PID"
	wait "$CLAIM_PID" 2>/dev/null
	tap_check "join of a from another view succeeds once the holder died (SIGKILL)" \
		"$COHORT" --root "$T/v3/root" --node a --state "$T/state/elsewhere-a" join
fi
exit 0
