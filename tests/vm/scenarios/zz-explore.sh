. /lab/scenarios/lib.sh
x() { echo "\$ $*"; "$@" 2>&1; echo "[rc=$?]"; }
up() { read _u _x </proc/uptime; echo "uptime $_u"; }
lsm() { loaded_modules | sort | tr '\n' ' '; echo; }
{
x timeout --help
up; x $KMOD/depmod -a; up
mkdir -p /lib/modules/$LAB_KVER/extra
cp $MODS/lab_provider.ko $MODS/lab_consumer.ko $MODS/lab_dev.ko $MODS/lab_hold.ko $MODS/lab_user.ko $MODS/lab_perm.ko /lib/modules/$LAB_KVER/extra/
up; x $KMOD/depmod -a; up
x $KMOD/insmod $MODS/lab_dev.ko
exec 3</dev/lab_dev
up; x timeout 8 $KMOD/modprobe -r -w 1500 lab_dev; up
x $KMOD/rmmod lab_dev
up; x $OURS/rmmod lab_dev; up
up; x $OURS/rmmod --wait=300 lab_dev; up
exec 3<&-
x $KMOD/insmod $MODS/lab_perm.ko
up; x $OURS/rmmod --wait lab_perm; up
x $KMOD/rmmod lab_perm
x $KMOD/insmod $MODS/lab_hold.ko hold_ms=1500
up; x timeout 8 $KMOD/modprobe -r -w 5000 lab_hold; up
lsm
x $KMOD/rmmod -f lab_hold
x $KMOD/insmod $MODS/lab_hold.ko hold_ms=1500
up; x $OURS/rmmod -w lab_hold; up
x $OURS/insmod -d -n $MODS/lab_user.ko tag=x
x $OURS/insmod -d $MODS/lab_user.ko 'tag=two words'
x cat /sys/module/lab_user/parameters/tag
exec 3</dev/lab_dev
x $OURS/rmmod -n --remove-holders -r lab_dev
x $OURS/rmmod --remove-holders -r lab_dev
lsm
x $KMOD/modprobe lab_user
x $KMOD/modprobe -r --remove-holders lab_dev
lsm
x $OURS/rmmod -r lab_consumer lab_dev
x $KMOD/modprobe lab_consumer
x $OURS/rmmod --wait=300 -r lab_consumer lab_dev
lsm
exec 3<&-
x $KMOD/rmmod lab_dev lab_provider
lsm
mv /lib/modules/$LAB_KVER/modules.dep /tmp/
x $OURS/insmod -d -n $MODS/lab_user.ko tag=x
mkdir -p /tmp/stale; cp $MODS/lab_user.ko $MODS/lab_dev.ko /tmp/stale; cp /lab/other/lab_provider.ko /tmp/stale/
x $OURS/insmod -d /tmp/stale/lab_user.ko
lsm
mv /tmp/modules.dep /lib/modules/$LAB_KVER/modules.dep
x $KMOD/rmmod lab_dev
up; x $KMOD/rmmod --help; up
up; x $OURS/rmmod --help; up
} | sed 's/^/# /'
