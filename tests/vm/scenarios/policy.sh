# lab: cmdline module_blacklist=lab_params,lab-dash
# Policy refusals (EPERM): kmod's words first, then the cause ours sees from
# user space.  module_blacklist= on the command line, a process without
# CAP_SYS_MODULE, and last (it is one-way: only a reboot clears it)
# modules_disabled=1.  Signatures and lockdown need other kernel arguments:
# policy-signing and policy-lockdown.
. /lab/scenarios/lib.sh

# securityfs shows the lockdown mode ("[none] integrity confidentiality").
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null

# both TOOL ARGS...: TOOL with each tool from the same state.
both() {
	snapshot
	run ours "$@"
	restore
	run kmod "$@"
	restore
}

# run_as_user WHO TOOL ARGS...: as run, as uid 1000 (busybox su: root needs
# no password).
run_as_user() {
	_who=$1 _tool=$2
	shift 2
	case $_who in ours) _dir=$OURS ;; *) _dir=$KMOD ;; esac
	_out=$(su lab -s /bin/sh -c '"$0" "$@"' "$_dir/$_tool" "$@" 2>&1 3<&-)
	_rc=$?
	[ "$_who" = kmod ] && _out=$(printf '%s\n' "$_out" | sed '/^[a-z]*: ERROR: \.\.\/libkmod\//d')
	eval "OUT_$_who=\$_out RC_$_who=\$_rc"
	CMD="(uid 1000) $_tool $*"
}

diag "cmdline: $(cat /proc/cmdline)"
diag "lockdown: $(cat /sys/kernel/security/lockdown 2>/dev/null || echo unreadable)"

# --- module_blacklist= ---------------------------------------------------------

both insmod "$MODS/lab_params.ko"
kmod_then "module_blacklist=lab_params: insmod refuses, and says it is blacklisted" \
	"insmod: lab_params is blacklisted on the kernel command line (module_blacklist=lab_params,lab-dash)"
check "module_blacklist=lab_params: lab_params is not loaded" sh -c '! [ -e /sys/module/lab_params/initstate ]'

# The kernel compares the names exactly: lab-dash on the list does not stop
# module lab_dash, and ours must not say it does.
both insmod "$MODS/lab-dash.ko"
same_as_kmod "module_blacklist=lab-dash does not stop lab_dash (the kernel compares names exactly)"
check "lab_dash loads although lab-dash is blacklisted" [ "$RC_ours" = 0 ]

# --- not root ----------------------------------------------------------------

echo 'root:x:0:0:root:/root:/bin/sh' >/etc/passwd
echo 'lab:x:1000:1000:lab:/tmp:/bin/sh' >>/etc/passwd
echo 'root:x:0:' >/etc/group
echo 'lab:x:1000:' >>/etc/group
if su lab -s /bin/sh -c 'test "$(id -u)" = 1000' 2>/dev/null; then
	kunload lab_dev
	run_as_user ours insmod "$MODS/lab_dev.ko"
	run_as_user kmod insmod "$MODS/lab_dev.ko"
	kmod_then "not root: insmod refuses, and says CAP_SYS_MODULE is missing" \
		"insmod: this process (uid 1000) lacks CAP_SYS_MODULE: loading modules needs root"
	kload lab_dev
	run_as_user ours rmmod lab_dev
	run_as_user kmod rmmod lab_dev
	kmod_then "not root: rmmod refuses, and says CAP_SYS_MODULE is missing" \
		"rmmod: this process (uid 1000) lacks CAP_SYS_MODULE: removing modules needs root"
	check "not root: lab_dev is still loaded" is_loaded lab_dev
	# lsmod --refs needs no root, but root's open files are not this user's to
	# read: one line says which and why, and the references are still counted.
	/lab/bin/lab-hold file /dev/lab_dev </dev/null >/dev/null 2>&1 &
	_holder=$!
	wait_until 10 eval '[ "$(readlink /proc/$_holder/fd/3 2>/dev/null)" = /dev/lab_dev ]' ||
		diag "setup: lab-hold (pid $_holder) never opened /dev/lab_dev"
	# (In the command string: busybox su would take --refs for its own option.)
	OUT_ours=$(su lab -s /bin/sh -c "$OURS/lsmod --refs lab_dev" 2>&1 3<&-)
	RC_ours=$?
	check "not root: lsmod --refs says whose open files it could not read, and why" eval '
		[ "$RC_ours" = 0 ] &&
		case $OUT_ours in *"lsmod: could not read /proc/"*" other processes: Permission denied; references found through them are not named"*) ;; *) false ;; esac &&
		case $OUT_ours in *"lab_dev: refcount 1"*"1 reference not attributed"*) ;; *) false ;; esac' ||
		diag "$OUT_ours"
	kill $_holder
	wait $_holder 2>/dev/null
	kunload lab_dev
else
	not_ok "busybox su cannot run a command as uid 1000"
fi

# --- modules_disabled: last, no way back ---------------------------------------

kload lab_provider
echo 1 >/proc/sys/kernel/modules_disabled
check "modules_disabled reads 1" [ "$(cat /proc/sys/kernel/modules_disabled)" = 1 ]
run ours insmod "$MODS/lab_dev.ko"
run kmod insmod "$MODS/lab_dev.ko"
kmod_then "modules_disabled=1: insmod refuses, and says so" \
	"insmod: /proc/sys/kernel/modules_disabled is 1: module loading and removal are disabled until reboot"
run ours rmmod lab_provider
run kmod rmmod lab_provider
kmod_then "modules_disabled=1: rmmod refuses, and says so" \
	"rmmod: /proc/sys/kernel/modules_disabled is 1: module loading and removal are disabled until reboot"
check "modules_disabled=1: lab_provider is still loaded" is_loaded lab_provider

finish
