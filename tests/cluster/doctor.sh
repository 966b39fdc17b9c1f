#!/usr/bin/env bash
# tests/cluster/doctor.sh - 'cohort doctor' on a plain folder and on bindfs
# views of one shared folder.
#
#  1. On a plain folder and on a view: the exit status is 0 or 1 and agrees
#     with the printed levels (1 exactly when some finding is "warn" or
#     "FAIL"); the same with --json, whose every line is a JSON object with
#     check, level, detail and fix (jq); the operations cohort relies on
#     (excl, rename, link, dirsync) are "ok" on both, and ofd on the plain
#     folder (on a view it may be "warn": one bindfs process forwards both
#     of the check's locks as its own, so they cannot conflict); on a view
#     the fstype finding says fuse.
#  2. --peer-check run on two views at the same time (nodes a and b): each
#     side reports a "peer" finding "ok": one held the lock, the other was
#     excluded, and both say so.
#  3. A world-writable root without the sticky bit: a "FAIL permissions"
#     line and exit 1 (also in --json: level "fail").
#  4. A missing root: exit 1 and a 'cohort: ' message on stderr; a bad
#     flag: exit 2.
#
# BUILD=build bash tests/cluster/doctor.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

need_prog "$COHORT" "the cohort tool"
command -v jq >/dev/null 2>&1 ||
	tap_bail "jq is installed (the cluster tests read JSON output with it)"
cluster_setup 2
tool_copy
W=$T/work

# doctor NAME DIR ARGS...: run 'cohort --root DIR ARGS... doctor' with
# $W/NAME.out, .err and .rc.
doctor() {
	local name=$1 dir=$2
	shift 2
	"$COHORT" --root "$dir" doctor "$@" >"$W/$name.out" 2>"$W/$name.err"
	echo $? >"$W/$name.rc"
}

# consistent NAME: the exit status agrees with the text output's levels.
consistent() {
	local rc bad
	rc=$(cat "$W/$1.rc")
	bad=0
	grep -Eq '^(warn|FAIL) ' "$W/$1.out" && bad=1
	if [ "$rc" != 0 ] && [ "$rc" != 1 ]; then
		echo "exit $rc (want 0 or 1)"
		cat "$W/$1.out" "$W/$1.err"
		return 1
	fi
	if [ "$rc" != "$bad" ]; then
		echo "exit $rc but warn/FAIL lines: $bad"
		cat "$W/$1.out"
		return 1
	fi
	# Every finding line starts with a level (fix lines are indented).
	if grep -Evq '^(ok|note|warn|FAIL) +[a-z]|^      ' "$W/$1.out"; then
		echo "unexpected lines:"
		grep -Ev '^(ok|note|warn|FAIL) +[a-z]|^      ' "$W/$1.out"
		return 1
	fi
	grep -q . "$W/$1.out" || { echo "no output"; return 1; }
}

# json_ok NAME: every line is an object with check/level/detail/fix, and the
# exit status agrees with the levels.
json_ok() {
	local rc bad
	rc=$(cat "$W/$1.rc")
	[ -s "$W/$1.out" ] || { echo "no output"; return 1; }
	jq -e -s 'length > 0 and all(.[]; type == "object" and has("check") and
		has("level") and has("detail") and has("fix") and
		(.check | type == "string") and (.detail | type == "string") and
		(.level | IN("ok", "note", "warn", "fail")))' "$W/$1.out" >/dev/null ||
		{ echo "bad JSON lines:"; cat "$W/$1.out"; return 1; }
	bad=$(jq -s 'if any(.[]; .level == "warn" or .level == "fail") then 1 else 0 end' "$W/$1.out")
	[ "$rc" = "$bad" ] || { echo "exit $rc, warn/fail findings: $bad"; cat "$W/$1.out"; return 1; }
}

# level_of NAME CHECK: the level printed for CHECK in the text output.
level_of() {
	awk -v c="$2" '$2 == c { print $1; exit }' "$W/$1.out"
}

# ---- 1. plain folder and a view ------------------------------------------------

PLAIN=$W/plain
mkdir -p "$PLAIN" "$SHARED/dr"
VIEW=$V1/dr

for where in plain view; do
	dir=$PLAIN
	[ $where = view ] && dir=$VIEW
	doctor "$where" "$dir"
	tap_check "$where: exit status 0 or 1 agrees with the levels printed" consistent "$where"
	doctor "$where.json" "$dir" --json
	tap_check "$where: --json lines parse and carry check/level/detail/fix; exit agrees" json_ok "$where.json"
	tap_is "$where: --json gives the same exit status as the text output" \
		"$(cat "$W/$where.json.rc")" "$(cat "$W/$where.rc")"
	tap_is "$where: --json names the same checks as the text output" \
		"$(jq -r .check "$W/$where.json.out" | tr '\n' ' ')" \
		"$(awk '/^(ok|note|warn|FAIL) / { printf "%s ", $2 }' "$W/$where.out")"
	got=""
	for c in excl rename link dirsync; do
		got="$got$c=$(level_of "$where" "$c") "
	done
	tap_is "$where: the operations checks excl, rename, link, dirsync are ok" "$got" \
		"excl=ok rename=ok link=ok dirsync=ok "
	tap_is "$where: --json reports excl, rename, link, dirsync ok" \
		"$(jq -r 'select(.check | IN("excl", "rename", "link", "dirsync")) | "\(.check)=\(.level)"' \
			"$W/$where.json.out" | sort | tr '\n' ' ')" \
		"dirsync=ok excl=ok link=ok rename=ok "
	# OFD locks: ok on a plain folder.  Through one bindfs view both of the
	# check's locks reach the one bindfs process, which forwards them as
	# its own fcntl locks, so the second is granted: "warn" is the true
	# answer there (the peer check below, across two views, does exclude).
	ofd=$(level_of "$where" ofd)
	if [ "$ofd" = ok ] || { [ $where = view ] && [ "$ofd" = note ] &&
		grep -q '^note  *ofd .*second OFD lock through this same FUSE mount' "$W/$where.out"; }; then
		tap_ok "$where: the ofd check is ok$([ $where = view ] && echo ", or a note because one bindfs process forwards both locks") (got $ofd)"
	else
		tap_fail "$where: the ofd check" "got: $ofd" "$(cat "$W/$where.out")"
	fi
	tap_is "$where: leaves nothing behind in the root" "$(ls -A "$dir" | grep -v '^\.doctor-peer' | tr '\n' ' ')" ""
done

fs_view=$(awk '$2 == "fstype" { $1 = ""; $2 = ""; print; exit }' "$W/view.out")
if [[ "$fs_view" == *fuse* ]]; then
	tap_ok "view: the fstype finding says fuse ($fs_view)"
else
	tap_fail "view: the fstype finding says fuse" "got: $fs_view" "$(cat "$W/view.out")"
fi
fs_json=$(jq -r 'select(.check == "fstype") | .detail' "$W/view.json.out")
if [[ "$fs_json" == *fuse* ]]; then
	tap_ok "view: --json fstype detail says fuse"
else
	tap_fail "view: --json fstype detail says fuse" "got: $fs_json"
fi
fs_plain=$(awk '$2 == "fstype" { $1 = ""; $2 = ""; print; exit }' "$W/plain.out")
if [ -n "$fs_plain" ] && [[ "$fs_plain" != *fuse* ]]; then
	tap_ok "plain: the fstype finding names a non-fuse filesystem ($fs_plain)"
else
	tap_fail "plain: the fstype finding names a non-fuse filesystem" "got: $fs_plain"
fi

# ---- 2. --peer-check on two views at once --------------------------------------

mkdir -p "$SHARED/peer"
"$COHORT" --root "$V1/peer" --node a doctor --peer-check >"$W/peer.a.out" 2>"$W/peer.a.err" &
pa=$!
CLUSTER_PIDS+=("$pa")
"$COHORT" --root "$V2/peer" --node b doctor --peer-check >"$W/peer.b.out" 2>"$W/peer.b.err" &
pb=$!
CLUSTER_PIDS+=("$pb")
wait "$pa"
echo $? >"$W/peer.a.rc"
wait "$pb"
echo $? >"$W/peer.b.rc"
for n in a b; do
	tap_check "peer-check, node $n: exit status agrees with the levels" consistent "peer.$n"
	tap_is "peer-check, node $n: the peer finding is ok" "$(level_of "peer.$n" peer)" ok
done
excl=$(grep -h '^ok  *peer ' "$W/peer.a.out" "$W/peer.b.out" | grep -c 'excluded this one')
held=$(grep -h '^ok  *peer ' "$W/peer.a.out" "$W/peer.b.out" | grep -c 'refused the lock this node held')
tap_is "peer-check: one side was excluded by the other's lock, the other saw it refused" \
	"excluded=$excl held=$held" "excluded=1 held=1"
tap_is "peer-check: leaves only its lock file and its talk file" \
	"$(ls -A "$SHARED/peer" | grep -Ev '^\.doctor-peer\.(lock|talk)$' | tr '\n' ' ')" ""
tap_is "peer-check: the talk file's slots are empty again" \
	"$(tr -d '\0' <"$SHARED/peer/.doctor-peer.talk" | wc -c)" 0

# ---- 3. world-writable root without the sticky bit -----------------------------

mkdir -p "$SHARED/open"
chmod 0777 "$SHARED/open"
doctor open "$V1/open"
tap_is "world-writable, no sticky bit: exit 1" "$(cat "$W/open.rc")" 1
tap_is "world-writable, no sticky bit: a FAIL permissions line" "$(level_of open permissions)" FAIL
tap_check "world-writable, no sticky bit: exit status agrees with the levels" consistent open
doctor open.json "$V1/open" --json
tap_is "world-writable, no sticky bit: --json level fail for permissions" \
	"$(jq -r 'select(.check == "permissions") | .level' "$W/open.json.out" | head -n 1) $(cat "$W/open.json.rc")" "fail 1"
chmod 1777 "$SHARED/open"
doctor sticky "$V1/open"
if [ "$(level_of sticky permissions)" != FAIL ] && [ "$(cat "$W/sticky.rc")" = 0 ] ||
	{ [ "$(cat "$W/sticky.rc")" = 1 ] && grep -Eq '^(warn|FAIL) ' "$W/sticky.out" &&
		[ "$(level_of sticky permissions)" != FAIL ]; }; then
	tap_ok "world-writable with the sticky bit: no FAIL permissions line"
else
	tap_fail "world-writable with the sticky bit: no FAIL permissions line" "$(cat "$W/sticky.out")"
fi
chmod 0755 "$SHARED/open"

# ---- 4. usage errors -----------------------------------------------------------

doctor missing "$T/no/such/root"
tap_is "missing root: exit 1" "$(cat "$W/missing.rc")" 1
if grep -q '^cohort: ' "$W/missing.err"; then
	tap_ok "missing root: a 'cohort: ' message on stderr"
else
	tap_fail "missing root: a 'cohort: ' message on stderr" "stderr: $(cat "$W/missing.err")"
fi
tap_is "missing root: no findings on stdout" "$(cat "$W/missing.out")" ""
doctor badflag "$PLAIN" --no-such-flag
tap_is "bad flag: exit 2" "$(cat "$W/badflag.rc")" 2
doctor badarg "$PLAIN" extra
tap_is "unexpected argument: exit 2" "$(cat "$W/badarg.rc")" 2

exit 0
