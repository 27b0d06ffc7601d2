//! `Socket::connected`: a connection attempt as a future.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::state::flag;
use super::Socket;
use crate::{Error, ListenerId, Result};

#[derive(Default)]
struct Outcome {
    result: Option<Result<()>>,
    waker: Option<Waker>,
}

impl Outcome {
    fn settle(cell: &RefCell<Outcome>, result: Result<()>) {
        let waker = {
            let mut o = cell.borrow_mut();
            if o.result.is_some() {
                return;
            }
            o.result = Some(result);
            o.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The future of [`Socket::connected`].
///
/// ```
/// let lp = hinge::Loop::new()?;
/// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
/// let s = hinge::Socket::from_unix_stream(&lp, a)?;
/// let c: hinge::task::Connected = s.connected();
/// assert!(lp.block_on(c)?.is_ok()); // already connected
/// # Ok::<(), hinge::Error>(())
/// ```
#[must_use = "a Connected future does nothing unless awaited"]
pub struct Connected {
    socket: Socket,
    outcome: Rc<RefCell<Outcome>>,
    listeners: [ListenerId; 3],
}

impl Socket {
    /// Waits until the connection [`Socket::connect`] started is
    /// established, and gives the socket back; or gives the error that
    /// ended it (the same typed [`Error`] the `error` event carries:
    /// [`Error::ConnectionRefused`], [`Error::NameNotFound`],
    /// [`Error::TimedOut`] after [`set_connect_timeout`](Socket::set_connect_timeout)...).
    /// An error that a future receives is handled: it is not reported as
    /// unhandled. On a socket that is not connecting, it is ready at once.
    ///
    /// ```no_run
    /// use futures_util::{AsyncReadExt, AsyncWriteExt};
    /// let lp = hinge::Loop::new()?;
    /// lp.block_on(async {
    ///     let mut s = hinge::Socket::connect(&lp, "localhost", 7)?.connected().await?;
    ///     s.write_all(b"ping").await?;
    ///     let mut buf = [0u8; 4];
    ///     s.read_exact(&mut buf).await?;
    ///     Ok::<_, Box<dyn std::error::Error>>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connected(&self) -> Connected {
        let outcome = Rc::new(RefCell::new(Outcome::default()));
        let none = ListenerId::unregistered();
        let mut listeners = [none, none, none];
        if !self.inner.state.has(flag::CONNECTING) {
            let result = match self.is_closed() {
                true => Err(Error::Closed { op: "connect" }),
                false => Ok(()),
            };
            outcome.borrow_mut().result = Some(result);
        } else {
            // Whatever the peer sends first waits in the kernel for the
            // task's first read.
            self.enter_async(true);
            let o = outcome.clone();
            listeners[0] = self.once_connect(move |_, _| Outcome::settle(&o, Ok(())));
            let o = outcome.clone();
            listeners[1] = self.once_error(move |_, _, e| Outcome::settle(&o, Err(e.duplicate())));
            let o = outcome.clone();
            listeners[2] = self.once_close(move |_, _, _| {
                Outcome::settle(&o, Err(Error::Closed { op: "connect" }))
            });
        }
        Connected {
            socket: self.clone(),
            outcome,
            listeners,
        }
    }
}

impl Future for Connected {
    type Output = Result<Socket>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Socket>> {
        let mut o = self.outcome.borrow_mut();
        match o.result.take() {
            Some(Ok(())) => Poll::Ready(Ok(self.socket.clone())),
            Some(Err(e)) => Poll::Ready(Err(e)),
            None => {
                o.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        for id in self.listeners {
            self.socket.off(id);
        }
    }
}

impl fmt::Debug for Connected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connected")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}
