# refs.sh's cases with BPF unavailable: a tmpfs over /sys/kernel/btf hides
# the kernel's BTF, so the BPF task-file iterator cannot load and the tools
# find open files through /proc/PID/fd instead.  What they attribute must
# then be honest: an open file is marked approximate (or left
# unattributed), modules, mounts and loop devices are named as with BPF,
# attributed + "N references not attributed" equals the refcount, no line
# names a holder that is not one, and lsmod says once on stderr that open
# files were found through /proc and why BPF could not be used.
REFS_FILES=proc
. /lab/scenarios/refs.sh
