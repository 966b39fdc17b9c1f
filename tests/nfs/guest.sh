#!/usr/bin/env bash
# tests/nfs/guest.sh - inside the lab's VM (chroot of the host's root under
# an overlay; see tests/nfs/init): the NFS server, three NFS clients, and
# every scenario on every mount kind.  TAP goes to /lab-results/tap.
#
#   guest.sh           set up, then run the matrix
#   guest.sh --shell   set up, mount kind v42 on lane 1, then a shell
#   (LAB_MODE=bench)   tests/nfs/bench.sh on each of LAB_KINDS (default
#                      v42 and v3nolock), one lane: make bench's NFS part
#
# Server: the kernel nfsd in the VM's first network namespace, exporting
# /srv/nfs (ext4 on the virtio disk /dev/vda, formatted at each boot) to
# 10.99.0.0/16, lease and grace times 10 s (the kernel's minimum), NLM grace
# 10 s; rpcbind, rpc.statd and rpc.mountd beside it.
# Clients: two lanes of four clients each, so that two scenarios run at
# once (a scenario spends most of its time waiting for RPC round trips;
# one lane keeps about one of the VM's two CPUs busy).  Lane L's clients
# c1..c4 are network namespaces numbered 4(L-1)+1..4(L-1)+4 (in lane 1,
# 1..4; in lane 2, 5..8), each joined to the server by a veth pair (server
# 10.99.N.1, client 10.99.N.2) and with its own UTS namespace (host name
# labcN: its own NFSv4 client id and NLM caller name).  c4 has rpcbind but
# no rpc.statd (s_doctor.sh stops its rpcbind).  A holder process per
# client keeps the namespaces and, in a private mount namespace with its
# own /run and /var/lib/nfs, the client's rpcbind and rpc.statd (NFSv3
# locks need both, NFS.md fact 14).  Mounts are made inside the holder's
# mount namespace and propagate to the VM's, so lane L's client K is
# /mnt/lL/cK.  The scenarios of every kind form one queue (by kind, then
# name); each lane takes the next one, mounting its kind on c1..c3 when it
# changes.
#
# Mount kinds (LAB_KINDS selects some): v42 (NFSv4.2, defaults), v41
# (NFSv4.1), v3 (NFSv3, NLM locks), v3nolock (NFSv3 'nolock': the lease
# alone), v42ac (NFSv4.2 with actimeo=60,lookupcache=all).
set -u
cd "$(dirname "$0")/../.."
TOP=$PWD
. /lab-results/env
export BUILD=$LAB_BUILD
TAP=/lab-results/tap
LOG=/lab-results/guest.log
export LAB_RESULTS=/lab-results
EXPORT=/srv/nfs
SERVER_NET=10.99
ALL_KINDS="v42 v41 v3 v3nolock v42ac"
LANES=${LAB_LANES:-2}
[ "$LAB_MODE" = bench ] && LANES=1
# A scenario that takes longer is killed (and reported).
SCENARIO_TIMEOUT=${LAB_SCENARIO_TIMEOUT:-240}
declare -A KIND_OPTS=(
	[v42]="vers=4.2"
	[v41]="vers=4.1"
	[v3]="vers=3"
	[v3nolock]="vers=3,nolock"
	[v42ac]="vers=4.2,actimeo=60,lookupcache=all"
)
declare -A HOLDER=()
# Per lane: the mount kind on its c1..c3 now.
declare -A LANE_KIND=()

N=0
tap_line() { echo "$*" >>"$TAP"; }
# (Two lanes write TAP at once: each block is one write of whole lines.)
lab_ok() { N=$((N + 1)); tap_line "ok $N - nfs lab: $1"; }
lab_fail() {
	local msg
	N=$((N + 1))
	msg="not ok $N - nfs lab: $1"
	shift
	[ $# -gt 0 ] && msg+=$'\n'$(printf '%s\n' "$@" | tail -n 30 | sed 's/^/#   /')
	tap_line "$msg"
}
die() {
	lab_fail "$@"
	exit 1
}
# run DESC CMD...: CMD must succeed, else the lab cannot go on.
run() {
	local d=$1 out
	shift
	out=$("$@" 2>&1) || die "setup: $d" "command: $*" "$out"
}
# stamp WHAT: a line with the guest's uptime in the log.
stamp() {
	echo "[$(cut -d' ' -f1 /proc/uptime)] $*" >>"$LOG"
}
# At exit: stop the holders and their daemons, unmount the clients.
lab_exit() {
	local n l
	for l in $(seq 1 "$LANES"); do
		umount_kind "$l" 2>/dev/null
	done
	for n in "${!HOLDER[@]}"; do
		# The holder, and rpcbind and rpc.statd, which left it.
		kill -KILL $(ip netns pids "c$n" 2>/dev/null) "${HOLDER[$n]}" 2>/dev/null
	done
}
trap lab_exit EXIT

# ---- the server --------------------------------------------------------------

server_setup() {
	hostname labsrv
	# Names of the lab's hosts without DNS: rpc.statd looks up every peer
	# (a lookup that waits for an unreachable name server stalls NLM).
	rm -f /etc/hosts /etc/resolv.conf
	{
		echo "127.0.0.1 localhost"
		for n in $(seq 1 $((4 * LANES))); do
			echo "$SERVER_NET.$n.1 labsrv$n"
			echo "$SERVER_NET.$n.2 labc$n"
		done
	} >/etc/hosts
	: >/etc/resolv.conf
	echo "hosts: files" >/etc/nsswitch.conf
	run "lo up" ip link set lo up
	run "mkfs.ext4 /dev/vda" mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 /dev/vda
	mkdir -p $EXPORT
	run "mount /dev/vda" mount -t ext4 -o noatime /dev/vda $EXPORT
	run "mount nfsd" mount -t nfsd nfsd /proc/fs/nfsd
	echo 10 >/proc/fs/nfsd/nfsv4leasetime || die "setup: nfsv4leasetime"
	echo 10 >/proc/fs/nfsd/nfsv4gracetime || die "setup: nfsv4gracetime"
	echo 10 >/proc/sys/fs/nfs/nlm_grace_period || die "setup: nlm_grace_period"
	mkdir -p /var/lib/nfs/sm /var/lib/nfs/sm.bak /var/lib/nfs/v4recovery /run/rpcbind
	: >/var/lib/nfs/etab
	: >/var/lib/nfs/rmtab
	# fsid=0: the export is NFSv4's root (the VM's own root, an overlay, cannot
	# be exported); v4 mounts name "/", v3 mounts the path.
	echo "$EXPORT $SERVER_NET.0.0/16(rw,sync,no_subtree_check,no_root_squash,insecure,fsid=0)" >/etc/exports
	run "rpcbind" rpcbind -w
	run "rpc.statd (server)" rpc.statd --no-notify
	run "exportfs -ra" exportfs -ra
	run "rpc.mountd" rpc.mountd
	run "rpc.nfsd" rpc.nfsd 8
	SERVER_UP=$(date +%s)
}

# ---- the clients -------------------------------------------------------------

# holder_start N MODE: the holder of client N: new network, UTS and mount
# namespaces (the mount namespace a copy of the VM's, /mnt shared with it),
# its own /run and /var/lib/nfs, and (MODE full) rpcbind and rpc.statd;
# MODE rpcbind: rpcbind alone; MODE none: neither.  The kernel's lockd of the namespace registers with rpcbind
# through /run/rpcbind.sock as the mounting process sees it, so mounts are
# made inside the holder's mount namespace and propagate to the VM's /mnt.
holder_start() {
	local n=$1 mode=$2
	rm -f "/tmp/lab-holder.$n"
	unshare --net --uts --mount --propagation unchanged bash -c '
		hostname "labc$1"
		ip link set lo up || exit 1
		mount -t tmpfs -o mode=0755 tmpfs /run || exit 1
		mount -t tmpfs -o mode=0755 tmpfs /var/lib/nfs || exit 1
		mkdir -p /run/rpcbind /var/lib/nfs/sm /var/lib/nfs/sm.bak
		if [ "$2" != none ]; then
			rpcbind -w || exit 1
		fi
		if [ "$2" = full ]; then
			rpc.statd --no-notify || exit 1
		fi
		echo ready >"/tmp/lab-holder.$1"
		exec sleep infinity' _ "$n" "$mode" </dev/null >>"$LOG" 2>&1 &
	HOLDER[$n]=$!
	# killed at exit (lab_exit) without a "Killed" line from bash
	disown "$!"
}

# clients_setup: per lane, holders for c1..c3 (rpcbind, statd) and c4
# (rpcbind only), and a veth pair per client: server side vsN 10.99.N.1,
# client side eth0 10.99.N.2.
clients_setup() {
	local n i l batch=""
	# Mounts below /mnt propagate between the VM and the holders; nothing
	# else does.
	run "mount --make-rprivate /" mount --make-rprivate /
	for l in $(seq 1 "$LANES"); do
		mkdir -p /mnt/l$l/c1 /mnt/l$l/c2 /mnt/l$l/c3 /mnt/l$l/c4
	done
	run "bind /mnt" mount --bind /mnt /mnt
	run "make /mnt shared" mount --make-shared /mnt
	for n in $(seq 1 $((4 * LANES))); do
		if [ $((n % 4)) = 0 ]; then
			holder_start "$n" rpcbind
		else
			holder_start "$n" full
		fi
	done
	for n in $(seq 1 $((4 * LANES))); do
		for i in $(seq 1 300); do
			[ -f "/tmp/lab-holder.$n" ] && break
			kill -0 "${HOLDER[$n]}" 2>/dev/null || break
			sleep 0.1
		done
		[ -f "/tmp/lab-holder.$n" ] ||
			die "setup: client $n's namespaces, rpcbind, rpc.statd" "$(tail -n 20 "$LOG")"
		batch+="link add vs$n type veth peer name eth0 netns ${HOLDER[$n]}
addr add $SERVER_NET.$n.1/24 dev vs$n
link set vs$n up
"
	done
	run "veths" ip -batch - <<<"$batch"
	for n in $(seq 1 $((4 * LANES))); do
		run "client $n's eth0" nsenter -t "${HOLDER[$n]}" --net ip -batch - <<EOB
addr add $SERVER_NET.$n.2/24 dev eth0
link set eth0 up
EOB
	done
}

# lane_holders L: the pids whose namespaces are lane L's c1..c4.
lane_holders() {
	local b=$((4 * ($1 - 1)))
	echo "${HOLDER[$((b + 1))]} ${HOLDER[$((b + 2))]} ${HOLDER[$((b + 3))]} ${HOLDER[$((b + 4))]}"
}

# lane_addrs L: the server's addresses as lane L's c1..c4 reach it.
lane_addrs() {
	local b=$((4 * ($1 - 1)))
	echo "$SERVER_NET.$((b + 1)).1 $SERVER_NET.$((b + 2)).1 $SERVER_NET.$((b + 3)).1 $SERVER_NET.$((b + 4)).1"
}

# client_ns N CMD...: CMD in client N's network, UTS and mount namespaces.
client_ns() {
	local n=$1
	shift
	nsenter -t "${HOLDER[$n]}" --net --uts --mount --root --wd "$@"
}

# mount_kind L KIND: lane L's /mnt/lL/c1..c3 mounted with the kind's
# options.
mount_kind() {
	local l=$1 kind=$2 n c out path=$EXPORT
	[[ "${KIND_OPTS[$kind]}" == vers=4* ]] && path=/
	for c in 1 2 3; do
		n=$((4 * (l - 1) + c))
		out=$(client_ns "$n" mount -t nfs -o "${KIND_OPTS[$kind]}" \
			"$SERVER_NET.$n.1:$path" "/mnt/l$l/c$c" 2>&1) || {
			lab_fail "$kind: mount on lane $l's client c$c (${KIND_OPTS[$kind]})" "$out"
			return 1
		}
	done
	mkdir -p "/mnt/l$l/c1/$kind" || {
		lab_fail "$kind: mkdir on /mnt/l$l/c1"
		return 1
	}
	LANE_KIND[$l]=$kind
	lab_ok "$kind: mounted on lane $l's c1 c2 c3 ($(awk -v m="/mnt/l$l/c1" '$2 == m { print $4 }' /proc/mounts))"
}

umount_kind() {
	local l=$1 c
	for c in 1 2 3; do
		mountpoint -q "/mnt/l$l/c$c" || continue
		umount "/mnt/l$l/c$c" 2>/dev/null || umount -f "/mnt/l$l/c$c" 2>/dev/null ||
			umount -l "/mnt/l$l/c$c" 2>>"$LOG"
	done
	LANE_KIND[$l]=""
}

lab_setup() {
	stamp "setup"
	server_setup
	stamp "server up"
	clients_setup
	stamp "clients up"
	lab_ok "server and $LANES lanes of clients c1..c4 set up (kernel $(uname -r))"
}

# ---- main --------------------------------------------------------------------

: >"$LOG"
lab_setup
if [ "${1:-}" = --shell ]; then
	mount_kind 1 v42
	cat <<EOM
nfs lab: nfsd exports $EXPORT; lane 1's clients c1..c3 mount it (kind v42)
at /mnt/l1/c1 /mnt/l1/c2 /mnt/l1/c3; c4 has rpcbind, no rpc.statd.  The
pids whose namespaces are clients c1..c4: \$LAB_HOLDERS (nsenter -t PID
--net --uts --mount --root --wd CMD runs CMD as that client).  A scenario:
  bash tests/nfs/s_journal.sh      (build: $BUILD)
'exit' ends the VM.
EOM
	export BUILD LAB_KIND=v42 LAB_OPTS=${KIND_OPTS[v42]} LAB_MNT=/mnt/l1
	LAB_HOLDERS=$(lane_holders 1)
	LAB_ADDRS=$(lane_addrs 1)
	export LAB_HOLDERS LAB_ADDRS
	bash -i
	exit 0
fi

# run_job L KIND NAME: scenario tests/nfs/s_NAME.sh on lane L, mounted
# with KIND; its TAP lines, prefixed with the kind and name, in one block.
run_job() {
	local l=$1 kind=$2 name=$3 s=tests/nfs/s_$3.sh t0 rc out p f block trace=()
	local limit
	[ "$name" = bench ] && s=tests/nfs/bench.sh
	# A scenario may need longer: a line "# lab-timeout: SECONDS".
	limit=$(sed -n 's/^# lab-timeout: \([0-9][0-9]*\)$/\1/p' "$s" | head -n 1)
	limit=${limit:-$SCENARIO_TIMEOUT}
	if [ "${LANE_KIND[$l]:-}" != "$kind" ]; then
		umount_kind "$l"
		stamp "lane $l: mount $kind"
		mount_kind "$l" "$kind" || { umount_kind "$l"; return 1; }
	fi
	t0=$(date +%s)
	stamp "lane $l: $kind $name"
	# (bash ignores PS4 from the environment when run as root)
	[ -n "${LAB_TRACE:-}" ] && trace=(bash -c 'PS4="+ \$EPOCHREALTIME "
BASH_XTRACEFD=9; set -x; . "$0"')
	BENCH_NFS_SECONDS=${BENCH_NFS_SECONDS:-3} \
		LAB_KIND=$kind LAB_OPTS=${KIND_OPTS[$kind]} LAB_MNT=/mnt/l$l \
		LAB_HOLDERS=$(lane_holders "$l") LAB_ADDRS=$(lane_addrs "$l") \
		timeout -k 5 "$limit" "${trace[@]:-bash}" "$s" \
		9>"/lab-results/trace.$kind.$name" >"/tmp/lab-job.$l.out" 2>&1
	rc=$?
	out=$(cat "/tmp/lab-job.$l.out")
	cat "/tmp/lab-job.$l.out" >>"$LOG"
	p=$(grep -cE '^ok ' <<<"$out")
	f=$(grep -cE '^not ok ' <<<"$out")
	# Prefix each TAP line with the kind and scenario.
	block=$(printf '%s\n' "$out" | sed -E "s/^(not )?ok [0-9]+ - /&$kind: $name: /" |
		grep -vE '^1\.\.[0-9]+$')
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		f=$((f + 1))
		block+=$'\n'"not ok - nfs lab: $kind: $name did not finish within $limit s"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=$((f + 1))
		block+=$'\n'"not ok - nfs lab: $kind: $name exited $rc without a 'not ok'"
	fi
	block+=$'\n'"# $kind $name (lane $l): $p ok, $f not ok, $(($(date +%s) - t0)) s"
	tap_line "$block"
}

# lane L: take the next job of the queue (claimed with mkdir) until none
# is left.
lane() {
	local l=$1 i=0 job
	for job in "${JOBS[@]}"; do
		i=$((i + 1))
		mkdir "/tmp/lab-claim.$i" 2>/dev/null || continue
		run_job "$l" ${job%:*} ${job#*:}
	done
	umount_kind "$l"
	stamp "lane $l: done"
}

kinds=${LAB_KINDS:-$ALL_KINDS}
scen=${LAB_SCENARIOS:-}
if [ "$LAB_MODE" = bench ]; then
	kinds=${LAB_KINDS:-v42 v3nolock}
	scen=bench
fi
JOBS=()
left_out=
for kind in $kinds; do
	[ -n "${KIND_OPTS[$kind]:-}" ] || { lab_fail "unknown mount kind '$kind'"; continue; }
	if [ "$LAB_MODE" = bench ]; then
		JOBS+=("$kind:bench")
		continue
	fi
	for s in tests/nfs/s_*.sh; do
		name=${s##*/s_}
		name=${name%.sh}
		if [ -n "$scen" ] && [[ " $scen " != *" $name "* ]] &&
			[[ " $scen " != *" $kind:$name "* ]]; then
			continue
		fi
		# A scenario that does not pass yet says so in its header
		# ("# lab-default: no (WHY)"): it runs only when named, and
		# the TAP says it was left out.
		why=$(sed -n 's/^# lab-default: no //p' "$s" | head -n 1)
		if [ -z "$scen" ] && [ -n "$why" ]; then
			[[ " $left_out " == *" $name "* ]] ||
				tap_line "# nfs lab: $name left out of the default run $why; LAB_SCENARIOS=$name runs it"
			left_out+=" $name"
			continue
		fi
		JOBS+=("$kind:$name")
	done
done
rm -rf /tmp/lab-claim.*
for l in $(seq 1 "$LANES"); do
	lane "$l" &
	sleep 1
done
wait
stamp "done"
dmesg >/lab-results/dmesg
grep -qE '^not ok ' "$TAP" && exit 1
exit 0
