# lab: cmdline lockdown=integrity
# A locked-down kernel (lockdown=integrity) without enforced signatures
# refuses a module without a signature it trusts with EPERM: kmod's words
# first, then ours says the kernel is locked down and what the module's
# signature is.
. /lab/scenarios/lib.sh

mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
check "lockdown reads integrity" has_line "$(cat /sys/kernel/security/lockdown 2>/dev/null)" "none [integrity] confidentiality"

both_insmod() {
	snapshot
	run ours insmod "$@"
	restore
	run kmod insmod "$@"
	restore
}

both_insmod "$MODS/lab_params.ko"
kmod_then "lockdown: an unsigned module is refused, and ours says the kernel is locked down" \
	"insmod: the kernel is locked down (integrity): it loads only modules signed with a key it trusts, and $MODS/lab_params.ko is not signed"
if [ -e /lab/signed/lab_params.ko ]; then
	both_insmod /lab/signed/lab_params.ko
	kmod_then "lockdown: a module signed with an unknown key is refused, and ours says so" \
		"insmod: the kernel is locked down (integrity): it loads only modules signed with a key it trusts, and /lab/signed/lab_params.ko is signed with a key it may not trust"
else
	not_ok "the lab has a signed lab_params.ko (needs openssl on the host)"
fi
check "nothing was loaded" sh -c '! [ -e /sys/module/lab_params/initstate ]'

finish
