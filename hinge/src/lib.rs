//! # hinge
//!
//! A small, fast, callback-style event loop for Rust, on the battle-tested
//! [libev](http://software.schmorp.de/pkg/libev.html), in the spirit of
//! Node.js, without an async runtime.
//!
//! ## Guide
//!
//! Create a [`Loop`], attach watchers to it, and [`run`](Loop::run) it.
//! `run` returns when no active watcher keeps the loop alive.
//!
//! ```
//! use std::time::Duration;
//! use hinge::{Loop, Timer, Watcher};
//!
//! let lp = Loop::new()?;
//! let mut left = 3;
//! let _tick = Timer::new(&lp, Duration::ZERO, Duration::from_millis(1), move |lp, t| {
//!     left -= 1;
//!     println!("tick at {:.3}, {left} left", lp.now());
//!     if left == 0 {
//!         t.stop(); // nothing else is active, so run() returns
//!     }
//! });
//! lp.run();
//! # Ok::<(), hinge::Error>(())
//! ```
//!
//! Every libev watcher has a type here, all sharing the [`Watcher`] trait
//! (start, stop, priority, feed_event, unref, ...):
//!
//! | watcher | fires when |
//! |---|---|
//! | [`Io`] | a file descriptor is readable or writable |
//! | [`Timer`] | a relative timeout expires (optionally repeating) |
//! | [`Periodic`] | a wall-clock time is reached |
//! | [`Signal`] | a Unix signal arrives |
//! | [`Child`] | a child process changes status (default loop only) |
//! | [`Stat`] | a path's attributes change |
//! | [`Idle`] | the loop has nothing else to do |
//! | [`Prepare`] / [`Check`] | just before / after the loop blocks |
//! | [`Async`] | another thread calls [`AsyncSender::send`] |
//! | [`Fork`] | after [`Loop::fork`] |
//! | [`Cleanup`] | the loop is being dropped |
//!
//! ## Networking
//!
//! [`Server`] and [`Socket`] speak Node's `net` vocabulary: `listening`,
//! `connection`, `data`, `end`, `drain`, `timeout`, `error`, `close`, as
//! typed methods (`on_data`, `once_close`, ...), so a misspelled event does
//! not compile. The quickstart, an echo server:
//!
//! ```no_run
//! use hinge::{Loop, Server};
//!
//! let lp = Loop::new()?;
//! let server = Server::new(&lp);
//! server.on_listening(|_, s, _| println!("listening on {}", s.local_addr().unwrap()));
//! server.on_connection(|_, _, client| {
//!     println!("new client {:?}", client.peer_addr());
//!     client.on_data(|_, client, data| {
//!         // Backpressure: stop reading while the peer is slow to read.
//!         if !client.send(data).unwrap_or(true) {
//!             client.pause();
//!         }
//!     });
//!     client.on_drain(|_, client, _| client.resume());
//!     client.on_close(|_, _, _| println!("client left"));
//! });
//! server.listen(4545)?;
//! lp.run();
//! # Ok::<(), hinge::Error>(())
//! ```
//!
//! Reads land in one buffer per loop (no allocation per read); `send`
//! writes at once when nothing is queued and returns `false` above the
//! high-water mark. [`Socket::connect`] resolves names off the loop thread.
//! Errors are typed ([`Error::ConnectionRefused`], [`Error::AddrInUse`],
//! ...). An `error` nobody listens to is logged and closes the socket.
//!
//! ## Timers, deferred work and the pool
//!
//! [`Loop::set_timeout`], [`Loop::set_interval`] and [`TimerHandle::clear`]
//! work like Node's; [`Loop::defer`] is `setImmediate`. A [`Pool`] runs
//! closures on worker threads and calls back on the loop's thread.
//!
//! ## Ownership
//!
//! * Watchers are created started. Dropping a watcher stops it and frees
//!   its closure, also from inside its own callback.
//! * Callbacks get `&Loop` and their own watcher, so they rarely need to
//!   capture handles; capturing a watcher in its own closure would create a
//!   cycle that keeps it alive.
//! * Dropping the [`Loop`] stops every watcher still attached and frees
//!   their closures; handles that outlive it become inert.
//! * A panic in a callback is caught before it reaches C, breaks the loop,
//!   and resumes from the `run` call.
//! * `Loop` and watchers are `!Send`; [`AsyncSender`] is the one handle
//!   other threads may use.
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod defer;
#[macro_use]
mod emitter;
mod error;
mod event_loop;
mod ffi;
mod handle;
mod net;
mod pool;
mod ready;
mod timers;
mod watcher;

pub use defer::Priority;
pub use emitter::{Event, ListenerId};
pub use error::{Error, Result};
pub use event_loop::{libev_version, priority_range, time, Backend, Loop, LoopBuilder};
pub use net::{
    tcp_send, Addr, SendOptions, Server, ServerEvent, Socket, SocketEvent, DEFAULT_HIGH_WATER,
};
pub use pool::{JobError, Pool, PoolBuilder};
pub use ready::Ready;
pub use timers::TimerHandle;
pub use watcher::{
    Async, AsyncSender, Check, Child, Cleanup, FileStat, Fork, Idle, Io, Periodic, Prepare, Signal,
    Stat, Timer, Watcher,
};
