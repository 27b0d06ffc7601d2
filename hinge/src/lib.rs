//! # hinge
//!
//! A small, fast, callback-style event loop for Rust, on the battle-tested
//! [libev](http://software.schmorp.de/pkg/libev.html), in the spirit of
//! Node.js, without an async runtime.
//!
//! ## When to choose hinge
//!
//! - **Choose hinge** for a server or client written as callbacks on one
//!   loop (Node's `net`/`http` style) that must be as fast as C on libev,
//!   small to build, and free of an async runtime: sockets, timers,
//!   signals, child processes, a work pool, HTTP/1.1 and ZeroMQ, all on
//!   one thread, with `unsafe` nowhere in your code.
//! - **Use both styles** when part of a program reads best as
//!   `async`/`await` or needs a crate written for `futures-io` or tokio's
//!   I/O traits (a WebSocket library, a codec): [`task`] runs futures on
//!   the same loop, beside callbacks, sharing its sockets, timers and pool.
//! - **Choose tokio** (or smol) when everything is async and you want one
//!   runtime spread over every core, or crates that need tokio's own
//!   runtime (its `spawn`, its timers). hinge runs one loop per thread;
//!   [`Workers`] runs one on every core, sharing a port, with
//!   [`Loop::channel`]s between them.
//!
//! ## Map
//!
//! | module or type | what it is | feature |
//! |---|---|---|
//! | [`Loop`], [`LoopBuilder`] | the event loop: run, break, time, backends | |
//! | [`Timer`], [`Io`], [`Signal`], [`Child`], [`Stat`], [`Idle`], [`Prepare`], [`Check`], [`Async`], [`Fork`], [`Cleanup`], [`Periodic`] | libev's watchers, sharing the [`Watcher`] trait | |
//! | [`Server`], [`Socket`], [`tcp_send`] | TCP and Unix-domain streams in Node's `net` vocabulary | |
//! | [`Event`], [`ListenerId`] | typed events: the listeners of every type, and of your own | |
//! | [`pipe()`], [`pipe::Readable`], [`pipe::Writable`] | streaming with backpressure by construction | |
//! | [`Pool`] | work on other threads, results back on the loop's | |
//! | [`Loop::set_timeout`], [`Loop::defer`], [`Loop::on_signal`] | Node's timers, `setImmediate`, signal handlers | |
//! | [`Workers`], [`Worker`], [`Stopper`] | every core: a loop per thread, stopped together | |
//! | [`Loop::channel`], [`Sender`], [`Receiver`] | messages (values, closures, connections) between loops | |
//! | [`Error`] | the one error type | |
//! | `http` | an HTTP/1.1 server: `http::Server`, `Request`, `Response` | `http` (default) |
//! | `zmq` | ZeroMQ sockets on the loop | `zmq` |
//! | `task`, [`Loop::spawn_local`], [`Loop::block_on`], [`Task`], [`LoopHandle`] | async/await on the loop: tasks, timers as futures, `AsyncRead`/`AsyncWrite` on sockets | `async` (default); tokio's I/O traits with `tokio` |
//!
//! Modules behind a feature are labelled with it in these docs (on
//! docs.rs, which builds with every feature); a build without the
//! feature has no such module.
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
//! server.on_listening(|_, s| println!("listening on {}", s.local_addr().unwrap()));
//! server.on_connection(|_, _, client| {
//!     println!("new client {:?}", client.peer_addr());
//!     client.on_data(|_, client, data| {
//!         // Backpressure: stop reading while the peer is slow to read.
//!         if !client.send(data).unwrap_or(true) {
//!             client.pause();
//!         }
//!     });
//!     client.on_drain(|_, client| client.resume());
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
//! ...). An `error` nobody listens to closes the socket and is reported: to the
//! `log` crate if a logger is installed, else to stderr.
//!
//! ### Listeners: one shape everywhere
//!
//! Every `on_<event>` method of every type (sockets, servers, the HTTP
//! server, requests, responses, ZeroMQ sockets, [`Event`]s of your own)
//! *adds* a listener and returns a [`ListenerId`] for `off`; listeners
//! run in the order they were added, and `once_<event>` ones remove
//! themselves. A listener takes the loop, then the object that emitted
//! the event, then the event's payload if it has one:
//!
//! | event | listener |
//! |---|---|
//! | `Socket::on_drain`, `Server::on_close`, `http::Server::on_close` | `\|lp, source\|` |
//! | `Socket::on_data`, `Socket::on_close` (`had_error`), `Server::on_connection` (the client) | `\|lp, source, payload\|` |
//! | `http::Server::on_request` | `\|lp, server, req, res\|`: the payload is a pair of owned handles |
//!
//! Callbacks that are not events (a timer's, a watcher's, `send_then`'s
//! written callback, a pool job's result) are given once, at creation.
//!
//! ## Timers, deferred work and the pool
//!
//! [`Loop::set_timeout`], [`Loop::set_interval`] and [`TimerHandle::clear`]
//! work like Node's; [`Loop::defer`] is `setImmediate`. A [`Pool`] runs
//! closures on worker threads and calls back on the loop's thread.
//!
//! ## Ownership: two models, side by side
//!
//! | | watchers ([`Timer`], [`Signal`], [`Io`], ...), [`Loop`], [`Pool`] | [`Server`], [`Socket`], [`Loop::set_timeout`] / [`set_interval`](Loop::set_interval), [`Loop::on_signal`], [`Loop::defer`] |
//! |---|---|---|
//! | who owns it | your handle | the loop, while it is active (listening, open, pending) |
//! | dropping the handle | stops it and frees its closure | changes nothing |
//! | how to stop it | drop it, or `stop()` | `close()`, `destroy()`, [`TimerHandle::clear`], [`SignalHandle::clear`] |
//! | keeps `run` alive | while active, unless `unref()` | while active, unless `unref()` ([`Loop::on_signal`] never does) |
//!
//! The types of the first column are `#[must_use]`: `Timer::new(...);`
//! without keeping the value would stop the timer at once, and the
//! compiler says so. Keep it in a variable (`let _tick = ...`).
//!
//! ```compile_fail
//! #![deny(unused_must_use)]
//! # fn main() -> hinge::Result<()> {
//! let lp = hinge::Loop::new()?;
//! // error: unused `Timer` that must be used: it would stop at once
//! hinge::Timer::new(&lp, std::time::Duration::from_secs(1), std::time::Duration::ZERO, |_, _| {});
//! # Ok(()) }
//! ```
//!
//! * Callbacks get `&Loop` and their own watcher or socket, so they rarely
//!   need to capture handles. To use a socket or server from another
//!   callback, capture a clone: cloning is cheap (a reference count).
//!   Capturing a watcher in its own closure would create a cycle that keeps
//!   it alive.
//! * Dropping the [`Loop`] stops every watcher still attached, closes every
//!   socket and server, and frees their closures; handles that outlive it
//!   become inert, and operations on them report [`Error::Closed`]. Each
//!   socket and server still open emits `close` (without error) once as
//!   it goes, even while a panic unwinds, so that code which breaks its
//!   cycles on `close` (a table of clients, a protocol layer) always gets
//!   to. The loop is dead by then: what those listeners start never runs.
//! * A panic in a callback is caught before it reaches C, breaks the loop,
//!   and resumes from the `run` call. Only the first panic of an iteration
//!   is re-raised; later ones are dropped. A listener that panics is
//!   dropped only after its panic was caught, so captures whose `Drop`
//!   panics too cannot abort the process (an `FnOnce` callback, such as a
//!   `once` listener, is the exception: Rust drops its captures while it
//!   unwinds). A payload whose `Drop` panics with a payload whose `Drop`
//!   panics, and so on, is followed 16 links deep; a longer chain leaks
//!   its last link (a few bytes) rather than risk an abort.
//! * `Loop` and watchers are `!Send`; [`AsyncSender`], [`Sender`] and
//!   [`Stopper`] are the handles other threads may use.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod channel;
mod defer;
#[macro_use]
mod emitter;
mod error;
mod event_loop;
mod ffi;
mod handle;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
mod net;
pub mod pipe;
mod pool;
mod ready;
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod task;
mod timers;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;
mod watcher;
mod workers;
#[cfg(feature = "zmq")]
#[cfg_attr(docsrs, doc(cfg(feature = "zmq")))]
pub mod zmq;

pub use channel::{Receiver, SendError, Sender, TrySendError};
pub use defer::Priority;
pub use emitter::{Event, ListenerId};
pub use error::{discard_panic, report_unhandled, Error, Result};
pub use event_loop::{libev_version, priority_range, time, Backend, Loop, LoopBuilder, LoopHandle};
pub use net::{
    tcp_send, Addr, Decoded, Layer, LineSplitter, SendOptions, Server, ServerEvent, Socket,
    SocketEvent, DEFAULT_HIGH_WATER,
};
pub use pipe::pipe;
pub use pool::{JobError, Pool, PoolBuilder};
pub use ready::Ready;
#[cfg(feature = "async")]
pub use task::Task;
pub use timers::TimerHandle;
pub use watcher::SignalHandle;
pub use workers::{Stopper, Worker, Workers};

/// The common Unix signal numbers, so that a program needs no `libc`
/// dependency to name them ([`Signal::new`], [`Loop::on_signal`]).
///
/// ```
/// assert_eq!(hinge::signal::SIGINT, 2);
/// ```
pub mod signal {
    /// Interrupt from the keyboard (Ctrl-C).
    pub const SIGINT: i32 = libc::SIGINT;
    /// Termination request (what `kill` sends by default).
    pub const SIGTERM: i32 = libc::SIGTERM;
    /// Hangup; daemons often reload their configuration on it.
    pub const SIGHUP: i32 = libc::SIGHUP;
    /// Quit from the keyboard (Ctrl-\\).
    pub const SIGQUIT: i32 = libc::SIGQUIT;
    /// User-defined signal 1.
    pub const SIGUSR1: i32 = libc::SIGUSR1;
    /// User-defined signal 2.
    pub const SIGUSR2: i32 = libc::SIGUSR2;
    /// A child process stopped or ended.
    pub const SIGCHLD: i32 = libc::SIGCHLD;
    /// Write to a closed pipe (hinge's sockets never raise it).
    pub const SIGPIPE: i32 = libc::SIGPIPE;
    /// The terminal window changed size.
    pub const SIGWINCH: i32 = libc::SIGWINCH;
    /// Alarm clock.
    pub const SIGALRM: i32 = libc::SIGALRM;
}
pub use watcher::{
    Async, AsyncSender, Check, Child, Cleanup, FileStat, Fork, Idle, Io, Periodic, Prepare, Signal,
    Stat, Timer, Watcher,
};

/// The README's Rust examples, compiled (and run, unless `no_run`) as
/// doc-tests, so that every quickstart is exactly what a user can type.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
