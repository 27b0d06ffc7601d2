//! The read side: bytes in, heads parsed, exchanges started (or the
//! connection handed over), bodies decoded and delivered.

use super::*;

impl Conn {
    /// Bytes from the socket (or none, to resume buffered input).
    pub(in crate::http) fn feed(self: &Rc<Self>, lp: &Loop, bytes: &[u8]) {
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
    pub(super) fn process(self: &Rc<Self>, lp: &Loop, data: &[u8]) -> usize {
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
                        // A first try parses at once (as pipelined heads
                        // are complete): it costs what the search would.
                        let from = st.scanned.min(rest.len());
                        if from > 0 && !rest[from..].contains(&b'\n') {
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
    #[inline]
    pub(super) fn start(self: &Rc<Self>, lp: &Loop, head: Head, rest: &[u8]) -> bool {
        if head.method == Method::CONNECT || head.upgrade {
            return self.start_handover(lp, head, rest);
        }
        self.start_exchange(lp, head)
    }

    /// A CONNECT or an upgrade: handed over to its listeners, refused,
    /// or (an upgrade nobody takes) served as an ordinary request.
    #[cold]
    #[inline(never)]
    fn start_handover(self: &Rc<Self>, lp: &Loop, head: Head, rest: &[u8]) -> bool {
        let connect = head.method == Method::CONNECT;
        if self.shared.takes_over(connect) {
            let taken = self.hand_over(head, rest);
            let sock = taken.1.clone();
            self.shared.hand_over(lp, connect, taken);
            // A listener that attached `data` listeners gets the socket
            // flowing; otherwise it stays paused and the next bytes wait
            // in the kernel (for a task's reads, or a later `resume()`)
            // instead of going to nobody.
            if sock.is_paused() && sock.listeners(crate::SocketEvent::Data) > 0 {
                sock.resume();
            }
            return false;
        }
        if connect {
            // A 2xx to CONNECT would make the rest of the connection a
            // tunnel: with nobody to run one, refuse it (as Node closes
            // it) rather than parse the tunnel as HTTP.
            self.refuse(lp, head::refuse(501, "CONNECT with no connect listener"));
            return false;
        }
        self.start_exchange(lp, head)
    }

    /// An ordinary request: the exchange starts, and the request
    /// listeners run.
    #[inline]
    pub(super) fn start_exchange(self: &Rc<Self>, lp: &Loop, head: Head) -> bool {
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
    pub(super) fn hand_over(
        self: &Rc<Self>,
        head: Head,
        rest: &[u8],
    ) -> (Request, Socket, Vec<u8>) {
        self.st.borrow_mut().phase = Phase::Upgraded;
        self.flush();
        for id in self.listeners.borrow_mut().drain(..) {
            self.sock.off(id);
        }
        self.sock.set_allow_half_open(false);
        // Paused while the listeners run: this read loop must not read on
        // for a listener that has not attached `data` yet.
        self.sock.pause();
        self.shared.forget(self);
        let req = Request::new(head, Weak::new());
        (req, self.sock.clone(), rest.to_vec())
    }

    pub(super) fn body_step(self: &Rc<Self>, lp: &Loop, data: &[u8], pos: &mut usize) -> Flow {
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
    pub(in crate::http) fn body_wanted(self: &Rc<Self>) {
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

    pub(in crate::http) fn resume_body(self: &Rc<Self>) {
        if !self.st.borrow().throttled {
            self.sock.resume();
        }
        self.schedule();
    }

    /// The request's exchange is over on the reading side: a pause it
    /// left must not stall the next request.
    pub(super) fn retire(&self, req: &Request) {
        if req.is_paused() && !self.st.borrow().throttled && self.sock.is_paused() {
            self.sock.resume();
        }
    }

    /// Output waiting for the client is at the high-water mark.
    pub(super) fn out_backed_up(&self) -> bool {
        let out = self.st.borrow().out.len();
        out + self.sock.pending_bytes() >= self.shared.config.high_water
    }
}

/// The end of a `feed`, also when a handler panics: the unread input goes
/// back, and the output is flushed.
pub(super) struct Feeding<'a> {
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
