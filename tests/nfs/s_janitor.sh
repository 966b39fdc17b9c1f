#!/usr/bin/env bash
# tests/nfs/s_janitor.sh - the janitor with one node behind, on three
# kernel NFS clients.
#
# segment_size 4k.  Node c (client c3) syncs to revision 30 and stops;
# a (c1) appends 60 more records; a and b (c2) sync to the head.  The
# janitor (through c1) stops at c's revision: limit 30, held_by c, no
# segment with a record after 30 removed, c's next record still readable
# through c3.  c catches up through c3 (every record 31..head); the next
# janitor (through c2) goes down to the head segment.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/nfs/lib.sh
. "$HERE/lib.sh"
lab_setup janitor
lab_conf '[journal]
segment_size = 4k
'
W=$T/work
lab_cluster a b c

# append_batch ID FROM TO: records FROM..TO in one '--lines' commit.
append_batch() {
	seq "$2" "$3" | awk '{ printf "j-%06d-%s\n", $1, "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp" }' |
		node_cohort "$1" append --lines >/dev/null
}
revs() { jq -R -r 'fromjson? | .rev' <"$1"; }
# contiguous FROM TO FILE: FILE holds exactly FROM..TO in order.
contiguous() {
	awk -v from="$1" -v to="$2" '
		{ if ($1 != from + NR - 1) { printf "line %d holds %s, expected %d\n", NR, $1, from + NR - 1; bad = 1; exit } }
		END { if (!bad && NR != to - from + 1) printf "%d lines, expected %d (%d..%d)\n", NR, to - from + 1, from, to }' "$3"
}
# revisions: "REV-OF-C REV-OF-A REV-OF-B HEAD" from one 'status --json'.
revisions() {
	node_cohort b status --json |
		jq -r '[(.nodes | map({(.id): .revision}) | add | .c, .a, .b), .head] | map(tostring) | join(" ")'
}
seg_count() { find "$ROOT_SHARED/journal" -maxdepth 1 -name 'seg-*' | wc -l; }

append_batch a 1 30 || tap_bail "append 1..30"
node_cohort c sync >/dev/null 2>"$W/c1.err" || tap_bail "sync c" "$(cat "$W/c1.err")"
append_batch a 31 60 && append_batch a 61 90 ||
	tap_bail "append 31..90"
node_cohort a sync >/dev/null 2>&1 && node_cohort b sync >/dev/null 2>&1 ||
	tap_bail "sync a, b"
revs=$(revisions)
head=${revs##* }
tap_is "c at revision 30, a and b at the head" "$revs" "30 $head $head $head"
segs0=$(seg_count)

j=$(node_cohort a janitor --json 2>"$W/j1.err")
rc=$?
tap_is "janitor through c1 exits 0" "$rc" 0
tail1=$(jq -r .tail_after <<<"$j")
tap_is "cleanup stops at c's revision (limit, held_by)" \
	"$(jq -r '"\(.limit) \(.held_by)"' <<<"$j")" "30 c"
if [ "$tail1" -gt 1 ] 2>/dev/null && [ "$tail1" -le 31 ] &&
	[ "$(jq '[.segments[] | select(.last > 30)] | length' <<<"$j")" = 0 ]; then
	tap_ok "segments up to revision 30 removed, none after (tail $tail1, $segs0 segments before)"
else
	tap_fail "segments up to revision 30 removed, none after" "$j" "$(cat "$W/j1.err")"
fi
out=$(node_cohort c log --from 31 --json | jq -r .rev | head -n 1)
tap_is "c's next record (31) is still readable through c3" "$out" 31

node_cohort c sync --json >"$W/c2" 2>"$W/c2.err"
tap_is "c catches up through c3 (sync exits 0)" "$?" 0
tap_is "c's sync printed every record 31..$head" "$(revs "$W/c2" >"$W/c2.revs"; contiguous 31 "$head" "$W/c2.revs")" ""

j=$(node_cohort b janitor --json 2>"$W/j2.err")
tail2=$(jq -r .tail_after <<<"$j")
if [ "$(jq -r .limit <<<"$j")" = "$head" ] && [ "$tail2" -gt "$tail1" ] 2>/dev/null &&
	[ "$(jq -r .held_by <<<"$j")" = null ]; then
	tap_ok "once c caught up, the janitor through c2 goes further (tail $tail1 -> $tail2)"
else
	tap_fail "once c caught up, the janitor through c2 goes further" "$j" "$(cat "$W/j2.err")"
fi
tap_is "only the head segment is left" "$(seg_count)" 1
