#!/usr/bin/env bash
# tests/cluster/perms.sh - modes and group of what cohort creates, planted
# symlinks, and what hooks can see, on bindfs views.
#
# 1. Root "conf" with [cluster] file_mode = 0660, dir_mode = 2770, group =
#    GROUP (daemon when run as root: a group the creating process is not in)
#    and umask 000: a whole workload through the CLI (init, join of a and b
#    on two views, append, sync, install of two packages, uninstall,
#    materialize, snapshot put, janitor, fsck --repair, run-once, a short
#    'cohort node') leaves every file on the root and in both state folders
#    (and the folder above them that cohort made) with mode 0660 and group
#    GROUP, and every folder with 2770 and GROUP.  The one exception is
#    the root folder itself and ROOT/cohort.conf: the operator's, made by
#    the test with the same mode and group.  Materialized packages (in the
#    application's folder, not on the root) are 0644 whatever the umask.
# 2. Root "defaults": the same workload without a [cluster] section, under
#    umask 077 (which must not narrow the modes either): files 0640,
#    folders 0750, the process's own group; materialized packages 0644.
# 3. A group that does not exist: init and join exit 1 naming
#    'cluster.group'; nothing is created.  A group the user may not give
#    (as root: group daemon, init run as user nobody through the shared
#    folder on a root nobody owns; otherwise a group this user is not in):
#    init exits 1 saying it cannot give the group ([cluster] group), and
#    leaves no cohort.id and no file with another group.
# 4. Symlinks to a victim file outside the root, planted in place of: a
#    node's revision, node and instance files, its heartbeat, a lock file
#    and a lease, the journal head, the store index, a blob, jobs/NAME,
#    snapshots/app, the state folder's mode and flock files, a
#    materialized package and the materialize manifest in the target
#    folder, and the next seconds' lost+found/<time>/MANIFEST of fsck
#    --repair.  The commands that read or write them (sync, join, status,
#    append, log, list, install, cat, materialize, run-once, snapshot
#    put/get, fsck --repair) never change the victim nor print its bytes:
#    each either fails with one 'cohort: ' line, or replaces the link
#    itself with a regular file (rename over it), or (status, and append
#    for the want file it writes only while waiting) reads the link as
#    absent.  A store shard folder (store/blobs/ee) replaced by a link to
#    a folder outside holding a blob-like file: the janitor's cleanup of
#    unreferenced blobs leaves that file alone.
#    Temp file names carry 48 random bits (not predictable); that they are
#    created O_EXCL|O_NOFOLLOW is asserted by test_os.
#    Folders in the middle of a path replaced by a link to a victim folder
#    outside the root holding a copy of the same files: nodes/b (join,
#    sync, node), store/blobs/XX of a stored blob (cat, install of the
#    same content, materialize, janitor, fsck --repair), journal (append,
#    sync, log, janitor, fsck --repair), locks (append, install) and the
#    state folder's locks (append).  No file in the victim folder changes
#    and no file appears there; each command fails with one 'cohort: '
#    line (the janitor, which skips a shard it cannot list, may also
#    succeed; fsck --repair reports the link on a LEFT line, exit 4 or 8).
# 5. Hooks: a payload holding a secret, appended through standard input,
#    reaches 'sync --exec', 'watch --exec' and 'node --exec' hooks on
#    their standard input, and appears in no command line and no
#    environment of the hook's process or of any ancestor up to cohort.
#
# BUILD=build bash tests/cluster/perms.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/lib.sh
. "$HERE/lib.sh"

need_prog "$COHORT" "the cohort tool"
command -v zip >/dev/null 2>&1 ||
	tap_bail "zip is installed (the test builds its packages with it)"
cluster_setup 2
tool_copy
node_bind a 1
node_bind b 2

export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=86"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}exitcode=86"

W=$T/work
PK=$W/pkgs
mkdir -p "$PK"

# The group for section 1: one the creating process is not in, so that
# nothing can pass by inheriting it (root may give any group).
if [ "$(id -u)" = 0 ]; then
	GROUP=daemon
	getent group daemon >/dev/null || tap_bail "group 'daemon' exists"
else
	GROUP=""
	for g in $(id -G); do
		[ "$g" != "$(id -g)" ] && GROUP=$g && break
	done
	GROUP=${GROUP:-$(id -g)}
fi
GID=$(getent group "$GROUP" | cut -d: -f3)
GID=${GID:-$GROUP}

# mkjar FILE ID VERSION: a small XWiki extension jar in $PK.
mkjar() {
	local file=$1 id=$2 ver=$3 d
	d=$W/src/$file
	rm -rf "$d"
	mkdir -p "$d/META-INF" "$d/lib"
	printf '<?xml version="1.0" encoding="UTF-8"?>\n<extension><id>%s</id><version>%s</version><dependencies></dependencies></extension>\n' \
		"$id" "$ver" >"$d/META-INF/extension.xed"
	printf 'Manifest-Version: 1.0\nCreated-By: perms.sh\n' >"$d/META-INF/MANIFEST.MF"
	{
		echo "$file $id $ver"
		head -c 2000 /dev/urandom
	} >"$d/lib/payload.bin"
	(cd "$d" && zip -qrX "$PK/$file" META-INF lib) || tap_bail "zip '$file'"
}
mkjar one-1.jar org.example:one 1.0
mkjar two-1.jar org.example:two 1.0

# stop_bg PID: SIGTERM to a bg_start job and its children (the cohort
# process under a shell function's subshell); wait for all of them: the
# subshell dies at once, the node only once it has stopped (its committer
# removes STATE/committer.sock then: checked too early, it was still
# there, one run in two).
stop_bg() {
	local procs
	procs=$(proc_descendants "$1")
	kill_tree "$1" TERM
	wait "$1" 2>/dev/null
	# shellcheck disable=SC2086
	wait_for 10 none_alive $procs ||
		tap_fail "the node stops within 10 s of SIGTERM" "$(ps -o pid,args -p "${procs//$'\n'/,}")"
}

# one_line_msg TEXT: TEXT is one line starting "cohort: ".
one_line_msg() {
	[ "$(printf '%s\n' "$1" | wc -l)" = 1 ] && [[ "$1" == "cohort: "* ]]
}

# workload: everything a cluster does, through the CLI, as a and b.
workload() {
	local out
	{
		node_cohort a init &&
			node_cohort a join &&
			node_cohort b join &&
			printf 'one\ntwo\nthree\n' | node_cohort a append --lines &&
			echo four | node_cohort b append - &&
			node_cohort b sync &&
			node_cohort a install "$PK/one-1.jar" &&
			node_cohort b install --namespace ns1 "$PK/two-1.jar" &&
			node_cohort a uninstall org.example:one &&
			node_cohort a install "$PK/one-1.jar" &&
			node_cohort b materialize "$W/mat-$ROOT_NAME" &&
			node_cohort a sync &&
			node_cohort a snapshot put - <<<"state of a" &&
			node_cohort b sync --exec 'cat >/dev/null' &&
			node_cohort a janitor &&
			node_cohort b run-once tick --every 1h -- true &&
			node_cohort a fsck --repair --grace 0s &&
			node_cohort a leave && node_cohort a join
	} >"$W/workload-$ROOT_NAME.out" 2>&1 || {
		out=$(tail -n 5 "$W/workload-$ROOT_NAME.out")
		tap_fail "the workload on root '$ROOT_NAME' runs" "$out"
		return 1
	}
	# A running node: heartbeat, mode file, hooks, materialize.
	bg_start node_cohort b node --exec 'cat >/dev/null' \
		--materialize "$W/node-$ROOT_NAME" 2>"$W/node-$ROOT_NAME.err"
	local np=$BG_PID
	wait_for 10 test -f "$(node_state b)/mode"
	echo five | node_cohort a append - >/dev/null
	wait_for 10 test -f "$W/node-$ROOT_NAME/org.example:two-1.0.jar"
	sleep 0.5
	stop_bg "$np"
	tap_ok "the workload on root '$ROOT_NAME' runs (init, join, append, sync, install, uninstall, materialize, snapshot, janitor, run-once, fsck --repair, node)"
}

# bad_entries FMODE DMODE GID PATH...: every file and folder under PATH
# (PATH included) whose mode or group is not FMODE/DMODE and GID, and
# anything that is neither a file nor a folder.
bad_entries() {
	local fm=$1 dm=$2 gid=$3
	shift 3
	find "$@" -printf '%y %m %G %p\n' 2>&1 | awk -v fm="$fm" -v dm="$dm" \
		-v gid="$gid" '
		$1 == "f" && ($2 != fm || $3 != gid) { print; next }
		$1 == "d" && ($2 != dm || $3 != gid) { print; next }
		$1 != "f" && $1 != "d" { print }'
}

# check_root NAME FMODE DMODE GID
check_root() {
	local name=$1 fm=$2 dm=$3 gid=$4 bad n
	n=$(find "$SHARED/$name" | wc -l)
	bad=$(bad_entries "$fm" "$dm" "$gid" "$SHARED/$name")
	if [ -z "$bad" ]; then
		tap_ok "root '$name': all $n files $fm and folders $dm, group $gid"
	else
		tap_fail "root '$name': all files $fm and folders $dm, group $gid" "$bad"
	fi
	bad=$(bad_entries "$fm" "$dm" "$gid" "$T/state/$name")
	n=$(find "$T/state/$name" | wc -l)
	if [ -z "$bad" ]; then
		tap_ok "state folders of '$name': all $n files $fm and folders $dm, group $gid"
	else
		tap_fail "state folders of '$name': all files $fm and folders $dm, group $gid" "$bad"
	fi
	# Every kind of file was made: the walk saw what it should.
	bad=""
	for f in cohort.id journal/head journal/seg-0000000000000001 \
		nodes/a/revision nodes/b/heartbeat nodes/a/instance store/index \
		snapshots/app jobs/tick locks/journal.lock; do
		[ -f "$SHARED/$name/$f" ] || bad="$bad $f"
	done
	[ -n "$(find "$SHARED/$name/store/blobs" -type f)" ] || bad="$bad store/blobs/*"
	[ -d "$SHARED/$name/lost+found" ] || bad="$bad lost+found"
	[ -f "$T/state/$name/b/mode" ] || bad="$bad STATE/b/mode"
	[ -f "$T/state/$name/a/locks/journal.flock" ] || bad="$bad STATE/a/locks/journal.flock"
	tap_is "root '$name': the workload made every kind of file checked" "${bad:-none missing}" "none missing"
}

# make_root NAME MODE GROUP CONF: the operator's root folder and cohort.conf
# (with umask 022: they are the operator's, not cohort's).
make_root() {
	(
		umask 022
		use_root "$1"
		mkdir -p "$ROOT_SHARED" && chmod "$2" "$ROOT_SHARED" &&
			chgrp "$3" "$ROOT_SHARED" || exit 1
		if [ -n "$4" ]; then
			write_conf "$4" && chmod "${5:-0640}" "$ROOT_SHARED/cohort.conf" &&
				chgrp "$3" "$ROOT_SHARED/cohort.conf"
		fi
	) || tap_bail "make root '$1'"
}

# A stale temp file and a leftover break file for fsck --repair to move
# into lost+found (so that it makes lost+found with something in it).
plant_leftovers() {
	: >"$ROOT_SHARED/journal/.head.tmp.zz.1.000000000000"
	printf 'x' >"$ROOT_SHARED/journal/.head.tmp.zz.1.000000000000"
	touch -d '2 hours ago' "$ROOT_SHARED/journal/.head.tmp.zz.1.000000000000"
	chmod "$1" "$ROOT_SHARED/journal/.head.tmp.zz.1.000000000000"
	chgrp "$2" "$ROOT_SHARED/journal/.head.tmp.zz.1.000000000000"
}

# ---- 1. configured modes and group, umask 000 --------------------------------

make_root conf 2770 "$GROUP" \
	"[cluster]\nfile_mode = 0660\ndir_mode = 2770\ngroup = $GROUP\nlock_timeout = 10s\n" 0660
use_root conf
umask 000
if workload; then
	node_cohort a fsck --repair --grace 0s >/dev/null 2>&1
	plant_leftovers 0660 "$GROUP"
	node_cohort a fsck --repair --grace 0s >"$W/fsck-conf.out" 2>&1
	check_root conf 660 2770 "$GID"
	bad=$(find "$W/mat-conf" "$W/node-conf" -type f ! -perm 0644 -printf '%m %p\n')
	tap_is "materialized packages are 0644 under umask 000" "${bad:-all 0644}" "all 0644"
fi

# ---- 2. the defaults, umask 077 ----------------------------------------------

make_root defaults 0750 "$(id -g)" ""
use_root defaults
umask 077
if workload; then
	plant_leftovers 0640 "$(id -g)"
	node_cohort a fsck --repair --grace 0s >"$W/fsck-defaults.out" 2>&1
	check_root defaults 640 750 "$(id -g)"
	bad=$(find "$W/mat-defaults" "$W/node-defaults" -type f ! -perm 0644 -printf '%m %p\n')
	tap_is "materialized packages are 0644 under umask 077" "${bad:-all 0644}" "all 0644"
fi
umask 022

# ---- 3. a group that does not exist, a group that may not be given -----------

make_root nogroup 0750 "$(id -g)" "[cluster]\ngroup = no-such-group-q7x\n"
use_root nogroup
out=$(node_cohort a init 2>&1)
rc=$?
if [ $rc = 1 ] && one_line_msg "$out" && [[ "$out" == *cluster.group* ]] &&
	[[ "$out" == *no-such-group-q7x* ]] && [ ! -e "$ROOT_SHARED/cohort.id" ]; then
	tap_ok "init with an unknown group exits 1 naming cluster.group; no cohort.id"
else
	tap_fail "init with an unknown group exits 1 naming cluster.group; no cohort.id" \
		"exit $rc" "$out"
fi
printf '[cluster]\ngroup = no-such-group-q7x\n' >"$W/bad-state.conf"
use_root defaults
mkdir -p "$(node_state c)" && cp "$W/bad-state.conf" "$(node_state c)/cohort.conf"
out=$(node_cohort c join 2>&1)
rc=$?
if [ $rc = 1 ] && one_line_msg "$out" && [[ "$out" == *cluster.group* ]] &&
	[ ! -e "$SHARED/defaults/nodes/c" ]; then
	tap_ok "join with an unknown group in STATE/cohort.conf exits 1 naming cluster.group"
else
	tap_fail "join with an unknown group in STATE/cohort.conf exits 1 naming cluster.group" \
		"exit $rc" "$out"
fi

# A group this user may not give.
if [ "$(id -u)" = 0 ]; then
	command -v setpriv >/dev/null 2>&1 || tap_bail "setpriv is installed"
	AS_USER=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	NOTMINE=daemon
	OWNER=nobody:nogroup
else
	AS_USER=()
	NOTMINE=""
	for g in 1 2 3 4 5 6 7 8 9 10 100 65534; do
		id -G | tr ' ' '\n' | grep -qx "$g" || { NOTMINE=$g; break; }
	done
	OWNER=$(id -u):$(id -g)
fi
mkdir -p "$SHARED/eperm" && chmod 0755 "$SHARED/eperm" &&
	printf '[cluster]\ngroup = %s\n' "$NOTMINE" >"$SHARED/eperm/cohort.conf" &&
	chown -R "$OWNER" "$SHARED/eperm" || tap_bail "make root 'eperm'"
# (through the shared folder: a FUSE view mounted by root refuses other
# users outright; $T and shared/ let them pass for this one command)
chmod 0711 "$T" "$SHARED" "$T/bin"
out=$(cd / && "${AS_USER[@]}" "$COHORT" --root "$SHARED/eperm" init 2>&1)
rc=$?
chmod 0700 "$T" "$SHARED" "$T/bin"
wrong=$(find "$SHARED/eperm" -mindepth 1 ! -name cohort.conf ! -group "$NOTMINE" -printf '%p\n')
if [ $rc = 1 ] && one_line_msg "$out" && [[ "$out" == *"the group"* ]] &&
	[[ "$out" == *"[cluster] group"* ]] && [ -z "$wrong" ] &&
	[ ! -e "$SHARED/eperm/cohort.id" ]; then
	tap_ok "init by a user who may not give group $NOTMINE exits 1 saying so; nothing left with another group"
else
	tap_fail "init by a user who may not give group $NOTMINE exits 1 saying so; nothing left with another group" \
		"exit $rc" "$out" "left: $wrong"
fi

# ---- 4. planted symlinks -----------------------------------------------------

make_root sym 0750 "$(id -g)" "[cluster]\nlock_timeout = 3s\n[janitor]\nblob_grace = 0s\n"
use_root sym
R=$ROOT_SHARED
VICTIM=$W/victim
printf 'the victim: never to change\n' >"$VICTIM"
chmod 0600 "$VICTIM"
cp -p "$VICTIM" "$W/victim.orig"
victim_sig() { stat -c '%s %Y %a %i' "$VICTIM"; md5sum <"$VICTIM"; }
VSIG=$(victim_sig)
{
	node_cohort a init && node_cohort a join && node_cohort b join &&
		echo one | node_cohort a append - &&
		node_cohort a install "$PK/one-1.jar" &&
		node_cohort a materialize "$W/mat-sym" &&
		node_cohort a snapshot put - <<<"snap" &&
		node_cohort a run-once tick -- true
} >"$W/sym-setup.out" 2>&1 || tap_bail "symlink root set up" "$(tail -n 5 "$W/sym-setup.out")"

# plant PATH: move PATH aside (if there) and put a symlink to the victim.
plant() {
	if [ -e "$1" ] || [ -L "$1" ]; then
		mv "$1" "$1.aside.perms"
	fi
	ln -s "$VICTIM" "$1"
}
# unplant PATH: back to what was there (whatever the command left goes).
unplant() {
	rm -f "$1"
	[ -e "$1.aside.perms" ] && mv "$1.aside.perms" "$1"
	return 0
}

# symcase DESC PATH CMD...: plant a link at PATH, run CMD (a cohort
# command).  The victim is unchanged and its bytes are not in CMD's
# output; and CMD either failed with one 'cohort: ' line, or left a
# regular file at PATH (a rename over the link), or - only with
# SYM_READ=1, for commands that merely read PATH - succeeded treating the
# link as absent (it opens O_NOFOLLOW).
SYM_READ=0
symcase() {
	local desc=$1 path=$2 out rc after last
	shift 2
	plant "$path"
	out=$("$@" 2>&1 </dev/null)
	rc=$?
	if [ -L "$path" ]; then
		after="link"
	elif [ -f "$path" ]; then
		after="file"
	else
		after="none"
	fi
	last=$(printf '%s\n' "$out" | tail -n 1)
	if [ "$(victim_sig)" != "$VSIG" ] || ! cmp -s "$VICTIM" "$W/victim.orig"; then
		tap_fail "$desc: the victim is unchanged" "exit $rc, $after at the name" "$out"
	elif grep -qF "never to change" <<<"$out"; then
		tap_fail "$desc: the victim's bytes are not shown" "$out"
	elif [ $rc = 0 ] && [ "$after" = file ]; then
		tap_ok "$desc: the victim is unchanged (the link was replaced by a file)"
	elif [ $rc = 0 ] && [ "$SYM_READ" = 1 ]; then
		tap_ok "$desc: the victim is unchanged (read as absent)"
	elif [ $rc != 0 ] && [ $rc != 86 ] && one_line_msg "$last"; then
		tap_ok "$desc: the victim is unchanged (refused: ${last#cohort: })"
	else
		tap_fail "$desc: the victim is unchanged and the command fails clearly or replaces the link" \
			"exit $rc, $after at the name" "$out"
	fi
	unplant "$path"
}

echo two | node_cohort a append - >/dev/null
symcase "nodes/b/revision, sync" "$R/nodes/b/revision" node_cohort b sync
symcase "nodes/b/revision, join" "$R/nodes/b/revision" node_cohort b join
symcase "nodes/b/node, join" "$R/nodes/b/node" node_cohort b join
symcase "nodes/b/instance, join" "$R/nodes/b/instance" node_cohort b join
symcase "nodes/b/heartbeat, join" "$R/nodes/b/heartbeat" node_cohort b join
SYM_READ=1 symcase "nodes/b/heartbeat, status" "$R/nodes/b/heartbeat" node_cohort a status
symcase "locks/journal.lock, append" "$R/locks/journal.lock" node_cohort b append x
symcase "locks/journal.lease, append" "$R/locks/journal.lease" node_cohort b append x
# (the want file is only written while waiting: here no write is tried)
SYM_READ=1 symcase "locks/journal.want, append" "$R/locks/journal.want" node_cohort b append x
symcase "journal/head, append" "$R/journal/head" node_cohort b append x
symcase "journal/head, log" "$R/journal/head" node_cohort b log
symcase "journal/head, fsck --repair" "$R/journal/head" node_cohort a fsck --repair
symcase "store/index, list" "$R/store/index" node_cohort b list
symcase "store/index, install" "$R/store/index" node_cohort b install "$PK/two-1.jar"
HASH=$(node_cohort a list --json | sed -n 's/.*"id":"org.example:one".*"hash":"\([0-9a-f]*\)".*/\1/p')
[ -n "$HASH" ] || HASH=$(node_cohort a list --json | grep -o '"hash": *"[0-9a-f]*"' | head -n 1 | grep -o '[0-9a-f]\{32\}')
BLOB=$R/store/blobs/${HASH:0:2}/${HASH:2:2}/$HASH
[ -f "$BLOB" ] || tap_fail "the blob of org.example:one is at '$BLOB'"
symcase "a blob, cat" "$BLOB" node_cohort b cat org.example:one
symcase "a blob, materialize" "$BLOB" node_cohort b materialize "$W/mat-sym-b"
symcase "a blob, install of the same content" "$BLOB" node_cohort b install "$PK/one-1.jar"
symcase "jobs/tick, run-once" "$R/jobs/tick" node_cohort b run-once tick -- true
symcase "snapshots/app, snapshot put" "$R/snapshots/app" node_cohort b snapshot put - 
symcase "snapshots/app, snapshot get" "$R/snapshots/app" node_cohort b snapshot get
symcase "STATE/b/mode, append" "$(node_state b)/mode" node_cohort b append x
symcase "STATE/b/node.lock, join" "$(node_state b)/node.lock" node_cohort b join
symcase "STATE/b/locks/journal.flock, append" "$(node_state b)/locks/journal.flock" node_cohort b append x
rm -f "$W/mat-sym/org.example:one-1.0.jar"
symcase "a materialized package, materialize" "$W/mat-sym/org.example:one-1.0.jar" node_cohort a materialize "$W/mat-sym"
symcase "the materialize manifest, materialize" "$W/mat-sym/.cohort-materialized" node_cohort a materialize "$W/mat-sym"

# A shard folder of the store replaced by a link to a folder outside the
# root holding a blob-like tree: the janitor's cleanup of unreferenced
# blobs does not go through the link.
mkdir -p "$W/vdir/cd"
VB=$W/vdir/cd/eecd0000000000000000000000000000
cp "$VICTIM" "$VB"
touch -d '2 days ago' "$VB"
ln -s "$W/vdir" "$R/store/blobs/ee"
out=$(node_cohort a janitor 2>&1)
rc=$?
if [ -f "$VB" ] && cmp -s "$VB" "$W/victim.orig"; then
	tap_ok "store/blobs/ee a link to a folder outside: the janitor removes nothing there (exit $rc)"
else
	tap_fail "store/blobs/ee a link to a folder outside: the janitor removes nothing there" \
		"exit $rc" "$out"
fi
rm -f "$R/store/blobs/ee"

# dir_sig DIR: names, sizes, modes, inodes, times and bytes of all in DIR.
dir_sig() {
	(cd "$1" && find . -printf '%y %p %s %m %i %T@\n' | sort &&
		find . -type f -exec md5sum {} + | sort)
}
# dircase DESC DIR CMD...: DIR (a folder of the root or the state folder)
# replaced by a link to a victim folder outside holding a copy of its
# files; CMD leaves the victim folder as it was and fails with one
# 'cohort: ' line (with DIR_MAYPASS=1 it may also succeed: it skipped the
# folder; with DIR_FSCK=1, fsck's report may instead name the link on a
# LEFT line, exit 4 or 8).  DIR is put back after.
DIR_MAYPASS=0
DIR_FSCK=0
DIRCASE_N=0
dircase() {
	local desc=$1 d=$2 vd sig out rc last
	shift 2
	DIRCASE_N=$((DIRCASE_N + 1))
	vd=$W/vdir-$DIRCASE_N
	mkdir -p "$vd" && cp -a "$d/." "$vd/" || tap_bail "copy '$d' to '$vd'"
	sig=$(dir_sig "$vd")
	mv "$d" "$d.aside.perms" && ln -s "$vd" "$d" || tap_bail "plant '$d'"
	out=$("$@" 2>&1 </dev/null)
	rc=$?
	last=$(printf '%s\n' "$out" | tail -n 1)
	rm -f "$d" && mv "$d.aside.perms" "$d" || tap_bail "unplant '$d'"
	if [ "$(dir_sig "$vd")" != "$sig" ]; then
		tap_fail "$desc: the victim folder is unchanged" "exit $rc" "$out" \
			"$(diff <(echo "$sig") <(dir_sig "$vd"))"
	elif [ $rc != 0 ] && [ $rc != 86 ] && [ $rc != 124 ] &&
		one_line_msg "$out"; then
		tap_ok "$desc: the victim folder is unchanged (refused: ${last#cohort: })"
	elif [ $rc = 0 ] && [ "$DIR_MAYPASS" = 1 ]; then
		tap_ok "$desc: the victim folder is unchanged (skipped)"
	elif [ "$DIR_FSCK" = 1 ] && { [ $rc = 4 ] || [ $rc = 8 ]; } &&
		grep -qE '^LEFT .*(Too many levels of symbolic links|is not a folder)' <<<"$out"; then
		tap_ok "$desc: the victim folder is unchanged (reported, exit $rc: $(grep -m1 '^LEFT' <<<"$out" | tr -s ' '))"
	else
		tap_fail "$desc: the victim folder is unchanged and the command fails with one 'cohort: ' line" \
			"exit $rc" "$out"
	fi
	rm -rf "$vd"
}

echo three | node_cohort a append - >/dev/null
dircase "nodes/b a link to a folder, join" "$R/nodes/b" node_cohort b join
dircase "nodes/b a link to a folder, sync" "$R/nodes/b" node_cohort b sync
dircase "nodes/b a link to a folder, node (heartbeat)" "$R/nodes/b" \
	timeout 20 "$COHORT" --root "$(node_root b)" --node b \
	--state "$(node_state b)" node
SHARD=$R/store/blobs/${HASH:0:2}
dircase "store/blobs/${HASH:0:2} a link to a folder, cat" "$SHARD" node_cohort b cat org.example:one
dircase "store/blobs/${HASH:0:2} a link to a folder, install of the same content" "$SHARD" \
	node_cohort b install "$PK/one-1.jar"
dircase "store/blobs/${HASH:0:2} a link to a folder, materialize" "$SHARD" \
	node_cohort b materialize "$W/mat-sym-dir"
DIR_MAYPASS=1 dircase "store/blobs/${HASH:0:2} a link to a folder, janitor" "$SHARD" node_cohort a janitor
DIR_FSCK=1 dircase "store/blobs/${HASH:0:2} a link to a folder, fsck --repair" "$SHARD" node_cohort a fsck --repair
dircase "journal a link to a folder, append" "$R/journal" node_cohort b append x
dircase "journal a link to a folder, sync" "$R/journal" node_cohort b sync
dircase "journal a link to a folder, log" "$R/journal" node_cohort b log
dircase "journal a link to a folder, janitor" "$R/journal" node_cohort a janitor
DIR_FSCK=1 dircase "journal a link to a folder, fsck --repair" "$R/journal" node_cohort a fsck --repair
dircase "locks a link to a folder, append" "$R/locks" node_cohort b append x
dircase "locks a link to a folder, install" "$R/locks" node_cohort b install "$PK/two-1.jar"
dircase "STATE/b/locks a link to a folder, append" "$(node_state b)/locks" node_cohort b append x
tap_is "after the planted folders, the symlink root is clean for fsck" \
	"$(node_cohort a fsck >/dev/null 2>&1; echo $?)" 0

# fsck --repair's lost+found/<UTC second>/MANIFEST is predictable: plant
# it for the next seconds, with something to repair.
: >"$R/journal/.head.tmp.zz.1.000000000000"
touch -d '2 hours ago' "$R/journal/.head.tmp.zz.1.000000000000"
mkdir -p "$R/lost+found"
now=$(date -u +%s)
for s in 0 1 2 3 4 5 6; do
	d=$R/lost+found/$(date -u -d "@$((now + s))" +%Y%m%dT%H%M%SZ)
	mkdir -p "$d" && ln -s "$VICTIM" "$d/MANIFEST"
done
out=$(node_cohort a fsck --repair --grace 1s 2>&1)
rc=$?
if [ "$(victim_sig)" = "$VSIG" ] && cmp -s "$VICTIM" "$W/victim.orig" &&
	[ ! -e "$R/journal/.head.tmp.zz.1.000000000000" ] && [ "$rc" = 1 ]; then
	tap_ok "planted lost+found/<time>/MANIFEST links: fsck --repair repairs elsewhere, the victim is unchanged"
else
	tap_fail "planted lost+found/<time>/MANIFEST links: fsck --repair repairs elsewhere, the victim is unchanged" \
		"exit $rc" "$out"
fi
tap_is "the symlink root is still clean for fsck" \
	"$(node_cohort a fsck >/dev/null 2>&1; echo $?)" 0

# ---- 5. hooks see the payload on stdin only ----------------------------------

make_root hooks 0750 "$(id -g)" ""
use_root hooks
{ node_cohort a init && node_cohort a join; } >/dev/null 2>&1 ||
	tap_fail "init and join the hooks root"
SECRET="s3cr3t-$$-$RANDOM-payload"
cat >"$W/hook.sh" <<'EOF'
#!/bin/sh
# hook.sh OUT: stdin to OUT.stdin; the command line and environment of
# this process and of each ancestor up to cohort to OUT.args, OUT.env.
out=$1
cat >"$out.stdin.part"
p=$$
while [ "$p" -gt 1 ]; do
	tr '\0' '\n' <"/proc/$p/cmdline" >>"$out.args"
	tr '\0' '\n' <"/proc/$p/environ" >>"$out.env"
	if [ "$(cat "/proc/$p/comm")" = cohort ]; then
		echo "$p" >"$out.reached"
		break
	fi
	p=$(sed 's/.*) //' "/proc/$p/stat" | cut -d' ' -f2)
done
mv "$out.stdin.part" "$out.stdin"
EOF
chmod 0755 "$W/hook.sh"

# Three hook nodes start at the head: the secret is the one record after.
for n in s w k; do
	node_cohort "$n" join --from-head >/dev/null ||
		tap_fail "join $n --from-head"
done
printf '%s' "$SECRET" | node_cohort a append --type secret - >/dev/null ||
	tap_fail "append the secret payload (standard input)"

# hook_checks NAME: the hook run of NAME saw the secret on stdin only.
hook_checks() {
	local h=$W/hook-$1
	if [ ! -f "$h.stdin" ]; then
		tap_fail "$1 --exec: the hook ran"
		return
	fi
	tap_check "$1 --exec: the hook got the payload on standard input" \
		grep -qF "$SECRET" "$h.stdin"
	tap_check "$1 --exec: the hook's ancestors up to cohort were walked" \
		test -s "$h.reached"
	if grep -qF "$SECRET" "$h.args" "$h.env"; then
		tap_fail "$1 --exec: the payload is on no command line and in no environment" \
			"$(grep -F "$SECRET" "$h.args" "$h.env")"
	else
		tap_ok "$1 --exec: the payload is on no command line and in no environment ($(wc -l <"$h.args") argument and $(wc -l <"$h.env") environment strings looked at)"
	fi
}

node_cohort s sync --exec "$W/hook.sh $W/hook-sync" >/dev/null 2>"$W/hook-sync.err"
hook_checks sync

bg_start node_cohort w watch --exec "$W/hook.sh $W/hook-watch" 2>"$W/hook-watch.err"
wpid=$BG_PID
wait_for 10 test -f "$W/hook-watch.stdin"
stop_bg "$wpid"
hook_checks watch

bg_start node_cohort k node --exec "$W/hook.sh $W/hook-node" 2>"$W/hook-node.err"
kpid=$BG_PID
wait_for 10 test -f "$W/hook-node.stdin"
stop_bg "$kpid"
hook_checks node
