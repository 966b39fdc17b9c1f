#!/usr/bin/env bash
# tests/system/docs.sh - the manual pages and the bash completion file:
# documented, rendered clean, installed where man and bash-completion look.
#
# 1. tests/system/docs-drift.sh finds no command, option, configuration
#    key or public function without documentation in man/*.scd.
# 2. It does find them: a wrapper around the tool whose --help adds a
#    command, an option of 'sync' and a configuration key, and whose
#    configuration default differs, makes it fail naming each one.
# 3. Every page in BUILD/man is scdoc's rendering of its man/*.scd source
#    (not stale) and 'man -l --warnings' renders it with nothing on
#    standard error.
# 4. 'make install DESTDIR=...' installs each page under share/man/manN/
#    and the completion as share/bash-completion/completions/cohort.
#
# BUILD=build bash tests/system/docs.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/lib.sh
. "$HERE/../cluster/lib.sh"
TOP=$CLUSTER_TOP
need_prog "$COHORT" "the cohort tool"
for p in scdoc man; do
	command -v $p >/dev/null || tap_bail "$p is installed (scripts/deps.sh)"
done
W=$(mktemp -d "${TMPDIR:-/tmp}/cohort-docs.XXXXXX") || tap_bail "mktemp -d"
trap 'rm -rf "$W"' EXIT

# ---- 1. nothing undocumented -------------------------------------------------
tap_check "every command, option, configuration key and public function is documented" \
	"$HERE/docs-drift.sh" "$COHORT"

# ---- 2. the check catches drift ----------------------------------------------
cat >"$W/cohort" <<WRAP
#!/usr/bin/env bash
real='$COHORT'
case "\$*" in
--help)
	"\$real" --help | sed -e '/^Commands:/a\\  frobnicate   a command nobody documented' \\
		-e 's/^  \[journal\] segment_size = .*/  [journal] segment_size = 32M/' \\
		-e '/^Configuration:/a\\  [node] colour = blue\\n      a key nobody documented'
	;;
"sync --help")
	"\$real" sync --help
	echo "  --bogus-flag   an option nobody documented"
	;;
*) exec "\$real" "\$@" ;;
esac
WRAP
chmod +x "$W/cohort"
out=$("$HERE/docs-drift.sh" "$W/cohort" 2>&1)
rc=$?
tap_is "the check fails when something is undocumented" "$rc" 1
for want in "command frobnicate" "option sync --bogus-flag" \
	"configuration key [node] colour" "default of [journal] segment_size"; do
	if grep -qF -- "$want" <<<"$out"; then
		tap_ok "the check names: $want"
	else
		tap_fail "the check names: $want" "$out"
	fi
done

# ---- 3. pages are current and render clean ------------------------------------
pages=0
for src in "$TOP"/man/*.scd; do
	name=$(basename "$src" .scd)
	page=$BUILD/man/$name
	pages=$((pages + 1))
	if ! cmp -s <(scdoc <"$src") "$page"; then
		tap_fail "$page is the rendering of man/$name.scd (run make)"
		continue
	fi
	err=$(MANWIDTH=80 man -l --warnings "$page" 2>&1 >"$W/$name.txt")
	if [ -z "$err" ] && grep -q '^NAME' "$W/$name.txt"; then
		tap_ok "man -l --warnings $name: no warnings"
	else
		tap_fail "man -l --warnings $name: no warnings" "$err"
	fi
done
tap_is "four pages: cohort.1, cohort.conf.5, libcohort.3 and no other" \
	"$(cd "$TOP/man" && ls *.scd | tr '\n' ' ')" "cohort.1.scd cohort.conf.5.scd libcohort.3.scd "

# ---- 4. make install puts them where man and bash-completion look -----------
if make -s -C "$TOP" BUILD="$BUILD" DESTDIR="$W/inst" PREFIX=/usr/local install \
	>"$W/install.log" 2>&1; then
	for f in share/man/man1/cohort.1 share/man/man5/cohort.conf.5 \
		share/man/man3/libcohort.3 share/bash-completion/completions/cohort; do
		tap_check "make install: $f" test -s "$W/inst/usr/local/$f"
	done
	tap_check "make install: the completion file is the source's" \
		cmp "$TOP/completion/cohort.bash" \
		"$W/inst/usr/local/share/bash-completion/completions/cohort"
	tap_check "man finds the installed page by name" \
		env MANPATH="$W/inst/usr/local/share/man" man -w cohort.conf
else
	tap_fail "make install DESTDIR=... works" "$(tail -n 20 "$W/install.log")"
fi
[ $TAP_FAILED -eq 0 ]
