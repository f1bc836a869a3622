# Sourced by the demo and the interactive shell.  busybox ash prefers its
# own applets (insmod, rmmod, lsmod, modprobe, ...) over programs in PATH;
# shell functions win over applets, so they pin each name to a real tool:
# ours for insmod/rmmod/lsmod, kmod's for the rest.
insmod() { /ours/bin/insmod "$@"; }
rmmod() { /ours/bin/rmmod "$@"; }
lsmod() { /ours/bin/lsmod "$@"; }
modprobe() { /kmod/bin/modprobe "$@"; }
modinfo() { /kmod/bin/modinfo "$@"; }
depmod() { /kmod/bin/depmod "$@"; }
export PATH=/ours/bin:/bin
