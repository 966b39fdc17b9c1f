#!/usr/bin/env bash
# tests/nfs/s_init.sh - concurrent 'cohort init' from three kernel NFS
# clients, then join.
#
# 1. Six inits of one fresh root, two per client, released together by a
#    FIFO barrier: every one exits 0 and prints the same UUID v4, the one
#    in cohort.id; no temporary file is left in the root.
# 2. Nodes a, b, c join through c1, c2, c3; 'status --json' read through
#    each client lists all three, registered (not retired; without a
#    running 'cohort node' they turn stale after stale_after), in the one
#    cluster.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/nfs/lib.sh
. "$HERE/lib.sh"
lab_setup init
W=$T/work
UUID4='^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
NINIT=6

# ---- 1. concurrent init ------------------------------------------------------

fifo=$W/go
mkfifo "$fifo"
exec 3<>"$fifo"
pids=()
for i in $(seq 1 $NINIT); do
	n=$(((i - 1) % 3 + 1))
	bg_start bash -c ': >"$2"; read -r _ <"$1"; shift 2; exec "$@"' \
		_ "$fifo" "$W/ready.$i" \
		nsenter -t "${LAB_HOLDER[$((n - 1))]}" --uts \
		"$COHORT" --root "$LAB_MNT/c$n/$LAB_DIR/$ROOT_NAME" init \
		>"$W/out.$i" 2>"$W/err.$i"
	pids+=("$BG_PID")
done
wait_for 60 eval '[ "$(ls "$W" | grep -c "^ready\.")" -ge $NINIT ]' ||
	tap_bail "the $NINIT inits reach the barrier"
for i in $(seq 1 $NINIT); do echo go >&3; done
bad=()
for i in $(seq 1 $NINIT); do
	wait "${pids[$((i - 1))]}"
	rc=$?
	[ $rc -eq 0 ] || bad+=("init $i exited $rc: $(cat "$W/err.$i")")
done
exec 3>&-
ids=$(cat "$W"/out.* | sort -u)
file_id=$(sed -n 's/^cluster //p' "$ROOT_SHARED/cohort.id" 2>/dev/null)
if [ ${#bad[@]} -eq 0 ]; then
	tap_ok "$NINIT concurrent inits from 3 clients all exit 0"
else
	tap_fail "$NINIT concurrent inits from 3 clients all exit 0" "${bad[@]}"
fi
if [ "$(wc -l <<<"$ids")" -eq 1 ] && [[ "$ids" =~ $UUID4 ]] && [ "$ids" = "$file_id" ]; then
	tap_ok "every init printed the one UUID v4 in cohort.id"
else
	tap_fail "every init printed the one UUID v4 in cohort.id" \
		"printed: $(tr '\n' ' ' <<<"$ids")" "cohort.id: $file_id"
fi
left=$(find "$ROOT_SHARED" -name '*.tmp.*' 2>/dev/null)
tap_is "no temporary file is left" "$left" ""

# ---- 2. join and status --------------------------------------------------------

for n in a b c; do
	node_cohort "$n" join >/dev/null 2>"$W/join.$n" ||
		tap_fail "join as $n" "$(cat "$W/join.$n")"
done
for n in a b c; do
	got=$(node_cohort "$n" status --json 2>&1 |
		jq -r '[.cluster, (.nodes | map(select(.state != "retired")) | map(.id) | sort | join(","))] | join(" ")' 2>&1)
	tap_is "status through $n's client: one cluster, a b c registered" "$got" "$ids a,b,c"
done
