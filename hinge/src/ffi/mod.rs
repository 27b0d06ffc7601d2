//! The one place where hinge crosses into C.
//!
//! | file | concept |
//! |---|---|
//! | `loop_core.rs` | the raw loop, its watcher table, loop-local state, teardown |
//! | `cell.rs` | the watcher cell (`Kind`, `Shared`, `Handle`) and the trampoline |
//! | `kinds.rs` | the per-kind table: each libev watcher type and its operations |
//! | `store.rs` | where a watcher's libev struct lives: its cell, or a per-loop pool |
//! | `signals.rs` | which loop owns which signal number |
//! | `panic.rs` | the panic policy: catch, stash, re-raise from `run` |
//! | `sys.rs` | the hot path's syscalls: `recv`, `send`, `accept4`; `fcntl(F_DUPFD)` |
//!
//! Everything that touches a raw libev pointer lives here: the loop's
//! lifetime ([`LoopCore`]), the generic watcher cell ([`Shared`]) that owns
//! one libev watcher struct and its Rust callback (a boxed closure for the
//! public watcher types; for hinge's sockets, the cell *is* the socket: a
//! `StreamCell` holds the io watcher, the fd and the socket's state in one
//! allocation), and the
//! `extern "C"` trampoline that libev calls. Every other module is safe
//! Rust and goes through the small API at the bottom of each section.
//!
//! The invariants, stated once:
//!
//! 1. A watcher struct lives inside an `Rc<Shared<K>>` (or, for timers, in
//!    a pool slot that `Shared` owns), so its address is stable, and
//!    libev's `data` field points back at that `Shared`.
//! 2. A `Shared` is attached to a loop (`core` non-null) until it is closed
//!    or the loop is torn down. While attached, the loop's raw pointer is
//!    valid. Every libev call on a watcher first checks that it is attached.
//! 3. A watcher is stopped (which also clears a pending event) before it is
//!    detached, so libev never holds a pointer to a watcher that may be freed.
//! 4. The trampoline holds its own strong count for the duration of a
//!    callback, so a callback may drop its own watcher.
//! 5. No panic crosses into C: `panic.rs` holds the whole policy.
//! 6. A cell is closed (stopped, detached) before it is freed: by its
//!    `Handle`'s drop, or, for a stream cell, whose handles are plain
//!    `Rc`s, by `close_stream`, or at the latest by `Shared`'s own `Drop`.
#![allow(unsafe_code)]

mod cell;
mod kinds;
mod loop_core;
pub(crate) mod panic;
pub(crate) mod signals;
mod store;
mod sys;

pub(crate) use cell::{Handle, Kind};
pub(crate) use kinds::*;
pub(crate) use loop_core::{
    embeddable_backends, priority_range, recommended_backends, supported_backends, time, version,
    Hot, LoopCore,
};
#[cfg(feature = "async")]
pub(crate) use sys::recv_into;
pub(crate) use sys::{accept, dup_fd, recv, send, send_vectored, uninit_buf};
