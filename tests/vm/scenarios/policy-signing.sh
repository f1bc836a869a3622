# lab: cmdline module.sig_enforce=1
# Signatures enforced (module.sig_enforce=1, as CONFIG_MODULE_SIG_FORCE
# would): every test module is refused with EKEYREJECTED.  kmod's words
# first, then why: the module is not signed, or signed with a key the kernel
# does not trust (/lab/signed/lab_params.ko, signed by the lab with a key of
# its own), or forced, which makes the kernel ignore the signature.
. /lab/scenarios/lib.sh

check "sig_enforce reads Y" [ "$(cat /sys/module/module/parameters/sig_enforce)" = Y ]

both_insmod() {
	snapshot
	run ours insmod "$@"
	restore
	run kmod insmod "$@"
	restore
}

both_insmod "$MODS/lab_params.ko"
kmod_then "sig_enforce: an unsigned module is refused, and ours says it is not signed" \
	"insmod: this kernel requires signed modules (sig_enforce) and $MODS/lab_params.ko is not signed"

if [ -e /lab/signed/lab_params.ko ]; then
	both_insmod /lab/signed/lab_params.ko
	kmod_then "sig_enforce: a module signed with an unknown key is refused, and ours says so" \
		"insmod: this kernel requires signed modules (sig_enforce) and /lab/signed/lab_params.ko is signed, but with a key the kernel does not trust, or its signature does not match"
	both_insmod -f /lab/signed/lab_params.ko
	kmod_then "sig_enforce: a signed module with -f is refused, and ours says forcing ignores the signature" \
		"insmod: this kernel requires signed modules (sig_enforce) and forcing (-f, --force-modversion, --force-vermagic) makes it ignore /lab/signed/lab_params.ko's signature"
else
	not_ok "the lab has a signed lab_params.ko (needs openssl on the host)"
fi
check "nothing was loaded" sh -c '! [ -e /sys/module/lab_params/initstate ]'

finish
