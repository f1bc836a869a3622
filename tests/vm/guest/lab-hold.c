// SPDX-License-Identifier: GPL-2.0
/*
 * lab-hold: hold something open in the VM lab until killed, so that a
 * scenario can ask who holds a module's references.  Built on the host with
 * `gcc -static -O2` when the lab builds its image; its comm is "lab-hold".
 *
 *   lab-hold file PATH...        open each PATH read-only (fd 3, 4, ...);
 *                                the benchmark's crowd passes 40 paths
 *   lab-hold shared PATH         open PATH, then fork: two processes share
 *                                one open file (prints the child's pid)
 *   lab-hold socket pfkey        socket(PF_KEY, SOCK_RAW, PF_KEY_V2)
 *   lab-hold socket tls          a loopback TCP connection (client fd 3,
 *                                accepted fd 4), the client with
 *                                setsockopt(TCP_ULP, "tls"): the tls module
 *                                must be loaded (or loadable)
 *   lab-hold dm NAME MAJ:MIN SECTORS
 *                                a device-mapper device NAME, linear over
 *                                the block device MAJ:MIN (dm_mod loaded):
 *                                removed again at SIGTERM
 *   lab-hold inflight PATH       open PATH (fd 3), send it over a unix socket
 *                                pair (fds 4 and 5) and close it: the file
 *                                stays open in flight, in no fd table
 *
 * Then it sleeps until a signal kills it (SIGTERM).  Any failure to open is
 * fatal (exit 1, with a message on stderr), so a scenario never waits on a
 * holder that holds nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define PF_KEY_V2 2 /* <linux/pfkeyv2.h> */
#ifndef TCP_ULP
#define TCP_ULP 31 /* <linux/tcp.h> */
#endif

static int open_or_die(const char* path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "lab-hold: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return fd;
}

/* An SCM_RIGHTS message that nobody receives keeps the file open. */
static int send_in_flight(int fd) {
    int sv[2];
    char byte = 0;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);

    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0 || sendmsg(sv[0], &msg, 0) < 0) {
        perror("lab-hold: sending the file");
        return -1;
    }
    return close(fd);
}

/* A connected loopback pair; the client carries the "tls" upper-layer protocol. */
static int tls_socket(void) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0 || bind(listener, (struct sockaddr*)&addr, sizeof(addr)) < 0 ||
        listen(listener, 1) < 0 || getsockname(listener, (struct sockaddr*)&addr, &len) < 0) {
        perror("lab-hold: listening on loopback");
        return -1;
    }
    int client = socket(AF_INET, SOCK_STREAM, 0);
    if (client < 0 || connect(client, (struct sockaddr*)&addr, sizeof(addr)) < 0) {
        perror("lab-hold: connecting on loopback");
        return -1;
    }
    int server = accept(listener, NULL, NULL);
    if (server < 0) {
        perror("lab-hold: accept");
        return -1;
    }
    /* The client is fd 3 when the listener's descriptor moves out of the way. */
    if (dup2(client, 3) < 0 || dup2(server, 4) < 0) {
        perror("lab-hold: dup2");
        return -1;
    }
    if (client != 3 && client != 4)
        close(client);
    if (server != 3 && server != 4)
        close(server);
    if (listener != 3 && listener != 4)
        close(listener);
    if (setsockopt(3, SOL_TCP, TCP_ULP, "tls", 3) < 0) {
        perror("lab-hold: setsockopt(TCP_ULP, tls)");
        return -1;
    }
    return 0;
}

/* A device-mapper device NAME, linear over all of DEVICE (MAJ:MIN, SECTORS long), through
 * /dev/mapper/control as dmsetup does it; removed again when a signal ends lab-hold. */
static const char* dm_name;
static int dm_control = -1;

static int dm_call(unsigned long command, struct dm_ioctl* io, size_t size) {
    io->version[0] = DM_VERSION_MAJOR;
    io->version[1] = 0;
    io->version[2] = 0;
    io->data_size = (__u32)size;
    io->data_start = sizeof(struct dm_ioctl);
    snprintf(io->name, sizeof(io->name), "%s", dm_name);
    return ioctl(dm_control, command, io);
}

static void dm_remove(int sig) {
    struct dm_ioctl io;
    (void)sig;
    memset(&io, 0, sizeof(io));
    dm_call(DM_DEV_REMOVE, &io, sizeof(io));
    _exit(sig == 0); /* 1 when called for a failure */
}

static int dm_linear(const char* name, const char* device, const char* sectors) {
    union {
        struct dm_ioctl io;
        char bytes[sizeof(struct dm_ioctl) + sizeof(struct dm_target_spec) + 64];
    } table;
    struct dm_target_spec* spec = (struct dm_target_spec*)(table.bytes + sizeof(struct dm_ioctl));
    struct dm_ioctl io;

    dm_name = name;
    dm_control = open("/dev/mapper/control", O_RDWR);
    memset(&io, 0, sizeof(io));
    if (dm_control < 0 || dm_call(DM_DEV_CREATE, &io, sizeof(io)) < 0) {
        perror("lab-hold: creating the dm device");
        return -1;
    }
    signal(SIGTERM, dm_remove);
    memset(&table, 0, sizeof(table));
    table.io.target_count = 1;
    spec->sector_start = 0;
    spec->length = strtoull(sectors, NULL, 10);
    snprintf(spec->target_type, sizeof(spec->target_type), "linear");
    snprintf((char*)(spec + 1), 64, "%s 0", device);
    memset(&io, 0, sizeof(io));
    if (dm_call(DM_TABLE_LOAD, &table.io, sizeof(table)) < 0 ||
        dm_call(DM_DEV_SUSPEND, &io, sizeof(io)) < 0) {
        perror("lab-hold: loading the dm table");
        dm_remove(0);
    }
    return 0;
}

static int usage(void) {
    fprintf(stderr,
            "usage: lab-hold file PATH... | shared PATH | socket pfkey|tls | dm NAME MAJ:MIN "
            "SECTORS | inflight PATH\n");
    return 2;
}

int main(int argc, char** argv) {
    if (argc < 3)
        return usage();
    const char* mode = argv[1];
    if (strcmp(mode, "file") == 0) {
        for (int i = 2; i < argc; i++)
            open_or_die(argv[i]);
    } else if (strcmp(mode, "shared") == 0) {
        open_or_die(argv[2]);
        pid_t child = fork();
        if (child < 0) {
            perror("lab-hold: fork");
            return 1;
        }
        if (child > 0) {
            printf("%d\n", (int)child);
            fflush(stdout);
        }
    } else if (strcmp(mode, "socket") == 0 && strcmp(argv[2], "pfkey") == 0) {
        if (socket(PF_KEY, SOCK_RAW, PF_KEY_V2) < 0) {
            perror("lab-hold: socket(PF_KEY)");
            return 1;
        }
    } else if (strcmp(mode, "socket") == 0 && strcmp(argv[2], "tls") == 0) {
        if (tls_socket() < 0)
            return 1;
    } else if (strcmp(mode, "dm") == 0 && argc == 5) {
        if (dm_linear(argv[2], argv[3], argv[4]) < 0)
            return 1;
    } else if (strcmp(mode, "inflight") == 0) {
        if (send_in_flight(open_or_die(argv[2])) < 0)
            return 1;
    } else {
        return usage();
    }
    for (;;)
        pause();
}
