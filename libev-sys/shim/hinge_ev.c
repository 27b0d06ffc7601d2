/*
 * hinge_ev.c: the bodies of hinge_ev.h, and compile-time checks that
 * the libev found was configured the way the Rust side expects.
 */
#include <stddef.h>
#include "hinge_ev.h"

/* ---- configuration checks -------------------------------------- */

#if !EV_MULTIPLICITY
#error "libev-sys: this libev was built with EV_MULTIPLICITY=0; hinge needs loop objects (the default libev configuration)"
#endif
#if !EV_PERIODIC_ENABLE || !EV_STAT_ENABLE || !EV_PREPARE_ENABLE || !EV_CHECK_ENABLE || !EV_IDLE_ENABLE
#error "libev-sys: this libev lacks periodic, stat, prepare, check or idle watchers (EV_FEATURES was reduced); install a stock libev"
#endif
#if !EV_FORK_ENABLE || !EV_CLEANUP_ENABLE || !EV_SIGNAL_ENABLE || !EV_CHILD_ENABLE || !EV_ASYNC_ENABLE
#error "libev-sys: this libev lacks fork, cleanup, signal, child or async watchers (EV_FEATURES was reduced); install a stock libev"
#endif

#define HINGE_ASSERT(cond, msg) _Static_assert(cond, "libev-sys: " msg)

/* The safe layer stores its state pointer in `data`, and reads `cb`. */
HINGE_ASSERT(offsetof(ev_watcher, data) < offsetof(ev_watcher, cb),
             "ev_watcher lacks the standard EV_COMMON `data` member");

#ifdef HINGE_VENDORED_LAYOUT
/*
 * The pre-generated bindings under vendor/ describe libev 4.33 in its
 * default configuration on x86_64-linux-gnu. If the header found here
 * lays its structs out differently, using those bindings would corrupt
 * memory, so refuse to build instead.
 */
#define HINGE_LAYOUT(t, size) \
  HINGE_ASSERT(sizeof(t) == size, "sizeof(" #t ") differs from the vendored 4.33 x86_64 bindings; build with libclang (bindgen feature) instead")
HINGE_LAYOUT(ev_watcher, 32);
HINGE_LAYOUT(ev_io, 48);
HINGE_LAYOUT(ev_timer, 48);
HINGE_LAYOUT(ev_periodic, 64);
HINGE_LAYOUT(ev_signal, 48);
HINGE_LAYOUT(ev_child, 56);
HINGE_LAYOUT(ev_stat, 400);
HINGE_LAYOUT(ev_idle, 32);
HINGE_LAYOUT(ev_prepare, 32);
HINGE_LAYOUT(ev_check, 32);
HINGE_LAYOUT(ev_fork, 32);
HINGE_LAYOUT(ev_cleanup, 32);
HINGE_LAYOUT(ev_async, 40);
HINGE_ASSERT(offsetof(ev_watcher, data) == 16 && offsetof(ev_watcher, cb) == 24,
             "ev_watcher field offsets differ from the vendored bindings");
HINGE_ASSERT(offsetof(ev_io, fd) == 40 && offsetof(ev_io, events) == 44,
             "ev_io field offsets differ from the vendored bindings");
HINGE_ASSERT(offsetof(ev_child, rpid) == 48 && offsetof(ev_stat, attr) == 248,
             "ev_child/ev_stat field offsets differ from the vendored bindings");
HINGE_ASSERT(EV_MINPRI == -2 && EV_MAXPRI == 2,
             "EV_MINPRI/EV_MAXPRI differ from the vendored bindings");
#endif

/* ---- *_init ------------------------------------------------------ */

void hinge_ev_io_init(ev_io *w, hinge_ev_io_cb cb, int fd, int events) { ev_io_init(w, cb, fd, events); }
void hinge_ev_timer_init(ev_timer *w, hinge_ev_timer_cb cb, ev_tstamp after, ev_tstamp repeat) { ev_timer_init(w, cb, after, repeat); }
void hinge_ev_periodic_init(ev_periodic *w, hinge_ev_periodic_cb cb, ev_tstamp offset, ev_tstamp interval) { ev_periodic_init(w, cb, offset, interval, 0); }
void hinge_ev_signal_init(ev_signal *w, hinge_ev_signal_cb cb, int signum) { ev_signal_init(w, cb, signum); }
void hinge_ev_child_init(ev_child *w, hinge_ev_child_cb cb, int pid, int trace) { ev_child_init(w, cb, pid, trace); }
void hinge_ev_stat_init(ev_stat *w, hinge_ev_stat_cb cb, const char *path, ev_tstamp interval) { ev_stat_init(w, cb, path, interval); }
void hinge_ev_idle_init(ev_idle *w, hinge_ev_idle_cb cb) { ev_idle_init(w, cb); }
void hinge_ev_prepare_init(ev_prepare *w, hinge_ev_prepare_cb cb) { ev_prepare_init(w, cb); }
void hinge_ev_check_init(ev_check *w, hinge_ev_check_cb cb) { ev_check_init(w, cb); }
void hinge_ev_fork_init(ev_fork *w, hinge_ev_fork_cb cb) { ev_fork_init(w, cb); }
void hinge_ev_cleanup_init(ev_cleanup *w, hinge_ev_cleanup_cb cb) { ev_cleanup_init(w, cb); }
void hinge_ev_async_init(ev_async *w, hinge_ev_async_cb cb) { ev_async_init(w, cb); }

/* ---- *_set ------------------------------------------------------- */

void hinge_ev_io_set(ev_io *w, int fd, int events) { ev_io_set(w, fd, events); }
void hinge_ev_io_modify(ev_io *w, int events) { ev_io_modify(w, events); }
void hinge_ev_timer_set(ev_timer *w, ev_tstamp after, ev_tstamp repeat) { ev_timer_set(w, after, repeat); }
void hinge_ev_periodic_set(ev_periodic *w, ev_tstamp offset, ev_tstamp interval) { ev_periodic_set(w, offset, interval, 0); }
void hinge_ev_signal_set(ev_signal *w, int signum) { ev_signal_set(w, signum); }
void hinge_ev_child_set(ev_child *w, int pid, int trace) { ev_child_set(w, pid, trace); }
void hinge_ev_stat_set(ev_stat *w, const char *path, ev_tstamp interval) { ev_stat_set(w, path, interval); }

/* ---- accessors --------------------------------------------------- */

int hinge_ev_is_active(const ev_watcher *w) { return ev_is_active(w); }
int hinge_ev_is_pending(const ev_watcher *w) { return ev_is_pending(w); }
int hinge_ev_priority(const ev_watcher *w) { return ev_priority(w); }
void hinge_ev_set_priority(ev_watcher *w, int pri) { ev_set_priority(w, pri); }
hinge_ev_watcher_cb hinge_ev_cb(ev_watcher *w) { return ev_cb(w); }
void hinge_ev_set_cb(ev_watcher *w, hinge_ev_watcher_cb cb) { ev_set_cb(w, cb); }
ev_tstamp hinge_ev_periodic_at(const ev_periodic *w) { return ev_periodic_at(w); }
int hinge_ev_async_pending(const ev_async *w) { return ev_async_pending(w); }
int hinge_ev_is_default_loop(struct ev_loop *loop) { return ev_is_default_loop(loop); }
int hinge_ev_minpri(void) { return EV_MINPRI; }
int hinge_ev_maxpri(void) { return EV_MAXPRI; }

size_t hinge_ev_sizeof(int which)
{
  switch (which)
    {
    case 0: return sizeof(ev_watcher);
    case 1: return sizeof(ev_io);
    case 2: return sizeof(ev_timer);
    case 3: return sizeof(ev_periodic);
    case 4: return sizeof(ev_signal);
    case 5: return sizeof(ev_child);
    case 6: return sizeof(ev_stat);
    case 7: return sizeof(ev_idle);
    case 8: return sizeof(ev_prepare);
    case 9: return sizeof(ev_check);
    case 10: return sizeof(ev_fork);
    case 11: return sizeof(ev_cleanup);
    case 12: return sizeof(ev_async);
    default: return 0;
    }
}
