#!/usr/bin/env bash
# tests/nfs/s_group.sh - group commit across the processes of one node on
# one NFS client (issue 18): 8 processes appending through the node's
# committer against one process appending alone, same mount, same run.
#
# Node a on client c1.  First one process of bench_append (direct
# cohort_journal_append, 128-byte records) for GROUP_SECONDS; then 'cohort
# node' as a (hosting the committer) and 8 processes of bench_append
# --shared started together for the same window.  Each phase runs under
# tests/nfs/rpc-count, so the RPCs per record of c1's mount are printed
# beside the rates (the 8-process phase includes the node's own heartbeat
# and polling).  Every process must succeed and the 8 must reach at least
# 3x the records/s of the one (the issue's target); the figures go to
# /lab-results/figures.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/nfs/lib.sh
. "$HERE/lib.sh"
lab_setup group
W=$T/work
BA=$BUILD/bench/bench_append
need_prog "$BA" "bench_append (make bench builds it)"
SECS=${GROUP_SECONDS:-5}
lab_cluster a
R=$(node_root a)
S=$(node_state a)

# ba ARGS...: bench_append on client c1 (its host name).
ba() {
	client_uts 1 "$BA" "$@"
}

# sum_key KEY FILES...: the sum of KEY=N over the result lines.
sum_key() {
	local k=$1
	shift
	cat "$@" | tr ' ' '\n' | awk -F= -v k="$k" '$1 == k { t += $2 } END { print t + 0 }'
}

out=$("$RPC_COUNT" -o "$W/rpc.one" /mnt/c1 -- \
	nsenter -t "${LAB_HOLDER[0]}" --uts "$BA" cohort "$R" a "$S" \
	--seconds "$SECS" 2>&1)
rc=$?
tap_rc "one process appends for ${SECS}s" "$rc" 0 "$out"
one_rate=$(sum_key rate <<<"$out")
one_recs=$(sum_key records <<<"$out")

node_cohort a node --poll-ms 250 >/dev/null 2>"$W/node.log" &
np=$!
CLUSTER_PIDS+=($np)
wait_for 60 test -S "$S/committer.sock" || tap_bail "a's committer listens" "$(cat "$W/node.log")"

start=$(($(ba now) + 3000000000))
cat >"$W/eight.sh" <<EOF
for i in 1 2 3 4 5 6 7 8; do
	nsenter -t "${LAB_HOLDER[0]}" --uts "$BA" cohort "$R" a "$S" --shared \
		--seconds "$SECS" --start-at "$start" >"$W/eight.\$i" 2>&1 &
done
rc=0
for p in \$(jobs -p); do wait "\$p" || rc=1; done
exit \$rc
EOF
"$RPC_COUNT" -o "$W/rpc.eight" /mnt/c1 -- bash "$W/eight.sh"
rc=$?
tap_rc "8 processes append through a's committer for ${SECS}s" "$rc" 0 "$(cat "$W"/eight.*)"
eight_recs=$(sum_key records "$W"/eight.[1-8])
eight_rate=$(awk -v r="$eight_recs" -v s="$SECS" 'BEGIN { printf "%.1f", r / s }')
kill -TERM "$np"
wait "$np"
served=$(sed -n 's/.*committer stopped: \([0-9]*\) commit request.*/\1/p' "$W/node.log")

ratio=$(awk -v a="$eight_rate" -v b="$one_rate" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print 0 }')
rpr_one=$(awk -v t="$(cut -d' ' -f1 "$W/rpc.one")" -v n="$one_recs" 'BEGIN { if (n > 0) printf "%.1f", t / n; else print "nan" }')
rpr_eight=$(awk -v t="$(cut -d' ' -f1 "$W/rpc.eight")" -v n="$eight_recs" 'BEGIN { if (n > 0) printf "%.1f", t / n; else print "nan" }')
note "group $LAB_KIND: 1 process $one_rate rec/s ($rpr_one RPCs/record: $(cat "$W/rpc.one"))"
note "group $LAB_KIND: 8 processes $eight_rate rec/s ($rpr_eight RPCs/record: $(cat "$W/rpc.eight")), committer served ${served:-?}"
echo "$LAB_KIND group one=$one_rate eight=$eight_rate ratio=$ratio rpc_per_record_one=$rpr_one rpc_per_record_eight=$rpr_eight served=${served:-0}" \
	>>"${LAB_RESULTS:-$T}/figures"
if awk -v r="$ratio" 'BEGIN { exit !(r >= 3) }'; then
	tap_ok "8 processes reach ${ratio}x the records/s of one ($eight_rate vs $one_rate)"
else
	tap_fail "8 processes reach >= 3x the records/s of one" "${ratio}x ($eight_rate vs $one_rate)"
fi
