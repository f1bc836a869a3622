# lsmod --trace: a process opens and closes /dev/lab_dev while ours traces
# lab_dev; the trace must show the get (+1, misc_open) and the put (-1,
# __fput) with the opener's pid and command and the refcounts /proc/modules
# showed, and ours must leave tracing as it found it: no instance of its
# own in tracefs, the module events at the top level as they were, and
# tracefs unmounted again when it was not mounted before (SIGINT) or still
# mounted when it was (SIGTERM).  Then lab_dev and lab_provider removed
# while traced (ours exits 0 by itself, "removed" for each), a module that
# is not loaded, and a user who may not trace.  kmod has no --trace: ours
# alone is checked.
#
# The opener runs as a copy of busybox called "busybox-my cat" (busybox
# runs the applet named by its first argument when its own name starts
# with "busybox"): a comm with a dash and a space, which the trace line
# prints as "busybox-my cat-PID".
. /lab/scenarios/lib.sh

TRACEFS=/sys/kernel/tracing
OPENER="/tmp/busybox-my cat"
cp /bin/busybox "$OPENER"

tracefs_mounted() {
	grep -q " $TRACEFS .* - tracefs " /proc/self/mountinfo
}

# instances_left: our instances in tracefs (mounting it for a look when it
# is not mounted), "none" when there are none.
instances_left() {
	_mounted_here=
	if ! tracefs_mounted; then
		mount -t tracefs nodev "$TRACEFS" || { echo "cannot mount tracefs"; return; }
		_mounted_here=1
	fi
	_left=$(ls "$TRACEFS/instances" | grep '^modload-' | tr '\n' ' ')
	echo "${_left:-none}"
	[ -n "$_mounted_here" ] && umount "$TRACEFS"
}

# top_enables: the top-level enable of each module event, e.g. "0 0 0".
top_enables() {
	_mounted_here=
	if ! tracefs_mounted; then
		mount -t tracefs nodev "$TRACEFS" || { echo "cannot mount tracefs"; return; }
		_mounted_here=1
	fi
	echo $(cat "$TRACEFS/events/module/module_get/enable" \
		"$TRACEFS/events/module/module_put/enable" \
		"$TRACEFS/events/module/module_free/enable")
	[ -n "$_mounted_here" ] && umount "$TRACEFS"
}

refcount_of() {
	awk -v m="$1" '$1 == m { print $3 }' /proc/modules
}

tracer_running() {
	[ -s /tmp/tracer.pid ] && kill -0 "$(cat /tmp/tracer.pid)" 2>/dev/null
}

# trace_open_close SIG: ours traces lab_dev in the foreground (so that
# SIGINT is not ignored, see README); a helper in the background waits for
# its first line, has the opener open /dev/lab_dev, notes /proc/modules'
# refcount while it is open and after it is closed, waits for both events in
# the output and sends SIG.  Sets RC, OUT, ERR, OPENER_PID, REF_OPEN,
# REF_CLOSED, ELAPSED.
trace_open_close() {
	rm -f /tmp/tracer.pid /tmp/opener.pid /tmp/opener.go /tmp/helper.note
	: >/tmp/trace.out
	: >/tmp/trace.err
	(
		exec 3<&-
		if ! wait_until 30 grep -q 'tracing lab_dev' /tmp/trace.err; then
			echo "ours never said it was tracing" >>/tmp/helper.note
		fi
		"$OPENER" sh -c 'echo $$ >/tmp/opener.pid; exec 3</dev/lab_dev
			while [ ! -e /tmp/opener.go ]; do sleep 0.05; done
			exec 3<&-' &
		_opener=$!
		wait_until 10 eval '[ "$(refcount_of lab_dev)" = 1 ]' ||
			echo "lab_dev never seen open" >>/tmp/helper.note
		refcount_of lab_dev >/tmp/ref.open
		cat $TRACEFS/instances/modload-lsmod-*/buffer_percent >/tmp/buffer_percent 2>&1
		touch /tmp/opener.go
		wait $_opener
		refcount_of lab_dev >/tmp/ref.closed
		wait_until 10 grep -q ' -1 ' /tmp/trace.out ||
			echo "no -1 line within 10 s" >>/tmp/helper.note
		kill -"$1" "$(cat /tmp/tracer.pid)"
	) >/dev/null 2>&1 &
	_helper=$!
	uptime_ms _t0
	timeout 60 sh -c 'echo $$ >/tmp/tracer.pid; exec "$0" --trace lab_dev' "$OURS/lsmod" \
		>/tmp/trace.out 2>/tmp/trace.err 3<&-
	RC=$?
	uptime_ms _t1
	wait $_helper
	ELAPSED=$((_t1 - _t0))
	OUT=$(cat /tmp/trace.out)
	ERR=$(cat /tmp/trace.err)
	OPENER_PID=$(cat /tmp/opener.pid 2>/dev/null)
	REF_OPEN=$(cat /tmp/ref.open 2>/dev/null)
	REF_CLOSED=$(cat /tmp/ref.closed 2>/dev/null)
	diag "lsmod --trace lab_dev, $1 after $ELAPSED ms: exit $RC; opener pid $OPENER_PID;" \
		"/proc/modules refcount while open: $REF_OPEN, after close: $REF_CLOSED" \
		"stdout:" "$OUT" "stderr:" "$ERR"
	[ -e /tmp/helper.note ] && diag "helper: $(cat /tmp/helper.note)"
	return 0
}

# check_open_close LABEL STATUS: the checks on what trace_open_close saw.
# STATUS: the exit status ours must have after the signal.
check_open_close() {
	check "$1: exit status $2 ($RC)" [ "$RC" = "$2" ]
	check "$1: first line on stderr says what is traced" \
		[ "$(printf '%s\n' "$ERR" | head -n 1)" = "lsmod: tracing lab_dev (Ctrl-C to stop)" ]
	check "$1: nothing else on stderr" [ "$(printf '%s\n' "$ERR" | wc -l)" = 1 ]
	check "$1: /proc/modules showed refcount 1 while open and 0 after" \
		[ "$REF_OPEN/$REF_CLOSED" = 1/0 ]
	check "$1: +1 line: refcount as /proc/modules showed it, the opener's pid and command, misc_open" \
		has_line "$(printf '%s\n' "$OUT" | sed 's/^[0-9]*\.[0-9]\{6\} //')" \
		"lab_dev +1 refcount $REF_OPEN pid $OPENER_PID (busybox-my cat) misc_open"
	check "$1: -1 line: refcount as /proc/modules showed it, the opener's pid and command, __fput" \
		has_line "$(printf '%s\n' "$OUT" | sed 's/^[0-9]*\.[0-9]\{6\} //')" \
		"lab_dev -1 refcount $REF_CLOSED pid $OPENER_PID (busybox-my cat) __fput"
	check "$1: exactly those two lines, +1 first, each with a time" eval \
		'[ "$(printf "%s\n" "$OUT" | wc -l)" = 2 ] &&
		 printf "%s\n" "$OUT" | head -n 1 | grep -q "^[0-9]*\.[0-9]\{6\} lab_dev +1 " &&
		 printf "%s\n" "$OUT" | tail -n 1 | grep -q "^[0-9]*\.[0-9]\{6\} lab_dev -1 "'
	check "$1: no instance of ours left in tracefs ($(instances_left))" \
		[ "$(instances_left)" = none ]
}

kload lab_dev
kload lab_provider

# --- tracefs not mounted: ours mounts it, and unmounts it at the end --------------

if tracefs_mounted; then
	diag "setup: tracefs was mounted at boot; unmounting it for the first case"
	umount "$TRACEFS"
fi
ENABLES_BEFORE=$(top_enables)
trace_open_close INT
check_open_close "SIGINT, tracefs not mounted before" 0
check "SIGINT: tracefs is unmounted again" eval '! tracefs_mounted'
check "SIGINT: the top-level module events are as before ($ENABLES_BEFORE)" \
	[ "$(top_enables)" = "$ENABLES_BEFORE" ]

# --- tracefs mounted: ours uses it and leaves it mounted -------------------------

mount -t tracefs nodev "$TRACEFS"
ENABLES_BEFORE=$(top_enables)
trace_open_close TERM
check_open_close "SIGTERM, tracefs mounted before" 0
check "SIGTERM: tracefs is still mounted" tracefs_mounted
check "SIGTERM: the top-level module events are as before ($ENABLES_BEFORE)" \
	[ "$(top_enables)" = "$ENABLES_BEFORE" ]
diag "$LAB_KVER: buffer_percent of ours' instance while tracing: $(cat /tmp/buffer_percent)"

# The kernel's own line, from an instance of the scenario's: refcnt is the
# counter with the base reference, one more than /proc/modules shows.
RAW=$TRACEFS/instances/scenario-raw
mkdir "$RAW"
for e in module_get module_put; do
	echo 'name == "lab_dev"' >"$RAW/events/module/$e/filter"
	echo 1 >"$RAW/events/module/$e/enable"
done
"$OPENER" sh -c 'exec 3</dev/lab_dev; awk -v m=lab_dev '"'"'$1 == m { print $3 }'"'"' /proc/modules >/tmp/ref.raw'
for e in module_get module_put; do echo 0 >"$RAW/events/module/$e/enable"; done
RAW_LINES=$(grep -v '^#' "$RAW/trace")
rmdir "$RAW"
diag "$LAB_KVER: the kernel's lines (/proc/modules refcount while open: $(cat /tmp/ref.raw)):" "$RAW_LINES"
check "the kernel's module_get line says refcnt=2 while /proc/modules says 1" eval \
	'[ "$(cat /tmp/ref.raw)" = 1 ] && printf "%s\n" "$RAW_LINES" | grep -q "module_get: lab_dev call_site=misc_open refcnt=2$"'
check "the kernel's module_put line says refcnt=1 after the close (/proc/modules: 0)" \
	eval 'printf "%s\n" "$RAW_LINES" | grep -q "module_put: lab_dev call_site=__fput refcnt=1$"'
umount "$TRACEFS"

# --- the traced modules are removed: ours ends by itself -------------------------

rm -f /tmp/tracer.pid
: >/tmp/trace.err
sh -c 'echo $$ >/tmp/tracer.pid; exec "$0" --trace lab_dev lab_provider' "$OURS/lsmod" \
	>/tmp/trace.out 2>/tmp/trace.err 3<&- &
TRACER=$!
wait_until 30 grep -q 'tracing lab_dev lab_provider' /tmp/trace.err ||
	diag "ours never said it was tracing: $(cat /tmp/trace.err)"
"$KMOD/rmmod" lab_dev
sleep 0.5
"$KMOD/rmmod" lab_provider
uptime_ms t0
wait_until 20 eval '! tracer_running'
uptime_ms t1
if tracer_running; then
	kill -TERM "$TRACER"
	diag "ours was still running 20 s after the modules were removed"
fi
wait $TRACER
RC=$?
OUT=$(cat /tmp/trace.out)
ERR=$(cat /tmp/trace.err)
diag "lsmod --trace lab_dev lab_provider, both removed: exit $RC, $((t1 - t0)) ms after the last rmmod" \
	"stdout:" "$OUT" "stderr:" "$ERR"
check "modules removed while traced: ours exits 0 by itself ($RC)" [ "$RC" = 0 ]
check "modules removed: 'lab_dev: removed' then 'lab_provider: removed', nothing else" \
	[ "$OUT" = "lab_dev: removed
lab_provider: removed" ]
check "modules removed: tracefs is unmounted again" eval '! tracefs_mounted'
check "modules removed: no instance of ours left in tracefs ($(instances_left))" \
	[ "$(instances_left)" = none ]

# --- a module that is not loaded, and a user who may not trace --------------------

kload lab_dev
run ours lsmod --trace lab_dev lab_nope
check "a module not loaded: exit 1, kmod's words for it, nothing traced" \
	eval '[ "$RC_ours" = 1 ] && [ "$OUT_ours" = "lsmod: ERROR: Module lab_nope is not currently loaded" ]'
[ "$RC_ours" = 1 ] || diag "ours (exit $RC_ours):" "$OUT_ours"
check "a module not loaded: tracefs not mounted" eval '! tracefs_mounted'

echo 'root:x:0:0:root:/root:/bin/sh' >/etc/passwd
echo 'lab:x:1000:1000:lab:/tmp:/bin/sh' >>/etc/passwd
echo 'root:x:0:' >/etc/group
echo 'lab:x:1000:' >>/etc/group
for mounted in no yes; do
	[ $mounted = yes ] && mount -t tracefs nodev "$TRACEFS"
	OUT_ours=$(su lab -s /bin/sh -c '"$0" --trace lab_dev' "$OURS/lsmod" 2>&1 3<&-)
	RC_ours=$?
	diag "uid 1000, tracefs mounted: $mounted: exit $RC_ours:" "$OUT_ours"
	check "uid 1000, tracefs mounted: $mounted: exit 1 with an error naming what failed" eval \
		'[ "$RC_ours" = 1 ] && printf "%s\n" "$OUT_ours" | head -n 1 |
		 grep -q "^lsmod: ERROR: could not start tracing: .*/sys/kernel/tracing"'
	check "uid 1000, tracefs mounted: $mounted: says tracing needs root" \
		has_line "$OUT_ours" "lsmod: tracing needs root"
	if [ $mounted = yes ]; then
		check "uid 1000: tracefs still mounted, no instance ($(instances_left))" \
			eval 'tracefs_mounted && [ "$(instances_left)" = none ]'
		umount "$TRACEFS"
	else
		check "uid 1000: tracefs not mounted" eval '! tracefs_mounted'
	fi
done
kunload lab_dev lab_provider

finish
