#!/usr/bin/env bash
# tests/nfs/lab.sh - the real-NFS lab: a kernel NFS server and three kernel
# NFS clients in a QEMU VM, running the checkout's own build (TAP).
#
#   BUILD=build tests/nfs/lab.sh           run every scenario on every mount
#                                          kind; TAP lines on stdout
#   BUILD=build tests/nfs/lab.sh --shell   boot the lab with a shell on the
#                                          console (make nfs-shell)
#   BUILD=build tests/nfs/lab.sh --bench   tests/nfs/bench.sh on v42 and
#                                          v3nolock (make bench's NFS part;
#                                          LAB_KINDS chooses); its figures
#                                          in $BUILD/nfs/run/bench
#
# What it does on this machine (nothing is installed, nothing leaves it):
# 1. Debian's own kernel: the package linux-image-amd64 depends on (e.g.
#    linux-image-6.1.0-57-amd64), fetched with 'apt-get download' and
#    unpacked with 'dpkg-deb -x' into $BUILD/nfs/<package>/ once (cached),
#    'depmod -b' run on it.
# 2. An initramfs ($BUILD/nfs/initramfs.cpio.gz): busybox-static, the
#    modules the lab needs in the order 'modprobe --show-depends' gives,
#    and tests/nfs/init.
# 3. The VM: qemu-system-x86_64 -accel tcg -machine pc -cpu max -smp 2,
#    no network device at all (the lab's addresses exist only inside the
#    VM), this machine's root as a read-only 9p share under an overlay with
#    a tmpfs upper layer, $BUILD/nfs/run as the writable 9p share
#    "results", and an empty disk image the guest formats ext4 and exports.
#    Inside, tests/nfs/guest.sh sets up the server and the clients and
#    runs the scenarios (tests/nfs/s_*.sh) on each mount kind.
# 4. The TAP lines the guest wrote to results/tap are printed as they come;
#    a VM that does not start or does not finish is a "not ok" (never a
#    skip).
#
# Environment: BUILD (default build), LAB_KINDS (default: every mount kind,
# see tests/nfs/guest.sh), LAB_SCENARIOS (default: every s_*.sh, e.g.
# "init journal v42:rpc": a name alone runs on every kind, KIND:NAME on
# that kind only), LAB_TIMEOUT (seconds for the whole VM, default 1500),
# LAB_MEM (MiB, default 2048), LAB_LANES (scenarios at once, default 2),
# LAB_TRACE (set: each scenario runs under
# 'bash -x' with times, into $BUILD/nfs/run/trace.KIND.NAME).
set -u
cd "$(dirname "$0")/../.."
TOP=$PWD
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
NFS=$BUILD/nfs
MODE=run
[ "${1:-}" = --shell ] && MODE=shell
[ "${1:-}" = --bench ] && MODE=bench
LAB_TIMEOUT=${LAB_TIMEOUT:-1500}
LAB_MEM=${LAB_MEM:-2048}

N=0
fail() {
	N=$((N + 1))
	echo "not ok $N - nfs lab: $1"
	shift
	[ $# -gt 0 ] && printf '%s\n' "$@" | tail -n 40 | sed 's/^/#   /'
	echo "1..$N"
	exit 1
}

for p in qemu-system-x86_64 apt-get dpkg-deb depmod modprobe cpio gzip; do
	command -v "$p" >/dev/null 2>&1 ||
		fail "'$p' is missing (install the lab's packages: scripts/deps.sh)"
done
[ -x /bin/busybox ] && file_static=$(/bin/busybox 2>&1 | head -n 1) ||
	fail "/bin/busybox is missing (busybox-static; scripts/deps.sh)"
case "$file_static" in *BusyBox*) ;; *) fail "/bin/busybox is not BusyBox" ;; esac
[ -x "$BUILD/cohort" ] || fail "the cohort tool is built ('$BUILD/cohort'): run make first"
mkdir -p "$NFS" || fail "cannot create '$NFS'"

# ---- 1. the kernel ---------------------------------------------------------

# The versioned package linux-image-amd64 depends on; without a package
# index, the newest one already unpacked here.
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
if [ -z "$KPKG" ]; then
	KPKG=$(ls -d "$NFS"/linux-image-*/ 2>/dev/null | sort -V | tail -n 1)
	KPKG=$(basename "${KPKG:-none}")
	[ -f "$NFS/$KPKG/.ready" ] ||
		fail "cannot resolve the package linux-image-amd64 depends on (apt-get update?)"
fi
KDIR=$NFS/$KPKG
if [ ! -f "$KDIR/.ready" ]; then
	rm -rf "$KDIR" "$NFS/dl"
	mkdir -p "$NFS/dl"
	out=$(cd "$NFS/dl" && apt-get download "$KPKG" 2>&1) ||
		fail "apt-get download $KPKG" "$out"
	out=$(dpkg-deb -x "$NFS"/dl/"$KPKG"_*.deb "$KDIR" 2>&1) ||
		fail "dpkg-deb -x $KPKG" "$out"
	rm -rf "$NFS/dl"
	touch "$KDIR/.ready"
fi
KVER=$(ls "$KDIR/lib/modules" 2>/dev/null | head -n 1)
VMLINUZ=$KDIR/boot/vmlinuz-$KVER
[ -n "$KVER" ] && [ -f "$VMLINUZ" ] || fail "no kernel in '$KDIR'"
if [ ! -f "$KDIR/lib/modules/$KVER/modules.dep" ]; then
	out=$(depmod -b "$KDIR" "$KVER" 2>&1) || fail "depmod -b '$KDIR'" "$out"
fi

# ---- 2. the initramfs ------------------------------------------------------

MODULES="virtio_pci virtio_blk 9pnet_virtio 9p overlay ext4 veth nfsd nfs
nfsv3 nfsv4"
IRD=$NFS/initramfs
rm -rf "$IRD"
mkdir -p "$IRD"/{bin,proc,sys,dev,lib/modules} || fail "mkdir '$IRD'"
cp /bin/busybox "$IRD/bin/busybox" && cp tests/nfs/init "$IRD/init" &&
	chmod 755 "$IRD/init" || fail "populate '$IRD'"
order=$(for m in $MODULES; do
	modprobe -d "$KDIR" -S "$KVER" --show-depends "$m" ||
		echo "MISSING $m"
done 2>&1 | awk '$1 == "insmod" && !seen[$2]++ { print $2 } $1 == "MISSING" || /FATAL/ { print "MISSING " $0 }')
case "$order" in *MISSING*) fail "modules missing from $KPKG" "$order" ;; esac
: >"$IRD/lib/modules/order"
for ko in $order; do
	b=$(basename "$ko")
	cp "$ko" "$IRD/lib/modules/$b" || fail "copy '$ko'"
	echo "$b" >>"$IRD/lib/modules/order"
done
(cd "$IRD" && find . | cpio -o -H newc --quiet | gzip -1) >"$NFS/initramfs.cpio.gz" ||
	fail "cpio of '$IRD'"

# ---- 3. the VM -------------------------------------------------------------

RUN=$NFS/run
rm -rf "$RUN"
mkdir -p "$RUN" || fail "mkdir '$RUN'"
rm -f "$NFS/disk.img"
truncate -s 2G "$NFS/disk.img" || fail "cannot create '$NFS/disk.img'"
{
	printf 'LAB_TOP=%q\n' "$TOP"
	printf 'LAB_BUILD=%q\n' "$BUILD"
	printf 'LAB_MODE=%q\n' "$MODE"
	printf 'LAB_KERNEL_DIR=%q\n' "$KDIR"
	printf 'LAB_KINDS=%q\n' "${LAB_KINDS:-}"
	printf 'LAB_SCENARIOS=%q\n' "${LAB_SCENARIOS:-}"
	printf 'LAB_TERM=%q\n' "${TERM:-vt100}"
	printf 'LAB_TRACE=%q\n' "${LAB_TRACE:-}"
	printf 'LAB_LANES=%q\n' "${LAB_LANES:-2}"
	printf 'BENCH_NFS_SECONDS=%q\n' "${BENCH_NFS_SECONDS:-3}"
} >"$RUN/env"
: >"$RUN/tap"

QEMU=(qemu-system-x86_64 -accel tcg -machine pc -cpu max -smp 2
	-m "$LAB_MEM" -no-reboot -nic none
	-kernel "$VMLINUZ" -initrd "$NFS/initramfs.cpio.gz"
	-append "console=ttyS0 edd=off nokaslr panic=-1 loglevel=4"
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$RUN,mount_tag=results,security_model=none,multidevs=remap"
	-drive "file=$NFS/disk.img,if=virtio,format=raw,cache=unsafe")

if [ "$MODE" = shell ]; then
	echo "nfs lab: booting a shell (about a minute under TCG); 'exit' ends it" >&2
	exec "${QEMU[@]}" -nographic
fi

start=$(date +%s)
timeout --foreground -k 10 "$LAB_TIMEOUT" "${QEMU[@]}" -display none \
	-monitor none -serial "file:$RUN/console.log" &
qpid=$!
tail --pid=$qpid -n +1 -f "$RUN/tap" 2>/dev/null
wait $qpid
qrc=$?
elapsed=$(($(date +%s) - start))
# Anything the follower may have missed at the very end.
printed=$(wc -l <"$RUN/tap")
N=$(grep -cE '^(not )?ok ' "$RUN/tap")
echo "# nfs lab: the VM ran ${elapsed} s (qemu exit $qrc); console: $RUN/console.log"
if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
	fail "the VM did not finish within ${LAB_TIMEOUT} s" "$(tail -n 30 "$RUN/console.log")"
fi
[ -f "$RUN/init-failed" ] && fail "the VM's init failed: $(cat "$RUN/init-failed")" \
	"$(tail -n 30 "$RUN/console.log")"
[ -f "$RUN/status" ] || fail "the guest never finished (qemu exit $qrc)" \
	"$(tail -n 30 "$RUN/console.log")"
st=$(cat "$RUN/status")
[ "$printed" -gt 0 ] && [ "$N" -gt 0 ] || fail "the guest reported no test (status $st)" \
	"$(tail -n 30 "$RUN/console.log")"
if [ "$st" != 0 ]; then
	echo "# nfs lab: guest exit status $st"
	grep -qE '^not ok ' "$RUN/tap" || fail "the guest failed (exit $st) with no 'not ok'" \
		"$(tail -n 30 "$RUN/console.log")"
	exit 1
fi
exit 0
