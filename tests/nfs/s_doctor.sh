#!/usr/bin/env bash
# tests/nfs/s_doctor.sh - 'cohort doctor' on each mount kind, and on an
# NFSv3 client without rpcbind and rpc.statd.
#
# 1. doctor --json through c1: the verdicts the mount kind calls
#    for.  v42, v41, v3: exit 0, "fstype" names nfs/nfs4 and the version,
#    "locks" and "ofd" ok.  v3nolock: exit 1, "locks" warns that fcntl
#    locks exclude only this client (nolock) and 'auto' uses the lease
#    alone, nothing fails.  v42ac: as v42 (the mount table shows only
#    acregmin=60,acdirmin=60: lookupcache=all and acregmax=60 are the
#    defaults, which /proc/mounts leaves out; cohort needs nothing else).
# 2. doctor --peer-check through c1 and c2 at once: a lock held through one
#    client excludes the other (ok) where the mount has locks; on
#    v3nolock the two clients both get the lock (fail), as NFS.md fact 7
#    says.
# 3. (v3 only) Client c4 has rpcbind but no rpc.statd; its NFSv3 mount
#    with locks is made without mount.nfs (which would start statd), and
#    then c4's rpcbind is stopped (lockd registered with it at the mount;
#    without rpcbind nor statd the kernel cannot monitor the server):
#    doctor
#    exits 1 and its "ofd" finding fails with "No locks available" and
#    names rpcbind, rpc.statd and 'lock_mode = lease'; 'cohort append'
#    there fails with "No locks available"; with 'lock_mode = lease' in
#    the node's cohort.conf, init and append through c4 work.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/nfs/lib.sh
. "$HERE/lib.sh"
lab_setup doctor
W=$T/work
mkdir -p "$(node_root a)"

# finding FILE CHECK: "LEVEL DETAIL" of that check in doctor --json output.
finding() {
	jq -r --arg c "$2" 'select(.check == $c) | "\(.level) \(.detail)"' <"$1" | head -n 1
}

# ---- 1. verdicts -------------------------------------------------------------

for n in a; do
	node_cohort "$n" doctor --json >"$W/doc.$n" 2>"$W/doc.err.$n"
	rc=$?
	fails=$(jq -r 'select(.level == "fail") | .check' <"$W/doc.$n" | tr '\n' ' ')
	fstype=$(finding "$W/doc.$n" fstype)
	locks=$(finding "$W/doc.$n" locks)
	ofd=$(finding "$W/doc.$n" ofd)
	ok=1
	why=()
	case "$LAB_KIND" in
	v42 | v42ac) [[ "$fstype" == "ok nfs4, version 4.2" ]] || ok=0 ;;
	v41) [[ "$fstype" == "ok nfs4, version 4.1" ]] || ok=0 ;;
	v3 | v3nolock) [[ "$fstype" == "ok nfs, version 3" ]] || ok=0 ;;
	esac
	[ $ok = 1 ] || why+=("fstype: '$fstype'")
	[ -z "$fails" ] || { ok=0; why+=("failed: $fails"); }
	case "$LAB_KIND" in
	v3nolock)
		[ "$rc" = 1 ] || { ok=0; why+=("exit $rc, want 1"); }
		[[ "$locks" == "warn "*nolock*"lease alone"* ]] || { ok=0; why+=("locks: '$locks'"); }
		;;
	*)
		[ "$rc" = 0 ] || { ok=0; why+=("exit $rc, want 0"); }
		[[ "$locks" == "ok "* ]] || { ok=0; why+=("locks: '$locks'"); }
		[[ "$ofd" == "ok "* ]] || { ok=0; why+=("ofd: '$ofd'"); }
		;;
	esac
	if [ $ok = 1 ]; then
		tap_ok "doctor through $n's client: the verdicts of $LAB_KIND (exit $rc)"
	else
		tap_fail "doctor through $n's client: the verdicts of $LAB_KIND" "${why[@]}" \
			"$(cat "$W/doc.$n" "$W/doc.err.$n")"
	fi
done

# ---- 2. peer check -------------------------------------------------------------

node_cohort a doctor --peer-check --json >"$W/peer.a" 2>&1 &
pa=$!
sleep 0.5
node_cohort b doctor --peer-check --json >"$W/peer.b" 2>&1 &
pb=$!
wait "$pa" "$pb"
pl=$(cat <(finding "$W/peer.a" peer) <(finding "$W/peer.b" peer) | awk '{ print $1 }' | sort | tr '\n' ' ')
if [ "$LAB_KIND" = v3nolock ]; then
	tap_is "peer check through c1 and c2: fcntl locks do not exclude across nolock clients" \
		"$(grep -c . <<<"$(grep fail <<<"$pl")")" 1
else
	tap_is "peer check through c1 and c2: a lock through one client excludes the other" \
		"$pl" "ok ok "
fi
[ "$pl" = "ok ok " ] || note "peer: $(finding "$W/peer.a" peer) / $(finding "$W/peer.b" peer)"

# ---- 3. ENOLCK -------------------------------------------------------------------

[ "$LAB_KIND" = v3 ] || exit 0
C4="${LAB_HOLDER[3]}"
mp=$LAB_MNT/c4
a4=${LAB_ADDR[3]}
out=$(nsenter -t "$C4" --net --uts --mount --root --wd \
	mount -i -t nfs -o "vers=3,proto=tcp,mountproto=tcp,addr=$a4,mountaddr=$a4" \
	"$a4:/srv/nfs" "$mp" 2>&1) ||
	tap_bail "mount NFSv3 with locks on c4 (rpcbind, no rpc.statd)" "$out" \
	"$(dmesg | tail -n 5)"
# Stop c4's rpcbind: the processes in c4's network namespace named rpcbind.
c4net=$(readlink "/proc/$C4/ns/net")
for p in /proc/[0-9]*; do
	[ "$(readlink "$p/ns/net" 2>/dev/null)" = "$c4net" ] &&
		[ "$(cat "$p/comm" 2>/dev/null)" = rpcbind ] && kill "${p#/proc/}"
done
umount_c4() { umount "$mp" 2>/dev/null || umount -l "$mp"; }
trap 'umount_c4; cluster_cleanup' EXIT
r4=$mp/$LAB_DIR/enolck
mkdir -p "$r4"
c4() { nsenter -t "$C4" --uts "$COHORT" --root "$r4" --node d --state "$T/state/d" "$@"; }
c4 doctor --json >"$W/doc.d" 2>&1
rc=$?
ofd=$(jq -r 'select(.check == "ofd") | "\(.level) \(.detail) fix: \(.fix)"' <"$W/doc.d")
if [ "$rc" = 1 ] && [[ "$ofd" == "fail "*"No locks available"* ]] &&
	[[ "$ofd" == *rpcbind* ]] && [[ "$ofd" == *rpc.statd* ]] &&
	[[ "$ofd" == *"lock_mode = lease"* ]]; then
	tap_ok "doctor on NFSv3 without rpcbind and rpc.statd: fails, names rpcbind, rpc.statd and lock_mode = lease"
else
	tap_fail "doctor on NFSv3 without rpcbind and rpc.statd: fails, names rpcbind, rpc.statd and lock_mode = lease" \
		"exit $rc" "$(cat "$W/doc.d")" "$(dmesg | grep -iE 'lockd|statd|nsm' | tail -n 5)"
fi
c4 init >/dev/null 2>&1
out=$(c4 append "no locks" 2>&1)
rc=$?
if [ "$rc" = 1 ] && [[ "$out" == "cohort: "*"No locks available"* ]]; then
	tap_ok "append on NFSv3 without rpcbind and rpc.statd fails: ${out:0:100}"
else
	tap_fail "append on NFSv3 without rpcbind and rpc.statd fails with 'No locks available'" "exit $rc" "$out"
fi
mkdir -p "$T/state/d"
printf '[cluster]\nlock_mode = lease\n' >"$T/state/d/cohort.conf"
out=$(c4 init 2>&1 && c4 append "through c4" 2>&1)
tap_rc "with lock_mode = lease, init and append through c4 work" "$?" 0 "$out"
