//! The agent: a loop's pool of client connections, by scheme, host and
//! port, with keep-alive, a limit on connections per host and on idle
//! ones, and requests queued when a host's limit is reached.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::conn::Conn;
use super::*;
use crate::{Prepare, Watcher};

/// What an [`Agent`] allows, and how long it waits.
///
/// ```
/// use std::time::Duration;
/// let mut config = hinge::http::AgentConfig::default();
/// config.max_connections_per_host = 8;
/// config.keep_alive_timeout = Duration::from_secs(15);
/// let lp = hinge::Loop::new()?;
/// let agent = hinge::http::Agent::with_config(&lp, config);
/// # drop(agent);
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AgentConfig {
    /// Connections open to one scheme, host and port at once, idle ones
    /// included. Requests beyond it wait, in order, for one to be free.
    pub max_connections_per_host: usize,
    /// Idle connections kept for reuse per host; more are closed.
    pub max_idle_per_host: usize,
    /// How long an idle connection is kept. A little below the usual
    /// server's keep-alive timeout (Node's and hinge's 5 s), so that the
    /// server rarely closes a connection just as it is reused.
    pub keep_alive_timeout: Duration,
    /// How long a connection may take to be established (and, for
    /// `https`, its handshake). `Error::TimedOut { op: "connect" }`.
    pub connect_timeout: Option<Duration>,
    /// How long the response head may take, from the end of the
    /// request. `Error::TimedOut { op: "response head" }`.
    pub head_timeout: Option<Duration>,
    /// How long a connection may go without a byte while a request is
    /// in flight, its body included. `Error::TimedOut { op: "idle" }`.
    pub idle_timeout: Option<Duration>,
    /// Bytes of a response head; more is `Error::InvalidResponse`.
    pub max_head_bytes: usize,
    /// Header lines in a response (at most [`MAX_HEADERS_CAP`](crate::http::MAX_HEADERS_CAP)).
    pub max_headers: usize,
    /// Request bytes queued for a connection above which
    /// [`ClientRequest::write`] returns `false`.
    pub high_water: usize,
    /// The TLS configuration for `https://` URLs; `None` for
    /// [`tls::client_config`](crate::tls::client_config) (the webpki
    /// roots).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub tls: Option<std::sync::Arc<crate::tls::rustls::ClientConfig>>,
}

impl Default for AgentConfig {
    fn default() -> AgentConfig {
        AgentConfig {
            max_connections_per_host: 256,
            max_idle_per_host: 256,
            keep_alive_timeout: Duration::from_secs(4),
            connect_timeout: Some(Duration::from_secs(30)),
            head_timeout: Some(Duration::from_secs(60)),
            idle_timeout: Some(Duration::from_secs(60)),
            max_head_bytes: 64 * 1024,
            max_headers: 100,
            high_water: 16 * 1024,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// A loop's HTTP client connections: Node's `http.Agent`.
///
/// [`http::request`](super::request) and [`http::get`](super::get) use
/// the loop's own agent ([`Agent::of`]); make one with
/// [`Agent::with_config`] for other limits. An agent keeps connections
/// open after a response (keep-alive) for the next request to the same
/// scheme, host and port; an idle connection does not keep the loop
/// running, and closes after
/// [`keep_alive_timeout`](AgentConfig::keep_alive_timeout). Requests are
/// not pipelined: one request per connection at a time.
///
/// **Retries.** A request is retried, once, on a fresh connection only
/// when it is idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE), went
/// out on a reused connection, and that connection closed before any
/// byte of the response came back: the server closed an idle
/// connection as the request left, so it cannot have acted on it. (The
/// rule of hyper and Node.) Any other failure is the request's error.
///
/// ```no_run
/// use hinge::{http, Loop};
///
/// let lp = Loop::new()?;
/// let agent = http::Agent::new(&lp);
/// for path in ["/a", "/b"] {
///     let req = agent.request(&lp, http::Method::GET, &format!("http://127.0.0.1:8080{path}"))?;
///     req.on_response(|_, _, res| {
///         res.collect(1 << 20, |_, res, body| println!("{} {:?}", res.status(), body.map(|b| b.len())));
///     });
///     req.end("")?;
/// }
/// lp.run(); // both over one connection, one after the other
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone)]
pub struct Agent {
    pub(super) inner: Rc<AgentInner>,
}

/// Where a connection goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

/// FNV-1a: a host key is hashed on every request, and SipHash's
/// flooding defence buys nothing for the hosts a program itself calls.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type Hosts = HashMap<Key, Host, std::hash::BuildHasherDefault<Fnv>>;

#[derive(Default)]
struct Host {
    idle: Vec<Rc<Conn>>,
    /// Connections open (idle, busy or connecting).
    open: usize,
    queue: VecDeque<ClientRequest>,
}

pub(super) struct AgentInner {
    pub(super) config: AgentConfig,
    /// The body decoder's limits (chunk extensions, trailers).
    pub(super) decode: crate::http::Config,
    hosts: RefCell<Hosts>,
    prepare: Prepare,
    /// Connections with buffered input to deliver, and responses with a
    /// late `end` listener.
    ready: RefCell<Vec<Rc<Conn>>>,
    late: RefCell<Vec<ClientResponse>>,
    #[cfg(feature = "tls")]
    tls: RefCell<Option<std::sync::Arc<crate::tls::rustls::ClientConfig>>>,
}

/// The loop's own agent, kept in [`Loop::local`].
struct LoopAgent(Agent);

impl Agent {
    /// An agent with the default [`AgentConfig`].
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let agent = hinge::http::Agent::new(&lp);
    /// assert_eq!(agent.connections(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new(lp: &Loop) -> Agent {
        Agent::with_config(lp, AgentConfig::default())
    }

    /// An agent with `config`.
    ///
    /// ```
    /// let mut config = hinge::http::AgentConfig::default();
    /// config.max_idle_per_host = 0; // no keep-alive
    /// let lp = hinge::Loop::new()?;
    /// let agent = hinge::http::Agent::with_config(&lp, config);
    /// # drop(agent);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn with_config(lp: &Loop, config: AgentConfig) -> Agent {
        let decode = crate::http::Config {
            max_body_bytes: u64::MAX,
            max_head_bytes: config.max_head_bytes,
            ..Default::default()
        };
        let inner = Rc::new_cyclic(|weak: &Weak<AgentInner>| {
            let w = weak.clone();
            let prepare = Prepare::new(lp, move |lp, p| {
                p.stop();
                if let Some(agent) = w.upgrade() {
                    agent.run_ready(lp);
                }
            });
            prepare.stop();
            AgentInner {
                config,
                decode,
                hosts: RefCell::new(Hosts::default()),
                prepare,
                ready: RefCell::new(Vec::new()),
                late: RefCell::new(Vec::new()),
                #[cfg(feature = "tls")]
                tls: RefCell::new(None),
            }
        });
        Agent { inner }
    }

    /// The loop's own agent (made with the default configuration the
    /// first time), which [`http::request`](super::request) uses.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let a = hinge::http::Agent::of(&lp);
    /// let b = hinge::http::Agent::of(&lp);
    /// assert!(a.same_as(&b));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn of(lp: &Loop) -> Agent {
        lp.local(|| LoopAgent(Agent::new(lp))).0.clone()
    }

    /// Whether two handles name the same agent.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let a = hinge::http::Agent::new(&lp);
    /// assert!(a.same_as(&a.clone()));
    /// assert!(!a.same_as(&hinge::http::Agent::new(&lp)));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn same_as(&self, other: &Agent) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }

    /// Starts a request for `url` through this agent. See
    /// [`http::request`](super::request).
    ///
    /// ```no_run
    /// let lp = hinge::Loop::new()?;
    /// let agent = hinge::http::Agent::new(&lp);
    /// let req = agent.request(&lp, hinge::http::Method::DELETE, "http://127.0.0.1:8080/item/7")?;
    /// req.on_response(|_, _, res| println!("{}", res.status()));
    /// req.end("")?;
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn request(&self, lp: &Loop, method: Method, url: &str) -> Result<ClientRequest> {
        let req = ClientRequest::new(self.clone(), method, url)?;
        self.inner.acquire(lp, &req, false)?;
        Ok(req)
    }

    /// Connections open, idle ones included.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// assert_eq!(hinge::http::Agent::new(&lp).connections(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn connections(&self) -> usize {
        self.inner.hosts.borrow().values().map(|h| h.open).sum()
    }

    /// Idle connections kept for reuse.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// assert_eq!(hinge::http::Agent::new(&lp).idle_connections(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn idle_connections(&self) -> usize {
        self.inner
            .hosts
            .borrow()
            .values()
            .map(|h| h.idle.len())
            .sum()
    }

    /// Closes every idle connection (busy ones finish their request).
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let agent = hinge::http::Agent::new(&lp);
    /// agent.close_idle();
    /// assert_eq!(agent.idle_connections(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn close_idle(&self) {
        let idle: Vec<Rc<Conn>> = self
            .inner
            .hosts
            .borrow_mut()
            .values_mut()
            .flat_map(|h| std::mem::take(&mut h.idle))
            .collect();
        for conn in idle {
            conn.close_idle();
        }
    }

    /// The configuration.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// assert_eq!(hinge::http::Agent::new(&lp).config().max_idle_per_host, 256);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn config(&self) -> &AgentConfig {
        &self.inner.config
    }
}

impl AgentInner {
    /// Finds `req` a connection: an idle one (unless `fresh`), a new one
    /// within the host's limit, or a place in the host's queue.
    pub(super) fn acquire(
        self: &Rc<Self>,
        lp: &Loop,
        req: &ClientRequest,
        fresh: bool,
    ) -> Result<()> {
        let key = &req.inner.key;
        let limit = self.config.max_connections_per_host.max(1);
        loop {
            let idle = {
                let mut hosts = self.hosts.borrow_mut();
                let host = match hosts.get_mut(key) {
                    Some(host) => host,
                    None => hosts.entry(key.clone()).or_default(),
                };
                if fresh {
                    None
                } else {
                    host.idle.pop()
                }
            };
            match idle {
                Some(conn) if conn.is_idle() => {
                    conn.bind(lp, req.clone());
                    return Ok(());
                }
                Some(conn) => {
                    // Closed while idle, not yet forgotten.
                    self.forget(lp, &conn);
                    continue;
                }
                None => break,
            }
        }
        {
            let mut hosts = self.hosts.borrow_mut();
            let host = hosts.get_mut(key).expect("made above");
            if host.open >= limit {
                // A retry keeps its place ahead of later requests.
                if fresh {
                    host.queue.push_front(req.clone());
                } else {
                    host.queue.push_back(req.clone());
                }
                return Ok(());
            }
        }
        let conn = Conn::connect(lp, self, key.clone())?;
        self.hosts
            .borrow_mut()
            .get_mut(key)
            .expect("made above")
            .open += 1;
        conn.bind(lp, req.clone());
        Ok(())
    }

    /// `conn` finished a request and may be reused: the next queued
    /// request gets it, or it waits idle.
    pub(super) fn release(self: &Rc<Self>, lp: &Loop, conn: &Rc<Conn>) {
        if conn.sock.is_closed() {
            return; // its `close` takes it out of the agent
        }
        let next = {
            let mut hosts = self.hosts.borrow_mut();
            let host = match hosts.get_mut(&conn.key) {
                Some(host) => host,
                None => hosts.entry(conn.key.clone()).or_default(),
            };
            match host.queue.pop_front() {
                Some(req) => Some(req),
                None if host.idle.len() < self.config.max_idle_per_host => {
                    host.idle.push(conn.clone());
                    None
                }
                None => {
                    drop(hosts);
                    conn.close_idle();
                    return;
                }
            }
        };
        match next {
            Some(req) if !req.is_done() => conn.bind(lp, req),
            Some(_) => self.release(lp, conn),
            None => conn.go_idle(),
        }
    }

    /// `conn` is closed (or handed over): it no longer counts, and a
    /// queued request may open a connection in its place.
    pub(super) fn forget(self: &Rc<Self>, lp: &Loop, conn: &Rc<Conn>) {
        let next = {
            let mut hosts = self.hosts.borrow_mut();
            let Some(host) = hosts.get_mut(&conn.key) else {
                return;
            };
            host.idle.retain(|c| !Rc::ptr_eq(c, conn));
            if !conn.counted.replace(false) {
                return;
            }
            host.open = host.open.saturating_sub(1);
            let next = host.queue.pop_front();
            if next.is_none() && host.open == 0 && host.idle.is_empty() {
                hosts.remove(&conn.key);
            }
            next
        };
        if let Some(req) = next {
            if let Err(e) = self.acquire(lp, &req, false) {
                req.fail(lp, &e);
            }
        }
    }

    /// Removes a request that was waiting for a connection.
    pub(super) fn dequeue(&self, req: &ClientRequest) {
        if let Some(host) = self.hosts.borrow_mut().get_mut(&req.inner.key) {
            host.queue.retain(|r| !Rc::ptr_eq(&r.inner, &req.inner));
        }
    }

    /// Delivers `conn`'s buffered input from the loop, soon.
    pub(super) fn schedule(&self, conn: Rc<Conn>) {
        self.ready.borrow_mut().push(conn);
        self.prepare.start();
    }

    /// Emits `end` to listeners added after it, from the loop, soon.
    pub(super) fn replay_end(&self, res: ClientResponse) {
        self.late.borrow_mut().push(res);
        self.prepare.start();
    }

    fn run_ready(self: &Rc<Self>, lp: &Loop) {
        for _ in 0..16 {
            let late = std::mem::take(&mut *self.late.borrow_mut());
            let ready = std::mem::take(&mut *self.ready.borrow_mut());
            if late.is_empty() && ready.is_empty() {
                return;
            }
            for res in late {
                res.emit_end(lp);
            }
            for conn in ready {
                conn.pump(lp);
            }
        }
        self.prepare.start();
    }

    /// The TLS configuration for `https` connections.
    #[cfg(feature = "tls")]
    pub(super) fn tls_config(&self) -> std::sync::Arc<crate::tls::rustls::ClientConfig> {
        if let Some(c) = &self.config.tls {
            return c.clone();
        }
        self.tls
            .borrow_mut()
            .get_or_insert_with(crate::tls::client_config)
            .clone()
    }
}
