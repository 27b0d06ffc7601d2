//! The write path: a direct `send` when nothing is queued, the bounded
//! queue and its flush, `drain`, and the io watcher's interest.

use std::io;

use super::state::{flag, Chunk, Written};
use super::Socket;
use crate::event_loop::Loop;
use crate::ffi;
use crate::{Error, Ready, Result};

/// Queued bytes, in high-water marks, past which a debug message says
/// that the sender ignores backpressure.
const UNBOUNDED_FACTOR: usize = 16;

impl Socket {
    /// Sends `data`: written to the kernel at once when nothing is queued,
    /// and only the remainder is queued. Returns `Ok(false)` once the queue
    /// exceeds the high-water mark: stop sending (or [`pause`](Socket::pause)
    /// the source) until `drain`. Sending on a closed or ended socket is an
    /// [`Error::Closed`]; an immediate OS failure (the peer reset) is
    /// returned and closes the socket. Never raises SIGPIPE.
    ///
    /// `data` is anything byte-like: `&[u8]`, `&str`, `String`, `Vec<u8>`,
    /// byte arrays.
    ///
    /// ```
    /// # use std::io::Read;
    /// let lp = hinge::Loop::new()?;
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// assert!(s.send(b"ping")?);
    /// s.send(format!(" {}\n", 42))?;
    /// let mut buf = [0u8; 8];
    /// b.read_exact(&mut buf).unwrap();
    /// assert_eq!(&buf, b"ping 42\n");
    /// # Ok::<(), hinge::Error>(())
    /// ```
    #[inline]
    pub fn send<D: AsRef<[u8]>>(&self, data: D) -> Result<bool> {
        self.send_inner(data.as_ref(), None)
    }

    /// [`send`](Socket::send), then calls `on_written` once all of `data`
    /// reached the kernel (`Ok`), or the socket closed first (`Err`). The
    /// callback runs from the loop, never inside this call, and only if
    /// this call returned `Ok`.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.send_then(b"hi", |_, _, r| println!("written: {r:?}"))?;
    /// # s.destroy();
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn send_then<D, F>(&self, data: D, on_written: F) -> Result<bool>
    where
        D: AsRef<[u8]>,
        F: FnOnce(&Loop, &Socket, Result<()>) + 'static,
    {
        self.send_written(data.as_ref(), Box::new(on_written))
    }

    /// `send_then`'s body, kept out of line so that callers inlining
    /// `send` do not also carry this path.
    #[inline(never)]
    pub(super) fn send_written(&self, data: &[u8], on_written: Written) -> Result<bool> {
        self.send_inner(data, Some(on_written))
    }

    /// Counts bytes that reached the kernel.
    #[inline]
    pub(super) fn sent_now(&self, n: usize) {
        let inner = &*self.inner;
        inner
            .bytes_written
            .set(inner.bytes_written.get() + n as u64);
        self.touch();
    }

    #[inline]
    pub(super) fn send_inner(&self, data: &[u8], on_written: Option<Written>) -> Result<bool> {
        let inner = &*self.inner;
        if !inner.can_send_now() {
            return self.send_later(data, on_written);
        }
        let first = ffi::send(inner.fd(), data);
        if let Ok(n) = first {
            if n == data.len() && on_written.is_none() {
                // The common case: it all went out at once.
                self.sent_now(n);
                return Ok(true);
            }
        }
        self.send_from(data, on_written, first)
    }

    /// A send that cannot go to the kernel now: refused on a closed or
    /// ending socket, queued while connecting or behind queued bytes.
    #[inline(never)]
    pub(super) fn send_later(&self, data: &[u8], on_written: Option<Written>) -> Result<bool> {
        let inner = &*self.inner;
        if inner.state.has(flag::LAYER) {
            return self.send_layered(data, on_written);
        }
        if inner.state.has(flag::CLOSED | flag::ENDING | flag::CLOSING)
            || (inner.fd() < 0 && !inner.state.has(flag::CONNECTING))
        {
            return Err(Error::Closed { op: "send" });
        }
        self.send_rest(data, 0, on_written)
    }

    /// Goes on with a direct send whose first attempt returned `first`.
    #[inline(never)]
    pub(super) fn send_from(
        &self,
        data: &[u8],
        on_written: Option<Written>,
        first: io::Result<usize>,
    ) -> Result<bool> {
        let inner = &*self.inner;
        let mut sent = 0;
        let mut next = Some(first);
        loop {
            let r = match next.take() {
                Some(r) => r,
                None => ffi::send(inner.fd(), &data[sent..]),
            };
            match r {
                Ok(n) => {
                    sent += n;
                    if sent == data.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    let err = Error::from_io("send", self.label(), e);
                    self.finish_close(true);
                    return Err(err);
                }
            }
        }
        self.send_rest(data, sent, on_written)
    }

    /// After `sent` bytes of `data` went out at once: queues the rest, or
    /// schedules `on_written` if there is none.
    #[inline(never)]
    pub(super) fn send_rest(
        &self,
        data: &[u8],
        sent: usize,
        on_written: Option<Written>,
    ) -> Result<bool> {
        let inner = &*self.inner;
        if sent > 0 {
            self.sent_now(sent);
        }
        if sent == data.len() {
            if let Some(cb) = on_written {
                let me = self.clone();
                self.lp().defer(move |lp| cb(lp, &me, Ok(())));
            }
            return Ok(true);
        }
        let rest = &data[sent..];
        inner.queue().borrow_mut().push_back(Chunk {
            data: rest.to_vec(),
            sent: 0,
            on_written,
        });
        let before = inner.queued.get();
        inner.queued.set(before + rest.len());
        self.update_interest();
        let below = inner.queued.get() < inner.high_water();
        if !below {
            self.warn_if_unbounded(before, inner.queued.get());
        }
        if !below {
            inner.state.set(flag::NEED_DRAIN, true);
        }
        Ok(below)
    }

    /// A queue far above the high-water mark means a sender that does
    /// not look at `send`'s result: say so (at debug level, through the
    /// `log` crate) at 16 times the mark, and at each doubling after.
    #[cold]
    fn warn_if_unbounded(&self, before: usize, after: usize) {
        let mark = self
            .inner
            .high_water()
            .max(1)
            .saturating_mul(UNBOUNDED_FACTOR);
        let level = |queued: usize| match queued / mark {
            0 => 0,
            k => k.ilog2() + 1,
        };
        if level(after) > level(before) {
            log::debug!(
                "{}: {after} bytes queued, {}x the high-water mark: check send()'s result \
                 and wait for drain, or use hinge::pipe",
                self.label(),
                after / self.inner.high_water().max(1)
            );
        }
    }

    pub(super) fn flush(&self, lp: &Loop) {
        if self.inner.fd() < 0 {
            return;
        }
        loop {
            let front = {
                let queue = self.inner.queue().borrow();
                match queue.as_ref().and_then(|q| q.front()) {
                    Some(c) => ffi::send(self.inner.fd(), &c.data[c.sent..]),
                    None => break,
                }
            };
            match front {
                Ok(n) => {
                    self.inner.queued.set(self.inner.queued.get() - n);
                    self.sent_now(n);
                    let done = {
                        let mut queue = self.inner.queue().borrow_mut();
                        let c = queue.front_mut().expect("front exists");
                        c.sent += n;
                        if c.sent == c.data.len() {
                            queue.pop_front()
                        } else {
                            None
                        }
                    };
                    if let Some(Chunk {
                        on_written: Some(cb),
                        ..
                    }) = done
                    {
                        cb(lp, self, Ok(()));
                    }
                    if self.inner.state.has(flag::CLOSED) {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => return self.fail_io(lp, "write", e),
            }
        }
        self.update_interest();
        self.emit_drain(lp);
        self.after_flush();
    }

    /// Finishes `end()`/`close()` once the queue is empty.
    pub(super) fn after_flush(&self) {
        let inner = &*self.inner;
        if inner.state.has(flag::CLOSED | flag::CONNECTING) || !inner.queue().is_empty() {
            return;
        }
        if inner.state.has(flag::LAYER)
            && inner.state.has(flag::CLOSING | flag::ENDING)
            && !self.layer_may_finish()
        {
            return;
        }
        if inner.state.has_all(flag::LAYER | flag::CLOSING) && !inner.state.has(flag::READ_EOF) {
            return self.linger();
        }
        if inner.state.has(flag::CLOSING)
            || (inner.state.has(flag::ENDING) && inner.state.has(flag::READ_EOF))
        {
            // Closing sends the FIN: no shutdown first.
            self.finish_close(false);
        } else if inner.state.has(flag::ENDING) && !inner.state.has(flag::WRITE_SHUT) {
            // Half-close; the peer's EOF closes the socket (`on_eof`).
            inner.state.set(flag::WRITE_SHUT, true);
            let _ = self.with_sock(|s| s.shutdown(std::net::Shutdown::Write));
        }
    }

    pub(super) fn update_interest(&self) {
        let inner = &*self.inner;
        if inner.state.has(flag::CLOSED) {
            return;
        }
        let mut want = Ready::NONE;
        if inner.state.has(flag::CONNECTING | flag::WRITE_WAIT) || !inner.queue().is_empty() {
            want |= Ready::WRITE;
        }
        let reading = if inner.state.has(flag::LINGER) {
            true
        } else if inner.state.has(flag::PULL) {
            // Pull mode: only while a task waits to read, or while a
            // layer's handshake needs the peer's bytes.
            inner.state.has(flag::READ_WAIT | flag::HANDSHAKING)
                && !inner.state.has(flag::CONNECTING | flag::READ_EOF)
        } else {
            !inner.state.has(flag::CONNECTING | flag::READ_EOF)
                && (!inner.state.has(flag::PAUSED) || inner.state.has(flag::HANDSHAKING))
        };
        if reading {
            want |= Ready::READ;
        }
        if want != inner.interest.get() {
            inner.interest.set(want);
            inner.set_events(want);
        }
    }

    /// Re-arms the inactivity timer, if there is one.
    #[inline]
    pub(super) fn touch(&self) {
        if self.inner.state.has(flag::HAS_IDLE_TIMER) {
            self.rearm_idle_timer();
        }
    }

    #[cold]
    pub(super) fn rearm_idle_timer(&self) {
        if let Some(r) = self.inner.rare.get() {
            if let Some(t) = &*r.idle_timer.borrow() {
                t.again();
            }
        }
    }
}
