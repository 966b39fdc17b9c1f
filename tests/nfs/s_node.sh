#!/usr/bin/env bash
# tests/nfs/s_node.sh - 'cohort node' catches up after being stopped, on
# three kernel NFS clients.
#
# Node c (client c3) runs 'cohort node --exec HOOK --materialize DIR'; a
# record appended through c1 reaches its hook; c is stopped (SIGTERM: exit
# 0); meanwhile a appends and installs a package through c1 and b appends
# a batch through c2; once c runs again its hook has received every record
# exactly once, in revision order, as 'cohort log' shows them, its
# revision is the head, and its folder holds the package, byte-identical.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/nfs/lib.sh
. "$HERE/lib.sh"
lab_setup node
W=$T/work
HB=$W/hook.c
MAT=$W/plugins.c

lab_cluster a b

cat >"$W/hook.sh" <<'EOS'
#!/bin/sh
printf '%s %s %s\n' "$COHORT_REV" "$COHORT_TYPE" "$(base64 -w0)" >>"$1"
EOS
chmod +x "$W/hook.sh"
lab_jar "$W/node.jar" lab.node 2.0

log_as_hook() {
	node_cohort "$1" log --json |
		jq -r '"\(.rev) \(.type) \(.data_base64 // (.data | @base64))"'
}
hook_last() { tail -n 1 "$HB" 2>/dev/null | awk '{ print $1 + 0 }'; }
hook_has() { [ "$(hook_last)" -ge "$1" ] 2>/dev/null; }

NODE_PID=""
# node_start: 'cohort node' as c in the background (the pid is cohort's).
node_start() {
	echo "---- start" >>"$W/node.err"
	nsenter -t "${LAB_HOLDER[2]}" --uts "$COHORT" --root "$(node_root c)" \
		--node c --state "$(node_state c)" node --poll-ms 250 \
		--exec "$W/hook.sh $HB" --materialize "$MAT" 2>>"$W/node.err" &
	NODE_PID=$!
	CLUSTER_PIDS+=("$NODE_PID")
}

node_start
node_cohort a append "while c runs" >/dev/null || tap_fail "append through c1"
if wait_for 60 hook_has 1; then
	tap_ok "c's hook applies a record appended through c1"
else
	tap_fail "c's hook applies a record appended through c1" "$(tail -n 20 "$W/node.err")"
fi
kill -TERM "$NODE_PID"
wait_for 30 none_alive "$NODE_PID"
wait "$NODE_PID"
tap_is "'cohort node' exits 0 on SIGTERM" "$?" 0

node_cohort a append "while c is stopped 1" >/dev/null &&
	node_cohort a install "$W/node.jar" >/dev/null &&
	printf 'b1\nb2\n' | node_cohort b append --lines >/dev/null &&
	node_cohort a append "while c is stopped 2" >/dev/null ||
	tap_fail "appends and an install through c1 and c2"
head=$(node_cohort a status --json | jq -r .head)

node_start
if wait_for 90 hook_has "$head"; then
	tap_ok "c catches up to the head ($head) after the stop"
else
	tap_fail "c catches up to the head ($head) after the stop" \
		"hook at $(hook_last)" "$(tail -n 20 "$W/node.err")"
fi
tap_is "c's hook got every record once, in order, as the log shows" \
	"$(cat "$HB")" "$(log_as_hook a)"
wait_for 30 test -f "$MAT/lab.node-2.0.jar"
tap_check "c's folder holds the package installed while it was stopped" \
	cmp "$W/node.jar" "$MAT/lab.node-2.0.jar"
rev=$(node_cohort a status --json | jq -r '.nodes[] | select(.id == "c") | .revision')
tap_is "c's revision is the head" "$rev" "$head"
kill -TERM "$NODE_PID"
wait_for 30 none_alive "$NODE_PID"
wait "$NODE_PID"
tap_is "'cohort node' exits 0 on SIGTERM after catching up" "$?" 0
