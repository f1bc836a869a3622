# insmod: every failure the kernel (or the file) can produce, ours against
# kmod's insmod: same message (ours may add detail after it) and exit code.
# Also the plain and forced success cases, since the failures are only
# meaningful if the same files do load when nothing is wrong.
. /lab/scenarios/lib.sh

# both_insmod DESC ARGS...: insmod ARGS with each tool from the same state;
# whatever a run loaded is removed again before the next.
both_insmod() {
	_d=$1
	shift
	snapshot
	run ours insmod "$@"
	restore
	run kmod insmod "$@"
	restore
	same_as_kmod "$_d"
}

# must_fail DESC ARGS: as both_insmod, and ours must also fail.
must_fail() {
	both_insmod "$@"
	if [ "$RC_ours" -eq 0 ]; then
		not_ok "$1: ours must fail"
		show_both
	fi
}

must_fail "missing file: 'could not load module ...: No such file or directory'" \
	$MODS/no_such_module.ko

must_fail "unknown symbol (lab_consumer without lab_provider): 'Unknown symbol in module'" \
	$MODS/lab_consumer.ko

must_fail "init fails with -ENODEV: 'No such device'" \
	$MODS/lab_initfail.ko
check "failed init leaves nothing loaded" eval '! is_loaded lab_initfail'

kload lab_provider
must_fail "already loaded: 'File exists'" $MODS/lab_provider.ko
kunload lab_provider

must_fail "invalid parameter value (number=abc): 'Invalid parameters'" \
	$MODS/lab_params.ko number=abc

must_fail "module built for the other kernel ($LAB_OTHER_KVER): 'Invalid module format'" \
	/lab/other/lab_provider.ko

# Not tested: insmod -f of the other kernel's module.  The kernel then
# skips both checks and 6.1 accepts a 6.12 module whose struct module it
# misreads (it loads, then cannot be removed): undefined behaviour, not a
# property of the tools.

must_fail "non-ELF file: 'Invalid module format'" $MODS/notelf.ko

# An empty file: kmod 30 hands it to the kernel, which answers EINVAL, and
# prints mod_strerror's "Invalid parameters" -- wrong, there are no
# parameters.  Ours refuses the file before the kernel sees it and says why.
run ours insmod $MODS/empty.ko
run kmod insmod $MODS/empty.ko
check "empty file: ours says 'Invalid module format (empty file)' (kmod 30 differs: 'Invalid parameters')" \
	[ "$OUT_ours" = "insmod: ERROR: could not insert module $MODS/empty.ko: Invalid module format (empty file)" ]
check "empty file: both exit 1" [ "$RC_ours" -eq 1 -a "$RC_kmod" -eq 1 ]
diag "kmod 30 for comparison: $OUT_kmod"

# Success cases, each tool from the same clean state.
for who in ours kmod; do
	run $who insmod $MODS/lab_provider.ko
	eval "LOADED_$who=no"
	is_loaded lab_provider && eval "LOADED_$who=yes"
	kunload lab_provider
done
same_as_kmod "insmod lab_provider.ko succeeds silently"
check "ours loaded lab_provider" [ "$LOADED_ours" = yes ]

for who in ours kmod; do
	run $who insmod -f $MODS/lab_provider.ko
	eval "LOADED_$who=no"
	is_loaded lab_provider && eval "LOADED_$who=yes"
	kunload lab_provider
done
same_as_kmod "insmod -f lab_provider.ko (same kernel) succeeds"
check "ours -f loaded lab_provider" [ "$LOADED_ours" = yes ]

# A dependency chain loaded in order: the consumer resolves its symbol.
for who in ours kmod; do
	run $who insmod $MODS/lab_provider.ko
	eval "_first=\$RC_$who"
	run $who insmod $MODS/lab_consumer.ko
	eval "CHAIN_$who=\$_first/\$RC_$who"
	kunload lab_consumer lab_provider
done
same_as_kmod "insmod lab_provider.ko then lab_consumer.ko"
check "ours loaded the chain (exit codes $CHAIN_ours)" [ "$CHAIN_ours" = 0/0 ]

finish
