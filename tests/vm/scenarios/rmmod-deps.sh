# Dependency-aware removal: rmmod -r (--remove-deps), --remove-holders,
# -n (--dry-run) and their combination with --wait, on the distribution's
# iptable_nat chain next to xfs (both use libcrc32c), then plans that stop
# half-way on a real refusal, and a module that goes away during a plan.
#
# kmod 30 has no rmmod -r; its nearest tool, modprobe -r (with
# --remove-holders), is run on the same states for the record only: it
# removes a module's dependencies in one pass in modules.dep order, so it
# leaves some behind, and its --remove-holders removes only the first level
# of holders, so it fails on this chain.
. /lab/scenarios/lib.sh

CHAIN="iptable_nat nf_nat nf_conntrack nf_defrag_ipv6 nf_defrag_ipv4 ip_tables x_tables"
ALL="$CHAIN libcrc32c xfs"

# valid_order LIST: every module's holders come before it in LIST (that is
# what makes each delete_module possible).  Sets ORDER_ERR when not.
valid_order() {
	_seen=" " ORDER_ERR=
	for _m in $1; do
		for _h in /sys/module/$_m/holders/*; do
			[ -e "$_h" ] || continue
			case $_seen in
			*" ${_h##*/} "*) ;;
			*) ORDER_ERR="$_m comes before its holder ${_h##*/}"; return 1 ;;
			esac
		done
		_seen="$_seen$_m "
	done
}

modprobe_quiet() {
	for _m in "$@"; do
		_o=$("$KMOD/modprobe" "$_m" 2>&1) || echo "# setup: modprobe $_m failed: $_o"
	done
}

# check_plan DESC EXPECTED: the last run of ours was a dry run; it must exit
# 0 and list exactly the modules of EXPECTED, once each, in an order the
# kernel can carry out, without changing anything.
check_plan() {
	_d=$1 _want=$2
	if [ "$RC_ours" = 0 ] && [ "$(words "$OUT_ours")" = "$(words "$_want")" ] &&
		[ "$(printf '%s\n' $OUT_ours | wc -l)" = "$(printf '%s\n' $_want | wc -l)" ]; then
		ok "$_d: exactly $(words "$_want")"
	else
		not_ok "$_d: exactly $(words "$_want")"
		diag "\$ $CMD (exit $RC_ours)" "$OUT_ours"
	fi
	if valid_order "$OUT_ours"; then
		ok "$_d: each module after its holders ($(echo $OUT_ours))"
	else
		not_ok "$_d: each module after its holders"
		diag "$ORDER_ERR:" "$OUT_ours"
	fi
	if [ "$(loaded_modules)" = "$BEFORE" ]; then
		ok "$_d: nothing removed"
	else
		not_ok "$_d: nothing removed"
		diag "before: $(echo $BEFORE)" "after: $(echo $(loaded_modules))"
	fi
}

expect_quiet_success() {
	if [ "$RC_ours" = 0 ] && [ -z "$OUT_ours" ]; then
		ok "$1: exit 0, silent"
	else
		not_ok "$1: exit 0, silent"
		diag "\$ $CMD (exit $RC_ours)" "$OUT_ours"
	fi
}

# kmod_record DESC ARGS...: kmod's modprobe ARGS on the current state, its
# exit status, output and what of ALL it left, as a diagnostic.
kmod_record() {
	_d=$1
	shift
	run_limited 10 kmod modprobe "$@"
	diag "kmod 30: modprobe $* ($_d): exit $RC_kmod${OUT_kmod:+, said: $OUT_kmod}" \
		"  left loaded: $(loaded_of "$ALL")"
}

# libcrc32c's own softdep= modinfo ("pre: crc32c", modules.softdep) makes
# modprobe load crc32c_intel or crc32c_generic (whichever the CPU allows and
# the kernel has as a module) before it: with -r, rmmod removes it after
# libcrc32c, as modprobe -r does.
CRC="crc32c_intel crc32c_generic"
CRC_BEFORE=$(loaded_of "$CRC")
modprobe_quiet xfs
snapshot # xfs, libcrc32c and crc32c_intel (libcrc32c's softdep)
SOFT=$(for _m in $(loaded_of "$CRC"); do
	case " $CRC_BEFORE " in *" $_m "*) ;; *) echo "$_m" ;; esac
done)
diag "libcrc32c's soft dependencies loaded with it: ${SOFT:-none}"
modprobe_quiet iptable_nat
check "setup: iptable_nat's chain and xfs loaded, sharing libcrc32c" \
	[ "$(loaded_of "$ALL")" = "$(words "$ALL")" ]

# --- -r: the target, then the dependencies nothing else uses ---------------

BEFORE=$(loaded_modules)
run ours rmmod -n -r iptable_nat
check_plan "rmmod -n -r iptable_nat" "$CHAIN"
check "rmmod -n -r iptable_nat: iptable_nat first" \
	[ "$(printf '%s\n' "$OUT_ours" | head -n 1)" = iptable_nat ]

run ours rmmod -r iptable_nat
expect_quiet_success "rmmod -r iptable_nat"
expect_left "rmmod -r iptable_nat: libcrc32c stays for xfs" "$ALL" "libcrc32c xfs"

# Each case starts from the whole chain: modprobe loads what is missing
# (cheaper than starting over: loading is slow under emulation).
modprobe_quiet iptable_nat
kmod_record "no -r in kmod's rmmod; the nearest" -r iptable_nat

# --- --remove-holders: the modules using the target go first ----------------

modprobe_quiet iptable_nat
BEFORE=$(loaded_modules)
run ours rmmod -n --remove-holders nf_conntrack
check_plan "rmmod -n --remove-holders nf_conntrack" "iptable_nat nf_nat nf_conntrack"
check "rmmod -n --remove-holders nf_conntrack: nf_conntrack last" \
	[ "$(printf '%s\n' "$OUT_ours" | tail -n 1)" = nf_conntrack ]

run ours rmmod --remove-holders nf_conntrack
expect_quiet_success "rmmod --remove-holders nf_conntrack"
expect_left "rmmod --remove-holders nf_conntrack: holders and target gone, its dependencies stay" \
	"$ALL" "ip_tables x_tables nf_defrag_ipv6 nf_defrag_ipv4 libcrc32c xfs"

modprobe_quiet iptable_nat
kmod_record "holders of holders: iptable_nat holds nf_nat" -r --remove-holders nf_conntrack

# --- all together: -w --remove-holders -r on the shared module --------------

modprobe_quiet iptable_nat
BEFORE=$(loaded_modules)
run ours rmmod -n -w --remove-holders -r libcrc32c
check_plan "rmmod -n -w --remove-holders -r libcrc32c" "$ALL $SOFT"
for _m in $SOFT; do
	check "rmmod -n -w --remove-holders -r libcrc32c: $_m, its pre soft dependency, after it" \
		eval 'printf "%s\n" $OUT_ours | grep -A 100 -x libcrc32c | grep -qx "$_m"'
done

run_limited 60 ours rmmod -w --remove-holders -r libcrc32c
expect_quiet_success "rmmod -w --remove-holders -r libcrc32c"
expect_left "rmmod -w --remove-holders -r libcrc32c: both chains removed" "$ALL" ""
expect_left "rmmod -w --remove-holders -r libcrc32c: its soft dependencies too" "$SOFT" ""

restore

# --- a plan that stops half-way ----------------------------------------------

# lab_dev has a holder that can go (lab_user) and an open file that cannot:
# the plan removes lab_user, then the kernel refuses lab_dev.
kload lab_provider && kload lab_dev && kload lab_user
exec 3</dev/lab_dev
BEFORE=$(loaded_modules)
run ours rmmod -n --remove-holders -r lab_dev
check_plan "rmmod -n --remove-holders -r lab_dev (lab_user holds it, an fd is open)" \
	"lab_user lab_dev lab_provider"
PLAN=$(echo $OUT_ours)
run ours rmmod --remove-holders -r lab_dev
check "... then for real: exit 1" [ "$RC_ours" = 1 ]
if has_line "$OUT_ours" "rmmod: ERROR: stopped: removed lab_user; left ${PLAN#lab_user }"; then
	ok "... says 'stopped: removed lab_user; left ${PLAN#lab_user }'"
else
	not_ok "... says 'stopped: removed lab_user; left ${PLAN#lab_user }'"
	diag "\$ $CMD (exit $RC_ours)" "$OUT_ours"
fi
check "... and first why lab_dev could not go, in kmod's words: 'Module lab_dev is in use'" \
	eval 'printf "%s\n" "$OUT_ours" | head -n 1 | grep -qx "rmmod: ERROR: Module lab_dev is in use"'
diag "ours: $(printf '%s\n' "$OUT_ours" | head -n 1)"
expect_left "... the kernel state matches" "lab_user lab_dev lab_provider" "lab_dev lab_provider"

exec 3<&-
kunload_lab

# The same with a time limit: lab_consumer goes, lab_dev is still in use
# when --wait=300 runs out, lab_provider (lab_consumer's dependency) stays.
kload lab_provider && kload lab_consumer && kload lab_dev
exec 3</dev/lab_dev
BEFORE=$(loaded_modules)
run ours rmmod -n --wait=300 -r lab_consumer lab_dev
check_plan "rmmod -n --wait=300 -r lab_consumer lab_dev (fd open)" "lab_consumer lab_dev lab_provider"
PLAN=$(echo $OUT_ours)
run_limited 30 ours rmmod --wait=300 -r lab_consumer lab_dev
check "... then for real: exit 1" [ "$RC_ours" = 1 ]
if has_line "$OUT_ours" "rmmod: ERROR: stopped: removed lab_consumer; left ${PLAN#lab_consumer }"; then
	ok "... says 'stopped: removed lab_consumer; left ${PLAN#lab_consumer }'"
else
	not_ok "... says 'stopped: removed lab_consumer; left ${PLAN#lab_consumer }'"
	diag "\$ $CMD (exit $RC_ours)" "$OUT_ours"
fi
check "... after 'could not remove module lab_dev: still in use after N ms: refcount 1, from outside modules'" \
	eval 'printf "%s\n" "$OUT_ours" | head -n 1 | grep -Eq "^rmmod: ERROR: could not remove module lab_dev: still in use after [0-9]+ ms: refcount 1, from outside modules$"'
expect_left "... the kernel state matches" "lab_consumer lab_dev lab_provider" "lab_dev lab_provider"

# Without --wait a target in use stops the plan before it starts: nothing
# is removed, not even the targets that could go.
kload lab_consumer
run ours rmmod -r lab_consumer lab_dev
if [ "$RC_ours" = 1 ] && [ "$OUT_ours" = "rmmod: ERROR: Module lab_dev is in use
rmmod: lab_dev is held by pid $$ (sh) fd 3 /dev/lab_dev" ]; then
	ok "rmmod -r lab_consumer lab_dev (fd open): 'Module lab_dev is in use', then this shell named, exit 1"
else
	not_ok "rmmod -r lab_consumer lab_dev (fd open): 'Module lab_dev is in use', then this shell named, exit 1"
	diag "\$ $CMD (exit $RC_ours)" "$OUT_ours"
fi
expect_left "rmmod -r lab_consumer lab_dev (fd open): nothing removed" \
	"lab_consumer lab_provider lab_dev" "lab_consumer lab_provider lab_dev"
exec 3<&-
kunload_lab

# --- a module that goes away underneath a plan ---------------------------------

# While ours waits for lab_dev, someone else removes lab_consumer, which is
# next in the plan; then the fd closes.  Not an error.
kload lab_provider && kload lab_consumer && kload lab_dev
: >/tmp/plan.out
(
	exec 3</dev/lab_dev
	_i=0
	until grep -q 'waiting for' /tmp/plan.out 2>/dev/null || [ $_i -ge 150 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	"$KMOD/rmmod" lab_consumer
) >/dev/null 2>&1 &
holder=$!
wait_until 10 eval '[ "$(cat /sys/module/lab_dev/refcnt)" = 1 ]'
timeout 30 "$OURS/rmmod" --wait -r lab_dev lab_consumer >/tmp/plan.out 2>&1
RC_ours=$? OUT_ours=$(cat /tmp/plan.out) CMD="rmmod --wait -r lab_dev lab_consumer"
wait $holder
_said="rmmod: waiting for lab_dev: held by pid $holder (sh) fd 3 /dev/lab_dev"
case $OUT_ours in "$_said" | "$_said (shared with "*")") _said=yes ;; esac
if [ "$RC_ours" = 0 ] && [ "$_said" = yes ]; then
	ok "rmmod --wait -r lab_dev lab_consumer, lab_consumer removed by someone else meanwhile: exit 0, only the waiting line"
else
	not_ok "rmmod --wait -r lab_dev lab_consumer, lab_consumer removed by someone else meanwhile: exit 0, only the waiting line"
	diag "\$ $CMD (exit $RC_ours)" "$OUT_ours"
fi
expect_left "... lab_provider removed as well" "lab_dev lab_consumer lab_provider" ""
kunload_lab

# --- soft dependencies: the same as kmod's modprobe -r -------------------------

# An administrator's softdep line on lab modules: modprobe lab_consumer loads
# lab_dev first and lab_user (which uses lab_dev and lab_provider) after.
# modprobe -r removes lab_user (post) first, then lab_consumer, then lab_dev
# (pre) when nothing uses it; rmmod -r must leave what modprobe -r leaves.
install_lab_modules
mkdir -p /etc/modprobe.d
echo "softdep lab_consumer pre: lab_dev post: lab_user" >/etc/modprobe.d/lab-softdep.conf
SOFTSET="lab_consumer lab_provider lab_dev lab_user"
for _case in unused in_use; do
	modprobe_quiet lab_consumer
	check "softdep ($_case): modprobe lab_consumer loads its soft dependencies" \
		[ "$(loaded_of "$SOFTSET")" = "$(words "$SOFTSET")" ]
	[ $_case = in_use ] && exec 3</dev/lab_dev
	run_limited 20 kmod modprobe -r lab_consumer
	KMOD_LEFT=$(loaded_of "$SOFTSET")
	# (kmod 30 says a soft dependency in use at its LOG_CRIT level, which
	# exits 1 there: we keep it, say so with -v, and exit 0.)
	diag "kmod 30: modprobe -r lab_consumer ($_case): exit $RC_kmod${OUT_kmod:+, said: $OUT_kmod}; left ${KMOD_LEFT:-nothing}"
	modprobe_quiet lab_consumer
	BEFORE=$(loaded_modules)
	run ours rmmod -n -r lab_consumer
	[ $_case = unused ] && check_plan "softdep: rmmod -n -r lab_consumer" "$SOFTSET"
	check "softdep ($_case): rmmod -n -r lab_consumer: lab_user (post) before lab_consumer, lab_dev (pre) last" \
		[ "$(echo $OUT_ours)" = "lab_user lab_consumer lab_provider lab_dev" ]
	run_limited 20 ours rmmod -v -r lab_consumer
	OURS_LEFT=$(loaded_of "$SOFTSET")
	if [ "$RC_ours" = 0 ] && [ "$OURS_LEFT" = "$KMOD_LEFT" ]; then
		ok "softdep ($_case): rmmod -r lab_consumer leaves what modprobe -r leaves: ${OURS_LEFT:-nothing}"
	else
		not_ok "softdep ($_case): rmmod -r lab_consumer leaves what modprobe -r leaves: ${KMOD_LEFT:-nothing}"
		diag "\$ $CMD (exit $RC_ours)" "$OUT_ours" "left: ${OURS_LEFT:-nothing}"
	fi
	if [ $_case = unused ]; then
		check "softdep (unused): all removed" [ -z "$OURS_LEFT" ]
		check "softdep (unused): -v says 'removed lab_dev (a soft dependency of lab_consumer)'" \
			has_line "$OUT_ours" "rmmod: INFO: removed lab_dev (a soft dependency of lab_consumer)"
	else
		check "softdep (lab_dev open): lab_dev kept" [ "$OURS_LEFT" = lab_dev ]
		if printf '%s\n' "$OUT_ours" | grep -q "^rmmod: INFO: kept lab_dev (a soft dependency of lab_consumer): it is in use"; then
			ok "softdep (lab_dev open): -v says 'kept lab_dev (a soft dependency of lab_consumer): it is in use ...'"
		else
			not_ok "softdep (lab_dev open): -v says 'kept lab_dev (a soft dependency of lab_consumer): it is in use ...'"
			diag "\$ $CMD (exit $RC_ours)" "$OUT_ours"
		fi
		exec 3<&-
	fi
	kunload_lab
done
rm -f /etc/modprobe.d/lab-softdep.conf

finish
