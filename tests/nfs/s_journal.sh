#!/usr/bin/env bash
# tests/nfs/s_journal.sh - journal torture on three kernel NFS clients.
#
# Nodes a, b, c (clients c1, c2, c3) each run an appender loop at once:
# single records and 'append --lines' commits of 3 records, every payload
# unique, while a killer SIGKILLs appends in flight now and then.  Then,
# from 'cohort log --json' through c1: revisions are 1..head without a gap;
# every acknowledged revision (printed by an append that exited 0) holds
# its payload, exactly once; every commit that appears at all appears
# whole, at consecutive revisions, in order; nothing appears that nobody
# appended; no append failed except by SIGKILL; the log read through c2 and
# c3 is the same; and 'cohort sync --json' of each node (each on its own
# client) prints exactly that log: identical replay everywhere.
#
# LAB_JOURNAL_ROUNDS (default 5): appends per appender.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/nfs/lib.sh
. "$HERE/lib.sh"
lab_setup journal
W=$T/work
ROUNDS=${LAB_JOURNAL_ROUNDS:-5}
KILLS=2

lab_cluster a b c

# appender NODE: ROUNDS commits; round r is a batch of 3 when r % 3 == 2.
# Per attempt, W/att.NODE gets "ID KIND PAYLOADS..." and W/res.NODE "ID
# EXIT REVS...".  The running append's pid is in W/pid.NODE.
appender() {
	local node=$1 r p out rc argv
	# The tool itself (nsenter execs it), so that $! is the append.
	argv=(nsenter -t "${LAB_HOLDER[$(($(node_viewno "$node") - 1))]}" --uts
		"$COHORT" --root "$(node_root "$node")" --node "$node"
		--state "$(node_state "$node")" append)
	for r in $(seq 1 "$ROUNDS"); do
		if [ $((r % 3)) -eq 2 ]; then
			p="$node.$r.1 $node.$r.2 $node.$r.3"
			echo "$node.$r batch $p" >>"$W/att.$node"
			tr ' ' '\n' <<<"$p" >"$W/in.$node.$r"
			"${argv[@]}" --lines <"$W/in.$node.$r" \
				>"$W/out.$node.$r" 2>"$W/err.$node.$r" &
		else
			p="$node.$r"
			echo "$node.$r single $p" >>"$W/att.$node"
			"${argv[@]}" "$p" \
				>"$W/out.$node.$r" 2>"$W/err.$node.$r" &
		fi
		echo $! >"$W/pid.$node"
		wait $!
		rc=$?
		echo "$node.$r $rc $(tr '\n' ' ' <"$W/out.$node.$r")" >>"$W/res.$node"
	done
	rm -f "$W/pid.$node"
}

# killer: KILLS times, after 1-3 s, SIGKILL the append in flight of a
# random node.
killer() {
	local k pid node
	: >"$W/killed"
	for k in $(seq 1 "$KILLS"); do
		sleep "$((RANDOM % 3 + 1)).$((RANDOM % 10))"
		node=$(printf 'a\nb\nc\n' | shuf -n 1)
		pid=$(cat "$W/pid.$node" 2>/dev/null) || continue
		if grep -q append "/proc/$pid/cmdline" 2>/dev/null &&
			kill -KILL "$pid" 2>/dev/null; then
			echo "$node $pid" >>"$W/killed"
		else
			echo "# kill $k: $node's append ($pid) was not running" >>"$W/killer.log"
		fi
	done
}

t0=$(now_ms)
for n in a b c; do
	bg_start appender "$n"
	eval "apid_$n=\$BG_PID"
done
bg_start killer
kpid=$BG_PID
wait "$apid_a" "$apid_b" "$apid_c"
kill "$kpid" 2>/dev/null
wait "$kpid" 2>/dev/null
note "$((3 * ROUNDS)) appends in $(($(now_ms) - t0)) ms, $(wc -l <"$W/killed") killed"
cat "$W/killer.log" 2>/dev/null

# ---- checks ------------------------------------------------------------------

node_cohort a log --json >"$W/log.json" 2>"$W/log.err" ||
	tap_bail "log through c1" "$(cat "$W/log.err")"
jq -r '"\(.rev) \(.node) \(.data)"' <"$W/log.json" >"$W/log"
head=$(node_cohort a status --json | jq -r .head)

problems=()
# Revisions 1..head without a gap.
want=$(seq 1 "$head" | tr '\n' ' ')
got=$(awk '{ printf "%s ", $1 }' "$W/log")
[ "$got" = "$want" ] || problems+=("revisions: '$got' (head $head)")
# Nothing twice, nothing nobody appended.
dups=$(awk '{ print $3 }' "$W/log" | sort | uniq -d)
[ -z "$dups" ] || problems+=("payloads twice: $dups")
cat "$W"/att.* | awk '{ for (i = 3; i <= NF; i++) print $i }' | sort >"$W/attempted"
unknown=$(awk '{ print $3 }' "$W/log" | sort | comm -23 - "$W/attempted")
[ -z "$unknown" ] || problems+=("payloads nobody appended: $unknown")
# Each payload at a revision of its own node's name.
awk '{ split($3, p, "."); if (p[1] != $2) print }' "$W/log" >"$W/wrongnode"
[ -s "$W/wrongnode" ] && problems+=("records under another node: $(head -n 3 "$W/wrongnode")")
# Acknowledged: exit 0, its payloads at its revisions; failures only by kill.
acked=0
while read -r id rc revs; do
	payloads=$(awk -v id="$id" '$1 == id { for (i = 3; i <= NF; i++) printf "%s ", $i }' "$W"/att.*)
	if [ "$rc" = 0 ]; then
		acked=$((acked + 1))
		set -- $revs
		for p in $payloads; do
			at=$(awk -v r="${1:-x}" '$1 == r { print $3 }' "$W/log")
			[ "$at" = "$p" ] || problems+=("$id acknowledged '$p' at revision ${1:-?}, which holds '$at'")
			shift
		done
	elif [ "$rc" != 137 ]; then
		problems+=("$id exited $rc: $(cat "$W/err.$id" 2>/dev/null | head -n 2)")
	fi
	# Whole or absent, in order, consecutive.
	n_in=0
	revs_in=()
	for p in $payloads; do
		r=$(awk -v p="$p" '$3 == p { print $1 }' "$W/log")
		[ -n "$r" ] && { n_in=$((n_in + 1)); revs_in+=("$r"); }
	done
	n_all=$(wc -w <<<"$payloads")
	if [ "$n_in" -ne 0 ] && [ "$n_in" -ne "$n_all" ]; then
		problems+=("$id: $n_in of $n_all records present")
	elif [ "$n_in" -gt 1 ]; then
		for ((i = 1; i < n_in; i++)); do
			[ "${revs_in[$i]}" -eq $((revs_in[i - 1] + 1)) ] ||
				problems+=("$id: records at ${revs_in[*]}")
		done
	fi
done < <(cat "$W"/res.*)
if [ ${#problems[@]} -eq 0 ]; then
	tap_ok "torture: $acked acknowledged commits each once at its revision, batches whole, no gap (head $head)"
else
	tap_fail "torture: every acknowledged record once at its revision, batches whole" "${problems[@]}"
fi
killed=$(wc -l <"$W/killed")
if [ "$acked" -ge $((3 * ROUNDS - killed)) ]; then
	tap_ok "every append not killed was acknowledged ($acked of $((3 * ROUNDS)), $killed killed)"
else
	tap_fail "every append not killed was acknowledged" "$acked of $((3 * ROUNDS)), $killed killed"
fi

# The same log through every client; each node's sync replays it exactly.
for n in b c; do
	node_cohort "$n" log --json 2>&1 | jq -r '"\(.rev) \(.node) \(.data)"' >"$W/log.$n"
	tap_check "log through $n's client equals c1's" cmp "$W/log" "$W/log.$n"
done
for n in a b c; do
	node_cohort "$n" sync --json 2>"$W/sync.err.$n" | jq -r '"\(.rev) \(.node) \(.data)"' >"$W/sync.$n"
	tap_check "sync --json of $n replays the log exactly" cmp "$W/log" "$W/sync.$n"
done
