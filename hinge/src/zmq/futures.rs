//! ZeroMQ sockets from async code: messages as a `Stream`, and a send
//! that waits while the send queue is full. Built on the socket's own
//! events (`data`, `drain`, `error`, `close`), as a user would.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use super::{Frame, ZmqSocket};
use crate::{Error, ListenerId, Result};

/// Messages a [`Messages`] stream holds before it pauses its socket.
const HOLD: usize = 1024;

#[derive(Default)]
struct Inbox {
    messages: VecDeque<Vec<Frame>>,
    errors: VecDeque<Error>,
    closed: bool,
    paused: bool,
    waker: Option<Waker>,
}

impl Inbox {
    fn wake(cell: &RefCell<Inbox>) {
        let waker = cell.borrow_mut().waker.take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The stream of [`ZmqSocket::messages`].
///
/// ```
/// # let lp = hinge::Loop::new()?;
/// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Pull)?;
/// let m: hinge::zmq::Messages = s.messages();
/// # Ok::<(), hinge::Error>(())
/// ```
#[must_use = "a Messages stream receives nothing unless polled"]
pub struct Messages {
    socket: ZmqSocket,
    inbox: Rc<RefCell<Inbox>>,
    listeners: [ListenerId; 3],
}

impl ZmqSocket {
    /// The messages this socket receives, as a `Stream` for tasks: each
    /// item is one message's frames (copied out of libzmq's buffers), or
    /// an error the socket reported; the stream ends when the socket
    /// closes. While 1,024 messages wait untaken, the socket is paused
    /// (ZeroMQ's high-water marks then hold the senders back).
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use hinge::zmq::{Kind, ZmqSocket};
    /// let lp = hinge::Loop::new()?;
    /// let pull = ZmqSocket::new(&lp, Kind::Pull)?;
    /// pull.bind("inproc://messages-doc")?;
    /// let push = ZmqSocket::new(&lp, Kind::Push)?;
    /// push.connect("inproc://messages-doc")?;
    /// let mut inbox = pull.messages();
    /// let msg = lp.block_on(async {
    ///     push.send_async(&["hello", "world"]).await?;
    ///     inbox.next().await.expect("a message")
    /// })??;
    /// assert_eq!(&msg[1][..], b"world");
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn messages(&self) -> Messages {
        let inbox = Rc::new(RefCell::new(Inbox::default()));
        let i = inbox.clone();
        let on_data = self.on_data(move |_, s, frames| {
            {
                let mut b = i.borrow_mut();
                b.messages
                    .push_back(frames.iter().map(|f| Frame::from(&f[..])).collect());
                if b.messages.len() >= HOLD && !b.paused {
                    b.paused = true;
                    s.pause();
                }
            }
            Inbox::wake(&i);
        });
        let i = inbox.clone();
        let on_error = self.on_error(move |_, _, e| {
            i.borrow_mut().errors.push_back(e.duplicate());
            Inbox::wake(&i);
        });
        let i = inbox.clone();
        let on_close = self.on_close(move |_, _| {
            i.borrow_mut().closed = true;
            Inbox::wake(&i);
        });
        if self.is_closed() {
            inbox.borrow_mut().closed = true;
        }
        Messages {
            socket: self.clone(),
            inbox,
            listeners: [on_data, on_error, on_close],
        }
    }

    /// Sends a message, waiting while the send queue is at its limit
    /// (where [`send`](ZmqSocket::send) fails with
    /// [`Error::WouldBlock`]) for `drain`. Other errors are returned as
    /// they are; a socket that closes while the task waits gives
    /// [`Error::Closed`].
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let push = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Push)?;
    /// push.bind("inproc://send-async-doc")?;
    /// // Nobody is connected yet: the message waits in hinge's queue.
    /// lp.block_on(push.send_async(&["queued"]))??;
    /// assert_eq!(push.queued(), 1);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub async fn send_async<F: AsRef<[u8]>>(&self, frames: &[F]) -> Result<()> {
        loop {
            match self.send(frames) {
                Ok(_) => return Ok(()),
                Err(Error::WouldBlock { .. }) => self.drained().await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits for `drain` (or `close`, an error).
    async fn drained(&self) -> Result<()> {
        #[derive(Default)]
        struct Signal {
            drained: std::cell::Cell<bool>,
            waker: RefCell<Option<Waker>>,
        }
        let signal = Rc::new(Signal::default());
        let wake = |drained: bool| {
            let s = signal.clone();
            move || {
                s.drained.set(s.drained.get() || drained);
                if let Some(w) = s.waker.borrow_mut().take() {
                    w.wake();
                }
            }
        };
        let (on_drain, on_close) = (wake(true), wake(false));
        let on_drain = self.on_drain(move |_, _| on_drain());
        let on_close = self.on_close(move |_, _| on_close());
        // Removed even if the waiting future is dropped (cancelled).
        struct Off<'a>(&'a ZmqSocket, [ListenerId; 2]);
        impl Drop for Off<'_> {
            fn drop(&mut self) {
                for id in self.1 {
                    self.0.off(id);
                }
            }
        }
        let _off = Off(self, [on_drain, on_close]);
        std::future::poll_fn(|cx| {
            if self.is_closed() {
                return Poll::Ready(Err(Error::Closed { op: "zmq send" }));
            }
            if signal.drained.get() {
                return Poll::Ready(Ok(()));
            }
            *signal.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl Stream for Messages {
    type Item = Result<Vec<Frame>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut b = self.inbox.borrow_mut();
        if let Some(e) = b.errors.pop_front() {
            return Poll::Ready(Some(Err(e)));
        }
        if let Some(m) = b.messages.pop_front() {
            if b.paused && b.messages.len() < HOLD / 2 {
                b.paused = false;
                drop(b);
                self.socket.resume();
            }
            return Poll::Ready(Some(Ok(m)));
        }
        if b.closed {
            return Poll::Ready(None);
        }
        b.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Messages {
    fn drop(&mut self) {
        for id in self.listeners {
            self.socket.off(id);
        }
        if self.inbox.borrow().paused {
            self.socket.resume();
        }
    }
}

impl fmt::Debug for Messages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.inbox.borrow();
        f.debug_struct("Messages")
            .field("waiting", &b.messages.len())
            .field("closed", &b.closed)
            .finish()
    }
}
