/* The records the open-file iterator (open_files.bpf.c) writes and open_files_bpf.cpp reads: one
 * per open file and module reference, fixed size, in the machine's byte order. C that both the BPF
 * target and the host compiler read the same way (int is 32 bits, long long 64, on both). */
#ifndef MODLOAD_OPEN_FILES_RECORD_H
#define MODLOAD_OPEN_FILES_RECORD_H

/* How the file holds the reference: the values of open_file_record.via. */
enum open_file_via {
	OPEN_FILE_VIA_FILE_OPERATIONS = 1, /* file->f_op->owner */
	OPEN_FILE_VIA_SOCKET_FAMILY = 2,   /* socket->ops->owner */
	OPEN_FILE_VIA_SOCKET_PROTOCOL = 3, /* socket->sk->sk_prot->owner */
	OPEN_FILE_VIA_BLOCK_DEVICE = 4,    /* bdev->bd_disk->fops->owner */
};

enum {
	OPEN_FILE_COMM_LEN = 16,        /* TASK_COMM_LEN */
	OPEN_FILE_MODULE_NAME_LEN = 56, /* MODULE_NAME_LEN: 64 - sizeof(unsigned long) */
};

struct open_file_record {
	/* The struct file's address: descriptors that share one open file share its reference. */
	unsigned long long file;
	unsigned int tgid;
	unsigned int fd;
	unsigned int via; /* enum open_file_via */
	unsigned int reserved;
	char comm[OPEN_FILE_COMM_LEN];         /* NUL-terminated */
	char owner[OPEN_FILE_MODULE_NAME_LEN]; /* NUL-terminated */
};

#endif
