//! ZeroMQ sockets on the loop (feature `zmq`), next to TCP sockets,
//! timers and the pool.
//!
//! A [`ZmqSocket`] speaks the same vocabulary as [`Socket`](crate::Socket):
//! `data` (one whole multipart message), `drain`, `error`, `close`;
//! `send` returns `false` when it had to queue; `pause` stops receiving
//! from libzmq, so the receive high-water mark and TCP push back on the
//! sender.
//!
//! ```no_run
//! use hinge::zmq::{ZmqSocket, Kind};
//!
//! let lp = hinge::Loop::new()?;
//! let pull = ZmqSocket::new(&lp, Kind::Pull)?;
//! pull.bind("tcp://127.0.0.1:5555")?;
//! pull.on_data(|_, _, msg| println!("{} frame(s)", msg.len()));
//! lp.run();
//! # Ok::<(), hinge::Error>(())
//! ```
//!
//! ## How it drives libzmq
//!
//! libzmq's `ZMQ_FD` is edge-triggered and only says "look at
//! `ZMQ_EVENTS`"; any send or receive, from any callback, may consume the
//! edge. So, as flux-core's `ev_zmq` does for libev, each socket has:
//! * a prepare watcher, which before the loop blocks reads `ZMQ_EVENTS`:
//!   if the socket can do what it wants now (receive, or send what is
//!   queued), it starts an idle watcher so the loop does not block;
//!   otherwise it arms an io watcher on `ZMQ_FD`;
//! * a check watcher, which after the loop wakes does the work: it sends
//!   what is queued, then receives up to [`RECV_BUDGET`] messages, then
//!   leaves the rest to the next iteration (fairness).
//!
//! Because the prepare watcher looks at `ZMQ_EVENTS` before every block,
//! no edge consumed elsewhere can leave a message stranded.
//!
//! This layer uses only hinge's public API.
//!
//! ## libzmq: bundled
//!
//! The `zmq` crate (0.10) always builds the libzmq it bundles (4.3.4,
//! through `zeromq-src`) with the C++ compiler, and links it statically:
//! no system libzmq is needed or used, and every machine runs the same
//! libzmq. What a machine needs is a C++ compiler: Debian and Ubuntu
//! `g++` (hinge's CI installs it), Fedora `gcc-c++`, macOS the Xcode
//! command line tools. The first build takes about a minute longer. We
//! chose it over Debian's `libzmq3-dev` because the crate offers no
//! system-library switch, and the same library everywhere makes the
//! benchmark figures comparable.

mod context;
mod engine;
mod error;
#[cfg(feature = "async")]
mod futures;
mod listeners;
mod options;
mod socket;

pub use context::Context;
pub use engine::RECV_BUDGET;
#[cfg(feature = "async")]
pub use futures::Messages;
pub use socket::{Kind, ZmqEvent, ZmqSocket, DEFAULT_LINGER, DEFAULT_SEND_QUEUE};

/// One frame of a message, in the buffer libzmq filled (no copy): it
/// dereferences to `[u8]`, and can be sent on as it is.
///
/// ```
/// let f = hinge::zmq::Frame::from(&b"abc"[..]);
/// assert_eq!(&f[..], b"abc");
/// assert_eq!(f.as_ref(), b"abc");
/// ```
pub struct Frame(zmq::Message);

impl Frame {
    fn empty() -> Frame {
        Frame(zmq::Message::new())
    }

    /// The `zmq` crate's message, for what hinge does not wrap.
    ///
    /// ```
    /// let f = hinge::zmq::Frame::from(&b"x"[..]);
    /// assert_eq!(f.as_zmq().len(), 1);
    /// ```
    pub fn as_zmq(&self) -> &zmq::Message {
        &self.0
    }
}

impl std::ops::Deref for Frame {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for Frame {
    fn from(bytes: &[u8]) -> Frame {
        Frame(zmq::Message::from(bytes))
    }
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({:?})", String::from_utf8_lossy(&self.0))
    }
}
