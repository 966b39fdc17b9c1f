#!/usr/bin/env bash
# tests/cluster/completion.sh - bash completion (completion/cohort.bash) on a
# real cluster of two nodes on two bindfs views.
#
# With bash-completion loaded as an interactive shell has it, the file is
# sourced and _cohort is called as bash calls it (COMP_WORDS split at
# COMP_WORDBREAKS, COMP_CWORD, COMP_LINE, COMP_POINT); COMPREPLY must hold:
# 1. the commands of 'cohort --help', and the global options;
# 2. the options of a command ('cohort sync --help');
# 3. the node ids of 'status --json' after --node;
# 4. the package ids of 'list --json' for uninstall and cat, also ids with
#    a ':' typed half (bash splits the word there), also restricted by
#    --namespace, also with the root from COHORT_ROOT; namespaces after
#    --namespace; put/get after snapshot; folders after materialize.
#
# BUILD=build bash tests/cluster/completion.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/cluster/lib.sh
. "$HERE/lib.sh"
need_prog "$COHORT" "the cohort tool"
BC=/usr/share/bash-completion/bash_completion
[ -r "$BC" ] || tap_bail "bash-completion is installed ($BC; scripts/deps.sh)"
command -v zip >/dev/null 2>&1 || tap_bail "zip is installed (scripts/deps.sh)"
cluster_setup 2
node_bind a 1
node_bind b 2

node_cohort a init >/dev/null || tap_bail "init"
node_cohort a join >/dev/null || tap_bail "join a"
node_cohort b join >/dev/null || tap_bail "join b"
mkdir -p "$T/work/pkg" "$T/work/plugins"
echo content >"$T/work/pkg/x.txt"
(cd "$T/work/pkg" && zip -qX ../x.zip x.txt) || tap_bail "zip"
node_cohort a install --id org.example:foo --version 1.0 "$T/work/x.zip" >/dev/null ||
	tap_bail "install org.example:foo"
node_cohort b install --namespace ns1 --id bar --version 2 "$T/work/x.zip" >/dev/null ||
	tap_bail "install bar in ns1"
R=$(node_root a)

# shellcheck disable=SC1090
. "$BC"
# shellcheck source=completion/cohort.bash
. "$CLUSTER_TOP/completion/cohort.bash"
tap_is "the file registers _cohort for cohort" "$(complete -p cohort)" "complete -F _cohort cohort"

# comp LINE: what bash offers at the end of LINE (LINE split into words
# at blanks and at COMP_WORDBREAKS characters, as bash does), sorted, on
# one line.
comp() {
	local line=$1 w
	COMP_LINE=$line
	COMP_POINT=${#line}
	COMP_WORDS=()
	# Blanks separate words; each of COMP_WORDBREAKS's ':' '=' is a word.
	for w in $(sed -E 's/([:=])/ \1 /g' <<<"$line"); do
		COMP_WORDS+=("$w")
	done
	[[ $line == *" " || $line == *":" || $line == *"=" ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_cohort cohort "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}

cd "$T/work" || tap_bail "cd"
want=$("$COHORT" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }' | sort | tr '\n' ' ' | sed 's/ $//')
tap_is "commands" "$(comp "$COHORT ")" "$want"
tap_is "commands, with cohort found on PATH" "$(PATH=$BUILD:$PATH comp "cohort ")" "$want"
tap_is "a command by its start" "$(comp "$COHORT --root $R st")" "status"
tap_is "global options" "$(comp "$COHORT --")" "--help --node --root --state --version"
tap_is "options of janitor" "$(comp "$COHORT --root $R janitor --")" "--dry-run --json --retire-after"
# sync's: those of its usage line, not those its prose mentions.
want=$("$COHORT" sync --help | sed -n '1,/^[^ u]/p' | grep -oE -- '--[a-z][a-z-]*' | sort -u | tr '\n' ' ' | sed 's/ $//')
tap_is "options of sync (its usage lines)" "$(comp "$COHORT --root $R sync --")" "$want"
tap_is "options of sync by their start" "$(comp "$COHORT --root $R sync --exec-")" "--exec-batch --exec-snapshot"
tap_is "node ids after --node" "$(comp "$COHORT --root $R --node ")" "a b"
tap_is "package ids for uninstall" "$(comp "$COHORT --root $R uninstall ")" "bar org.example:foo"
tap_is "package ids for cat, by their start" "$(comp "$COHORT --root $R cat org")" "org.example:foo"
tap_is "a package id with ':' typed half" "$(comp "$COHORT --root $R cat org.example:f")" "foo"
tap_is "package ids of a namespace and the root namespace" \
	"$(comp "$COHORT --root $R uninstall --namespace ns1 ")" "bar org.example:foo"
tap_is "package ids with the root from COHORT_ROOT" \
	"$(COHORT_ROOT=$R comp "$COHORT cat ")" "bar org.example:foo"
tap_is "no package id for a second operand" "$(comp "$COHORT --root $R cat bar ")" ""
tap_is "namespaces after --namespace" "$(comp "$COHORT --root $R install --namespace ")" "ns1"
tap_is "snapshot put and get" "$(comp "$COHORT --root $R snapshot ")" "get put"
tap_is "folders for materialize" "$(comp "$COHORT --root $R materialize plu")" "plugins"
tap_is "nothing after run-once's --" "$(comp "$COHORT --root $R run-once j -- ")" ""
[ $TAP_FAILED -eq 0 ]
