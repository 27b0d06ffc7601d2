//! One HTTP connection: the exchange state machine on a hinge `Socket`.
//!
//! Requests are served one at a time, in order: while a response is
//! pending, later pipelined requests wait in the connection's buffer
//! (bounded: reading pauses beyond `READ_AHEAD`). Output goes to one
//! buffer per connection and reaches the socket in one `send` at the end
//! of each read (so a pipelined batch answered at once is one write), or
//! from the server's prepare hook before the loop blocks, for responses
//! written from other callbacks.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use ::http::header::{self, HeaderName, HeaderValue};
use ::http::{Method, StatusCode, Version};

use super::decode::{Decoder, Step};
use super::encode::{self, Framing, Persist};
use super::head::{self, Head, Parsed, Refusal};
use super::request::{flag as req_flag, Request};
use super::response::{ResInner, Response};
use super::server::Shared;
use crate::{Error, ListenerId, Loop, Socket};

/// Buffered, unprocessed input above which reading pauses.
const READ_AHEAD: usize = 64 * 1024;
/// Output above which a write goes to the socket at once.
const FLUSH_NOW: usize = 16 * 1024;
/// A body left unread when the response ends is read and discarded up to
/// this size (the connection then stays usable); a larger one closes it.
const DISCARD_MAX: u64 = 64 * 1024;
/// Buffers above this capacity are not kept between requests.
const KEEP_CAPACITY: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Waiting for (or reading) a request head.
    Head,
    /// Reading a request body.
    Body,
    /// Answered with an error or closing: reading and discarding until
    /// the peer closes or `linger` passes.
    Closing,
    /// Handed over to an upgrade or CONNECT handler.
    Upgraded,
    Closed,
}

pub(super) struct Conn {
    pub(super) shared: Rc<Shared>,
    sock: Socket,
    pub(super) slot: Cell<usize>,
    listeners: RefCell<Vec<ListenerId>>,
    pub(super) st: RefCell<State>,
}

pub(super) struct State {
    pub phase: Phase,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    /// Inside `feed`: output is flushed at its end.
    processing: bool,
    /// Queued on the server's prepare hook.
    scheduled: bool,
    /// Bytes of a pending head already searched for its end.
    scanned: usize,
    /// The first byte of the current head has arrived.
    head_started: bool,
    /// When the current deadline's clock started (loop time).
    pub since: f64,
    decoder: Option<Decoder>,
    req: Option<Request>,
    res: Weak<ResInner>,
    /// `res` itself, kept while it has `drain` listeners and has not
    /// ended (its listener may be all that can end it).
    res_kept: Option<Rc<ResInner>>,
    /// A response is in progress: later requests wait.
    res_pending: bool,
    /// The current exchange allows another request afterwards.
    keep_alive: bool,
    /// `Expect: 100-continue` still to be answered.
    continue_due: bool,
    /// The response ended before the body: discard the rest.
    discard: bool,
    /// Reading is paused for read-ahead (not by the user).
    throttled: bool,
    /// Closing: half-close and keep reading (see `close_gracefully`).
    linger: bool,
    /// A `write` returned `false`: `drain` is owed to the response.
    drain_due: bool,
    /// Requests wait because the output was backed up.
    held_back: bool,
    requests: u32,
    /// When the current response's request head arrived (loop time).
    res_since: f64,
    /// Send-timeout tracking: bytes written at `write_since`.
    write_mark: u64,
    write_since: f64,
}

impl State {
    /// Whether the rest of the current body (if any) is small enough to
    /// read and discard, keeping the connection.
    fn body_left_small(&self) -> bool {
        self.phase != Phase::Body
            || self
                .decoder
                .as_ref()
                .is_some_and(|d| d.is_done() || d.remaining().is_some_and(|n| n <= DISCARD_MAX))
    }

    /// Anything in progress: a response, a head, buffered input.
    pub fn is_busy(&self) -> bool {
        self.res_pending || self.head_started || !self.inbuf.is_empty()
    }
}

/// What the body step asks of the processing loop.
enum Flow {
    Continue,
    Stop,
    Abort,
}

impl Conn {
    pub(super) fn new(shared: Rc<Shared>, sock: Socket, now: f64) -> Rc<Conn> {
        Rc::new(Conn {
            shared,
            sock,
            slot: Cell::new(usize::MAX),
            listeners: RefCell::new(Vec::new()),
            st: RefCell::new(State {
                phase: Phase::Head,
                inbuf: Vec::new(),
                out: Vec::new(),
                processing: false,
                scheduled: false,
                scanned: 0,
                head_started: false,
                since: now,
                decoder: None,
                req: None,
                res: Weak::new(),
                res_kept: None,
                res_pending: false,
                keep_alive: true,
                continue_due: false,
                discard: false,
                throttled: false,
                linger: false,
                drain_due: false,
                held_back: false,
                requests: 0,
                res_since: now,
                write_mark: 0,
                write_since: now,
            }),
        })
    }

    pub(super) fn socket(&self) -> &Socket {
        &self.sock
    }

    /// Installs the socket listeners that drive this connection.
    pub(super) fn attach(self: &Rc<Self>) {
        let s = &self.sock;
        s.set_allow_half_open(true);
        s.set_high_water_mark(self.shared.config.high_water);
        let c = self.clone();
        let data = s.on_data(move |lp, _, bytes| c.feed(lp, bytes));
        let c = self.clone();
        let end = s.on_end(move |lp, _| c.on_peer_end(lp));
        let c = self.clone();
        let drain = s.on_drain(move |lp, _| c.on_drain(lp));
        let c = self.clone();
        let error = s.on_error(move |lp, _, e| c.shared.client_error(lp, e));
        let c = self.clone();
        let close = s.on_close(move |lp, _, _| c.on_close(lp));
        *self.listeners.borrow_mut() = vec![data, end, drain, error, close];
    }

    // ---- input ------------------------------------------------------

    /// Bytes from the socket (or none, to resume buffered input).
    pub(super) fn feed(self: &Rc<Self>, lp: &Loop, bytes: &[u8]) {
        self.shared.now.set(lp.now());
        let buf = {
            let mut st = self.st.borrow_mut();
            if st.processing {
                // A nested loop run inside a handler: keep the bytes in order.
                st.inbuf.extend_from_slice(bytes);
                return;
            }
            if st.phase != Phase::Head && st.phase != Phase::Body {
                return; // closing: discard
            }
            st.processing = true;
            std::mem::take(&mut st.inbuf)
        };
        let mut guard = Feeding { conn: self, buf };
        if guard.buf.is_empty() {
            let used = self.process(lp, bytes);
            if used < bytes.len() {
                guard.buf.extend_from_slice(&bytes[used..]);
            }
        } else {
            guard.buf.extend_from_slice(bytes);
            let buf = std::mem::take(&mut guard.buf);
            let used = self.process(lp, &buf);
            guard.buf = buf;
            guard.buf.drain(..used);
        }
    }

    /// The processing loop: heads, bodies, in order. Returns how many
    /// bytes of `data` it used; the rest waits.
    fn process(self: &Rc<Self>, lp: &Loop, data: &[u8]) -> usize {
        let config = &self.shared.config;
        let mut pos = 0;
        let mut heads = head::HeadBytes::new(data);
        self.st.borrow_mut().held_back = false;
        loop {
            let phase = self.st.borrow().phase;
            match phase {
                Phase::Head => {
                    let rest = &data[pos..];
                    if rest.is_empty() {
                        break;
                    }
                    if self.out_backed_up() {
                        // The client is not reading its answers: stop
                        // taking requests until the queue drains.
                        self.st.borrow_mut().held_back = true;
                        break;
                    }
                    {
                        let mut st = self.st.borrow_mut();
                        if st.res_pending {
                            break;
                        }
                        if !st.head_started {
                            st.head_started = true;
                            st.since = self.shared.now.get();
                        }
                        // A head can only complete on a LF: parse again
                        // only when one arrived (no quadratic slowloris).
                        let from = st.scanned.min(rest.len());
                        if !rest[from..].contains(&b'\n') {
                            st.scanned = rest.len();
                            drop(st);
                            if let Err(r) = head::check_partial(rest, config) {
                                self.refuse(lp, r);
                                return data.len();
                            }
                            break;
                        }
                    }
                    heads.at = pos;
                    match head::parse(rest, config, &mut heads) {
                        Err(r) => {
                            self.refuse(lp, r);
                            return data.len();
                        }
                        Ok(Parsed::Partial) => {
                            self.st.borrow_mut().scanned = rest.len();
                            break;
                        }
                        Ok(Parsed::Complete(head, n)) => {
                            pos += n;
                            if !self.start(lp, head, &data[pos..]) {
                                return data.len();
                            }
                        }
                    }
                }
                Phase::Body => match self.body_step(lp, data, &mut pos) {
                    Flow::Continue => {}
                    Flow::Stop => break,
                    Flow::Abort => return data.len(),
                },
                Phase::Closing => {
                    if pos < data.len() {
                        self.st.borrow_mut().linger = true;
                    }
                    return data.len();
                }
                Phase::Upgraded | Phase::Closed => return data.len(),
            }
        }
        pos
    }

    /// A complete head: starts the exchange, or hands the connection
    /// over. Returns `false` if the connection is no longer ours.
    fn start(self: &Rc<Self>, lp: &Loop, head: Head, rest: &[u8]) -> bool {
        let shared = &self.shared;
        let connect = head.method == Method::CONNECT;
        if connect || head.upgrade {
            let mut head = Some(head);
            let taken = shared.hand_over(lp, connect, || {
                let head = head.take().expect("taken once");
                self.hand_over(head, rest)
            });
            if taken {
                return false;
            }
            if connect {
                // A 2xx to CONNECT would make the rest of the connection
                // a tunnel: with nobody to run one, refuse it (as Node
                // closes it) rather than parse the tunnel as HTTP.
                self.refuse(lp, head::refuse(501, "CONNECT with no connect listener"));
                return false;
            }
            let Some(h) = head else { return false };
            return self.start_exchange(lp, h);
        }
        self.start_exchange(lp, head)
    }

    /// An ordinary request: the exchange starts, and the request
    /// listeners run.
    fn start_exchange(self: &Rc<Self>, lp: &Loop, head: Head) -> bool {
        let shared = &self.shared;
        let head_request = head.method == Method::HEAD;
        let http10 = head.version == Version::HTTP_10;
        let framing = head.framing;
        let expect = head.expect_continue;
        let client_keep_alive = head.keep_alive;
        let req = Request::new(head, Rc::downgrade(self));
        let res = Response::new(Some(self.clone()), head_request, http10);
        {
            let mut st = self.st.borrow_mut();
            st.requests = st.requests.saturating_add(1);
            let last = shared
                .config
                .max_requests_per_connection
                .is_some_and(|max| st.requests >= max);
            st.keep_alive = client_keep_alive && !last && !shared.closing.get();
            st.decoder = Some(match framing {
                head::Framing::Length(n) => Decoder::length(n),
                head::Framing::Chunked => Decoder::chunked(),
            });
            st.continue_due = expect && framing != head::Framing::Length(0);
            st.phase = Phase::Body;
            st.req = Some(req.clone());
            st.res = Rc::downgrade(&res.inner);
            st.res_pending = true;
            st.res_since = shared.now.get();
            st.discard = false;
            st.head_started = false;
            st.scanned = 0;
            st.since = shared.now.get();
        }
        shared.dispatch(lp, req, res);
        true
    }

    /// Lets go of the connection for an upgrade or CONNECT listener:
    /// what it gets is the request, the raw socket and the bytes after
    /// the head.
    fn hand_over(self: &Rc<Self>, head: Head, rest: &[u8]) -> (Request, Socket, Vec<u8>) {
        self.st.borrow_mut().phase = Phase::Upgraded;
        self.flush();
        for id in self.listeners.borrow_mut().drain(..) {
            self.sock.off(id);
        }
        self.sock.set_allow_half_open(false);
        if self.sock.is_paused() {
            self.sock.resume();
        }
        self.shared.forget(self);
        let req = Request::new(head, Weak::new());
        (req, self.sock.clone(), rest.to_vec())
    }

    fn body_step(self: &Rc<Self>, lp: &Loop, data: &[u8], pos: &mut usize) -> Flow {
        let config = &self.shared.config;
        let (req, discard) = {
            let st = self.st.borrow();
            (st.req.clone(), st.discard)
        };
        let Some(req) = req else {
            self.st.borrow_mut().phase = Phase::Head;
            return Flow::Continue;
        };
        let deliver = !discard && req.has(req_flag::FLOWING);
        let step = {
            let mut st = self.st.borrow_mut();
            let st = &mut *st;
            let Some(decoder) = st.decoder.as_mut() else {
                st.phase = Phase::Head;
                return Flow::Continue;
            };
            let idle = !deliver && !discard && !decoder.is_done();
            if idle || (deliver && req.is_paused()) {
                return Flow::Stop;
            }
            if st.continue_due && *pos < data.len() {
                // The client sent the body without waiting for 100.
                st.continue_due = false;
            }
            decoder.decode(data, pos, config)
        };
        match step {
            Err(r) => {
                self.refuse(lp, r);
                Flow::Abort
            }
            Ok(Step::More) => Flow::Stop,
            Ok(Step::Data(bytes)) => {
                self.st.borrow_mut().since = self.shared.now.get();
                if deliver {
                    req.emit_data(lp, bytes);
                }
                Flow::Continue
            }
            Ok(Step::Done) => {
                let trailers = {
                    let mut st = self.st.borrow_mut();
                    let trailers = st.decoder.as_mut().map(|d| d.take_trailers());
                    st.decoder = None;
                    st.phase = Phase::Head;
                    st.continue_due = false;
                    st.req = None;
                    st.since = self.shared.now.get();
                    trailers
                };
                self.retire(&req);
                match trailers.transpose() {
                    Ok(t) => {
                        if discard {
                            req.clear_listeners();
                        } else {
                            req.emit_end(lp, t.flatten());
                        }
                        Flow::Continue
                    }
                    Err(r) => {
                        self.refuse(lp, r);
                        Flow::Abort
                    }
                }
            }
        }
    }

    /// A data or end listener appeared: the body may flow, and a pending
    /// `100 Continue` is due.
    pub(super) fn body_wanted(self: &Rc<Self>) {
        {
            let mut st = self.st.borrow_mut();
            let head_written = st.res.upgrade().is_some_and(|r| r.st.borrow().head_written);
            if st.continue_due && !head_written && st.phase == Phase::Body {
                st.continue_due = false;
                st.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
        }
        self.schedule();
    }

    /// `res` got a `drain` listener: keep it while it has not ended, if
    /// it is this connection's current response.
    pub(super) fn keep_response(&self, res: &Rc<ResInner>) {
        let mut st = self.st.borrow_mut();
        let current = st.res.upgrade().is_some_and(|r| Rc::ptr_eq(&r, res));
        if current && st.res_kept.is_none() {
            st.res_kept = Some(res.clone());
        }
    }

    /// `res` lost its last `drain` listener: it lives as its handles do.
    pub(super) fn release_response(&self, res: &Rc<ResInner>) {
        let kept = {
            let mut st = self.st.borrow_mut();
            match &st.res_kept {
                Some(r) if Rc::ptr_eq(r, res) => st.res_kept.take(),
                _ => None,
            }
        };
        drop(kept); // the caller holds `res`: not the last reference
    }

    /// Whether `req` is this connection's current request (a handle kept
    /// from an earlier exchange must not pause or resume this one).
    pub(super) fn is_current(&self, req: &Request) -> bool {
        self.st
            .borrow()
            .req
            .as_ref()
            .is_some_and(|r| Rc::ptr_eq(&r.inner, &req.inner))
    }

    pub(super) fn resume_body(self: &Rc<Self>) {
        if !self.st.borrow().throttled {
            self.sock.resume();
        }
        self.schedule();
    }

    /// The request's exchange is over on the reading side: a pause it
    /// left must not stall the next request.
    fn retire(&self, req: &Request) {
        if req.is_paused() && !self.st.borrow().throttled && self.sock.is_paused() {
            self.sock.resume();
        }
    }

    /// Output waiting for the client is at the high-water mark.
    fn out_backed_up(&self) -> bool {
        let out = self.st.borrow().out.len();
        out + self.sock.pending_bytes() >= self.shared.config.high_water
    }

    fn on_peer_end(self: &Rc<Self>, lp: &Loop) {
        let _guard = CloseOnUnwind(self);
        let (phase, pending, req) = {
            let mut st = self.st.borrow_mut();
            st.keep_alive = false;
            (st.phase, st.res_pending, st.req.clone())
        };
        if phase == Phase::Body {
            if let Some(req) = req {
                req.emit_error(lp, "the client closed before the body ended");
            }
            self.st.borrow_mut().discard = true;
        }
        if pending && !self.shared.config.allow_half_open {
            let (res, kept) = {
                let mut st = self.st.borrow_mut();
                st.res_pending = false;
                (std::mem::take(&mut st.res).upgrade(), st.res_kept.take())
            };
            let _kept = kept;
            if let Some(res) = res {
                let open = {
                    let mut rs = res.st.borrow_mut();
                    let open = !rs.ended && !rs.closed;
                    rs.closed = true;
                    open
                };
                if open {
                    Response { inner: res }.emit_close(lp);
                }
            }
            self.close_gracefully(false);
        } else if !pending {
            self.close_gracefully(false);
        }
    }

    fn on_drain(self: &Rc<Self>, lp: &Loop) {
        let _guard = CloseOnUnwind(self);
        let res = {
            let mut st = self.st.borrow_mut();
            st.drain_due = false;
            st.res.upgrade()
        };
        // Requests held back while the client was not reading.
        self.schedule();
        if let Some(res) = res {
            Response { inner: res }.emit_drain(lp);
        }
    }

    fn on_close(self: &Rc<Self>, lp: &Loop) {
        let (req, res, kept) = {
            let mut st = self.st.borrow_mut();
            st.phase = Phase::Closed;
            st.inbuf = Vec::new();
            st.out = Vec::new();
            st.decoder = None;
            st.res_pending = false;
            let res = std::mem::take(&mut st.res).upgrade();
            (st.req.take(), res, st.res_kept.take())
        };
        // Dropped after `res` is marked closed below (no 500 for it).
        let _kept = kept;
        self.shared.forget(self);
        if let Some(req) = req {
            req.emit_error(lp, "the connection closed before the body ended");
            req.clear_listeners();
        }
        if let Some(res) = res {
            let open = {
                let mut st = res.st.borrow_mut();
                let open = !st.ended && !st.closed;
                st.closed = true;
                open
            };
            let res = Response { inner: res };
            if open {
                res.emit_close(lp);
            }
            res.clear_listeners();
        }
        self.listeners.borrow_mut().clear();
    }

    // ---- output -----------------------------------------------------

    /// Writes body bytes (and the head first, if due) for `res`.
    pub(super) fn write_body(
        self: &Rc<Self>,
        res: &Rc<ResInner>,
        data: &[u8],
        end: bool,
    ) -> crate::Result<bool> {
        let op = if end { "end" } else { "write" };
        {
            let mut rs = res.st.borrow_mut();
            if rs.ended {
                return Err(Error::HttpState {
                    op,
                    reason: "the response has ended",
                });
            }
            if rs.closed {
                rs.ended |= end;
                return Err(Error::Closed { op });
            }
            let no_body =
                rs.status == StatusCode::NO_CONTENT || rs.status == StatusCode::NOT_MODIFIED;
            if no_body && !data.is_empty() && !rs.head_request {
                return Err(Error::HttpState {
                    op,
                    reason: "this status has no body",
                });
            }
            let mut st = self.st.borrow_mut();
            if !rs.head_written {
                let known = if end { Some(data.len() as u64) } else { None };
                self.write_head(&mut st, &mut rs, known)?;
            }
            let mut truncated = false;
            match rs.framing {
                Framing::Empty => {
                    if !data.is_empty() && !rs.head_request {
                        return Err(Error::HttpState {
                            op,
                            reason: "this status has no body",
                        });
                    }
                }
                Framing::Length(left) => {
                    if data.len() as u64 > left {
                        return Err(Error::HttpState {
                            op,
                            reason: "more bytes than the Content-Length",
                        });
                    }
                    st.out.extend_from_slice(data);
                    rs.framing = Framing::Length(left - data.len() as u64);
                    truncated = end && left > data.len() as u64;
                }
                Framing::Chunked => {
                    encode::chunk(&mut st.out, data);
                    if end {
                        st.out.extend_from_slice(encode::LAST_CHUNK);
                    }
                }
                Framing::Close => st.out.extend_from_slice(data),
            }
            if end {
                rs.ended = true;
                if truncated || rs.framing == Framing::Close {
                    st.keep_alive = false;
                }
            }
            drop(st);
            drop(rs);
            if end {
                res.clear_listeners();
                self.finish_response();
                if truncated {
                    crate::report_unhandled(format_args!(
                        "http: a response ended short of its Content-Length; closing the connection"
                    ));
                    return Err(Error::HttpState {
                        op,
                        reason: "the body is shorter than the Content-Length",
                    });
                }
            }
        }
        Ok(self.after_write())
    }

    /// Appends the head of `rs` to the output.
    fn write_head(
        &self,
        st: &mut State,
        rs: &mut super::response::ResState,
        known: Option<u64>,
    ) -> crate::Result<()> {
        let status = rs.status;
        let no_body = status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
            || status.is_informational();
        let mut user_length = None;
        let mut user_date = false;
        let mut user_close = false;
        for (name, value) in rs.headers.iter() {
            if *name == header::CONTENT_LENGTH {
                let n = value
                    .to_str()
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok());
                user_length = Some(n.ok_or(Error::InvalidHttp {
                    op: "write_head",
                    what: "Content-Length",
                })?);
            } else if *name == header::DATE {
                user_date = true;
            } else if *name == header::CONNECTION {
                user_close |= value
                    .to_str()
                    .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
            }
        }
        // The framing the headers announce, then what goes on the wire.
        let announced = if no_body {
            Framing::Empty
        } else if let Some(n) = user_length.or(known) {
            Framing::Length(n)
        } else if rs.http10 {
            Framing::Close
        } else {
            Framing::Chunked
        };
        if st.continue_due {
            // Answered before the body was asked for: the client may or
            // may not send it, so this connection cannot be reused.
            st.continue_due = false;
            st.keep_alive = false;
        }
        if st.phase == Phase::Body
            && !st.req.as_ref().is_some_and(|r| r.has(req_flag::FLOWING))
            && !st.body_left_small()
        {
            // A large unread body will not be read past this answer.
            st.keep_alive = false;
        }
        if user_close || announced == Framing::Close || self.shared.closing.get() {
            st.keep_alive = false;
        }
        let persist = if !st.keep_alive {
            Persist::Close
        } else if rs.http10 {
            Persist::KeepAlive
        } else {
            Persist::Default
        };
        let managed = |n: &HeaderName| {
            *n == header::CONTENT_LENGTH
                || *n == header::TRANSFER_ENCODING
                || *n == header::CONNECTION
        };
        let headers = rs.headers.iter().filter(|(n, _)| !managed(n));
        let date = if user_date {
            None
        } else {
            Some((&self.shared.date, self.shared.now.get()))
        };
        encode::head(&mut st.out, status, headers, announced, persist, date);
        rs.framing = if rs.head_request {
            Framing::Empty
        } else {
            announced
        };
        rs.head_written = true;
        rs.committed = true;
        Ok(())
    }

    /// A 1xx interim response, sent before the final head.
    pub(super) fn interim(
        self: &Rc<Self>,
        res: &Rc<ResInner>,
        status: StatusCode,
        headers: &[(HeaderName, HeaderValue)],
    ) -> crate::Result<()> {
        if res.st.borrow().committed {
            return Err(Error::HttpState {
                op: "write_head",
                reason: "the head was already sent",
            });
        }
        if res.st.borrow().http10 {
            return Ok(()); // HTTP/1.0 clients get no interim responses
        }
        {
            let mut st = self.st.borrow_mut();
            if status == StatusCode::CONTINUE {
                if !st.continue_due {
                    return Ok(());
                }
                st.continue_due = false;
            }
            encode::head(
                &mut st.out,
                status,
                headers,
                Framing::Empty,
                Persist::Default,
                None,
            );
        }
        self.after_write();
        Ok(())
    }

    /// The response ended (or was abandoned): the next request may start.
    fn finish_response(self: &Rc<Self>) {
        let (close, unread, processing, kept) = {
            let mut st = self.st.borrow_mut();
            st.res_pending = false;
            st.res = Weak::new();
            let kept = st.res_kept.take();
            if self.shared.closing.get() {
                st.keep_alive = false;
            }
            if st.phase == Phase::Body {
                // A body still read (flowing, not paused) keeps coming to
                // its listeners; otherwise nobody will read the rest.
                let reading = st
                    .req
                    .as_ref()
                    .is_some_and(|r| r.has(req_flag::FLOWING) && !r.is_paused());
                if !reading {
                    // Discard it (a small one) and keep the connection,
                    // or close.
                    if !st.body_left_small() {
                        st.keep_alive = false;
                    }
                    st.discard = true;
                    st.since = self.shared.now.get();
                }
            } else {
                st.since = self.shared.now.get();
            }
            let unread =
                st.phase == Phase::Body && !st.decoder.as_ref().is_some_and(|d| d.is_done());
            (!st.keep_alive, unread, st.processing, kept)
        };
        drop(kept); // ended or abandoned: never the last reference here
        let req = self.st.borrow().req.clone();
        if let Some(req) = req.filter(|_| self.st.borrow().discard) {
            self.retire(&req);
        }
        if close {
            self.close_gracefully(unread);
        } else if !processing {
            // Answered from another callback: the next pipelined request
            // (if any) and the output go before the loop blocks.
            self.schedule();
        }
    }

    /// A response dropped without `end`.
    pub(super) fn abandoned(self: &Rc<Self>, head_written: bool) {
        let Ok(mut st) = self.st.try_borrow_mut() else {
            return;
        };
        if st.phase == Phase::Closed || st.phase == Phase::Closing {
            return;
        }
        if head_written {
            st.keep_alive = false;
            drop(st);
            crate::report_unhandled(format_args!(
                "http: a response was dropped after its head without end(); closing the connection"
            ));
        } else {
            let keep = st.keep_alive
                && !st.continue_due
                && st.body_left_small()
                && !std::thread::panicking();
            st.keep_alive = keep;
            let persist = if keep {
                Persist::Default
            } else {
                Persist::Close
            };
            let date = Some((&self.shared.date, self.shared.now.get()));
            encode::head(
                &mut st.out,
                StatusCode::INTERNAL_SERVER_ERROR,
                std::iter::empty(),
                Framing::Length(0),
                persist,
                date,
            );
            drop(st);
            crate::report_unhandled(format_args!(
                "http: a response was dropped without end(); answered 500"
            ));
        }
        self.finish_response();
        self.after_write();
    }

    /// `Response::destroy`: the exchange is given up on and the
    /// connection closes after what was written (a 500 if nothing was).
    pub(super) fn destroyed(self: &Rc<Self>, head_written: bool) {
        let Ok(mut st) = self.st.try_borrow_mut() else {
            return;
        };
        if st.phase == Phase::Closed || st.phase == Phase::Closing {
            return;
        }
        st.keep_alive = false;
        if !head_written {
            let date = Some((&self.shared.date, self.shared.now.get()));
            encode::head(
                &mut st.out,
                StatusCode::INTERNAL_SERVER_ERROR,
                std::iter::empty(),
                Framing::Length(0),
                Persist::Close,
                date,
            );
        }
        drop(st);
        self.finish_response();
        self.after_write();
    }

    /// Refuses the request with `r.status`, then closes gracefully.
    fn refuse(self: &Rc<Self>, lp: &Loop, r: Refusal) {
        let (req, res, kept) = {
            let mut st = self.st.borrow_mut();
            st.phase = Phase::Closing;
            st.keep_alive = false;
            st.res_pending = false;
            st.decoder = None;
            let res = std::mem::take(&mut st.res).upgrade();
            (st.req.take(), res, st.res_kept.take())
        };
        let _kept = kept;
        let answered = match &res {
            Some(res) => {
                let mut rs = res.st.borrow_mut();
                let written = rs.head_written;
                rs.closed = true;
                !written
            }
            None => true,
        };
        if answered {
            let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
            let body = format!(
                "{}: {}\n",
                status.canonical_reason().unwrap_or("Error"),
                r.reason
            );
            let mut st = self.st.borrow_mut();
            let date = Some((&self.shared.date, self.shared.now.get()));
            let headers = [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))];
            encode::head(
                &mut st.out,
                status,
                &headers,
                Framing::Length(body.len() as u64),
                Persist::Close,
                date,
            );
            st.out.extend_from_slice(body.as_bytes());
        }
        // Either way, what is already written goes out before the close:
        // a response begun before the error (an echo of the first
        // chunks, say) is cut short, never silently dropped.
        self.close_gracefully(true);
        self.shared.client_error(
            lp,
            &Error::BadRequest {
                status: r.status,
                reason: r.reason,
                addr: self.label(),
            },
        );
        if let Some(req) = req {
            req.emit_error(lp, r.reason);
        }
        if let Some(res) = res {
            Response { inner: res }.emit_close(lp);
        }
    }

    fn label(&self) -> String {
        self.sock
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "a client".to_string())
    }

    /// Closes once the output is flushed. With `linger` (an error answer,
    /// or input left unread), it half-closes instead and discards input
    /// until the peer closes or `linger` passes, so that the client reads
    /// the answer rather than a reset; a clean exchange closes at once.
    pub(super) fn close_gracefully(self: &Rc<Self>, linger: bool) {
        {
            let mut st = self.st.borrow_mut();
            if st.phase == Phase::Closed || st.phase == Phase::Upgraded {
                return;
            }
            st.phase = Phase::Closing;
            st.since = self.shared.now.get();
            st.linger |= linger || !st.inbuf.is_empty();
            st.inbuf = Vec::new();
            if st.processing {
                // `feed` flushes and closes at its end.
                return;
            }
        }
        self.flush();
        self.shut();
    }

    /// The last step of a close: a half-close that lingers, or a close.
    fn shut(&self) {
        if self.st.borrow().linger {
            self.sock.end();
            if self.sock.is_paused() {
                self.sock.resume();
            }
        } else {
            self.sock.close();
        }
    }

    /// Sends the output now, or soon: at the end of the current `feed`,
    /// or from the prepare hook. Returns `false` when the socket is above
    /// its high-water mark.
    fn after_write(self: &Rc<Self>) -> bool {
        let (processing, out) = {
            let st = self.st.borrow();
            (st.processing, st.out.len())
        };
        if processing {
            let ok = self.sock.pending_bytes() + out < self.shared.config.high_water;
            if !ok {
                // The socket may take it all when the read ends, and then
                // owes no drain: `pump` emits it instead.
                self.st.borrow_mut().drain_due = true;
            }
            return ok;
        }
        let big = out >= FLUSH_NOW;
        if big || self.sock.pending_bytes() > 0 {
            return self.flush();
        }
        self.schedule();
        true
    }

    /// Hands the output to the socket. Returns `false` above the
    /// high-water mark.
    pub(super) fn flush(&self) -> bool {
        let mut out = {
            let mut st = self.st.borrow_mut();
            if st.out.is_empty() {
                return self.sock.pending_bytes() < self.shared.config.high_water;
            }
            std::mem::take(&mut st.out)
        };
        let ok = self.sock.send(&out).unwrap_or(false);
        out.clear();
        let mut st = self.st.borrow_mut();
        if st.out.is_empty() && out.capacity() <= KEEP_CAPACITY && st.phase != Phase::Closed {
            st.out = out;
        }
        ok
    }

    /// Queues this connection on the server's prepare hook.
    pub(super) fn schedule(self: &Rc<Self>) {
        {
            let mut st = self.st.borrow_mut();
            if st.scheduled || st.phase == Phase::Closed || st.phase == Phase::Upgraded {
                return;
            }
            st.scheduled = true;
        }
        self.shared.schedule(self.clone());
    }

    /// From the prepare hook: processes waiting input, then flushes.
    pub(super) fn pump(self: &Rc<Self>, lp: &Loop) {
        let closing = {
            let mut st = self.st.borrow_mut();
            st.scheduled = false;
            st.phase == Phase::Closing
        };
        if closing {
            self.flush();
            return;
        }
        self.feed(lp, &[]);
        if !self.st.borrow().processing {
            self.flush();
        }
        let owed = {
            let mut st = self.st.borrow_mut();
            let owed = st.drain_due && self.sock.pending_bytes() < self.shared.config.high_water;
            if owed {
                st.drain_due = false;
            }
            owed.then(|| st.res.upgrade()).flatten()
        };
        if let Some(res) = owed {
            let _guard = CloseOnUnwind(self);
            Response { inner: res }.emit_drain(lp);
        }
    }

    /// The deadlines, checked by the server's timer.
    pub(super) fn check(self: &Rc<Self>, lp: &Loop, now: f64) {
        let config = &self.shared.config;
        let (phase, since, pending, head_started, requests, buffered, paused, discard) = {
            let st = self.st.borrow();
            (
                st.phase,
                st.since,
                st.res_pending,
                st.head_started,
                st.requests,
                !st.inbuf.is_empty(),
                st.req
                    .as_ref()
                    .is_some_and(|r| r.is_paused() || !r.has(req_flag::FLOWING)),
                st.discard,
            )
        };
        let age = now - since;
        let res_age = now - self.st.borrow().res_since;
        if pending
            && config
                .response_timeout
                .is_some_and(|t| res_age > t.as_secs_f64())
        {
            // Answered 503 if no head went out; else what was written
            // goes, then the close.
            self.refuse(lp, head::refuse(503, "the response took too long"));
            return;
        }
        if self.sock.pending_bytes() > 0 && matches!(phase, Phase::Head | Phase::Closing) {
            // Still writing: idleness and the linger start once the
            // output is out (a stalled client meets send_timeout below).
            self.st.borrow_mut().since = now;
        } else {
            match phase {
                Phase::Head if !pending => {
                    if head_started || buffered {
                        if age > config.headers_timeout.as_secs_f64() {
                            self.refuse(lp, head::refuse(408, "the request head took too long"));
                            return;
                        }
                    } else if requests == 0 {
                        if age > config.headers_timeout.as_secs_f64() {
                            self.close_gracefully(false);
                            return;
                        }
                    } else if age > config.keep_alive_timeout.as_secs_f64() {
                        self.close_gracefully(false);
                        return;
                    }
                }
                Phase::Body if discard && age > config.body_timeout.as_secs_f64() => {
                    // Answered, and the rest of the body stopped coming.
                    self.sock.destroy();
                    return;
                }
                Phase::Body if !paused && !discard && age > config.body_timeout.as_secs_f64() => {
                    self.refuse(lp, head::refuse(408, "the request body stalled"));
                    return;
                }
                Phase::Closing if age > config.linger.as_secs_f64() => {
                    self.sock.destroy();
                    return;
                }
                _ => {}
            }
        }
        // A client that stops reading: no write progress for send_timeout.
        let pending_bytes = self.sock.pending_bytes();
        let written = self.sock.bytes_written();
        let mut st = self.st.borrow_mut();
        if pending_bytes == 0 || written != st.write_mark {
            st.write_mark = written;
            st.write_since = now;
        } else if now - st.write_since > config.send_timeout.as_secs_f64() {
            drop(st);
            self.sock.destroy();
        }
    }
}

/// The end of a `feed`, also when a handler panics: the unread input goes
/// back, and the output is flushed.
struct Feeding<'a> {
    conn: &'a Rc<Conn>,
    buf: Vec<u8>,
}

impl Drop for Feeding<'_> {
    fn drop(&mut self) {
        let conn = self.conn;
        let Ok(mut st) = conn.st.try_borrow_mut() else {
            return;
        };
        if st.phase == Phase::Upgraded {
            // The socket is the upgrade handler's now.
            st.processing = false;
            return;
        }
        if std::thread::panicking() {
            // A handler panicked: hinge drops the socket's panicking
            // listener, and this exchange's state is unknown. Close.
            st.phase = Phase::Closing;
            st.since = conn.shared.now.get();
        }
        st.processing = false;
        let closing = st.phase != Phase::Head && st.phase != Phase::Body;
        let mut buf = std::mem::take(&mut self.buf);
        if closing {
            buf = Vec::new();
        } else {
            buf.extend_from_slice(&st.inbuf);
            if buf.is_empty() && buf.capacity() > KEEP_CAPACITY {
                buf = Vec::new();
            }
        }
        st.inbuf = buf;
        // Read-ahead: stop reading while too much waits unprocessed; not
        // for an incomplete head, which only more input can finish (its
        // limit is max_head_bytes).
        let partial_head = st.phase == Phase::Head && !st.res_pending && !st.held_back;
        let over = st.inbuf.len() > READ_AHEAD && !partial_head;
        let throttle = over && !st.throttled;
        let unthrottle = !over && st.throttled;
        st.throttled = over;
        let user_paused = st.req.as_ref().is_some_and(|r| r.is_paused());
        let phase = st.phase;
        drop(st);
        if throttle {
            conn.sock.pause();
        } else if unthrottle && !user_paused {
            conn.sock.resume();
        }
        conn.flush();
        if phase == Phase::Closing {
            conn.shut();
        } else if !std::thread::panicking() {
            let st = conn.st.borrow();
            let blocked = conn.sock.pending_bytes() >= conn.shared.config.high_water;
            let waiting = st.held_back;
            let owed = st.drain_due;
            drop(st);
            // A drain owed while the socket took everything, or requests
            // held back by output the socket has since taken: `pump`.
            if !blocked && (owed || waiting) {
                conn.schedule();
            }
        }
    }
}

/// Closes the connection if a user listener reached through it panics
/// (hinge then drops the socket listener that was running, so the
/// connection could not go on).
struct CloseOnUnwind<'a>(&'a Rc<Conn>);

impl Drop for CloseOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.sock.destroy();
        }
    }
}
