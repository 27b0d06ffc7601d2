//! The HTTP server: a hinge `Server` whose connections speak HTTP/1.1,
//! one timer for every connection's deadlines, and one prepare hook that
//! flushes responses written outside a read.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::{Rc, Weak};
use std::time::Duration;

use slab::Slab;

use super::config::Config;
use super::conn::Conn;
use super::encode::DateCache;
use super::request::Request;
use super::response::Response;
use crate::{Addr, Error, Event, ListenerId, Loop, Prepare, Result, Socket, TimerHandle, Watcher};

type Handler = Rc<RefCell<dyn FnMut(&Loop, Request, Response)>>;
pub(super) type Handover = Rc<RefCell<dyn FnMut(&Loop, Request, Socket, &[u8])>>;

pub(super) struct Shared {
    pub(super) config: Config,
    tcp: crate::Server,
    pub(super) date: DateCache,
    /// The loop's time, as of the latest callback (no syscall to read).
    pub(super) now: Cell<f64>,
    on_request: RefCell<Option<Handler>>,
    pub(super) on_upgrade: RefCell<Option<Handover>>,
    pub(super) on_connect: RefCell<Option<Handover>>,
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
/// server.on_request(|_, req, res| {
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
                on_request: RefCell::new(None),
                on_upgrade: RefCell::new(None),
                on_connect: RefCell::new(None),
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
                // Handlers that capture the server must not keep it alive.
                // (Each is dropped outside its borrow: a drop may run code.)
                let request = shared.on_request.borrow_mut().take();
                let upgrade = shared.on_upgrade.borrow_mut().take();
                let connect = shared.on_connect.borrow_mut().take();
                drop((request, upgrade, connect));
                shared.client_errors.clear();
            }
        });
        Server { shared }
    }

    /// Sets the request handler (one per server; a new one replaces it).
    /// It runs for every request once its head is complete; the body
    /// follows on the [`Request`].
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// let mut served = 0;
    /// server.on_request(move |_, _, res| {
    ///     served += 1;
    ///     res.end(format!("request {served}\n")).ok();
    /// });
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_request<F>(&self, f: F)
    where
        F: FnMut(&Loop, Request, Response) + 'static,
    {
        // The old handler is dropped after the borrow ends.
        let _ = self
            .shared
            .on_request
            .replace(Some(Rc::new(RefCell::new(f))));
    }

    /// Takes over connections that ask to switch protocols
    /// (`Connection: upgrade` with an `Upgrade` header), as Node's
    /// `upgrade` event: `f` gets the request, the raw [`Socket`] (no
    /// longer driven by the server) and the bytes that followed the head.
    /// Answering (`101 Switching Protocols`, or a refusal) is up to `f`.
    /// Without it, such requests are ordinary requests.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// server.on_upgrade(|_, req, sock, _head| {
    ///     if req.header("upgrade") == Some("echo") {
    ///         sock.send("HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n").ok();
    ///         sock.on_data(|_, s, bytes| { s.send(bytes).ok(); });
    ///     } else {
    ///         sock.destroy();
    ///     }
    /// });
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_upgrade<F>(&self, f: F)
    where
        F: FnMut(&Loop, Request, Socket, &[u8]) + 'static,
    {
        // The old handler is dropped after the borrow ends.
        let _ = self
            .shared
            .on_upgrade
            .replace(Some(Rc::new(RefCell::new(f))));
    }

    /// Takes over `CONNECT` requests, as Node's `connect` event (for a
    /// proxy): `f` gets the request, the raw socket and the bytes after
    /// the head. Without it, CONNECT is an ordinary request.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// server.on_connect(|_, _req, sock, _| {
    ///     sock.send("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n").ok();
    ///     sock.end();
    /// });
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_connect<F>(&self, f: F)
    where
        F: FnMut(&Loop, Request, Socket, &[u8]) + 'static,
    {
        // The old handler is dropped after the borrow ends.
        let _ = self
            .shared
            .on_connect
            .replace(Some(Rc::new(RefCell::new(f))));
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
    /// gone.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// server.on_close(|_| println!("closed"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_close<F>(&self, mut f: F) -> ListenerId
    where
        F: FnMut(&Loop) + 'static,
    {
        self.shared.tcp.on_close(move |lp, _| f(lp))
    }

    /// Listens on `port` on all IPv4 interfaces (0 picks a free port).
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

    pub(super) fn dispatch(&self, lp: &Loop, req: Request, res: Response) {
        let handler = self.on_request.borrow().clone();
        let Some(handler) = handler else {
            crate::report_unhandled(format_args!("http: no on_request handler; answering 500"));
            return;
        };
        let Ok(mut f) = handler.try_borrow_mut() else {
            crate::report_unhandled(format_args!(
                "http: the request handler was re-entered (a nested loop run?); answering 500"
            ));
            return;
        };
        f(lp, req, res);
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
        if matches!(e, Error::ConnectionReset { .. }) {
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
