# bash completion for cohort(1) -*- shell-script -*-
#
# Installed as share/bash-completion/completions/cohort, where
# bash-completion loads it the first time 'cohort' is completed.
#
# Commands and options come from the tool's own --help ('cohort --help',
# 'cohort COMMAND --help'), so a new command or option completes without a
# change here.  Package ids come from 'cohort list --json', node ids from
# 'cohort status --json', run with the --root/--node/--state given on the
# command line so far (or COHORT_ROOT... from the environment).  Works with
# bash-completion loaded (ids with ':' complete whole) and without it.

# _cohort_tool ARGS...: the cohort being completed, with the global options
# typed so far; its errors go nowhere.
_cohort_tool()
{
	local tool=${words[0]}
	tool=${tool/#\~/$HOME}
	[[ $tool == */* && -x $tool ]] || tool=cohort
	"$tool" "${_cohort_globals[@]}" "$@" 2>/dev/null
}

# _cohort_json_field FIELD: the string values of FIELD in JSON on stdin.
_cohort_json_field()
{
	grep -oE "\"$1\":\"[^\"]*\"" | sed -E "s/^\"$1\":\"(.*)\"\$/\\1/"
}

_cohort_package_ids()
{
	local ns=()
	[[ -n $_cohort_ns ]] && ns=(--namespace "$_cohort_ns")
	_cohort_tool list "${ns[@]}" --json | _cohort_json_field id | sort -u
}

_cohort_namespaces()
{
	_cohort_tool list --json | _cohort_json_field namespace | sort -u
}

_cohort_node_ids()
{
	# The "id" of each object of the "nodes" array, found by bracket depth
	# (strings skipped): node objects hold arrays of their own.
	_cohort_tool status --json | awk '
	{
		i = index($0, "\"nodes\":[")
		if (!i) next
		s = substr($0, i + 8); depth = 0; instr = 0; out = ""
		for (k = 1; k <= length(s); k++) {
			c = substr(s, k, 1)
			out = out c
			if (instr) {
				if (c == "\\") { k++; out = out substr(s, k, 1) }
				else if (c == "\"") instr = 0
			} else if (c == "\"") instr = 1
			else if (c == "[" || c == "{") depth++
			else if (c == "]" || c == "}") { if (--depth == 0) break }
		}
		print out
	}' | _cohort_json_field id
}

# _cohort_reply WORDS...: COMPREPLY from the words that start with $cur.
_cohort_reply()
{
	local w
	COMPREPLY=()
	for w in "$@"; do
		[[ $w == "$cur"* ]] && COMPREPLY+=("$w")
	done
	# With bash-completion, ':' splits words: keep only what follows the
	# last ':' of $cur, as bash will put it after that.
	if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
		local colon=${cur%"${cur##*:}"} i
		for i in "${!COMPREPLY[@]}"; do
			COMPREPLY[i]=${COMPREPLY[i]#"$colon"}
		done
	fi
}

_cohort()
{
	local cur prev words cword
	if declare -F _get_comp_words_by_ref >/dev/null; then
		_get_comp_words_by_ref -n =: cur prev words cword
	else
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
		cur=${words[cword]}
		prev=${words[cword - 1]}
	fi
	COMPREPLY=()

	# The global options typed so far, the command and its namespace.
	local _cohort_globals=() _cohort_ns="" cmd="" cmd_at=0 i w
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		case $w in
		--root | --node | --state)
			[[ -z $cmd ]] && ((i + 1 < cword)) &&
				_cohort_globals+=("$w" "${words[i + 1]}")
			((i++))
			;;
		--root=* | --node=* | --state=*)
			[[ -z $cmd ]] && _cohort_globals+=("$w")
			;;
		--namespace)
			_cohort_ns=${words[i + 1]}
			((i++))
			;;
		--namespace=*) _cohort_ns=${w#*=} ;;
		-*) ;;
		*)
			if [[ -z $cmd ]]; then
				cmd=$w
				cmd_at=$i
			fi
			;;
		esac
	done

	# The value of an option.
	case $prev in
	--root | --state | --materialize)
		COMPREPLY=($(compgen -d -- "$cur"))
		return 0
		;;
	--node)
		_cohort_reply $(_cohort_node_ids)
		return 0
		;;
	--namespace)
		_cohort_reply $(_cohort_namespaces)
		return 0
		;;
	--id)
		_cohort_reply $(_cohort_package_ids)
		return 0
		;;
	--exec | --exec-snapshot)
		COMPREPLY=($(compgen -c -- "$cur"))
		return 0
		;;
	--type | --priority | --from | --limit | --poll-ms | --every | \
		--retire-after | --grace | --offset | --length | --version)
		[[ -n $cmd ]] && return 0
		;;
	esac

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			_cohort_reply $(_cohort_tool --help |
				sed -n '1,/^Commands:/p' |
				grep -oE -- '--[a-z][a-z-]*' | sort -u)
		else
			_cohort_reply $(_cohort_tool --help |
				sed -n '/^Commands:/,/^$/p' |
				awk 'NR > 1 && NF { print $1 }')
		fi
		return 0
	fi

	if [[ $cur == -* ]]; then
		# The options of its usage lines and the first word of its option
		# lines ("  --opt ARG  what it does"), not those its prose
		# mentions ("'cohort fsck --repair'", "with --node").
		_cohort_reply $(_cohort_tool "$cmd" --help | awk '
			/^usage:/ { u = 1; print; next }
			u && /^ / { print; next }
			{ u = 0 }
			/^  +--[a-z]/ { print $1 }' |
			grep -oE -- '--[a-z][a-z-]*' | sort -u)
		return 0
	fi

	# Operands: count those before the cursor.
	local nargs=0
	for ((i = cmd_at + 1; i < cword; i++)); do
		case ${words[i]} in
		--namespace | --exec | --exec-snapshot | --materialize | --type | \
			--priority | --from | --limit | --poll-ms | --every | \
			--retire-after | --grace | --offset | --length | --version | \
			--id)
			((i++))
			;;
		--) return 0 ;; # run-once: the command's own words
		-*) ;;
		*) ((nargs++)) ;;
		esac
	done
	case $cmd in
	uninstall | cat)
		((nargs == 0)) && _cohort_reply $(_cohort_package_ids)
		;;
	install)
		COMPREPLY=($(compgen -f -- "$cur"))
		;;
	materialize)
		((nargs == 0)) && COMPREPLY=($(compgen -d -- "$cur"))
		;;
	snapshot)
		if ((nargs == 0)); then
			_cohort_reply put get
		elif [[ ${words[cmd_at + 1]} == put ]] && ((nargs == 1)); then
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		;;
	esac
	return 0
}
complete -F _cohort cohort
