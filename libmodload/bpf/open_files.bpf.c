// SPDX-License-Identifier: GPL-2.0-or-later
/* Every process's open files that hold a module reference, with the module that owns them.
 *
 * A task-file iterator: the kernel calls scan_open_file once for each descriptor of each process
 * (threads that share their leader's files table are skipped). The kernel structures are declared
 * here with only the fields read, and preserve_access_index: libbpf moves every field access to
 * the running kernel's offsets (CO-RE, from /sys/kernel/btf/vmlinux), so neither vmlinux.h nor
 * kernel headers are needed to build this, and one object runs on 6.1 and 6.12 alike.
 *
 * Who takes which reference (the rules followed here):
 *   - opening a file takes f_op->owner (fops_get in do_dentry_open); misc devices and character
 *     devices put the driver's own file operations in file->f_op at open (replace_fops), so
 *     afterwards f_op->owner is the driver;
 *   - a socket (file->private_data is its struct socket) holds sock->ops->owner (the protocol
 *     family's proto_ops, taken in sock_create) and sock->sk->sk_prot->owner (the struct proto,
 *     taken in sk_alloc);
 *   - an opened block device holds its disk's fops->owner (blkdev_get_*); the file's own f_op is
 *     the block layer's, which no module owns.
 */

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed int __s32;
typedef signed long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "open_files_record.h"

/* include/uapi/linux/stat.h and asm-generic/fcntl.h: ABI, the same in every kernel. */
#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define S_IFBLK 0060000
#define O_PATH 010000000

struct module {
	char name[OPEN_FILE_MODULE_NAME_LEN];
} __attribute__((preserve_access_index));

struct file_operations {
	struct module *owner;
} __attribute__((preserve_access_index));

struct inode {
	unsigned short i_mode;
} __attribute__((preserve_access_index));

struct address_space {
	struct inode *host;
} __attribute__((preserve_access_index));

struct file {
	const struct file_operations *f_op;
	struct inode *f_inode;
	struct address_space *f_mapping;
	unsigned int f_flags;
	void *private_data;
} __attribute__((preserve_access_index));

struct proto {
	struct module *owner;
} __attribute__((preserve_access_index));

struct proto_ops {
	struct module *owner;
} __attribute__((preserve_access_index));

/* sk_prot is a macro for __sk_common.skc_prot. */
struct sock_common {
	struct proto *skc_prot;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct socket {
	struct sock *sk;
	const struct proto_ops *ops;
} __attribute__((preserve_access_index));

struct block_device_operations {
	struct module *owner;
} __attribute__((preserve_access_index));

struct gendisk {
	const struct block_device_operations *fops;
} __attribute__((preserve_access_index));

struct block_device {
	struct gendisk *bd_disk;
} __attribute__((preserve_access_index));

/* block/bdev.c: a block device and its inode are allocated together; I_BDEV is container_of. */
struct bdev_inode {
	struct block_device bdev;
	struct inode vfs_inode;
} __attribute__((preserve_access_index));

struct task_struct {
	int tgid;
	char comm[OPEN_FILE_COMM_LEN];
} __attribute__((preserve_access_index));

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
} __attribute__((preserve_access_index));

struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
} __attribute__((preserve_access_index));

char LICENSE[] SEC("license") = "GPL";

/* Records written so far; user space checks that it read exactly this many. A file's records go
 * out in one bpf_seq_write: when that overflows the kernel's buffer, the kernel drops the file's
 * output and shows the file again in the next read, so only writes that succeed are counted. */
__u64 records_written = 0;

enum { MAX_RECORDS_PER_FILE = 3 }; /* f_op owner, and a socket's two or a block device's one */

/* Fills *r with the descriptor and the module. task and file come from the caller, which checked
 * them for NULL: read from the context again, they would need a check of their own. */
static __always_inline void fill_record(struct open_file_record *r, struct task_struct *task,
					struct file *file, __u32 fd, const struct module *owner,
					enum open_file_via via)
{
	r->file = (__u64)(unsigned long)file;
	r->tgid = BPF_CORE_READ(task, tgid);
	r->fd = fd;
	r->via = via;
	BPF_CORE_READ_STR_INTO(&r->comm, task, comm);
	BPF_CORE_READ_STR_INTO(&r->owner, owner, name);
}

/* I_BDEV (block/bdev.c): the inode is the one in the bdev_inode that holds the block device. */
static __always_inline struct block_device *i_bdev(struct inode *inode)
{
	return &((struct bdev_inode *)((char *)inode -
				      bpf_core_field_offset(struct bdev_inode, vfs_inode)))->bdev;
}

SEC("iter/task_file")
int scan_open_file(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct open_file_record records[MAX_RECORDS_PER_FILE];
	unsigned int count = 0; /* records filled: a constant on each path, as the verifier wants */
	struct module *owner;
	unsigned short mode;

	if (!task || !file) {
		return 0; /* the end of the iteration */
	}
	/* An O_PATH file never opened the object: its f_op is empty_fops, and f_mapping and
	 * private_data are not a device's or a socket's. */
	if (BPF_CORE_READ(file, f_flags) & O_PATH) {
		return 0;
	}

	__builtin_memset(records, 0, sizeof(records));
	owner = BPF_CORE_READ(file, f_op, owner);
	if (owner) {
		fill_record(&records[count++], task, file, ctx->fd, owner,
			    OPEN_FILE_VIA_FILE_OPERATIONS);
	}
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) == S_IFSOCK) {
		struct socket *sock = (struct socket *)BPF_CORE_READ(file, private_data);

		owner = BPF_CORE_READ(sock, ops, owner);
		if (owner) {
			fill_record(&records[count++], task, file, ctx->fd, owner,
				    OPEN_FILE_VIA_SOCKET_FAMILY);
		}
		owner = BPF_CORE_READ(sock, sk, __sk_common.skc_prot, owner);
		if (owner) {
			fill_record(&records[count++], task, file, ctx->fd, owner,
				    OPEN_FILE_VIA_SOCKET_PROTOCOL);
		}
	} else if ((mode & S_IFMT) == S_IFBLK) {
		struct block_device *bdev = i_bdev(BPF_CORE_READ(file, f_mapping, host));

		owner = BPF_CORE_READ(bdev, bd_disk, fops, owner);
		if (owner) {
			fill_record(&records[count++], task, file, ctx->fd, owner,
				    OPEN_FILE_VIA_BLOCK_DEVICE);
		}
	}
	if (count && bpf_seq_write(seq, records, count * sizeof(records[0])) == 0) {
		records_written += count;
	}
	return 0;
}
