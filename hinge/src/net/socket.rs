//! A stream socket (TCP or Unix), accepted by a [`Server`] or connected.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::rc::{Rc, Weak};
use std::time::Duration;

use slab::Slab;
use socket2::{Domain, SockAddr, Type};

use crate::event_loop::Loop;
use crate::ffi::{self, Handle, LoopCore, StreamHandler, StreamKind, StreamSource};
use crate::net::addr::{parse_host, resolve, Addr, Host};
use crate::net::server::ServerInner;
use crate::{Backend, Error, Event, Events, Pool, Result, Timer, Watcher};

/// Above this many queued bytes, [`Socket::send`] returns `false`.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;
/// The one read buffer every socket of a loop shares.
const READ_BUF: usize = 64 * 1024;
/// Reads per readiness event before giving other sockets a turn.
const READS_PER_WAKEUP: usize = 4;
/// `SocketInner::slot` of a socket the loop no longer holds.
const NO_SLOT: usize = usize::MAX;

/// A callback told whether queued bytes reached the kernel.
type Written = Box<dyn FnOnce(&Loop, &Socket, Result<()>)>;

/// The bits of `SocketInner::state`.
mod flag {
    /// Connecting, or resolving the name to connect to.
    pub(super) const CONNECTING: u16 = 1;
    pub(super) const PAUSED: u16 = 1 << 1;
    /// The peer ended: no more reads.
    pub(super) const READ_EOF: u16 = 1 << 2;
    /// `end()` was called: shut down writing once the queue is flushed.
    pub(super) const ENDING: u16 = 1 << 3;
    /// `close()` was called: close once the queue is flushed.
    pub(super) const CLOSING: u16 = 1 << 4;
    pub(super) const WRITE_SHUT: u16 = 1 << 5;
    pub(super) const CLOSED: u16 = 1 << 6;
    pub(super) const ALLOW_HALF_OPEN: u16 = 1 << 7;
    /// `send` returned false: emit `drain` once the queue empties.
    pub(super) const NEED_DRAIN: u16 = 1 << 8;
    /// An inactivity timer is set: reads and writes re-arm it.
    pub(super) const HAS_IDLE_TIMER: u16 = 1 << 9;
    /// A `send` cannot go straight to the kernel.
    pub(super) const NO_DIRECT_SEND: u16 = CONNECTING | ENDING | CLOSING | CLOSED;
}

/// A socket's state, as `flag` bits in one word.
#[derive(Default)]
struct State(Cell<u16>);

impl State {
    #[inline]
    fn has(&self, bits: u16) -> bool {
        self.0.get() & bits != 0
    }

    #[inline]
    fn set(&self, bit: u16, on: bool) {
        let v = self.0.get();
        self.0.set(if on { v | bit } else { v & !bit });
    }

    /// Sets `bit` to `on`; returns whether it was set before.
    #[inline]
    fn replace(&self, bit: u16, on: bool) -> bool {
        let was = self.has(bit);
        self.set(bit, on);
        was
    }
}

/// The socket's io watcher: it owns the OS socket and calls the socket.
type Stream = Handle<StreamKind<Socket>>;

struct Chunk {
    data: Vec<u8>,
    sent: usize,
    on_written: Option<Written>,
}

/// One built-in event of a [`Socket`], to count or remove its listeners.
///
/// ```
/// # let lp = hinge::Loop::new()?;
/// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
/// use hinge::SocketEvent;
/// let s = hinge::Socket::from_unix_stream(&lp, a)?;
/// s.on_data(|_, _, _| {});
/// s.on_end(|_, _, _| {});
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
    /// `timeout`
    Timeout,
    /// `error`
    Error,
    /// `close`
    Close,
}

/// The events every socket needs at hand. Reach them through the methods
/// of [`Socket`] (`on_data`, `on_close`...).
#[derive(Default)]
struct SocketEvents {
    data: Event<Socket, [u8]>,
    drain: Event<Socket, ()>,
    error: Event<Socket, Error>,
    close: Event<Socket, bool>,
}

/// What most sockets never use, allocated on first use: an idle server
/// connection pays for none of it.
#[derive(Default)]
struct Rare {
    connect: Event<Socket, ()>,
    end: Event<Socket, ()>,
    timeout: Event<Socket, ()>,
    /// Resolved addresses still to try if the current connect fails.
    fallback: RefCell<Vec<SocketAddr>>,
    idle_timer: RefCell<Option<Timer>>,
    connect_timer: RefCell<Option<Timer>>,
}

impl SocketInner {
    fn rare(&self) -> &Rare {
        self.rare.get_or_init(Box::default)
    }

    /// Neither closed nor closing nor connecting, and nothing queued: a
    /// send can go straight to the kernel.
    #[inline]
    fn can_send_now(&self) -> bool {
        !self.state.has(flag::NO_DIRECT_SEND)
            && self.queued.get() == 0
            && self.queue.borrow().is_empty()
    }

    /// Closes the io watcher and the OS socket now (the watcher's cell
    /// may live on while its own callback runs).
    fn release_io(&self) {
        self.fd.set(-1);
        if let Some(io) = self.io.borrow_mut().take() {
            io.close_socket();
        }
    }

    fn clear_listeners(&self) {
        let e = &self.events;
        e.data.clear();
        e.drain.clear();
        e.error.clear();
        e.close.clear();
        if let Some(r) = self.rare.get() {
            r.connect.clear();
            r.end.clear();
            r.timeout.clear();
        }
    }
}

pub(crate) struct SocketInner {
    core: Rc<LoopCore>,
    /// Owns the OS socket; `None` before connecting and after closing.
    io: RefCell<Option<Stream>>,
    /// The fd `io` owns, or -1: the hot path reads and writes it directly.
    fd: Cell<RawFd>,
    /// Events the io watcher currently asks for.
    interest: Cell<Events>,
    /// `flag` bits.
    state: State,
    /// The loop's shared read buffer, looked up once per socket.
    read_buf: Rc<ReadBuf>,
    /// This socket's entry in the loop's socket table, or `NO_SLOT`.
    slot: Cell<usize>,
    peer: RefCell<Option<Addr>>,
    queue: RefCell<VecDeque<Chunk>>,
    queued: Cell<usize>,
    high_water: Cell<usize>,
    bytes_read: Cell<u64>,
    bytes_written: Cell<u64>,
    server: Cell<Weak<ServerInner>>,
    events: SocketEvents,
    rare: OnceCell<Box<Rare>>,
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
/// | [`timeout`](Socket::on_timeout) | no activity for [`set_timeout`](Socket::set_timeout) | `()` |
/// | [`error`](Socket::on_error) | a typed [`Error`]; `close` follows | `Error` |
/// | [`close`](Socket::on_close) | the socket is closed, once | `had_error: bool` |
///
/// Closing a socket drops all its listeners, so listeners that capture
/// socket handles cannot keep each other alive.
///
/// An `error` that no listener handles is logged (via the `log` crate) and
/// the socket is closed; it never vanishes silently and never panics.
///
/// ```no_run
/// use hinge::{Loop, Socket};
///
/// let lp = Loop::new()?;
/// let sock = Socket::connect(&lp, "localhost", 4545)?;
/// sock.on_connect(|_, s, _| {
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
#[derive(Clone)]
pub struct Socket {
    inner: Rc<SocketInner>,
}

/// The loop's open sockets: the loop owns a socket until it closes.
#[derive(Default)]
struct SocketTable(RefCell<Slab<Rc<SocketInner>>>);

impl Drop for SocketTable {
    fn drop(&mut self) {
        // The loop is going away with sockets still open: break any
        // listener -> socket cycles so everything is freed.
        for (_, s) in std::mem::take(&mut *self.0.borrow_mut()) {
            // Handles kept past the loop see a closed socket, never a
            // stale fd number.
            s.state.set(flag::CLOSED, true);
            s.clear_listeners();
            // The io watcher holds its socket: let go of it too.
            s.release_io();
            drop(s.queue.borrow_mut().drain(..).collect::<Vec<_>>());
        }
    }
}

/// The loop's shared read buffer; borrowed while a read runs.
struct ReadBuf(RefCell<Box<[u8]>>);

impl Default for ReadBuf {
    fn default() -> ReadBuf {
        ReadBuf(RefCell::new(vec![0u8; READ_BUF].into_boxed_slice()))
    }
}

/// Threads that resolve host names for `connect`, off every loop thread.
fn resolver() -> &'static Pool {
    static POOL: std::sync::OnceLock<Pool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| Pool::with_threads(2))
}

macro_rules! event_methods {
    ($($(#[$doc:meta])* $on:ident, $once:ident, |$s:ident| $event:expr, $payload:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $on<F>(&self, f: F) -> crate::ListenerId
            where
                F: FnMut(&Loop, &Socket, &$payload) + 'static,
            {
                let $s = self;
                $event.on(f)
            }

            #[doc = concat!("Like [`", stringify!($on), "`](Socket::", stringify!($on), "), but runs once.")]
            ///
            /// ```
            /// # let lp = hinge::Loop::new()?;
            /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
            /// # let s = hinge::Socket::from_unix_stream(&lp, a)?;
            #[doc = concat!("s.", stringify!($once), "(|_, _, _| {});")]
            /// # Ok::<(), hinge::Error>(())
            /// ```
            pub fn $once<F>(&self, f: F) -> crate::ListenerId
            where
                F: FnOnce(&Loop, &Socket, &$payload) + 'static,
            {
                let $s = self;
                $event.once(f)
            }
        )*
    };
}

impl StreamHandler for Socket {
    #[inline]
    fn on_io(&self, lp: &Loop, events: Events) {
        self.handle_io(lp, events)
    }
}

impl Socket {
    fn new(core: &Rc<LoopCore>) -> Socket {
        let inner = Rc::new(SocketInner {
            core: core.clone(),
            io: RefCell::new(None),
            fd: Cell::new(-1),
            interest: Cell::new(Events::NONE),
            state: State::default(),
            read_buf: core.local(ReadBuf::default),
            slot: Cell::new(NO_SLOT),
            peer: RefCell::new(None),
            queue: RefCell::new(VecDeque::new()),
            queued: Cell::new(0),
            high_water: Cell::new(DEFAULT_HIGH_WATER),
            bytes_read: Cell::new(0),
            bytes_written: Cell::new(0),
            server: Cell::new(Weak::new()),
            events: SocketEvents::default(),
            rare: OnceCell::new(),
        });
        let table = core.local(SocketTable::default);
        let slot = table.0.borrow_mut().insert(inner.clone());
        inner.slot.set(slot);
        Socket { inner }
    }

    fn lp(&self) -> Loop {
        Loop::view(&self.inner.core)
    }

    /// Wraps an open, connected OS socket and starts reading.
    pub(crate) fn adopt(lp: &Loop, sock: socket2::Socket, peer: Option<Addr>) -> Result<Socket> {
        let s = Socket::new(lp.core());
        *s.inner.peer.borrow_mut() = peer;
        s.attach(lp, sock, Events::READ)?;
        Ok(s)
    }

    /// Gives the OS socket to a new io watcher, which holds the socket
    /// until it closes (the loop keeps open sockets alive anyway).
    fn attach(&self, lp: &Loop, sock: socket2::Socket, events: Events) -> Result<()> {
        let fd = sock.as_raw_fd();
        // libev's select backend asserts on fds it cannot put in an fd_set.
        if lp.backend() == Backend::SELECT && fd >= libc::FD_SETSIZE as RawFd {
            self.finish_close(false);
            return Err(Error::InvalidFd(fd));
        }
        let io = Stream::with_callback(lp, StreamSource::new(sock), self.clone());
        io.set_events(events);
        self.inner.interest.set(events);
        *self.inner.io.borrow_mut() = Some(io);
        self.inner.fd.set(fd);
        Ok(())
    }

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

    /// Connects to `host:port` without blocking the loop: `host` is an IP
    /// literal or a name, resolved on a background thread. The socket
    /// emits `connect`, or `error` then `close`. An invalid host string is
    /// an error here, at the call.
    ///
    /// Data sent before the connection is established is queued.
    ///
    /// ```
    /// # use hinge::{Error, Loop, Socket};
    /// let lp = Loop::new()?;
    /// assert!(matches!(Socket::connect(&lp, "not a host!", 80), Err(Error::InvalidAddress { .. })));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn connect(lp: &Loop, host: &str, port: u16) -> Result<Socket> {
        let host = parse_host(host)?;
        let s = Socket::new(lp.core());
        s.inner.state.set(flag::CONNECTING, true);
        match host {
            Host::Ip(ip) => s.connect_next(lp, vec![SocketAddr::new(ip, port)], "connect"),
            Host::Name(name) => {
                let me = s.clone();
                resolver().submit(
                    lp,
                    move || resolve(&name, port),
                    move |lp, result| {
                        if me.is_closed() {
                            return;
                        }
                        match result {
                            Ok(Ok(addrs)) => me.connect_next(lp, addrs, "connect"),
                            Ok(Err(e)) => me.fail(lp, e),
                            Err(job) => me.fail(
                                lp,
                                Error::Io {
                                    op: "resolve",
                                    addr: format!("port {port}"),
                                    source: io::Error::other(job.to_string()),
                                },
                            ),
                        }
                    },
                );
            }
        }
        Ok(s)
    }

    /// Connects to a socket address (no resolution needed).
    ///
    /// ```no_run
    /// let lp = hinge::Loop::new()?;
    /// let s = hinge::Socket::connect_addr(&lp, "127.0.0.1:4545".parse().unwrap());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn connect_addr(lp: &Loop, addr: SocketAddr) -> Socket {
        let s = Socket::new(lp.core());
        s.inner.state.set(flag::CONNECTING, true);
        s.connect_next(lp, vec![addr], "connect");
        s
    }

    /// Connects to a Unix-domain socket at `path`.
    ///
    /// ```
    /// # use hinge::{Loop, Socket};
    /// let lp = Loop::new()?;
    /// let s = Socket::connect_unix(&lp, "/nonexistent/socket")?;
    /// s.on_error(|_, _, e| println!("as expected: {e}"));
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn connect_unix(lp: &Loop, path: impl AsRef<Path>) -> Result<Socket> {
        let path = path.as_ref();
        let addr = SockAddr::unix(path).map_err(|_| Error::InvalidAddress {
            addr: path.display().to_string(),
            reason: "not a valid Unix socket path",
        })?;
        let s = Socket::new(lp.core());
        s.inner.state.set(flag::CONNECTING, true);
        *s.inner.peer.borrow_mut() = Some(Addr::Unix(path.to_path_buf()));
        let label = Addr::Unix(path.to_path_buf());
        match socket2::Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None) {
            Ok(sock) => s.start_connect(lp, sock, &addr, label, Vec::new()),
            Err(e) => {
                let e = Error::from_io("socket", &label, e);
                s.fail_soon(e);
            }
        }
        Ok(s)
    }

    /// Tries the next resolved address.
    fn connect_next(&self, lp: &Loop, mut addrs: Vec<SocketAddr>, op: &'static str) {
        if addrs.is_empty() {
            return;
        }
        let addr = addrs.remove(0);
        *self.inner.peer.borrow_mut() = Some(Addr::Inet(addr));
        let domain = if addr.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        match socket2::Socket::new(domain, Type::STREAM.nonblocking().cloexec(), None) {
            Ok(sock) => self.start_connect(lp, sock, &addr.into(), Addr::Inet(addr), addrs),
            Err(e) => self.fail_soon(Error::from_io(op, addr, e)),
        }
    }

    fn start_connect(
        &self,
        lp: &Loop,
        sock: socket2::Socket,
        to: &SockAddr,
        label: Addr,
        rest: Vec<SocketAddr>,
    ) {
        match sock.connect(to) {
            // Connected at once (Unix sockets) or in progress: either way
            // writability reports the outcome, like every other connect.
            Ok(()) => {
                *self.inner.rare().fallback.borrow_mut() = rest;
                let _ = self.attach(lp, sock, Events::WRITE);
            }
            Err(e)
                if e.raw_os_error() == Some(libc::EINPROGRESS)
                    || e.kind() == io::ErrorKind::WouldBlock =>
            {
                *self.inner.rare().fallback.borrow_mut() = rest;
                let _ = self.attach(lp, sock, Events::WRITE);
            }
            Err(e) if !rest.is_empty() => {
                log::debug!("connect {label}: {e}; trying the next address");
                self.connect_next(lp, rest, "connect");
            }
            Err(e) => self.fail_soon(Error::from_io("connect", &label, e)),
        }
    }

    /// Fails the connect after `timeout` unless it completed by then.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// let lp = hinge::Loop::new()?;
    /// let s = hinge::Socket::connect(&lp, "192.0.2.1", 80)?; // TEST-NET: never answers
    /// s.set_connect_timeout(Duration::from_millis(100));
    /// s.on_error(|_, _, e| assert!(matches!(e, hinge::Error::TimedOut { .. })));
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_connect_timeout(&self, timeout: Duration) {
        if !self.inner.state.has(flag::CONNECTING) || self.is_closed() {
            return;
        }
        let weak = Rc::downgrade(&self.inner);
        let timer = Timer::new(&self.lp(), timeout, Duration::ZERO, move |lp, _| {
            if let Some(inner) = weak.upgrade() {
                let s = Socket { inner };
                if s.inner.state.has(flag::CONNECTING) {
                    s.fail_timed_out(lp, "connect", "connect timed out");
                }
            }
        });
        *self.inner.rare().connect_timer.borrow_mut() = Some(timer);
    }

    fn finish_connect(&self, lp: &Loop) {
        let status = self.with_sock(|s| s.take_error());
        match status {
            Some(Ok(None)) => {
                self.inner.state.set(flag::CONNECTING, false);
                if let Some(r) = self.inner.rare.get() {
                    drop(r.connect_timer.borrow_mut().take());
                }
                self.update_interest();
                self.touch();
                if let Some(r) = self.inner.rare.get() {
                    r.connect.emit(lp, self, &());
                }
                if self.inner.queue.borrow().is_empty() {
                    // end() or close() may have come while connecting.
                    self.after_flush();
                } else {
                    self.flush(lp);
                }
            }
            Some(Ok(Some(e))) | Some(Err(e)) => {
                let rest = match self.inner.rare.get() {
                    Some(r) => std::mem::take(&mut *r.fallback.borrow_mut()),
                    None => Vec::new(),
                };
                if rest.is_empty() {
                    self.fail(lp, Error::from_io("connect", self.label(), e));
                } else {
                    self.inner.release_io();
                    self.connect_next(lp, rest, "connect");
                }
            }
            None => {}
        }
    }

    fn with_sock<R>(&self, f: impl FnOnce(&socket2::Socket) -> R) -> Option<R> {
        self.inner
            .io
            .borrow()
            .as_ref()
            .and_then(|io| io.with_socket(f))
    }

    fn label(&self) -> String {
        match &*self.inner.peer.borrow() {
            Some(a) => a.to_string(),
            None => "socket".to_string(),
        }
    }

    #[inline]
    fn handle_io(&self, lp: &Loop, ev: Events) {
        if self.inner.state.has(flag::CONNECTING) || ev.is_error() {
            return self.on_io_rare(lp, ev);
        }
        if ev.is_writable() {
            self.flush(lp);
        }
        if ev.is_readable() {
            self.read(lp);
        }
    }

    #[cold]
    fn on_io_rare(&self, lp: &Loop, ev: Events) {
        if self.inner.state.has(flag::CONNECTING) {
            if ev.is_writable() || ev.is_error() {
                self.finish_connect(lp);
            }
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
    fn read(&self, lp: &Loop) {
        match self.inner.read_buf.0.try_borrow_mut() {
            Ok(mut buf) => self.read_into(lp, &mut buf),
            Err(_) => self.read_nested(lp),
        }
    }

    /// A nested run inside a data listener finds the shared buffer in use
    /// and reads into a temporary one instead.
    #[cold]
    #[inline(never)]
    fn read_nested(&self, lp: &Loop) {
        self.read_into(lp, &mut vec![0u8; READ_BUF]);
    }

    #[inline(always)]
    fn read_into(&self, lp: &Loop, buf: &mut [u8]) {
        let inner = &*self.inner;
        for _ in 0..READS_PER_WAKEUP {
            if inner
                .state
                .has(flag::CLOSED | flag::PAUSED | flag::READ_EOF)
            {
                break;
            }
            match ffi::recv(inner.fd.get(), buf) {
                Ok(n) if n > 0 => {
                    inner.bytes_read.set(inner.bytes_read.get() + n as u64);
                    self.touch();
                    inner
                        .events
                        .data
                        .emit_while(lp, self, &buf[..n], || !inner.state.has(flag::CLOSED));
                    if n < buf.len() {
                        break;
                    }
                }
                Ok(_) => {
                    self.on_eof(lp);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.fail_io(lp, "read", e);
                    break;
                }
            }
        }
    }

    #[cold]
    fn on_eof(&self, lp: &Loop) {
        self.inner.state.set(flag::READ_EOF, true);
        self.update_interest();
        if let Some(r) = self.inner.rare.get() {
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
    }

    /// Sends `data`: written to the kernel at once when nothing is queued,
    /// and only the remainder is queued. Returns `Ok(false)` once the queue
    /// exceeds the high-water mark: stop sending (or [`pause`](Socket::pause)
    /// the source) until `drain`. Sending on a closed or ended socket is an
    /// [`Error::Closed`]; an immediate OS failure (the peer reset) is
    /// returned and closes the socket. Never raises SIGPIPE.
    ///
    /// ```
    /// # use std::io::Read;
    /// let lp = hinge::Loop::new()?;
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// assert!(s.send(b"ping")?);
    /// let mut buf = [0u8; 4];
    /// b.read_exact(&mut buf).unwrap();
    /// assert_eq!(&buf, b"ping");
    /// # Ok::<(), hinge::Error>(())
    /// ```
    #[inline]
    pub fn send(&self, data: &[u8]) -> Result<bool> {
        self.send_inner(data, None)
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
    pub fn send_then<F>(&self, data: &[u8], on_written: F) -> Result<bool>
    where
        F: FnOnce(&Loop, &Socket, Result<()>) + 'static,
    {
        self.send_written(data, Box::new(on_written))
    }

    /// `send_then`'s body, kept out of line so that callers inlining
    /// `send` do not also carry this path.
    #[inline(never)]
    fn send_written(&self, data: &[u8], on_written: Written) -> Result<bool> {
        self.send_inner(data, Some(on_written))
    }

    /// Counts bytes that reached the kernel.
    #[inline]
    fn sent_now(&self, n: usize) {
        let inner = &*self.inner;
        inner
            .bytes_written
            .set(inner.bytes_written.get() + n as u64);
        self.touch();
    }

    #[inline]
    fn send_inner(&self, data: &[u8], on_written: Option<Written>) -> Result<bool> {
        let inner = &*self.inner;
        if !inner.can_send_now() {
            return self.send_later(data, on_written);
        }
        let first = ffi::send(inner.fd.get(), data);
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
    fn send_later(&self, data: &[u8], on_written: Option<Written>) -> Result<bool> {
        let inner = &*self.inner;
        if inner.state.has(flag::CLOSED | flag::ENDING | flag::CLOSING)
            || (inner.fd.get() < 0 && !inner.state.has(flag::CONNECTING))
        {
            return Err(Error::Closed { op: "send" });
        }
        self.send_rest(data, 0, on_written)
    }

    /// Goes on with a direct send whose first attempt returned `first`.
    #[inline(never)]
    fn send_from(
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
                None => ffi::send(inner.fd.get(), &data[sent..]),
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
    fn send_rest(&self, data: &[u8], sent: usize, on_written: Option<Written>) -> Result<bool> {
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
        inner.queue.borrow_mut().push_back(Chunk {
            data: rest.to_vec(),
            sent: 0,
            on_written,
        });
        inner.queued.set(inner.queued.get() + rest.len());
        self.update_interest();
        let below = inner.queued.get() < inner.high_water.get();
        if !below {
            inner.state.set(flag::NEED_DRAIN, true);
        }
        Ok(below)
    }

    fn flush(&self, lp: &Loop) {
        if self.inner.fd.get() < 0 {
            return;
        }
        loop {
            let front = {
                let queue = self.inner.queue.borrow();
                match queue.front() {
                    Some(c) => ffi::send(self.inner.fd.get(), &c.data[c.sent..]),
                    None => break,
                }
            };
            match front {
                Ok(n) => {
                    self.inner.queued.set(self.inner.queued.get() - n);
                    self.sent_now(n);
                    let done = {
                        let mut queue = self.inner.queue.borrow_mut();
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
        if self.inner.state.replace(flag::NEED_DRAIN, false) && !self.is_closed() {
            self.inner
                .events
                .drain
                .emit_while(lp, self, &(), || !self.inner.state.has(flag::CLOSED));
        }
        self.after_flush();
    }

    /// Finishes `end()`/`close()` once the queue is empty.
    fn after_flush(&self) {
        let inner = &*self.inner;
        if inner.state.has(flag::CLOSED | flag::CONNECTING) || !inner.queue.borrow().is_empty() {
            return;
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

    fn update_interest(&self) {
        let inner = &*self.inner;
        if inner.state.has(flag::CLOSED) {
            return;
        }
        let mut want = Events::NONE;
        if inner.state.has(flag::CONNECTING) || !inner.queue.borrow().is_empty() {
            want |= Events::WRITE;
        }
        if !inner
            .state
            .has(flag::CONNECTING | flag::PAUSED | flag::READ_EOF)
        {
            want |= Events::READ;
        }
        if want != inner.interest.get() {
            inner.interest.set(want);
            if let Some(io) = &*inner.io.borrow() {
                io.set_events(want);
            }
        }
    }

    /// Re-arms the inactivity timer, if there is one.
    #[inline]
    fn touch(&self) {
        if self.inner.state.has(flag::HAS_IDLE_TIMER) {
            self.rearm_idle_timer();
        }
    }

    #[cold]
    fn rearm_idle_timer(&self) {
        if let Some(r) = self.inner.rare.get() {
            if let Some(t) = &*r.idle_timer.borrow() {
                t.again();
            }
        }
    }

    /// Reports `error` (or logs it if nobody listens), then closes.
    #[cold]
    pub(crate) fn fail(&self, lp: &Loop, error: Error) {
        if self.inner.state.has(flag::CLOSED) {
            return;
        }
        if !self.inner.events.error.emit(lp, self, &error) {
            log::warn!("hinge: unhandled socket error, closing: {error}");
        }
        self.finish_close(true);
    }

    /// `fail` for an OS error during `op`.
    #[cold]
    fn fail_io(&self, lp: &Loop, op: &'static str, e: io::Error) {
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
    fn fail_soon(&self, error: Error) {
        let me = self.clone();
        self.lp().defer(move |lp| me.fail(lp, error));
    }

    /// Closes now; `close` is emitted from the loop, then every listener
    /// is dropped.
    fn finish_close(&self, had_error: bool) {
        let inner = &*self.inner;
        if inner.state.replace(flag::CLOSED, true) {
            return;
        }
        inner.release_io();
        inner.state.set(flag::HAS_IDLE_TIMER, false);
        if let Some(r) = inner.rare.get() {
            drop(r.idle_timer.borrow_mut().take());
            drop(r.connect_timer.borrow_mut().take());
        }
        let unsent: Vec<Chunk> = inner.queue.borrow_mut().drain(..).collect();
        inner.queued.set(0);
        let server = inner.server.take();
        if let Some(server) = server.upgrade() {
            ServerInner::connection_closed(&server);
        }
        let me = self.clone();
        self.lp().defer(move |lp| {
            for chunk in unsent {
                if let Some(cb) = chunk.on_written {
                    cb(lp, &me, Err(Error::Closed { op: "send" }));
                }
            }
            me.inner.events.close.emit(lp, &me, &had_error);
            me.inner.clear_listeners();
            let slot = me.inner.slot.replace(NO_SLOT);
            if slot != NO_SLOT {
                let table = me.inner.core.local(SocketTable::default);
                let own = table.0.borrow_mut().try_remove(slot);
                drop(own);
            }
        });
    }

    pub(crate) fn set_server(&self, server: &Rc<ServerInner>) {
        self.inner.server.set(Rc::downgrade(server));
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

    /// Resumes reading after [`pause`](Socket::pause).
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
        self.inner.state.set(flag::PAUSED, false);
        self.update_interest();
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
    /// s.on_timeout(|_, s, _| s.destroy());
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_timeout(&self, idle: Option<Duration>) {
        self.inner.state.set(flag::HAS_IDLE_TIMER, false);
        if let Some(r) = self.inner.rare.get() {
            let old = r.idle_timer.borrow_mut().take();
            drop(old);
        }
        let Some(idle) = idle.filter(|d| !d.is_zero()) else {
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

    /// Sets `TCP_NODELAY` (disable Nagle's algorithm).
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
        self.inner.high_water.set(bytes.max(1));
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
        self.inner.peer.borrow().clone()
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

    /// Removes every listener of every event of this socket.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.on_data(|_, _, _| {});
    /// s.remove_all_listeners();
    /// assert_eq!(s.data_listeners().listener_count(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn remove_all_listeners(&self) {
        self.inner.clear_listeners();
    }

    /// How many listeners one event has.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.on_close(|_, _, _| {});
    /// assert_eq!(s.listeners(hinge::SocketEvent::Close), 1);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn listeners(&self, event: SocketEvent) -> usize {
        let e = &self.inner.events;
        let rare = self.inner.rare.get();
        match event {
            SocketEvent::Connect => rare.map_or(0, |r| r.connect.listener_count()),
            SocketEvent::Data => e.data.listener_count(),
            SocketEvent::End => rare.map_or(0, |r| r.end.listener_count()),
            SocketEvent::Drain => e.drain.listener_count(),
            SocketEvent::Timeout => rare.map_or(0, |r| r.timeout.listener_count()),
            SocketEvent::Error => e.error.listener_count(),
            SocketEvent::Close => e.close.listener_count(),
        }
    }

    /// Removes every listener of one event.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.on_timeout(|_, _, _| {});
    /// s.remove_listeners(hinge::SocketEvent::Timeout);
    /// assert_eq!(s.listener_count(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn remove_listeners(&self, event: SocketEvent) {
        let e = &self.inner.events;
        let rare = self.inner.rare.get();
        match event {
            SocketEvent::Connect => rare.map_or((), |r| r.connect.clear()),
            SocketEvent::Data => e.data.clear(),
            SocketEvent::End => rare.map_or((), |r| r.end.clear()),
            SocketEvent::Drain => e.drain.clear(),
            SocketEvent::Timeout => rare.map_or((), |r| r.timeout.clear()),
            SocketEvent::Error => e.error.clear(),
            SocketEvent::Close => e.close.clear(),
        }
    }

    /// The `data` event itself, for `off`, `listener_count` and `clear`.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// let id = s.on_data(|_, _, _| {});
    /// assert!(s.data_listeners().off(id));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn data_listeners(&self) -> &Event<Socket, [u8]> {
        &self.inner.events.data
    }

    /// Removes a listener from whichever event it was added to.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// let id = s.on_end(|_, _, _| {});
    /// assert!(s.off(id));
    /// assert!(!s.off(id));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn off(&self, id: crate::ListenerId) -> bool {
        let e = &self.inner.events;
        let rare = self.inner.rare.get();
        e.data.off(id)
            || e.drain.off(id)
            || e.error.off(id)
            || e.close.off(id)
            || rare.is_some_and(|r| r.connect.off(id) || r.end.off(id) || r.timeout.off(id))
    }

    /// How many listeners the socket has, over all events.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// s.on_data(|_, _, _| {});
    /// s.on_close(|_, _, _| {});
    /// assert_eq!(s.listener_count(), 2);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn listener_count(&self) -> usize {
        let e = &self.inner.events;
        let rare = self.inner.rare.get().map_or(0, |r| {
            r.connect.listener_count() + r.end.listener_count() + r.timeout.listener_count()
        });
        e.data.listener_count()
            + e.drain.listener_count()
            + e.error.listener_count()
            + e.close.listener_count()
            + rare
    }

    event_methods! {
        /// Runs `f` when an outgoing connection is established.
        ///
        /// ```
        /// # let lp = hinge::Loop::new()?;
        /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        /// # let s = hinge::Socket::from_unix_stream(&lp, a)?;
        /// s.on_connect(|_, s, _| println!("connected to {:?}", s.peer_addr()));
        /// # Ok::<(), hinge::Error>(())
        /// ```
        on_connect, once_connect, |s| s.inner.rare().connect, ();
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
        on_data, once_data, |s| s.inner.events.data, [u8];
        /// Runs `f` when the peer half-closes (no more data will come).
        ///
        /// ```
        /// # let lp = hinge::Loop::new()?;
        /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        /// # let s = hinge::Socket::from_unix_stream(&lp, a)?;
        /// s.on_end(|_, _, _| println!("peer finished sending"));
        /// # Ok::<(), hinge::Error>(())
        /// ```
        on_end, once_end, |s| s.inner.rare().end, ();
        /// Runs `f` when the send queue empties after `send` returned `false`.
        ///
        /// ```
        /// # let lp = hinge::Loop::new()?;
        /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        /// # let s = hinge::Socket::from_unix_stream(&lp, a)?;
        /// s.on_drain(|_, s, _| s.resume());
        /// # Ok::<(), hinge::Error>(())
        /// ```
        on_drain, once_drain, |s| s.inner.events.drain, ();
        /// Runs `f` after the inactivity period of [`set_timeout`](Socket::set_timeout).
        ///
        /// ```
        /// # let lp = hinge::Loop::new()?;
        /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        /// # let s = hinge::Socket::from_unix_stream(&lp, a)?;
        /// s.on_timeout(|_, s, _| s.destroy());
        /// # Ok::<(), hinge::Error>(())
        /// ```
        on_timeout, once_timeout, |s| s.inner.rare().timeout, ();
        /// Runs `f` with a typed error; `close` follows.
        ///
        /// ```
        /// # let lp = hinge::Loop::new()?;
        /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        /// # let s = hinge::Socket::from_unix_stream(&lp, a)?;
        /// s.on_error(|_, _, e| eprintln!("socket error: {e}"));
        /// # Ok::<(), hinge::Error>(())
        /// ```
        on_error, once_error, |s| s.inner.events.error, Error;
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
        on_close, once_close, |s| s.inner.events.close, bool;
    }
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
