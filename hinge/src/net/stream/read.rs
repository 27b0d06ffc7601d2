//! The read path: readiness from the socket's io watcher, `recv` into
//! the loop's shared buffer, `data` and `end`.

use std::io;
use std::mem::MaybeUninit;

use super::state::{flag, READ_BUF};
use super::Socket;
use crate::event_loop::Loop;
use crate::ffi;
use crate::{Error, Ready};

/// Reads per readiness event before giving other sockets a turn.
const READS_PER_WAKEUP: usize = 4;

impl Socket {
    #[inline]
    pub(super) fn handle_io(&self, lp: &Loop, ev: Ready) {
        if self.inner.state.has(flag::CONNECTING | flag::ASYNC) || ev.is_error() {
            return self.on_io_rare(lp, ev);
        }
        if ev.is_writable() {
            self.flush(lp);
        }
        if ev.is_readable() {
            self.read(lp);
        }
    }

    /// Connecting, errors, and sockets used from async code.
    pub(super) fn on_io_rare(&self, lp: &Loop, ev: Ready) {
        if self.inner.state.has(flag::CONNECTING) {
            if ev.is_writable() || ev.is_error() {
                self.finish_connect(lp);
                // A task waiting to read or write tries again.
                self.wake_waiters();
            }
            return;
        }
        if self.inner.state.has(flag::ASYNC) && self.on_io_async(lp, ev) {
            return;
        }
        let source = io::Error::other("libev reported an error on the socket");
        self.fail(
            lp,
            Error::Io {
                op: "poll",
                addr: self.label(),
                source,
            },
        );
    }

    #[inline]
    pub(super) fn read(&self, lp: &Loop) {
        match self.inner.read_buf.0.try_borrow_mut() {
            Ok(mut buf) => self.read_into(lp, &mut buf),
            Err(_) => self.read_nested(lp),
        }
    }

    /// A nested run inside a data listener finds the shared buffer in use
    /// and reads into a temporary one instead.
    #[cold]
    #[inline(never)]
    pub(super) fn read_nested(&self, lp: &Loop) {
        self.read_into(lp, &mut ffi::uninit_buf(READ_BUF));
    }

    #[inline(always)]
    pub(super) fn read_into(&self, lp: &Loop, buf: &mut [MaybeUninit<u8>]) {
        let inner = &*self.inner;
        for _ in 0..READS_PER_WAKEUP {
            // One test for the usual case; a layered socket (TLS) has a
            // loop of its own, so the plain path pays nothing for it.
            if inner
                .state
                .has(flag::CLOSED | flag::PAUSED | flag::READ_EOF | flag::LAYER)
            {
                if inner.state.has(flag::LAYER) {
                    self.read_layered(lp, buf);
                }
                break;
            }
            let len = buf.len();
            let Some(data) = self.recv_once(lp, buf) else {
                break;
            };
            let n = data.len();
            inner
                .events
                .data
                .emit_while(lp, self, data, || !inner.state.has(flag::CLOSED));
            if n < len {
                break;
            }
        }
    }

    /// `read_into` for a socket with a layer: wire bytes go into it.
    #[inline(never)]
    fn read_layered(&self, lp: &Loop, buf: &mut [MaybeUninit<u8>]) {
        let inner = &*self.inner;
        for _ in 0..READS_PER_WAKEUP {
            if inner
                .state
                .has(flag::CLOSED | flag::PAUSED | flag::READ_EOF)
                && self.stops_reading()
            {
                break;
            }
            let len = buf.len();
            let Some(data) = self.recv_once(lp, buf) else {
                break;
            };
            let n = data.len();
            self.on_wire(lp, data);
            if n < len {
                break;
            }
        }
    }

    /// One `recv` into `buf`: the bytes, or `None` when there are none
    /// for now (the end, an error and `EAGAIN` are handled here).
    #[inline(always)]
    fn recv_once<'b>(&self, lp: &Loop, buf: &'b mut [MaybeUninit<u8>]) -> Option<&'b [u8]> {
        let inner = &*self.inner;
        // (`ffi::recv` retries an interruption itself.)
        match ffi::recv(inner.fd(), buf) {
            Ok(data) if !data.is_empty() => {
                inner
                    .bytes_read
                    .set(inner.bytes_read.get() + data.len() as u64);
                self.touch();
                Some(data)
            }
            Ok(_) => {
                self.wire_eof(lp);
                None
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) => {
                self.fail_io(lp, "read", e);
                None
            }
        }
    }

    /// Closed, ended or paused: no more reads, except that a layer's
    /// handshake reads through a pause (a pause holds back `data`, and
    /// there is none before the handshake ends).
    #[cold]
    fn stops_reading(&self) -> bool {
        let state = &self.inner.state;
        state.has(flag::CLOSED | flag::READ_EOF) || !state.has(flag::HANDSHAKING | flag::LINGER)
    }

    #[cold]
    pub(super) fn on_eof(&self, lp: &Loop) {
        self.inner.state.set(flag::READ_EOF, true);
        if let Some(r) = self.inner.rare.get() {
            // Stop reading before the `end` listeners run: one that runs
            // the loop nested must not see the EOF's readiness forever.
            self.update_interest();
            r.end
                .emit_while(lp, self, &(), || !self.inner.state.has(flag::CLOSED));
        }
        if self.inner.state.has(flag::CLOSED) {
            return;
        }
        if self.inner.state.has(flag::WRITE_SHUT) {
            self.finish_close(false);
        } else if !self.inner.state.has(flag::ALLOW_HALF_OPEN) {
            self.end();
        }
        // Stop reading if the socket lives on (a half-open socket, or one
        // still flushing): a socket that closed just now needs no watcher
        // change before its watcher stops for good.
        self.update_interest();
    }
}
