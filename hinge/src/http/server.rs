//! The HTTP server: a hinge `Server` whose connections speak HTTP/1.1,
//! one timer for every connection's deadlines, and one prepare hook that
//! flushes responses written outside a read.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::Path;
use std::rc::{Rc, Weak};
use std::time::Duration;

use slab::Slab;

use super::config::Config;
use super::conn::Conn;
use super::proto::encode::DateCache;
use super::request::Request;
use super::response::Response;
use crate::{Addr, Error, Event, ListenerId, Loop, Prepare, Result, Socket, TimerHandle, Watcher};

type RequestFn = dyn FnMut(&Loop, &Server, Request, Response);
type HandoverFn = dyn FnMut(&Loop, &Server, Request, Socket, &[u8]);

/// Listeners that take their payload by value (each gets its own clone
/// of the handles) and, unlike an [`Event`]'s, stay registered when one
/// panics: a handler's bug costs its request, not the server.
struct Handlers<F: ?Sized>(RefCell<Vec<(ListenerId, Rc<RefCell<F>>)>>);

/// The listeners of one dispatch: most servers have exactly one, which
/// costs no allocation per request.
enum Snapshot<F: ?Sized> {
    One(Rc<RefCell<F>>),
    Many(Vec<Rc<RefCell<F>>>),
}

impl<F: ?Sized> Handlers<F> {
    fn new() -> Self {
        Handlers(RefCell::new(Vec::new()))
    }

    fn add(&self, f: Rc<RefCell<F>>) -> ListenerId {
        let id = ListenerId::new();
        self.0.borrow_mut().push((id, f));
        id
    }

    fn off(&self, id: ListenerId) -> bool {
        let gone = {
            let mut list = self.0.borrow_mut();
            let at = list.iter().position(|(i, _)| *i == id);
            at.map(|at| list.remove(at))
        };
        // Outside the borrow: a closure's drop may run user code.
        gone.is_some()
    }

    fn clear(&self) {
        let all = std::mem::take(&mut *self.0.borrow_mut());
        drop(all);
    }

    fn snapshot(&self) -> Option<Snapshot<F>> {
        let list = self.0.borrow();
        match &list[..] {
            [] => None,
            [(_, one)] => Some(Snapshot::One(one.clone())),
            many => Some(Snapshot::Many(
                many.iter().map(|(_, f)| f.clone()).collect(),
            )),
        }
    }
}

impl<F: ?Sized> Snapshot<F> {
    /// `call`, consuming the snapshot, under [`guarded`].
    fn call_guarded<T>(
        self,
        last: T,
        clone: impl Fn(&T) -> T,
        call: impl FnMut(&mut F, T),
    ) -> bool {
        guarded(self, |list| list.call(last, clone, call))
    }

    /// Calls each listener that is not already running (a nested loop
    /// run re-entering it), the last with `last`, the others with
    /// `clone(&last)`; returns whether any ran.
    fn call<T>(&self, last: T, clone: impl Fn(&T) -> T, mut call: impl FnMut(&mut F, T)) -> bool {
        let list = match self {
            Snapshot::One(one) => std::slice::from_ref(one),
            Snapshot::Many(many) => &many[..],
        };
        let mut ran = false;
        let mut last = Some(last);
        for (i, f) in list.iter().enumerate() {
            let Ok(mut f) = f.try_borrow_mut() else {
                continue;
            };
            let value = if i + 1 == list.len() {
                last.take()
            } else {
                last.as_ref().map(&clone)
            };
            if let Some(value) = value {
                call(&mut *f, value);
                ran = true;
            }
        }
        ran
    }
}

/// Runs `f` on `keep`. If `f` panics, `keep` (maybe the last owner of a
/// listener removed meanwhile) is dropped before the panic goes on, so
/// that a capture whose `Drop` panics too cannot abort the process.
fn guarded<K, R>(keep: K, f: impl FnOnce(&K) -> R) -> R {
    match catch_unwind(AssertUnwindSafe(|| f(&keep))) {
        Ok(r) => r,
        Err(payload) => {
            if let Err(second) = catch_unwind(AssertUnwindSafe(move || drop(keep))) {
                crate::discard_panic(second);
            }
            resume_unwind(payload)
        }
    }
}

pub(super) struct Shared {
    pub(super) config: Config,
    tcp: crate::Server,
    pub(super) date: DateCache,
    /// The loop's time, as of the latest callback (no syscall to read).
    pub(super) now: Cell<f64>,
    requests: Handlers<RequestFn>,
    upgrades: Handlers<HandoverFn>,
    connects: Handlers<HandoverFn>,
    client_errors: Event<Server, Error>,
    conns: RefCell<Slab<Weak<Conn>>>,
    /// Connections with output or input to handle before the loop blocks.
    ready: RefCell<Vec<Rc<Conn>>>,
    /// Requests whose `end` listeners were added after the end.
    pub(super) late_ends: RefCell<Vec<Request>>,
    prepare: Prepare,
    sweeper: RefCell<Option<TimerHandle>>,
    pub(super) closing: Cell<bool>,
    /// Unhandled client errors: the second of the last report, and how
    /// many were left out since.
    reported: Cell<(u64, u64)>,
}

/// An HTTP/1.1 server, in the vocabulary of Node's `http.createServer`.
///
/// Each request reaches [`on_request`](Server::on_request) with a
/// [`Request`] and a [`Response`]; keep-alive, pipelining (answered in
/// order, written in batches), chunked and fixed-length bodies,
/// `Expect: 100-continue`, and the limits and timeouts of [`Config`] are
/// handled for you. Malformed or hostile requests are answered with the
/// proper 4xx and the connection is closed gracefully; they are reported
/// to [`on_client_error`](Server::on_client_error).
///
/// The server runs on hinge's own [`Server`](crate::Server) and
/// [`Socket`]: [`transport`](Server::transport) reaches the TCP settings
/// (backlog, connection limit, `unref`).
///
/// ```no_run
/// use hinge::{http, Loop};
///
/// let lp = Loop::new()?;
/// let server = http::Server::new(&lp);
/// server.on_request(|_, _, req, res| {
///     res.set_header("content-type", "text/plain").ok();
///     res.end(format!("you asked for {}\n", req.path())).ok();
/// });
/// server.listen(8080)?;
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone)]
pub struct Server {
    shared: Rc<Shared>,
}

impl Server {
    /// A server with the default [`Config`].
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// assert_eq!(server.connections(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new(lp: &Loop) -> Server {
        Server::with_config(lp, Config::default())
    }

    /// A server with these limits and timeouts.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let mut config = hinge::http::Config::default();
    /// config.max_headers = 50;
    /// let server = hinge::http::Server::with_config(&lp, config);
    /// assert_eq!(server.config().max_headers, 50);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn with_config(lp: &Loop, mut config: Config) -> Server {
        config.high_water = config.high_water.max(1);
        let shared = Rc::new_cyclic(|weak: &Weak<Shared>| {
            let w = weak.clone();
            let prepare = Prepare::new(lp, move |lp, p| {
                p.stop();
                if let Some(shared) = w.upgrade() {
                    shared.run_ready(lp);
                }
            });
            prepare.stop();
            Shared {
                config,
                tcp: crate::Server::new(lp),
                date: DateCache::new(),
                now: Cell::new(lp.now()),
                requests: Handlers::new(),
                upgrades: Handlers::new(),
                connects: Handlers::new(),
                client_errors: Event::new(),
                conns: RefCell::new(Slab::new()),
                ready: RefCell::new(Vec::new()),
                late_ends: RefCell::new(Vec::new()),
                prepare,
                sweeper: RefCell::new(None),
                closing: Cell::new(false),
                reported: Cell::new((0, 0)),
            }
        });
        let s = shared.clone();
        shared
            .tcp
            .on_connection(move |lp, _, sock| s.accept(lp, sock));
        // One timer checks every connection's deadlines; it does not keep
        // the loop alive (the listener and the connections do).
        let w = Rc::downgrade(&shared);
        let period = shared.config.check_interval.max(Duration::from_millis(1));
        let sweeper = lp.set_interval(period, move |lp, timer| {
            let Some(shared) = w.upgrade() else {
                timer.clear();
                return;
            };
            let now = lp.now();
            shared.now.set(now);
            for conn in shared.live() {
                conn.check(lp, now);
            }
        });
        sweeper.unref();
        *shared.sweeper.borrow_mut() = Some(sweeper);
        let w = Rc::downgrade(&shared);
        shared.tcp.on_close(move |_, _| {
            if let Some(shared) = w.upgrade() {
                if let Some(t) = shared.sweeper.borrow_mut().take() {
                    t.clear();
                }
                // Listeners that capture the server must not keep it alive.
                shared.requests.clear();
                shared.upgrades.clear();
                shared.connects.clear();
                shared.client_errors.clear();
            }
        });
        Server { shared }
    }

    /// Adds a `request` listener, as Node's `request` event. It runs for
    /// every request once its head is complete, with the request and its
    /// response (the body follows on the [`Request`]); several listeners
    /// run in order and share the exchange (each gets a cheap clone of
    /// both handles). A request that finds no listener is answered 500.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// let mut served = 0;
    /// server.on_request(move |_, _, _, res| {
    ///     served += 1;
    ///     res.end(format!("request {served}\n")).ok();
    /// });
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_request<F>(&self, f: F) -> ListenerId
    where
        F: FnMut(&Loop, &Server, Request, Response) + 'static,
    {
        self.shared.requests.add(Rc::new(RefCell::new(f)))
    }

    /// Adds an `upgrade` listener, as Node's `upgrade` event: it takes
    /// over connections that ask to switch protocols (`Connection:
    /// upgrade` with an `Upgrade` header), with the request, the raw
    /// [`Socket`] (no longer driven by the server) and the bytes that
    /// followed the head. Answering (`101 Switching Protocols`, or a
    /// refusal) is up to the listener. With no `upgrade` listener, such
    /// requests are ordinary requests.
    ///
    /// No byte is lost in the handover: if the listeners attach `data`
    /// listeners, the socket flows on; if not, it stays paused, and what
    /// the client sends next waits in the kernel for a task's reads
    /// (`AsyncRead`, which ignores the pause) or for `resume()`.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// server.on_upgrade(|_, _, req, sock, _head| {
    ///     if req.header("upgrade") == Some("echo") {
    ///         sock.send("HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n").ok();
    ///         sock.on_data(|_, s, bytes| { s.send(bytes).ok(); });
    ///     } else {
    ///         sock.destroy();
    ///     }
    /// });
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_upgrade<F>(&self, f: F) -> ListenerId
    where
        F: FnMut(&Loop, &Server, Request, Socket, &[u8]) + 'static,
    {
        self.shared.upgrades.add(Rc::new(RefCell::new(f)))
    }

    /// Adds a `connect` listener, as Node's `connect` event (for a
    /// proxy): it takes over `CONNECT` requests, with the request, the
    /// raw socket and the bytes after the head. With no `connect`
    /// listener, CONNECT is answered `501 Not Implemented` and the
    /// connection closed (a 2xx would make the rest of it a tunnel).
    /// The socket is handed over as for [`on_upgrade`](Server::on_upgrade):
    /// flowing if a `data` listener was attached, paused otherwise.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// server.on_connect(|_, _, _req, sock, _| {
    ///     sock.send("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n").ok();
    ///     sock.end();
    /// });
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_connect<F>(&self, f: F) -> ListenerId
    where
        F: FnMut(&Loop, &Server, Request, Socket, &[u8]) + 'static,
    {
        self.shared.connects.add(Rc::new(RefCell::new(f)))
    }

    /// Removes a listener added with any `on_*` method of this server.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// let id = server.on_request(|_, _, _, _| {});
    /// assert!(server.off(id));
    /// assert!(!server.off(id));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn off(&self, id: ListenerId) -> bool {
        let sh = &self.shared;
        sh.requests.off(id)
            || sh.upgrades.off(id)
            || sh.connects.off(id)
            || sh.client_errors.off(id)
            || sh.tcp.off(id)
    }

    /// Runs `f` for every refused request ([`Error::BadRequest`], after
    /// the answer was queued) and every connection error. Without a
    /// listener, they are reported through
    /// [`report_unhandled`](crate::report_unhandled), at most once a
    /// second; connection resets are expected and not reported.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// server.on_client_error(|_, _, e| eprintln!("client: {e}"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_client_error<F>(&self, f: F) -> ListenerId
    where
        F: FnMut(&Loop, &Server, &Error) + 'static,
    {
        self.shared.client_errors.on(f)
    }

    /// Runs `f` once the server has closed and its last connection is
    /// gone (or when the loop is dropped).
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// server.on_close(|_, _| println!("closed"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_close<F>(&self, mut f: F) -> ListenerId
    where
        F: FnMut(&Loop, &Server) + 'static,
    {
        let w = Rc::downgrade(&self.shared);
        self.shared.tcp.on_close(move |lp, _| {
            if let Some(shared) = w.upgrade() {
                f(lp, &Server { shared });
            }
        })
    }

    /// Listens on `port` on every interface, IPv6 and IPv4 alike (one
    /// dual-stack socket bound to `[::]`, as Node's `listen(port)`); 0
    /// picks a free port.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// server.listen(0)?;
    /// assert!(server.local_addr().is_some());
    /// server.close();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn listen(&self, port: u16) -> Result<()> {
        self.shared.tcp.listen(port)
    }

    /// Listens on `host:port`.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// server.listen_on("127.0.0.1", 0)?;
    /// server.close();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn listen_on(&self, host: &str, port: u16) -> Result<()> {
        self.shared.tcp.listen_on(host, port)
    }

    /// Listens on a Unix-domain socket path.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// let path = std::env::temp_dir().join(format!("hinge-http-doc-{}", std::process::id()));
    /// server.listen_unix(&path)?;
    /// server.close();
    /// # let _ = std::fs::remove_file(&path);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn listen_unix(&self, path: impl AsRef<Path>) -> Result<()> {
        self.shared.tcp.listen_unix(path)
    }

    /// Where the server listens.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// assert!(server.local_addr().is_none());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn local_addr(&self) -> Option<Addr> {
        self.shared.tcp.local_addr()
    }

    /// Open connections.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// assert_eq!(hinge::http::Server::new(&lp).connections(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn connections(&self) -> usize {
        self.shared.conns.borrow().len()
    }

    /// The limits and timeouts in force.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// assert_eq!(hinge::http::Server::new(&lp).config().max_headers, 100);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The TCP (or Unix) server underneath, for its settings: backlog,
    /// connection limit, `TCP_NODELAY`, `unref`.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// server.transport().set_max_connections(Some(10_000));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn transport(&self) -> &crate::Server {
        &self.shared.tcp
    }

    /// Serves HTTPS: TLS with `config` on every connection accepted from
    /// now on, through the same code as plain connections. ALPN offers
    /// `http/1.1` unless `config` lists protocols of its own.
    ///
    /// ```no_run
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// server.set_tls(hinge::tls::server_config("cert.pem", "key.pem")?);
    /// server.on_request(|_, _, _req, res| {
    ///     res.end("Hello over TLS!").ok();
    /// });
    /// server.listen(8443)?;
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn set_tls(&self, config: std::sync::Arc<crate::tls::rustls::ServerConfig>) {
        let config = if config.alpn_protocols.is_empty() {
            let mut with_alpn = (*config).clone();
            with_alpn.alpn_protocols = vec![b"http/1.1".to_vec()];
            std::sync::Arc::new(with_alpn)
        } else {
            config
        };
        self.transport().set_tls(config);
    }

    /// Closes gracefully: stops accepting, closes idle keep-alive
    /// connections now, and lets each busy one finish its current
    /// exchange (whose response then says `Connection: close`).
    /// [`on_close`](Server::on_close) runs once the last one is gone.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// server.listen(0)?;
    /// server.close();
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn close(&self) {
        let shared = &self.shared;
        shared.closing.set(true);
        shared.tcp.close();
        for conn in shared.live() {
            let idle = {
                let st = conn.st.borrow();
                st.phase == super::conn::Phase::Head && !st.is_busy()
            };
            if idle {
                conn.close_gracefully(false);
            }
        }
    }
}

impl Shared {
    fn accept(self: &Rc<Self>, lp: &Loop, sock: &Socket) {
        self.now.set(lp.now());
        let conn = Conn::new(self.clone(), sock.clone(), self.now.get());
        let slot = self.conns.borrow_mut().insert(Rc::downgrade(&conn));
        conn.slot.set(slot);
        conn.attach();
    }

    fn live(&self) -> Vec<Rc<Conn>> {
        self.conns
            .borrow()
            .iter()
            .filter_map(|(_, w)| w.upgrade())
            .collect()
    }

    /// The connection is closed or handed over: nothing of the server
    /// refers to it any more (the queues hold it strongly, and it holds
    /// the server: a cycle if it stayed queued on a loop that is gone).
    pub(super) fn forget(&self, conn: &Conn) {
        let slot = conn.slot.replace(usize::MAX);
        {
            let mut conns = self.conns.borrow_mut();
            if conns.contains(slot) {
                conns.remove(slot);
            }
        }
        // Taken out of the queues, then dropped after the borrows: a
        // request's drop may run user code.
        let mine = |c: &Rc<Conn>| std::ptr::eq(&**c, conn);
        let ready = take_where(&self.ready, mine);
        let late = take_where(&self.late_ends, |r: &Request| r.belongs_to(conn));
        drop((ready, late));
    }

    pub(super) fn dispatch(self: &Rc<Self>, lp: &Loop, req: Request, res: Response) {
        let me = Server {
            shared: self.clone(),
        };
        let ran = match self.requests.snapshot() {
            None => false,
            // The common case, one listener: no clones of the exchange.
            Some(Snapshot::One(f)) => guarded(f, |f| match f.try_borrow_mut() {
                Ok(mut call) => {
                    call(lp, &me, req, res);
                    true
                }
                Err(_) => false,
            }),
            Some(many) => many.call_guarded(
                (req, res),
                |(q, s)| (q.clone(), s.clone()),
                |f, (req, res)| f(lp, &me, req, res),
            ),
        };
        if !ran {
            crate::report_unhandled(format_args!(
                "http: no request listener ran (none added, or re-entered by a nested loop run); answering 500"
            ));
        }
    }

    /// Whether `upgrade` (or, for CONNECT, `connect`) listeners would
    /// take the connection over.
    pub(super) fn takes_over(&self, connect: bool) -> bool {
        !self.handovers(connect).0.borrow().is_empty()
    }

    fn handovers(&self, connect: bool) -> &Handlers<HandoverFn> {
        if connect {
            &self.connects
        } else {
            &self.upgrades
        }
    }

    /// Hands a connection, already let go of, to the `upgrade` or
    /// `connect` listeners; if none can run, it is destroyed.
    pub(super) fn hand_over(
        self: &Rc<Self>,
        lp: &Loop,
        connect: bool,
        (req, sock, rest): (Request, Socket, Vec<u8>),
    ) {
        let me = Server {
            shared: self.clone(),
        };
        let ran = self.handovers(connect).snapshot().is_some_and(|list| {
            list.call_guarded(
                (req, sock.clone()),
                |(q, s)| (q.clone(), s.clone()),
                |f, (req, sock)| f(lp, &me, req, sock, &rest),
            )
        });
        if !ran {
            crate::report_unhandled(format_args!(
                "http: no upgrade listener ran (removed, or re-entered by a nested loop run); closing"
            ));
            sock.destroy();
        }
    }

    pub(super) fn schedule(&self, conn: Rc<Conn>) {
        self.ready.borrow_mut().push(conn);
        self.prepare.start();
    }

    /// A request's `end` for listeners added after it was emitted.
    pub(super) fn replay_end(&self, req: Request) {
        self.late_ends.borrow_mut().push(req);
        self.prepare.start();
    }

    /// From the prepare hook: late `end`s, then every connection with
    /// work, until none is left (or, after a few rounds of work making
    /// work, on the next iteration, without blocking).
    fn run_ready(self: &Rc<Self>, lp: &Loop) {
        self.now.set(lp.now());
        for _ in 0..16 {
            let late = std::mem::take(&mut *self.late_ends.borrow_mut());
            let ready = std::mem::take(&mut *self.ready.borrow_mut());
            if late.is_empty() && ready.is_empty() {
                return;
            }
            for req in late {
                req.emit_end_again(lp);
            }
            // If a handler panics, the connections after it stay queued.
            let mut rest = Requeue {
                shared: self,
                conns: ready.into_iter(),
            };
            for conn in rest.conns.by_ref() {
                conn.pump(lp);
            }
        }
        let w = Rc::downgrade(self);
        lp.defer(move |lp| {
            if let Some(shared) = w.upgrade() {
                shared.run_ready(lp);
            }
        });
    }

    /// Reports a client's error to the listeners, or (rate-limited) to
    /// the user.
    pub(super) fn client_error(self: &Rc<Self>, lp: &Loop, e: &Error) {
        let me = Server {
            shared: self.clone(),
        };
        if self.client_errors.emit(lp, &me, e) {
            return;
        }
        // A client gone without a goodbye (a reset, or TLS without
        // close_notify) between requests is no news; a body it cut short
        // is reported as such (`BodyAborted`).
        if matches!(e, Error::ConnectionReset { .. } | Error::Truncated { .. }) {
            return;
        }
        let second = lp.now() as u64;
        let (last, skipped) = self.reported.get();
        if second == last {
            self.reported.set((last, skipped + 1));
            return;
        }
        self.reported.set((second, 0));
        if skipped > 0 {
            crate::report_unhandled(format_args!(
                "http: client error (add on_client_error to handle): {e} ({skipped} more not shown)"
            ));
        } else {
            crate::report_unhandled(format_args!(
                "http: client error (add on_client_error to handle): {e}"
            ));
        }
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("http::Server")
            .field("local", &self.local_addr())
            .field("connections", &self.connections())
            .finish()
    }
}

/// Takes the items matching `f` out of `list`, in order (none, with no
/// allocation, in the common case).
fn take_where<T>(list: &RefCell<Vec<T>>, f: impl Fn(&T) -> bool) -> Vec<T> {
    let Ok(mut list) = list.try_borrow_mut() else {
        return Vec::new();
    };
    if !list.iter().any(&f) {
        return Vec::new();
    }
    let (taken, kept) = std::mem::take(&mut *list).into_iter().partition(|x| f(x));
    *list = kept;
    taken
}

/// Puts connections back on the ready list if a panic cuts a round short.
struct Requeue<'a> {
    shared: &'a Shared,
    conns: std::vec::IntoIter<Rc<Conn>>,
}

impl Drop for Requeue<'_> {
    fn drop(&mut self) {
        let rest: Vec<Rc<Conn>> = self.conns.by_ref().collect();
        if rest.is_empty() {
            return;
        }
        if let Ok(mut ready) = self.shared.ready.try_borrow_mut() {
            ready.extend(rest);
            self.shared.prepare.start();
        }
    }
}
