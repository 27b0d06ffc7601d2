//! The response to one request: status and headers until the head is
//! sent, then a body streamed with `write` (backpressure via `drain`),
//! finished by `end`.

use std::cell::RefCell;
use std::rc::Rc;

use ::http::header::{self, HeaderName, HeaderValue};
use ::http::StatusCode;

use super::conn::Conn;
use super::proto::encode::Framing;
use crate::{Error, Event, ListenerId, Loop, Result};

/// The response to a [`Request`](super::Request), in Node's vocabulary.
///
/// - [`set_header`](Response::set_header) and
///   [`set_status`](Response::set_status) until the head is sent;
///   [`write_head`](Response::write_head) sets both at once.
/// - [`write`](Response::write) streams the body and returns `false`
///   once the connection's queue is above its high-water mark: wait for
///   [`drain`](Response::on_drain).
/// - [`end`](Response::end) finishes, optionally with a last piece.
///
/// Framing is automatic: when nothing was written before `end`, the body
/// is sent with a `Content-Length`; otherwise it is chunked (for an
/// HTTP/1.0 client, it is delimited by closing the connection). A
/// `Content-Length` you set yourself is honoured and enforced.
/// `Transfer-Encoding` and `Connection` are the server's to manage
/// (setting `Connection: close` closes after this response). A `Date`
/// header is added unless you set one.
///
/// A `Response` is an owned handle (`'static`): answer later, from a
/// timer or a [`Pool`](crate::Pool) callback. Responses on one connection
/// go out in request order.
///
/// **Dropped without `end`:** if no head was sent, the client gets
/// `500 Internal Server Error` and the connection stays usable; if the
/// head was sent, what was written is flushed and the connection is
/// closed, so the client sees a truncated body, never a hang. Either way
/// the mistake is reported (see [`report_unhandled`](crate::report_unhandled)).
///
/// **Kept and never ended:** the client waits, with no message, as long
/// as the connection lives, unless
/// [`Config::response_timeout`](crate::http::Config::response_timeout) is
/// set (it is off by default): then it gets a 503, or a close once the
/// head was sent.
///
/// ```no_run
/// let lp = hinge::Loop::new()?;
/// let server = hinge::http::Server::new(&lp);
/// server.on_request(|_, _, _req, res| {
///     res.set_header("content-type", "text/plain").ok();
///     res.end("Hello world!").ok();
/// });
/// server.listen(8080)?;
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone)]
pub struct Response {
    pub(super) inner: Rc<ResInner>,
}

pub(super) struct ResInner {
    /// `None` for a detached [`Response::example`].
    pub(super) conn: Option<Rc<Conn>>,
    pub(super) st: RefCell<ResState>,
    drain: Event<Response, ()>,
    close: Event<Response, ()>,
}

pub(super) struct ResState {
    pub status: StatusCode,
    pub headers: Headers,
    /// `write_head` was called, or something was written: no more header
    /// changes.
    pub committed: bool,
    /// The head is in the connection's output.
    pub head_written: bool,
    pub ended: bool,
    /// The connection went away (or the server answered an error itself).
    pub closed: bool,
    /// Wire framing of the body, once the head is written.
    pub framing: Framing,
    pub head_request: bool,
    pub http10: bool,
}

impl Response {
    pub(super) fn new(conn: Option<Rc<Conn>>, head_request: bool, http10: bool) -> Response {
        Response {
            inner: Rc::new(ResInner {
                conn,
                st: RefCell::new(ResState {
                    status: StatusCode::OK,
                    headers: Headers::default(),
                    committed: false,
                    head_written: false,
                    ended: false,
                    closed: false,
                    framing: Framing::Empty,
                    head_request,
                    http10,
                }),
                drain: Event::new(),
                close: Event::new(),
            }),
        }
    }

    /// Sets the status (200 unless set).
    ///
    /// ```
    /// # let res = hinge::http::Response::example();
    /// res.set_status(404)?;
    /// assert_eq!(res.status(), 404);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_status<S: TryInto<StatusCode>>(&self, status: S) -> Result<()> {
        let status = status_code("set_status", status)?;
        let mut st = self.inner.st.borrow_mut();
        if st.committed {
            return Err(sent("set_status"));
        }
        st.status = status;
        Ok(())
    }

    /// The status.
    ///
    /// ```
    /// # let res = hinge::http::Response::example();
    /// assert_eq!(res.status(), hinge::http::StatusCode::OK);
    /// ```
    pub fn status(&self) -> StatusCode {
        self.inner.st.borrow().status
    }

    /// Sets a header, replacing any of the same name. Names are
    /// case-insensitive and sent in lower case.
    ///
    /// ```
    /// # let res = hinge::http::Response::example();
    /// res.set_header("Content-Type", "text/html")?;
    /// assert_eq!(res.header("content-type").unwrap(), "text/html");
    /// assert!(res.set_header("bad name", "x").is_err());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_header<K, V>(&self, name: K, value: V) -> Result<()>
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        let (name, value) = header_pair("set_header", name, value)?;
        let mut st = self.inner.st.borrow_mut();
        if st.committed {
            return Err(sent("set_header"));
        }
        if st.headers.contains(&name) {
            st.headers.retain(|(n, _)| *n != name);
        }
        st.headers.push((name, value));
        Ok(())
    }

    /// Adds a header, keeping others of the same name (`set-cookie`).
    ///
    /// ```
    /// # let res = hinge::http::Response::example();
    /// res.append_header("set-cookie", "a=1")?;
    /// res.append_header("set-cookie", "b=2")?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn append_header<K, V>(&self, name: K, value: V) -> Result<()>
    where
        K: TryInto<HeaderName>,
        V: TryInto<HeaderValue>,
    {
        let (name, value) = header_pair("append_header", name, value)?;
        let mut st = self.inner.st.borrow_mut();
        if st.committed {
            return Err(sent("append_header"));
        }
        st.headers.push((name, value));
        Ok(())
    }

    /// Removes a header before the head is sent; returns whether there
    /// was one.
    ///
    /// ```
    /// # let res = hinge::http::Response::example();
    /// res.set_header("x-a", "1")?;
    /// assert!(res.remove_header("X-A"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn remove_header(&self, name: &str) -> bool {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            return false;
        };
        let mut st = self.inner.st.borrow_mut();
        if st.committed {
            return false;
        }
        let before = st.headers.len();
        st.headers.retain(|(n, _)| *n != name);
        st.headers.len() != before
    }

    /// A header set on this response.
    ///
    /// ```
    /// # let res = hinge::http::Response::example();
    /// assert!(res.header("content-type").is_none());
    /// ```
    pub fn header(&self, name: &str) -> Option<HeaderValue> {
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        let st = self.inner.st.borrow();
        let found = st
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone());
        found
    }

    /// Whether the head is fixed (`write_head`, `write` or `end` was
    /// called): headers can no longer change.
    ///
    /// ```
    /// # let res = hinge::http::Response::example();
    /// assert!(!res.headers_sent());
    /// ```
    pub fn headers_sent(&self) -> bool {
        self.inner.st.borrow().committed
    }

    /// Sets the status and headers at once and fixes the head. It goes
    /// out with the first body bytes (or `end`), so that `write_head`
    /// followed by `end(body)` still sends a `Content-Length`. A 1xx
    /// status (other than 101) is sent at once as an interim response,
    /// and the head stays open.
    ///
    /// ```
    /// # let res = hinge::http::Response::example();
    /// res.write_head(200, &[("content-type", "text/html")])?;
    /// assert!(res.headers_sent());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn write_head<S: TryInto<StatusCode>>(
        &self,
        status: S,
        headers: &[(&str, &str)],
    ) -> Result<()> {
        let status = status_code("write_head", status)?;
        let mut pairs = Vec::with_capacity(headers.len());
        for (n, v) in headers {
            pairs.push(header_pair("write_head", *n, *v)?);
        }
        if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
            return match &self.inner.conn {
                Some(conn) => conn.interim(&self.inner, status, &pairs),
                None => Ok(()),
            };
        }
        let mut st = self.inner.st.borrow_mut();
        if st.committed {
            return Err(sent("write_head"));
        }
        // Replaces headers set before; several pairs of one name all stay.
        if st
            .headers
            .iter()
            .any(|(n, _)| pairs.iter().any(|(p, _)| p == n))
        {
            st.headers
                .retain(|(n, _)| !pairs.iter().any(|(p, _)| p == n));
        }
        for pair in pairs {
            st.headers.push(pair);
        }
        st.status = status;
        st.committed = true;
        Ok(())
    }

    /// Writes a piece of the body (the head first, if not yet sent).
    /// Returns `Ok(false)` once the connection's queue is above its
    /// high-water mark: stop writing until [`drain`](Response::on_drain).
    /// A HEAD request's body is discarded (the headers stay as for GET).
    ///
    /// Errors: [`Error::Closed`] if the client is gone,
    /// [`Error::HttpState`] after `end`, beyond a `Content-Length` you
    /// set, or for a status that has no body (204, 304).
    ///
    /// ```
    /// # let res = hinge::http::Response::example();
    /// res.write("Hello ")?;
    /// res.end("world!\n")?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn write<D: AsRef<[u8]>>(&self, chunk: D) -> Result<bool> {
        self.body(chunk.as_ref(), false)
    }

    /// Finishes the response with a last piece of the body (`""` for
    /// none). When nothing was written before, the body goes out with a
    /// `Content-Length` in the same write as the head.
    ///
    /// ```
    /// # let res = hinge::http::Response::example();
    /// res.end("Hello world!")?;
    /// assert!(res.is_finished());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn end<D: AsRef<[u8]>>(&self, data: D) -> Result<()> {
        self.body(data.as_ref(), true).map(|_| ())
    }

    /// Answers `status` with its reason phrase as a short text body, and
    /// ends the response (a convenience for errors: 404, 413, ...).
    ///
    /// ```
    /// # let res = hinge::http::Response::example();
    /// res.error(404)?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn error<S: TryInto<StatusCode>>(&self, status: S) -> Result<()> {
        let status = status_code("error", status)?;
        self.set_status(status)?;
        self.set_header(header::CONTENT_TYPE, "text/plain")?;
        self.end(format!(
            "{}\n",
            status.canonical_reason().unwrap_or("Error")
        ))
    }

    /// Whether `end` was called.
    ///
    /// ```
    /// # let res = hinge::http::Response::example();
    /// assert!(!res.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.inner.st.borrow().ended
    }

    /// Gives up on the response, as Node's `res.destroy()`: the client
    /// gets what was written and then the connection closes, so a body
    /// cut short never looks complete (a `500` if not even the head was
    /// sent). Later writes fail with [`Error::Closed`]. For a failure
    /// while streaming, such as an upload that could not be read.
    ///
    /// ```
    /// # let res = hinge::http::Response::example();
    /// res.write("part of it")?;
    /// res.destroy();
    /// assert!(res.is_closed());
    /// assert!(res.write("more").is_err());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn destroy(&self) {
        let head_written = {
            let mut st = self.inner.st.borrow_mut();
            if st.ended || st.closed {
                return;
            }
            st.closed = true;
            st.head_written
        };
        self.clear_listeners();
        if let Some(conn) = &self.inner.conn {
            conn.destroyed(head_written);
        }
    }

    /// Whether the connection went away before the response ended.
    ///
    /// ```
    /// # let res = hinge::http::Response::example();
    /// assert!(!res.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.st.borrow().closed
    }

    /// Runs `f` when the connection's queue has drained after `write`
    /// returned `false`.
    ///
    /// While a response that has not ended has a `drain` listener, its
    /// connection keeps it alive, as Node keeps `res` until `end`: a
    /// listener that pumps the body through the `&Response` it is given
    /// needs no handle of its own. (Without one, dropping the last handle
    /// before `end` is the mistake described above.)
    ///
    /// ```no_run
    /// use hinge::http::Response;
    ///
    /// /// Writes chunks until the queue is full or the body is done.
    /// fn pump(res: &Response, next: &mut impl Iterator<Item = String>) {
    ///     loop {
    ///         let Some(chunk) = next.next() else {
    ///             res.end("").ok();
    ///             return;
    ///         };
    ///         if !res.write(chunk).unwrap_or(false) {
    ///             return; // `drain` calls us again
    ///         }
    ///     }
    /// }
    ///
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::http::Server::new(&lp);
    /// server.on_request(|_, _, _req, res| {
    ///     let mut lines = (0..1_000_000).map(|i| format!("line {i}\n"));
    ///     pump(&res, &mut lines);
    ///     res.on_drain(move |_, res| pump(res, &mut lines));
    ///     // `res` drops here: the connection keeps the response.
    /// });
    /// server.listen(8080)?;
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_drain<F>(&self, mut f: F) -> ListenerId
    where
        F: FnMut(&Loop, &Response) + 'static,
    {
        let id = self.inner.drain.on(move |lp, r, _| f(lp, r));
        if let Some(conn) = &self.inner.conn {
            conn.keep_response(&self.inner);
        }
        id
    }

    /// Runs `f` if the client goes away (or the server has to abort the
    /// exchange) before the response ended.
    ///
    /// ```
    /// # let res = hinge::http::Response::example();
    /// res.on_close(|_, _| println!("client gone"));
    /// ```
    pub fn on_close<F>(&self, mut f: F) -> ListenerId
    where
        F: FnMut(&Loop, &Response) + 'static,
    {
        self.inner.close.on(move |lp, r, _| f(lp, r))
    }

    /// Removes a listener added with `on_drain` or `on_close`.
    ///
    /// ```
    /// # let res = hinge::http::Response::example();
    /// let id = res.on_drain(|_, _| {});
    /// assert!(res.off(id));
    /// ```
    pub fn off(&self, id: ListenerId) -> bool {
        if self.inner.drain.off(id) {
            if self.inner.drain.listener_count() == 0 {
                if let Some(conn) = &self.inner.conn {
                    conn.release_response(&self.inner);
                }
            }
            return true;
        }
        self.inner.close.off(id)
    }

    /// A response with no connection, for examples and tests: its
    /// setters work and its body is discarded.
    ///
    /// ```
    /// let res = hinge::http::Response::example();
    /// res.end("nowhere")?;
    /// assert!(res.is_finished());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn example() -> Response {
        Response::new(None, false, false)
    }

    fn body(&self, data: &[u8], end: bool) -> Result<bool> {
        match &self.inner.conn {
            Some(conn) => conn.write_body(&self.inner, data, end),
            None => {
                let mut st = self.inner.st.borrow_mut();
                if st.closed {
                    return Err(Error::Closed {
                        op: if end { "end" } else { "write" },
                    });
                }
                if st.ended {
                    return Err(Error::HttpState {
                        op: "write",
                        reason: "the response has ended",
                    });
                }
                st.committed = true;
                st.ended |= end;
                Ok(true)
            }
        }
    }

    pub(super) fn emit_drain(&self, lp: &Loop) {
        self.inner.drain.emit(lp, self, &());
    }

    pub(super) fn emit_close(&self, lp: &Loop) {
        self.inner.close.emit(lp, self, &());
        self.clear_listeners();
    }

    pub(super) fn clear_listeners(&self) {
        self.inner.clear_listeners();
    }
}

impl ResInner {
    pub(super) fn clear_listeners(&self) {
        self.drain.clear();
        self.close.clear();
    }
}

impl Drop for ResInner {
    fn drop(&mut self) {
        let (ended, closed, head_written) = match self.st.try_borrow() {
            Ok(st) => (st.ended, st.closed, st.head_written),
            Err(_) => return,
        };
        if let (false, false, Some(conn)) = (ended, closed, &self.conn) {
            conn.abandoned(head_written);
        }
    }
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.st.borrow();
        f.debug_struct("Response")
            .field("status", &st.status)
            .field("headers_sent", &st.committed)
            .field("finished", &st.ended)
            .field("closed", &st.closed)
            .finish()
    }
}

fn sent(op: &'static str) -> Error {
    Error::HttpState {
        op,
        reason: "the head was already sent",
    }
}

fn status_code<S: TryInto<StatusCode>>(op: &'static str, status: S) -> Result<StatusCode> {
    status
        .try_into()
        .map_err(|_| Error::InvalidHttp { op, what: "status" })
}

/// A header name and value from what the caller gave (shared with the
/// client's requests).
pub(super) fn header_pair<K, V>(
    op: &'static str,
    name: K,
    value: V,
) -> Result<(HeaderName, HeaderValue)>
where
    K: TryInto<HeaderName>,
    V: TryInto<HeaderValue>,
{
    let name = name.try_into().map_err(|_| Error::InvalidHttp {
        op,
        what: "header name",
    })?;
    let value = value.try_into().map_err(|_| Error::InvalidHttp {
        op,
        what: "header value",
    })?;
    Ok((name, value))
}

/// A response's headers in order: the first few inline, so that a typical
/// response allocates nothing for them; the rest in a `Vec`.
#[derive(Default)]
pub(super) struct Headers {
    inline: [Option<(HeaderName, HeaderValue)>; 3],
    more: Vec<(HeaderName, HeaderValue)>,
    len: usize,
}

impl Headers {
    pub fn iter(&self) -> impl Iterator<Item = &(HeaderName, HeaderValue)> {
        // Only the slots in use: none to walk for a response without.
        let used = self.len.min(self.inline.len());
        self.inline[..used].iter().flatten().chain(self.more.iter())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether a header named `name` is there.
    pub fn contains(&self, name: &HeaderName) -> bool {
        self.iter().any(|(n, _)| n == name)
    }

    /// Appends, after every header already there.
    pub fn push(&mut self, header: (HeaderName, HeaderValue)) {
        if self.len < self.inline.len() {
            self.inline[self.len] = Some(header);
        } else {
            self.more.push(header);
        }
        self.len += 1;
    }

    /// Keeps the headers `keep` accepts, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&(HeaderName, HeaderValue)) -> bool) {
        let all = std::mem::take(self);
        for h in all.inline.into_iter().flatten().chain(all.more) {
            if keep(&h) {
                self.push(h);
            }
        }
    }
}
