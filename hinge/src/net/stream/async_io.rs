//! Sockets from async code: futures-io's (and tokio's) `AsyncRead` and
//! `AsyncWrite`, `connected()`, and the rule that the last handle of a
//! socket used that way closes it.
//!
//! The traits sit on the engine the events use: the same io watcher, the
//! same flags, the same send queue. Reads switch the socket to *pull
//! mode*: readiness wakes the waiting task, which reads straight into its
//! own buffer (one copy, no allocation), and `data` is no longer emitted.
//! Writes go straight to the kernel when nothing is queued; what it does
//! not take is queued up to the high-water mark (as `send` does, so that
//! the task goes on reading while it drains), and past the mark the task
//! parks until the queue drains: a slow reader holds back the writer, and
//! at most a mark's worth waits in user space.

#[cfg(feature = "async")]
use std::io;
use std::rc::Rc;
use std::task::Waker;
#[cfg(feature = "async")]
use std::task::{Context, Poll};

use super::state::{flag, NO_SLOT};
use super::Socket;
use crate::event_loop::Loop;
#[cfg(feature = "async")]
use crate::ffi;
use crate::Ready;

impl Socket {
    /// Wakes the tasks waiting to read or write, so that they look again
    /// (the socket connected, closed, or failed).
    pub(super) fn wake_waiters(&self) {
        let inner = &*self.inner;
        inner.state.set(flag::READ_WAIT | flag::WRITE_WAIT, false);
        let wakers = inner.wakers.get();
        take_and_wake(wakers.map(|w| &w.read));
        take_and_wake(wakers.map(|w| &w.write));
    }

    /// Readiness of a socket used from async code. Returns false for an
    /// error event nobody waits on, which then takes the callbacks' path.
    pub(super) fn on_io_async(&self, lp: &Loop, ev: Ready) -> bool {
        let inner = &*self.inner;
        if ev.is_error() {
            if !inner.state.has(flag::READ_WAIT | flag::WRITE_WAIT) {
                return false;
            }
            // The waiting tasks meet the error in their own recv or send.
            self.wake_waiters();
            return true;
        }
        let mut idle = false;
        if ev.is_writable() {
            if !inner.queue().is_empty() {
                // Bytes queued by `send`: flush them first, in order.
                self.flush(lp);
                if inner.state.has(flag::CLOSED) {
                    return true;
                }
            }
            if inner.queue().is_empty() && inner.state.replace(flag::WRITE_WAIT, false) {
                take_and_wake(inner.wakers.get().map(|w| &w.write));
            } else {
                idle = inner.queue().is_empty();
            }
        }
        if ev.is_readable() {
            if inner.state.has_all(flag::PULL | flag::HANDSHAKING) || inner.state.has(flag::LINGER)
            {
                // The layer's handshake goes on without a reading task;
                // its end wakes the tasks.
                self.read(lp);
            } else if inner.state.has(flag::PULL) {
                inner.state.set(flag::DRAINED, false);
                if inner.state.replace(flag::READ_WAIT, false) {
                    // The interest stays: the task usually reads, finds
                    // nothing more and waits again, all without an
                    // epoll_ctl. Readiness nobody waits for drops it.
                    take_and_wake(inner.wakers.get().map(|w| &w.read));
                } else {
                    idle = true;
                }
            } else {
                self.read(lp);
            }
        }
        if idle {
            self.update_interest();
        }
        true
    }

    /// Whether no handle but the loop's own (its table, a server's list
    /// of clients) and `self` holds the socket.
    fn is_last_handle(&self) -> bool {
        let inner = &*self.inner;
        let mut internal = 1;
        if inner.table_slot.get() != NO_SLOT {
            internal += 1;
        }
        let server = inner.server.take();
        if server.strong_count() > 0 {
            internal += 1;
        }
        inner.server.set(server);
        Rc::strong_count(&self.inner) <= internal
    }
}

/// Wakes the task parked in `slot`, if any (taken out first: the wake
/// may run code that parks again).
fn take_and_wake(slot: Option<&std::cell::RefCell<Option<Waker>>>) {
    let waker = slot.and_then(|s| s.take());
    if let Some(w) = waker {
        w.wake();
    }
}

impl Drop for Socket {
    /// A socket used from async code is owned by its handles, as a tokio
    /// stream is: the last one's drop closes it (after flushing what is
    /// queued). Callback sockets are owned by the loop, and their handles'
    /// drops change nothing.
    fn drop(&mut self) {
        let state = &self.inner.state;
        if state.has(flag::ASYNC)
            && !state.has(flag::CLOSING | flag::CLOSED)
            && self.is_last_handle()
        {
            self.close();
        }
    }
}

/// Parks `cx`'s task in `slot`, keeping a waker that already matches.
#[cfg(feature = "async")]
fn park(slot: &std::cell::RefCell<Option<Waker>>, cx: &Context<'_>) {
    let mut w = slot.borrow_mut();
    match w.as_ref() {
        Some(old) if old.will_wake(cx.waker()) => {}
        _ => *w = Some(cx.waker().clone()),
    }
}

#[cfg(feature = "async")]
impl Socket {
    /// Marks the socket as used from async code (and reading in pull
    /// mode if `pull`).
    #[inline]
    pub(crate) fn enter_async(&self, pull: bool) {
        let state = &self.inner.state;
        let want = if pull {
            flag::ASYNC | flag::PULL
        } else {
            flag::ASYNC
        };
        if !state.has_all(want) {
            self.enter_async_slow(pull);
        }
    }

    #[cold]
    fn enter_async_slow(&self, pull: bool) {
        let state = &self.inner.state;
        {
            state.set(flag::ASYNC, true);
            if pull {
                // A task's reads supersede a pause (`is_paused` says so).
                state.set(flag::PULL, true);
                state.set(flag::PAUSED, false);
            }
            self.inner.wakers.get_or_init(Box::default);
            self.update_interest();
        }
    }

    /// Ready when a read can make progress (or will find the end); parks
    /// the task otherwise, without a system call when the last read came
    /// back short. Lets a reader skip taking a buffer only to park.
    #[inline]
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let state = &self.inner.state;
        if !state.has(flag::DRAINED) || state.has(flag::CLOSED | flag::READ_EOF) {
            return Poll::Ready(());
        }
        self.enter_async(true);
        self.park_reader(cx);
        Poll::Pending
    }

    fn park_reader(&self, cx: &mut Context<'_>) {
        let inner = &*self.inner;
        park(&inner.wakers.get_or_init(Box::default).read, cx);
        inner.state.set(flag::READ_WAIT, true);
        if !inner.interest.get().is_readable() {
            self.update_interest();
        }
    }

    /// `AsyncRead::poll_read`.
    pub(crate) fn poll_read_bytes(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.enter_async(true);
        let inner = &*self.inner;
        if inner.state.has(flag::CLOSED | flag::READ_EOF) || buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if inner.state.has(flag::LAYER) {
            return self.poll_read_layered(cx, buf);
        }
        if !inner.state.has(flag::CONNECTING | flag::DRAINED) {
            loop {
                match ffi::recv_into(inner.fd(), buf) {
                    Ok(0) => {
                        self.on_eof_pull();
                        return Poll::Ready(Ok(0));
                    }
                    Ok(n) => {
                        if n < buf.len() {
                            inner.state.set(flag::DRAINED, true);
                        }
                        inner.bytes_read.set(inner.bytes_read.get() + n as u64);
                        self.touch();
                        return Poll::Ready(Ok(n));
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Poll::Ready(Err(self.fail_async("read", e))),
                }
            }
        }
        self.park_reader(cx);
        Poll::Pending
    }

    /// The peer ended, seen by a task: unlike a callback socket, which
    /// ends its own side too unless half-open is allowed, a task decides
    /// (`close`, or its handle's drop), as with a tokio stream.
    fn on_eof_pull(&self) {
        let inner = &*self.inner;
        inner.state.set(flag::READ_EOF, true);
        self.update_interest();
        if let Some(r) = inner.rare.get() {
            let lp = self.lp();
            r.end
                .emit_while(&lp, self, &(), || !inner.state.has(flag::CLOSED));
        }
        if inner.state.has(flag::WRITE_SHUT) && !inner.state.has(flag::CLOSED) {
            self.finish_close(false);
        }
    }

    /// An OS error met by a task: it gets the error, and the socket closes
    /// (with `close(true)`, without an `error` event: the task has it).
    fn fail_async(&self, op: &'static str, e: io::Error) -> io::Error {
        let err = crate::Error::from_io(op, self.label(), e);
        self.finish_close(true);
        err.into()
    }

    /// `AsyncWrite::poll_write`.
    pub(crate) fn poll_write_bytes(
        &self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.enter_async(false);
        let inner = &*self.inner;
        if inner.state.has(flag::CLOSED | flag::CLOSING | flag::ENDING) {
            return Poll::Ready(Err(crate::Error::Closed { op: "write" }.into()));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if inner.state.has(flag::LAYER) {
            return self.poll_write_layered(cx, data);
        }
        if !inner.state.has(flag::CONNECTING) {
            if inner.queued.get() > 0 {
                // Behind queued bytes: queue too, within the high-water
                // mark, so that the order holds; past it, wait for the
                // queue to drain.
                if inner.queued.get() + data.len() <= inner.high_water() {
                    return Poll::Ready(match self.send_inner(data, None) {
                        Ok(_) => Ok(data.len()),
                        Err(e) => Err(e.into()),
                    });
                }
            } else {
                loop {
                    let sent = match ffi::send(inner.fd(), data) {
                        Ok(n) if n == data.len() => {
                            self.sent_now(n);
                            return Poll::Ready(Ok(n));
                        }
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                        Err(e) => return Poll::Ready(Err(self.fail_async("write", e))),
                    };
                    // The kernel took part: queue the rest, up to the
                    // high-water mark, as `send` does, so that the task
                    // reads on while the queue drains (bounded: past the
                    // mark, writes wait).
                    let rest = data.len() - sent;
                    if rest <= inner.high_water() {
                        return Poll::Ready(match self.send_rest(data, sent, None) {
                            Ok(_) => Ok(data.len()),
                            Err(e) => Err(e.into()),
                        });
                    }
                    if sent > 0 {
                        self.sent_now(sent);
                        return Poll::Ready(Ok(sent));
                    }
                    break;
                }
            }
        }
        self.park_writer(cx);
        Poll::Pending
    }

    fn park_writer(&self, cx: &mut Context<'_>) {
        let inner = &*self.inner;
        park(&inner.wakers.get_or_init(Box::default).write, cx);
        inner.state.set(flag::WRITE_WAIT, true);
        if !inner.interest.get().is_writable() {
            self.update_interest();
        }
    }

    /// `AsyncWrite::poll_flush`: ready once the send queue is empty.
    pub(crate) fn poll_flush_bytes(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.enter_async(false);
        let inner = &*self.inner;
        if inner.state.has(flag::LOST) {
            let lost = io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the socket closed before its queued bytes were written",
            );
            return Poll::Ready(Err(lost));
        }
        if inner.state.has(flag::CLOSED) {
            return Poll::Ready(Ok(()));
        }
        if !self.early_is_empty() {
            // Waiting for the layer's handshake, which wakes the task.
            park(&inner.wakers.get_or_init(Box::default).write, cx);
            return Poll::Pending;
        }
        if inner.queue().is_empty() {
            return Poll::Ready(Ok(()));
        }
        self.park_writer(cx);
        Poll::Pending
    }

    /// `AsyncWrite::poll_close`: flushes, then half-closes (`end()`): the
    /// peer reads EOF; reading goes on until it ends too.
    pub(crate) fn poll_end(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_flush_bytes(cx) {
            Poll::Ready(Ok(())) => {
                self.end();
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

#[cfg(feature = "async")]
impl futures_io::AsyncRead for Socket {
    /// Reads what the peer sent, straight from the kernel into `buf`;
    /// `Ok(0)` once the peer has ended (or the socket closed). The first
    /// call switches the socket to pull mode: `data` is no longer emitted.
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_bytes(cx, buf)
    }
}

#[cfg(feature = "async")]
impl futures_io::AsyncWrite for Socket {
    /// Writes as much of `data` as the kernel takes now; waits while it
    /// takes nothing (backpressure).
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_bytes(cx, data)
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush_bytes(cx)
    }

    /// Flushes, then half-closes, as [`Socket::end`] does.
    fn poll_close(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_end(cx)
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncRead for Socket {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let dst = buf.initialize_unfilled();
        match self.poll_read_bytes(cx, dst) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(feature = "tokio")]
impl tokio::io::AsyncWrite for Socket {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_bytes(cx, data)
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush_bytes(cx)
    }

    /// Flushes, then half-closes, as [`Socket::end`] does.
    fn poll_shutdown(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_end(cx)
    }
}

#[cfg(feature = "async")]
impl Socket {
    /// `poll_read` through the socket's layer: what it decoded first,
    /// then the wire's bytes, into the layer, until it decodes some.
    fn poll_read_layered(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let inner = &*self.inner;
        if inner.state.has(flag::LINGER) {
            // Closed by the user: what still comes is dropped.
            return Poll::Ready(Ok(0));
        }
        loop {
            match self.layer_read(buf) {
                Some(Ok(crate::Decoded::Bytes(n))) if n > 0 => {
                    inner.state.set(flag::DRAINED, false);
                    return Poll::Ready(
                        self.pump_wire().map(|()| n).map_err(|e| self.fail_layer(e)),
                    );
                }
                Some(Ok(crate::Decoded::End)) => {
                    let _ = self.pump_wire();
                    self.on_eof_pull();
                    return Poll::Ready(Ok(0));
                }
                Some(Err(e)) => {
                    let _ = self.pump_wire();
                    return Poll::Ready(Err(self.fail_layer(e)));
                }
                Some(Ok(_)) => {}
                None => return Poll::Ready(Ok(0)),
            }
            if inner
                .state
                .has(flag::CONNECTING | flag::DRAINED | flag::CLOSED)
            {
                break;
            }
            match self.recv_into_layer() {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Poll::Ready(Err(e)),
            }
            if inner.state.has(flag::HANDSHAKING) && self.layer_call(|l| l.is_ready()) == Some(true)
            {
                self.become_ready(&self.lp());
            }
        }
        if inner.state.has(flag::CLOSED | flag::READ_EOF) {
            return Poll::Ready(Ok(0));
        }
        self.park_reader(cx);
        Poll::Pending
    }

    /// One `recv` from the kernel into the layer (a task reads): whether
    /// bytes came (false: none until the next readiness).
    fn recv_into_layer(&self) -> io::Result<bool> {
        let inner = &*self.inner;
        let shared = inner.read_buf.clone();
        let mut own;
        let mut borrowed = shared.0.try_borrow_mut();
        let buf: &mut [std::mem::MaybeUninit<u8>] = match &mut borrowed {
            Ok(b) => b,
            Err(_) => {
                own = ffi::uninit_buf(super::state::READ_BUF);
                &mut own
            }
        };
        let cap = buf.len();
        let received = loop {
            match ffi::recv(inner.fd(), buf) {
                Ok([]) => {
                    drop(borrowed);
                    return match self.layer_call(|l| l.eof()) {
                        Some(Err(e)) => Err(self.fail_layer(e)),
                        _ => {
                            self.on_eof_pull();
                            Ok(false)
                        }
                    };
                }
                Ok(wire) => {
                    if wire.len() < cap {
                        inner.state.set(flag::DRAINED, true);
                    }
                    inner
                        .bytes_read
                        .set(inner.bytes_read.get() + wire.len() as u64);
                    break self.layer_call(|l| l.receive(wire));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    inner.state.set(flag::DRAINED, true);
                    return Ok(false);
                }
                Err(e) => return Err(self.fail_async("read", e)),
            }
        };
        drop(borrowed);
        self.touch();
        let written = self.pump_wire();
        match (received, written) {
            (Some(Err(e)), _) | (_, Err(e)) => Err(self.fail_layer(e)),
            _ => Ok(true),
        }
    }

    /// The layer's error met by a task: it gets the error; the socket
    /// closes.
    fn fail_layer(&self, e: crate::Error) -> io::Error {
        self.finish_close(true);
        e.into()
    }

    /// `poll_write` through the socket's layer: whole writes within the
    /// high-water mark (counting what waits for the handshake), as
    /// `send`; past it the task waits for the queue to drain, or for the
    /// handshake.
    fn poll_write_layered(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let inner = &*self.inner;
        let early = inner.rare.get().map_or(0, |r| r.early_bytes.get());
        let pending = inner.queued.get() + early;
        if pending == 0 || pending + data.len() <= inner.high_water() {
            return Poll::Ready(match self.send_layered(data, None) {
                Ok(_) => Ok(data.len()),
                Err(e) => Err(e.into()),
            });
        }
        if early > 0 || inner.state.has(flag::CONNECTING | flag::HANDSHAKING) {
            // The handshake's end wakes the task.
            park(&inner.wakers.get_or_init(Box::default).write, cx);
        } else {
            self.park_writer(cx);
        }
        Poll::Pending
    }
}
