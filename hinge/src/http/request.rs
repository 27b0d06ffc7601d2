//! An incoming request: its head, and its body as `data` events then
//! `end`, with `pause`/`resume` pushing back on the client.

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::{Rc, Weak};

use ::http::header::HeaderMap;
use ::http::{Method, Uri, Version};

use super::conn::Conn;
use super::proto::head::Head;
use crate::{Addr, Error, Event, ListenerId, Loop, Result};

/// An HTTP request, handed to [`Server::on_request`](super::Server::on_request).
///
/// The head (method, target, version, headers) is parsed and checked
/// before the handler runs. The body arrives afterwards, as
/// [`data`](Request::on_data) events and one [`end`](Request::on_end),
/// or an [`error`](Request::on_error) if the client goes away or breaks
/// the framing. Until a `data` or `end` listener exists (or
/// [`collect`](Request::collect) is called) the body waits in the
/// connection, up to a bounded read-ahead, so none of it is lost.
/// A body the handler never reads is discarded once the response ends.
///
/// A `Request` is a cheap, owned handle (`'static`): keep it as long as
/// you like.
///
/// ```no_run
/// let lp = hinge::Loop::new()?;
/// let server = hinge::http::Server::new(&lp);
/// server.on_request(|_, _, req, res| {
///     println!("{} {}", req.method(), req.path());
///     req.collect(1 << 20, move |_, req, body| match body {
///         Ok(body) => {
///             let _ = res.end(format!("{} bytes to {}\n", body.len(), req.path()));
///         }
///         Err(_) => {
///             let _ = res.error(413);
///         }
///     });
/// });
/// server.listen(8080)?;
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone)]
pub struct Request {
    pub(super) inner: Rc<ReqInner>,
}

pub(super) struct ReqInner {
    head: Head,
    /// The headers as a map, made when first asked for.
    map: OnceCell<HeaderMap>,
    conn: Weak<Conn>,
    flags: Cell<u8>,
    trailers: RefCell<Option<HeaderMap>>,
    data: Event<Request, [u8]>,
    end: Event<Request, ()>,
    error: Event<Request, Error>,
}

pub(super) mod flag {
    /// A `data` or `end` listener exists: body bytes are delivered.
    pub const FLOWING: u8 = 1;
    pub const PAUSED: u8 = 2;
    /// The body ended (`end` was emitted).
    pub const COMPLETE: u8 = 4;
    /// The body failed (`error` was emitted).
    pub const FAILED: u8 = 8;
}

impl Request {
    /// Whether this request came on `conn`.
    pub(super) fn belongs_to(&self, conn: &Conn) -> bool {
        std::ptr::eq(self.inner.conn.as_ptr(), conn)
    }

    pub(super) fn new(head: Head, conn: Weak<Conn>) -> Request {
        Request {
            inner: Rc::new(ReqInner {
                head,
                map: OnceCell::new(),
                conn,
                flags: Cell::new(0),
                trailers: RefCell::new(None),
                data: Event::new(),
                end: Event::new(),
                error: Event::new(),
            }),
        }
    }

    pub(super) fn has(&self, f: u8) -> bool {
        self.inner.flags.get() & f != 0
    }

    fn set(&self, f: u8, on: bool) {
        let flags = self.inner.flags.get();
        self.inner
            .flags
            .set(if on { flags | f } else { flags & !f });
    }

    /// The method.
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// assert_eq!(req.method(), hinge::http::Method::GET);
    /// ```
    pub fn method(&self) -> &Method {
        &self.inner.head.method
    }

    /// The request target as sent: usually a path and query, an absolute
    /// URI for a proxy, an authority for CONNECT, or `*`.
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// assert_eq!(req.uri().to_string(), "/hello?name=world");
    /// ```
    pub fn uri(&self) -> &Uri {
        &self.inner.head.uri
    }

    /// The host the request is for: the authority of an absolute-form
    /// target (`GET http://example.com/ HTTP/1.1`, as sent to a proxy),
    /// which RFC 9112 §3.2.2 says wins over the Host header, else the
    /// Host header. The server has checked its syntax.
    ///
    /// ```
    /// let req = hinge::http::Request::example();
    /// assert_eq!(req.host(), Some("example.com"));
    /// ```
    pub fn host(&self) -> Option<&str> {
        let head = &self.inner.head;
        match head.uri.authority() {
            Some(authority) => Some(authority.as_str()),
            None => head.headers.get_str("host"),
        }
    }

    /// The target's path (`/` for `*` and authority forms).
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// assert_eq!(req.path(), "/hello");
    /// ```
    pub fn path(&self) -> &str {
        self.inner.head.uri.path()
    }

    /// The target's query, without the `?`.
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// assert_eq!(req.query(), Some("name=world"));
    /// ```
    pub fn query(&self) -> Option<&str> {
        self.inner.head.uri.query()
    }

    /// The protocol version (HTTP/1.0 or HTTP/1.1).
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// assert_eq!(req.version(), hinge::http::Version::HTTP_11);
    /// ```
    pub fn version(&self) -> Version {
        self.inner.head.version
    }

    /// The headers, in the order received (repeated names kept).
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// assert_eq!(req.headers()["host"], "example.com");
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        self.inner
            .map
            .get_or_init(|| self.inner.head.headers.to_map())
    }

    /// One header's value as text, if present and visible ASCII.
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// assert_eq!(req.header("Host"), Some("example.com"));
    /// assert_eq!(req.header("x-missing"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.head.headers.get_str(name)
    }

    /// The body's declared length, or `None` when it is chunked.
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// assert_eq!(req.content_length(), Some(0));
    /// ```
    pub fn content_length(&self) -> Option<u64> {
        match self.inner.head.framing {
            super::proto::head::Framing::Length(n) => Some(n),
            super::proto::head::Framing::Chunked => None,
        }
    }

    /// The trailers of a chunked body, once it has ended.
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// assert!(req.trailers().is_none());
    /// ```
    pub fn trailers(&self) -> Option<HeaderMap> {
        self.inner.trailers.borrow().clone()
    }

    /// Whether the whole body has arrived (`end` was emitted).
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// assert!(!req.is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.has(flag::COMPLETE)
    }

    /// The client's address.
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// assert!(req.peer_addr().is_none()); // this one has no connection
    /// ```
    pub fn peer_addr(&self) -> Option<Addr> {
        self.inner.conn.upgrade()?.socket().peer_addr()
    }

    /// Runs `f` with each piece of the body as it arrives (the slice is
    /// borrowed: copy what you keep). Adding the first listener starts the
    /// body flowing, and answers `Expect: 100-continue`.
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// req.on_data(|_, _, bytes| println!("{} body bytes", bytes.len()));
    /// ```
    pub fn on_data<F>(&self, f: F) -> ListenerId
    where
        F: FnMut(&Loop, &Request, &[u8]) + 'static,
    {
        let id = self.inner.data.on(f);
        if self.has(flag::COMPLETE | flag::FAILED) {
            self.inner.data.off(id); // no data will come: keep nothing
        }
        self.start_flowing();
        id
    }

    /// Runs `f` once the whole body has arrived (at once for a request
    /// without a body). Adding it starts the body flowing; bytes that no
    /// `data` listener takes are discarded.
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// req.on_end(|_, req| println!("{} done", req.path()));
    /// ```
    pub fn on_end<F>(&self, mut f: F) -> ListenerId
    where
        F: FnMut(&Loop, &Request) + 'static,
    {
        let id = self.inner.end.on(move |lp, r, _| f(lp, r));
        if self.has(flag::COMPLETE) {
            self.replay_end();
        }
        self.start_flowing();
        id
    }

    /// Runs `f` if the body fails: the client closed early, broke the
    /// chunked framing, or exceeded the body limit. No `end` follows.
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// req.on_error(|_, _, e| eprintln!("upload failed: {e}"));
    /// ```
    pub fn on_error<F>(&self, f: F) -> ListenerId
    where
        F: FnMut(&Loop, &Request, &Error) + 'static,
    {
        let id = self.inner.error.on(f);
        if self.has(flag::COMPLETE | flag::FAILED) {
            self.inner.error.off(id); // the body is over: keep nothing
        }
        id
    }

    /// Removes a listener added with `on_data`, `on_end` or `on_error`.
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// let id = req.on_data(|_, _, _| {});
    /// assert!(req.off(id));
    /// ```
    pub fn off(&self, id: ListenerId) -> bool {
        self.inner.data.off(id) || self.inner.end.off(id) || self.inner.error.off(id)
    }

    /// Collects the whole body, up to `limit` bytes, then calls `f` with
    /// it, or with [`Error::BodyAborted`] if the body fails or exceeds
    /// `limit` (the rest is then discarded; answering 413 is usual).
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// req.collect(64 * 1024, |_, _, body| match body {
    ///     Ok(bytes) => println!("{} bytes", bytes.len()),
    ///     Err(e) => eprintln!("{e}"),
    /// });
    /// ```
    pub fn collect<F>(&self, limit: usize, f: F)
    where
        F: FnOnce(&Loop, &Request, Result<Vec<u8>>) + 'static,
    {
        type Done = Box<dyn FnOnce(&Loop, &Request, Result<Vec<u8>>)>;
        let done: Rc<RefCell<Option<Done>>> = Rc::new(RefCell::new(Some(Box::new(f))));
        let body = Rc::new(RefCell::new(Vec::new()));
        let (d, b) = (done.clone(), body.clone());
        self.inner.data.on(move |lp, req, bytes| {
            let mut body = b.borrow_mut();
            if d.borrow().is_none() {
                return;
            }
            if body.len() + bytes.len() > limit {
                *body = Vec::new();
                drop(body);
                let f = d.borrow_mut().take();
                if let Some(f) = f {
                    let reason = "the body is larger than the collect limit";
                    f(lp, req, Err(Error::BodyAborted { reason }));
                }
                return;
            }
            body.extend_from_slice(bytes);
        });
        let (d, b) = (done.clone(), body);
        self.inner.end.on(move |lp, req, _| {
            let f = d.borrow_mut().take();
            if let Some(f) = f {
                f(lp, req, Ok(std::mem::take(&mut *b.borrow_mut())));
            }
        });
        self.inner.error.on(move |lp, req, e| {
            let f = done.borrow_mut().take();
            if let Some(f) = f {
                let reason = match e {
                    Error::BodyAborted { reason } => reason,
                    _ => "the connection failed",
                };
                f(lp, req, Err(Error::BodyAborted { reason }));
            }
        });
        if self.has(flag::COMPLETE) {
            self.replay_end();
        }
        self.start_flowing();
    }

    /// Stops reading the body (and the connection) until
    /// [`resume`](Request::resume): the client is pushed back by TCP.
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// req.pause();
    /// assert!(req.is_paused());
    /// req.resume();
    /// ```
    pub fn pause(&self) {
        self.set(flag::PAUSED, true);
        if let Some(conn) = self.current() {
            conn.socket().pause();
        }
    }

    /// Resumes the body after [`pause`](Request::pause).
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// req.resume();
    /// assert!(!req.is_paused());
    /// ```
    pub fn resume(&self) {
        self.set(flag::PAUSED, false);
        if let Some(conn) = self.current() {
            conn.resume_body();
        }
    }

    /// Whether the body is paused.
    ///
    /// ```
    /// # let req = hinge::http::Request::example();
    /// assert!(!req.is_paused());
    /// ```
    pub fn is_paused(&self) -> bool {
        self.has(flag::PAUSED)
    }

    /// A request with no connection, for examples and tests:
    /// `GET /hello?name=world HTTP/1.1` with `Host: example.com`.
    ///
    /// ```
    /// let req = hinge::http::Request::example();
    /// assert_eq!(req.path(), "/hello");
    /// ```
    pub fn example() -> Request {
        let raw = b"GET /hello?name=world HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let mut bytes = super::proto::head::HeadBytes::new(raw);
        match super::proto::head::parse(raw, &super::Config::default(), &mut bytes) {
            Ok(super::proto::head::Parsed::Complete(head, _)) => Request::new(head, Weak::new()),
            _ => unreachable!("the example request parses"),
        }
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

    /// The connection, while this is its current request.
    fn current(&self) -> Option<Rc<Conn>> {
        self.inner.conn.upgrade().filter(|c| c.is_current(self))
    }

    /// `end` for a listener added after the body ended: from the loop,
    /// soon.
    fn replay_end(&self) {
        if let Some(conn) = self.inner.conn.upgrade() {
            conn.shared.replay_end(self.clone());
        }
    }

    pub(super) fn emit_data(&self, lp: &Loop, bytes: &[u8]) {
        self.inner.data.emit(lp, self, bytes);
    }

    pub(super) fn emit_end(&self, lp: &Loop, trailers: Option<HeaderMap>) {
        if self.has(flag::COMPLETE | flag::FAILED) {
            return;
        }
        *self.inner.trailers.borrow_mut() = trailers;
        self.set(flag::COMPLETE, true);
        self.inner.end.emit(lp, self, &());
        self.clear_listeners();
    }

    /// `end` again, for listeners added late.
    pub(super) fn emit_end_again(&self, lp: &Loop) {
        self.inner.end.emit(lp, self, &());
        self.inner.end.clear();
    }

    pub(super) fn emit_error(&self, lp: &Loop, reason: &'static str) {
        if self.has(flag::COMPLETE | flag::FAILED) {
            return;
        }
        self.set(flag::FAILED, true);
        self.inner
            .error
            .emit(lp, self, &Error::BodyAborted { reason });
        self.clear_listeners();
    }

    pub(super) fn clear_listeners(&self) {
        self.inner.data.clear();
        self.inner.end.clear();
        self.inner.error.clear();
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", self.method())
            .field("uri", self.uri())
            .field("version", &self.version())
            .field("headers", self.headers())
            .finish()
    }
}
