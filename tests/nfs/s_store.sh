#!/usr/bin/env bash
# tests/nfs/s_store.sh - the extension store on three kernel NFS clients.
#
# Node a (c1) and node b (c2) install two packages each at the same time;
# then node c (c3) materializes: its folder holds exactly the four
# packages, byte-identical to the files installed, and 'list --json'
# through every client shows the same four; a second materialize changes
# nothing; an uninstall through c2 is removed by a materialize on c3.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/nfs/lib.sh
. "$HERE/lib.sh"
lab_setup store
W=$T/work
PK=$W/pkgs
mkdir -p "$PK"

for p in pa1 pa2 pb1 pb2; do
	lab_jar "$PK/$p.jar" "lab.$p" 1.0
done

lab_cluster

# Two installers at once.
installer() {
	local node=$1 p
	shift
	for p in "$@"; do
		node_cohort "$node" install "$PK/$p.jar" >>"$W/inst.$node" 2>&1 ||
			echo "install $p as $node failed" >>"$W/inst.fail"
	done
}
bg_start installer a pa1 pa2
p1=$BG_PID
bg_start installer b pb1 pb2
p2=$BG_PID
wait "$p1" "$p2"
if [ -s "$W/inst.fail" ]; then
	tap_fail "four installs from c1 and c2 at once" "$(cat "$W/inst.fail")" "$(cat "$W"/inst.*)"
else
	tap_ok "four installs from c1 and c2 at once"
fi

want="lab.pa1 lab.pa2 lab.pb1 lab.pb2"
for n in a b c; do
	got=$(node_cohort "$n" list --json 2>&1 | jq -r .id 2>&1 | sort | tr '\n' ' ')
	tap_is "list --json through $n's client" "${got% }" "$want"
done

M=$T/work/plugins.c
out=$(node_cohort c materialize "$M" 2>&1)
tap_is "materialize on c3" "$out" "4 added, 0 updated, 0 removed, 0 unchanged"
bad=""
for p in pa1 pa2 pb1 pb2; do
	cmp -s "$PK/$p.jar" "$M/lab.$p-1.0.jar" || bad="$bad $p"
done
extra=$(ls -A "$M" | grep -v '^\.cohort-materialized$' | grep -vE '^lab\.p[ab][12]-1\.0\.jar$')
tap_is "c3's folder holds exactly the four packages, byte-identical" "$bad$extra" ""
out=$(node_cohort c materialize "$M" 2>&1)
tap_is "a second materialize changes nothing" "$out" "0 added, 0 updated, 0 removed, 4 unchanged"
node_cohort b uninstall lab.pa1 >/dev/null 2>"$W/un.err" ||
	tap_fail "uninstall through c2" "$(cat "$W/un.err")"
out=$(node_cohort c materialize "$M" 2>&1)
tap_is "materialize on c3 after an uninstall through c2" "$out" \
	"0 added, 0 updated, 1 removed, 3 unchanged"
