#!/usr/bin/env bash
# examples/demo.sh - a three-node cohort cluster on a temporary folder.
#
# Each node gets its own bindfs view of one shared folder, which behaves
# like its own NFS client: no inotify across views, locks forwarded.  Each
# runs 'cohort node' (mount-and-go): join, catch up, materialize the
# installed plugins into its own folder, then watch.
# Run through 'make demo' (it builds first) or directly after 'make'.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
COHORT=${COHORT:-$here/${BUILD:-build}/cohort}
[ -x "$COHORT" ] || { echo "demo: build first ('make')" >&2; exit 1; }
for t in bindfs fusermount3 zip; do
	command -v "$t" >/dev/null || { echo "demo: '$t' missing: run scripts/deps.sh" >&2; exit 1; }
done

tmp=$(mktemp -d /tmp/cohort-demo.XXXXXX)
declare -A nodepid=()
cleanup() {
	for p in "${nodepid[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for n in a b c; do fusermount3 -u "$tmp/mnt-$n" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; sleep 0.2; }
say() { printf '$ %s\n' "$*"; }

mkdir -p "$tmp/shared"
for n in a b c; do
	mkdir -p "$tmp/mnt-$n" "$tmp/state-$n" "$tmp/plugins-$n"
	bindfs --multithreaded --enable-lock-forwarding \
		-o attr_timeout=0,entry_timeout=0 "$tmp/shared" "$tmp/mnt-$n"
done
node() { # node ID ARGS...: run cohort as node ID through its own mount
	local id=$1; shift
	"$COHORT" --root "$tmp/mnt-$id/cluster" --node "$id" --state "$tmp/state-$id" "$@"
}
start_node() { # start 'cohort node' for ID; its log goes to the terminal
	local id=$1
	"$COHORT" --root "$tmp/mnt-$id/cluster" --node "$id" --state "$tmp/state-$id" \
		node --poll-ms 200 --materialize "$tmp/plugins-$id" \
		--exec "echo \"   [$id applies rev \$COHORT_REV, \$COHORT_TYPE from \$COHORT_ORIGIN]\" >&2" \
		2> >(sed -u "s/^/   /" >&2) &
	nodepid[$id]=$!
}

step "Three nodes run 'cohort init' at the same moment: one cluster id"
for n in a b c; do node "$n" init >"$tmp/id-$n" & done
wait
for n in a b c; do echo "node $n: $(cat "$tmp/id-$n")"; done

step "Each node starts 'cohort node' (join, catch up, materialize, watch)"
for n in a b c; do say "cohort node --materialize plugins-$n --exec ... &"; start_node "$n"; done
sleep 1.5

step "Node a installs a plugin; every node materializes it"
mkdir -p "$tmp/pkg/META-INF"
printf 'Manifest-Version: 1.0\r\nBundle-SymbolicName: org.example.greeter;singleton:=true\r\nBundle-Version: 1.0.0\r\n' > "$tmp/pkg/META-INF/MANIFEST.MF"
echo 'class Greeter {}' > "$tmp/pkg/Greeter.class"
(cd "$tmp/pkg" && zip -q -r ../greeter.jar META-INF Greeter.class)
say "node a install greeter.jar"; node a install "$tmp/greeter.jar"
say "node b append --type config 'mail.host=smtp.example.org'"; node b append --type config "mail.host=smtp.example.org"
sleep 1.5
for n in a b c; do echo "plugins-$n: $(cd "$tmp/plugins-$n" && ls)"; done

step "Node c stops; a and b change things while it is away"
kill "${nodepid[c]}"; wait "${nodepid[c]}" 2>/dev/null || true; unset 'nodepid[c]'
say "node a append 'cache flush /catalog'"; node a append "cache flush /catalog"
sed -i 's/Bundle-Version: 1.0.0/Bundle-Version: 2.0.0/' "$tmp/pkg/META-INF/MANIFEST.MF"
(cd "$tmp/pkg" && zip -q -r ../greeter-2.jar META-INF Greeter.class)
say "node b install greeter-2.jar   (an upgrade)"; node b install "$tmp/greeter-2.jar"
sleep 1
say "node a status"; node a status

step "Node c returns: it replays what it missed, in order, and its folder follows"
start_node c
sleep 2
for n in a b c; do echo "plugins-$n: $(cd "$tmp/plugins-$n" && ls)"; done
say "node c log"; node c log
echo
echo "Demo done: the shared folder was $tmp/shared (removed now)."
