/*
 * hinge_ev.h: libev's function-like macros as real functions.
 *
 * libev exposes watcher initialisation and most watcher accessors as
 * macros, which no FFI can call. Each function here is a one-line
 * wrapper around the macro of the same name.
 */
#ifndef HINGE_EV_H
#define HINGE_EV_H

#include <ev.h>

typedef void (*hinge_ev_io_cb)(struct ev_loop *, ev_io *, int);
typedef void (*hinge_ev_timer_cb)(struct ev_loop *, ev_timer *, int);
typedef void (*hinge_ev_periodic_cb)(struct ev_loop *, ev_periodic *, int);
typedef void (*hinge_ev_signal_cb)(struct ev_loop *, ev_signal *, int);
typedef void (*hinge_ev_child_cb)(struct ev_loop *, ev_child *, int);
typedef void (*hinge_ev_stat_cb)(struct ev_loop *, ev_stat *, int);
typedef void (*hinge_ev_idle_cb)(struct ev_loop *, ev_idle *, int);
typedef void (*hinge_ev_prepare_cb)(struct ev_loop *, ev_prepare *, int);
typedef void (*hinge_ev_check_cb)(struct ev_loop *, ev_check *, int);
typedef void (*hinge_ev_fork_cb)(struct ev_loop *, ev_fork *, int);
typedef void (*hinge_ev_cleanup_cb)(struct ev_loop *, ev_cleanup *, int);
typedef void (*hinge_ev_async_cb)(struct ev_loop *, ev_async *, int);
typedef void (*hinge_ev_watcher_cb)(struct ev_loop *, ev_watcher *, int);

/* *_init: ev_init plus *_set. */
void hinge_ev_io_init(ev_io *w, hinge_ev_io_cb cb, int fd, int events);
void hinge_ev_timer_init(ev_timer *w, hinge_ev_timer_cb cb, ev_tstamp after, ev_tstamp repeat);
void hinge_ev_periodic_init(ev_periodic *w, hinge_ev_periodic_cb cb, ev_tstamp offset, ev_tstamp interval);
void hinge_ev_signal_init(ev_signal *w, hinge_ev_signal_cb cb, int signum);
void hinge_ev_child_init(ev_child *w, hinge_ev_child_cb cb, int pid, int trace);
void hinge_ev_stat_init(ev_stat *w, hinge_ev_stat_cb cb, const char *path, ev_tstamp interval);
void hinge_ev_idle_init(ev_idle *w, hinge_ev_idle_cb cb);
void hinge_ev_prepare_init(ev_prepare *w, hinge_ev_prepare_cb cb);
void hinge_ev_check_init(ev_check *w, hinge_ev_check_cb cb);
void hinge_ev_fork_init(ev_fork *w, hinge_ev_fork_cb cb);
void hinge_ev_cleanup_init(ev_cleanup *w, hinge_ev_cleanup_cb cb);
void hinge_ev_async_init(ev_async *w, hinge_ev_async_cb cb);

/* *_set: reconfigure an inactive watcher. */
void hinge_ev_io_set(ev_io *w, int fd, int events);
void hinge_ev_io_modify(ev_io *w, int events);
void hinge_ev_timer_set(ev_timer *w, ev_tstamp after, ev_tstamp repeat);
void hinge_ev_periodic_set(ev_periodic *w, ev_tstamp offset, ev_tstamp interval);
void hinge_ev_signal_set(ev_signal *w, int signum);
void hinge_ev_child_set(ev_child *w, int pid, int trace);
void hinge_ev_stat_set(ev_stat *w, const char *path, ev_tstamp interval);

/* Generic watcher accessors. */
int hinge_ev_is_active(const ev_watcher *w);
int hinge_ev_is_pending(const ev_watcher *w);
int hinge_ev_priority(const ev_watcher *w);
void hinge_ev_set_priority(ev_watcher *w, int pri);
hinge_ev_watcher_cb hinge_ev_cb(ev_watcher *w);
void hinge_ev_set_cb(ev_watcher *w, hinge_ev_watcher_cb cb);

/* Type-specific accessors. */
ev_tstamp hinge_ev_periodic_at(const ev_periodic *w);
int hinge_ev_async_pending(const ev_async *w);
int hinge_ev_is_default_loop(struct ev_loop *loop);

/* EV_MINPRI and EV_MAXPRI are expressions bindgen cannot evaluate. */
int hinge_ev_minpri(void);
int hinge_ev_maxpri(void);

/* Sizes as the C compiler sees them, for run-time cross-checks. */
size_t hinge_ev_sizeof(int which);

#endif
