//! One HTTP connection: the exchange state machine on a hinge `Socket`.
//!
//! Requests are served one at a time, in order: while a response is
//! pending, later pipelined requests wait in the connection's buffer
//! (bounded: reading pauses beyond `READ_AHEAD`). Output goes to one
//! buffer per connection and reaches the socket in one `send` at the end
//! of each read (so a pipelined batch answered at once is one write), or
//! from the server's prepare hook before the loop blocks, for responses
//! written from other callbacks.
//!
//! | file | concern |
//! |---|---|
//! | `mod.rs` | the connection's state, its socket listeners |
//! | `read.rs` | bytes in: heads, the start of an exchange, bodies |
//! | `write.rs` | bytes out: heads, bodies, the end of a response |
//! | `close.rs` | the peer's end, refusals, closes, deadlines |

mod close;
mod read;
mod write;

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use ::http::header::{self, HeaderName, HeaderValue};
use ::http::{Method, StatusCode, Version};

use super::proto::decode::{Decoder, Step};
use super::proto::encode::{self, Framing, Persist};
use super::proto::head::{self, Head, Parsed, Refusal};
use super::request::{flag as req_flag, Request};
use super::response::{ResInner, ResState, Response};
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

    fn label(&self) -> String {
        self.sock
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "a client".to_string())
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
