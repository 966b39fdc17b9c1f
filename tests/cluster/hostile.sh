#!/usr/bin/env bash
# tests/cluster/hostile.sh - hostile names and packages through the CLI.
#
# Node a (on view v1) has joined and installed one package.  Then:
# 1. Every hostile value ("..", ".", "/", "a/b", "a/../b", "../x",
#    "/etc/passwd", "-x", "--help", "", a newline, a tab, an escape
#    sequence, bytes that are not UTF-8, UTF-8 that is not ASCII, a space,
#    300, 4096 and 70000 bytes) goes to every place the tool takes a name:
#    --node and COHORT_NODE (with join, install and the default state
#    folder), append --type, install --namespace/--id/--version, uninstall
#    --namespace and its ID, list/materialize/node --namespace, cat's ID,
#    --version and --namespace, run-once's NAME.  Each run must exit 1 or
#    2, print nothing on stdout and exactly one line starting 'cohort: '
#    on stderr (at most a "Try 'cohort ... --help'." line besides), which
#    names the kind of name and says what is wrong with it; and the test
#    folder (the shared root, the state folders, the work folder, all but
#    the views) must be exactly as before: names, modes, sizes, mtimes of
#    files and folders, content.  No command it was given may have run.
# 2. Packages built here with hostile names in their metadata
#    (extension.xed id, version and dependency, package.xml, rhq-plugin.xml,
#    MANIFEST.MF with a tab, a byte that is not UTF-8, a NUL, a
#    Bundle-SymbolicName with parameters), an XML external entity, and
#    hostile archives (a '../' entry, an absolute path, a symlink out, a
#    fifo, an empty file, a text file, a cut zip): install exits 1 with
#    the reason on one line, and nothing is stored (no blob, no temporary
#    file, no journal record: the same listing, folder mtimes aside).
#
# BUILD=build bash tests/cluster/hostile.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/lib.sh
. "$HERE/lib.sh"

need_prog "$COHORT" "the cohort tool"
command -v zip >/dev/null 2>&1 ||
	tap_bail "zip is installed (this test builds its packages with it)"
command -v tar >/dev/null 2>&1 || tap_bail "tar is installed"
cluster_setup 1
tool_copy
node_bind a 1

export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=86"
# The default state folder of a node without --state: must never appear.
export XDG_STATE_HOME=$T/xdg
unset COHORT_ROOT COHORT_NODE COHORT_STATE

W=$T/work
PK=$W/pkgs
SNAP=$T/snap # the test's own files: not in the listing
CWD=$W/cwd   # the commands' working folder
mkdir -p "$PK" "$SNAP" "$CWD"
R=$(node_root a)

# ---- helpers ---------------------------------------------------------------

# The test folder, one line per entry, sorted; with 'strict' the folders'
# mtimes too (they move when anything is created there, even if removed).
listing() {
	local strict=$1 skip=(\( -path ./v1 -o -path ./snap \) -prune -o)
	(
		cd "$T" || exit 1
		if [ "$strict" = strict ]; then
			find . "${skip[@]}" -type d -printf '%p d %m %T@\n'
		else
			find . "${skip[@]}" -type d -printf '%p d %m\n'
		fi
		find . "${skip[@]}" ! -type d -printf '%p %y %m %s %T@\n'
		find . "${skip[@]}" -type f -exec sha256sum {} +
	) | LC_ALL=C sort
}

# What changed between two listings, for a failure's comment lines.
listing_diff() {
	diff <(printf '%s\n' "$1") <(printf '%s\n' "$2") | head -n 10
}

# check_refused LABEL WHY: the last run (rc, $SNAP/out, $SNAP/err) was
# refused as it must be; prints what is wrong otherwise.
check_refused() {
	local label=$1 why=$2 lines first
	if [ "$RUN_RC" != 1 ] && [ "$RUN_RC" != 2 ]; then
		echo "exit $RUN_RC, not 1 or 2"
	fi
	if [ -s "$SNAP/out" ]; then
		echo "stdout not empty: $(head -c 200 "$SNAP/out")"
	fi
	lines=$(wc -l <"$SNAP/err")
	first=$(head -n 1 "$SNAP/err")
	if [ "$(grep -c '^cohort: ' "$SNAP/err")" != 1 ] ||
		[ "${first#cohort: }" = "$first" ] ||
		[ "$lines" -gt 2 ] ||
		{ [ "$lines" = 2 ] && ! sed -n 2p "$SNAP/err" | grep -q "^Try 'cohort .*--help'\.$"; }; then
		echo "stderr is not one 'cohort: ' line: $(head -c 400 "$SNAP/err")"
	fi
	if ! grep -qF -- "$label" <<<"$first"; then
		echo "message lacks '$label': ${first:0:300}"
	fi
	if ! grep -qF -- "$why" <<<"$first"; then
		echo "message lacks '$why': ${first:0:300}"
	fi
	if [ "${#first}" -gt 600 ]; then
		echo "message of ${#first} bytes"
	fi
}

# run CMD...: run in $CWD, stdout and stderr to $SNAP, exit code in RUN_RC.
run() {
	(cd "$CWD" && "$@") >"$SNAP/out" 2>"$SNAP/err"
	RUN_RC=$?
}

a() { node_cohort a "$@"; }

# ---- the values ------------------------------------------------------------

LABELS=()
VALUES=()
WHYS=()
val() {
	LABELS+=("$1")
	VALUES+=("$2")
	WHYS+=("$3")
}
long() { head -c "$1" /dev/zero | tr '\0' a; }
val dotdot .. "it starts with '.'"
val dot . "it starts with '.'"
val slash / "it holds '/'"
val a/b a/b "it holds '/'"
val a/../b a/../b "it holds '/'"
val ../x ../x "it holds '/'"
val absolute /etc/passwd "it holds '/'"
val dash -x "it starts with '-'"
val option --help "it starts with '-'"
val empty "" "it is empty"
val newline $'a\nb' 'it holds a control character (\x0a)'
val tab $'a\tb' '(\x09)'
val escape $'a\e[2J' '(\x1b)'
val not-utf8 $'\xff\xfe' 'it holds a byte that is not ASCII (\xff)'
val utf8 $'caf\xc3\xa9' 'not ASCII (\xc3)'
val space "a b" "it holds ' '"
val long300 "$(long 300)" "it is longer than"
val long4096 "$(long 4096)" "it is longer than"
val long70000 "$(long 70000)" "it is longer than"

# ---- the cluster -----------------------------------------------------------

# mkpkg FILE ENTRY CONTENT [ENTRY CONTENT]...: a zip in $PK holding those
# entries (CONTENT as printf %b: '\0' is a NUL) and a payload.
mkpkg() {
	local file=$1 d
	shift
	d=$W/src/$file
	rm -rf "$d" "${PK:?}/$file"
	mkdir -p "$d/lib"
	echo "payload of $file" >"$d/lib/payload.txt"
	while [ $# -ge 2 ]; do
		mkdir -p "$d/$(dirname "$1")"
		printf '%b' "$2" >"$d/$1"
		shift 2
	done
	(cd "$d" && zip -qrX "$PK/$file" .) || tap_bail "zip '$file'"
}

xed() { # ID VERSION [DEP]
	printf '<?xml version="1.0" encoding="UTF-8"?>\\n<extension><id>%s</id><version>%s</version><dependencies>%s</dependencies></extension>\\n' \
		"$1" "$2" "${3:+<dependency><id>$3</id></dependency>}"
}

a init >/dev/null || tap_bail "cohort init"
a join >/dev/null || tap_bail "join a"
mkpkg good.jar META-INF/extension.xed "$(xed good 1)"
a install "$PK/good.jar" >/dev/null || tap_bail "install good.jar"
BLOBS=$(find "$R/store/blobs" -type f | wc -l)

# ---- 1. hostile names on the command line ----------------------------------

# Each entry point: a function taking the value, the label of the message.
e_node() { "$COHORT" --root "$R" --node="$1" --state "$(node_state a)" join; }
e_node_install() { "$COHORT" --root "$R" --node="$1" --state "$(node_state a)" install "$PK/good.jar"; }
e_env_node() { COHORT_NODE=$1 "$COHORT" --root "$R" join; }
e_env_node_install() { COHORT_NODE=$1 "$COHORT" --root "$R" install "$PK/good.jar"; }
e_type() { a append --type="$1" data; }
e_install_ns() { a install --namespace="$1" "$PK/good.jar"; }
e_install_id() { a install --id="$1" --version=1 "$PK/good.jar"; }
e_install_version() { a install --id=x --version="$1" "$PK/good.jar"; }
e_uninstall_ns() { a uninstall --namespace="$1" good; }
e_uninstall_id() { a uninstall -- "$1"; }
e_list_ns() { a list --namespace="$1"; }
e_materialize_ns() { a materialize --namespace="$1" "$W/out"; }
e_cat_id() { a cat -- "$1"; }
e_cat_version() { a cat good --version="$1"; }
e_cat_ns() { a cat good --namespace="$1"; }
e_node_ns() { timeout 30 "$COHORT" --root "$R" --node a --state "$(node_state a)" node --namespace="$1" --materialize "$W/out"; }
e_run_once() { a run-once -- "$1" touch "$W/ran"; }

ENTRIES=(
	"e_node|bad node id|--node ID (join)"
	"e_node_install|bad node id|--node ID (install)"
	"e_env_node|bad node id|COHORT_NODE (join, default state)"
	"e_env_node_install|bad node id|COHORT_NODE (install)"
	"e_type|bad record type|append --type"
	"e_install_ns|bad namespace|install --namespace"
	"e_install_id|bad package id|install --id"
	"e_install_version|bad package version|install --version"
	"e_uninstall_ns|bad namespace|uninstall --namespace"
	"e_uninstall_id|bad package id|uninstall ID"
	"e_list_ns|bad namespace|list --namespace"
	"e_materialize_ns|bad namespace|materialize --namespace"
	"e_cat_id|bad package id|cat ID"
	"e_cat_version|bad package version|cat --version"
	"e_cat_ns|bad namespace|cat --namespace"
	"e_node_ns|bad namespace|node --namespace"
	"e_run_once|bad job name|run-once NAME"
)

BEFORE=$(listing strict)
for entry in "${ENTRIES[@]}"; do
	IFS='|' read -r fn label desc <<<"$entry"
	problems=()
	for i in "${!VALUES[@]}"; do
		v=${VALUES[$i]}
		why=${WHYS[$i]}
		lab=$label
		# An empty COHORT_NODE is no COHORT_NODE (as an empty variable
		# is in most tools): the command then says it needs one.
		if [ -z "$v" ] && [[ "$fn" == e_env_* ]]; then
			lab="no node id"
			why="COHORT_NODE"
		fi
		run "$fn" "$v"
		p=$(check_refused "$lab" "$why")
		now=$(listing strict)
		if [ "$now" != "$BEFORE" ]; then
			p="$p${p:+ / }changed the test folder: $(listing_diff "$BEFORE" "$now" | tr '\n' ' ')"
			BEFORE=$now
		fi
		[ -n "$p" ] && problems+=("${LABELS[$i]}: $p")
	done
	if [ ${#problems[@]} -eq 0 ]; then
		tap_ok "$desc: all ${#VALUES[@]} hostile values refused, nothing touched"
	else
		tap_fail "$desc: all ${#VALUES[@]} hostile values refused, nothing touched" \
			"${problems[@]}"
	fi
done
tap_is "no refused command ran (run-once)" "$([ -e "$W/ran" ] && echo ran)" ""
tap_is "no default state folder was made" "$([ -e "$T/xdg" ] && echo made)" ""

# ---- 2. hostile packages ---------------------------------------------------

# install_refused DESC FILE WHY: exit 1, one line with WHY, nothing stored.
install_refused() {
	local desc=$1 file=$2 why=$3 before now p
	before=$(listing loose)
	run a install "$file"
	p=$(check_refused "cohort: " "$why")
	[ "$RUN_RC" = 1 ] || p="$p${p:+ / }exit $RUN_RC, not 1"
	now=$(listing loose)
	if [ "$now" != "$before" ]; then
		p="$p${p:+ / }changed the test folder: $(listing_diff "$before" "$now" | tr '\n' ' ')"
	fi
	if [ -z "$p" ]; then
		tap_ok "$desc: refused ($why), nothing stored"
	else
		tap_fail "$desc: refused ($why), nothing stored" "$p" \
			"stderr: $(head -c 400 "$SNAP/err")"
	fi
}

X=META-INF/extension.xed
M=META-INF/MANIFEST.MF
mkpkg id-dotdot.jar $X "$(xed .. 1)"
install_refused "extension.xed id '..'" "$PK/id-dotdot.jar" \
	"its id '..' (from extension.xed) is not a safe name: it starts with '.'"
mkpkg id-up.jar $X "$(xed ../../x 1)"
install_refused "extension.xed id '../../x'" "$PK/id-up.jar" "it holds '/'"
mkpkg id-dash.jar $X "$(xed -rf 1)"
install_refused "extension.xed id '-rf'" "$PK/id-dash.jar" "it starts with '-'"
mkpkg id-space.jar $X "$(xed 'a b' 1)"
install_refused "extension.xed id 'a b'" "$PK/id-space.jar" "it holds ' '"
mkpkg id-nl.jar $X "$(xed 'a&#10;b' 1)"
install_refused "extension.xed id with a newline" "$PK/id-nl.jar" "(\\x0a)"
mkpkg id-long.jar $X "$(xed "$(long 300)" 1)"
install_refused "extension.xed id of 300 bytes" "$PK/id-long.jar" \
	"is longer than 255 bytes"
mkpkg ver.jar $X "$(xed v '1/../2')"
install_refused "extension.xed version '1/../2'" "$PK/ver.jar" \
	"its version '1/../2' is not a safe name: it holds '/'"
mkpkg dep.jar $X "$(xed d 1 .hidden)"
install_refused "extension.xed dependency '.hidden'" "$PK/dep.jar" \
	"its dependency '.hidden' is not a safe name: it starts with '.'"
mkpkg xxe.jar $X '<?xml version="1.0"?>\n<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<extension><id>&x;</id><version>1</version></extension>\n'
install_refused "extension.xed with an external entity" "$PK/xxe.jar" \
	"'extension.xed' has a document type declaration"
mkpkg pkgxml.jar package.xml '<package><infos><extensionId>../x</extensionId><version>1</version></infos></package>\n'
install_refused "package.xml extensionId '../x'" "$PK/pkgxml.jar" \
	"its id '../x' (from package.xml)"
mkpkg rhq.jar META-INF/rhq-plugin.xml "<plugin name='a/b' version='1'/>\\n"
install_refused "rhq-plugin.xml name 'a/b'" "$PK/rhq.jar" \
	"its id 'a/b' (from rhq-plugin.xml)"
mkpkg mf-tab.jar $M 'XWiki-Extension-Id: a\tb\nImplementation-Version: 1\n'
install_refused "MANIFEST.MF id with a tab" "$PK/mf-tab.jar" "(\\x09)"
mkpkg mf-bytes.jar $M 'XWiki-Extension-Id: caf\351\nImplementation-Version: 1\n'
install_refused "MANIFEST.MF id with a byte that is not UTF-8" \
	"$PK/mf-bytes.jar" "not ASCII (\\xe9)"
mkpkg mf-nul.jar $M 'XWiki-Extension-Id: a\0/../b\nImplementation-Version: 1\n'
install_refused "MANIFEST.MF id with a NUL" "$PK/mf-nul.jar" \
	"'MANIFEST.MF' holds a NUL byte"
mkpkg mf-bsn.jar $M 'Bundle-SymbolicName: ../x;singleton:=true\nBundle-Version: 1\n'
install_refused "MANIFEST.MF Bundle-SymbolicName '../x;...'" "$PK/mf-bsn.jar" \
	"its id '../x' (from MANIFEST.MF)"
mkpkg mf-ver.jar $M 'Bundle-SymbolicName: v\nBundle-Version: -1\n'
install_refused "MANIFEST.MF version '-1'" "$PK/mf-ver.jar" "it starts with '-'"

# Archives: GNU tar keeps '../' and absolute names with -P.
mkdir -p "$W/t/in/META-INF" "$W/t/in/lib" "$W/t/abs"
printf %b "$(xed t 1)" >"$W/t/in/META-INF/extension.xed"
echo x >"$W/t/escape"
(cd "$W/t/in" && tar -P -cf "$PK/up.tar" META-INF ../escape) || tap_bail "tar up.tar"
install_refused "a tar entry '../escape'" "$PK/up.tar" \
	"entry '../escape' leaves the package"
echo x >"$W/t/abs/x"
(cd "$W/t/in" && tar -P -cf "$PK/abs.tar" META-INF "$W/t/abs/x") || tap_bail "tar abs.tar"
install_refused "a tar entry with an absolute path" "$PK/abs.tar" \
	"has an absolute path"
ln -s ../../../../etc/passwd "$W/t/in/lib/pw"
(cd "$W/t/in" && tar -czf "$PK/link.tar.gz" META-INF lib) || tap_bail "tar link.tar.gz"
rm -f "$W/t/in/lib/pw"
install_refused "a symlink out" "$PK/link.tar.gz" \
	"links to '../../../../etc/passwd', outside the package"
mkfifo "$W/t/in/lib/pipe"
(cd "$W/t/in" && tar -cf "$PK/fifo.tar" META-INF lib) || tap_bail "tar fifo.tar"
rm -f "$W/t/in/lib/pipe"
install_refused "a fifo entry" "$PK/fifo.tar" "is a device, fifo or socket"
: >"$PK/empty.jar"
install_refused "an empty file" "$PK/empty.jar" "package 'empty.jar' is empty"
echo "just text" >"$PK/text.jar"
install_refused "a text file" "$PK/text.jar" "is not a package archive"
head -c $(($(stat -c %s "$PK/good.jar") - 40)) "$PK/good.jar" >"$PK/cut.jar"
install_refused "a cut zip" "$PK/cut.jar" "package 'cut.jar' is damaged"
cp "$PK/id-dotdot.jar" "$PK/"$'evil\nname.jar'
install_refused "a file name with a newline, in the message" \
	"$PK/"$'evil\nname.jar' "package 'evil\\x0aname.jar' refused"

tap_is "no blob was added" "$(find "$R/store/blobs" -type f | wc -l)" "$BLOBS"
tap_check "the store still works" a install --namespace=org.ex:ns~1 "$PK/good.jar"
