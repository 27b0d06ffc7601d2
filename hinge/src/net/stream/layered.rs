//! A socket with a [`Layer`] (TLS) between its user and the wire: wire
//! bytes go into the layer and `data` comes out of it; `send` goes
//! through the layer and its output takes the socket's own direct write,
//! queue and backpressure. While the layer is not ready (a handshake),
//! sends wait in `early`, as sends wait for a connect.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use super::state::{flag, Chunk, Written};
use super::Socket;
use crate::event_loop::Loop;
use crate::ffi;
use crate::{Decoded, Error, Layer, Result, Timer, Watcher};

/// Buffers per `sendmsg` of a layer's output (rustls passes up to 64).
const WIRE_IOV: usize = 64;

/// How long a closed layered socket waits for its peer's FIN.
const LINGER_TIME: Duration = Duration::from_secs(2);

/// The loop's buffer for decoded bytes, shared by its layered sockets
/// (the read buffer holds the wire bytes meanwhile).
struct DecodedBuf(RefCell<Box<[u8]>>);

impl Default for DecodedBuf {
    fn default() -> DecodedBuf {
        DecodedBuf(RefCell::new(
            vec![0; super::state::READ_BUF].into_boxed_slice(),
        ))
    }
}

/// Sends what waited for the handshake from the loop if a `secure`
/// listener panics, instead of leaving it stuck in `early`, where it
/// would hold back every later send and `close`.
struct SendEarlyOnUnwind<'a>(&'a Socket);

impl Drop for SendEarlyOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let me = self.0.clone();
            self.0.lp().defer(move |lp| {
                if !me.is_closed() {
                    me.send_early(lp);
                }
            });
        }
    }
}

/// A `data` pass of a layered socket: sends inside it are batched
/// (`flag::EMITTING`). Its end clears the flag; if a listener's panic
/// ends it, the batch is written on the way out.
struct Emitting<'a>(&'a Socket);

impl<'a> Emitting<'a> {
    fn start(socket: &'a Socket) -> Emitting<'a> {
        socket.inner.state.set(flag::EMITTING, true);
        Emitting(socket)
    }
}

impl Drop for Emitting<'_> {
    fn drop(&mut self) {
        self.0.inner.state.set(flag::EMITTING, false);
        if std::thread::panicking() {
            let _ = self.0.pump_wire();
        }
    }
}

/// The socket's send path as an `io::Write`, for [`Layer::output`].
struct Wire<'a> {
    socket: &'a Socket,
}

impl io::Write for Wire<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.wire_send(&[io::IoSlice::new(buf)])
    }

    /// rustls hands over every pending record at once: one `sendmsg`.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.socket.wire_send(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Socket {
    /// Puts `layer` (TLS, say) between this socket's user and the wire:
    /// from now on, bytes read go through [`Layer::receive`] and
    /// [`Layer::read`] before `data`, and `send` through
    /// [`Layer::write`]. Events, backpressure (`send`'s result counts the
    /// layer's output and what waits for its handshake) and `end`/`close`
    /// work as before. While the layer is not ready, sends wait, and
    /// `secure` is emitted once it is.
    ///
    /// Set it before the peer's first layered byte arrives: on a new
    /// socket, in a server's `connection` listener (or for all of them with
    /// [`Server::set_layer`](crate::Server::set_layer)), or after a
    /// plaintext exchange (STARTTLS) from a `data` listener that has read
    /// its last plaintext byte. A socket takes one layer: a second is
    /// [`Error::AlreadyLayered`]; a closed or ending socket takes none
    /// ([`Error::Closed`]).
    ///
    /// See [`Layer`] for an example.
    pub fn set_layer<L: Layer>(&self, layer: L) -> Result<()> {
        let inner = &*self.inner;
        if inner.state.has(flag::CLOSED | flag::CLOSING | flag::ENDING) {
            return Err(Error::Closed { op: "set_layer" });
        }
        if inner.state.has(flag::LAYER) {
            return Err(Error::AlreadyLayered);
        }
        let ready = layer.is_ready();
        let timeout = layer.handshake_timeout();
        *inner.rare().layer.borrow_mut() = Some(Box::new(layer));
        inner.state.set(flag::LAYER, true);
        inner.state.set(flag::HANDSHAKING, !ready);
        if let Some(t) = timeout {
            self.set_handshake_timeout(t);
        }
        if !inner.state.has(flag::CONNECTING) {
            // A client layer speaks first (a ClientHello).
            if let Err(e) = self.pump_wire() {
                self.finish_close(true);
                return Err(e);
            }
            if !ready {
                // Its first words may have been its whole handshake: say
                // so from the loop, not from inside this call.
                let me = self.clone();
                self.lp().defer(move |lp| {
                    if !me.is_closed() {
                        me.check_ready(lp);
                    }
                });
            }
        }
        Ok(())
    }

    /// `secure` (and the sends that waited) if the layer just became
    /// ready: after the peer's bytes, or after its own output (a layer
    /// that only speaks, as a PROXY-protocol header does, gets no reply).
    pub(super) fn check_ready(&self, lp: &Loop) {
        if self.inner.state.has(flag::HANDSHAKING)
            && self.layer_call(|l| l.is_ready()) == Some(true)
        {
            self.become_ready(lp);
        }
    }

    /// Runs `f` on this socket's layer if it is an `L` (`None` if there is
    /// no layer, or one of another type). `hinge::tls` reads its session
    /// through it.
    ///
    /// ```
    /// # use std::io::Write;
    /// # struct Plain;
    /// # impl hinge::Layer for Plain {
    /// #     fn receive(&mut self, _: &[u8]) -> hinge::Result<()> { Ok(()) }
    /// #     fn read(&mut self, _: &mut [u8]) -> hinge::Result<hinge::Decoded> { Ok(hinge::Decoded::Empty) }
    /// #     fn write(&mut self, _: &[u8]) -> hinge::Result<()> { Ok(()) }
    /// #     fn output(&mut self, _: &mut dyn Write) -> std::io::Result<()> { Ok(()) }
    /// # }
    /// let lp = hinge::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// assert!(s.with_layer(|_: &mut Plain| ()).is_none());
    /// s.set_layer(Plain)?;
    /// assert!(s.with_layer(|_: &mut Plain| ()).is_some());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn with_layer<L: Layer, R>(&self, f: impl FnOnce(&mut L) -> R) -> Option<R> {
        let rare = self.inner.rare.get()?;
        let mut slot = rare.layer.try_borrow_mut().ok()?;
        let layer: &mut dyn std::any::Any = &mut **slot.as_mut()?;
        layer.downcast_mut::<L>().map(f)
    }

    /// Whether the socket has a layer whose handshake is done (it emitted
    /// `secure`, or needed no handshake).
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// assert!(!s.is_secure()); // no layer: plaintext
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_secure(&self) -> bool {
        let state = &self.inner.state;
        state.has(flag::LAYER) && !state.has(flag::HANDSHAKING)
    }

    /// Fails the socket with [`Error::TimedOut`] (`op` "handshake") unless
    /// its layer is ready within `timeout` of this call, replacing the
    /// layer's own [`handshake_timeout`](Layer::handshake_timeout) (TLS:
    /// 10 s), which makes a peer that sends half a hello and then nothing
    /// cost a timer, not a stuck connection.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let lp = hinge::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.set_handshake_timeout(Duration::from_secs(10)); // no layer: nothing to time
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_handshake_timeout(&self, timeout: Duration) {
        if !self.inner.state.has(flag::HANDSHAKING) || self.is_closed() {
            return;
        }
        let weak = Rc::downgrade(&self.inner);
        let timer = Timer::new(&self.lp(), timeout, Duration::ZERO, move |lp, _| {
            if let Some(inner) = weak.upgrade() {
                let s = Socket { inner };
                if s.inner.state.has(flag::HANDSHAKING) {
                    s.fail_timed_out(lp, "handshake", "the handshake did not finish in time");
                }
            }
        });
        // The socket keeps the loop alive, not its timers.
        timer.unref();
        *self.inner.rare().handshake_timer.borrow_mut() = Some(timer);
    }

    /// Runs `f` on the layer, unless there is none (or it is in use).
    pub(super) fn layer_call<R>(&self, f: impl FnOnce(&mut dyn Layer) -> R) -> Option<R> {
        let rare = self.inner.rare.get()?;
        let mut slot = rare.layer.try_borrow_mut().ok()?;
        Some(f(&mut **slot.as_mut()?))
    }

    /// The layer's `read` into `buf`, checked: a layer that claims more
    /// bytes than `buf` holds is broken, and its socket fails rather than
    /// hand out a clamped slice or an `AsyncRead` count past the buffer
    /// (on which `read_exact` panics).
    pub(super) fn layer_read(&self, buf: &mut [u8]) -> Option<Result<Decoded>> {
        let cap = buf.len();
        match self.layer_call(|l| l.read(buf))? {
            Ok(Decoded::Bytes(n)) if n > cap => {
                let why = format!("the layer decoded {n} bytes into a buffer of {cap}");
                let source = io::Error::new(io::ErrorKind::InvalidData, why);
                Some(Err(Error::from_io("read", self.label(), source)))
            }
            r => Some(r),
        }
    }

    /// Writes what the layer has for the wire.
    pub(super) fn pump_wire(&self) -> Result<()> {
        let mut wire = Wire { socket: self };
        match self.layer_call(|l| l.output(&mut wire)) {
            Some(Err(e)) => Err(Error::from_io("write", self.label(), e)),
            _ => Ok(()),
        }
    }

    /// Wire bytes: to the kernel at once when nothing is queued, the rest
    /// into the queue (which takes everything; `send`'s result is the
    /// backpressure).
    fn wire_send(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let inner = &*self.inner;
        if inner.state.has(flag::CLOSED) || inner.fd() < 0 && !inner.state.has(flag::CONNECTING) {
            return Err(io::ErrorKind::NotConnected.into());
        }
        // rustls passes at most 64 records per call; take what fits.
        let mut iov = [io::IoSlice::new(&[]); WIRE_IOV];
        let count = bufs.len().min(WIRE_IOV);
        iov[..count].copy_from_slice(&bufs[..count]);
        let total: usize = iov[..count].iter().map(|b| b.len()).sum();
        let mut sent = 0;
        if !inner.state.has(flag::CONNECTING) && inner.queued.get() == 0 {
            let mut rest = &mut iov[..count];
            while sent < total {
                let r = match rest {
                    [one] => ffi::send(inner.fd(), one),
                    _ => ffi::send_vectored(inner.fd(), rest),
                };
                match r {
                    Ok(n) => {
                        sent += n;
                        io::IoSlice::advance_slices(&mut rest, n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            if sent > 0 {
                self.sent_now(sent);
            }
        }
        if sent < total {
            // The unsent tail, as one chunk.
            let mut data = Vec::with_capacity(total - sent);
            let mut skip = sent;
            for b in &bufs[..count] {
                if skip >= b.len() {
                    skip -= b.len();
                } else {
                    data.extend_from_slice(&b[skip..]);
                    skip = 0;
                }
            }
            inner.queued.set(inner.queued.get() + data.len());
            inner.queue().borrow_mut().push_back(Chunk {
                data,
                sent: 0,
                on_written: None,
            });
            self.update_interest();
        }
        Ok(total)
    }

    /// `send` on a layered socket.
    #[inline(never)]
    pub(super) fn send_layered(&self, data: &[u8], on_written: Option<Written>) -> Result<bool> {
        let inner = &*self.inner;
        if inner.state.has(flag::CLOSED | flag::ENDING | flag::CLOSING)
            || (inner.fd() < 0 && !inner.state.has(flag::CONNECTING))
        {
            return Err(Error::Closed { op: "send" });
        }
        let rare = inner.rare();
        if inner.state.has(flag::CONNECTING | flag::HANDSHAKING) || !rare.early.borrow().is_empty()
        {
            rare.early.borrow_mut().push_back(Chunk {
                data: data.to_vec(),
                sent: 0,
                on_written,
            });
            rare.early_bytes.set(rare.early_bytes.get() + data.len());
            return Ok(self.below_high_water());
        }
        self.encode(data, on_written)
    }

    /// Hands `data` to the ready layer and writes its output; `on_written`
    /// runs once the last of it reached the kernel.
    fn encode(&self, data: &[u8], on_written: Option<Written>) -> Result<bool> {
        let encoded = match self.layer_call(|l| l.write(data)) {
            Some(r) => r,
            None => Err(Error::Closed { op: "send" }),
        };
        // Inside a `data` pass, the records wait for its end (one system
        // call for all the listeners sent), unless a callback waits for
        // them.
        let batched = on_written.is_none() && self.inner.state.has(flag::EMITTING);
        let written = encoded.and_then(|()| if batched { Ok(()) } else { self.pump_wire() });
        if let Err(e) = written {
            if let Some(cb) = on_written {
                let me = self.clone();
                let err = e.duplicate();
                self.lp().defer(move |lp| cb(lp, &me, Err(err)));
            }
            self.finish_close(true);
            return Err(e);
        }
        if let Some(cb) = on_written {
            self.when_written(cb);
        }
        Ok(self.below_high_water())
    }

    /// Runs `cb` once what is queued now reached the kernel.
    fn when_written(&self, cb: Written) {
        let mut queue = self.inner.queue().borrow_mut();
        match queue.back_mut() {
            Some(last) => {
                last.on_written = Some(match last.on_written.take() {
                    None => cb,
                    Some(before) => Box::new(move |lp: &Loop, s: &Socket, r: Result<()>| {
                        let copy = r.as_ref().map_err(Error::duplicate).copied();
                        before(lp, s, copy);
                        cb(lp, s, r);
                    }),
                });
            }
            None => {
                drop(queue);
                let me = self.clone();
                self.lp().defer(move |lp| cb(lp, &me, Ok(())));
            }
        }
    }

    /// `send`'s result: whether the bytes queued (on the wire side, and
    /// waiting for the handshake) are below the high-water mark; if not,
    /// `drain` is owed.
    fn below_high_water(&self) -> bool {
        let inner = &*self.inner;
        let early = inner.rare.get().map_or(0, |r| r.early_bytes.get());
        let below = inner.queued.get() + early < inner.high_water();
        if !below {
            inner.state.set(flag::NEED_DRAIN, true);
        }
        below
    }

    /// Whether sends wait for the layer's handshake.
    #[inline]
    pub(super) fn early_is_empty(&self) -> bool {
        self.inner
            .rare
            .get()
            .is_none_or(|r| r.early.borrow().is_empty())
    }

    /// Takes the sends that waited for the handshake (the socket closed).
    pub(super) fn take_early(&self) -> Vec<Chunk> {
        match self.inner.rare.get() {
            Some(r) => {
                r.early_bytes.set(0);
                r.early.borrow_mut().drain(..).collect()
            }
            None => Vec::new(),
        }
    }

    /// Wire bytes arrived: into the layer, then its output to the wire,
    /// then `secure` if that finished the handshake, then `data`.
    #[inline(never)]
    pub(super) fn on_wire(&self, lp: &Loop, wire: &[u8]) {
        if self.lingered(false) {
            return;
        }
        let received = self.layer_call(|l| l.receive(wire));
        let written = self.pump_wire();
        if let Some(Err(e)) = received {
            return self.fail(lp, e);
        }
        if let Err(e) = written {
            return self.fail(lp, e);
        }
        self.check_ready(lp);
        self.emit_decoded(lp);
    }

    /// The handshake is done: `secure`, then the sends that waited.
    pub(super) fn become_ready(&self, lp: &Loop) {
        let inner = &*self.inner;
        inner.state.set(flag::HANDSHAKING, false);
        // A paused socket, or a task's that waits for no read, stops
        // reading now.
        self.update_interest();
        let rare = inner.rare();
        drop(rare.handshake_timer.borrow_mut().take());
        {
            let _unwinding = SendEarlyOnUnwind(self);
            rare.secure
                .emit_while(lp, self, &(), || !inner.state.has(flag::CLOSED));
        }
        self.send_early(lp);
    }

    /// The sends that waited for the handshake, in order; then `drain`
    /// and a pending `end`/`close` if nothing is left queued.
    fn send_early(&self, lp: &Loop) {
        let inner = &*self.inner;
        let rare = inner.rare();
        loop {
            let next = rare.early.borrow_mut().pop_front();
            let Some(chunk) = next else { break };
            rare.early_bytes
                .set(rare.early_bytes.get() - chunk.data.len());
            if inner.state.has(flag::CLOSED) || self.encode(&chunk.data, chunk.on_written).is_err()
            {
                return;
            }
        }
        // Tasks waiting for the handshake (to write, flush, or read).
        self.wake_waiters();
        if inner.queue().is_empty() {
            self.emit_drain(lp);
            self.after_flush();
        }
    }

    /// Emits `drain` if it is owed and nothing waits to be written.
    pub(super) fn emit_drain(&self, lp: &Loop) {
        let inner = &*self.inner;
        if inner.state.has(flag::NEED_DRAIN)
            && self.early_is_empty()
            && !inner.state.has(flag::CLOSED)
        {
            inner.state.set(flag::NEED_DRAIN, false);
            inner
                .events
                .drain
                .emit_while(lp, self, &(), || !inner.state.has(flag::CLOSED));
        }
    }

    /// Emits what the layer decoded, until it has no more or the socket
    /// pauses, ends or closes.
    pub(super) fn emit_decoded(&self, lp: &Loop) {
        let shared = self.inner.loop_core.local(DecodedBuf::default);
        let borrowed = shared.0.try_borrow_mut();
        match borrowed {
            Ok(mut buf) => self.emit_decoded_into(lp, &mut buf),
            // A nested run inside a `data` listener.
            Err(_) => self.emit_decoded_into(lp, &mut vec![0; super::state::READ_BUF]),
        }
    }

    fn emit_decoded_into(&self, lp: &Loop, buf: &mut [u8]) {
        let inner = &*self.inner;
        let pass = Emitting::start(self);
        loop {
            if inner
                .state
                .has(flag::CLOSED | flag::PAUSED | flag::READ_EOF | flag::PULL)
            {
                // What the layer still holds waits for `resume` (or a
                // task's read).
                inner.state.set(flag::LAYER_HELD, true);
                break;
            }
            let Some(decoded) = self.layer_read(buf) else {
                break;
            };
            match decoded {
                Ok(Decoded::Bytes(n)) if n > 0 => {
                    let data = &buf[..n];
                    inner
                        .events
                        .data
                        .emit_while(lp, self, data, || !inner.state.has(flag::CLOSED));
                }
                Ok(Decoded::Bytes(_) | Decoded::Empty) => break,
                Ok(Decoded::End) => {
                    drop(pass);
                    if let Err(e) = self.pump_wire() {
                        return self.fail(lp, e);
                    }
                    return self.on_eof(lp);
                }
                Err(e) => {
                    drop(pass);
                    let _ = self.pump_wire();
                    return self.fail(lp, e);
                }
            }
        }
        drop(pass);
        // What the listeners sent, and what decoding answered the peer
        // (a key update).
        if let Err(e) = self.pump_wire() {
            self.fail(lp, e);
        }
    }

    /// The wire ended: a clean end if the layer says so, else its error
    /// (TLS: a truncation without `close_notify`).
    pub(super) fn wire_eof(&self, lp: &Loop) {
        if self.lingered(true) {
            return;
        }
        if self.inner.state.has(flag::LAYER) {
            if let Some(Err(e)) = self.layer_call(|l| l.eof()) {
                return self.fail(lp, e);
            }
        }
        self.on_eof(lp)
    }

    /// `end()`/`close()` on a layered socket, once the wire queue is
    /// empty: false while sends wait for the handshake, while an `end()`
    /// waits for it, or while the layer's `end` output (`close_notify`)
    /// is being written.
    pub(super) fn layer_may_finish(&self) -> bool {
        let inner = &*self.inner;
        if !self.early_is_empty() {
            return false;
        }
        // A `close()` with nothing to deliver does not wait for the
        // peer's handshake: a stalled peer would hold it until the
        // handshake timeout, then fail it. An `end()` waits: it keeps
        // reading, which needs the handshake done, unless the peer has
        // ended already (it closed before a handshake: nothing to wait for).
        if inner.state.has(flag::HANDSHAKING) && !inner.state.has(flag::CLOSING | flag::READ_EOF) {
            return false;
        }
        if inner.state.replace(flag::LAYER_ENDED, true) {
            return true;
        }
        self.layer_call(|l| l.end());
        if let Err(e) = self.pump_wire() {
            log::debug!("{e}");
            self.finish_close(true);
            return false;
        }
        inner.queue().is_empty()
    }

    /// `close()` once the layer's `end` output went out: shut the writing
    /// side (the FIN follows our last byte), then read and drop what the
    /// peer still sends until its FIN, for at most `LINGER_TIME`. Closing
    /// at once would make the kernel answer the peer's late bytes (TLS
    /// 1.3 session tickets come unasked) with a reset, which destroys
    /// what the peer had not yet read of ours.
    pub(super) fn linger(&self) {
        let inner = &*self.inner;
        if inner.state.replace(flag::LINGER, true) {
            return;
        }
        inner.state.set(flag::WRITE_SHUT, true);
        if self
            .with_sock(|s| s.shutdown(std::net::Shutdown::Write))
            .is_none()
        {
            return self.finish_close(false);
        }
        self.update_interest();
        let weak = Rc::downgrade(&self.inner);
        let timer = Timer::new(&self.lp(), LINGER_TIME, Duration::ZERO, move |_, _| {
            if let Some(inner) = weak.upgrade() {
                Socket { inner }.finish_close(false);
            }
        });
        timer.unref();
        *inner.rare().handshake_timer.borrow_mut() = Some(timer);
    }

    /// Bytes read while lingering: dropped. Returns whether the socket
    /// lingers (and so took them).
    #[inline]
    pub(super) fn lingered(&self, eof: bool) -> bool {
        if !self.inner.state.has(flag::LINGER) {
            return false;
        }
        if eof {
            self.finish_close(false);
        }
        true
    }

    /// `resume()` of a layered socket: what the layer decoded while the
    /// socket was paused is not in the kernel, so no readiness would
    /// bring it: emit it from the loop.
    pub(super) fn resume_layer(&self) {
        if !self.inner.state.replace(flag::LAYER_HELD, false) {
            return;
        }
        let me = self.clone();
        self.lp().defer(move |lp| {
            if !me.is_closed() {
                me.emit_decoded(lp);
            }
        });
    }
}
