# rmmod: refusals (holders, open fd, self reference, permanent, built-in,
# not loaded), forced removal and the success cases, ours against kmod's
# rmmod from identical kernel states.
. /lab/scenarios/lib.sh

# both_rmmod DESC SETUP ARGS...: for each tool, eval SETUP (bring the kernel
# to the state under test), rmmod ARGS, remember whether the named modules
# are still loaded, then clean up; compare with kmod.
both_rmmod() {
	_d=$1 _setup=$2
	shift 2
	for who in ours kmod; do
		eval "$_setup" || diag "setup failed: $_setup"
		run $who rmmod "$@"
		eval "AFTER_$who=\$(loaded_modules | grep lab_ | sort | tr '\\n' ' ')"
		cleanup
	done
	same_as_kmod "$_d"
	if [ "$AFTER_ours" = "$AFTER_kmod" ]; then
		ok "$_d: same modules left loaded (${AFTER_ours:-none})"
	else
		not_ok "$_d: same modules left loaded"
		diag "ours left: $AFTER_ours" "kmod left: $AFTER_kmod"
	fi
}

# cleanup: close the device fd, wait out lab_hold, unload every lab module.
cleanup() {
	exec 3<&-
	kunload_lab
	if is_loaded lab_hold || is_loaded lab_perm; then
		"$KMOD/rmmod" -f lab_hold lab_perm >/dev/null 2>&1
	fi
	return 0
}

chain='kload lab_provider && kload lab_consumer'

both_rmmod "unused module is removed silently" \
	"kload lab_provider" lab_provider

both_rmmod "in use by a holder: 'Module lab_provider is in use by: lab_consumer'" \
	"$chain" lab_provider

both_rmmod "dependents first in one call: rmmod lab_consumer lab_provider" \
	"$chain" lab_consumer lab_provider

# The wrong order in one call: kmod takes the names in the order given and
# refuses lab_provider (lab_consumer still holds it); ours removes the two
# as a set, holders first (rmmod-sets.sh has more).
for who in ours kmod; do
	eval "$chain" || diag "setup failed: $chain"
	run $who rmmod lab_provider lab_consumer
	eval "AFTER_$who=\$(loaded_modules | grep lab_ | sort | tr '\\n' ' ')"
	cleanup
done
if [ "$RC_ours" = 0 ] && [ -z "$OUT_ours" ] && [ -z "$AFTER_ours" ]; then
	ok "wrong order in one call: ours removes both, silently, holders first"
else
	not_ok "wrong order in one call: ours removes both, silently, holders first"
	diag "ours (exit $RC_ours) left: ${AFTER_ours:-none}" "$OUT_ours"
fi
if [ "$RC_kmod" = 1 ] && [ "$OUT_kmod" = "rmmod: ERROR: Module lab_provider is in use by: lab_consumer" ] &&
	[ "$AFTER_kmod" = "lab_provider " ]; then
	ok "wrong order in one call: kmod 30 refuses lab_provider ('in use by: lab_consumer') and removes lab_consumer"
else
	not_ok "wrong order in one call: kmod 30 refuses lab_provider ('in use by: lab_consumer') and removes lab_consumer"
	diag "kmod (exit $RC_kmod) left: ${AFTER_kmod:-none}" "$OUT_kmod"
fi

both_rmmod "force (-f) on a module with holders: the kernel still refuses" \
	"$chain" -f lab_provider

both_rmmod "in use by an open fd on /dev/lab_dev: 'Module lab_dev is in use'" \
	'kload lab_dev && exec 3</dev/lab_dev' lab_dev

both_rmmod "lab_dev without open fds is removed" \
	'kload lab_dev' lab_dev

both_rmmod "self reference (lab_hold): 'Module lab_hold is in use'" \
	'kload lab_hold hold_ms=600000' lab_hold

both_rmmod "force (-f) removes a module holding a self reference" \
	'kload lab_hold hold_ms=600000' -f lab_hold

# Waiting for a reference to go away: refused while held, removed after.
for who in ours kmod; do
	kload lab_hold hold_ms=3000
	run $who rmmod lab_hold
	eval "HELD_$who=\$RC_$who"
	# Wait for the release rather than sleeping a fixed time: emulation
	# under load is slow and uneven.
	_i=0
	while [ "$(cat /sys/module/lab_hold/refcnt 2>/dev/null)" = 1 ] && [ $_i -lt 40 ]; do
		sleep 0.25
		_i=$((_i + 1))
	done
	run $who rmmod lab_hold
	cleanup
done
same_as_kmod "lab_hold removed after it released its reference"
check "ours refused lab_hold while held (exit $HELD_ours)" [ "$HELD_ours" = 1 ]

both_rmmod "permanent module (no exit function) without -f: 'Device or resource busy'" \
	'kload lab_perm' lab_perm

both_rmmod "permanent module with -f is removed" \
	'kload lab_perm' -f lab_perm

both_rmmod "not loaded: 'Module lab_nothere is not currently loaded'" \
	: lab_nothere

both_rmmod "one of two not loaded: the other is still removed" \
	'kload lab_provider' lab_nothere lab_provider

both_rmmod "module given as a file path: rmmod $MODS/lab_provider.ko" \
	'kload lab_provider' $MODS/lab_provider.ko

both_rmmod "module given by name with .ko suffix: rmmod lab_provider.ko" \
	'kload lab_provider' lab_provider.ko

# Built-in modules: one with a /sys/module directory (it has parameters)
# and one known only from modules.builtin.  Picked from this kernel's list.
with_dir= without_dir=
for _n in $(sed 's|.*/||; s|\.ko$||; s|-|_|g' /lib/modules/$LAB_KVER/modules.builtin); do
	if [ -d /sys/module/$_n ]; then
		[ -n "$with_dir" ] || with_dir=$_n
	else
		[ -n "$without_dir" ] || without_dir=$_n
	fi
	[ -n "$with_dir" ] && [ -n "$without_dir" ] && break
done
both_rmmod "built-in module with /sys/module/$with_dir: 'Module $with_dir is builtin.'" \
	: $with_dir
both_rmmod "built-in module without a sysfs directory ($without_dir): 'is builtin.'" \
	: $without_dir

finish
