#!/usr/bin/env bash
# tests/system/docs-drift.sh - name what exists without documentation.
#
#	tests/system/docs-drift.sh COHORT [MANDIR]
#
# Prints one line per gap and exits 1 when there is one, 0 when none:
#   - a command listed by 'COHORT --help' without a '## COMMAND' section
#     under '# COMMANDS' in MANDIR/cohort.1.scd (and a section for a
#     command that does not exist);
#   - an option ('--word') printed by 'COHORT COMMAND --help' that its
#     section does not name as '*--word*';
#   - a global option printed by 'COHORT --help' (before 'Commands:') that
#     '# GLOBAL OPTIONS' does not name;
#   - a configuration key printed by 'COHORT --help' ('[section] key =
#     default') without a '*key* = ... (default: *DEFAULT*)' line under
#     '## [section]' in MANDIR/cohort.conf.5.scd (and a documented key that
#     does not exist);
#   - a function declared in include/cohort/*.h that MANDIR/libcohort.3.scd
#     does not name as '*function*'.
# Commands, options and keys come from the built tool's --help, whatever
# the layout of its source.  MANDIR defaults to man/ of this tree.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cohort=$1
mandir=${2:-$top/man}
page1=$mandir/cohort.1.scd
page5=$mandir/cohort.conf.5.scd
page3=$mandir/libcohort.3.scd
gaps=0

gap() {
	echo "undocumented: $*"
	gaps=$((gaps + 1))
}

# section FILE LEVEL TITLE: the lines of the section '<LEVEL> TITLE' up to
# the next heading of that level or a higher one.
section() {
	awk -v lvl="$2" -v title="$3" '
		/^#+ / {
			n = index($0, " ") - 1
			if (in_s && n <= length(lvl)) exit
			if ($0 == lvl " " title) { in_s = 1; next }
		}
		in_s { print }
	' "$1"
}

help=$("$cohort" --help) || {
	echo "cannot run '$cohort --help'"
	exit 2
}
for f in "$page1" "$page5" "$page3"; do
	[ -r "$f" ] || {
		echo "cannot read '$f'"
		exit 2
	}
done

# Global options.
globals_doc=$(section "$page1" "#" "GLOBAL OPTIONS")
for o in $(sed -n '1,/^Commands:/p' <<<"$help" | grep -oE -- '--[a-z][a-z-]*' | sort -u); do
	grep -qF -- "*$o*" <<<"$globals_doc" || gap "global option $o (cohort.1, GLOBAL OPTIONS)"
done

# Commands and their options.
commands=$(sed -n '/^Commands:/,/^$/p' <<<"$help" | awk 'NR > 1 && NF { print $1 }')
[ -n "$commands" ] || {
	echo "'$cohort --help' lists no commands"
	exit 2
}
commands_doc=$(section "$page1" "#" "COMMANDS")
for c in $commands; do
	doc=$(section <(printf '%s\n' "$commands_doc") "##" "$c")
	if ! grep -qxF "## $c" <<<"$commands_doc"; then
		gap "command $c (cohort.1: no '## $c' under COMMANDS)"
		continue
	fi
	chelp=$("$cohort" "$c" --help) || {
		gap "command $c ('$cohort $c --help' fails)"
		continue
	}
	for o in $(grep -oE -- '--[a-z][a-z-]*' <<<"$chelp" | sort -u); do
		[ "$o" = --help ] && continue
		grep -qF -- "*$o*" <<<"$doc" || gap "option $c $o (cohort.1, '## $c')"
	done
done
for c in $(sed -n 's/^## //p' <<<"$commands_doc"); do
	grep -qxF "$c" <<<"$commands" || gap "no such command: cohort.1 documents '$c'"
done

# Configuration keys: '  [section] key = default'.
keys=$(sed -nE 's/^  \[([a-z_]+)\] ([a-z_]+) = (.*)$/\1 \2 \3/p' <<<"$help")
[ -n "$keys" ] || {
	echo "'$cohort --help' lists no configuration keys"
	exit 2
}
while read -r sec key def; do
	doc=$(section "$page5" "##" "[$sec]")
	[ "$def" = "(empty)" ] && want="(default: empty)" || want="(default: *$def*)"
	line=$(grep -E "^\*$key\* = " <<<"$doc")
	if [ -z "$line" ]; then
		gap "configuration key [$sec] $key (cohort.conf.5, '## [$sec]')"
	elif ! grep -qF -- "$want" <<<"$line"; then
		gap "default of [$sec] $key: cohort.conf.5 says '${line}', the tool '$def'"
	fi
done <<<"$keys"
cur=""
while IFS= read -r l; do
	case $l in
	"## ["*"]") cur=${l#"## ["}; cur=${cur%]} ;;
	"*"*"* = "*)
		k=${l#\*}; k=${k%%\**}
		grep -qE "^$cur $k " <<<"$keys" ||
			gap "no such key: cohort.conf.5 documents [$cur] $k"
		;;
	esac
done < <(section "$page5" "#" "KEYS")

# Public functions.
for fn in $(cat "$top"/include/cohort/*.h | tr '\n' ' ' |
	grep -oE '(^|[;}/] *)[a-z][a-z0-9_ ]*[ *]cohort_[a-z0-9_]+\(' |
	grep -oE 'cohort_[a-z0-9_]+\($' | tr -d '(' | sort -u); do
	grep -qF -- "*$fn*" "$page3" || gap "function $fn (libcohort.3)"
done

[ $gaps -eq 0 ]
