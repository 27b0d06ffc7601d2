//! The request's crate side: its bytes encoded and handed to a
//! connection (or queued until it has one), the copy kept for a retry,
//! the held body of `Expect: 100-continue`, and the events the
//! connection emits through it.

use super::*;

impl ClientRequest {
    /// The head (if not yet sent) and the body bytes of a `write` or an
    /// `end`, encoded.
    pub(super) fn encode(
        &self,
        op: &'static str,
        data: &[u8],
        last: bool,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let mut st = self.inner.st.borrow_mut();
        if st.done {
            return Err(Error::Closed { op });
        }
        if st.ended {
            return Err(Error::HttpState {
                op,
                reason: "the request has ended",
            });
        }
        let mut head = Vec::new();
        if !st.head_written {
            let size: usize = st
                .headers
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len() + 4)
                .sum();
            head.reserve(st.target.len() + size + 64);
            let framing = framing_for(&self.inner.method, &mut st, last, data.len())?;
            st.framing = framing;
            st.head_framing = framing;
            st.head_written = true;
            encode::request_head(
                &mut head,
                &self.inner.method,
                &st.target,
                &st.headers,
                framing,
            );
            let expect = st.headers.iter().any(|(n, v)| {
                *n == header::EXPECT && v.as_bytes().eq_ignore_ascii_case(b"100-continue")
            });
            st.hold = expect && framing != Framing::Empty && framing != Framing::Length(0);
            if st.hold {
                if let Some(conn) = &st.conn {
                    conn.await_continue();
                }
            }
        }
        let mut body = Vec::new();
        match st.framing {
            Framing::Length(left) => {
                let n = data.len() as u64;
                if n > left {
                    return Err(Error::HttpState {
                        op,
                        reason: "more bytes than the Content-Length",
                    });
                }
                if last && n < left {
                    return Err(Error::HttpState {
                        op,
                        reason: "fewer bytes than the Content-Length",
                    });
                }
                st.framing = Framing::Length(left - n);
                body.extend_from_slice(data);
            }
            Framing::Chunked => {
                encode::chunk(&mut body, data);
                if last {
                    body.extend_from_slice(encode::LAST_CHUNK);
                }
            }
            Framing::Empty | Framing::Close => {
                if !data.is_empty() {
                    return Err(Error::HttpState {
                        op,
                        reason: "a body on a request sent without one",
                    });
                }
            }
        }
        Ok((head, body))
    }

    /// Hands encoded bytes on: to the connection's socket, or to the
    /// queue until the request has one. Returns `false` past the high-water mark.
    pub(super) fn push(&self, mut head: Vec<u8>, body: Vec<u8>) -> bool {
        let high_water = self.inner.agent.inner.config.high_water;
        let (conn, bytes) = {
            let mut st = self.inner.st.borrow_mut();
            // The replay copy has what went (or goes now) to the
            // connection; a held body joins it when it is released.
            // (A head that goes after the connection was bound is not
            // copied: a retry encodes it again.)
            let hold = st.hold;
            let kept = if hold { 0 } else { body.len() };
            let head_kept = if st.replay_head { head.len() } else { 0 };
            if let Some(replay) = &mut st.replay {
                if replay.len() + head_kept + kept > REPLAY_MAX {
                    st.replay = None;
                } else {
                    replay.extend_from_slice(&head[..head_kept]);
                    if !hold {
                        replay.extend_from_slice(&body);
                    }
                }
            }
            if st.hold {
                st.held.extend_from_slice(&body);
            } else if head.is_empty() {
                head = body;
            } else {
                head.extend_from_slice(&body);
            }
            let held = st.held.len();
            match st.conn.clone() {
                Some(conn) => (conn, head),
                None => {
                    st.out.extend_from_slice(&head);
                    return st.out.len() + held < high_water;
                }
            }
        };
        let held = self.inner.st.borrow().held.len();
        if bytes.is_empty() {
            return conn.sock.pending_bytes() + held < high_water;
        }
        conn.sock.send(bytes).unwrap_or(false) && held < high_water
    }

    /// Bound to `conn`: what waited goes out.
    pub(in crate::http::client) fn attach(&self, lp: &Loop, conn: Rc<Conn>, reused: bool) {
        let (out, hold, ended) = {
            let mut st = self.inner.st.borrow_mut();
            st.conn = Some(conn.clone());
            if reused && is_idempotent(&self.inner.method) && !st.retried {
                st.replay_head = !st.out.is_empty();
                st.replay = Some(st.out.clone());
            }
            (std::mem::take(&mut st.out), st.hold, st.ended)
        };
        if !out.is_empty() && conn.sock.send(out).unwrap_or(false) {
            // Below the mark at once: a writer waiting for `drain` goes on.
            self.on_socket_drain(lp);
        }
        if hold {
            conn.await_continue();
        }
        if ended {
            conn.request_ended();
        }
    }

    pub(in crate::http::client) fn is_done(&self) -> bool {
        self.inner.st.borrow().done
    }

    /// Whether the request may be retried on a fresh connection.
    pub(in crate::http::client) fn can_retry(&self) -> bool {
        let st = self.inner.st.borrow();
        !st.done && !st.retried && st.replay.is_some() && is_idempotent(&self.inner.method)
    }

    /// Its connection failed before any answer: what was sent goes again.
    pub(in crate::http::client) fn detach_for_retry(&self) {
        let mut st = self.inner.st.borrow_mut();
        st.conn = None;
        st.retried = true;
        let replay = st.replay.take().unwrap_or_default();
        let mut again = Vec::new();
        if !st.replay_head && st.head_written {
            let m = &self.inner.method;
            encode::request_head(&mut again, m, &st.target, &st.headers, st.head_framing);
        }
        again.extend_from_slice(&replay);
        again.extend_from_slice(&std::mem::take(&mut st.held));
        st.hold = false;
        again.extend_from_slice(&st.out);
        st.out = again;
    }

    pub(in crate::http::client) fn detach_conn(&self) {
        self.inner.st.borrow_mut().conn = None;
    }

    /// Whether the connection can serve another request after this one:
    /// the request was sent whole.
    pub(in crate::http::client) fn sent_whole(&self) -> bool {
        let st = self.inner.st.borrow();
        st.ended && !st.body_dropped && st.held.is_empty()
    }

    /// `100 Continue` (or the wait is over): the held body goes.
    pub(in crate::http::client) fn release_held(&self, _lp: &Loop) {
        let (conn, held) = {
            let mut st = self.inner.st.borrow_mut();
            if !st.hold {
                return;
            }
            st.hold = false;
            let held = std::mem::take(&mut st.held);
            if let Some(replay) = &mut st.replay {
                if replay.len() + held.len() > REPLAY_MAX {
                    st.replay = None;
                } else {
                    replay.extend_from_slice(&held);
                }
            }
            (st.conn.clone(), held)
        };
        if let (Some(conn), false) = (conn, held.is_empty()) {
            let _ = conn.sock.send(held);
        }
    }

    /// A final response came before `100 Continue`: the body is not sent.
    pub(in crate::http::client) fn drop_held(&self) {
        let mut st = self.inner.st.borrow_mut();
        if st.hold {
            st.hold = false;
            st.held = Vec::new();
            st.body_dropped = true;
        }
        st.replay = None;
    }

    pub(in crate::http::client) fn emit_socket(&self, lp: &Loop, sock: &Socket) {
        self.inner.socket.emit(lp, self, sock);
    }

    pub(in crate::http::client) fn on_socket_drain(&self, lp: &Loop) {
        let due = std::mem::take(&mut self.inner.st.borrow_mut().drain_due);
        if due {
            self.inner.drain.emit(lp, self, &());
        }
    }

    pub(in crate::http::client) fn emit_information(&self, lp: &Loop, res: &ClientResponse) {
        self.inner.information.emit(lp, self, res);
    }

    pub(in crate::http::client) fn emit_response(&self, lp: &Loop, res: &ClientResponse) {
        self.inner.st.borrow_mut().replay = None;
        if !self.inner.response.emit(lp, self, res) {
            res.resume(); // nobody wants the body: discard it
        }
    }

    pub(in crate::http::client) fn emit_upgrade(
        &self,
        lp: &Loop,
        response: ClientResponse,
        socket: Socket,
        head: Vec<u8>,
    ) {
        self.mark_done();
        let up = Upgraded {
            response,
            socket: socket.clone(),
            head,
        };
        if !self.inner.upgrade.emit(lp, self, &up) {
            socket.destroy();
            let e = Error::InvalidResponse {
                addr: socket
                    .peer_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                reason: "a protocol switch (101, or a CONNECT's 2xx) with no upgrade listener",
            };
            self.report_error(lp, &e);
        }
        self.clear_listeners();
    }

    /// The response ended: the exchange is over.
    pub(in crate::http::client) fn finished(&self) {
        self.mark_done();
        self.clear_listeners();
    }

    pub(super) fn mark_done(&self) {
        let mut st = self.inner.st.borrow_mut();
        st.done = true;
        st.conn = None;
        st.replay = None;
        st.held = Vec::new();
    }

    /// The request failed: `error` to its listeners, or reported.
    pub(in crate::http::client) fn fail(&self, lp: &Loop, e: &Error) {
        {
            let mut st = self.inner.st.borrow_mut();
            if st.done {
                drop(st);
                // A response's error after the request was answered.
                self.report_error(lp, e);
                return;
            }
            st.done = true;
            st.conn = None;
        }
        self.inner.agent.inner.dequeue(self);
        self.report_error(lp, e);
        self.clear_listeners();
    }

    pub(super) fn report_error(&self, lp: &Loop, e: &Error) {
        if !self.inner.error.emit(lp, self, e) {
            crate::report_unhandled(format_args!(
                "http client: {} {}: {e}",
                self.inner.method, self.inner.url
            ));
        }
    }

    /// The exchange is over: listeners (which may hold this handle) go.
    pub(super) fn clear_listeners(&self) {
        let i = &self.inner;
        i.response.clear();
        i.information.clear();
        i.upgrade.clear();
        i.drain.clear();
        i.socket.clear();
        i.error.clear();
    }
}
