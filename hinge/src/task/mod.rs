//! async/await on the loop, beside callbacks.
//!
//! A [`Loop`] runs futures as *tasks* next to its watchers and sockets:
//! [`Loop::spawn_local`] starts one and returns its [`Task`], and
//! [`Loop::block_on`] runs the loop until one future completes. Futures
//! need not be `Send`; their wakers are, and a wake from another thread
//! interrupts the loop's wait. Tasks, callbacks, sockets, timers and the
//! pool all share one loop and one thread.
//!
//! | need | callbacks | async/await |
//! |---|---|---|
//! | a timer | [`Loop::set_timeout`], [`Timer`](crate::Timer) | [`sleep`], [`timeout`], [`interval`] |
//! | a TCP or Unix stream | [`Socket::on_data`](crate::Socket::on_data), [`Socket::send`](crate::Socket::send) | futures-io's `AsyncRead`/`AsyncWrite` on [`Socket`](crate::Socket) (tokio's too, with the `tokio` feature) |
//! | connecting | [`Socket::on_connect`](crate::Socket::on_connect) | [`Socket::connected`](crate::Socket::connected) |
//! | accepting | [`Server::on_connection`](crate::Server::on_connection) | [`Server::incoming`](crate::Server::incoming) |
//! | your own fd | [`Io`](crate::Io) | [`AsyncFd`] |
//! | an HTTP request body, any [`pipe::Readable`](crate::pipe::Readable) | `on_data`, `on_end`, [`pipe()`](crate::pipe()) | [`chunks`], a `Stream` with flow control |
//! | ZeroMQ (feature `zmq`) | `ZmqSocket::on_data`, `send` | `ZmqSocket::messages`, `send_async` |
//! | work on other threads | [`Pool::submit`](crate::Pool::submit) | [`Pool::spawn`](crate::Pool::spawn) |
//!
//! Which style fits what: callbacks for a protocol engine that must be
//! as fast as C (every byte seen once, in the loop's buffer); async/await
//! for sequential logic (a handshake, a request then its reply) and for
//! the crates written against `futures-io` or tokio's I/O traits
//! (WebSocket, database drivers, codecs). One socket can go from one style
//! to the other, as an HTTP upgrade hands its socket to an async
//! WebSocket library.
//!
//! ## Scheduling
//!
//! A task woken during an iteration of the loop runs in that iteration,
//! after the I/O callbacks and timers (a `Check` watcher at the lowest
//! priority), or in the next one, never after a blocking wait. Each pass
//! polls at most 64 tasks, so a task that keeps waking itself cannot
//! starve I/O callbacks or timers. Like a pending promise in Node, a task
//! does not keep [`Loop::run`] alive by itself: what it waits on (a
//! socket, a timer) does, and a task that is ready to run does.
//!
//! ```
//! use std::time::Duration;
//!
//! let lp = hinge::Loop::new()?;
//! let h = lp.handle();
//! let answer = lp.block_on(async move {
//!     let child = h.spawn_local(async { 6 * 7 });
//!     hinge::task::sleep(&h, Duration::from_millis(1)).await;
//!     child.await
//! })?;
//! assert_eq!(answer, 42);
//! # Ok::<(), hinge::Error>(())
//! ```
//!
//! ## Teardown
//!
//! Dropping the [`Loop`] cancels every unfinished task first, on the
//! loop's thread (their futures are dropped while the loop still works),
//! then closes sockets and servers as usual.

mod block_on;
mod chunks;
mod executor;
mod fd;
mod join;
mod pool;
mod reader;
mod time;

pub use crate::net::{Connected, Incoming};
pub use chunks::{chunks, Chunks};
pub use fd::AsyncFd;
pub use join::Task;
pub use pool::PoolTask;
pub use reader::Reader;
pub use time::{interval, sleep, timeout, Elapsed, Interval, Sleep};

pub(crate) use executor::Executor;

use std::future::Future;

use crate::Loop;

impl Loop {
    /// Spawns `future` as a task of this loop; it first runs in the
    /// current or the next iteration. The returned [`Task`] can be
    /// awaited for the output, dropped to cancel the task, or detached.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let lp = hinge::Loop::new()?;
    /// let seen = Rc::new(Cell::new(0)); // tasks need not be Send
    /// let s = seen.clone();
    /// lp.spawn_local(async move { s.set(1) }).detach();
    /// lp.run();
    /// assert_eq!(seen.get(), 1);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn spawn_local<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        Executor::of(self).spawn(future)
    }
}
