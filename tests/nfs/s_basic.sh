#!/usr/bin/env bash
# tests/nfs/s_basic.sh - smoke: init and append through client 1, read
# through client 2.
set -u
B=$BUILD/cohort
d=/mnt/c1/$LAB_KIND/basic
mkdir -p "$d"
t() {
	local what=$1 out
	shift
	if out=$(timeout 60 "$@" 2>&1); then
		echo "ok - $what"
	else
		echo "not ok - $what"
		printf '%s\n' "$out" | sed 's/^/#   /'
	fi
}
t init $B --root "$d/root" --node a --state /tmp/st.a init
t join $B --root "$d/root" --node a --state /tmp/st.a join
t append $B --root "$d/root" --node a --state /tmp/st.a append hello
t log bash -c "$B --root /mnt/c2/$LAB_KIND/basic/root --node b --state /tmp/st.b log | grep -q hello"
