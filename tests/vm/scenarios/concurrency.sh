# Two tools at once on the same module: two insmods of the same file while
# the first is still in its init (lab_slow init_ms=1500), two rmmods while
# the first is still in the module's exit (lab_slow exit_ms=2000), and an
# rmmod, with and without a time limit, of a module another process is
# removing.
#
# What kmod's tools do is run first on the same kernel state and recorded.
# The kernel decides much of it: since 6.6 a finit_module of a file that is
# being loaded waits for the first load and returns its result; before, a
# second load of a module that is coming waits for it, then gets EEXIST.
# delete_module of a module that is going returns EBUSY at once (its exit
# runs in the first caller's delete_module).
. /lab/scenarios/lib.sh

SLOW=$MODS/lab_slow.ko
EEXIST_TEXT="insmod: ERROR: could not insert module $SLOW: File exists"

proc_line() {
	grep "^$1 " /proc/modules
}

is_state() {
	proc_line "$1" | grep -q " $2 "
}

count_loaded() {
	grep -c "^$1 " /proc/modules
}

tool_dir() {
	case $1 in ours) echo "$OURS" ;; kmod) echo "$KMOD" ;; esac
}

# --- two insmods of the same file at once ---------------------------------------

# insmod_pair WHO: WHO's insmod of lab_slow init_ms=1500 in the background;
# once the module is Loading, a second one in the foreground.  Sets
# PAIR_<who> (both exit codes, sorted), FAILS_<who> (the outputs of the
# failing ones), LOADED_<who> (lab_slow lines in /proc/modules afterwards).
insmod_pair() {
	_w=$1 _d=$(tool_dir "$1")
	kunload lab_slow
	"$_d/insmod" "$SLOW" init_ms=1500 >/tmp/ins1 2>&1 &
	_p=$!
	wait_until 10 is_state lab_slow Loading || diag "setup: lab_slow never seen Loading"
	_seen=$(proc_line lab_slow)
	uptime_ms _t0
	"$_d/insmod" "$SLOW" init_ms=1500 >/tmp/ins2 2>&1
	_r2=$?
	uptime_ms _t1
	_state2=$(proc_line lab_slow)
	wait $_p
	_r1=$?
	_o1=$(cat /tmp/ins1) _o2=$(cat /tmp/ins2)
	eval "PAIR_$_w=\"\$(printf '%s\n' $_r1 $_r2 | sort | tr '\n' ' ')\""
	_f=
	[ $_r1 != 0 ] && _f=$_o1
	[ $_r2 != 0 ] && _f="$_f${_f:+
}$_o2"
	eval "FAILS_$_w=\$_f LOADED_$_w=\$(count_loaded lab_slow)"
	diag "$_w: insmod A (background) exit $_r1${_o1:+: $_o1}" \
		"$_w: insmod B (started with A's module '$_seen') exit $_r2 after $((_t1 - _t0)) ms${_o2:+: $_o2}" \
		"$_w: when B ended: '$_state2'; afterwards lab_slow is loaded $(count_loaded lab_slow) time(s)"
	kunload lab_slow
}

insmod_pair kmod
insmod_pair ours
check "two insmods at once: lab_slow is loaded exactly once" [ "$LOADED_ours" = 1 ]
check "two insmods at once: at least one exits 0 (exit codes $PAIR_ours)" \
	eval 'case " $PAIR_ours" in *" 0 "*) true ;; *) false ;; esac'
check "two insmods at once: the same exit codes as kmod's pair ($PAIR_kmod)" \
	[ "$PAIR_ours" = "$PAIR_kmod" ]
# A failure must be in kmod's words: what kmod's pair said, or (where kmod's
# pair did not fail) kmod's words for EEXIST.
_want=${FAILS_kmod:-$EEXIST_TEXT}
_bad=
if [ -n "$FAILS_ours" ]; then
	_bad=$(printf '%s\n' "$FAILS_ours" | while read -r _l; do
		case $_l in "$_want"*) ;; *) echo "$_l" ;; esac
	done)
fi
if [ -z "$_bad" ]; then
	ok "two insmods at once: a failure, if any, says what kmod says ('$_want')"
else
	not_ok "two insmods at once: a failure, if any, says what kmod says ('$_want')"
	diag "ours:" "$FAILS_ours"
fi

# --- two rmmods at once -----------------------------------------------------------

# rmmod_pair WHO: lab_slow exit_ms=2000 loaded; WHO's rmmod -v in the
# background; once the module is Unloading, a second WHO rmmod -v in the
# foreground.  Sets RC1/OUT1 (background), RC2/OUT2, MS2, GONE (yes/no).
rmmod_pair() {
	_d=$(tool_dir "$1")
	kunload lab_slow
	kload lab_slow exit_ms=2000
	"$_d/rmmod" -v lab_slow >/tmp/rm1 2>&1 &
	_p=$!
	wait_until 10 is_state lab_slow Unloading || diag "setup: lab_slow never seen Unloading"
	_seen=$(proc_line lab_slow)
	uptime_ms _t0
	OUT2=$(timeout 20 "$_d/rmmod" -v lab_slow 2>&1)
	RC2=$?
	uptime_ms _t1
	MS2=$((_t1 - _t0))
	wait $_p
	RC1=$?
	OUT1=$(cat /tmp/rm1)
	GONE=yes
	is_loaded lab_slow && GONE=no
	diag "$1: rmmod -v A (background) exit $RC1: ${OUT1:-(printed nothing)}" \
		"$1: rmmod -v B (started with A's module '$_seen') exit $RC2 after $MS2 ms: ${OUT2:-(printed nothing)}" \
		"$1: lab_slow gone afterwards: $GONE"
	kunload lab_slow
}

rmmod_pair kmod
# kmod's two rmmods started together, for the record: the second may still
# see the module Live (then delete_module says EBUSY) or already going.
kunload lab_slow
kload lab_slow exit_ms=2000
"$KMOD/rmmod" lab_slow >/tmp/rm1 2>&1 &
_p1=$!
"$KMOD/rmmod" lab_slow >/tmp/rm2 2>&1 &
_p2=$!
wait $_p1
_r1=$?
wait $_p2
_r2=$?
_o1=$(cat /tmp/rm1) _o2=$(cat /tmp/rm2)
diag "kmod: two rmmods started together: exit $_r1: ${_o1:-(printed nothing)}" \
	"  and exit $_r2: ${_o2:-(printed nothing)}"
kunload lab_slow
rmmod_pair ours
check "two rmmods at once: the first exits 0" [ "$RC1" = 0 ]
check "two rmmods at once: the second exits 0 too ($MS2 ms)" [ "$RC2" = 0 ]
check "two rmmods at once: lab_slow is gone" [ "$GONE" = yes ]
if printf '%s\n' "$OUT2" | grep -q 'removed by another process'; then
	ok "two rmmods at once: -v, the second says 'removed by another process'"
else
	not_ok "two rmmods at once: -v, the second says 'removed by another process'"
	diag "second rmmod -v:" "$OUT2"
fi

# --- rmmod of a module another process is removing ---------------------------------

# removing_elsewhere EXIT_MS: lab_slow exit_ms=EXIT_MS, removed by kmod's
# rmmod in the background (REMOVER), until it is Unloading.
removing_elsewhere() {
	kunload lab_slow
	kload lab_slow exit_ms=$1
	"$KMOD/rmmod" lab_slow >/dev/null 2>&1 &
	REMOVER=$!
	wait_until 10 is_state lab_slow Unloading || diag "setup: lab_slow never seen Unloading"
}

removing_elsewhere 4000
run_limited 20 ours rmmod --wait=500 lab_slow
_going=no
is_state lab_slow Unloading && _going=yes
wait $REMOVER
check "--wait=500 while another process removes it (exit 4 s): exit 1 (${MS_ours} ms)" \
	[ "$RC_ours" = 1 ]
if printf '%s\n' "$OUT_ours" | grep -q 'Module lab_slow is being removed'; then
	ok "--wait=500 while another process removes it: 'Module lab_slow is being removed'"
else
	not_ok "--wait=500 while another process removes it: 'Module lab_slow is being removed'"
	diag "ours:" "$OUT_ours"
fi
check "--wait=500: gave up before the other removal ended (${MS_ours} ms; still Unloading then: $_going)" \
	[ "$_going" = yes ]

removing_elsewhere 2000
run kmod rmmod lab_slow
wait $REMOVER
diag "kmod 30: rmmod lab_slow while another process removes it: exit $RC_kmod after $MS_kmod ms: ${OUT_kmod:-(printed nothing)}"

removing_elsewhere 2000
run_limited 20 ours rmmod lab_slow
_gone=yes
is_loaded lab_slow && _gone=no
wait $REMOVER
check "rmmod (no --wait) while another process removes it (exit 2 s): exit 0 (${MS_ours} ms)" \
	[ "$RC_ours" = 0 ]
check "rmmod (no --wait) while another process removes it: lab_slow is gone when it ends" \
	[ "$_gone" = yes ]
[ "$RC_ours" = 0 ] || diag "ours:" "$OUT_ours"
kunload lab_slow

finish
