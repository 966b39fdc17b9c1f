#!/usr/bin/env bash
# examples/demo.sh - a three-node cohort cluster on a temporary folder.
#
# Each node gets its own bindfs view of one shared folder, which behaves
# like its own NFS client: no inotify across views, locks forwarded.
# Run through 'make demo' (it builds first) or directly after 'make'.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
COHORT=${COHORT:-$here/${BUILD:-build}/cohort}
[ -x "$COHORT" ] || { echo "demo: build first ('make')" >&2; exit 1; }
for t in bindfs fusermount3; do
	command -v "$t" >/dev/null || { echo "demo: '$t' missing: run scripts/deps.sh" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/cohort-demo.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for n in a b c; do fusermount3 -u "$tmp/mnt-$n" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

mkdir -p "$tmp/shared"
for n in a b c; do
	mkdir -p "$tmp/mnt-$n" "$tmp/state-$n"
	bindfs --multithreaded --enable-lock-forwarding \
		-o attr_timeout=0,entry_timeout=0 "$tmp/shared" "$tmp/mnt-$n"
done
node() { # node ID ARGS...: run cohort as node ID through its own mount
	local id=$1; shift
	"$COHORT" --root "$tmp/mnt-$id/cluster" --node "$id" --state "$tmp/state-$id" "$@"
}
node_bg() { # the same in the background; its pid lands in pids[]
	local id=$1; shift
	"$COHORT" --root "$tmp/mnt-$id/cluster" --node "$id" --state "$tmp/state-$id" "$@" &
	pids+=($!)
}

step "Three nodes run 'cohort init' at the same moment: one cluster id"
for n in a b c; do node_bg "$n" init >"$tmp/id-$n"; done
wait "${pids[@]}"
pids=()
for n in a b c; do echo "node $n: $(cat "$tmp/id-$n")"; done

step "Each node joins"
run node a join --priority 60
run node b join --priority 50
run node c join --priority 40

step "Node c watches the journal (polling: no inotify across mounts)"
echo "\$ node c watch --poll-ms 200 --exec 'echo \"[c applies rev \$COHORT_REV from \$COHORT_ORIGIN: \$(cat)]\"' &"
node_bg c watch --poll-ms 200 --exec 'echo "   [c applies rev $COHORT_REV from $COHORT_ORIGIN: $(cat)]"'
sleep 0.5

step "Nodes a and b append; c applies each commit in order"
run node a append --type config "mail.host=smtp.example.org"
printf 'user:alice\nuser:bob\n' | { echo "$ printf 'user:alice\\nuser:bob\\n' | node b append --lines --type user"; node b append --lines --type user; }
sleep 1

step "Node a appends while b is away; b catches up with 'sync'"
run node a append "cache flush /catalog"
run node a append "cache flush /search"
run node b sync --skip-own
sleep 0.5

step "The journal as every node sees it"
run node b log

step "Cluster status"
run node a status
sleep 0.3
echo
echo "Demo done: the shared folder was $tmp/shared (removed now)."
