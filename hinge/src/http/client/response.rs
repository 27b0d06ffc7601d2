//! A response to a client request: its head, and its body as `data`
//! events then `end`, with `pause`/`resume` pushing back on the server.

use ::http::header::HeaderMap;
use ::http::{StatusCode, Version};

use super::agent::AgentInner;
use super::conn::Conn;
use super::*;
use crate::http::proto::head::HeadBytes;
use crate::http::proto::status::{self, HeadLimits, ParsedStatus, ResponseHead};

/// The response to a [`ClientRequest`], from its
/// [`response`](ClientRequest::on_response) event: Node's
/// `IncomingMessage`.
///
/// The head (status, version, headers) is parsed and checked before the
/// event. The body arrives afterwards as [`data`](ClientResponse::on_data)
/// events and one [`end`](ClientResponse::on_end), or an
/// [`error`](ClientResponse::on_error) if the connection fails or the
/// server breaks its framing. Until a `data` or `end` listener exists
/// (or [`collect`](ClientResponse::collect) or
/// [`resume`](ClientResponse::resume) is called) the body waits in the
/// connection, up to a bounded read-ahead; the connection is reused
/// only once the body has been read, so read or discard every body.
///
/// A cheap, owned handle (`'static`): keep it as long as you like.
///
/// ```
/// let res = hinge::http::ClientResponse::example();
/// assert_eq!(res.status(), 200);
/// assert_eq!(res.header("content-type"), Some("text/plain"));
/// res.on_data(|_, _, bytes| println!("{} bytes", bytes.len()));
/// res.on_end(|_, res| println!("{} done", res.status()));
/// ```
#[derive(Clone)]
pub struct ClientResponse {
    pub(super) inner: Rc<ResInner>,
}

pub(super) struct ResInner {
    head: ResponseHead,
    conn: Weak<Conn>,
    agent: Weak<AgentInner>,
    addr: Rc<str>,
    flags: Cell<u8>,
    trailers: RefCell<Option<HeaderMap>>,
    /// The first `collect`, kept here rather than as three listeners.
    collect: RefCell<Option<Collector>>,
    data: Event<ClientResponse, [u8]>,
    end: Event<ClientResponse, ()>,
    error: Event<ClientResponse, Error>,
}

type Done = Box<dyn FnOnce(&Loop, &ClientResponse, Result<Vec<u8>>)>;

/// A body being collected.
struct Collector {
    limit: usize,
    body: Vec<u8>,
    done: Done,
}

mod flag {
    /// Body bytes are delivered (to listeners, or dropped without any).
    pub const FLOWING: u8 = 1;
    pub const PAUSED: u8 = 2;
    pub const COMPLETE: u8 = 4;
    pub const FAILED: u8 = 8;
}

impl ClientResponse {
    pub(super) fn new(
        head: ResponseHead,
        conn: Weak<Conn>,
        agent: Weak<AgentInner>,
        addr: Rc<str>,
    ) -> ClientResponse {
        ClientResponse {
            inner: Rc::new(ResInner {
                head,
                conn,
                agent,
                addr,
                flags: Cell::new(0),
                trailers: RefCell::new(None),
                collect: RefCell::new(None),
                data: Event::new(),
                end: Event::new(),
                error: Event::new(),
            }),
        }
    }

    fn has(&self, f: u8) -> bool {
        self.inner.flags.get() & f != 0
    }

    fn set(&self, f: u8, on: bool) {
        let flags = self.inner.flags.get();
        self.inner
            .flags
            .set(if on { flags | f } else { flags & !f });
    }

    /// The status code.
    ///
    /// ```
    /// let res = hinge::http::ClientResponse::example();
    /// assert_eq!(res.status(), hinge::http::StatusCode::OK);
    /// assert!(res.status().is_success());
    /// ```
    pub fn status(&self) -> StatusCode {
        self.inner.head.status
    }

    /// The reason phrase as the server sent it (may be empty).
    ///
    /// ```
    /// assert_eq!(hinge::http::ClientResponse::example().reason(), "OK");
    /// ```
    pub fn reason(&self) -> &str {
        let head = &self.inner.head;
        match &head.reason {
            Some(r) => r,
            None => head.status.canonical_reason().unwrap_or(""),
        }
    }

    /// The HTTP version of the response.
    ///
    /// ```
    /// let res = hinge::http::ClientResponse::example();
    /// assert_eq!(res.version(), hinge::http::Version::HTTP_11);
    /// ```
    pub fn version(&self) -> Version {
        self.inner.head.version
    }

    /// The headers, as sent (names lower-cased).
    ///
    /// ```
    /// let res = hinge::http::ClientResponse::example();
    /// for (name, value) in res.headers() {
    ///     println!("{name}: {value:?}");
    /// }
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.head.headers
    }

    /// The first value of header `name`, if it is valid UTF-8 text.
    ///
    /// ```
    /// let res = hinge::http::ClientResponse::example();
    /// assert_eq!(res.header("Content-Length"), Some("12"));
    /// assert_eq!(res.header("x-missing"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.head.headers.get(name)?.to_str().ok()
    }

    /// The declared body length, when the body has a Content-Length.
    ///
    /// ```
    /// assert_eq!(hinge::http::ClientResponse::example().content_length(), Some(12));
    /// ```
    pub fn content_length(&self) -> Option<u64> {
        match self.inner.head.body {
            status::BodyKind::Length(n) => Some(n),
            status::BodyKind::Empty => Some(0),
            _ => None,
        }
    }

    /// The trailers of a chunked body, once it has ended (if it had any).
    ///
    /// ```
    /// assert!(hinge::http::ClientResponse::example().trailers().is_none());
    /// ```
    pub fn trailers(&self) -> Option<HeaderMap> {
        self.inner.trailers.borrow().clone()
    }

    /// Whether the whole body has arrived (`end` was emitted).
    ///
    /// ```
    /// assert!(!hinge::http::ClientResponse::example().is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.has(flag::COMPLETE)
    }

    /// Runs `f` for each piece of the body as it arrives. Adding it
    /// starts the body flowing.
    ///
    /// ```
    /// let res = hinge::http::ClientResponse::example();
    /// res.on_data(|_, _, bytes| println!("{} bytes", bytes.len()));
    /// ```
    pub fn on_data<F>(&self, f: F) -> ListenerId
    where
        F: FnMut(&Loop, &ClientResponse, &[u8]) + 'static,
    {
        let id = self.inner.data.on(f);
        if self.has(flag::COMPLETE | flag::FAILED) {
            self.inner.data.off(id);
        }
        self.start_flowing();
        id
    }

    /// Runs `f` once the whole body has arrived (soon, for a body that
    /// already has). Adding it starts the body flowing; bytes no `data`
    /// listener takes are discarded.
    ///
    /// ```
    /// let res = hinge::http::ClientResponse::example();
    /// res.on_end(|_, res| println!("{}: done", res.status()));
    /// ```
    pub fn on_end<F>(&self, mut f: F) -> ListenerId
    where
        F: FnMut(&Loop, &ClientResponse) + 'static,
    {
        let id = self.inner.end.on(move |lp, r, _| f(lp, r));
        if self.has(flag::COMPLETE) {
            self.replay_end();
        }
        self.start_flowing();
        id
    }

    /// Runs `f` if the body fails: the connection broke, the server
    /// broke its framing or closed early, or the idle timeout passed.
    /// No `end` follows. Without a listener the error goes to the
    /// request's `error` listeners, or is reported.
    ///
    /// ```
    /// let res = hinge::http::ClientResponse::example();
    /// res.on_error(|_, _, e| eprintln!("download failed: {e}"));
    /// ```
    pub fn on_error<F>(&self, f: F) -> ListenerId
    where
        F: FnMut(&Loop, &ClientResponse, &Error) + 'static,
    {
        let id = self.inner.error.on(f);
        if self.has(flag::COMPLETE | flag::FAILED) {
            self.inner.error.off(id);
        }
        id
    }

    /// Removes a listener added with `on_data`, `on_end` or `on_error`.
    ///
    /// ```
    /// let res = hinge::http::ClientResponse::example();
    /// let id = res.on_data(|_, _, _| {});
    /// assert!(res.off(id));
    /// ```
    pub fn off(&self, id: ListenerId) -> bool {
        self.inner.data.off(id) || self.inner.end.off(id) || self.inner.error.off(id)
    }

    /// Collects the whole body, up to `limit` bytes, then calls `f` with
    /// it; or with [`Error::TooLarge`] past `limit` (the connection is
    /// then closed: the rest is not read), or with the body's error.
    ///
    /// ```
    /// let res = hinge::http::ClientResponse::example();
    /// res.collect(1 << 20, |_, res, body| match body {
    ///     Ok(bytes) => println!("{}: {} bytes", res.status(), bytes.len()),
    ///     Err(e) => eprintln!("{e}"),
    /// });
    /// ```
    pub fn collect<F>(&self, limit: usize, f: F)
    where
        F: FnOnce(&Loop, &ClientResponse, Result<Vec<u8>>) + 'static,
    {
        if self.has(flag::FAILED) {
            return; // its error was reported already
        }
        {
            let mut slot = self.inner.collect.borrow_mut();
            if slot.is_none() {
                *slot = Some(Collector {
                    limit,
                    body: Vec::new(),
                    done: Box::new(f),
                });
                drop(slot);
                if self.has(flag::COMPLETE) {
                    self.replay_end();
                }
                self.start_flowing();
                return;
            }
        }
        // A second collector: listeners of its own.
        let done: Rc<RefCell<Option<Done>>> = Rc::new(RefCell::new(Some(Box::new(f))));
        let body = Rc::new(RefCell::new(Vec::new()));
        let (d, b) = (done.clone(), body.clone());
        self.inner.data.on(move |lp, res, bytes| {
            if d.borrow().is_none() {
                return;
            }
            let over = b.borrow().len() + bytes.len() > limit;
            if over {
                *b.borrow_mut() = Vec::new();
                let f = d.borrow_mut().take();
                res.destroy_connection(lp);
                if let Some(f) = f {
                    let e = Error::TooLarge {
                        what: "response body",
                        limit: limit as u64,
                    };
                    f(lp, res, Err(e));
                }
                return;
            }
            b.borrow_mut().extend_from_slice(bytes);
        });
        let (d, b) = (done.clone(), body);
        self.inner.end.on(move |lp, res, _| {
            let f = d.borrow_mut().take();
            if let Some(f) = f {
                f(lp, res, Ok(std::mem::take(&mut *b.borrow_mut())));
            }
        });
        self.inner.error.on(move |lp, res, e| {
            let f = done.borrow_mut().take();
            if let Some(f) = f {
                f(lp, res, Err(e.duplicate()));
            }
        });
        if self.has(flag::COMPLETE) {
            self.replay_end();
        }
        self.start_flowing();
    }

    /// Stops reading the body (and the connection) until
    /// [`resume`](ClientResponse::resume): the server is pushed back by
    /// TCP. A pause longer than the agent's
    /// [`idle_timeout`](AgentConfig::idle_timeout) fails the response
    /// with `Error::TimedOut { op: "idle" }`, as a silent server would.
    ///
    /// ```
    /// let res = hinge::http::ClientResponse::example();
    /// res.pause();
    /// assert!(res.is_paused());
    /// ```
    pub fn pause(&self) {
        self.set(flag::PAUSED, true);
        if let Some(conn) = self.current() {
            conn.pause_body();
        }
    }

    /// Resumes the body after [`pause`](ClientResponse::resume). As in
    /// Node, it also starts a body nobody listens to flowing, which
    /// discards it: the way to drop a body you do not want.
    ///
    /// ```
    /// let res = hinge::http::ClientResponse::example();
    /// res.resume();
    /// assert!(!res.is_paused());
    /// ```
    pub fn resume(&self) {
        self.set(flag::PAUSED, false);
        self.set(flag::FLOWING, true);
        if let Some(conn) = self.current() {
            conn.body_wanted();
        }
    }

    /// Whether the body is paused.
    ///
    /// ```
    /// assert!(!hinge::http::ClientResponse::example().is_paused());
    /// ```
    pub fn is_paused(&self) -> bool {
        self.has(flag::PAUSED)
    }

    /// Closes the connection under the body: no more of it is read, no
    /// `end` comes, and the connection is not reused.
    ///
    /// ```
    /// let res = hinge::http::ClientResponse::example();
    /// res.destroy();
    /// ```
    pub fn destroy(&self) {
        if self.has(flag::COMPLETE | flag::FAILED) {
            return;
        }
        let conn = self.current();
        self.set(flag::FAILED, true);
        self.clear_listeners();
        if let Some(conn) = conn {
            conn.destroy_exchange();
        }
    }

    /// A response with no connection, for examples and tests:
    /// `HTTP/1.1 200 OK` with `Content-Type: text/plain` and
    /// `Content-Length: 12`.
    ///
    /// ```
    /// let res = hinge::http::ClientResponse::example();
    /// assert_eq!(res.status(), 200);
    /// ```
    pub fn example() -> ClientResponse {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n";
        let limits = HeadLimits {
            max_head_bytes: 1024,
            max_headers: 8,
        };
        match status::parse_response(raw, limits, &Method::GET, &mut HeadBytes::new(raw)) {
            Ok(ParsedStatus::Complete(head, _)) => {
                ClientResponse::new(head, Weak::new(), Weak::new(), "example".into())
            }
            _ => unreachable!("the example response parses"),
        }
    }

    /// The connection, while this is its current response (a handle
    /// kept from an earlier exchange must not touch the next one).
    fn current(&self) -> Option<Rc<Conn>> {
        if self.has(flag::COMPLETE | flag::FAILED) {
            return None;
        }
        self.inner
            .conn
            .upgrade()
            .filter(|c| c.is_current_response(self))
    }

    fn start_flowing(&self) {
        if self.has(flag::FLOWING) {
            return;
        }
        self.set(flag::FLOWING, true);
        if let Some(conn) = self.current() {
            conn.body_wanted();
        }
    }

    fn replay_end(&self) {
        if let Some(agent) = self.inner.agent.upgrade() {
            agent.replay_end(self.clone());
        }
    }

    /// Whether body bytes may be delivered now.
    pub(super) fn wants_data(&self) -> bool {
        self.has(flag::FLOWING) && !self.has(flag::PAUSED)
    }

    pub(super) fn emit_data(&self, lp: &Loop, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let over = match self.inner.collect.borrow_mut().as_mut() {
            Some(c) if c.body.len() + bytes.len() > c.limit => Some(c.limit),
            Some(c) => {
                c.body.extend_from_slice(bytes);
                None
            }
            None => None,
        };
        if let Some(limit) = over {
            let c = self.inner.collect.borrow_mut().take();
            self.destroy_connection(lp);
            if let Some(c) = c {
                let e = Error::TooLarge {
                    what: "response body",
                    limit: limit as u64,
                };
                (c.done)(lp, self, Err(e));
            }
            return;
        }
        self.inner.data.emit(lp, self, bytes);
    }

    pub(super) fn set_trailers(&self, trailers: HeaderMap) {
        *self.inner.trailers.borrow_mut() = Some(trailers);
    }

    pub(super) fn mark_complete(&self) {
        self.set(flag::COMPLETE, true);
    }

    /// The body ended.
    pub(super) fn complete(&self, lp: &Loop) {
        self.set(flag::COMPLETE, true);
        self.emit_end(lp);
    }

    pub(super) fn emit_end(&self, lp: &Loop) {
        if self.has(flag::COMPLETE) && !self.has(flag::FAILED) {
            let collected = self.inner.collect.borrow_mut().take();
            if let Some(c) = collected {
                (c.done)(lp, self, Ok(c.body));
            }
            self.inner.end.emit(lp, self, &());
            self.clear_listeners();
        }
    }

    /// The body failed: `error` to its listeners, else the request's.
    pub(super) fn fail(&self, lp: &Loop, e: &Error, req: Option<&ClientRequest>) {
        if self.has(flag::COMPLETE | flag::FAILED) {
            return;
        }
        self.set(flag::FAILED, true);
        let collected = self.inner.collect.borrow_mut().take();
        let mut heard = false;
        if let Some(c) = collected {
            (c.done)(lp, self, Err(e.duplicate()));
            heard = true;
        }
        heard |= self.inner.error.emit(lp, self, e);
        self.clear_listeners();
        if !heard {
            match req {
                Some(req) => req.fail(lp, e),
                None => crate::report_unhandled(format_args!(
                    "http client: response from {}: {e}",
                    self.inner.addr
                )),
            }
        }
    }

    /// The exchange ended under it (a listener panicked): no events.
    pub(super) fn abandon(&self) {
        self.set(flag::FAILED, true);
        self.clear_listeners();
    }

    /// `collect` gave up (the limit): the rest is not read.
    fn destroy_connection(&self, _lp: &Loop) {
        let conn = self.current();
        self.set(flag::FAILED, true);
        if let Some(conn) = conn {
            conn.destroy_exchange();
        }
    }

    fn clear_listeners(&self) {
        let collected = self.inner.collect.borrow_mut().take();
        drop(collected);
        self.inner.end.clear();
        self.inner.data.clear();
        self.inner.error.clear();
    }
}

impl std::fmt::Debug for ClientResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientResponse")
            .field("status", &self.inner.head.status)
            .field("version", &self.inner.head.version)
            .field("headers", &self.inner.head.headers)
            .finish()
    }
}
