//! Typed socket options: subscriptions, high-water marks, linger, routing
//! id, ROUTER mandatory, immediate and the reconnect intervals. Anything
//! rarer goes through [`ZmqSocket::with_raw`].

use std::time::Duration;

use super::error::from_zmq;
use super::socket::ZmqSocket;
use crate::{Error, Result};

impl ZmqSocket {
    pub(super) fn set_option(
        &self,
        op: &'static str,
        f: impl FnOnce(&zmq::Socket) -> zmq::Result<()>,
    ) -> Result<()> {
        self.with_raw(f)?
            .map_err(|e| from_zmq(op, self.inner.kind.name(), e))
    }

    /// Subscribes a SUB socket to messages whose first frame starts with
    /// `prefix` (empty: everything).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Sub)?;
    /// s.subscribe("weather.")?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn subscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> {
        self.set_option("subscribe", |s| s.set_subscribe(prefix.as_ref()))
    }

    /// Removes a subscription made with [`subscribe`](ZmqSocket::subscribe).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Sub)?;
    /// s.subscribe("a")?;
    /// s.unsubscribe("a")?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn unsubscribe(&self, prefix: impl AsRef<[u8]>) -> Result<()> {
        self.set_option("unsubscribe", |s| s.set_unsubscribe(prefix.as_ref()))
    }

    /// The send high-water mark, in messages (libzmq's default 1000;
    /// 0 means no limit). A negative value is an error.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Push)?;
    /// s.set_send_hwm(10)?;
    /// assert!(s.set_send_hwm(-1).is_err());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_send_hwm(&self, messages: i32) -> Result<()> {
        self.set_option("set send hwm", |s| s.set_sndhwm(messages))
    }

    /// The receive high-water mark, in messages.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Pull)?;
    /// s.set_recv_hwm(10)?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_recv_hwm(&self, messages: i32) -> Result<()> {
        self.set_option("set recv hwm", |s| s.set_rcvhwm(messages))
    }

    /// How long a closed socket keeps delivering (default
    /// [`DEFAULT_LINGER`](super::DEFAULT_LINGER)); `None` waits forever, which can make the end
    /// of the program hang on an absent peer.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Push)?;
    /// s.set_linger(Some(Duration::ZERO))?; // drop what is unsent
    /// assert!(s.set_linger(Some(Duration::from_secs(u64::MAX))).is_err());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_linger(&self, linger: Option<Duration>) -> Result<()> {
        let ms = match linger {
            Some(d) => millis(d)?,
            None => -1,
        };
        self.set_option("set linger", |s| s.set_linger(ms))?;
        self.inner.linger_ms.set(ms);
        Ok(())
    }

    /// The routing id a ROUTER peer sees for this socket (1 to 255 bytes).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Dealer)?;
    /// s.set_routing_id("worker-1")?;
    /// assert!(s.set_routing_id([0u8; 300]).is_err());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_routing_id(&self, id: impl AsRef<[u8]>) -> Result<()> {
        self.set_option("set routing id", |s| s.set_identity(id.as_ref()))
    }

    /// For a ROUTER: a message to an unknown peer fails with an error
    /// (`EHOSTUNREACH`) instead of being dropped.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Router)?;
    /// s.set_router_mandatory(true)?;
    /// assert!(s.send(&["nobody", "hello"]).is_err());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_router_mandatory(&self, on: bool) -> Result<()> {
        self.set_option("set router mandatory", |s| s.set_router_mandatory(on))
    }

    /// Queue messages only for completed connections.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Push)?;
    /// s.set_immediate(true)?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_immediate(&self, on: bool) -> Result<()> {
        self.set_option("set immediate", |s| s.set_immediate(on))
    }

    /// The first wait before reconnecting to a lost peer.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Req)?;
    /// s.set_reconnect_interval(Duration::from_millis(50))?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_reconnect_interval(&self, interval: Duration) -> Result<()> {
        let ms = millis(interval)?;
        self.set_option("set reconnect interval", |s| s.set_reconnect_ivl(ms))
    }

    /// The longest wait between reconnection attempts (the wait doubles up
    /// to it); zero means it never grows.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Req)?;
    /// s.set_reconnect_interval_max(Duration::from_secs(5))?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_reconnect_interval_max(&self, max: Duration) -> Result<()> {
        let ms = millis(max)?;
        self.set_option("set reconnect interval max", |s| {
            s.set_reconnect_ivl_max(ms)
        })
    }
}

/// Milliseconds for a libzmq option, or an error past `i32::MAX`.
fn millis(d: Duration) -> Result<i32> {
    i32::try_from(d.as_millis()).map_err(|_| Error::InvalidTime(d.as_secs_f64()))
}
