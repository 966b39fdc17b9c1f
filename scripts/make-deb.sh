#!/usr/bin/env bash
# scripts/make-deb.sh OUTDIR - build the Debian packages cohort, libcohort0
# and libcohort-dev into OUTDIR (make deb: BUILD/deb), then run lintian.
#
# dpkg-buildpackage writes its results to the parent of the tree it
# builds, so it builds a copy: the files git knows in this tree (committed
# or not, ignored ones left out) in OUTDIR/src.  Tests are not run
# (DEB_BUILD_OPTIONS=nocheck): make test runs them.  The build's output is
# in OUTDIR/build.log, lintian's in OUTDIR/lintian.log; lintian errors
# fail the build, warnings are explained in NOTES.md ("Debian packages").
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-build/deb}
case "$out" in /*) ;; *) out=$top/$out ;; esac

for t in git dpkg-buildpackage dh lintian scdoc; do
	if ! command -v "$t" >/dev/null; then
		echo "cohort: make deb needs '$t': install the Debian packages in scripts/deps.sh (sudo scripts/deps.sh)" >&2
		exit 1
	fi
done

rm -rf "$out"
mkdir -p "$out/src"
cd "$top"
git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do
		[ -e "$f" ] && printf '%s\0' "$f"
	done |
	tar --null -T - -cf - | tar -xf - -C "$out/src"

echo "make deb: dpkg-buildpackage -b -us -uc in $out/src (log: $out/build.log)"
if ! (cd "$out/src" &&
	DEB_BUILD_OPTIONS="nocheck parallel=2 ${DEB_BUILD_OPTIONS:-}" \
		dpkg-buildpackage -b -us -uc) >"$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log" >&2
	echo "cohort: dpkg-buildpackage failed (whole log: $out/build.log)" >&2
	exit 1
fi
rm -rf "$out/src"

changes=$(ls "$out"/cohort_*.changes)
echo "make deb: lintian $changes (log: $out/lintian.log)"
rc=0
lintian --fail-on error --info "$changes" >"$out/lintian.log" 2>&1 || rc=$?
cat "$out/lintian.log"
if [ $rc -ne 0 ]; then
	echo "cohort: lintian found errors in the packages (exit $rc)" >&2
	exit 1
fi
ls -1 "$out"/*.deb
