#!/usr/bin/env bash
# tests/nfs/s_journal.sh - journal torture on three kernel NFS clients.
#
# Nodes a, b, c (clients c1, c2, c3) each run an appender loop at once:
# single records and 'append --lines' commits of 3 records, every payload
# unique; two appends, chosen at random, are SIGKILLed in flight (by the
# fault injector, COHORT_FAULT=OP:N:kill, at the lease's or the commit's
# write or at the commit's fdatasync: a killer process polling from
# outside was too slow under TCG to catch a one-second append).  Then,
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

# Two (node, round) attempts die in flight, each at one of these points.
KILL_AT=("write:1:kill" "write:2:kill" "write:3:kill" "fsync:1:kill")
for n in a b c; do
	for r in $(seq 1 "$ROUNDS"); do echo "$n.$r"; done
done | shuf -n "$KILLS" | while read -r id; do
	echo "$id ${KILL_AT[$((RANDOM % ${#KILL_AT[@]}))]}"
done >"$W/kills"

# appender NODE: ROUNDS commits; round r is a batch of 3 when r % 3 == 2.
# Per attempt, W/att.NODE gets "ID KIND PAYLOADS..." and W/res.NODE "ID
# EXIT REVS...".
appender() {
	local node=$1 r p rc argv fault
	# The tool itself (nsenter execs it).
	argv=(nsenter -t "${LAB_HOLDER[$(($(node_viewno "$node") - 1))]}" --uts
		"$COHORT" --root "$(node_root "$node")" --node "$node"
		--state "$(node_state "$node")" append)
	for r in $(seq 1 "$ROUNDS"); do
		fault=$(awk -v id="$node.$r" '$1 == id { print $2 }' "$W/kills")
		if [ $((r % 3)) -eq 2 ]; then
			p="$node.$r.1 $node.$r.2 $node.$r.3"
			echo "$node.$r batch $p" >>"$W/att.$node"
			tr ' ' '\n' <<<"$p" >"$W/in.$node.$r"
			COHORT_FAULT=$fault "${argv[@]}" --lines <"$W/in.$node.$r" \
				>"$W/out.$node.$r" 2>"$W/err.$node.$r"
		else
			p="$node.$r"
			echo "$node.$r single $p" >>"$W/att.$node"
			COHORT_FAULT=$fault "${argv[@]}" "$p" \
				>"$W/out.$node.$r" 2>"$W/err.$node.$r"
		fi
		rc=$?
		[ -n "$fault" ] && echo "$node.$r $fault $rc" >>"$W/killed"
		echo "$node.$r $rc $(tr '\n' ' ' <"$W/out.$node.$r")" >>"$W/res.$node"
	done
}

t0=$(now_ms)
for n in a b c; do
	bg_start appender "$n"
	eval "apid_$n=\$BG_PID"
done
wait "$apid_a" "$apid_b" "$apid_c"
note "$((3 * ROUNDS)) appends in $(($(now_ms) - t0)) ms; killed: $(tr '\n' ' ' <"$W/killed" 2>/dev/null)"
tap_is "the $KILLS appends chosen to die were SIGKILLed in flight (exit 137)" \
	"$(awk '$3 == 137' "$W/killed" 2>/dev/null | wc -l)" "$KILLS"

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
cat "$W"/att.* >"$W/attempted.lines"
awk '{ for (i = 3; i <= NF; i++) print $i }' "$W/attempted.lines" | sort >"$W/attempted"
unknown=$(awk '{ print $3 }' "$W/log" | sort | comm -23 - "$W/attempted")
[ -z "$unknown" ] || problems+=("payloads nobody appended: $unknown")
# Each payload at a revision of its own node's name.
awk '{ split($3, p, "."); if (p[1] != $2) print }' "$W/log" >"$W/wrongnode"
[ -s "$W/wrongnode" ] && problems+=("records under another node: $(head -n 3 "$W/wrongnode")")
# Acknowledged: exit 0, its payloads at its revisions; failures only by
# kill; every commit whole or absent, at consecutive revisions.  One awk
# for all of it (a process costs a quarter second under TCG).
cat "$W"/res.* >"$W/res"
acked=$(awk '$2 == 0' "$W/res" | wc -l)
while IFS= read -r line; do
	problems+=("$line")
done < <(awk -v W="$W" '
	FILENAME == W "/log" { at[$1] = $3; rev[$3] = $1; next }
	FILENAME == W "/attempted.lines" { n[$1] = NF - 2
		for (i = 3; i <= NF; i++) pl[$1, i - 2] = $i; next }
	{	id = $1; rc = $2
		if (rc == 0) {
			for (i = 1; i <= n[id]; i++)
				if (at[$(i + 2)] != pl[id, i])
					printf "%s acknowledged %s at revision %s, which holds %s\n",
						id, pl[id, i], $(i + 2), at[$(i + 2)]
		} else if (rc != 137) {
			e = ""; getline e < (W "/err." id)
			printf "%s exited %s: %s\n", id, rc, e
		}
		k = 0; prev = ""; order = 1
		for (i = 1; i <= n[id]; i++)
			if (pl[id, i] in rev) {
				k++
				if (prev != "" && rev[pl[id, i]] != prev + 1) order = 0
				prev = rev[pl[id, i]]
			}
		if (k != 0 && k != n[id]) printf "%s: %d of %d records present\n", id, k, n[id]
		else if (!order) printf "%s: records not at consecutive revisions\n", id
	}' "$W/log" "$W/attempted.lines" "$W/res")
if [ ${#problems[@]} -eq 0 ]; then
	tap_ok "torture: $acked acknowledged commits each once at its revision, batches whole, no gap (head $head)"
else
	tap_fail "torture: every acknowledged record once at its revision, batches whole" "${problems[@]}"
fi
killed=$(awk '$3 == 137' "$W/killed" | wc -l)
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

# ---- long-lived handles --------------------------------------------------------
# An application server keeps one journal handle open across commits (the
# tool opens one per command).  Three of them, one per client, append
# HANDLE_COUNT single records each at once (tests/helpers/appender).  On
# NFSv3 'nolock' a writer's descriptor kept open showed the size of its own
# last commit after another client's commit, and every round failed with
# "segment is N bytes but the head says M" (found by bench/nfs).  Every
# append must be acknowledged, each record at the revision it was
# acknowledged at, the log contiguous and the same through every client.
HANDLE_COUNT=${LAB_HANDLE_COUNT:-6}
APPENDER=$BUILD/tests/helpers/appender
need_prog "$APPENDER" "the appender test helper"
h0=$head
for n in a b c; do
	nsenter -t "${LAB_HOLDER[$(($(node_viewno "$n") - 1))]}" --uts "$APPENDER" \
		--root "$(node_root "$n")" --node "$n" --state "$(node_state "$n")" \
		--count "$HANDLE_COUNT" --prefix "$n.h" >"$W/hand.$n" 2>&1 &
	eval "hpid_$n=\$!"
done
hrc=0
for n in a b c; do
	eval "wait \$hpid_$n" || hrc=1
done
node_cohort a log --json --from $((h0 + 1)) 2>"$W/hlog.err" |
	jq -r '"\(.rev) \(.data)"' >"$W/hlog"
problems=()
[ $hrc = 0 ] || problems+=("$(grep -h '^failed' "$W"/hand.* | head -n 3)")
want=$(seq $((h0 + 1)) $((h0 + 3 * HANDLE_COUNT)) | tr '\n' ' ')
got=$(awk '{ printf "%s ", $1 }' "$W/hlog")
[ "$got" = "$want" ] || problems+=("revisions after $h0: '$got'")
miss=$(cat "$W"/hand.* | grep -v '^failed' | sort | comm -23 - <(sort "$W/hlog"))
[ -z "$miss" ] || problems+=("acknowledged but not at their revision: $miss")
if [ ${#problems[@]} -eq 0 ]; then
	tap_ok "three long-lived handles, one per client: $((3 * HANDLE_COUNT)) appends acknowledged, each at its revision"
else
	tap_fail "three long-lived handles, one per client: every append acknowledged at its revision" \
		"${problems[@]}"
fi
node_cohort c log --json --from $((h0 + 1)) 2>&1 | jq -r '"\(.rev) \(.data)"' >"$W/hlog.c"
tap_check "after the handles, the log through c's client equals c1's" cmp "$W/hlog" "$W/hlog.c"
