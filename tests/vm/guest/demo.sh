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
echo
# A refusal explained: the kernel's own log records, the missing dependency.
show insmod lab_consumer.ko
echo
# Waiting for a module in use: a process keeps /dev/lab_dev open for 2 s.
show insmod lab_dev.ko
echo '$ sleep 2 </dev/lab_dev &'
sleep 2 </dev/lab_dev &
# (the background shell opens the device before sleep starts: wait for it)
i=0
while [ "$(cat /sys/module/lab_dev/refcnt)" != 1 ] && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
show rmmod lab_dev
show rmmod --wait lab_dev
wait
echo
# Dependencies: a distribution module's chain loaded from modules.dep, then
# removed together with the dependencies nothing else uses.
nat=$(find /lib/modules/$(uname -r)/kernel -name 'iptable_nat.ko*' | head -n 1)
show insmod --deps --dry-run "$nat"
show insmod --deps "$nat"
show lsmod
show rmmod --dry-run --remove-deps iptable_nat
show rmmod --remove-deps iptable_nat
show lsmod
echo
