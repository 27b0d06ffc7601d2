//! The ends of a connection: the peer's end, refusals, graceful and
//! forced closes, and the deadlines that lead to them.

use super::*;

impl Conn {
    pub(super) fn on_peer_end(self: &Rc<Self>, lp: &Loop) {
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

    pub(super) fn on_drain(self: &Rc<Self>, lp: &Loop) {
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

    pub(super) fn on_close(self: &Rc<Self>, lp: &Loop) {
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

    /// Refuses the request with `r.status`, then closes gracefully.
    pub(super) fn refuse(self: &Rc<Self>, lp: &Loop, r: Refusal) {
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

    /// Closes once the output is flushed. With `linger` (an error answer,
    /// or input left unread), it half-closes instead and discards input
    /// until the peer closes or `linger` passes, so that the client reads
    /// the answer rather than a reset; a clean exchange closes at once.
    pub(in crate::http) fn close_gracefully(self: &Rc<Self>, linger: bool) {
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
    pub(super) fn shut(&self) {
        if self.st.borrow().linger {
            self.sock.end();
            if self.sock.is_paused() {
                self.sock.resume();
            }
        } else {
            self.sock.close();
        }
    }

    /// The deadlines, checked by the server's timer.
    pub(in crate::http) fn check(self: &Rc<Self>, lp: &Loop, now: f64) {
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
