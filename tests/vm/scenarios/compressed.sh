# Compressed modules.  6.1 cannot decompress modules itself, so for every
# format user space must.  6.12 (CONFIG_MODULE_DECOMPRESS, xz) decompresses
# .ko.xz in the kernel; .ko.zst and .ko.gz still need user space.
#
# kmod 30 as Debian builds it has zstd and xz but no zlib (kmod -V:
# -ZLIB): it cannot load .ko.gz.  There we assert that ours works and only
# report kmod's result.
. /lab/scenarios/lib.sh

diag "kernel in-kernel decompression: $(cat /sys/module/compression 2>/dev/null || echo none)"
diag "kmod: $("$KMOD/kmod" -V 2>&1 | tr '\n' ' ')"
kmod_has() {
	"$KMOD/kmod" -V 2>&1 | grep -q "+$1"
}

# load_compressed WHO FILE NAME: insmod FILE with WHO's tool; LOADED_<who>
# says whether NAME got loaded; unloads it again.
load_compressed() {
	run $1 insmod "$2"
	_l=no
	is_loaded "$3" && _l=yes
	eval "LOADED_$1=\$_l"
	kunload "$3"
}

# try FILE NAME KMOD_FEATURE: ours must load FILE; kmod must behave the
# same where it supports the format (KMOD_FEATURE empty = always).
try() {
	_file=$1 _name=$2 _feat=$3
	load_compressed ours "$_file" "$_name"
	load_compressed kmod "$_file" "$_name"
	if [ "$LOADED_ours" = yes ] && [ "$RC_ours" = 0 ] && [ -z "$OUT_ours" ]; then
		ok "ours loads ${_file##*/}"
	else
		not_ok "ours loads ${_file##*/}"
		show_both
	fi
	if [ -z "$_feat" ] || kmod_has "$_feat"; then
		same_as_kmod "${_file##*/}: same result as kmod"
	else
		ok "${_file##*/}: kmod 30 differs (built without $_feat support): kmod exit $RC_kmod, loaded: $LOADED_kmod"
		diag "kmod: $OUT_kmod"
	fi
}

for ext in zst xz gz; do
	case $ext in
	zst) feat=ZSTD ;;
	xz) feat=XZ ;;
	gz) feat=ZLIB ;;
	esac
	try $MODS/lab_provider.ko.$ext lab_provider $feat
	try $MODS/lab-dash.ko.$ext lab_dash $feat
done

# Parameters must reach the kernel on the decompressing path too.
for ext in zst xz; do
	run ours insmod $MODS/lab_params.ko.$ext number=11 name=xy
	check "ours passes parameters with lab_params.ko.$ext" \
		[ "$(param lab_params number)|$(param lab_params name)" = "11|xy" ]
	kunload lab_params
done

# The same module in two units (gzip members, zstd frames, xz streams), each half of the ELF:
# `gzip -dc` reads both, the kernel's decompressors only the first.  Ours decompresses such a
# file itself and loads all of it, also where the kernel decompresses the format (6.12: xz).
kernel_format=$(cat /sys/module/compression 2>/dev/null)
for ext in zst xz gz; do
	f=$MODS/lab_provider-split.ko.$ext
	load_compressed ours "$f" lab_provider
	if [ "$LOADED_ours" = yes ] && [ "$RC_ours" = 0 ] && [ -z "$OUT_ours" ]; then
		ok "ours loads ${f##*/}"
	else
		not_ok "ours loads ${f##*/}"
		show_both
	fi
	run ours insmod -v "$f"
	kunload lab_provider
	case $ext in
	zst) format=zstd ;;
	gz) format=gzip ;;
	*) format=$ext ;;
	esac
	why=
	[ "$format" = "$kernel_format" ] && why=": it holds 2 $format [a-z]* and the kernel reads only the first"
	if printf '%s\n' "$OUT_ours" | grep -q "inserted lab_provider via init_module, decompressed here$why\$"; then
		ok "insmod -v: ${f##*/} decompressed here${why:+, the kernel would read one unit}"
	else
		not_ok "insmod -v: ${f##*/} decompressed here${why:+, the kernel would read one unit}"
		diag "ours: $OUT_ours"
	fi
	load_compressed kmod "$f" lab_provider
	diag "kmod on ${f##*/}: exit $RC_kmod, loaded: $LOADED_kmod${OUT_kmod:+: $OUT_kmod}"
done

# The distribution's own compressed modules (6.12 ships .ko.xz; the kernel
# can take them as they are).
dist=$(find /lib/modules/$LAB_KVER/kernel -name 'dummy.ko*' | head -n 1)
case $dist in
*.ko)
	diag "this kernel ships uncompressed modules ($dist)"
	try $dist dummy ""
	;;
*.ko.xz)
	try $dist dummy XZ
	;;
"")
	not_ok "distribution module dummy present in the image"
	;;
esac

# A corrupt compressed file must fail the same way.
head -c 200 $MODS/lab_provider.ko.zst >/tmp/truncated.ko.zst
run ours insmod /tmp/truncated.ko.zst
run kmod insmod /tmp/truncated.ko.zst
kunload lab_provider
check "truncated .ko.zst: ours fails" [ "$RC_ours" != 0 ]
same_as_kmod "truncated .ko.zst: same exit status and message prefix as kmod"

finish
