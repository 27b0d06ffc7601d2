//! A stream socket (TCP or Unix), accepted by a [`Server`](crate::Server)
//! or connected: its public face. The engine behind it is split by
//! concern: `state` (flags, tables), `read`, `write`, `connect`, `close`.

mod async_io;
mod close;
mod connect;
#[cfg(feature = "async")]
mod connected;
mod layered;
mod read;
mod state;
mod write;

#[cfg(feature = "async")]
pub use connected::Connected;
use std::rc::Rc;
use std::time::Duration;

use crate::event_loop::Loop;
use crate::net::addr::Addr;
use crate::{Error, Result, Timer, Watcher};

use state::flag;
pub(crate) use state::SocketCell;

/// Above this many queued bytes, [`Socket::send`] returns `false`.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;

/// One built-in event of a [`Socket`], to count or remove its listeners.
///
/// ```
/// # let lp = hinge::Loop::new()?;
/// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
/// use hinge::SocketEvent;
/// let s = hinge::Socket::from_unix_stream(&lp, a)?;
/// s.on_data(|_, _, _| {});
/// s.on_end(|_, _| {});
/// s.remove_listeners(SocketEvent::Data);
/// assert_eq!(s.listeners(SocketEvent::Data), 0);
/// assert_eq!(s.listeners(SocketEvent::End), 1);
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketEvent {
    /// `connect`
    Connect,
    /// `data`
    Data,
    /// `end`
    End,
    /// `drain`
    Drain,
    /// `secure`
    Secure,
    /// `timeout`
    Timeout,
    /// `error`
    Error,
    /// `close`
    Close,
}

/// A connected stream socket, TCP or Unix-domain.
///
/// A `Socket` is a cheap handle (clone it freely); the loop keeps an open
/// socket alive, so you need not store it. Events, in the vocabulary of
/// Node's `net`:
///
/// | event | when | payload |
/// |---|---|---|
/// | [`connect`](Socket::on_connect) | an outgoing connection is established | `()` |
/// | [`data`](Socket::on_data) | bytes arrived | `&[u8]`, borrowed from the loop's shared read buffer |
/// | [`end`](Socket::on_end) | the peer half-closed | `()` |
/// | [`drain`](Socket::on_drain) | the send queue emptied after `send` returned `false` | `()` |
/// | [`secure`](Socket::on_secure) | the [layer](Socket::set_layer)'s handshake (TLS) is done | `()` |
/// | [`timeout`](Socket::on_timeout) | no activity for [`set_timeout`](Socket::set_timeout) | `()` |
/// | [`error`](Socket::on_error) | a typed [`Error`]; `close` follows | `Error` |
/// | [`close`](Socket::on_close) | the socket is closed, once (also when the loop is dropped) | `had_error: bool` |
///
/// Closing a socket drops all its listeners, so listeners that capture
/// socket handles cannot keep each other alive.
///
/// An `error` that no listener handles is reported and the socket is
/// closed; it never vanishes silently and never panics. The report goes to
/// the `log` crate when a logger is installed, otherwise to stderr.
///
/// ```no_run
/// use hinge::{Loop, Socket};
///
/// let lp = Loop::new()?;
/// let sock = Socket::connect(&lp, "localhost", 4545)?;
/// sock.on_connect(|_, s| {
///     s.send(b"hello\n").ok();
/// });
/// sock.on_data(|_, s, bytes| {
///     println!("got {:?}", String::from_utf8_lossy(bytes));
///     s.end();
/// });
/// sock.on_error(|_, _, e| eprintln!("{e}"));
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
///
/// Cloning a `Socket` is cheap (it is a reference-counted handle, like an
/// `Rc`), and the way to use a socket from another callback: capture a
/// clone. Capturing `&Socket` itself does not compile (E0521), since
/// callbacks outlive the borrow.
///
/// ```no_run
/// use std::time::Duration;
/// use hinge::{Loop, Socket};
///
/// let lp = Loop::new()?;
/// let sock = Socket::connect(&lp, "localhost", 4545)?;
/// let pinger = sock.clone(); // cheap: another handle to the same socket
/// lp.set_interval(Duration::from_secs(1), move |_, timer| {
///     if pinger.send("PING\n").is_err() {
///         timer.clear(); // closed: stop pinging
///     }
/// });
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
///
/// A listener that should run once is [`once_data`](Socket::once_data)
/// (and the other `once_*`); one that removes itself later keeps its
/// [`ListenerId`](crate::ListenerId) and calls [`off`](Socket::off).
///
/// ## From async code
///
/// With the `async` feature (default), a socket is also a futures-io
/// `AsyncRead` + `AsyncWrite` (and tokio's, with the `tokio` feature), for
/// tasks ([`Loop::spawn_local`](crate::Loop::spawn_local)) and the crates
/// written for those traits:
///
/// - The first read through `AsyncRead` switches the socket to *pull
///   mode*: the task reads straight from the kernel into its buffer, and
///   `data` is no longer emitted; [`resume`](Socket::resume) switches it
///   back. [`reader`](Socket::reader) reads with buffers borrowed from the
///   loop only while they hold bytes. [`connected`](Socket::connected) and
///   [`Server::incoming`](crate::Server::incoming) hand out sockets
///   already in pull mode, so that no early byte is lost.
/// - `poll_write` writes to the kernel at once; what it does not take
///   is queued up to the high-water mark, as [`send`](Socket::send) queues
///   it, and past the mark the task waits: a slow peer holds the task
///   back, and at most a high-water mark of bytes waits in user space.
///   `poll_close` (futures-io) and `poll_shutdown` (tokio) flush, then
///   half-close, as [`end`](Socket::end) does. Mind that the inherent
///   [`close`](Socket::close) wins over `AsyncWriteExt::close` in method
///   syntax: write `AsyncWriteExt::close(&mut sock).await` for the latter.
/// - A socket used from async code is owned by its handles, as a tokio
///   stream is: when the last one is dropped, the socket closes (after
///   flushing what is queued). A callback socket is owned by the loop.
/// - A task's read after the peer ended returns `Ok(0)` and leaves the
///   writing side open (the task decides), unlike a callback socket,
///   which ends its side too unless half-open is allowed.
/// - One task reads and one writes at a time, as with tokio's streams:
///   each direction keeps one waker, the last task's to wait (a second
///   reader displaces the first, which is then never woken).
/// - A handle captured by one of the socket's own listeners counts as a
///   handle: such a socket closes when the peer ends it or the loop goes,
///   not at the last drop of the other handles (as a callback socket).
///
/// ```
/// use futures_util::{AsyncReadExt, AsyncWriteExt};
/// use std::io::{Read, Write};
///
/// let lp = hinge::Loop::new()?;
/// let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
/// let mut sock = hinge::Socket::from_unix_stream(&lp, a)?;
/// b.write_all(b"ping").unwrap();
/// lp.block_on(async {
///     let mut buf = [0u8; 4];
///     sock.read_exact(&mut buf).await?;
///     sock.write_all(b"pong").await
/// })??;
/// let mut reply = [0u8; 4];
/// b.read_exact(&mut reply).unwrap();
/// assert_eq!(&reply, b"pong");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Socket {
    inner: Rc<SocketCell>,
}

impl Socket {
    /// Wraps a connected `std` Unix stream (for example one half of
    /// `UnixStream::pair()`), which is handy in tests and for IPC.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// assert!(!s.is_closed());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn from_unix_stream(lp: &Loop, stream: std::os::unix::net::UnixStream) -> Result<Socket> {
        stream
            .set_nonblocking(true)
            .map_err(|e| Error::from_io("adopt", "unix", e))?;
        Socket::adopt(
            lp,
            socket2::Socket::from(std::os::fd::OwnedFd::from(stream)),
            Some(Addr::Unix(Default::default())),
        )
    }

    /// Wraps a connected `std` TCP stream.
    ///
    /// ```
    /// # let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let lp = hinge::Loop::new()?;
    /// let s = hinge::Socket::from_tcp_stream(&lp, stream)?;
    /// assert_eq!(s.peer_addr().unwrap().port(), l.local_addr().unwrap().port());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn from_tcp_stream(lp: &Loop, stream: std::net::TcpStream) -> Result<Socket> {
        let peer = stream.peer_addr().ok().map(Addr::Inet);
        stream
            .set_nonblocking(true)
            .map_err(|e| Error::from_io("adopt", "tcp", e))?;
        Socket::adopt(
            lp,
            socket2::Socket::from(std::os::fd::OwnedFd::from(stream)),
            peer,
        )
    }

    /// Stops reading (no more `data` events) until [`resume`](Socket::resume).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.pause();
    /// assert!(s.is_paused());
    /// s.resume();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn pause(&self) {
        self.inner.state.set(flag::PAUSED, true);
        self.update_interest();
    }

    /// Resumes reading after [`pause`](Socket::pause), and emitting
    /// `data`: also after a task read the socket through `AsyncRead`
    /// (which stops `data`), so that callbacks can take it back; the loop
    /// then owns the socket again, as any callback socket. A task still
    /// waiting in a read then gets nothing more until the socket closes
    /// (its read returns `Ok(0)`).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.resume();
    /// assert!(!s.is_paused());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn resume(&self) {
        // Also back to flowing mode from a task's pull mode (as a Node
        // stream leaves paused mode): `data` is emitted again, and the
        // loop owns the socket again (a handle's drop no longer closes it).
        // A task still waiting to read keeps waiting (its waker stays):
        // the bytes go to `data` listeners, and the task sees the end
        // when the socket closes.
        self.inner.state.set(
            flag::PAUSED | flag::PULL | flag::ASYNC | flag::READ_WAIT | flag::DRAINED,
            false,
        );
        self.update_interest();
        if self.inner.state.has(flag::LAYER) {
            self.resume_layer();
        }
    }

    /// Whether reading is paused.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// assert!(!s.is_paused());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_paused(&self) -> bool {
        self.inner.state.has(flag::PAUSED)
    }

    /// Half-closes: once everything queued is written, shuts down the
    /// writing side. The socket closes when the peer has ended too.
    ///
    /// ```
    /// # use std::io::Read;
    /// let lp = hinge::Loop::new()?;
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.send(b"bye")?;
    /// s.end();
    /// let mut got = String::new();
    /// b.read_to_string(&mut got).unwrap(); // sees EOF after "bye"
    /// assert_eq!(got, "bye");
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn end(&self) {
        if self.inner.state.has(flag::CLOSED) {
            return;
        }
        self.inner.state.set(flag::ENDING, true);
        self.after_flush();
    }

    /// Flushes what is queued, then closes (without waiting for the peer).
    /// Like libuv's `uv_close`, it closes the fd without a `shutdown`
    /// first: if the fd is shared (a `try_clone` made before adopting it,
    /// or a `fork` without exec), the peer sees the FIN only once every
    /// copy is closed. [`end`](Socket::end) half-closes explicitly.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.on_close(|_, _, had_error| assert!(!had_error));
    /// s.close();
    /// lp.run();
    /// assert!(s.is_closed());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn close(&self) {
        if self.inner.state.has(flag::CLOSED) {
            return;
        }
        self.inner.state.set(flag::CLOSING, true);
        self.after_flush();
    }

    /// Closes at once, discarding anything queued.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.destroy();
    /// assert!(s.is_closed());
    /// assert!(matches!(s.send(b"x"), Err(hinge::Error::Closed { .. })));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn destroy(&self) {
        self.finish_close(false);
    }

    /// Lets the loop's `run` return while this socket is its only work
    /// (an open socket keeps the loop alive by default), like Node's
    /// `socket.unref()`. Its timers follow the socket.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.unref();
    /// assert!(!s.has_ref());
    /// lp.run(); // returns at once: only an unref'd socket is left
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn unref(&self) {
        self.inner.state.set(flag::UNREF, true);
        self.apply_ref();
    }

    /// Undoes [`unref`](Socket::unref): the socket keeps the loop alive again.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.unref();
    /// s.ref_();
    /// assert!(s.has_ref());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn ref_(&self) {
        self.inner.state.set(flag::UNREF, false);
        self.apply_ref();
    }

    /// Whether this socket keeps the loop alive while it is open.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// assert!(s.has_ref());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn has_ref(&self) -> bool {
        !self.inner.state.has(flag::UNREF)
    }

    /// Whether the socket is closed.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// assert!(!s.is_closed());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.state.has(flag::CLOSED)
    }

    /// Emits `timeout` after `idle` without reads or writes; `None` turns
    /// it off. The socket stays open: close it in the listener if wanted.
    /// Uses one libev timer per socket, re-armed with `ev_timer_again`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let lp = hinge::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.set_timeout(Some(Duration::from_millis(10)));
    /// s.on_timeout(|_, s| s.destroy());
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_timeout(&self, idle: Option<Duration>) {
        let idle = idle.filter(|d| !d.is_zero());
        // A new duration for a timer that exists: the same timer.
        if let (Some(idle), Some(r), false) = (idle, self.inner.rare.get(), self.is_closed()) {
            if let Some(t) = r.idle_timer.borrow().as_ref() {
                t.set(idle, idle);
                t.start();
                self.inner.state.set(flag::HAS_IDLE_TIMER, true);
                return;
            }
        }
        self.inner.state.set(flag::HAS_IDLE_TIMER, false);
        if let Some(r) = self.inner.rare.get() {
            let old = r.idle_timer.borrow_mut().take();
            drop(old);
        }
        let Some(idle) = idle else {
            return;
        };
        if self.is_closed() {
            return;
        }
        let weak = Rc::downgrade(&self.inner);
        let timer = Timer::new(&self.lp(), idle, idle, move |lp, _| {
            if let Some(inner) = weak.upgrade().filter(|i| !i.state.has(flag::CLOSED)) {
                let s = Socket { inner };
                s.inner
                    .rare()
                    .timeout
                    .emit_while(lp, &s, &(), || !s.inner.state.has(flag::CLOSED));
            }
        });
        // The timer does not keep the loop alive; the socket does.
        timer.unref();
        *self.inner.rare().idle_timer.borrow_mut() = Some(timer);
        self.inner.state.set(flag::HAS_IDLE_TIMER, true);
    }

    /// Sets `TCP_NODELAY` (Nagle's algorithm off). It is on by default for
    /// the TCP sockets hinge connects or accepts (see
    /// [`Server::set_nodelay`](crate::Server::set_nodelay)); sockets adopted
    /// with `from_tcp_stream` keep what they had.
    ///
    /// ```
    /// # let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let lp = hinge::Loop::new()?;
    /// # let s = hinge::Socket::from_tcp_stream(&lp, std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap())?;
    /// s.set_nodelay(true)?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_nodelay(&self, on: bool) -> Result<()> {
        self.with_sock(|s| s.set_tcp_nodelay(on))
            .unwrap_or(Ok(()))
            .map_err(|e| Error::from_io("set_nodelay", self.label(), e))
    }

    /// Whether `TCP_NODELAY` is set (`false` for a Unix socket).
    ///
    /// ```
    /// # let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let lp = hinge::Loop::new()?;
    /// # let s = hinge::Socket::from_tcp_stream(&lp, std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap())?;
    /// s.set_nodelay(false)?;
    /// assert!(!s.nodelay()?);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn nodelay(&self) -> Result<bool> {
        match self.with_sock(|s| s.tcp_nodelay()) {
            Some(Ok(on)) => Ok(on),
            Some(Err(e)) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(false),
            Some(Err(e)) => Err(Error::from_io("nodelay", self.label(), e)),
            None => Err(Error::Closed { op: "nodelay" }),
        }
    }

    /// Turns TCP keep-alive probes on (after `idle`) or off (`None`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let lp = hinge::Loop::new()?;
    /// # let s = hinge::Socket::from_tcp_stream(&lp, std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap())?;
    /// s.set_keepalive(Some(Duration::from_secs(60)))?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_keepalive(&self, idle: Option<Duration>) -> Result<()> {
        let r = self.with_sock(|s| match idle {
            Some(d) => s.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(d)),
            None => s.set_keepalive(false),
        });
        r.unwrap_or(Ok(()))
            .map_err(|e| Error::from_io("set_keepalive", self.label(), e))
    }

    /// Lets the socket stay open for writing after the peer's `end`
    /// (default `false`: hinge ends its side too, like Node).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.set_allow_half_open(true);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_allow_half_open(&self, allow: bool) {
        self.inner.state.set(flag::ALLOW_HALF_OPEN, allow);
    }

    /// Sets the queue size above which `send` returns `false`.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.set_high_water_mark(1 << 20);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_high_water_mark(&self, bytes: usize) {
        self.inner.rare().high_water.set(bytes.max(1));
    }

    /// Bytes queued in user space, waiting for the kernel.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// assert_eq!(s.pending_bytes(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn pending_bytes(&self) -> usize {
        self.inner.queued.get()
    }

    /// Bytes received so far.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// assert_eq!(s.bytes_read(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn bytes_read(&self) -> u64 {
        self.inner.bytes_read.get()
    }

    /// Bytes handed to the kernel so far.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.send(b"abc")?;
    /// assert_eq!(s.bytes_written(), 3);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn bytes_written(&self) -> u64 {
        self.inner.bytes_written.get()
    }

    /// The peer's address (`None` if unknown or closed before connecting).
    ///
    /// ```
    /// # let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let lp = hinge::Loop::new()?;
    /// # let s = hinge::Socket::from_tcp_stream(&lp, std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap())?;
    /// assert_eq!(s.peer_addr().unwrap().inet(), Some(l.local_addr().unwrap()));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn peer_addr(&self) -> Option<Addr> {
        self.inner.peer()
    }

    /// The local address (`None` once closed).
    ///
    /// ```
    /// # let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let lp = hinge::Loop::new()?;
    /// # let s = hinge::Socket::from_tcp_stream(&lp, std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap())?;
    /// let local = s.local_addr().unwrap();
    /// assert_eq!(local.inet().unwrap().ip(), std::net::IpAddr::from([127, 0, 0, 1]));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn local_addr(&self) -> Option<Addr> {
        self.with_sock(|s| s.local_addr().ok().map(|a| Addr::from_sock(&a)))
            .flatten()
    }
}

typed_events! {
    Socket, SocketEvent, finished: |f| f.inner.state.has(flag::FINISHED),
    example: "let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap(); let s = hinge::Socket::from_unix_stream(&lp, a)?;",
        Data, on_data;
        /// Runs `f` when an outgoing connection is established.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// # let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.on_connect(|_, s| println!("connected to {:?}", s.peer_addr()));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    Connect => on_connect, once_connect, (),
        |s| s.inner.rare().connect, |p| p.inner.rare.get().map(|r| &r.connect);
    /// Runs `f` with each chunk of received bytes. The slice borrows the
    /// loop's shared read buffer: copy what you keep.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// # let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.on_data(|_, s, bytes| {
    ///     s.send(bytes).ok(); // echo
    /// });
    /// # Ok::<(), hinge::Error>(())
    /// ```
    Data => on_data, once_data, [u8],
        |s| s.inner.events.data, |p| Some(&p.inner.events.data);
    /// Runs `f` when the peer half-closes (no more data will come).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// # let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.on_end(|_, _| println!("peer finished sending"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    End => on_end, once_end, (),
        |s| s.inner.rare().end, |p| p.inner.rare.get().map(|r| &r.end);
    /// Runs `f` when the send queue empties after `send` returned `false`.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// # let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.on_drain(|_, s| s.resume());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    Drain => on_drain, once_drain, (),
        |s| s.inner.events.drain, |p| Some(&p.inner.events.drain);
    /// Runs `f` after the inactivity period of [`set_timeout`](Socket::set_timeout).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// # let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.on_timeout(|_, s| s.destroy());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    Timeout => on_timeout, once_timeout, (),
        |s| s.inner.rare().timeout, |p| p.inner.rare.get().map(|r| &r.timeout);
    /// Runs `f` when the socket's [`Layer`](crate::Layer) finished its
    /// handshake (TLS: Node's `secureConnect` and `secureConnection`);
    /// sends made before it were held back until now.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// # let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.on_secure(|_, s| println!("handshake done with {:?}", s.peer_addr()));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    Secure => on_secure, once_secure, (),
        |s| s.inner.rare().secure, |p| p.inner.rare.get().map(|r| &r.secure);
    /// Runs `f` with a typed error; `close` follows.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// # let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.on_error(|_, _, e| eprintln!("socket error: {e}"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    Error => on_error, once_error, Error,
        |s| s.inner.events.error, |p| Some(&p.inner.events.error);
    /// Runs `f` once when the socket has closed, with whether an error
    /// caused it. All listeners are dropped afterwards.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// # let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.on_close(|_, _, had_error| println!("closed (error: {had_error})"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    Close => on_close, once_close, bool,
        |s| s.inner.events.close, |p| Some(&p.inner.events.close);
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("peer", &self.peer_addr())
            .field("closed", &self.is_closed())
            .field("pending", &self.pending_bytes())
            .finish()
    }
}

impl PartialEq for Socket {
    fn eq(&self, other: &Socket) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}
