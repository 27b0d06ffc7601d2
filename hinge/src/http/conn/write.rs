//! The write side: heads and bodies encoded into the connection's
//! output, which reaches the socket at the end of a read or from the
//! server's prepare hook; the end of a response.

use super::*;

impl Conn {
    /// Writes body bytes (and the head first, if due) for `res`.
    pub(in crate::http) fn write_body(
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
    pub(super) fn write_head(
        &self,
        st: &mut State,
        rs: &mut ResState,
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
    pub(in crate::http) fn interim(
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
    pub(super) fn finish_response(self: &Rc<Self>) {
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
    pub(in crate::http) fn abandoned(self: &Rc<Self>, head_written: bool) {
        let Some(mut st) = self.open_state() else {
            return;
        };
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
            self.answer_500(&mut st, persist);
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
    pub(in crate::http) fn destroyed(self: &Rc<Self>, head_written: bool) {
        let Some(mut st) = self.open_state() else {
            return;
        };
        st.keep_alive = false;
        if !head_written {
            self.answer_500(&mut st, Persist::Close);
        }
        drop(st);
        self.finish_response();
        self.after_write();
    }

    /// The state, unless it is borrowed (a re-entrant call) or the
    /// connection is closing or closed.
    fn open_state(&self) -> Option<std::cell::RefMut<'_, State>> {
        let st = self.st.try_borrow_mut().ok()?;
        (st.phase != Phase::Closed && st.phase != Phase::Closing).then_some(st)
    }

    /// The server's own `500`, for a response that cannot be.
    fn answer_500(&self, st: &mut State, persist: Persist) {
        let date = Some((&self.shared.date, self.shared.now.get()));
        encode::head(
            &mut st.out,
            StatusCode::INTERNAL_SERVER_ERROR,
            std::iter::empty(),
            Framing::Length(0),
            persist,
            date,
        );
    }

    /// Sends the output now, or soon: at the end of the current `feed`,
    /// or from the prepare hook. Returns `false` when the socket is above
    /// its high-water mark.
    pub(super) fn after_write(self: &Rc<Self>) -> bool {
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
    pub(in crate::http) fn flush(&self) -> bool {
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
    pub(in crate::http) fn schedule(self: &Rc<Self>) {
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
    pub(in crate::http) fn pump(self: &Rc<Self>, lp: &Loop) {
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
}
