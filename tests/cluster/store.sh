#!/usr/bin/env bash
# tests/cluster/store.sh - the extension store across bindfs views.
#
# 1. Node b is stopped (its view unmounted) while node a installs packages
#    (root namespace and a namespace, with a dependency, an upgrade and an
#    uninstall).  When b's mount is back, b's 'list --json' equals a's, for
#    all packages and per namespace, and 'materialize DIR' on b gives files
#    byte-identical to a's materialized folder (the same names, nothing
#    else).
# 2. Two views install and uninstall the same id in two namespaces at the
#    same time (a loop on each view, released together): every command
#    succeeds, the journal holds one store record per successful command,
#    in each loop's order, and the index holds, per namespace, exactly what
#    that loop's last successful command implies (seen from both views).
# 3. Reinstalling identical content (the same file, a copy, another
#    namespace, from the other view) stores one blob and no temp file.
# 4. Dependencies: an install whose dependency is missing exits 1 naming
#    it and works with --force; uninstall of a dependency in use exits 1
#    naming the dependent; 'install --dependency' shows "dependency":true.
# 5. 'cat': the whole package and byte ranges (--offset/--length) equal the
#    file's bytes; a range starting past the end exits 1.
# 6. A blob damaged on disk (one byte flipped through the shared folder):
#    'cat' exits 1 with a message and writes zero bytes on stdout (whole
#    and ranges); 'materialize' exits 1 with a message, the damaged
#    package's file is not written and no temp file is left.
# 7. CLI errors: a missing file and a file that is not an archive exit 1
#    with one 'cohort: ' line; a wrong flag exits 2.
#
# BUILD=build bash tests/cluster/store.sh
# STORE_ROUNDS (default 30): commands per loop in 2.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/lib.sh
. "$HERE/lib.sh"

need_prog "$COHORT" "the cohort tool"
command -v jq >/dev/null 2>&1 ||
	tap_bail "jq is installed (the cluster tests read JSON output with it)"
command -v zip >/dev/null 2>&1 ||
	tap_bail "zip is installed (the store test builds its packages with it)"
cluster_setup 2
tool_copy
node_bind a 1
node_bind b 2

# Under sanitizers a report must not pass for an expected "exit 1".
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=86"

W=$T/work
PK=$W/pkgs
mkdir -p "$PK"
BLOBS=$ROOT_SHARED/store/blobs
ROUNDS=${STORE_ROUNDS:-30}

# mkjar FILE ID VERSION [DEP...]: an XWiki extension jar in $PK with an
# extension.xed (id, version, dependencies), a manifest and a payload that
# makes its content unique.
mkjar() {
	local file=$1 id=$2 ver=$3 d dep
	shift 3
	d=$W/src/$file
	rm -rf "$d"
	mkdir -p "$d/META-INF" "$d/lib"
	{
		echo '<?xml version="1.0" encoding="UTF-8"?>'
		echo "<extension><id>$id</id><version>$ver</version>"
		echo "<dependencies>"
		for dep in "$@"; do
			echo "<dependency><id>$dep</id></dependency>"
		done
		echo "</dependencies></extension>"
	} >"$d/META-INF/extension.xed"
	printf 'Manifest-Version: 1.0\nCreated-By: store.sh\n' >"$d/META-INF/MANIFEST.MF"
	{
		echo "$file $id $ver"
		head -c 3000 /dev/urandom
	} >"$d/lib/payload.bin"
	(cd "$d" && zip -qrX "$PK/$file" META-INF lib) || tap_bail "zip '$file'"
}

# The list as "NS ID VERSION DEPENDENCY HASH" lines (NS "-" for root).
list_lines() {
	local id=$1
	shift
	node_cohort "$id" list --json "$@" |
		jq -r '"\(.namespace // "-") \(.id) \(.version) \(.dependency) \(.hash)"'
}

# Regular files under store/blobs (blobs and anything else).
store_files() {
	find "$BLOBS" -type f 2>/dev/null | wc -l
}
store_temps() {
	find "$BLOBS" -type f -name '*.tmp.*' 2>/dev/null | wc -l
}

blob_of() { # HASH
	echo "$BLOBS/${1:0:2}/${1:2:2}/$1"
}

# flip_byte FILE: xor the byte in the middle of FILE with 0x5a, in place.
flip_byte() {
	local off b
	off=$(($(stat -c %s "$1") / 2))
	b=$(od -An -tu1 -j "$off" -N1 "$1" | tr -d ' ')
	# shellcheck disable=SC2059
	printf "\\$(printf '%03o' $((b ^ 0x5a)))" |
		dd of="$1" bs=1 seek="$off" conv=notrunc 2>/dev/null
}

# one_line_msg TEXT REGEX: TEXT is one line "cohort: ..." matching REGEX.
one_line_msg() {
	if [ "$(printf '%s\n' "$1" | wc -l)" != 1 ] ||
		! grep -q "^cohort: .*$2" <<<"$1"; then
		printf '%s\n' "$1"
		return 1
	fi
}

# same_dirs A B: the same non-hidden names, byte-identical files.
same_dirs() {
	local a=$1 b=$2 f
	[ "$(cd "$a" && ls)" == "$(cd "$b" && ls)" ] || {
		echo "names differ: '$(cd "$a" && ls | tr '\n' ' ')' vs '$(cd "$b" && ls | tr '\n' ' ')'"
		return 1
	}
	for f in "$a"/*; do
		[ -e "$f" ] || continue
		cmp "$f" "$b/$(basename "$f")" || return 1
	done
}

node_cohort a init >/dev/null || tap_bail "cohort init"
node_cohort a join >/dev/null || tap_bail "join a"
node_cohort b join >/dev/null || tap_bail "join b"

# ---- 1. a node that was stopped learns every install ------------------------

mkjar dep-1.jar org.example:dep 1.0
mkjar app-1.jar org.example:app 1.0 org.example:dep
mkjar app-2.jar org.example:app 2.0 org.example:dep
mkjar tool-1.jar tool 1.0
mkjar old-1.jar old 1.0
mkjar ns-1.jar nsonly 3.1

view_unmount 2 || tap_bail "stop node b (unmount view v2)"
if node_cohort b list >/dev/null 2>&1; then
	tap_fail "node b is cut off while stopped (its list fails)"
else
	tap_ok "node b is cut off while stopped (its list fails)"
fi
ok=1
for cmd in "install $PK/dep-1.jar" \
	"install --dependency $PK/tool-1.jar" \
	"install --namespace ns1 $PK/app-1.jar" \
	"install --namespace ns1 $PK/app-2.jar" \
	"install --namespace ns2 $PK/app-1.jar" \
	"install --namespace ns1 $PK/ns-1.jar" \
	"install $PK/old-1.jar" \
	"uninstall old"; do
	# shellcheck disable=SC2086
	if ! out=$(node_cohort a $cmd 2>&1); then
		tap_fail "node a: $cmd" "$out"
		ok=0
	fi
done
[ $ok = 1 ] && tap_ok "node a installs, upgrades and uninstalls while b is stopped"
want="- org.example:dep 1.0 false
- tool 1.0 true
ns1 nsonly 3.1 false
ns1 org.example:app 2.0 false
ns2 org.example:app 1.0 false"
tap_is "a's list is what a did" "$(list_lines a | cut -d' ' -f1-4)" "$want"

view_mount 2 || tap_bail "start node b (mount view v2 again)"
la=$(node_cohort a list --json)
lb=$(node_cohort b list --json)
tap_is "b's 'list --json' equals a's" "$lb" "$la"
for ns in ns1 ns2 ns3; do
	tap_is "b's 'list --namespace $ns --json' equals a's" \
		"$(node_cohort b list --namespace "$ns" --json)" \
		"$(node_cohort a list --namespace "$ns" --json)"
done
if out=$(node_cohort a materialize "$W/mat-a" 2>&1) &&
	outb=$(node_cohort b materialize "$W/mat-b" 2>&1); then
	tap_is "materialize on a and b report the same" "$outb" "$out"
	tap_is "materialize placed every package" "$out" \
		"5 added, 0 updated, 0 removed, 0 unchanged"
	tap_check "b's materialized folder is byte-identical to a's" \
		same_dirs "$W/mat-a" "$W/mat-b"
	tap_is "the materialized names" "$(cd "$W/mat-b" && ls | tr '\n' ' ')" \
		"nsonly-3.1.jar org.example:app-1.0.jar org.example:app-2.0.jar org.example:dep-1.0.jar tool-1.0.jar "
	tap_check "b's app-2.0 is the package a installed" \
		cmp "$W/mat-b/org.example:app-2.0.jar" "$PK/app-2.jar"
else
	tap_fail "materialize on a and on b" "$out" "${outb:-}"
fi
if node_cohort a materialize --namespace ns1 "$W/ns1-a" >/dev/null 2>&1 &&
	node_cohort b materialize --namespace ns1 "$W/ns1-b" >/dev/null 2>&1; then
	tap_check "b's materialized ns1 is byte-identical to a's" \
		same_dirs "$W/ns1-a" "$W/ns1-b"
	tap_is "ns1 holds ns1's and the root's packages" \
		"$(cd "$W/ns1-b" && ls | tr '\n' ' ')" \
		"nsonly-3.1.jar org.example:app-2.0.jar org.example:dep-1.0.jar tool-1.0.jar "
else
	tap_fail "materialize --namespace ns1 on a and on b"
fi
tap_is "a second materialize on b changes nothing" \
	"$(node_cohort b materialize "$W/mat-b" 2>&1)" \
	"0 added, 0 updated, 0 removed, 5 unchanged"

# ---- 2. parallel installs and uninstalls in two namespaces ----------------

for v in 1 2 3 4; do
	mkjar "par-$v.jar" par "$v"
done

# par_loop NODE NS: ROUNDS commands; each line of $W/par.NODE is
# "install V" or "uninstall" and its exit status.
par_loop() {
	local id=$1 ns=$2 i v rc
	: >"$W/ready.$id"
	while [ ! -e "$W/go" ]; do sleep 0.01; done
	now_ms >"$W/start.$id"
	for i in $(seq 1 "$ROUNDS"); do
		if [ $((i % 3)) = 0 ]; then
			node_cohort "$id" uninstall --namespace "$ns" par \
				>/dev/null 2>>"$W/par.$id.err"
			rc=$?
			echo "uninstall - $rc"
		else
			v=$(((i * 7 + ${#ns}) % 4 + 1))
			node_cohort "$id" install --namespace "$ns" "$PK/par-$v.jar" \
				>/dev/null 2>>"$W/par.$id.err"
			rc=$?
			echo "install $v $rc"
		fi
	done >"$W/par.$id"
	now_ms >"$W/end.$id"
}

# What a loop's successful commands imply: "NS par V" or nothing.
par_expect() {
	local ns=$1 file=$2 state="" op v rc
	while read -r op v rc; do
		[ "$rc" = 0 ] || continue
		if [ "$op" = install ]; then
			state="$ns par $v"
		else
			state=""
		fi
	done <"$file"
	[ -n "$state" ] && echo "$state"
}

head0=$(node_cohort a status --json | jq -r .head)
rm -f "$W/go"
bg_start par_loop a nsa
pa=$BG_PID
bg_start par_loop b nsb
pb=$BG_PID
wait_for 20 eval '[ -e "$W/ready.a" ] && [ -e "$W/ready.b" ]' ||
	tap_bail "parallel loops ready"
touch "$W/go"
wait "$pa"
wait "$pb"
# Each loop is the only writer of its namespace and uninstalls only right
# after installing: every command must succeed.
fails=$(cat "$W/par.a" "$W/par.b" | awk '$3 != 0' | wc -l)
tap_is "parallel loops: every command succeeded" "$fails" "0"
[ "$fails" = 0 ] || note "$(cat "$W/par.a.err" "$W/par.b.err")"
note "parallel: $((ROUNDS * 2)) commands, a $(($(cat "$W/end.a") - $(cat "$W/start.a"))) ms, b $(($(cat "$W/end.b") - $(cat "$W/start.b"))) ms"
# Each loop started before the other ended: they ran at the same time.
overlap() {
	[ "$(cat "$W/start.a")" -lt "$(cat "$W/end.b")" ] &&
		[ "$(cat "$W/start.b")" -lt "$(cat "$W/end.a")" ]
}
tap_check "the two loops ran at the same time" overlap
want=$(
	par_expect nsa "$W/par.a"
	par_expect nsb "$W/par.b"
)
for n in a b; do
	tap_is "after the parallel loops, view $n's index holds what the commands imply" \
		"$(list_lines "$n" | awk '$2 == "par" { print $1, $2, $3 }')" "$want"
done
# The journal: one store record per successful command, in loop order.
node_cohort a log --from $((head0 + 1)) --json >"$W/par.log" 2>"$W/par.log.err"
for n in a b; do
	ns=ns$n
	got=$(jq -r --arg ns "$ns" 'select(.type | startswith("store.")) |
		(.data | fromjson) as $d | select($d.ns == $ns) |
		if .type == "store.install" then "install \($d.version)"
		else "uninstall -" end' <"$W/par.log")
	want=$(awk '$3 == 0 { print $1, $2 }' "$W/par.$n")
	tap_is "the journal holds loop $n's successful commands, in order, once each" \
		"$got" "$want"
	tap_is "loop $n's records were appended by node $n" \
		"$(jq -r --arg ns "$ns" 'select(.type | startswith("store.")) |
			select((.data | fromjson).ns == $ns) | .node' <"$W/par.log" | sort -u)" \
		"$n"
done
tap_is "no other store record appeared" \
	"$(jq -r 'select(.type | startswith("store.")) | .data | fromjson | .ns' <"$W/par.log" |
		grep -cvE '^(nsa|nsb)$')" "0"

# ---- 3. identical content is stored once ----------------------------------

mkjar same-1.jar same 1.0
before=$(store_files)
node_cohort a install "$PK/same-1.jar" >/dev/null || tap_fail "install same-1.jar"
after1=$(store_files)
cp "$PK/same-1.jar" "$W/copy-of-same.jar"
node_cohort b install "$PK/same-1.jar" >/dev/null &&
	node_cohort b install "$W/copy-of-same.jar" >/dev/null &&
	node_cohort a install --namespace ns9 "$W/copy-of-same.jar" >/dev/null &&
	node_cohort b install --id same.again --version 2 "$PK/same-1.jar" >/dev/null ||
	tap_fail "reinstalls of same-1.jar"
tap_is "the first install stored one blob" "$after1" "$((before + 1))"
tap_is "reinstalls of identical content stored nothing more" "$(store_files)" "$after1"
tap_is "no temp file left in store/blobs" "$(store_temps)" "0"
h=$(node_cohort a list --json | jq -r 'select(.id == "same" and .namespace == null) | .hash')
tap_check "the blob holds the package's bytes" cmp "$(blob_of "$h")" "$PK/same-1.jar"
tap_is "all four installs name that blob" \
	"$(node_cohort b list --json | jq -r 'select(.id | startswith("same")) | .hash' | sort -u)" "$h"

# ---- 4. dependencies ---------------------------------------------------------

mkjar lib-1.jar lib.core 1.0
mkjar user-1.jar user 1.0 lib.core
out=$(node_cohort a install --namespace ns4 "$PK/user-1.jar" 2>&1)
rc=$?
tap_is "install with a missing dependency exits 1" "$rc" "1"
tap_check "... naming the missing dependency" one_line_msg "$out" "'lib.core'"
tap_check "install --force installs it anyway" \
	node_cohort b install --force --namespace ns5 "$PK/user-1.jar"
node_cohort a install --dependency "$PK/lib-1.jar" >/dev/null ||
	tap_fail "install --dependency lib-1.jar"
tap_check "with the dependency in the root namespace the install works" \
	node_cohort a install --namespace ns4 "$PK/user-1.jar"
tap_is "install --dependency shows \"dependency\":true in list --json" \
	"$(node_cohort b list --json | jq -c 'select(.id == "lib.core") | .dependency')" "true"
tap_is "and the others \"dependency\":false" \
	"$(node_cohort b list --json | jq -c 'select(.id == "user") | .dependency' | sort -u)" "false"
tap_check "list --json has every contract field, typed" bash -c '
	"$@" list --json | jq -e -s "length > 0 and all(.[];
		(.id | type == \"string\") and (.version | type == \"string\") and
		(.namespace == null or (.namespace | type == \"string\")) and
		(.dependency | type == \"boolean\") and
		(.hash | test(\"^[0-9a-f]{32}$\")) and (.size | type == \"number\") and
		(.installed | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\\\.[0-9]{3}Z$\")))"
	' _ "$COHORT" --root "$(node_root b)" --node b --state "$(node_state b)"
out=$(node_cohort b uninstall lib.core 2>&1)
rc=$?
tap_is "uninstall of a dependency in use exits 1" "$rc" "1"
tap_check "... naming the dependent" one_line_msg "$out" "'user'"
tap_is "... and it stays installed" \
	"$(node_cohort a list --json | jq -r 'select(.id == "lib.core") | .version')" "1.0"
out=$(node_cohort a uninstall --namespace ns4 nothing.here 2>&1)
tap_is "uninstall of what is not installed exits 1" "$?" "1"

# ---- 5. cat -----------------------------------------------------------------

mkjar big-1.jar big 1.0
size=$(stat -c %s "$PK/big-1.jar")
node_cohort a install "$PK/big-1.jar" >/dev/null || tap_fail "install big-1.jar"
tap_check "cat on b gives the package's bytes" \
	cmp <(node_cohort b cat big) "$PK/big-1.jar"
tap_check "cat --offset 100 --length 1000" \
	cmp <(node_cohort b cat big --offset 100 --length 1000) \
	<(tail -c +101 "$PK/big-1.jar" | head -c 1000)
tap_check "a broken transfer resumes with --offset" \
	cmp <(node_cohort a cat big --length 777; node_cohort b cat big --offset 777) \
	"$PK/big-1.jar"
tap_check "cat --version" cmp <(node_cohort b cat --version 1.0 big) "$PK/big-1.jar"
node_cohort b cat big --offset $((size + 1)) >"$W/cat.out" 2>"$W/cat.err"
rc=$?
n=$(stat -c %s "$W/cat.out")
tap_is "cat past the end exits 1 and writes nothing" "$rc $n" "1 0"

# ---- 6. a damaged blob ----------------------------------------------------------

mkjar dmg-1.jar dmg 1.0
mkjar fine-1.jar fine 1.0
node_cohort a install --namespace nsd "$PK/dmg-1.jar" >/dev/null &&
	node_cohort a install --namespace nsd "$PK/fine-1.jar" >/dev/null ||
	tap_fail "install dmg-1.jar, fine-1.jar"
h=$(node_cohort a list --namespace nsd --json | jq -r 'select(.id == "dmg") | .hash')
blob=$(blob_of "$h")
flip_byte "$blob"
tap_check "the blob is damaged on disk" bash -c '! cmp -s "$1" "$2"' _ "$blob" "$PK/dmg-1.jar"
for args in "" "--offset 0 --length 10" "--offset 100"; do
	# shellcheck disable=SC2086
	node_cohort b cat dmg $args >"$W/dmg.out" 2>"$W/dmg.err"
	rc=$?
	n=$(stat -c %s "$W/dmg.out")
	tap_is "cat $args of a damaged blob: exit 1, zero bytes on stdout" "$rc $n" "1 0"
	tap_check "... with one 'cohort: ' line naming the damage" \
		one_line_msg "$(cat "$W/dmg.err")" "'dmg'.*damaged"
done
out=$(node_cohort b materialize --namespace nsd "$W/mat-dmg" 2>&1)
rc=$?
tap_is "materialize with a damaged blob exits 1" "$rc" "1"
tap_check "... with one 'cohort: ' line naming the damage" \
	one_line_msg "$out" "'dmg'.*damaged"
tap_is "... the damaged package's file is not written" \
	"$(find "$W/mat-dmg" -name 'dmg*' | wc -l)" "0"
tap_is "... and no temp file is left" \
	"$(find "$W/mat-dmg" -name '*.tmp.*' | wc -l)" "0"
cp "$PK/dmg-1.jar" "$blob"
tap_check "once the blob is put right, cat delivers it" \
	cmp <(node_cohort b cat dmg) "$PK/dmg-1.jar"
node_cohort a uninstall --namespace nsd dmg >/dev/null

# ---- 7. CLI errors -----------------------------------------------------------

# cli_case DESC WANT-RC ARGS...: exit status WANT-RC and, for 1, one line
# on stderr starting 'cohort: '.
cli_case() {
	local d=$1 want=$2 rc
	shift 2
	node_cohort a "$@" >"$W/cli.out" 2>"$W/cli.err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		tap_fail "$d: exit $want" "exit $rc" "$(cat "$W/cli.err")"
	elif [ "$want" = 1 ] && { [ "$(wc -l <"$W/cli.err")" != 1 ] ||
		! grep -q '^cohort: ' "$W/cli.err"; }; then
		tap_fail "$d: one 'cohort: ' line on stderr" "$(cat "$W/cli.err")"
	else
		tap_ok "$d: exit $want"
	fi
}
printf 'this is not an archive\n' >"$W/notes.jar"
files0=$(store_files)
cli_case "install of a missing file" 1 install "$W/no-such.jar"
grep -q "no-such.jar" "$W/cli.err" || tap_fail "... names the file" "$(cat "$W/cli.err")"
cli_case "install of a file that is not an archive" 1 install "$W/notes.jar"
grep -q "not a package archive" "$W/cli.err" ||
	tap_fail "... says it is not an archive" "$(cat "$W/cli.err")"
tap_is "refused installs stored nothing" "$(store_files)" "$files0"
cli_case "install with a wrong flag" 2 install --bogus "$PK/tool-1.jar"
cli_case "install without a file" 2 install
cli_case "uninstall with a wrong flag" 2 uninstall --bogus tool
cli_case "list with a wrong flag" 2 list --bogus
cli_case "materialize with a wrong flag" 2 materialize --bogus "$W/m"
cli_case "cat with a wrong flag" 2 cat --bogus big
cli_case "cat with a bad offset" 2 cat --offset abc big
cli_case "cat of what is not installed" 1 cat no.such.package
