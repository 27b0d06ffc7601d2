//! `Server::incoming`: accepted connections as a stream.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use super::Server;
use crate::{ListenerId, Socket, Watcher};

/// Accepted connections waiting for a task, at most this many: past it the
/// server stops accepting (the kernel's backlog holds the rest).
const QUEUE_LIMIT: usize = 64;

#[derive(Default)]
struct Queue {
    sockets: VecDeque<Socket>,
    waker: Option<Waker>,
}

/// The stream of [`Server::incoming`]: each accepted connection, as a
/// [`Socket`] already in pull mode, so that no byte the client sends
/// before a task reads is lost. The stream ends when the server is closed
/// (at `close()`, not only once its last client has left).
///
/// ```
/// let lp = hinge::Loop::new()?;
/// let server = hinge::Server::new(&lp);
/// server.listen_on("127.0.0.1", 0)?;
/// let incoming: hinge::task::Incoming = server.incoming();
/// # Ok::<(), hinge::Error>(())
/// ```
#[must_use = "an Incoming stream accepts nothing unless polled"]
pub struct Incoming {
    server: Server,
    queue: Rc<RefCell<Queue>>,
    listeners: [ListenerId; 2],
}

impl Server {
    /// The connections this server accepts, as a stream for async code:
    /// `while let Some(client) = incoming.next().await`, or
    /// [`Incoming::accept`]. Each is a [`Socket`] in pull mode, used with
    /// futures-io's `AsyncRead`/`AsyncWrite`; like a tokio stream, it
    /// closes when its last handle is dropped. While the stream holds 64
    /// connections no task took, the server stops accepting. `connection`
    /// listeners still run first; dropping the stream stops it (and closes
    /// the connections it held).
    ///
    /// ```no_run
    /// use futures_util::{AsyncReadExt, AsyncWriteExt, StreamExt};
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::Server::new(&lp);
    /// server.listen(7000)?;
    /// let h = lp.handle();
    /// lp.block_on(async {
    ///     let mut incoming = server.incoming();
    ///     while let Some(mut client) = incoming.next().await {
    ///         h.spawn_local(async move {
    ///             let mut buf = [0u8; 1024];
    ///             while let Ok(n @ 1..) = client.read(&mut buf).await {
    ///                 if client.write_all(&buf[..n]).await.is_err() {
    ///                     break;
    ///                 }
    ///             }
    ///         })
    ///         .detach();
    ///     }
    /// })?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn incoming(&self) -> Incoming {
        let queue = Rc::new(RefCell::new(Queue::default()));
        let q = queue.clone();
        let on_connection = self.on_connection(move |_, server, client| {
            client.enter_async(true);
            let waker = {
                let mut q = q.borrow_mut();
                q.sockets.push_back(client.clone());
                if q.sockets.len() >= QUEUE_LIMIT {
                    server.pause_accepting(true);
                }
                q.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        });
        let q = queue.clone();
        let on_close = self.on_close(move |_, _| {
            let waker = q.borrow_mut().waker.take();
            if let Some(w) = waker {
                w.wake();
            }
        });
        Incoming {
            server: self.clone(),
            queue,
            listeners: [on_connection, on_close],
        }
    }

    /// Stops or restarts the listening watcher (not the backoff's).
    fn pause_accepting(&self, pause: bool) {
        if let Some(io) = &*self.inner.io.borrow() {
            match pause {
                true => io.stop(),
                false if !self.inner.closed.get() && self.inner.backoff.borrow().is_none() => {
                    io.start()
                }
                false => {}
            }
        }
    }
}

impl Incoming {
    /// The next connection; `None` once the server has closed.
    ///
    /// ```no_run
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::Server::new(&lp);
    /// server.listen(7001)?;
    /// let mut incoming = server.incoming();
    /// let first = lp.block_on(incoming.accept())?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn accept(&mut self) -> impl Future<Output = Option<Socket>> + '_ {
        std::future::poll_fn(move |cx| Pin::new(&mut *self).poll_next(cx))
    }
}

impl Stream for Incoming {
    type Item = Socket;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Socket>> {
        let mut q = self.queue.borrow_mut();
        if let Some(s) = q.sockets.pop_front() {
            if q.sockets.len() + 1 == QUEUE_LIMIT {
                self.server.pause_accepting(false);
            }
            return Poll::Ready(Some(s));
        }
        if self.server.inner.closed.get() {
            // Closed, even if `close` waits for clients still open.
            return Poll::Ready(None);
        }
        q.waker = Some(cx.waker().clone());
        let mut closing = self.server.inner.closing_wakers.borrow_mut();
        if !closing.iter().any(|w| w.will_wake(cx.waker())) {
            closing.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        for id in self.listeners {
            self.server.off(id);
        }
        if let Some(mine) = self.queue.borrow_mut().waker.take() {
            self.server
                .inner
                .closing_wakers
                .borrow_mut()
                .retain(|w| !w.will_wake(&mine));
        }
        let left = std::mem::take(&mut self.queue.borrow_mut().sockets);
        if left.len() >= QUEUE_LIMIT {
            self.server.pause_accepting(false);
        }
        // Nobody will take these: each closes as its last handle goes.
        drop(left);
    }
}

impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("server", &self.server)
            .field("queued", &self.queue.borrow().sockets.len())
            .finish()
    }
}
