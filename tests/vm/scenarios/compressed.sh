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
	if [ "$format" = "$kernel_format" ]; then
		why=": it holds 2 $format [a-z]* and the kernel reads only the first"
	elif [ -n "$kernel_format" ]; then
		why=": the kernel decompresses only $kernel_format itself"
	else
		why=": the kernel decompresses no module itself"
	fi
	if printf '%s\n' "$OUT_ours" | grep -q "inserted lab_provider via init_module, decompressed here$why\$"; then
		ok "insmod -v: ${f##*/} decompressed here$why"
	else
		not_ok "insmod -v: ${f##*/} decompressed here$why"
		diag "ours: $OUT_ours"
	fi
	load_compressed kmod "$f" lab_provider
	diag "kmod on ${f##*/}: exit $RC_kmod, loaded: $LOADED_kmod${OUT_kmod:+: $OUT_kmod}"
done

# Files compressed as people compress them (tests/vm/lab: compress_as_people_do).  Ours loads
# each, and -v says how: whole to the kernel where its decompressor takes the file (6.12: xz
# with the check none or CRC32, LZMA2 alone or behind the x86 BCJ filter), decompressed here
# otherwise, and why.  kmod's result is reported.
V=/lab/variants
# variant FILE KERNEL_TAKES_IT WHY: WHY is the -v reason where the kernel decompresses the
# format (xz on 6.12); KERNEL_TAKES_IT yes/no.
variant() {
	_f=$V/$1 _takes=$2 _why=$3
	case $1 in
	*.xz) _fmt=xz ;;
	*.gz) _fmt=gzip ;;
	*.zst) _fmt=zstd ;;
	esac
	run ours insmod -v "$_f"
	_l=no
	is_loaded lab_provider && _l=yes
	kunload lab_provider
	if [ "$_l" = yes ] && [ "$RC_ours" = 0 ]; then
		ok "ours loads $1"
	else
		not_ok "ours loads $1"
		diag "ours: exit $RC_ours: $OUT_ours"
	fi
	if [ -z "$kernel_format" ]; then
		_how="via init_module, decompressed here: the kernel decompresses no module itself"
	elif [ "$_fmt" != "$kernel_format" ]; then
		_how="via init_module, decompressed here: the kernel decompresses only $kernel_format itself"
	elif [ "$_takes" = yes ]; then
		_how="via finit_module, decompressed by the kernel"
	else
		_how="via init_module, decompressed here: $_why"
	fi
	check "insmod -v on $1: $_how" has_line "$OUT_ours" "insmod: INFO: inserted lab_provider $_how" ||
		diag "ours: $OUT_ours"
	load_compressed kmod "$_f" lab_provider
	diag "kmod on $1: exit $RC_kmod, loaded: $LOADED_kmod${OUT_kmod:+: $OUT_kmod}"
}
crc64="its xz check is CRC64, which the kernel's decoder does not take"
variant xz-crc64.ko.xz no "$crc64"
# kmod 30 decompresses every module itself, and loads this file; ours, which handed it over whole
# where the kernel decompresses xz (6.12: "decompression failed with status 6"), now does too.
if kmod_has XZ; then
	check "kmod loads xz-crc64.ko.xz too" [ "$LOADED_kmod" = yes ]
fi
variant xz-sha256.ko.xz no "its xz check is SHA-256, which the kernel's decoder does not take"
variant xz-none.ko.xz yes ""
variant xz-crc32.ko.xz yes ""
variant xz-9e.ko.xz no "$crc64"
variant xz-9e-crc32.ko.xz yes "" # a 64 MiB dictionary
variant xz-x86.ko.xz yes ""
variant xz-arm.ko.xz no "its xz filter ARM BCJ is one the kernel's decoder does not take"
variant xz-delta.ko.xz no "its xz filter Delta is one the kernel's decoder does not take"
variant gz-name.ko.gz yes ""
variant gz-n.ko.gz yes ""
variant gz-fields.ko.gz no "its gzip header has FEXTRA, FCOMMENT, FHCRC, which the kernel's reader does not skip"
variant zst-nocheck.ko.zst yes ""
variant zst-22.ko.zst yes ""

# zstd --long=31 from a pipe declares a 2 GiB window and no size: zstd -d itself refuses it
# without --long=31; so do kmod and ours (with zstd's words).
run ours insmod $V/zst-long31.ko.zst
run kmod insmod $V/zst-long31.ko.zst
kunload lab_provider
check "zst-long31.ko.zst (2 GiB window): ours refuses it with zstd's reason" \
	has_line "$OUT_ours" "insmod: ERROR: could not insert module $V/zst-long31.ko.zst: Invalid module format (corrupt zstd data: Frame requires too much memory for decoding)" ||
	diag "ours: $OUT_ours"
diag "kmod on zst-long31.ko.zst: exit $RC_kmod: $OUT_kmod"

# Files that hold another format than their name says are named by what they hold, in kmod's
# first words; what the magic says decides, so zstd data named .ko.gz loads.
for m in "lzma.ko.xz:lzma data, not xz as its name says" "bzip2.ko.gz:bzip2 data, not gzip as its name says" \
	"lz4.ko:lz4 data" "lz4-legacy.ko.zst:lz4 data, not zstd as its name says"; do
	f=$V/${m%%:*}
	run ours insmod "$f"
	run kmod insmod "$f"
	kunload lab_provider
	check "${m%%:*}: ours says it holds ${m#*:}" has_line "$OUT_ours" \
		"insmod: ERROR: could not insert module $f: Invalid module format (holds ${m#*:}; modules are read as zstd, xz or gzip)" ||
		diag "ours: $OUT_ours"
	check "${m%%:*}: kmod fails too" [ "$RC_kmod" != 0 ]
	diag "kmod: $OUT_kmod"
done
try $V/zstd.ko.gz lab_provider ZSTD

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
