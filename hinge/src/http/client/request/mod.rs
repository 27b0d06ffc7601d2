//! An outgoing request: its head, set until the first byte goes, and its
//! body, written with backpressure.

use ::http::header::{self, HeaderName, HeaderValue};
use ::http::Uri;

use super::agent::Key;
use super::conn::Conn;
use super::*;
use crate::http::proto::encode::{self, Framing};
use crate::http::response::header_pair;

mod wire;

/// Request bytes kept for a retry; a longer request is not retried.
const REPLAY_MAX: usize = 64 * 1024;

/// A request in flight, from [`http::request`](super::request): Node's
/// `ClientRequest`.
///
/// Headers can be set until the head goes out, with the first
/// [`write`](ClientRequest::write) or [`end`](ClientRequest::end). The
/// request's events: [`response`](ClientRequest::on_response) (the
/// final response head), [`information`](ClientRequest::on_information)
/// (1xx interim responses), [`upgrade`](ClientRequest::on_upgrade) (101,
/// or a 2xx to CONNECT), [`drain`](ClientRequest::on_drain),
/// [`socket`](ClientRequest::on_socket) and
/// [`error`](ClientRequest::on_error).
///
/// `Expect: 100-continue` is honoured: with that header set, the head
/// goes alone and the body waits for `100 Continue` (or a second, or a
/// final response, after which it is not sent and the connection not
/// reused).
///
/// A cheap, owned handle (`'static`).
///
/// ```no_run
/// use hinge::{http, Loop};
///
/// let lp = Loop::new()?;
/// let req = http::request(&lp, http::Method::PUT, "http://127.0.0.1:8080/upload")?;
/// let mut left = 100;
/// req.on_drain(move |_, req| {
///     while left > 0 {
///         left -= 1;
///         if !req.write(vec![b'x'; 64 * 1024]).unwrap_or(false) {
///             return; // wait for the next drain
///         }
///     }
///     let _ = req.end("");
/// });
/// req.on_response(|_, _, res| res.collect(1 << 20, |_, res, _| println!("{}", res.status())));
/// req.write("start")?; // the head, chunked; `drain` comes when it is sent
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone)]
pub struct ClientRequest {
    pub(super) inner: Rc<ReqInner>,
}

pub(super) struct ReqInner {
    agent: Agent,
    method: Method,
    url: String,
    pub(super) key: Key,
    st: RefCell<ReqState>,
    response: Event<ClientRequest, ClientResponse>,
    information: Event<ClientRequest, ClientResponse>,
    upgrade: Event<ClientRequest, Upgraded>,
    drain: Event<ClientRequest, ()>,
    socket: Event<ClientRequest, Socket>,
    error: Event<ClientRequest, Error>,
}

struct ReqState {
    target: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    head_written: bool,
    framing: Framing,
    ended: bool,
    /// Bytes not yet given to a connection.
    out: Vec<u8>,
    /// Everything sent on a reused connection, for a retry.
    replay: Option<Vec<u8>>,
    /// `replay` starts with the head; else the head is encoded again.
    replay_head: bool,
    /// The framing the head announced.
    head_framing: Framing,
    retried: bool,
    conn: Option<Rc<Conn>>,
    /// `Expect: 100-continue`: the body waits in `held`.
    hold: bool,
    held: Vec<u8>,
    /// The body was dropped after a final response came first.
    body_dropped: bool,
    drain_due: bool,
    /// The exchange is over: answered, failed or destroyed.
    done: bool,
}

impl ClientRequest {
    pub(super) fn new(agent: Agent, method: Method, url: &str) -> Result<ClientRequest> {
        let bad = |reason| Error::InvalidUrl {
            url: url.to_string(),
            reason,
        };
        let uri: Uri = url.parse().map_err(|_| bad("not a valid URL"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(_) => return Err(bad("only http:// and https:// URLs are supported")),
            None => return Err(bad("a URL needs a scheme (http:// or https://)")),
        };
        if tls && !cfg!(feature = "tls") {
            return Err(bad("https:// needs hinge's `tls` feature"));
        }
        let authority = uri.authority().ok_or(bad("a URL needs a host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user information in a URL is not supported"));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(bad("a URL needs a host"));
        }
        let default_port = if tls { 443 } else { 80 };
        let port = authority.port_u16().unwrap_or(default_port);
        let host_header = if port == default_port {
            host.to_string()
        } else {
            format!("{host}:{port}")
        };
        let host_value = HeaderValue::from_str(&host_header).map_err(|_| bad("an invalid host"))?;
        let target = if method == Method::CONNECT {
            format!("{host}:{port}")
        } else {
            uri.path_and_query()
                .map(|p| p.as_str())
                .filter(|p| !p.is_empty())
                .unwrap_or("/")
                .to_string()
        };
        Ok(ClientRequest {
            inner: Rc::new(ReqInner {
                agent,
                method,
                url: url.to_string(),
                key: Key {
                    tls,
                    host: host.to_string(),
                    port,
                },
                st: RefCell::new(ReqState {
                    target,
                    headers: vec![(header::HOST, host_value)],
                    head_written: false,
                    framing: Framing::Empty,
                    ended: false,
                    out: Vec::new(),
                    replay: None,
                    replay_head: false,
                    head_framing: Framing::Empty,
                    retried: false,
                    conn: None,
                    hold: false,
                    held: Vec::new(),
                    body_dropped: false,
                    drain_due: false,
                    done: false,
                }),
                response: Event::new(),
                information: Event::new(),
                upgrade: Event::new(),
                drain: Event::new(),
                socket: Event::new(),
                error: Event::new(),
            }),
        })
    }

    /// The method.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::HEAD, "http://127.0.0.1:9/")?;
    /// assert_eq!(req.method(), hinge::http::Method::HEAD);
    /// # req.destroy();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn method(&self) -> &Method {
        &self.inner.method
    }

    /// The URL as given.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::GET, "http://127.0.0.1:9/a?b")?;
    /// assert_eq!(req.url(), "http://127.0.0.1:9/a?b");
    /// # req.destroy();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The request target that goes on the request line: the URL's path
    /// and query (`/` if none), or `host:port` for CONNECT.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::GET, "http://127.0.0.1:9")?;
    /// assert_eq!(req.target(), "/");
    /// # req.destroy();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn target(&self) -> String {
        self.inner.st.borrow().target.clone()
    }

    /// Sends another request target than the URL's: an absolute URL to
    /// a forward proxy, or the `host:port` to tunnel to with CONNECT
    /// (the request's URL then names the proxy).
    ///
    /// ```no_run
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::CONNECT, "http://proxy.local:3128")?;
    /// req.set_target("example.com:443")?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_target(&self, target: &str) -> Result<()> {
        let valid = !target.is_empty() && target.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(Error::InvalidHttp {
                op: "set_target",
                what: "request target",
            });
        }
        let mut st = self.inner.st.borrow_mut();
        if st.head_written {
            return Err(head_sent("set_target"));
        }
        st.target = target.to_string();
        Ok(())
    }

    /// Sets header `name`, replacing any value it had (`host` included).
    /// An error once the head has gone out, or for an invalid name or
    /// value.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::GET, "http://127.0.0.1:9/")?;
    /// req.set_header("accept", "text/plain")?;
    /// assert_eq!(req.header("Accept").as_deref(), Some("text/plain"));
    /// # req.destroy();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_header<K, V>(&self, name: K, value: V) -> Result<()>
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        let (name, value) = header_pair("set_header", name, value)?;
        let mut st = self.inner.st.borrow_mut();
        if st.head_written {
            return Err(head_sent("set_header"));
        }
        st.headers.retain(|(n, _)| *n != name);
        st.headers.push((name, value));
        Ok(())
    }

    /// Adds a value for header `name`, keeping those it had.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::GET, "http://127.0.0.1:9/")?;
    /// req.append_header("cookie", "a=1")?;
    /// req.append_header("cookie", "b=2")?;
    /// # req.destroy();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn append_header<K, V>(&self, name: K, value: V) -> Result<()>
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        let (name, value) = header_pair("append_header", name, value)?;
        let mut st = self.inner.st.borrow_mut();
        if st.head_written {
            return Err(head_sent("append_header"));
        }
        st.headers.push((name, value));
        Ok(())
    }

    /// Removes header `name`; whether it was there.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::GET, "http://127.0.0.1:9/")?;
    /// assert!(req.remove_header("host"));
    /// # req.destroy();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn remove_header(&self, name: &str) -> bool {
        let mut st = self.inner.st.borrow_mut();
        let before = st.headers.len();
        if !st.head_written {
            st.headers
                .retain(|(n, _)| !n.as_str().eq_ignore_ascii_case(name));
        }
        st.headers.len() != before
    }

    /// The first value of header `name` as set so far.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::GET, "http://127.0.0.1:8080/")?;
    /// assert_eq!(req.header("host").as_deref(), Some("127.0.0.1:8080"));
    /// # req.destroy();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn header(&self, name: &str) -> Option<String> {
        let st = self.inner.st.borrow();
        let (_, v) = st
            .headers
            .iter()
            .find(|(n, _)| n.as_str().eq_ignore_ascii_case(name))?;
        v.to_str().ok().map(str::to_string)
    }

    /// Whether the head has gone out (headers can no longer change).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::GET, "http://127.0.0.1:9/")?;
    /// assert!(!req.headers_sent());
    /// # req.destroy();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn headers_sent(&self) -> bool {
        self.inner.st.borrow().head_written
    }

    /// Writes a piece of the body (the head first, if it has not gone:
    /// chunked unless a Content-Length was set). Returns `false` once
    /// the bytes queued for the connection pass the agent's
    /// [`high_water`](AgentConfig::high_water): wait for
    /// [`drain`](ClientRequest::on_drain) before writing more.
    ///
    /// Errors: after `end` or beyond the Content-Length set
    /// ([`Error::HttpState`]), or once the request failed or was
    /// destroyed ([`Error::Closed`]).
    ///
    /// ```no_run
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::POST, "http://127.0.0.1:8080/")?;
    /// if !req.write("part one, ")? {
    ///     // wait for `drain`
    /// }
    /// req.end("part two")?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn write<D: AsRef<[u8]>>(&self, data: D) -> Result<bool> {
        let data = data.as_ref();
        let (head, body) = self.encode("write", data, false)?;
        let ok = self.push(head, body);
        if !ok {
            self.inner.st.borrow_mut().drain_due = true;
        }
        Ok(ok)
    }

    /// Writes the last piece of the body (may be empty) and ends the
    /// request. With no earlier `write`, the body is sent with a
    /// Content-Length (none for a body-less GET, HEAD, DELETE, OPTIONS
    /// or TRACE).
    ///
    /// ```no_run
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::POST, "http://127.0.0.1:8080/")?;
    /// req.end(r#"{"hello":"world"}"#)?; // content-length: 17
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn end<D: AsRef<[u8]>>(&self, data: D) -> Result<()> {
        let (head, body) = self.encode("end", data.as_ref(), true)?;
        self.push(head, body);
        let conn = {
            let mut st = self.inner.st.borrow_mut();
            st.ended = true;
            st.conn.clone()
        };
        if let Some(conn) = conn {
            conn.request_ended();
        }
        Ok(())
    }

    /// Aborts the request: its connection is closed (not reused), no
    /// more events come. Safe at any time, and from any callback.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::GET, "http://127.0.0.1:9/")?;
    /// req.destroy();
    /// assert!(req.is_finished());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn destroy(&self) {
        let conn = {
            let mut st = self.inner.st.borrow_mut();
            if st.done {
                return;
            }
            st.done = true;
            st.out = Vec::new();
            st.held = Vec::new();
            st.replay = None;
            st.conn.take()
        };
        self.inner.agent.inner.dequeue(self);
        match conn {
            Some(conn) if conn.is_current(self) => conn.abort(),
            _ => {}
        }
        self.clear_listeners();
    }

    /// Whether the request has ended (`end` was called).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::GET, "http://127.0.0.1:9/")?;
    /// assert!(!req.is_ended());
    /// # req.destroy();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_ended(&self) -> bool {
        self.inner.st.borrow().ended
    }

    /// Whether the exchange is over: its response ended, or it failed,
    /// was handed over, or was destroyed.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::GET, "http://127.0.0.1:9/")?;
    /// assert!(!req.is_finished());
    /// # req.destroy();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.inner.st.borrow().done
    }

    /// Runs `f` with the final response, once its head has arrived.
    /// Without a listener the body is read and discarded (as in Node).
    ///
    /// ```no_run
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::GET, "http://127.0.0.1:8080/")?;
    /// req.on_response(|_, _, res| {
    ///     println!("{} {}", res.status(), res.header("content-type").unwrap_or("-"));
    ///     res.resume(); // the body is not wanted
    /// });
    /// req.end("")?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_response<F>(&self, f: F) -> ListenerId
    where
        F: FnMut(&Loop, &ClientRequest, &ClientResponse) + 'static,
    {
        self.inner.response.on(f)
    }

    /// Runs `f` for each 1xx interim response (`100 Continue`, `103
    /// Early Hints`...) before the final one; 101 is
    /// [`upgrade`](ClientRequest::on_upgrade).
    ///
    /// ```no_run
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::GET, "http://127.0.0.1:8080/")?;
    /// req.on_information(|_, _, info| println!("interim {}", info.status()));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_information<F>(&self, f: F) -> ListenerId
    where
        F: FnMut(&Loop, &ClientRequest, &ClientResponse) + 'static,
    {
        self.inner.information.on(f)
    }

    /// Runs `f` when the server switches protocols (101) or accepts a
    /// CONNECT (2xx): the socket leaves the agent and is the
    /// listener's. Without a listener, the socket is closed and the
    /// request fails.
    ///
    /// ```no_run
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::CONNECT, "http://127.0.0.1:3128")?;
    /// req.set_target("example.com:80")?;
    /// req.on_upgrade(|_, _, up| {
    ///     let _ = up.socket.send("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    /// });
    /// req.end("")?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_upgrade<F>(&self, f: F) -> ListenerId
    where
        F: FnMut(&Loop, &ClientRequest, &Upgraded) + 'static,
    {
        self.inner.upgrade.on(f)
    }

    /// Runs `f` when a [`write`](ClientRequest::write) that returned
    /// `false` has been flushed to the kernel.
    ///
    /// ```no_run
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::POST, "http://127.0.0.1:8080/")?;
    /// req.on_drain(|_, req| {
    ///     let _ = req.end("the rest");
    /// });
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_drain<F>(&self, mut f: F) -> ListenerId
    where
        F: FnMut(&Loop, &ClientRequest) + 'static,
    {
        self.inner.drain.on(move |lp, r, _| f(lp, r))
    }

    /// Runs `f` with the connection once the request has one and it is
    /// established (at once for a reused connection): for socket options
    /// or addresses.
    ///
    /// ```no_run
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::GET, "http://127.0.0.1:8080/")?;
    /// req.on_socket(|_, _, s| println!("from {:?}", s.local_addr()));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_socket<F>(&self, f: F) -> ListenerId
    where
        F: FnMut(&Loop, &ClientRequest, &Socket) + 'static,
    {
        self.inner.socket.on(f)
    }

    /// Runs `f` if the request fails: the connection could not be made
    /// or broke, a timeout passed, or the server's response was invalid
    /// ([`Error::InvalidResponse`]). Also the response body's errors
    /// when the response has no `error` listener. Without any listener
    /// the error is reported ([`report_unhandled`](crate::report_unhandled)).
    ///
    /// ```no_run
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::GET, "http://127.0.0.1:9/")?;
    /// req.on_error(|_, req, e| eprintln!("{}: {e}", req.url()));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_error<F>(&self, f: F) -> ListenerId
    where
        F: FnMut(&Loop, &ClientRequest, &Error) + 'static,
    {
        self.inner.error.on(f)
    }

    /// Removes a listener added with any of the `on_*` methods.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let req = hinge::http::request(&lp, hinge::http::Method::GET, "http://127.0.0.1:9/")?;
    /// let id = req.on_error(|_, _, _| {});
    /// assert!(req.off(id));
    /// # req.destroy();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn off(&self, id: ListenerId) -> bool {
        let i = &self.inner;
        i.response.off(id)
            || i.information.off(id)
            || i.upgrade.off(id)
            || i.drain.off(id)
            || i.socket.off(id)
            || i.error.off(id)
    }
}

impl std::fmt::Debug for ClientRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRequest")
            .field("method", &self.inner.method)
            .field("url", &self.inner.url)
            .finish()
    }
}

/// RFC 9110 §9.2.2's idempotent methods: safe to send twice.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// The body's framing, from the headers set or the first call: removes
/// a Content-Length or Transfer-Encoding the caller set (the encoder
/// writes it).
fn framing_for(method: &Method, st: &mut ReqState, last: bool, len: usize) -> Result<Framing> {
    let invalid = |what| Error::InvalidHttp {
        op: "request head",
        what,
    };
    let mut framing = None;
    for (name, value) in &st.headers {
        if *name == header::CONTENT_LENGTH {
            let n = std::str::from_utf8(value.as_bytes())
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or(invalid("Content-Length"))?;
            framing = Some(Framing::Length(n));
        } else if *name == header::TRANSFER_ENCODING {
            if !value.as_bytes().eq_ignore_ascii_case(b"chunked") {
                return Err(invalid("Transfer-Encoding (only chunked is supported)"));
            }
            framing = Some(Framing::Chunked);
        }
    }
    st.headers
        .retain(|(n, _)| *n != header::CONTENT_LENGTH && *n != header::TRANSFER_ENCODING);
    if let Some(f) = framing {
        return Ok(f);
    }
    let bodiless = matches!(
        *method,
        Method::GET
            | Method::HEAD
            | Method::DELETE
            | Method::OPTIONS
            | Method::TRACE
            | Method::CONNECT
    );
    Ok(match (last, len) {
        (true, 0) if bodiless => Framing::Empty,
        (true, n) => Framing::Length(n as u64),
        (false, _) => Framing::Chunked,
    })
}

fn head_sent(op: &'static str) -> Error {
    Error::HttpState {
        op,
        reason: "the head has gone out",
    }
}
