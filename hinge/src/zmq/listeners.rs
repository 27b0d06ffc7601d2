//! The listener surface of a ZeroMQ socket, the same as hinge's
//! `Socket`'s: `on_*`/`once_*`, counts, `off`, and refusal once finished.

use super::socket::{ZmqEvent, ZmqSocket};
use super::Frame;
use crate::{Error, Event, ListenerId, Loop};

impl ZmqSocket {
    /// Runs `f` with every message received: all its frames.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Pull)?;
    /// s.on_data(|_, _, msg| {
    ///     let text = String::from_utf8_lossy(&msg[0]);
    ///     println!("{text} (+{} frames)", msg.len() - 1);
    /// });
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_data<F>(&self, f: F) -> ListenerId
    where
        F: FnMut(&Loop, &ZmqSocket, &[Frame]) + 'static,
    {
        match self.accepts_listeners() {
            true => self.inner.events.data.on(f),
            false => refused(),
        }
    }

    /// Like [`on_data`](ZmqSocket::on_data), but runs once.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Pull)?;
    /// s.once_data(|_, _, msg| println!("first: {} frame(s)", msg.len()));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn once_data<F>(&self, f: F) -> ListenerId
    where
        F: FnOnce(&Loop, &ZmqSocket, &[Frame]) + 'static,
    {
        match self.accepts_listeners() {
            true => self.inner.events.data.once(f),
            false => refused(),
        }
    }

    /// Runs `f` when the send queue emptied after `send` returned `false`.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Push)?;
    /// s.on_drain(|_, _| println!("send more"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_drain<F>(&self, mut f: F) -> ListenerId
    where
        F: FnMut(&Loop, &ZmqSocket) + 'static,
    {
        match self.accepts_listeners() {
            true => self.inner.events.drain.on(move |lp, s, _| f(lp, s)),
            false => refused(),
        }
    }

    /// Runs `f` with an error from the loop's side of the socket: a queued
    /// send that libzmq refused, or a receive that failed. The socket stays
    /// open. An error nobody listens to is reported on stderr (or to the
    /// `log` crate's logger, if one is installed).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Router)?;
    /// s.on_error(|_, _, e| eprintln!("zmq: {e}"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_error<F>(&self, f: F) -> ListenerId
    where
        F: FnMut(&Loop, &ZmqSocket, &Error) + 'static,
    {
        match self.accepts_listeners() {
            true => self.inner.events.error.on(f),
            false => refused(),
        }
    }

    /// Runs `f` once the socket has closed; every listener is dropped
    /// afterwards.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Pull)?;
    /// s.on_close(|_, _| println!("closed"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_close<F>(&self, mut f: F) -> ListenerId
    where
        F: FnMut(&Loop, &ZmqSocket) + 'static,
    {
        match self.accepts_listeners() {
            true => self.inner.events.close.on(move |lp, s, _| f(lp, s)),
            false => refused(),
        }
    }

    /// How many listeners one event has.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// use hinge::zmq::{Kind, ZmqEvent, ZmqSocket};
    /// let s = ZmqSocket::new(&lp, Kind::Pull)?;
    /// s.on_close(|_, _| {});
    /// assert_eq!(s.listeners(ZmqEvent::Close), 1);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn listeners(&self, event: ZmqEvent) -> usize {
        let e = &self.inner.events;
        match event {
            ZmqEvent::Data => e.data.listener_count(),
            ZmqEvent::Drain => e.drain.listener_count(),
            ZmqEvent::Error => e.error.listener_count(),
            ZmqEvent::Close => e.close.listener_count(),
        }
    }

    /// Removes a listener from whichever event it was added to.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Pull)?;
    /// let id = s.on_data(|_, _, _| {});
    /// assert!(s.off(id));
    /// assert!(!s.off(id));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn off(&self, id: ListenerId) -> bool {
        let e = &self.inner.events;
        e.data.off(id) || e.drain.off(id) || e.error.off(id) || e.close.off(id)
    }

    /// Removes every listener of every event.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Pull)?;
    /// s.on_data(|_, _, _| {});
    /// s.remove_all_listeners();
    /// assert_eq!(s.listeners(hinge::zmq::ZmqEvent::Data), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn remove_all_listeners(&self) {
        let e = &self.inner.events;
        // Each runs even if a listener's drop panics in one before it.
        all_of(&[
            &|| e.data.clear(),
            &|| e.drain.clear(),
            &|| e.error.clear(),
            &|| e.close.clear(),
        ]);
    }

    fn accepts_listeners(&self) -> bool {
        !self.inner.finished.get()
    }
}

/// Runs every step, even after one panics; then re-raises the first
/// panic. Later ones are discarded (their payload's `Drop` may panic
/// again: `discard_panic` survives that).
pub(super) fn all_of(steps: &[&dyn Fn()]) {
    let mut first = None;
    for step in steps {
        if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)) {
            match first {
                None => first = Some(payload),
                Some(_) => crate::discard_panic(payload),
            }
        }
    }
    if let Some(payload) = first {
        std::panic::resume_unwind(payload);
    }
}

/// The listener id handed out for a finished socket: it matches nothing.
fn refused() -> ListenerId {
    Event::<(), ()>::new().on(|_, _, _| {})
}
