# Shared helpers for scenario scripts (sourced; busybox ash inside the VM).
#
# A scenario emits TAP test lines ("ok N - ..." / "not ok N - ...") and
# "# " diagnostics on stdout; the host harness adds its own final check and
# the plan.  Tools are always called by full path: ours in $OURS, kmod's
# reference tools in $KMOD.  Test modules are in $MODS (/lab/modules).
#
# Typical check:
#   for who in ours kmod; do
#       kload lab_provider                       # known state for each run
#       run $who rmmod lab_provider
#       kunload lab_provider
#   done
#   same_as_kmod "rmmod of an unused module"
#
# run stores the output (stdout+stderr) and exit status per tool, so the
# comparison sees both even though the kernel state was reset in between.

T_N=0
T_FAILED=0

ok() {
	T_N=$((T_N + 1))
	echo "ok $T_N - $*"
}

not_ok() {
	T_N=$((T_N + 1))
	T_FAILED=$((T_FAILED + 1))
	echo "not ok $T_N - $*"
}

# diag TEXT...: each argument, and each line in it, as a TAP diagnostic.
diag() {
	printf '%s\n' "$@" | sed 's/^/#   /'
}

# check DESC COMMAND...: ok if COMMAND succeeds.  Returns COMMAND's verdict,
# so that "check ... || diag ..." says more only when the check failed.
check() {
	_desc=$1
	shift
	if "$@"; then
		ok "$_desc"
	else
		not_ok "$_desc"
		return 1
	fi
}

# todo DESC REASON COMMAND...: a check of behaviour that is wanted but not
# there yet.  TAP's TODO directive: a failure is expected (meson counts it
# as EXPECTEDFAIL and the test still passes); once it passes, meson reports
# UNEXPECTEDPASS, a reminder to turn it into a plain check.  DESC and REASON
# must not contain '#'.
todo() {
	_desc=$1 _why=$2
	shift 2
	T_N=$((T_N + 1))
	if "$@"; then
		echo "ok $T_N - $_desc # TODO $_why"
	else
		echo "not ok $T_N - $_desc # TODO $_why"
	fi
}

# uptime_ms VAR: milliseconds since boot into VAR (from /proc/uptime, in
# 10 ms steps; no fork, so cheap enough around every tool run).
uptime_ms() {
	read _up _idle </proc/uptime
	eval "$1=\$(( \${_up%.*} * 1000 + (1\${_up#*.} - 100) * 10 ))"
}

# wait_until SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds;
# fails after SECONDS.  For states that emulation reaches at uneven speed.
wait_until() {
	_limit=$(($1 * 10))
	shift
	_i=0
	until "$@"; do
		[ $_i -ge $_limit ] && return 1
		sleep 0.1
		_i=$((_i + 1))
	done
}

# has_line TEXT LINE: TEXT has a line equal to LINE.
has_line() {
	printf '%s\n' "$1" | grep -qxF -- "$2"
}

# run WHO TOOL ARGS...: WHO is ours or kmod.  Sets OUT_<who>, RC_<who>,
# MS_<who> (wall time in ms) and CMD (what was run, for diagnostics).  With
# RUN_TIMEOUT set (seconds), the tool is killed after that long (exit 143):
# see run_limited.
run() {
	_who=$1 _tool=$2
	shift 2
	case $_who in
	ours) _dir=$OURS ;;
	kmod) _dir=$KMOD ;;
	*) echo "run: bad tool owner $_who" >&2; return 2 ;;
	esac
	uptime_ms _t0
	# Without fd 3, which scenarios use to hold /dev/lab_dev open: busybox
	# timeout leaves a watcher process behind for up to a second, and that
	# must not keep the device open after the scenario closed it.
	_out=$(${RUN_TIMEOUT:+timeout "$RUN_TIMEOUT"} "$_dir/$_tool" "$@" 2>&1 3<&-)
	_rc=$?
	uptime_ms _t1
	eval "MS_$_who=\$((_t1 - _t0))"
	# libkmod logs its own errors with a source location before the
	# tool's message ("rmmod: ERROR: ../libkmod/libkmod-module.c:856
	# kmod_module_remove_module() could not remove ..."): an artefact of
	# Debian's build, not part of the tools' interface.
	[ "$_who" = kmod ] && _out=$(printf '%s\n' "$_out" | sed '/^[a-z]*: ERROR: \.\.\/libkmod\//d')
	eval "OUT_$_who=\$_out RC_$_who=\$_rc"
	CMD="$_tool $*"
}

# run_limited SECONDS WHO TOOL ARGS...: run, but the tool is killed after
# SECONDS (exit 143): for waiting tools, so that a wait that never ends
# fails a check instead of the whole VM.
run_limited() {
	RUN_TIMEOUT=$1
	shift
	run "$@"
	RUN_TIMEOUT=
}

# show_both: diagnostics with both tools' results of the last runs.
show_both() {
	diag "\$ $CMD"
	diag "ours (exit $RC_ours):"
	diag "$OUT_ours"
	diag "kmod (exit $RC_kmod):"
	diag "$OUT_kmod"
}

# same_as_kmod DESC: ours must exit like kmod and print kmod's text.  Ours
# may append detail after kmod's text (prefix match), but where kmod prints
# nothing ours must print nothing either.
same_as_kmod() {
	if [ "$RC_ours" = "$RC_kmod" ] && output_matches "$OUT_ours" "$OUT_kmod"; then
		ok "$1"
		[ "${LAB_VERBOSE:-0}" = 1 ] && show_both
	else
		not_ok "$1"
		show_both
	fi
	return 0
}

# kmod_then DESC LINE: ours must exit like kmod and print kmod's text, then
# LINE, and nothing else (the cause ours adds after kmod's words).
kmod_then() {
	if [ "$RC_ours" = "$RC_kmod" ] && [ -n "$OUT_kmod" ] && [ "$OUT_ours" = "$OUT_kmod
$2" ]; then
		ok "$1"
		[ "${LAB_VERBOSE:-0}" = 1 ] && show_both
	else
		not_ok "$1"
		show_both
		diag "expected kmod's text, then: $2"
	fi
	return 0
}

output_matches() {
	if [ -z "$2" ]; then
		[ -z "$1" ]
		return
	fi
	case $1 in
	"$2"*) return 0 ;;
	esac
	return 1
}

# --- kernel state, changed with kmod's tools (the reference) -------------

# kload MODULE [PARAMS...]: insmod $MODS/MODULE.ko with kmod's insmod.
kload() {
	_m=$1
	shift
	if ! _o=$("$KMOD/insmod" "$MODS/$_m.ko" "$@" 2>&1); then
		echo "# setup: kmod insmod $_m failed: $_o"
		return 1
	fi
}

# kunload NAME...: remove modules that are loaded; never complains.
kunload() {
	for _m in "$@"; do
		is_loaded "$_m" && "$KMOD/rmmod" "$_m" >/dev/null 2>&1
	done
	return 0
}

# kunload_lab: remove every test module, dependents first.
kunload_lab() {
	kunload lab_user lab_waiter lab_consumer lab_provider lab_params lab_initfail lab_dev \
		lab_hold lab_perm lab_dash lab_slow
}

# run_json TOOL ARGS...: ours with --json: its stdout alone in JSON_OUT (the
# words on stderr are left out), its exit status in JSON_RC.
run_json() {
	_tool=$1
	shift
	JSON_OUT=$(${RUN_TIMEOUT:+timeout "$RUN_TIMEOUT"} "$OURS/$_tool" --json "$@" 2>/dev/null 3<&-)
	JSON_RC=$?
	CMD="$_tool --json $*"
}

# json_has TEXT...: JSON_OUT is one line holding one object, and holds each
# TEXT, a member as our writer prints it ('"status": 0').  The guest has no
# JSON parser (busybox, bash): the unit tests parse the same output whole.
json_has() {
	[ "$(printf '%s\n' "$JSON_OUT" | wc -l)" = 1 ] || return 1
	case $JSON_OUT in
	"{"*"}") ;;
	*) return 1 ;;
	esac
	for _t in "$@"; do
		case $JSON_OUT in
		*"$_t"*) ;;
		*) return 1 ;;
		esac
	done
}

# words LIST: the words of LIST sorted, on one line.
words() {
	printf '%s\n' $1 | sort | tr '\n' ' ' | sed 's/ $//'
}

# loaded_of LIST: the modules of LIST that are loaded, sorted.
loaded_of() {
	_l=
	for _m in $1; do
		is_loaded "$_m" && _l="$_l $_m"
	done
	words "$_l"
}

# expect_left DESC LIST EXPECTED: of the modules in LIST, exactly EXPECTED
# are loaded; on failure, the last run command and its output ($CMD,
# $RC_ours, $OUT_ours).
expect_left() {
	_got=$(loaded_of "$2")
	if [ "$_got" = "$(words "$3")" ]; then
		ok "$1: left loaded of them: ${_got:-none}"
	else
		not_ok "$1: left loaded of them: $(words "$3")"
		diag "loaded: ${_got:-none}" "\$ $CMD (exit $RC_ours)" "$OUT_ours"
	fi
}

# loaded_modules: names of all loaded (not built-in) modules.
loaded_modules() {
	for _f in /sys/module/*/initstate; do
		[ -e "$_f" ] || continue
		_f=${_f%/initstate}
		echo "${_f##*/}"
	done
}

# snapshot / restore: restore removes every module loaded since snapshot,
# so a run that loaded something (rightly or wrongly) leaves the same state
# for the next tool.  Dependents are not known here: retry in rounds.
snapshot() {
	SNAPSHOT=$(loaded_modules)
}

restore() {
	for _round in 1 2 3 4; do
		_left=0
		for _m in $(loaded_modules); do
			case "
$SNAPSHOT
" in *"
$_m
"*) continue ;; esac
			"$KMOD/rmmod" "$_m" >/dev/null 2>&1 || _left=1
		done
		[ $_left -eq 0 ] && return 0
	done
	echo "# restore: could not remove: $(loaded_modules | tr '\n' ' ')"
	return 1
}

# install_lab_modules: copy the test modules to /lib/modules/$LAB_KVER/extra
# and run kmod's depmod, as `make modules_install` would: modules.dep then
# lists them, so kmod's modprobe can load and remove them by name.
install_lab_modules() {
	mkdir -p "/lib/modules/$LAB_KVER/extra"
	for _m in lab_provider lab_consumer lab_dev lab_hold lab_perm lab_user; do
		cp "$MODS/$_m.ko" "/lib/modules/$LAB_KVER/extra/"
	done
	"$KMOD/depmod" -a || echo "# setup: depmod -a failed"
}

# is_loaded NAME: a loaded module has /sys/module/NAME/initstate (built-in
# ones may have /sys/module/NAME but never initstate).
is_loaded() {
	[ -e "/sys/module/$1/initstate" ]
}

# param NAME PARAM: what the kernel holds for a module parameter.
param() {
	cat "/sys/module/$1/parameters/$2" 2>/dev/null
}

# finish: the scenario's exit status is 1 when a check failed.
finish() {
	[ "$T_FAILED" -eq 0 ]
}
