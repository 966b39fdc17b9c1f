#!/usr/bin/env bash
# tests/nfs/bench.sh - the NFS section of 'make bench': durable commits on
# a kernel NFS mount, each figure with the RPCs it cost beside a baseline
# measured in the same run on the same mount.  tests/nfs/guest.sh runs it
# once per mount kind when the lab is started with 'lab.sh --bench'.
#
# Figures (BENCH_NFS_SECONDS per timed run, default 3; bench_append, the
# program of the bindfs figures 1-3):
#   plain     write(128 B) + fdatasync loop on one file (the baseline)
#   cohort    cohort_journal_append, one 128-byte record per commit
#   batch100  100-record commits (records/s)
#   sqlite    SQLite, DELETE journal, synchronous=FULL, one INSERT per
#             transaction
#   3clients  cohort on c1, c2 and c3 at once: aggregate and each share
#   cli       one 'cohort append' process (RPCs only)
# RPCs per commit: from /proc/self/mountstats (tests/nfs/rpc-count), the
# RPCs of the client's mount over the timed run less those of a run of one
# commit (the same opening and warm-up), over the commits between them.
#
# Lines go to stdout and to LAB_RESULTS/bench: "KIND FIGURE rate=R
# rpcs=N per_op=P [...]".
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/nfs/lib.sh
. "$HERE/lib.sh"
lab_setup bench
W=$T/work
BA=$BUILD/bench/bench_append
SECS=${BENCH_NFS_SECONDS:-3}
OUT=${LAB_RESULTS:-$T}/bench
[ -x "$BA" ] || tap_bail "bench_append is built ('$BA': make bench builds it)"

# field NAME LINE: the value of NAME=... in a result line.
field() { sed -nE "s/.*(^| )$1=([^ ]*).*/\\2/p" <<<"$2"; }

# ba_counted ID FILE ARGS...: bench_append ARGS on node ID's client under
# rpc-count (RPCs into FILE); prints its result line.
ba_counted() {
	local id=$1 file=$2 n
	shift 2
	n=$(node_viewno "$id")
	"$RPC_COUNT" -o "$file" "$LAB_MNT/c$n" -- \
		nsenter -t "${LAB_HOLDER[$((n - 1))]}" --uts "$BA" "$@"
}

# run_ba ID FIGURE ARGS...: bench_append ARGS on node ID's client; prints
# and records the figure.  RPCs per commit: the RPCs of the timed run
# less those of a run of one commit (the same opening and warm-up), over
# the commits between them.
run_ba() {
	local id=$1 fig=$2 res one rpcs rpcs1 commits per
	shift 2
	one=$(ba_counted "$id" "$W/rpc1.$fig" "$@" --seconds 0.001 --warmup 2 \
		2>"$W/err.$fig") || tap_bail "bench_append $fig (one commit)" "$(cat "$W/err.$fig")"
	res=$(ba_counted "$id" "$W/rpc.$fig" "$@" --seconds "$SECS" --warmup 2 \
		2>"$W/err.$fig") || tap_bail "bench_append $fig" "$(cat "$W/err.$fig")"
	read -r rpcs1 _ <"$W/rpc1.$fig"
	read -r rpcs _ <"$W/rpc.$fig"
	commits=$(field commits "$res")
	per=$(awk -v r="$rpcs" -v r1="$rpcs1" -v c="$commits" -v c1="$(field commits "$one")" \
		'BEGIN { if (c > c1) printf "%.1f", (r - r1) / (c - c1); else print "nan" }')
	echo "$LAB_KIND $fig rate=$(field rate "$res") rpcs=$rpcs per_op=$per commits=$commits" |
		tee -a "$OUT"
}

lab_cluster b c
mkdir -p "$(node_view a)/plain" "$(node_view a)/sqlite"
run_ba a plain plain "$(node_view a)/plain"
run_ba a cohort cohort "$(node_root a)" a "$(node_state a)"
run_ba a batch100 cohort "$(node_root a)" a "$(node_state a)" --batch 100
run_ba a sqlite sqlite-delete "$(node_view a)/sqlite"

# Three clients at once, started together.
start=$(($("$BA" now) + 3000000000))
for id in a b c; do
	n=$(node_viewno "$id")
	nsenter -t "${LAB_HOLDER[$((n - 1))]}" --uts "$BA" cohort "$(node_root "$id")" \
		"$id" "$(node_state "$id")" --seconds "$SECS" --warmup 0 \
		--start-at "$start" >"$W/three.$id" 2>&1 &
done
wait
agg=0
shares=""
for id in a b c; do
	r=$(field rate "$(cat "$W/three.$id")")
	if [ -z "$r" ]; then
		# A failure here is a finding: the figure says so, the run fails.
		tap_fail "3clients: $id" "$(cat "$W/three.$id")"
		r=failed
	else
		agg=$(awk -v a="$agg" -v r="$r" 'BEGIN { printf "%.1f", a + r }')
	fi
	shares+=" $id=$r"
done
echo "$LAB_KIND 3clients rate=$agg$shares" | tee -a "$OUT"

node_rpc a "$W/rpc.cli" append "one record" >/dev/null ||
	tap_bail "cohort append"
read -r rpcs _ <"$W/rpc.cli"
echo "$LAB_KIND cli rpcs=$rpcs per_op=$rpcs" | tee -a "$OUT"
# Group commit across a node's processes (issue 18): 'cohort node' as a
# hosts the committer; 8 processes of bench_append --shared on a's client
# append through it, started together.  RPCs per record over the window
# (the node's own heartbeat and polling included).
node_cohort a node --poll-ms 250 >/dev/null 2>"$W/node.log" &
np=$!
CLUSTER_PIDS+=($np)
wait_for 60 test -S "$(node_state a)/committer.sock" ||
	tap_bail "a's committer listens" "$(cat "$W/node.log")"
n=$(node_viewno a)
start=$(($("$BA" now) + 3000000000))
"$RPC_COUNT" -o "$W/rpc.group8" "$LAB_MNT/c$n" -- bash -c '
	for i in 1 2 3 4 5 6 7 8; do
		nsenter -t "$1" --uts "$2" cohort "$3" a "$4" --shared --seconds "$5" \
			--warmup 0 --start-at "$6" >"$7.$i" 2>&1 &
	done
	rc=0
	for p in $(jobs -p); do wait "$p" || rc=1; done
	exit $rc' group "${LAB_HOLDER[$((n - 1))]}" "$BA" "$(node_root a)" \
	"$(node_state a)" "$SECS" "$start" "$W/group8" ||
	tap_fail "group8: every process appends through a's committer" "$(cat "$W"/group8.*)"
kill -TERM "$np"
wait "$np"
recs=$(cat "$W"/group8.[1-8] | tr ' ' '\n' | awk -F= '$1 == "records" { t += $2 } END { print t + 0 }')
read -r rpcs _ <"$W/rpc.group8"
echo "$LAB_KIND group8 rate=$(awk -v r="$recs" -v s="$SECS" 'BEGIN { printf "%.1f", r / s }') rpcs=$rpcs per_op=$(awk -v t="$rpcs" -v n="$recs" 'BEGIN { if (n > 0) printf "%.1f", t / n; else print "nan" }') records=$recs" |
	tee -a "$OUT"
tap_ok "bench on $LAB_KIND: every figure measured"
