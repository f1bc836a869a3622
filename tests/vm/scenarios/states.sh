# rmmod while the module's state changes underneath: a module still in its
# init (Loading), with and without --wait; `-w MSEC` (a separate word of
# digits is the time limit, as in kmod's `modprobe -w MSEC`) on a module
# held open and on a free one; `-w -r` on lab_waiter, which holds itself for
# a while, when its dependency lab_dev gains a user of its own during the
# wait (lab_dev must be kept, not waited for); and `--wait` while other
# processes keep opening and closing /dev/lab_dev.
#
# The kernel: a module in its init has a reference held for the init
# (/proc/modules shows refcount 1, "Loading", taints with "+");
# delete_module refuses it with EBUSY, whatever the refcount.  kmod 30's
# rmmod reads the refcount first and says "Module NAME is in use".
. /lab/scenarios/lib.sh

SLOW=$MODS/lab_slow.ko

proc_line() {
	grep "^$1 " /proc/modules
}

is_state() {
	proc_line "$1" | grep -q " $2 "
}

first_line() {
	printf '%s\n' "$1" | head -n 1
}

# has_text TEXT WORDS: some line of TEXT contains WORDS.
has_text() {
	printf '%s\n' "$1" | grep -qF -- "$2"
}

# loading_start: kmod's insmod of lab_slow init_ms=3000 in the background
# (INSMOD), until /proc/modules shows it Loading.
loading_start() {
	kunload lab_slow
	"$KMOD/insmod" "$SLOW" init_ms=3000 >/tmp/insmod.out 2>&1 &
	INSMOD=$!
	wait_until 10 is_state lab_slow Loading || diag "setup: lab_slow never seen Loading"
}

# --- rmmod of a module that is still initializing ---------------------------------

loading_start
diag "$LAB_KVER: /proc/modules while lab_slow's init runs:" "$(proc_line lab_slow)" \
	"/sys/module/lab_slow: initstate $(cat /sys/module/lab_slow/initstate), refcnt $(cat /sys/module/lab_slow/refcnt)"
run kmod rmmod lab_slow
_state=$(proc_line lab_slow)
wait $INSMOD
diag "kmod 30: rmmod of the Loading module: exit $RC_kmod: $OUT_kmod" "  (then: $_state)"
KMOD_FIRST=$(first_line "$OUT_kmod")
check "kmod's rmmod of a Loading module: 'rmmod: ERROR: Module lab_slow is in use'" \
	[ "$KMOD_FIRST" = "rmmod: ERROR: Module lab_slow is in use" ]

loading_start
run ours rmmod lab_slow
wait $INSMOD
INSMOD_RC=$?
check "rmmod of a Loading module: exit 1" [ "$RC_ours" = 1 ]
if [ "$(first_line "$OUT_ours")" = "rmmod: ERROR: Module lab_slow is in use" ] &&
	[ "$(first_line "$OUT_ours")" = "$KMOD_FIRST" ]; then
	ok "rmmod of a Loading module: first line is kmod's, 'rmmod: ERROR: Module lab_slow is in use'"
else
	not_ok "rmmod of a Loading module: first line is kmod's, 'rmmod: ERROR: Module lab_slow is in use'"
	show_both
fi
if has_text "$OUT_ours" "still initializing"; then
	ok "rmmod of a Loading module: a line says it is 'still initializing'"
else
	not_ok "rmmod of a Loading module: a line says it is 'still initializing'"
	diag "ours:" "$OUT_ours"
fi
check "rmmod of a Loading module: the insmod still succeeds, lab_slow stays" \
	eval '[ "$INSMOD_RC" = 0 ] && is_state lab_slow Live'

loading_start
run_limited 30 ours rmmod --wait=20000 lab_slow
wait $INSMOD
INSMOD_RC=$?
check "--wait=20000 on a Loading module: exit 0 once it is Live and removed (${MS_ours} ms)" \
	[ "$RC_ours" = 0 ]
[ "$RC_ours" = 0 ] || diag "ours:" "$OUT_ours"
check "--wait=20000 on a Loading module: lab_slow is gone" eval '! is_loaded lab_slow'
check "--wait=20000 on a Loading module: the background insmod exited 0 ($INSMOD_RC)" \
	[ "$INSMOD_RC" = 0 ]
kunload lab_slow

# --- -w MSEC: a separate word of digits is the time limit ----------------------------

kload lab_dev
exec 3</dev/lab_dev
run_limited 20 ours rmmod -w 2000 lab_dev
exec 3<&-
check "-w 2000 lab_dev held open: exit 1 (${MS_ours} ms)" [ "$RC_ours" = 1 ]
check "-w 2000: gave up after about 2 s (1800-10000 ms: ${MS_ours} ms)" \
	[ "$MS_ours" -ge 1800 -a "$MS_ours" -lt 10000 ]
if has_text "$OUT_ours" "still in use after"; then
	ok "-w 2000: says 'still in use after'"
else
	not_ok "-w 2000: says 'still in use after'"
	diag "ours:" "$OUT_ours"
fi
check "-w 2000: lab_dev is still loaded" is_loaded lab_dev
if has_text "$OUT_ours" "Module 2000 is not currently loaded"; then
	not_ok "-w 2000: 2000 is not taken for a module name"
	diag "ours:" "$OUT_ours"
else
	ok "-w 2000: 2000 is not taken for a module name"
fi

run_limited 20 ours rmmod -w 2000 lab_dev
check "-w 2000 lab_dev, free: exit 0 (${MS_ours} ms)" [ "$RC_ours" = 0 ]
[ "$RC_ours" = 0 ] || diag "ours:" "$OUT_ours"
check "-w 2000 lab_dev, free: lab_dev is gone" eval '! is_loaded lab_dev'
kunload lab_dev

# --- -w -r: a dependency that gains a user during the wait is kept ------------------

# lab_waiter holds itself for 3 s (long enough for ours to start and say it
# is waiting, under emulation on a loaded machine); lab_dev is its
# dependency.  Once ours waits, a background process opens /dev/lab_dev and
# keeps it open for 20 s (or until killed): ours must remove lab_waiter when
# its hold ends and then keep lab_dev, without waiting for the open file.
kload lab_dev
kload lab_waiter hold_ms=3000
: >/tmp/rmmod.out
uptime_ms t0
timeout 30 "$OURS/rmmod" -w -r -v lab_waiter >/tmp/rmmod.out 2>&1 &
RMMOD=$!
if wait_until 10 grep -q 'waiting for' /tmp/rmmod.out; then
	_when="after ours said it was waiting"
else
	_when="without ours saying it was waiting (its output: $(cat /tmp/rmmod.out))"
fi
sleep 20 4</dev/lab_dev &
HOLDER=$!
uptime_ms t_open
wait $RMMOD
RC_ours=$?
uptime_ms t1
OUT_ours=$(cat /tmp/rmmod.out)
_dev_refcnt=$(cat /sys/module/lab_dev/refcnt 2>/dev/null)
diag "/dev/lab_dev opened $((t_open - t0)) ms after ours started, $_when;" \
	"ours ended after $((t1 - t0)) ms, lab_dev's refcnt then: ${_dev_refcnt:-none}" \
	"ours (exit $RC_ours):" "$OUT_ours"
check "-w -r lab_waiter, lab_dev opened meanwhile: exit 0" [ "$RC_ours" = 0 ]
check "-w -r lab_waiter: lab_waiter is gone" eval '! is_loaded lab_waiter'
check "-w -r lab_waiter: lab_dev is still loaded" is_loaded lab_dev
check "-w -r lab_waiter: ended while /dev/lab_dev was still open (not waiting for it: ${_dev_refcnt:-none})" \
	[ "$_dev_refcnt" = 1 ]
check "-w -r -v lab_waiter: a line says 'kept lab_dev'" has_text "$OUT_ours" "kept lab_dev"
kill $HOLDER 2>/dev/null
wait $HOLDER 2>/dev/null
kunload lab_waiter lab_dev

# --- --wait while others keep opening and closing the device ------------------------

# dev_loop NAME HOLD GAP: a background process that opens /dev/lab_dev,
# keeps it open HOLD seconds (the sleep holds the fd), closes it, sleeps GAP
# seconds and again, until the device is gone or 40 s have passed.  Counts
# its rounds in /tmp/loop.NAME, and at the end writes "ROUNDS WHY" there
# (WHY: gone or time).
dev_loop() {
	echo 0 >/tmp/loop.$1
	(
		uptime_ms _s0
		_n=0 _why=time
		while :; do
			uptime_ms _s1
			[ $((_s1 - _s0)) -ge 40000 ] && break
			[ -e /dev/lab_dev ] || { _why=gone; break; }
			sleep "$2" 4</dev/lab_dev || { _why=gone; break; }
			_n=$((_n + 1))
			echo $_n >/tmp/loop.$1
			sleep "$3"
		done
		echo "$_n $_why" >/tmp/loop.$1
	) >/dev/null 2>&1 &
}

loops_going() {
	[ "$(cat /tmp/loop.a)" -ge 3 ] 2>/dev/null && [ "$(cat /tmp/loop.b)" -ge 3 ] 2>/dev/null
}

# Each loop holds the device about half the time, out of step with the
# other: a removal gets through only while both have it closed.  A third
# process keeps it open from before ours starts until ours says it is
# waiting, so that ours always has to wait and then get through the churn.
kload lab_dev
dev_loop a 0.15 0.1
LOOP_A=$!
dev_loop b 0.1 0.1
LOOP_B=$!
wait_until 15 loops_going || diag "setup: the loops did not get going (a: $(cat /tmp/loop.a), b: $(cat /tmp/loop.b))"
: >/tmp/rmmod.out
(
	wait_until 20 grep -q 'waiting for' /tmp/rmmod.out
) 4</dev/lab_dev >/dev/null 2>&1 &
ANCHOR=$!
uptime_ms t0
timeout 45 "$OURS/rmmod" -v --wait lab_dev >/tmp/rmmod.out 2>&1
RC_ours=$?
uptime_ms t1
MS_ours=$((t1 - t0)) OUT_ours=$(cat /tmp/rmmod.out)
wait $LOOP_A $LOOP_B $ANCHOR
diag "loops: a $(cat /tmp/loop.a), b $(cat /tmp/loop.b) (rounds, why they stopped)" \
	"ours (exit $RC_ours, ${MS_ours} ms):" "$OUT_ours"
check "--wait lab_dev while two processes open and close it: exit 0 (${MS_ours} ms)" \
	[ "$RC_ours" = 0 ]
check "--wait lab_dev under open/close churn: it had to wait (said 'waiting for')" \
	grep -q 'waiting for' /tmp/rmmod.out
check "--wait lab_dev under open/close churn: lab_dev is gone" eval '! is_loaded lab_dev'
check "--wait lab_dev under open/close churn: the loops stopped because the device went, not on their time bound" \
	eval 'grep -q gone /tmp/loop.a && grep -q gone /tmp/loop.b'
kunload lab_dev

finish
