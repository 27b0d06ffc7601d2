//! Listening servers, TCP or Unix-domain.

#[cfg(feature = "async")]
pub use incoming::Incoming;
use std::cell::{Cell, RefCell};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::rc::Rc;

mod accept;
#[cfg(feature = "async")]
mod incoming;

use crate::event_loop::Loop;
use slab::Slab;

use crate::ffi::{panic, LoopCore};
use crate::handle::{Owned, Table};
use crate::net::addr::{parse_host, resolve, Addr, Host};
use crate::net::sys;
use crate::{Error, Event, Io, Ready, Result, Socket, Timer, Watcher};

/// One built-in event of a [`Server`], to count or remove its listeners.
///
/// ```
/// # let lp = hinge::Loop::new()?;
/// use hinge::ServerEvent;
/// let s = hinge::Server::new(&lp);
/// s.on_connection(|_, _, _| {});
/// assert_eq!(s.listeners(ServerEvent::Connection), 1);
/// s.remove_listeners(ServerEvent::Connection);
/// assert_eq!(s.listener_count(), 0);
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerEvent {
    /// `listening`
    Listening,
    /// `connection`
    Connection,
    /// `error`
    Error,
    /// `close`
    Close,
}

#[derive(Default)]
struct ServerEvents {
    listening: Event<Server, ()>,
    connection: Event<Server, Socket>,
    close: Event<Server, ()>,
    error: Event<Server, Error>,
}

pub(crate) struct ServerInner {
    core: Rc<LoopCore>,
    io: RefCell<Option<Io>>,
    /// This server's entry in the loop's server table.
    slot: Cell<usize>,
    local: RefCell<Option<Addr>>,
    unix_path: RefCell<Option<PathBuf>>,
    backlog: Cell<i32>,
    reuse_port: Cell<bool>,
    /// `TCP_NODELAY` for accepted connections (set on the listener, which
    /// they inherit).
    nodelay: Cell<bool>,
    max_connections: Cell<Option<usize>>,
    /// The open connections, so that they can be listed and closed.
    clients: RefCell<Slab<Socket>>,
    closed: Cell<bool>,
    close_emitted: Cell<bool>,
    /// `close` was emitted and the listeners dropped: new ones are refused.
    finished: Cell<bool>,
    /// The user asked that this server not keep the loop alive.
    unref: Cell<bool>,
    backoff: RefCell<Option<Timer>>,
    /// Tasks waiting for connections (`incoming`): woken when `close()`
    /// is called, before `close` is emitted (which waits for the clients).
    closing_wakers: RefCell<Vec<std::task::Waker>>,
    /// Puts a layer (TLS) on each accepted connection.
    layer: RefCell<Option<LayerFactory>>,
    events: ServerEvents,
}

/// `Server::set_layer`'s factory, type-erased.
type LayerFactory = Rc<dyn Fn(&Socket) -> Result<()>>;

/// A listening server. Each accepted connection is handed to the
/// `connection` listeners as a [`Socket`].
///
/// Events: [`listening`](Server::on_listening), [`connection`](Server::on_connection),
/// [`error`](Server::on_error) (accept failures, such as running out of
/// file descriptors, after which accepting pauses briefly and resumes),
/// and [`close`](Server::on_close), emitted once the server stopped
/// listening and its last connection closed.
///
/// ```no_run
/// use hinge::{Loop, Server};
///
/// let lp = Loop::new()?;
/// let server = Server::new(&lp);
/// server.on_connection(|_, _, sock| {
///     sock.on_data(|_, s, bytes| {
///         s.send(bytes).ok();
///     });
/// });
/// server.listen(4545)?;
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
///
/// Cloning a `Server` is cheap (a reference-counted handle): capture a
/// clone to use it from another callback, say a signal handler. The loop
/// owns a listening server, so no handle needs to be kept.
#[derive(Clone)]
pub struct Server {
    inner: Rc<ServerInner>,
}

/// The loop's servers: every server is known to its loop from birth (so
/// teardown can break a cycle through its listeners, even if it never
/// listened), and owned by it while it listens.
type ServerTable = Table<ServerInner>;

impl Owned for ServerInner {
    fn teardown(self: &Rc<Self>) {
        let owed = !self.finished.get();
        self.closed.set(true);
        self.finished.set(true);
        drop(self.io.borrow_mut().take());
        drop(self.backoff.borrow_mut().take());
        if let Some(path) = self.unix_path.borrow_mut().take() {
            let _ = std::fs::remove_file(path);
        }
        let clients = std::mem::take(&mut *self.clients.borrow_mut());
        let mut steps = panic::Steps::default();
        // The clients go first, each with its `close`: the server's own
        // `close` comes after its last client's, as when it closes
        // while the loop runs.
        for (_, client) in clients {
            steps.run(move || client.teardown_for_loop());
        }
        if owed {
            // `close`, owed once: the loop is dead, as for sockets.
            let me = Server {
                inner: self.clone(),
            };
            let lp = Loop::view(&self.core);
            steps.run(|| {
                self.events.close.emit(&lp, &me, &());
            });
        }
        steps.run(|| self.clear_listeners());
        steps.finish();
    }
}

impl Drop for ServerInner {
    fn drop(&mut self) {
        self.core.local(ServerTable::default).leave(self.slot.get());
    }
}

impl ServerInner {
    /// Drops every listener, all of them even if a drop panics.
    fn clear_listeners(&self) {
        let e = &self.events;
        let mut steps = panic::Steps::default();
        steps.run(|| e.listening.clear());
        steps.run(|| e.connection.clear());
        steps.run(|| e.close.clear());
        steps.run(|| e.error.clear());
        steps.finish();
    }

    /// A connection of this server closed.
    pub(crate) fn connection_closed(this: &Rc<ServerInner>, slot: usize) {
        let gone = this.clients.borrow_mut().try_remove(slot);
        drop(gone); // outside the borrow
        Server {
            inner: this.clone(),
        }
        .maybe_emit_close();
    }
}

impl Server {
    /// A server on `lp`, not yet listening. Configure it, add listeners,
    /// then call one of the `listen` methods.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::Server::new(&lp);
    /// assert!(server.local_addr().is_none());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new(lp: &Loop) -> Server {
        let server = Server {
            inner: Rc::new(ServerInner {
                core: lp.core().clone(),
                io: RefCell::new(None),
                slot: Cell::new(usize::MAX),
                local: RefCell::new(None),
                unix_path: RefCell::new(None),
                backlog: Cell::new(1024),
                reuse_port: Cell::new(false),
                nodelay: Cell::new(true),
                max_connections: Cell::new(None),
                clients: RefCell::new(Slab::new()),
                closed: Cell::new(false),
                close_emitted: Cell::new(false),
                finished: Cell::new(false),
                unref: Cell::new(false),
                backoff: RefCell::new(None),
                closing_wakers: RefCell::new(Vec::new()),
                layer: RefCell::new(None),
                events: ServerEvents::default(),
            }),
        };
        let table = server.inner.core.local(ServerTable::default);
        server.inner.slot.set(table.join(&server.inner, false));
        server
    }

    fn lp(&self) -> Loop {
        Loop::view(&self.inner.core)
    }

    /// Puts a [`Layer`](crate::Layer) made by `make` on every connection
    /// this server accepts from now on, before its `connection` event:
    /// `hinge::tls` serves TLS this way. If `make` fails, the connection
    /// is closed and the error reported (see
    /// [`report_unhandled`](crate::report_unhandled)).
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
    /// let server = hinge::Server::new(&lp);
    /// server.set_layer(|_socket| Ok(Plain));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_layer<L, F>(&self, make: F)
    where
        L: crate::Layer,
        F: Fn(&Socket) -> Result<L> + 'static,
    {
        let factory: LayerFactory = Rc::new(move |s: &Socket| s.set_layer(make(s)?));
        *self.inner.layer.borrow_mut() = Some(factory);
    }

    /// Sets the listen backlog (default 1024).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let server = hinge::Server::new(&lp);
    /// server.set_backlog(128);
    /// assert_eq!(server.backlog(), 128);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_backlog(&self, backlog: i32) {
        self.inner.backlog.set(backlog.max(1));
    }

    /// The listen backlog.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// assert_eq!(hinge::Server::new(&lp).backlog(), 1024);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn backlog(&self) -> i32 {
        self.inner.backlog.get()
    }

    /// Opts in to `SO_REUSEPORT` (several servers sharing a port).
    /// `SO_REUSEADDR` is always on for TCP.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let server = hinge::Server::new(&lp);
    /// server.set_reuse_port(true);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_reuse_port(&self, on: bool) {
        self.inner.reuse_port.set(on);
    }

    /// Whether accepted TCP connections have `TCP_NODELAY` (Nagle's
    /// algorithm off). On by default, as in Go's `net`: an echo, a
    /// request/response or a stream of small writes is not held back
    /// waiting for an ACK. Bulk echo on loopback measured 1.5 GB/s with
    /// Nagle and 2.5 GB/s without (BENCHMARKS.md). Turn it off for many
    /// tiny writes where fewer packets matter more than latency; a single
    /// socket can still change its own with [`Socket::set_nodelay`].
    ///
    /// hinge sets it on the listening socket, which accepted connections
    /// inherit on Linux and the BSDs: no system call per connection.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let server = hinge::Server::new(&lp);
    /// assert!(server.nodelay());
    /// server.set_nodelay(false);
    /// assert!(!server.nodelay());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_nodelay(&self, on: bool) {
        self.inner.nodelay.set(on);
        if let Some(io) = &*self.inner.io.borrow() {
            if let Some(listener) = io.source::<socket2::Socket>() {
                let _ = listener.set_tcp_nodelay(on); // Unix sockets: not TCP
            }
        }
    }

    /// Whether accepted TCP connections get `TCP_NODELAY`.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// assert!(hinge::Server::new(&lp).nodelay());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn nodelay(&self) -> bool {
        self.inner.nodelay.get()
    }

    /// Closes new connections at once while `max` are open (`None`: no limit).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let server = hinge::Server::new(&lp);
    /// server.set_max_connections(Some(10_000));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_max_connections(&self, max: Option<usize>) {
        self.inner.max_connections.set(max);
    }

    /// How many accepted connections are open.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// assert_eq!(hinge::Server::new(&lp).connections(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn connections(&self) -> usize {
        self.inner.clients.borrow().len()
    }

    /// The open connections, in no particular order. A `Socket` is a
    /// cheap handle: the list shares the sockets, it does not copy them.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let server = hinge::Server::new(&lp);
    /// for client in server.clients() {
    ///     client.send("server going down\n").ok();
    /// }
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn clients(&self) -> Vec<Socket> {
        self.inner
            .clients
            .borrow()
            .iter()
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// Closes every open connection gracefully: each flushes what it has
    /// queued, then closes ([`Socket::close`]). With [`close`](Server::close),
    /// this is a graceful shutdown: the server's `close` follows once the
    /// last client is gone.
    ///
    /// ```no_run
    /// # let lp = hinge::Loop::new()?;
    /// let server = hinge::Server::new(&lp);
    /// server.listen(4545)?;
    /// let s = server.clone();
    /// lp.on_signal(hinge::signal::SIGINT, move |_, _| {
    ///     s.close();
    ///     s.close_connections();
    /// })?;
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn close_connections(&self) {
        for client in self.clients() {
            client.close();
        }
    }

    /// Destroys every open connection at once, discarding what they have
    /// queued ([`Socket::destroy`]).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let server = hinge::Server::new(&lp);
    /// server.close();
    /// server.destroy_connections();
    /// assert_eq!(server.connections(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn destroy_connections(&self) {
        for client in self.clients() {
            client.destroy();
        }
    }

    /// Listens on `port` on every interface, IPv6 and IPv4 alike where the
    /// system allows dual-stack sockets (otherwise IPv4 only). Port 0
    /// picks a free port; see [`local_addr`](Server::local_addr).
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::Server::new(&lp);
    /// server.listen(0)?;
    /// assert_ne!(server.local_addr().unwrap().port(), 0);
    /// server.close();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn listen(&self, port: u16) -> Result<()> {
        self.can_listen()?;
        let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
        match self.bind_inet(any6, true) {
            Err(Error::Io { source, .. }) | Err(Error::AddrNotAvailable { source, .. })
                if source.raw_os_error() == Some(libc::EAFNOSUPPORT)
                    || source.raw_os_error() == Some(libc::EADDRNOTAVAIL) =>
            {
                self.bind_inet(
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
                    false,
                )
            }
            other => other,
        }
    }

    /// Listens on `host:port`, where `host` is an IPv4 or IPv6 literal or
    /// a name (resolved here, blocking, as servers start before serving).
    ///
    /// ```
    /// # use hinge::{Error, Server};
    /// let lp = hinge::Loop::new()?;
    /// let a = Server::new(&lp);
    /// a.listen_on("127.0.0.1", 0)?;
    /// let port = a.local_addr().unwrap().port();
    /// let b = Server::new(&lp);
    /// let err = b.listen_on("127.0.0.1", port).unwrap_err();
    /// assert!(matches!(err, Error::AddrInUse { .. }));
    /// assert!(err.to_string().contains(&format!("127.0.0.1:{port}")));
    /// # a.close();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn listen_on(&self, host: &str, port: u16) -> Result<()> {
        self.can_listen()?;
        let addr = match parse_host(host)? {
            Host::Ip(ip) => SocketAddr::new(ip, port),
            Host::Name(name) => resolve(&name, port)?[0],
        };
        self.bind_inet(addr, false)
    }

    /// Listens on a Unix-domain socket at `path` (removed again on close).
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let path = std::env::temp_dir().join(format!("hinge-doc-{}.sock", std::process::id()));
    /// let server = hinge::Server::new(&lp);
    /// server.listen_unix(&path)?;
    /// assert!(path.exists());
    /// server.close();
    /// lp.run();
    /// assert!(!path.exists());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn listen_unix(&self, path: impl AsRef<Path>) -> Result<()> {
        self.can_listen()?;
        let path = path.as_ref();
        let label = Addr::Unix(path.to_path_buf());
        let addr = sys::unix_addr(path)?;
        let sock = sys::unix_stream().map_err(|e| Error::from_io("socket", &label, e))?;
        sock.bind(&addr)
            .map_err(|e| Error::from_io("listen", &label, e))?;
        *self.inner.unix_path.borrow_mut() = Some(path.to_path_buf());
        self.start(sock, label)
    }

    fn bind_inet(&self, addr: SocketAddr, dual_stack: bool) -> Result<()> {
        let sock = sys::inet_stream(&addr).map_err(|e| Error::from_io("listen", addr, e))?;
        let setup = || -> io::Result<()> {
            if dual_stack {
                sock.set_only_v6(false)?;
            }
            sock.set_reuse_address(true)?;
            if self.inner.reuse_port.get() {
                sock.set_reuse_port(true)?;
            }
            // Accepted connections inherit it from the listener.
            sock.set_tcp_nodelay(self.inner.nodelay.get())?;
            sock.bind(&addr.into())
        };
        setup().map_err(|e| Error::from_io("listen", addr, e))?;
        self.start(sock, Addr::Inet(addr))
    }

    /// `listen`'s preconditions, checked before any socket is made: the
    /// server is open, not yet listening, and its loop alive.
    fn can_listen(&self) -> Result<()> {
        if self.inner.closed.get() || !self.inner.core.is_alive() {
            return Err(Error::Closed { op: "listen" });
        }
        if self.inner.io.borrow().is_some() {
            return Err(Error::AlreadyListening { addr: self.label() });
        }
        Ok(())
    }

    fn start(&self, sock: socket2::Socket, label: Addr) -> Result<()> {
        self.can_listen()?;
        sock.listen(self.inner.backlog.get())
            .map_err(|e| Error::from_io("listen", &label, e))?;
        let local = sock
            .local_addr()
            .ok()
            .map(|a| Addr::from_sock(&a))
            .unwrap_or(label);
        *self.inner.local.borrow_mut() = Some(local);
        let lp = self.lp();
        let weak = Rc::downgrade(&self.inner);
        let io = Io::new(&lp, sock, Ready::READ, move |lp, io, _| {
            if let Some(inner) = weak.upgrade() {
                Server { inner }.accept(lp, io);
            }
        })?;
        if self.inner.unref.get() {
            io.unref();
        }
        *self.inner.io.borrow_mut() = Some(io);
        self.inner
            .core
            .local(ServerTable::default)
            .own(self.inner.slot.get(), &self.inner);
        let me = self.clone();
        lp.defer(move |lp| {
            if !me.inner.closed.get() {
                me.inner.events.listening.emit(lp, &me, &());
            }
        });
        Ok(())
    }

    fn label(&self) -> String {
        self.inner
            .local
            .borrow()
            .as_ref()
            .map_or_else(|| "server".to_string(), |a| a.to_string())
    }

    /// Stops accepting. Open connections carry on; `close` is emitted once
    /// the last of them has closed.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::Server::new(&lp);
    /// server.listen(0)?;
    /// server.on_close(|_, _| println!("closed"));
    /// server.close();
    /// lp.run(); // returns: nothing left
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn close(&self) {
        if self.inner.closed.replace(true) {
            return;
        }
        let io = self.inner.io.borrow_mut().take();
        drop(io);
        drop(self.inner.backoff.borrow_mut().take());
        if let Some(path) = self.inner.unix_path.borrow_mut().take() {
            let _ = std::fs::remove_file(path);
        }
        let waiting = std::mem::take(&mut *self.inner.closing_wakers.borrow_mut());
        for w in waiting {
            w.wake();
        }
        // The loop keeps owning it until `close` is emitted: connections
        // only hold it weakly, and the user need not keep a handle.
        self.maybe_emit_close();
    }

    fn maybe_emit_close(&self) {
        let inner = &self.inner;
        if !inner.closed.get()
            || !inner.clients.borrow().is_empty()
            || inner.close_emitted.replace(true)
        {
            return;
        }
        let me = self.clone();
        self.lp().defer(move |lp| {
            me.inner.finished.set(true);
            let table = me.inner.core.local(ServerTable::default);
            let own = table.release(me.inner.slot.get());
            let mut steps = panic::Steps::default();
            steps.run(|| {
                me.inner.events.close.emit(lp, &me, &());
            });
            steps.run(|| me.inner.clear_listeners());
            steps.run(move || drop(own));
            steps.finish();
        });
    }

    /// Lets the loop's `run` return while this server is its only work
    /// (a listening server keeps the loop alive by default), like Node's
    /// `server.unref()`. Open connections still count: unref them too.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::Server::new(&lp);
    /// server.listen(0)?;
    /// server.unref();
    /// assert!(!server.has_ref());
    /// lp.run(); // returns at once: only an unref'd server is left
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn unref(&self) {
        self.inner.unref.set(true);
        self.apply_ref();
    }

    /// Undoes [`unref`](Server::unref): the server keeps the loop alive again.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let server = hinge::Server::new(&lp);
    /// server.unref();
    /// server.ref_();
    /// assert!(server.has_ref());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn ref_(&self) {
        self.inner.unref.set(false);
        self.apply_ref();
    }

    /// Whether this server keeps the loop alive while it listens.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// assert!(hinge::Server::new(&lp).has_ref());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn has_ref(&self) -> bool {
        !self.inner.unref.get()
    }

    fn apply_ref(&self) {
        let unref = self.inner.unref.get();
        let io = self.inner.io.borrow();
        let backoff = self.inner.backoff.borrow();
        let watchers = [
            io.as_ref().map(|w| w as &dyn Watcher),
            backoff.as_ref().map(|w| w as &dyn Watcher),
        ];
        for w in watchers.into_iter().flatten() {
            if unref {
                w.unref();
            } else {
                w.ref_();
            }
        }
    }

    /// Whether [`close`](Server::close) was called.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::Server::new(&lp);
    /// s.close();
    /// assert!(s.is_closed());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    /// The address the server listens on.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::Server::new(&lp);
    /// s.listen_on("::1", 0).or_else(|_| s.listen_on("127.0.0.1", 0))?;
    /// assert!(s.local_addr().unwrap().port() > 0);
    /// # s.close();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn local_addr(&self) -> Option<Addr> {
        self.inner.local.borrow().clone()
    }
}

typed_events! {
    Server, ServerEvent, finished: |f| f.inner.finished.get(),
    example: "let s = hinge::Server::new(&lp);", Connection, on_connection;
    /// Runs `f` once the server listens (from the loop, after `listen`).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::Server::new(&lp);
    /// s.on_listening(|_, s| {
    ///     println!("listening on {}", s.local_addr().unwrap());
    ///     s.close();
    /// });
    /// s.listen(0)?;
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    Listening => on_listening, once_listening, (),
        |s| s.inner.events.listening, |p| Some(&p.inner.events.listening);
    /// Runs `f` with every accepted connection.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::Server::new(&lp);
    /// s.on_connection(|_, _, sock| println!("new client {:?}", sock.peer_addr()));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    Connection => on_connection, once_connection, Socket,
        |s| s.inner.events.connection, |p| Some(&p.inner.events.connection);
    /// Runs `f` on an accept error (the server keeps listening).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::Server::new(&lp);
    /// s.on_error(|_, _, e| eprintln!("accept failed: {e}"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    Error => on_error, once_error, Error,
        |s| s.inner.events.error, |p| Some(&p.inner.events.error);
    /// Runs `f` once the server has closed and its connections are gone.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::Server::new(&lp);
    /// s.on_close(|_, _| println!("server closed"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    Close => on_close, once_close, (),
        |s| s.inner.events.close, |p| Some(&p.inner.events.close);
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local", &self.local_addr())
            .field("connections", &self.connections())
            .field("closed", &self.is_closed())
            .finish()
    }
}
