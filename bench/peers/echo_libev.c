/*
 * echo_libev.c: the reference echo server, straight on libev.
 *
 * It is the "no overhead" baseline the other servers are measured
 * against: non-blocking accept, one shared 64 KiB read buffer, each read
 * written back at once, only the unwritten remainder queued, and no
 * reading while a backlog exists (resumed once it is flushed).
 *
 *   echo_libev PORT
 *
 * Listens on [::]:PORT dual-stack (0.0.0.0:PORT without IPv6), with
 * SO_REUSEADDR and a backlog of 1024, like hinge's Server. SIGINT and
 * SIGTERM end the loop cleanly (so callgrind can write its profile).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_BUF (64 * 1024)
#define ACCEPTS_PER_WAKEUP 64

static char buf[READ_BUF];

struct conn {
    ev_io io; /* first, so an ev_io * is a struct conn * */
    char *pending;
    size_t len; /* bytes queued */
    size_t off; /* of which already written */
};

static void conn_close(struct ev_loop *loop, struct conn *c)
{
    ev_io_stop(loop, &c->io);
    close(c->io.fd);
    free(c->pending);
    free(c);
}

static void conn_watch(struct ev_loop *loop, struct conn *c, int events)
{
    ev_io_stop(loop, &c->io);
    ev_io_set(&c->io, c->io.fd, events);
    ev_io_start(loop, &c->io);
}

/* Queues what write() did not take and stops reading until it is flushed. */
static int conn_queue(struct ev_loop *loop, struct conn *c, const char *data, size_t n)
{
    c->pending = malloc(n);
    if (!c->pending)
        return -1;
    memcpy(c->pending, data, n);
    c->len = n;
    c->off = 0;
    conn_watch(loop, c, EV_WRITE);
    return 0;
}

static void conn_flush(struct ev_loop *loop, struct conn *c)
{
    while (c->off < c->len) {
        ssize_t w = write(c->io.fd, c->pending + c->off, c->len - c->off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            conn_close(loop, c);
            return;
        }
        c->off += (size_t)w;
    }
    free(c->pending);
    c->pending = NULL;
    c->len = c->off = 0;
    conn_watch(loop, c, EV_READ);
}

static void conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = (struct conn *)w;
    if (revents & EV_WRITE) {
        conn_flush(loop, c);
        return;
    }
    ssize_t n = read(w->fd, buf, sizeof buf);
    if (n == 0) {
        conn_close(loop, c);
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            conn_close(loop, c);
        return;
    }
    ssize_t sent = 0;
    while (sent < n) {
        ssize_t wr = write(w->fd, buf + sent, (size_t)(n - sent));
        if (wr < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_close(loop, c);
            return;
        }
        sent += wr;
    }
    if (sent < n && conn_queue(loop, c, buf + sent, (size_t)(n - sent)) < 0)
        conn_close(loop, c);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                perror("accept4");
            return;
        }
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        ev_io_init(&c->io, conn_cb, fd, EV_READ);
        ev_io_start(loop, &c->io);
    }
}

static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static int listen_on(int port)
{
    int one = 1, zero = 0;
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        struct sockaddr_in6 a6;
        memset(&a6, 0, sizeof a6);
        a6.sin6_family = AF_INET6;
        a6.sin6_addr = in6addr_any;
        a6.sin6_port = htons((unsigned short)port);
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&a6, sizeof a6) == 0)
            return fd;
        close(fd);
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a4;
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_addr.s_addr = htonl(INADDR_ANY);
    a4.sin_port = htons((unsigned short)port);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a4, sizeof a4) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 4545;
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "usage: echo_libev PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int fd = listen_on(port);
    /* Accepted connections inherit TCP_NODELAY from the listener; the
     * harness sets ECHO_NODELAY alike for every peer (default 1). */
    const char *nd = getenv("ECHO_NODELAY");
    int nodelay = !(nd && strcmp(nd, "0") == 0);
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof nodelay);
    if (fd < 0 || listen(fd, 1024) < 0) {
        perror("listen");
        return 1;
    }
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    if (!loop) {
        fprintf(stderr, "echo_libev: cannot create a libev loop\n");
        return 1;
    }
    ev_io accept_w;
    ev_io_init(&accept_w, accept_cb, fd, EV_READ);
    ev_io_start(loop, &accept_w);
    ev_signal sigint_w, sigterm_w;
    ev_signal_init(&sigint_w, stop_cb, SIGINT);
    ev_signal_init(&sigterm_w, stop_cb, SIGTERM);
    ev_signal_start(loop, &sigint_w);
    ev_signal_start(loop, &sigterm_w);
    ev_unref(loop);
    ev_unref(loop);
    ev_run(loop, 0);
    ev_loop_destroy(loop);
    close(fd);
    return 0;
}
