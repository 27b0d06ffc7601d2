//! One client connection: the exchange state machine on a hinge
//! `Socket`. A request is bound to it, its bytes go out, the response
//! head is parsed (1xx skipped or handed over), the body decoded and
//! delivered; then the connection goes back to its agent, or closes.

use std::time::Duration;

use super::agent::{AgentInner, Key};
use super::*;
use crate::http::proto::decode::{Decoder, Step};
use crate::http::proto::head::HeadBytes;
use crate::http::proto::status::{self, BodyKind, HeadLimits, ParsedStatus};
use crate::{ListenerId, Socket, Timer, Watcher};

/// Buffered, undelivered response bytes above which reading pauses.
const READ_AHEAD: usize = 64 * 1024;
/// How long a body waits for `100 Continue` before it goes anyway.
const CONTINUE_WAIT: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Kept by the agent for the next request.
    Idle,
    /// A request is bound; its response head is awaited.
    Head,
    /// The response body is being read.
    Body,
    /// Handed over after a 101 or a CONNECT's 2xx.
    Upgraded,
    Closed,
}

/// What the connection's one timer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Deadline {
    None,
    /// The response head must arrive (`head_timeout`).
    Head,
    /// An idle connection is dropped (`keep_alive_timeout`).
    KeepAlive,
    /// A body held for `100 Continue` goes anyway.
    Continue,
}

pub(super) struct Conn {
    agent: Weak<AgentInner>,
    pub(super) key: Key,
    /// `host:port`, for the errors of its responses.
    origin: Rc<str>,
    pub(super) sock: Socket,
    /// Counted in its host's open connections.
    pub(super) counted: Cell<bool>,
    timer: Timer,
    listeners: RefCell<Vec<ListenerId>>,
    st: RefCell<State>,
}

struct State {
    phase: Phase,
    req: Option<ClientRequest>,
    res: Option<ClientResponse>,
    inbuf: Vec<u8>,
    decoder: Option<Decoder>,
    /// Both sides allow another request on this connection.
    keep_alive: bool,
    /// This connection served a request before the current one.
    reused: bool,
    /// A byte of the current response arrived.
    got_bytes: bool,
    /// Inside `feed`: bytes from a nested run wait in `inbuf`.
    processing: bool,
    /// Reading paused for read-ahead (not by the user).
    throttled: bool,
    /// The server ended its side; concluded once `inbuf` is delivered.
    eof: bool,
    deadline: Deadline,
}

impl Conn {
    /// A new connection to `key`, its listeners attached.
    pub(super) fn connect(lp: &Loop, agent: &Rc<AgentInner>, key: Key) -> Result<Rc<Conn>> {
        let host = key.host.trim_start_matches('[').trim_end_matches(']');
        let sock = if key.tls {
            #[cfg(feature = "tls")]
            {
                Socket::connect_tls(lp, host, key.port, agent.tls_config())?
            }
            #[cfg(not(feature = "tls"))]
            unreachable!("https URLs are refused without the tls feature")
        } else {
            Socket::connect(lp, host, key.port)?
        };
        let config = &agent.config;
        if let Some(t) = config.connect_timeout {
            sock.set_connect_timeout(t);
            #[cfg(feature = "tls")]
            if key.tls {
                sock.set_handshake_timeout(t);
            }
        }
        sock.set_high_water_mark(config.high_water);
        sock.set_timeout(config.idle_timeout);
        sock.set_allow_half_open(false);
        let conn = Rc::new_cyclic(|weak: &Weak<Conn>| {
            let w = weak.clone();
            let timer = Timer::new(lp, Duration::ZERO, Duration::ZERO, move |lp, _| {
                if let Some(conn) = w.upgrade() {
                    conn.on_deadline(lp);
                }
            });
            timer.stop();
            Conn {
                agent: Rc::downgrade(agent),
                origin: format!("{}:{}", key.host, key.port).into(),
                key,
                sock,
                counted: Cell::new(true),
                timer,
                listeners: RefCell::new(Vec::new()),
                st: RefCell::new(State {
                    phase: Phase::Head,
                    req: None,
                    res: None,
                    inbuf: Vec::new(),
                    decoder: None,
                    keep_alive: true,
                    reused: false,
                    got_bytes: false,
                    processing: false,
                    throttled: false,
                    eof: false,
                    deadline: Deadline::None,
                }),
            }
        });
        conn.attach();
        Ok(conn)
    }

    fn attach(self: &Rc<Self>) {
        let s = &self.sock;
        let c = self.clone();
        let connect = s.on_connect(move |lp, s| {
            let _ = s.set_nodelay(true);
            if let Some(req) = c.request() {
                req.emit_socket(lp, s);
            }
        });
        let c = self.clone();
        let data = s.on_data(move |lp, _, bytes| c.feed(lp, bytes));
        let c = self.clone();
        let end = s.on_end(move |lp, _| c.on_eof(lp));
        let c = self.clone();
        let drain = s.on_drain(move |lp, _| {
            if let Some(req) = c.request() {
                req.on_socket_drain(lp);
            }
        });
        let c = self.clone();
        let timeout = s.on_timeout(move |lp, _| c.on_idle_timeout(lp));
        let c = self.clone();
        let error = s.on_error(move |lp, _, e| c.on_error(lp, e));
        let c = self.clone();
        let close = s.on_close(move |lp, _, _| c.on_close(lp));
        *self.listeners.borrow_mut() = vec![connect, data, end, drain, timeout, error, close];
    }

    /// Removes the socket listeners (they hold this connection).
    fn detach(&self) {
        for id in std::mem::take(&mut *self.listeners.borrow_mut()) {
            self.sock.off(id);
        }
        self.timer.stop();
    }

    pub(super) fn agent(&self) -> Option<Rc<AgentInner>> {
        self.agent.upgrade()
    }

    pub(super) fn label(&self) -> String {
        match self.sock.peer_addr() {
            Some(a) => a.to_string(),
            None => format!("{}:{}", self.key.host, self.key.port),
        }
    }

    fn request(&self) -> Option<ClientRequest> {
        self.st.borrow().req.clone()
    }

    pub(super) fn is_idle(&self) -> bool {
        self.st.borrow().phase == Phase::Idle && !self.sock.is_closed()
    }

    /// Whether `req` is this connection's current request.
    pub(super) fn is_current(&self, req: &ClientRequest) -> bool {
        self.st
            .borrow()
            .req
            .as_ref()
            .is_some_and(|r| Rc::ptr_eq(&r.inner, &req.inner))
    }

    /// Takes `req`: its waiting bytes go out.
    pub(super) fn bind(self: &Rc<Self>, lp: &Loop, req: ClientRequest) {
        let reused = {
            let mut st = self.st.borrow_mut();
            st.reused = st.phase == Phase::Idle;
            st.phase = Phase::Head;
            st.req = Some(req.clone());
            st.res = None;
            st.got_bytes = false;
            st.keep_alive = true;
            st.eof = false;
            st.reused
        };
        self.disarm();
        self.timer.ref_();
        self.sock.ref_();
        if reused {
            req.emit_socket(lp, &self.sock);
        }
        req.attach(lp, self.clone(), reused);
    }

    /// The request's head went out with `Expect: 100-continue`: its body
    /// waits for `100 Continue`, or a second.
    pub(super) fn await_continue(&self) {
        if self.st.borrow().deadline == Deadline::None {
            self.arm(Deadline::Continue, CONTINUE_WAIT);
        }
    }

    /// The request ended: the response head's deadline starts.
    pub(super) fn request_ended(&self) {
        let timeout = self.agent().and_then(|a| a.config.head_timeout);
        let st = self.st.borrow();
        if st.phase == Phase::Head && st.deadline != Deadline::Continue {
            drop(st);
            if let Some(t) = timeout {
                self.arm(Deadline::Head, t);
            }
        }
    }

    fn arm(&self, deadline: Deadline, after: Duration) {
        self.st.borrow_mut().deadline = deadline;
        self.timer.set(after, Duration::ZERO);
        self.timer.start();
    }

    fn disarm(&self) {
        self.st.borrow_mut().deadline = Deadline::None;
        self.timer.stop();
    }

    fn on_deadline(self: &Rc<Self>, lp: &Loop) {
        let deadline = std::mem::replace(&mut self.st.borrow_mut().deadline, Deadline::None);
        match deadline {
            Deadline::None => {}
            Deadline::Head => self.fail(lp, &timed_out("response head", self.label())),
            Deadline::KeepAlive => self.close_idle(),
            Deadline::Continue => {
                if let Some(req) = self.request() {
                    req.release_held(lp);
                    if req.is_ended() {
                        self.request_ended();
                    }
                }
            }
        }
    }

    fn on_idle_timeout(self: &Rc<Self>, lp: &Loop) {
        let phase = self.st.borrow().phase;
        if matches!(phase, Phase::Head | Phase::Body) {
            self.fail(lp, &timed_out("idle", self.label()));
        }
    }

    /// Back in the agent's pool: it no longer keeps the loop running.
    pub(super) fn go_idle(self: &Rc<Self>) {
        // (The socket's idle timer stays: it keeps no loop alive, and
        // an idle connection ignores it.)
        let keep = self.agent().map(|a| a.config.keep_alive_timeout);
        self.sock.unref();
        if let Some(keep) = keep {
            self.arm(Deadline::KeepAlive, keep);
            self.timer.unref();
        }
    }

    /// Closes a connection that has no request.
    pub(super) fn close_idle(&self) {
        let mut st = self.st.borrow_mut();
        if st.phase == Phase::Idle {
            st.phase = Phase::Closed;
            drop(st);
            self.timer.stop();
            self.sock.close();
        }
    }

    /// Bytes from the socket (none to deliver what waits in `inbuf`).
    fn feed(self: &Rc<Self>, lp: &Loop, bytes: &[u8]) {
        let buf = {
            let mut st = self.st.borrow_mut();
            if !bytes.is_empty() {
                st.got_bytes = true;
            }
            match st.phase {
                Phase::Idle if !bytes.is_empty() => {
                    drop(st);
                    self.stray(lp);
                    return;
                }
                Phase::Head | Phase::Body => {}
                _ => return,
            }
            if st.processing {
                st.inbuf.extend_from_slice(bytes);
                return;
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
        drop(guard);
        self.after_feed(lp);
    }

    /// Read-ahead, and an end of input that waited for the buffer.
    fn after_feed(self: &Rc<Self>, lp: &Loop) {
        let (buffered, eof, phase) = {
            let st = self.st.borrow();
            (st.inbuf.len(), st.eof, st.phase)
        };
        if eof && buffered == 0 && matches!(phase, Phase::Head | Phase::Body) {
            self.conclude_eof(lp);
            return;
        }
        let mut st = self.st.borrow_mut();
        if buffered >= READ_AHEAD && !st.throttled {
            st.throttled = true;
            drop(st);
            self.sock.pause();
        } else if buffered < READ_AHEAD && st.throttled {
            st.throttled = false;
            let paused = st.res.as_ref().is_some_and(|r| r.is_paused());
            drop(st);
            if !paused {
                self.sock.resume();
            }
        }
    }

    /// From the agent's prepare hook: delivers what waits.
    pub(super) fn pump(self: &Rc<Self>, lp: &Loop) {
        self.feed(lp, &[]);
    }

    /// The response's reader wants bytes (a listener, or a resume).
    pub(super) fn body_wanted(self: &Rc<Self>) {
        let (throttled, waiting) = {
            let st = self.st.borrow();
            (st.throttled, !st.inbuf.is_empty() || st.eof)
        };
        if !throttled {
            self.sock.resume();
        }
        if waiting {
            if let Some(agent) = self.agent() {
                agent.schedule(self.clone());
            }
        }
    }

    pub(super) fn pause_body(&self) {
        self.sock.pause();
    }

    /// Heads and body in order; returns how many bytes of `data` it used.
    fn process(self: &Rc<Self>, lp: &Loop, data: &[u8]) -> usize {
        let mut pos = 0;
        let mut heads = HeadBytes::new(data);
        loop {
            let phase = self.st.borrow().phase;
            match phase {
                Phase::Head => {
                    if pos == data.len() {
                        return pos;
                    }
                    let Some(req) = self.request() else {
                        return data.len();
                    };
                    let Some(agent) = self.agent() else {
                        return data.len();
                    };
                    let limits = HeadLimits {
                        max_head_bytes: agent.config.max_head_bytes,
                        max_headers: agent.config.max_headers,
                    };
                    heads.at = pos;
                    match status::parse_response(&data[pos..], limits, req.method(), &mut heads) {
                        Err(reason) => {
                            self.fail(lp, &self.invalid(reason));
                            return data.len();
                        }
                        Ok(ParsedStatus::Partial) => return pos,
                        Ok(ParsedStatus::Complete(head, n)) => {
                            pos += n;
                            if !self.on_head(lp, req, head, &data[pos..]) {
                                return data.len();
                            }
                        }
                    }
                }
                Phase::Body => {
                    let Some(res) = self.st.borrow().res.clone() else {
                        return data.len();
                    };
                    if !res.wants_data() {
                        return pos;
                    }
                    let Some(agent) = self.agent() else {
                        return data.len();
                    };
                    let step = {
                        let mut st = self.st.borrow_mut();
                        match st.decoder.as_mut() {
                            Some(d) => d.decode(data, &mut pos, &agent.decode),
                            None => Ok(Step::Done),
                        }
                    };
                    match step {
                        Ok(Step::Data(bytes)) => res.emit_data(lp, bytes),
                        Ok(Step::More) => return pos,
                        Ok(Step::Done) => {
                            let trailers = {
                                let mut st = self.st.borrow_mut();
                                st.decoder.as_mut().map(|d| d.take_trailers())
                            };
                            match trailers {
                                Some(Err(r)) => {
                                    self.fail(lp, &self.invalid(r.reason));
                                    return data.len();
                                }
                                Some(Ok(Some(t))) => res.set_trailers(t),
                                _ => {}
                            }
                            let extra = pos < data.len();
                            self.finish(lp, extra);
                            return data.len();
                        }
                        Err(r) => {
                            self.fail(lp, &self.invalid(r.reason));
                            return data.len();
                        }
                    }
                }
                Phase::Idle | Phase::Upgraded | Phase::Closed => return data.len(),
            }
        }
    }

    /// A complete head. Returns `false` if the connection is no longer
    /// reading responses (handed over, or failed).
    fn on_head(
        self: &Rc<Self>,
        lp: &Loop,
        req: ClientRequest,
        head: status::ResponseHead,
        rest: &[u8],
    ) -> bool {
        let code = head.status.as_u16();
        if code == 101 || head.body == BodyKind::Tunnel {
            self.hand_over(lp, req, head, rest);
            return false;
        }
        if (100..200).contains(&code) {
            let res =
                ClientResponse::new(head, Weak::new(), self.agent.clone(), self.origin.clone());
            if code == 100 {
                req.release_held(lp);
                self.disarm();
                if req.is_ended() {
                    self.request_ended();
                }
            }
            req.emit_information(lp, &res);
            return self.st.borrow().phase == Phase::Head;
        }
        let body = head.body;
        let keep_alive = head.keep_alive;
        let res = ClientResponse::new(
            head,
            Rc::downgrade(self),
            self.agent.clone(),
            self.origin.clone(),
        );
        {
            let mut st = self.st.borrow_mut();
            st.keep_alive = keep_alive;
            st.decoder = match body {
                BodyKind::Length(n) => Some(Decoder::length(n)),
                BodyKind::Chunked => Some(Decoder::chunked()),
                BodyKind::Close => Some(Decoder::Close),
                BodyKind::Empty | BodyKind::Tunnel => None,
            };
            st.phase = Phase::Body;
            st.res = Some(res.clone());
        }
        self.disarm();
        // A final answer before the body went: it will not go.
        req.drop_held();
        req.emit_response(lp, &res);
        self.st.borrow().phase == Phase::Body
    }

    /// A 101, or a 2xx to CONNECT: the socket leaves the agent.
    fn hand_over(
        self: &Rc<Self>,
        lp: &Loop,
        req: ClientRequest,
        head: status::ResponseHead,
        rest: &[u8],
    ) {
        {
            let mut st = self.st.borrow_mut();
            st.phase = Phase::Upgraded;
            st.req = None;
        }
        self.detach();
        self.sock.set_timeout(None);
        if let Some(agent) = self.agent() {
            agent.forget(lp, self);
        }
        let res = ClientResponse::new(head, Weak::new(), self.agent.clone(), self.origin.clone());
        res.mark_complete();
        req.emit_upgrade(lp, res, self.sock.clone(), rest.to_vec());
    }

    /// The response ended: the connection goes back to the agent if both
    /// sides allow it, or closes.
    fn finish(self: &Rc<Self>, lp: &Loop, extra: bool) {
        let (req, res, keep) = {
            let mut st = self.st.borrow_mut();
            let req = st.req.take();
            let res = st.res.take();
            st.decoder = None;
            let keep =
                st.keep_alive && !extra && !st.eof && req.as_ref().is_some_and(|r| r.sent_whole());
            st.phase = if keep { Phase::Idle } else { Phase::Closed };
            (req, res, keep)
        };
        self.disarm();
        if let Some(req) = &req {
            req.detach_conn();
        }
        if extra {
            self.report(&self.invalid("bytes after the end of the response"));
        }
        let agent = self.agent();
        if keep {
            if let Some(agent) = &agent {
                agent.release(lp, self);
            }
        } else {
            self.sock.close();
        }
        if let Some(res) = res {
            res.complete(lp);
        }
        if let Some(req) = req {
            req.finished();
        }
    }

    /// The server ended its side.
    fn on_eof(self: &Rc<Self>, lp: &Loop) {
        let (phase, buffered) = {
            let mut st = self.st.borrow_mut();
            st.eof = true;
            (st.phase, !st.inbuf.is_empty())
        };
        match phase {
            Phase::Idle => {
                self.st.borrow_mut().phase = Phase::Closed;
                self.timer.stop();
            }
            Phase::Head | Phase::Body if !buffered => self.conclude_eof(lp),
            _ => {} // concluded once the buffer is delivered
        }
    }

    fn conclude_eof(self: &Rc<Self>, lp: &Loop) {
        let (phase, close_delimited) = {
            let st = self.st.borrow();
            (st.phase, matches!(st.decoder, Some(Decoder::Close)))
        };
        match phase {
            Phase::Body if close_delimited => self.finish(lp, false),
            Phase::Body => self.fail(
                lp,
                &self.invalid("the connection closed before the body ended"),
            ),
            Phase::Head if !self.retry(lp) => {
                self.fail(lp, &self.invalid("the connection closed before a response"));
            }
            _ => {}
        }
    }

    fn on_error(self: &Rc<Self>, lp: &Loop, e: &Error) {
        let phase = self.st.borrow().phase;
        match phase {
            Phase::Head if self.retry(lp) => {}
            Phase::Head | Phase::Body => self.fail(lp, e),
            Phase::Idle => {
                self.st.borrow_mut().phase = Phase::Closed;
            }
            _ => {}
        }
    }

    fn on_close(self: &Rc<Self>, lp: &Loop) {
        let phase = self.st.borrow().phase;
        if matches!(phase, Phase::Head | Phase::Body) {
            let e = Error::Closed { op: "http request" };
            self.fail(lp, &e);
        }
        self.st.borrow_mut().phase = Phase::Closed;
        self.detach();
        if let Some(agent) = self.agent() {
            agent.forget(lp, self);
        }
    }

    /// Retries the current request on a fresh connection, if the rule
    /// allows: idempotent, on a reused connection, no byte of the
    /// response back. Returns whether it did.
    fn retry(self: &Rc<Self>, lp: &Loop) -> bool {
        let req = {
            let st = self.st.borrow();
            if st.phase != Phase::Head || !st.reused || st.got_bytes {
                return false;
            }
            match &st.req {
                Some(req) if req.can_retry() => req.clone(),
                _ => return false,
            }
        };
        let Some(agent) = self.agent() else {
            return false;
        };
        {
            let mut st = self.st.borrow_mut();
            st.phase = Phase::Closed;
            st.req = None;
        }
        self.disarm();
        self.sock.destroy();
        req.detach_for_retry();
        if let Err(e) = agent.acquire(lp, &req, true) {
            req.fail(lp, &e);
        }
        true
    }

    /// The current exchange failed: the response (or, before one, the
    /// request) gets `e`, and the connection closes.
    pub(super) fn fail(self: &Rc<Self>, lp: &Loop, e: &Error) {
        let (req, res) = {
            let mut st = self.st.borrow_mut();
            if !matches!(st.phase, Phase::Head | Phase::Body) {
                return;
            }
            st.phase = Phase::Closed;
            st.decoder = None;
            (st.req.take(), st.res.take())
        };
        self.disarm();
        self.sock.destroy();
        if let Some(req) = &req {
            req.detach_conn();
        }
        match res {
            Some(res) => {
                res.fail(lp, e, req.as_ref());
                if let Some(req) = req {
                    req.finished();
                }
            }
            None => {
                if let Some(req) = req {
                    req.fail(lp, e);
                }
            }
        }
    }

    /// Whether `res` is this connection's current response.
    pub(super) fn is_current_response(&self, res: &ClientResponse) -> bool {
        self.st
            .borrow()
            .res
            .as_ref()
            .is_some_and(|r| Rc::ptr_eq(&r.inner, &res.inner))
    }

    /// The user gave up on the current response (`destroy`, or
    /// `collect`'s limit): the connection closes, the exchange is over,
    /// with no event (the caller knows).
    pub(super) fn destroy_exchange(&self) {
        let req = {
            let mut st = self.st.borrow_mut();
            if !matches!(st.phase, Phase::Head | Phase::Body) {
                return;
            }
            st.phase = Phase::Closed;
            st.decoder = None;
            st.res = None;
            st.req.take()
        };
        self.disarm();
        self.sock.destroy();
        if let Some(req) = req {
            req.finished();
        }
    }

    /// Bytes on a connection with no request: a response nobody asked
    /// for. The connection cannot be trusted: it closes.
    fn stray(self: &Rc<Self>, lp: &Loop) {
        self.st.borrow_mut().phase = Phase::Closed;
        self.timer.stop();
        self.report(&self.invalid("a response nobody asked for, on an idle connection"));
        self.sock.destroy();
        if let Some(agent) = self.agent() {
            agent.forget(lp, self);
        }
    }

    fn report(&self, e: &Error) {
        crate::report_unhandled(format_args!("http client: {e}"));
    }

    fn invalid(&self, reason: &'static str) -> Error {
        Error::InvalidResponse {
            addr: self.label(),
            reason,
        }
    }

    /// The request gave up (`destroy`): the connection cannot be reused.
    /// (The socket's `close` then takes it out of the agent.)
    pub(super) fn abort(&self) {
        {
            let mut st = self.st.borrow_mut();
            st.phase = Phase::Closed;
            st.req = None;
            st.res = None;
        }
        self.disarm();
        self.sock.destroy();
    }
}

fn timed_out(op: &'static str, addr: String) -> Error {
    Error::TimedOut {
        op,
        addr,
        source: std::io::Error::new(std::io::ErrorKind::TimedOut, op),
    }
}

/// The end of a `feed`, also when a listener panics: unread input goes
/// back to the connection.
struct Feeding<'a> {
    conn: &'a Rc<Conn>,
    buf: Vec<u8>,
}

impl Drop for Feeding<'_> {
    fn drop(&mut self) {
        let mut st = self.conn.st.borrow_mut();
        st.processing = false;
        let nested = std::mem::take(&mut st.inbuf);
        st.inbuf = std::mem::take(&mut self.buf);
        st.inbuf.extend_from_slice(&nested);
        if std::thread::panicking() {
            // A listener panicked: the exchange is over, without events
            // (the panic is the report); its listeners go, so that none
            // holding its request or response keeps them alive.
            st.phase = Phase::Closed;
            let (req, res) = (st.req.take(), st.res.take());
            drop(st);
            self.conn.sock.destroy();
            if let Some(res) = res {
                res.abandon();
            }
            if let Some(req) = req {
                req.finished();
            }
        }
    }
}
