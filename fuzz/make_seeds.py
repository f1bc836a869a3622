#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora: copies of build-time fixtures and small handwritten texts.

usage: make_seeds.py OUT STAMP [--target NAME FILE...]...

Each target gets OUT/NAME/ with its seeds, OUT/NAME.list (the comma-separated list that
libFuzzer's -seed_inputs=@FILE reads) and an empty OUT/artifacts/ for crash inputs.
No seed is committed: the fixtures are built from C sources, the texts are written here.
"""
import argparse
import pathlib
import shutil
import struct

# Handwritten seeds: the shapes each parser must handle, valid and broken.
TEXT_SEEDS = {
    "snapshot": [
        # the last byte chooses the plan options and targets (see fuzz_snapshot.cpp)
        "a 16384 0 - Live 0xffffffffc0000000\n\xff",
        "b 16384 1 a, Live 0xffffffffc0000000 (OE)\na 16384 0 - Live 0x0\n\xff",
        "a 1 1 b, Live 0x1\nb 1 1 a, Live 0x2\n\x07",
        "p 4096 0 [permanent], Live 0x0 (O)\nq 4096 1 p, Unloading 0x0 (O-)\n\xfd",
        "n 4096 - - Live 0x0\nl 1 0 - Loading 0x0 (+)\n\x03",
        "x 1 2 y,z,[unsafe], Live 0x1 (PE) extra\ny 1 0 - Live 0x2\nz 1 0 - Live 0x3\n\xfe",
        "bad line\n\n c 1 0 - Live 0x1\n\x01",
    ],
    "module_lists": [
        "kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz kernel/fs/mbcache.ko.xz\n"
        "kernel/lib/crc16.ko.xz:\n",
        "/abs/path/a-b.ko: \nno colon here\n:empty name\n\n",
        "kernel/x.ko.zst:kernel/y.ko.zst\r\nkernel/y.ko.zst:\n",
        "../../../etc/passwd.ko:\n.ko:\n",
        # a name found beside the module (fuzz_module_lists.cpp's beside())
        "fixture-base\nfixture_base:\nfixture_base.ko\n",
    ],
    "parameters": [
        "count=3\0tag=two words\0flag",
        "a=\0=b\0name with space\0x=\"quoted\"",
        "t=tab\there\0n=new\nline\0e=",
        "v=a b=c\0 lead\0trail \0",
    ],
    "kernel_log": [
        "3,1234,5678,-;lab_consumer: Unknown symbol lab_provider_value (err -2)\n"
        " SUBSYSTEM=module\n DEVICE=+module:lab_consumer\n",
        "4,1,2,-;module lab: .gnu.linkonce.this_module section size must match\n",
        "6,5,6,c;no semicolon record\nno semicolon\n;empty prefix\n\n",
        "3,9,9,-;x: a\n3,10,10,-;x: b\n3,11,11,-;y: c",
    ],
    # the first byte: even, a modprobe.d file; odd, a kernel command line
    "modprobe_config": [
        "\x00install nf_conntrack /bin/false\n# comment\nblacklist pcspkr\n"
        "options snd-hda-intel\tmodel=auto power_save=1\n",
        "\x00softdep crc32c pre: crc32c-intel post: a\nalias net-pf-10 ipv6\n"
        "options m a=1 \\\n  b=2\nfrobnicate\ninclude x\nblacklist a]b\ninstall snd-[a-z]* x\n",
        "\x01BOOT_IMAGE=/vmlinuz ro nf-conntrack.hashsize=1 modprobe.blacklist=a,b-c quiet",
        "\x01\"parport.dyndbg=file drivers/parport/ieee1284_ops.c +mpf\" m.tag=\"two words\" a\"b",
    ],
    "module_image": [
        "\x7fELF\x02\x01\x01",
        "\x7fELF\x01\x02\x01",
    ],
    # a modules.dep.bin (magic, version, root offset 12: a node with prefix "ab" and one value,
    # priority 0) and its keys; then modules.alias lines
    "module_index": [
        "\xb0\x07\xf4\x57\x00\x02\x00\x01\xc0\x00\x00\x0c"
        "ab\x00\x00\x00\x00\x01\x00\x00\x00\x00kernel/ab.ko: kernel/c.ko\x00ab\x00",
        "alias crc32c crc32c-intel\nalias pci:v00008086d*sv*sd*bc*sc*i* e1000e\n"
        "alias crc3[2-3]c x\nalias a] y\nalias * any\n",
    ],
    "decompress": [
        "\x28\xb5\x2f\xfd",
        "\xfd7zXZ\x00",
        "\x1f\x8b\x08\x00",
    ],
}


def _attr(kind, payload):
    """A netlink attribute (struct nlattr), padded to 4 bytes."""
    data = struct.pack("<HH", 4 + len(payload), kind) + payload
    return data + b"\0" * (-len(data) % 4)


def _message(kind, payload, flags=2):
    """A netlink message (struct nlmsghdr, NLM_F_MULTI), padded to 4 bytes."""
    data = struct.pack("<IHHII", 16 + len(payload), kind, flags, 1, 0) + payload
    return data + b"\0" * (-len(data) % 4)


def _answers(chooser, *answers):
    """A fuzz_holders input: the byte choosing the reader, then each answer after its length."""
    return bytes([chooser]) + b"".join(struct.pack("<H", len(a)) + a for a in answers)


_DONE = _message(3, struct.pack("<i", 0))
# an nf_tables rule (table t, chain c, handle 4) with the expressions ct and nat
_NFT_RULE = _message(0x0A06, b"\x02\x00\x00\x00" + _attr(1, b"t\0") + _attr(2, b"c\0") +
                     _attr(3, struct.pack(">Q", 4)) +
                     _attr(4 | 0x8000, _attr(1, _attr(1, b"ct\0")) + _attr(1, _attr(1, b"nat\0"))))
# a tc action dump: gact index 7 with its parameters (tc_gen: index, capab, action, refcnt, bindcnt)
_TC_ACTION = _message(0x32, b"\0" * 4 + _attr(1, _attr(1, _attr(1, b"gact\0") + _attr(
    2, _attr(2, struct.pack("<IIiii", 7, 0, 0, 1, 0))))))
# a link dump naming eth0 (ifindex 2), then a qdisc htb on it
_TC_LINK = _message(16, struct.pack("<BBHiII", 0, 0, 1, 2, 0, 0) + _attr(3, b"eth0\0"))
_TC_QDISC = _message(36, struct.pack("<BBHiIII", 0, 0, 0, 2, 0x10000, 0xFFFFFFFF, 1) +
                     _attr(1, b"htb\0"))
# a u32 filter on it, under the htb qdisc (priority 1, protocol all)
_TC_FILTER = _message(44, struct.pack("<BBHiIII", 0, 0, 0, 2, 0x10001, 0x10000, 1 << 16 | 0x0300) +
                      _attr(1, b"u32\0"))
# an inet_diag_msg for a TCP socket with ULP tls (INET_DIAG_ULP_INFO, INET_ULP_INFO_NAME)
_DIAG = _message(20, struct.pack("<BBBB", 2, 1, 0, 0) + struct.pack(">HH", 443, 50000) +
                 b"\x7f\0\0\x01" + b"\0" * 12 + b"\x7f\0\0\x01" + b"\0" * 12 +
                 struct.pack("<IQ", 0, 0) + struct.pack("<IIIII", 0, 0, 0, 0, 12345) +
                 _attr(19, _attr(1, b"tls\0")))



def _xt_entry(matches, target):
    """An ipt_entry (112 bytes: ipt_ip, nfcache, target_offset, next_offset, comefrom, counters)
    with its matches and target."""
    target_offset = 112 + len(matches)
    head = b"\0" * 88 + struct.pack("<HHI", target_offset, target_offset + len(target), 0)
    return head + b"\0" * 16 + matches + target


def _xt_part(name, data=b"\0" * 8):
    """An xt_entry_match or xt_entry_target: size, name[29], revision, then its data."""
    return struct.pack("<H", 32 + len(data)) + name.ljust(29, b"\0") + b"\0" + data


# an iptables filter table: INPUT's rule -m conntrack -j LOG, then the table's end (ERROR)
_XT_ENTRIES = (_xt_entry(_xt_part(b"conntrack"), _xt_part(b"LOG")) +
               _xt_entry(b"", _xt_part(b"ERROR", b"ERROR".ljust(32, b"\0"))))
_XT_TABLE = (b"filter".ljust(32, b"\0") + struct.pack("<I5I5III", 0b10, 0, 0, 0, 0, 0,
                                                      0, 0, 0, 0, 0, 2, len(_XT_ENTRIES)) +
             b"filter".ljust(32, b"\0") + struct.pack("<I4x", len(_XT_ENTRIES)) + _XT_ENTRIES)

# Binary seeds, built here: the first byte chooses the reader (see fuzz_holders.cpp).
BINARY_SEEDS = {
    "holders": [
        b"\x00" + _NFT_RULE + _DONE,
        b"\x01" + _attr(1, _attr(2, b"nested\0")) + _attr(3, b""),
        _answers(2, _NFT_RULE + _DONE, _DONE, _DONE, _DONE, _DONE),
        b"\x03\x00" + _XT_TABLE,
        b"\x03\x01" + _XT_TABLE,
        _answers(4, _TC_ACTION + _DONE, _DONE, _TC_LINK + _DONE, _TC_QDISC + _DONE, _DONE,
                 _TC_FILTER + _DONE, _TC_FILTER + _DONE),
        _answers(5, _DIAG + _DONE, _DONE),
    ],
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("stamp", type=pathlib.Path)
    parser.add_argument("--target", nargs="+", action="append", default=[],
                        metavar=("NAME", "FILE"))
    args = parser.parse_args()

    files = {name: [] for name in [*TEXT_SEEDS, *BINARY_SEEDS]}
    for name, *paths in args.target:
        files.setdefault(name, []).extend(pathlib.Path(p) for p in paths)

    (args.out / "artifacts").mkdir(parents=True, exist_ok=True)
    for name, paths in files.items():
        folder = args.out / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        written = []
        for i, path in enumerate(paths):
            # Fixture roots all call theirs proc/modules: the folder above keeps them apart.
            seed = folder / f"fixture-{i:02}-{path.parent.parent.name}-{path.name}"
            shutil.copyfile(path, seed)
            written.append(seed)
        for i, text in enumerate(TEXT_SEEDS.get(name, [])):
            seed = folder / f"text-{i:02}"
            seed.write_bytes(text.encode("latin-1"))
            written.append(seed)
        for i, data in enumerate(BINARY_SEEDS.get(name, [])):
            seed = folder / f"binary-{i:02}"
            seed.write_bytes(data)
            written.append(seed)
        (args.out / f"{name}.list").write_text(",".join(str(p.resolve()) for p in written))
    args.stamp.write_text("")


if __name__ == "__main__":
    main()
