/*
 * pycni-shim: what a plugin file in the CNI bin dir is in daemon mode.
 *
 * It moves bytes only: the environment and stdin to the pycni daemon (protocol 1,
 * HTTP/1.1 over a unix socket, docs/daemon-protocol.md), the reply's stdout and
 * stderr bytes to fds 1 and 2, the exit status back. All logic is in Python.
 * When the daemon does not take the call, it execs the plugin's exec-mode entry
 * (<dir>/.pycni/<name>) with the same argv, environment and stdin, so the call runs
 * exactly as without a daemon; PYCNI_SHIM_FALLBACK tells that entry why:
 *   away        no socket, refused, not ready in time, or the call not accepted
 *   lost        the daemon accepted the call and went away before replying
 * A worker killed by a signal while running the call (answered 500 with
 * Pycni-Signal) kills the shim with the same signal, as it would an exec'd plugin.
 *   unwritten:<exit status>:<reason>   the reply could not be written to stdout
 * and PYCNI_SHIM_STRICT=1 is set when the installation chose strict mode.
 * Calls whose stdout is not a pipe or a socket (a terminal, a file, closed, a pipe
 * with no reader) go to that entry directly: it knows what to answer there.
 *
 * Settings, from <dir>/.pycni/shim.conf (written by `pycni install --mode daemon`):
 *   socket=PATH  strict=0|1  ready_timeout_ms=N  reply_timeout_ms=N (0: none)
 * Plain C99 and POSIX plus Linux's memfd_create; no library beyond libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Found by `pycni install` and by delegation (cni/delegate.py): this file is ours. In a
 * note section, which the linker places at the head of the file, static or not. */
__attribute__((used, section(".note.pycni"), aligned(4)))
static const char pycni_shim_marker[] = "pycni-shim-marker: protocol 1";

#define MAX_STDIN (64u << 20)
#define MAX_REPLY (64u << 20)

extern char **environ;

static char self_dir[PATH_MAX], name[NAME_MAX + 1], socket_path[108] = "/run/pycni/pycni.sock";
static int strict, ready_timeout_ms = 2000, reply_timeout_ms;
static char **args;

struct buf { char *data; size_t len, cap; };

static int grow(struct buf *b, size_t more) {
    if (b->len + more <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) return -1;
    b->data = data, b->cap = cap;
    return 0;
}

static int append(struct buf *b, const void *data, size_t len) {
    if (grow(b, len)) return -1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

static void fatal(const char *what) {
    dprintf(2, "pycni-shim (%s): %s: %s\n", name, what, strerror(errno));
    exit(1);
}

/* Run the exec-mode entry of this plugin, stdin given back when already read. */
static void fallback(const char *reason, const struct buf *in) {
    char path[PATH_MAX + NAME_MAX + 16];
    if (snprintf(path, sizeof path, "%s/.pycni/%s", self_dir, name) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        fatal("the exec-mode entry");
    }
    if (reason) setenv("PYCNI_SHIM_FALLBACK", reason, 1);
    if (strict) setenv("PYCNI_SHIM_STRICT", "1", 1);
    if (in) {
        int fd = memfd_create("stdin", 0);
        size_t done = 0;
        if (fd < 0) fatal("memfd_create");
        while (done < in->len) {
            ssize_t n = write(fd, in->data + done, in->len - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) fatal("writing stdin aside");
            done += (size_t)n;
        }
        if (lseek(fd, 0, SEEK_SET) < 0 || dup2(fd, 0) < 0) fatal("restoring stdin");
        close(fd);
    }
    args[0] = path;
    execv(path, args);
    fatal(path);
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Wait for `events` on fd until the deadline (0: none); 1 ready, 0 timed out, -1 error. */
static int wait_for(int fd, short events, long deadline) {
    for (;;) {
        int timeout = -1;
        if (deadline) {
            long left = deadline - now_ms();
            if (left <= 0) return 0;
            timeout = left > INT_MAX ? INT_MAX : (int)left;
        }
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, timeout);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n;
        return 1;
    }
}

static int send_all(int fd, const char *data, size_t len, long deadline) {
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            if (wait_for(fd, POLLOUT, deadline) != 1) return -1;
            continue;
        }
        if (n < 0) return -1;
        data += n, len -= (size_t)n;
    }
    return 0;
}

/* Read one response head (up to CRLFCRLF) into b, which may already hold bytes;
 * returns the offset just after the head, or 0 on EOF, error or timeout. */
static size_t read_head(int fd, struct buf *b, long deadline) {
    for (;;) {
        char *end = b->len >= 4 ? memmem(b->data, b->len, "\r\n\r\n", 4) : NULL;
        if (end) return (size_t)(end - b->data) + 4;
        if (b->len > 65536 || grow(b, 8192) || wait_for(fd, POLLIN, deadline) != 1) return 0;
        ssize_t n = recv(fd, b->data + b->len, b->cap - b->len, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) return 0;
        b->len += (size_t)n;
    }
}

static int status_of(const struct buf *b) {
    if (b->len < 12 || memcmp(b->data, "HTTP/1.", 7) != 0) return -1;
    return atoi(b->data + 9);
}

/* The value of header `field` (with its colon, lower case) in the head, or -1. */
static long header(const char *head, size_t len, const char *field) {
    size_t flen = strlen(field);
    for (size_t i = 0; i + flen < len; i++) {
        if ((i == 0 || head[i - 1] == '\n') && strncasecmp(head + i, field, flen) == 0) {
            char *end;
            long v = strtol(head + i + flen, &end, 10);
            return end == head + i + flen ? -1 : v;
        }
    }
    return -1;
}

static int write_all(int fd, const char *data, size_t len) {
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        data += n, len -= (size_t)n;
    }
    return 0;
}

static void read_conf(void) {
    char path[PATH_MAX + 32], line[512];
    snprintf(path, sizeof path, "%s/.pycni/shim.conf", self_dir);
    FILE *f = fopen(path, "re");
    if (!f) return;  /* defaults */
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *value = strchr(line, '=');
        if (!value || line[0] == '#') continue;
        *value++ = 0;
        if (!strcmp(line, "socket") && strlen(value) < sizeof socket_path) strcpy(socket_path, value);
        else if (!strcmp(line, "strict")) strict = atoi(value) != 0;
        else if (!strcmp(line, "ready_timeout_ms")) ready_timeout_ms = atoi(value);
        else if (!strcmp(line, "reply_timeout_ms")) reply_timeout_ms = atoi(value);
    }
    fclose(f);
}

int main(int argc, char **argv) {
    (void)argc;
    args = argv;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) fatal("/proc/self/exe");
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    snprintf(name, sizeof name, "%s", slash + 1);
    *slash = 0;
    snprintf(self_dir, sizeof self_dir, "%s", exe[0] ? exe : "/");
    read_conf();
    signal(SIGPIPE, SIG_IGN);

    /* The protocol channel: only a pipe or a socket with a reader goes to the daemon. */
    struct stat st;
    if (fstat(1, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) fallback(NULL, NULL);
    struct pollfd out = {1, 0, 0};
    if (S_ISFIFO(st.st_mode) && poll(&out, 1, 0) > 0 && (out.revents & POLLERR)) fallback(NULL, NULL);
    if (fstat(0, &st) != 0 || isatty(0)) fallback(NULL, NULL);

    struct buf body = {0}, in = {0};
    for (char **e = environ; *e; e++)
        if (append(&body, *e, strlen(*e) + 1)) fatal("memory");
    if (append(&body, "", 1)) fatal("memory");
    size_t env_len = body.len;
    for (;;) {
        if (grow(&body, 65536)) fatal("memory");
        n = read(0, body.data + body.len, body.cap - body.len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fallback(NULL, NULL);  /* unreadable stdin: the entry reports it */
        if (n == 0) break;
        body.len += (size_t)n;
        if (body.len - env_len > MAX_STDIN) break;
    }
    in.data = body.data + env_len, in.len = body.len - env_len;
    if (in.len > MAX_STDIN) fallback("away", &in);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, socket_path);
    long ready_by = now_ms() + ready_timeout_ms;
    if (fd < 0) fallback("away", &in);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int soerr = 0;
        socklen_t l = sizeof soerr;
        if (errno != EINPROGRESS && errno != EAGAIN) fallback("away", &in);
        if (wait_for(fd, POLLOUT, ready_by) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l) || soerr)
            fallback("away", &in);
    }
    char head[512];
    int hlen = snprintf(head, sizeof head,
                        "POST /v1/cni/%s HTTP/1.1\r\nHost: pycni\r\nPycni-Protocol: 1\r\n"
                        "Expect: 100-continue\r\nContent-Length: %zu\r\n\r\n", name, body.len);
    if (hlen >= (int)sizeof head || send_all(fd, head, (size_t)hlen, ready_by)) fallback("away", &in);

    /* 100 Continue: the daemon is ready and takes the call; any other answer: not run. */
    struct buf reply = {0};
    size_t at = read_head(fd, &reply, ready_by);
    if (!at || status_of(&reply) != 100) fallback("away", &in);
    memmove(reply.data, reply.data + at, reply.len - at);
    reply.len -= at;
    if (send_all(fd, body.data, body.len, reply_timeout_ms ? now_ms() + reply_timeout_ms : 0))
        fallback("away", &in);

    long reply_by = reply_timeout_ms ? now_ms() + reply_timeout_ms : 0;
    at = read_head(fd, &reply, reply_by);
    long length = at ? header(reply.data, at, "Content-Length:") : -1;
    long status = at ? header(reply.data, at, "Pycni-Exit-Status:") : -1;
    long split = at ? header(reply.data, at, "Pycni-Stdout-Length:") : -1;
    long killed = at && status_of(&reply) == 500 ? header(reply.data, at, "Pycni-Signal:") : -1;
    if (killed > 0 && killed < 65) {
        signal((int)killed, SIG_DFL);
        raise((int)killed);
    }
    if (!at || status_of(&reply) != 200 || length < 0 || status < 0 || split < 0 || split > length ||
        (size_t)length > MAX_REPLY)
        fallback("lost", &in);
    while (reply.len - at < (size_t)length) {
        if (grow(&reply, 65536) || wait_for(fd, POLLIN, reply_by) != 1) fallback("lost", &in);
        n = recv(fd, reply.data + reply.len, reply.cap - reply.len, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) fallback("lost", &in);
        reply.len += (size_t)n;
    }
    close(fd);
    int err = write_all(1, reply.data + at, (size_t)split);
    if (err) {
        char reason[160];
        snprintf(reason, sizeof reason, "unwritten:%ld:%s", status, strerror(err));
        fallback(reason, &in);
    }
    write_all(2, reply.data + at + split, (size_t)(length - split));
    return (int)status;
}
