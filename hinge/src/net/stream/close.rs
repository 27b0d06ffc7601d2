//! Failing and closing: an `error` (or its report when nobody listens),
//! then `close`, once, from the loop, after which every listener goes.

use std::io;
use std::rc::Rc;

use super::state::{flag, SocketCell, SocketTable, NO_SLOT};
use super::Socket;
use crate::defer::RcJob;
use crate::event_loop::Loop;
use crate::ffi::panic;
use crate::ffi::Hot;
use crate::net::server::ServerInner;
use crate::Error;

impl Socket {
    /// Reports `error` (or logs it if nobody listens), then closes.
    #[cold]
    pub(crate) fn fail(&self, lp: &Loop, error: Error) {
        if self.inner.state.has(flag::CLOSED) {
            return;
        }
        if !self.inner.events.error.emit(lp, self, &error) {
            crate::error::report_unhandled(format_args!(
                "unhandled socket error (add an on_error listener to handle it); closing {}: {error}",
                self.label()
            ));
        }
        self.finish_close(true);
    }

    /// `fail` for an OS error during `op`.
    #[cold]
    pub(super) fn fail_io(&self, lp: &Loop, op: &'static str, e: io::Error) {
        self.fail(lp, Error::from_io(op, self.label(), e));
    }

    /// `fail` with hinge's own timeout (no OS error behind it).
    pub(crate) fn fail_timed_out(&self, lp: &Loop, op: &'static str, why: &str) {
        let source = io::Error::new(io::ErrorKind::TimedOut, why.to_string());
        self.fail(
            lp,
            Error::TimedOut {
                op,
                addr: self.label(),
                source,
            },
        );
    }

    /// `fail` from outside a loop callback.
    pub(super) fn fail_soon(&self, error: Error) {
        let me = self.clone();
        self.lp().defer(move |lp| me.fail(lp, error));
    }

    /// Closes now; `close` is emitted from the loop, then every listener
    /// is dropped.
    pub(super) fn finish_close(&self, had_error: bool) {
        let inner = &*self.inner;
        if inner.state.replace(flag::CLOSED, true) {
            return;
        }
        inner.release_io(true);
        // Tasks waiting on the socket see it closed.
        self.wake_waiters();
        inner.state.set(flag::HAS_IDLE_TIMER, false);
        if let Some(r) = inner.rare.get() {
            drop(r.idle_timer.borrow_mut().take());
            drop(r.connect_timer.borrow_mut().take());
            drop(r.handshake_timer.borrow_mut().take());
        }
        let mut unsent = inner.queue().take_all();
        if inner.rare.get().is_some() {
            unsent.extend(self.take_early());
        }
        if !unsent.is_empty() {
            inner.state.set(flag::LOST, true);
            *inner.rare().unsent.borrow_mut() = unsent;
        }
        inner.state.set(flag::CLOSED_WITH_ERROR, had_error);
        let server = inner.server.take();
        // The cell is its own job (`RcJob` below): no box per close.
        self.lp().defer_rc(self.inner.clone());
        // After the socket's `close` was queued: a server whose last
        // connection this was emits its own `close` after it, as Node's.
        if let Some(server) = server.upgrade() {
            ServerInner::connection_closed(&server, inner.server_slot.get() as usize);
        }
    }
}

/// The second half of a close, run from the loop: the unsent sends'
/// callbacks, `close`, the listeners' drop, and the loop's table.
impl RcJob for SocketCell {
    fn run(self: Rc<Self>, lp: &Loop) {
        let me = Socket { inner: self };
        let inner = &*me.inner;
        let had_error = inner.state.has(flag::CLOSED_WITH_ERROR);
        // Each step runs even if an earlier one panics, so that the
        // socket always finishes and leaves the loop's table.
        let mut steps = panic::Steps::default();
        if let Some(r) = inner.rare.get() {
            let unsent = r.unsent.take();
            for chunk in unsent {
                if let Some(cb) = chunk.on_written {
                    steps.run(|| cb(lp, &me, Err(Error::Closed { op: "send" })));
                }
            }
        }
        steps.run(|| {
            inner.events.close.emit(lp, &me, &had_error);
        });
        steps.run(|| inner.clear_listeners());
        inner.state.set(flag::FINISHED, true);
        let slot = inner.table_slot.replace(NO_SLOT);
        if slot != NO_SLOT {
            steps.run(|| {
                inner
                    .loop_core
                    .hot_local(Hot::Sockets, SocketTable::default)
                    .leave(slot as usize)
            });
        }
        steps.finish();
    }
}
