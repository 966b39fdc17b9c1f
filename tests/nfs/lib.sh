# tests/nfs/lib.sh - sourced by the lab's scenarios (tests/nfs/s_*.sh),
# which tests/nfs/guest.sh runs inside the VM once per mount kind.
#
# It reuses the cluster suite's helpers (tests/cluster/lib.sh: TAP,
# bg_start, wait_for, kill_tree, node_bind, node_cohort, write_conf, ...);
# only the "views" differ: node N's view is the kernel NFS client N's
# mount $LAB_MNT/cN, and every node command runs in client N's UTS
# namespace (host name labcN), so cohort sees three hosts.
#
#	lab_setup NAME      a fresh folder KIND/NAME on the export; node
#	                    a works through c1, b through c2, c through c3;
#	                    writes the lab's cohort.conf (short timeouts)
#	lab_conf 'TEXT'     more cohort.conf lines
#	lab_cluster [ID...] init through a, then join each ID
#	lab_jar FILE ID VERSION  an extension jar (zip) with unique content
#	node_rpc ID FILE ARGS...  node_cohort, and the NFS RPCs it cost on
#	                    its client's mount into FILE (tests/nfs/rpc-count)
#	percentile P FILE   the P-th percentile of the numbers in FILE
#
# Environment from guest.sh: LAB_KIND (v42, v41, v3, v3nolock, v42ac),
# LAB_OPTS (its mount options), LAB_MNT (the lane's folder of mounts:
# client N's is LAB_MNT/cN), LAB_HOLDERS (pids whose namespaces are
# clients c1..c4), LAB_ADDRS (the server's address as each of c1..c4
# reaches it), BUILD.
NFS_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/lib.sh
. "$NFS_HERE/../cluster/lib.sh"

LAB_KIND=${LAB_KIND:?LAB_KIND is set by tests/nfs/guest.sh}
read -r -a LAB_HOLDER <<<"${LAB_HOLDERS:?LAB_HOLDERS is set by tests/nfs/guest.sh}"
read -r -a LAB_ADDR <<<"${LAB_ADDRS:?LAB_ADDRS is set by tests/nfs/guest.sh}"
LAB_MNT=${LAB_MNT:?LAB_MNT is set by tests/nfs/guest.sh}
LAB_DIR=""
RPC_COUNT=$NFS_HERE/rpc-count

# The lab's cohort.conf: timeouts short enough for a lab whose every
# command takes a second under TCG, long enough that a live holder (which
# refreshes every second) is never broken on a loaded VM.
LAB_CONF='[cluster]
lock_timeout = 60s
lease_refresh = 1s
lease_timeout = 5s
skew_margin = 1s
heartbeat_interval = 1s
stale_after = 15s
[journal]
poll_interval = 250ms
'

lab_setup() {
	local name=$1 n
	command -v jq >/dev/null 2>&1 || tap_bail "jq is installed"
	need_prog "$COHORT" "the cohort tool"
	T=$(mktemp -d /tmp/lab-"$name".XXXXXX) || tap_bail "mktemp -d"
	trap cluster_cleanup EXIT
	trap 'tap_fail "interrupted (SIGINT)"; exit 130' INT
	trap 'tap_fail "interrupted (SIGTERM)"; exit 143' TERM
	mkdir -p "$T/state" "$T/work"
	CLUSTER_K=3
	LAB_DIR=$LAB_KIND/$name
	for n in 1 2 3; do
		[ -d "$LAB_MNT/c$n/$LAB_KIND" ] ||
			tap_bail "client c$n's mount $LAB_MNT/c$n shows '$LAB_KIND'"
	done
	mkdir -p "$LAB_MNT/c1/$LAB_DIR" || tap_bail "mkdir $LAB_MNT/c1/$LAB_DIR"
	# The operator writes cohort.conf through client 1.
	SHARED=$LAB_MNT/c1/$LAB_DIR
	ROOT_SHARED=$SHARED/$ROOT_NAME
	node_bind a 1
	node_bind b 2
	node_bind c 3
	write_conf "$LAB_CONF"
}

lab_conf() {
	write_conf "$LAB_CONF$1"
}

lab_cluster() {
	local id w=$T/work
	node_cohort a init >/dev/null 2>"$w/init.err" ||
		tap_bail "init" "$(cat "$w/init.err")"
	for id in "$@"; do
		node_cohort "$id" join >/dev/null 2>"$w/join.$id" ||
			tap_bail "join as $id" "$(cat "$w/join.$id")"
	done
}

# lab_jar FILE ID VERSION: an XWiki extension jar (META-INF/extension.xed
# naming ID and VERSION) with 20 kB of random payload; needs zip.
lab_jar() {
	local file=$1 id=$2 ver=$3 d
	command -v zip >/dev/null 2>&1 || tap_bail "zip is installed"
	d=$(mktemp -d "$T/work/jar.XXXXXX") || tap_bail "mktemp"
	mkdir -p "$d/META-INF" "$d/lib"
	printf '<?xml version="1.0"?>\n<extension><id>%s</id><version>%s</version></extension>\n' \
		"$id" "$ver" >"$d/META-INF/extension.xed"
	printf 'Manifest-Version: 1.0\n' >"$d/META-INF/MANIFEST.MF"
	{
		echo "$file $id $ver"
		head -c 20000 /dev/urandom
	} >"$d/lib/payload.bin"
	(cd "$d" && zip -qrX "$file" META-INF lib) || tap_bail "zip '$file'"
	rm -rf "$d"
}

# Overrides of tests/cluster/lib.sh: client N instead of view vN.
node_view() { echo "$LAB_MNT/c$(node_viewno "$1")/$LAB_DIR"; }
node_root() { echo "$LAB_MNT/c$(node_viewno "$1")/$LAB_DIR/$ROOT_NAME"; }

# client_uts N CMD...: CMD with client N's host name.
client_uts() {
	local n=$1
	shift
	nsenter -t "${LAB_HOLDER[$((n - 1))]}" --uts "$@"
}

node_cohort() {
	local id=$1
	shift
	client_uts "$(node_viewno "$id")" "$COHORT" --root "$(node_root "$id")" \
		--node "$id" --state "$(node_state "$id")" "$@"
}

# node_rpc ID FILE ARGS...: the cohort tool as node ID (node_cohort),
# with the NFS RPCs it cost on its client's mount written to FILE as one
# line "TOTAL OP=N OP=N ..." (tests/nfs/rpc-count).
node_rpc() {
	local id=$1 file=$2 n
	shift 2
	n=$(node_viewno "$id")
	"$RPC_COUNT" -o "$file" "$LAB_MNT/c$n" -- \
		nsenter -t "${LAB_HOLDER[$((n - 1))]}" --uts "$COHORT" \
		--root "$(node_root "$id")" --node "$id" \
		--state "$(node_state "$id")" "$@"
}

# percentile P FILE: nearest-rank percentile of the numbers in FILE.
percentile() {
	sort -n "$2" | awk -v p="$1" '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		r = int((p / 100) * NR + 0.999999); if (r < 1) r = 1
		print v[r] }'
}

# tap_rc DESC GOT WANT [DETAIL...]: tap_is for exit codes, with the
# command's output as detail on failure.
tap_rc() {
	local d=$1 got=$2 want=$3
	shift 3
	if [ "$got" = "$want" ]; then
		tap_ok "$d"
	else
		tap_fail "$d" "exit $got, want $want" "$@"
	fi
}
