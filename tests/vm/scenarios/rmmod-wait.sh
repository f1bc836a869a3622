# rmmod --wait: retrying a removal while a module is in use, on the two
# kinds of reference the kernel knows without holders: an open file on a
# module's device (lab_dev) and a module's reference on itself (lab_hold).
# Also the time limit, SIGINT/SIGTERM during a wait (rmmod says so, then
# dies of the signal), and errors that must end a wait at once (a permanent
# module).
#
# kmod 30's rmmod has no --wait: it fails at once with "is in use", which is
# compared where the answer must agree.  kmod 30's own waiting removal,
# `modprobe -r --wait MSEC`, is run on the held lab_dev for the record only
# (the test modules are installed into /lib/modules/$LAB_KVER/extra for it):
# at the time limit it exits 0 with the module still loaded, or, when its
# last sleep overshoots the deadline, spins forever (busy loop in
# get_backoff_delta_msec), hence the `timeout` around it.
. /lab/scenarios/lib.sh

# waiting_dev PID: the line that names the process holding /dev/lab_dev open
# (its children may share the open file: "(shared with pid N (sleep) fd 3)").
waiting_dev() {
	echo "rmmod: waiting for lab_dev: held by pid $1 (sh) fd 3 /dev/lab_dev"
}

# said_waiting_dev PID: OUT_ours is that line, maybe naming children too.
said_waiting_dev() {
	_line=$(waiting_dev "$1")
	case $OUT_ours in
	"$_line" | "$_line (shared with "*")") return 0 ;;
	esac
	return 1
}

dev_refcnt() {
	[ "$(cat /sys/module/lab_dev/refcnt 2>/dev/null)" = "$1" ]
}

# hold_dev MIN_MS WATCH: a background process opens /dev/lab_dev and closes
# it after MIN_MS, but not before WATCH (a file) shows rmmod's waiting line
# (at most 15 s), so a check does not depend on how fast emulation starts
# the tool.  Returns once the kernel counts the reference; HOLDER is its pid.
hold_dev() {
	_min=$1 _watch=$2
	[ -n "$_watch" ] && : >"$_watch"
	(
		exec 3</dev/lab_dev
		uptime_ms _h0
		_i=0
		while [ $_i -lt 150 ]; do
			uptime_ms _h1
			if [ $((_h1 - _h0)) -ge "$_min" ] &&
				{ [ -z "$_watch" ] || grep -q 'waiting for' "$_watch" 2>/dev/null; }; then
				break
			fi
			sleep 0.1
			_i=$((_i + 1))
		done
	) >/dev/null 2>&1 &
	HOLDER=$!
	wait_until 10 dev_refcnt 1 || diag "setup: /dev/lab_dev open but refcnt is $(cat /sys/module/lab_dev/refcnt)"
}

# run_to_file WHO ARGS...: rmmod ARGS in the foreground with its output going
# to /tmp/rmmod.out as it is written (hold_dev watches it); sets OUT_<who>,
# RC_<who>, MS_<who> like run.
run_to_file() {
	_who=$1
	shift
	case $_who in ours) _dir=$OURS ;; kmod) _dir=$KMOD ;; esac
	: >/tmp/rmmod.out
	uptime_ms _t0
	timeout 30 "$_dir/rmmod" "$@" >/tmp/rmmod.out 2>&1
	_rc=$?
	uptime_ms _t1
	eval "OUT_$_who=\$(cat /tmp/rmmod.out) RC_$_who=\$_rc MS_$_who=\$((_t1 - _t0))"
	CMD="rmmod $*"
}

# expect_output DESC EXPECTED: ours printed exactly EXPECTED.
expect_output() {
	if [ "$OUT_ours" = "$2" ]; then
		ok "$1"
	else
		not_ok "$1"
		diag "\$ $CMD (exit $RC_ours, ${MS_ours} ms)" "expected:" "$2" "ours:" "$OUT_ours"
	fi
}

install_lab_modules

# --- an open file holds lab_dev ----------------------------------------------

kload lab_dev
hold_dev 1500 /tmp/rmmod.out
run_to_file ours --wait lab_dev
wait $HOLDER
check "--wait lab_dev: exits 0 once the open file is closed (${MS_ours} ms)" \
	[ "$RC_ours" = 0 ]
check "--wait lab_dev: lab_dev is removed" eval '! is_loaded lab_dev'
if said_waiting_dev "$HOLDER" && [ "$(printf '%s\n' "$OUT_ours" | wc -l)" = 1 ]; then
	ok "--wait lab_dev: says once, after a second, who holds it: '$(waiting_dev "$HOLDER")'"
else
	not_ok "--wait lab_dev: says once, after a second, who holds it: '$(waiting_dev "$HOLDER")'"
	diag "\$ $CMD (exit $RC_ours)" "$OUT_ours"
fi
check "--wait lab_dev: it really waited (at least 1 s: ${MS_ours} ms)" [ "$MS_ours" -ge 1000 ]
kunload lab_dev

# --- lab_hold's reference on itself ------------------------------------------

kload lab_hold hold_ms=1500
run_limited 30 ours rmmod --wait lab_hold
check "--wait lab_hold (self reference for 1.5 s): exits 0 (${MS_ours} ms)" [ "$RC_ours" = 0 ]
check "--wait lab_hold: lab_hold is removed" eval '! is_loaded lab_hold'
# Whether a second of waiting was left after the tool started depends on
# emulation speed; if the line is there it must be this one.
if [ -z "$OUT_ours" ]; then
	ok "--wait lab_hold: silent (the reference went within the first second)"
else
	expect_output "--wait lab_hold: the waiting line counts the self reference, which no source names" \
		"rmmod: waiting for lab_hold: 1 reference not attributed"
fi
kunload lab_hold

# --- the time limit -----------------------------------------------------------

kload lab_hold hold_ms=600000
run_limited 30 ours rmmod --wait=300 lab_hold
check "--wait=300 on a held module: exit 1 (${MS_ours} ms)" [ "$RC_ours" = 1 ]
check "--wait=300: lab_hold is still loaded" is_loaded lab_hold
_re='^rmmod: ERROR: could not remove module lab_hold: still in use after ([0-9]+) ms: refcount 1, from outside modules$'
if printf '%s\n' "$OUT_ours" | head -n 1 | grep -Eq "$_re" &&
	[ "$(printf '%s\n' "$OUT_ours" | sed -n 2p)" = "rmmod: lab_hold: 1 reference not attributed" ] &&
	[ "$(printf '%s\n' "$OUT_ours" | wc -l)" = 2 ]; then
	ok "--wait=300: 'still in use after N ms: refcount 1, from outside modules', then '1 reference not attributed'"
else
	not_ok "--wait=300: 'still in use after N ms: refcount 1, from outside modules', then '1 reference not attributed'"
	diag "ours:" "$OUT_ours"
fi
_after=$(printf '%s\n' "$OUT_ours" | head -n 1 | sed -nE "s/$_re/\\1/p")
check "--wait=300: gave up no earlier than 300 ms (said ${_after:-?} ms)" \
	[ "${_after:-0}" -ge 300 ]

"$KMOD/rmmod" -f lab_hold >/dev/null 2>&1

# --json: the same wait as data: timed out, in use, with its words.
kload lab_hold hold_ms=600000
RUN_TIMEOUT=30 run_json rmmod --wait=300 lab_hold
check "rmmod --json --wait=300: status 1, kind 'timed out', obstacle 'in use', refcount 1" \
	json_has '"status": 1' '"kind": "timed out"' '"obstacle": "in use"' \
	'"module": {"name": "lab_hold", "refcount": 1, "holders": []}' \
	'"words": ["ERROR: could not remove module lab_hold: still in use after ' \
	'"lab_hold: 1 reference not attributed"]' '"removed": []' || diag "$JSON_OUT"
check "rmmod --json --wait=300: lab_hold is still loaded" is_loaded lab_hold
"$KMOD/rmmod" -f lab_hold >/dev/null 2>&1
kload lab_provider
run_json rmmod lab_provider
check "rmmod --json of a free module: status 0, removed, the plan's one target" \
	json_has '"status": 0' '"removed": ["lab_provider"]' \
	'"plan": [{"name": "lab_provider", "reason": "target"}]' '"failures": []' || diag "$JSON_OUT"
check "rmmod --json: lab_provider is gone" eval '! is_loaded lab_provider'
kunload lab_provider

# --- interrupted by a signal --------------------------------------------------

# rmmod runs in the foreground, as from a terminal: a background command of
# this ash (no job control) would start with SIGINT ignored, and a signal
# the caller ignores stays ignored.  A background process sends the signal
# to rmmod alone once rmmod has said it is waiting (a second into the wait,
# its handlers long in place), plus half a second.  rmmod says it was
# interrupted, then dies of the signal (re-raised with the default action),
# so a calling shell sees status 128+N and stops as for any interrupted
# command (signals.sh runs that through bash).

# rmmod_pid: the pid of the running rmmod, if any.
rmmod_pid() {
	for _c in /proc/[0-9]*/comm; do
		if [ "$(cat "$_c" 2>/dev/null)" = rmmod ]; then
			_c=${_c%/comm}
			echo "${_c#/proc/}"
			return 0
		fi
	done
	return 1
}

kload lab_dev
exec 3</dev/lab_dev
for sig in INT TERM; do
	case $sig in INT) want=130 ;; TERM) want=143 ;; esac
	: >/tmp/rmmod.out
	rm -f /tmp/signal.sent
	(
		exec 3<&-
		wait_until 15 grep -q 'waiting for' /tmp/rmmod.out || exit 1
		sleep 0.5
		_pid=$(rmmod_pid) || exit 1
		uptime_ms _ts
		kill -$sig "$_pid" && echo "$_ts" >/tmp/signal.sent
	) >/dev/null 2>&1 &
	sender=$!
	# In a subshell that becomes rmmod: ash reports a job killed by
	# SIGTERM ("Terminated") on its stderr, which must not land in the file.
	(
		exec >/tmp/rmmod.out 2>&1 3<&-
		exec timeout 30 "$OURS/rmmod" --wait lab_dev
	)
	rc=$?
	uptime_ms t1
	wait $sender
	t0=$(cat /tmp/signal.sent 2>/dev/null)
	OUT_ours=$(cat /tmp/rmmod.out) RC_ours=$rc MS_ours=$((t1 - ${t0:-$t1})) CMD="rmmod --wait lab_dev (SIG$sig)"
	check "SIG$sig during --wait: rmmod dies of SIG$sig, status $want ($rc, $MS_ours ms after the signal)" \
		[ "$rc" = $want ]
	expect_output "SIG$sig during --wait: the waiting line naming this shell, then 'interrupted while waiting for lab_dev: refcount 1, from outside modules'" \
		"$(waiting_dev $$)
rmmod: ERROR: interrupted while waiting for lab_dev: refcount 1, from outside modules"
	check "SIG$sig during --wait: lab_dev is still loaded" is_loaded lab_dev
done

# --- what kmod's rmmod says on the same held module ----------------------------

run ours rmmod lab_dev
run kmod rmmod lab_dev
same_as_kmod "without --wait, as kmod: 'Module lab_dev is in use' at once"
diag "kmod rmmod took ${MS_kmod} ms, ours ${MS_ours} ms"

run_limited 3 kmod modprobe -r --wait 300 lab_dev
diag "kmod 30: modprobe -r --wait 300 lab_dev (fd open): exit $RC_kmod after ${MS_kmod} ms$( [ "$RC_kmod" = 143 ] && echo ' (killed by timeout 3)'), lab_dev loaded afterwards: $(is_loaded lab_dev && echo yes || echo no)${OUT_kmod:+, said: $OUT_kmod}"
exec 3<&-
kunload lab_dev

# --- errors other than "in use" end a wait at once ------------------------------

kload lab_perm
run_limited 20 ours rmmod --wait lab_perm
"$KMOD/rmmod" -f lab_perm >/dev/null 2>&1
kload lab_perm
run kmod rmmod lab_perm
"$KMOD/rmmod" -f lab_perm >/dev/null 2>&1
same_as_kmod "--wait on a permanent module: kmod's plain rmmod's error ('Device or resource busy')"
check "--wait on a permanent module: no waiting line, over in ${MS_ours} ms" \
	eval '! printf "%s\n" "$OUT_ours" | grep -q "waiting for" && [ "$MS_ours" -lt 3000 ]'

run_limited 20 ours rmmod --wait lab_nothere
run kmod rmmod lab_nothere
same_as_kmod "--wait on a module that is not loaded: 'is not currently loaded' at once"

finish
