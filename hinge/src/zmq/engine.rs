//! The engine of a ZeroMQ socket: the prepare/check protocol that drives
//! libzmq from the loop (see the module docs), the send queue, receiving
//! within a budget, and the end of a socket.

use super::error::from_zmq;
use super::socket::{Open, ZmqSocket};
use super::Frame;
use crate::{Error, Loop, Result, Watcher};

/// Messages received per wakeup before other work gets a turn; the rest
/// wait for the next loop iteration.
pub const RECV_BUDGET: usize = 64;

impl ZmqSocket {
    /// What the socket wants from libzmq now.
    pub(super) fn wanted(&self) -> zmq::PollEvents {
        let inner = &*self.inner;
        let mut want = zmq::PollEvents::empty();
        // Receive only for someone: without a `data` listener, messages
        // wait in libzmq (and push back) instead of being thrown away.
        if !inner.paused.get()
            && !inner.closing.get()
            && inner.kind.can_receive()
            && inner.events.data.listener_count() > 0
        {
            want |= zmq::POLLIN;
        }
        if !inner.queue.borrow().is_empty() {
            want |= zmq::POLLOUT;
        }
        want
    }

    /// libzmq's readiness, which also re-arms `ZMQ_FD`'s edge.
    pub(super) fn ready(&self) -> zmq::PollEvents {
        self.with_raw(|s| s.get_events().unwrap_or(zmq::PollEvents::empty()))
            .unwrap_or(zmq::PollEvents::empty())
    }

    /// Prepare: if there is work now, keep the loop from blocking (idle);
    /// else wait for `ZMQ_FD`.
    pub(super) fn before_block(&self) {
        if self.inner.closed.get() {
            return;
        }
        let mut want = self.wanted();
        if self.inner.send_blocked.get() {
            // POLLOUT is not to be trusted now: the retry timer wakes us.
            want.remove(zmq::POLLOUT);
        }
        let mut now = !want.is_empty() && self.ready().intersects(want);
        if self.inner.in_check.get() {
            // A nested run inside our own callback: our check cannot run
            // until the callback returns, so never spin waiting for it.
            now = false;
        }
        if let Some(d) = &*self.inner.drive.borrow() {
            if now {
                d.io.stop();
                d.idle.start();
            } else {
                d.idle.stop();
                d.io.start();
            }
        }
    }

    /// Check: send what is queued, then receive up to the budget.
    pub(super) fn after_wake(&self, lp: &Loop) {
        if self.inner.closed.get() {
            if !self.inner.finished.get() {
                self.inner.events.close.emit(lp, self, &());
                self.finish(lp);
            }
            return;
        }
        self.inner.in_check.set(true);
        let ready = self.ready();
        if ready.contains(zmq::POLLOUT) && !self.inner.queue.borrow().is_empty() {
            self.flush(lp);
        }
        if ready.contains(zmq::POLLIN) && !self.inner.closing.get() {
            self.receive(lp);
        }
        self.inner.in_check.set(false);
    }

    /// Sends queued messages until libzmq refuses; `drain` once empty.
    pub(super) fn flush(&self, lp: &Loop) {
        loop {
            let sent = {
                let queue = self.inner.queue.borrow();
                let Some(front) = queue.front() else { break };
                self.with_raw(|s| s.send_multipart(front.iter(), zmq::DONTWAIT))
            };
            match sent {
                Ok(Ok(())) => {
                    self.inner.queue.borrow_mut().pop_front();
                    self.set_send_blocked(false);
                }
                Ok(Err(zmq::Error::EAGAIN)) => {
                    // Refused although libzmq said POLLOUT: retry on the
                    // timer rather than spin.
                    self.set_send_blocked(true);
                    return;
                }
                Err(_) => return,
                Ok(Err(e)) => {
                    // Refused for good (an unroutable peer, say): report
                    // it, and go on with the next message.
                    let lost = self.inner.queue.borrow_mut().pop_front();
                    drop(lost);
                    let err = from_zmq("send", &self.inner.label.borrow(), e);
                    self.report(lp, err);
                }
            }
        }
        if self.inner.closing.get() {
            self.shut(); // close() was waiting for the queue
        } else if self.inner.need_drain.replace(false) {
            self.inner.events.drain.emit(lp, self, &());
        }
    }

    fn set_send_blocked(&self, blocked: bool) {
        if self.inner.send_blocked.replace(blocked) == blocked {
            return;
        }
        if let Some(d) = &*self.inner.drive.borrow() {
            if blocked {
                d.retry.start();
            } else {
                d.retry.stop();
            }
        }
    }

    /// Receives whole messages, up to the budget, while not paused.
    pub(super) fn receive(&self, lp: &Loop) {
        for _ in 0..RECV_BUDGET {
            if self.inner.paused.get()
                || self.inner.closing.get()
                || self.inner.events.data.listener_count() == 0
            {
                return; // nobody to hand a message to: leave it in libzmq
            }
            // Taken out for the emission, so the buffer is never borrowed
            // while user code runs.
            let mut frames = std::mem::take(&mut *self.inner.frames.borrow_mut());
            let more = match self.recv_message(&mut frames) {
                Ok(0) => false,
                Ok(n) => {
                    self.inner.events.data.emit(lp, self, &frames[..n]);
                    // Keep the buffer for the next message, but not the
                    // payloads of frames an earlier, longer one left.
                    frames.truncate(n);
                    true
                }
                Err(e) => {
                    self.report(lp, e);
                    false
                }
            };
            let mut slot = self.inner.frames.borrow_mut();
            if slot.is_empty() {
                *slot = frames;
            }
            if !more {
                return;
            }
        }
    }

    /// One whole message into `frames` (reused); the number of frames, or
    /// 0 if none is waiting.
    pub(super) fn recv_message(&self, frames: &mut Vec<Frame>) -> Result<usize> {
        let sock = self.inner.sock.borrow();
        let Some(sock) = sock.as_ref() else {
            return Ok(0);
        };
        let mut n = 0;
        loop {
            if frames.len() == n {
                frames.push(Frame::empty());
            }
            // Only the first frame can be missing: the rest of a message
            // arrives with it (libzmq delivers messages atomically).
            let flags = if n == 0 { zmq::DONTWAIT } else { 0 };
            match sock.recv(&mut frames[n].0, flags) {
                Ok(()) => {
                    n += 1;
                    if !frames[n - 1].0.get_more() {
                        return Ok(n);
                    }
                }
                Err(zmq::Error::EAGAIN) if n == 0 => return Ok(0),
                Err(e) => return Err(from_zmq("recv", &self.inner.label.borrow(), e)),
            }
        }
    }

    /// Emits `error`, or reports it when nobody listens.
    pub(super) fn report(&self, lp: &Loop, error: Error) {
        if !self.inner.events.error.emit(lp, self, &error) {
            crate::report_unhandled(format_args!(
                "unhandled zmq error (add an on_error listener to handle it): {error}"
            ));
        }
    }

    /// After `close` was emitted: the watchers and listeners go, and the
    /// loop lets go of the socket.
    pub(super) fn finish(&self, lp: &Loop) {
        self.inner.finished.set(true);
        let drive = self.inner.drive.borrow_mut().take();
        drop(drive); // from inside the check watcher's own callback: fine
        self.remove_all_listeners();
        let gone = lp
            .local(Open::default)
            .0
            .borrow_mut()
            .try_remove(self.inner.slot.get());
        drop(gone);
    }

    /// The loop is ending (its cleanup watcher runs, with `lp`; or the
    /// loop's table of open sockets drops, for a socket made too late for
    /// that): close at once, the io watcher before libzmq's socket, and
    /// emit `close` if it is still owed and a loop is at hand.
    pub(super) fn teardown(&self, lp: Option<&Loop>) {
        let owed = !self.inner.finished.get();
        self.inner.closing.set(true);
        self.inner.closed.set(true);
        self.inner.finished.set(true);
        let drive = self.inner.drive.borrow_mut().take();
        drop(drive);
        let sock = self.inner.sock.borrow_mut().take();
        drop(sock);
        self.inner.queue.borrow_mut().clear();
        // The same rule as hinge's sockets: `close` once, also at the
        // loop's end; the listeners go even if one of them panics.
        let close = || {
            if let (true, Some(lp)) = (owed, lp) {
                self.inner.events.close.emit(lp, self, &());
            }
        };
        super::listeners::all_of(&[&close, &|| self.remove_all_listeners()]);
    }
}
