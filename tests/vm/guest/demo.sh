# The lab's demo session (busybox ash inside the VM): our tools on a real
# kernel, each command echoed with a "$ " prefix before its output, the way
# it would look typed at a shell.
. /lab/tools.sh
cd /lab/modules || exit 1

# show CMD...: print the command line, then run it with its output.  The
# exit status is shown only when non-zero, as a shell prompt would hint.
show() {
	echo "\$ $*"
	"$@" 2>&1
	_rc=$?
	[ $_rc -eq 0 ] || echo "[exit status $_rc]"
	return 0
}

echo
echo "modload demo on Linux $(uname -r) (qemu, software emulation)"
echo
show insmod lab_provider.ko
show insmod lab_consumer.ko
show lsmod
show cat /sys/module/lab_provider/refcnt
show ls /sys/module/lab_provider/holders
show rmmod lab_provider
show rmmod lab_consumer lab_provider
show lsmod
echo
