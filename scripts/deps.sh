#!/bin/sh
# The one list of Debian packages cohort needs to build and test.
# Used by the README, .ci/run and the Makefile ("make deps").
#
#   scripts/deps.sh            install everything (needs root or sudo)
#   scripts/deps.sh --list     print the package names
#   scripts/deps.sh --check    exit 1 and name what is missing
set -eu

# build: compiler, pkg-config and the libraries (see NOTES.md, "Dependencies")
BUILD="build-essential pkg-config libarchive-dev libxxhash-dev libinih-dev
uuid-dev libjson-c-dev libxml2-dev"
# tests: Check, bindfs views of one folder (FUSE), inotify-tools, SQLite for
# the benchmark baselines (the library, and the sqlite3 command line against
# 'cohort append' per process), gnuplot-nox for the benchmark's latency plot, zip to
# build test packages, jq to read JSON output in cluster tests, clang for
# 'make fuzz' (libFuzzer)
TEST="check bindfs fuse3 inotify-tools libsqlite3-dev sqlite3 zip procps psmisc
gnuplot-nox jq clang"
# the Java binding ('make java', java/): the JDK (javac, jar, jni.h) and
# JUnit 5 for its tests
JAVA="openjdk-17-jdk-headless junit5"
# manual pages (scdoc renders man/*.scd; man-db's man checks them), bash
# completion (its test loads bash-completion), and 'make deb' with its
# test: debhelper and dpkg-dev (dpkg-buildpackage), lintian, git (make deb
# builds the files git knows)
DOCS="scdoc man-db bash-completion debhelper dpkg-dev lintian git"
# the real-NFS lab (tests/nfs/): QEMU, busybox and cpio for its initramfs,
# kmod for depmod/modprobe on Debian's kernel (fetched by the lab, not
# installed); the guest runs this machine's root, so the NFS server and
# client tools it uses are installed here: nfs-kernel-server (rpc.nfsd,
# rpc.mountd, exportfs), nfs-common (mount.nfs, rpc.statd), rpcbind,
# e2fsprogs (mkfs.ext4), iproute2 (ip), util-linux (nsenter, unshare).
# On a host with systemd, installing nfs-kernel-server enables its service
# (with an empty /etc/exports it exports nothing); the lab never uses it.
NFSLAB="qemu-system-x86 busybox-static cpio kmod nfs-kernel-server nfs-common
rpcbind e2fsprogs iproute2 util-linux"

PKGS="$BUILD $TEST $JAVA $DOCS $NFSLAB"

case "${1:-}" in
--list)
	echo $PKGS
	exit 0
	;;
--check)
	missing=""
	for p in $PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "cohort: missing Debian packages:$missing" >&2
		echo "cohort: install them with: sudo scripts/deps.sh" >&2
		exit 1
	fi
	exit 0
	;;
"") ;;
*)
	echo "usage: scripts/deps.sh [--list | --check]" >&2
	exit 2
	;;
esac

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $PKGS
