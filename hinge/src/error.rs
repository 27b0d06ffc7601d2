//! The one error type of hinge.

use std::io;

use crate::Ready;

/// Everything that can go wrong in hinge, one variant per failure a caller
/// handles differently.
///
/// `Display` and `Debug` both read as a sentence (`Debug` adds the chain
/// of causes, as anyhow does), so that `?` out of `main` prints
/// `Error: listen [::]:4545: address already in use` rather than the
/// enum's insides. Match on the variant to tell failures apart.
///
/// ```
/// use hinge::{Error, Loop, Signal};
///
/// let lp = Loop::new()?;
/// match Signal::new(&lp, 0, |_, _| {}) {
///     Err(Error::InvalidSignal(0)) => {}
///     other => panic!("unexpected: {other:?}"),
/// }
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// libev could not create a loop with the requested backends and flags.
    #[error("libev could not create a loop (flags {flags:#x}); is the backend supported here?")]
    LoopCreate {
        /// The backend and flag bits passed to libev.
        flags: u32,
    },
    /// The process-wide default loop is already owned by a live [`Loop`](crate::Loop).
    #[error("the default loop is already owned by another Loop in this process")]
    DefaultLoopBusy,
    /// A signal number outside `1..=64`.
    #[error("invalid signal number {0}")]
    InvalidSignal(i32),
    /// libev lets one loop at a time watch a given signal.
    #[error("signal {signum} is already watched by another loop")]
    SignalInUse {
        /// The contested signal number.
        signum: i32,
    },
    /// Child watchers only work on the default loop (libev's rule).
    #[error("child watchers need the default loop (Loop::default_loop)")]
    NotDefaultLoop,
    /// A number that is not an open file descriptor, or one the select
    /// backend cannot watch (at or above `FD_SETSIZE`).
    #[error("invalid file descriptor {0}")]
    InvalidFd(i32),
    /// An io watcher accepts only [`Ready::READ`] and [`Ready::WRITE`].
    #[error("invalid io event mask {0:?}: only READ and WRITE are allowed")]
    InvalidEvents(Ready),
    /// A path containing a NUL byte.
    #[error("path contains a NUL byte")]
    InvalidPath,
    /// A duration or time that libev cannot represent (negative or not finite).
    #[error("invalid time value {0}")]
    InvalidTime(f64),
    /// The priority of an active or pending watcher cannot change.
    #[error("cannot change the priority of an active or pending watcher")]
    WatcherBusy,
    /// The address is taken (`EADDRINUSE`).
    #[error("{op} {addr}: address already in use")]
    AddrInUse {
        /// What was being done (`"listen"`, `"connect"`, ...).
        op: &'static str,
        /// The address involved.
        addr: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The address is not local to this machine (`EADDRNOTAVAIL`).
    #[error("{op} {addr}: address not available")]
    AddrNotAvailable {
        /// What was being done.
        op: &'static str,
        /// The address involved.
        addr: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Nothing listens at the address (`ECONNREFUSED`).
    #[error("{op} {addr}: connection refused")]
    ConnectionRefused {
        /// What was being done.
        op: &'static str,
        /// The address involved.
        addr: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The peer reset the connection or the pipe broke (`ECONNRESET`, `EPIPE`).
    #[error("{op} {addr}: connection reset by peer")]
    ConnectionReset {
        /// What was being done.
        op: &'static str,
        /// The address involved.
        addr: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A connect, read or write did not complete in time.
    #[error("{op} {addr}: timed out")]
    TimedOut {
        /// What was being done.
        op: &'static str,
        /// The address involved.
        addr: String,
        /// The OS error (`ETIMEDOUT`, or made up for hinge's own timeouts).
        #[source]
        source: io::Error,
    },
    /// No route to the network or host (`ENETUNREACH`, `EHOSTUNREACH`).
    #[error("{op} {addr}: unreachable")]
    Unreachable {
        /// What was being done.
        op: &'static str,
        /// The address involved.
        addr: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The process or system ran out of file descriptors (`EMFILE`, `ENFILE`).
    #[error("{op} {addr}: too many open files")]
    TooManyOpenFiles {
        /// What was being done.
        op: &'static str,
        /// The address involved.
        addr: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Name resolution found no address for the host.
    #[error("resolve {host}: name not found")]
    NameNotFound {
        /// The host name.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// An address string that is not an address, or a port out of range.
    #[error("invalid address {addr:?}: {reason}")]
    InvalidAddress {
        /// The input.
        addr: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The socket or server is closed (or its writing side was ended).
    #[error("{op}: the socket is closed")]
    Closed {
        /// What was attempted.
        op: &'static str,
    },
    /// [`Loop::block_on`](crate::Loop::block_on) was called while the
    /// loop runs: from a callback or a task, or from inside another
    /// `block_on`. Await the future instead, or spawn it.
    #[error("block_on cannot run inside the loop it would run (from a callback, a task, or another block_on): await or spawn the future instead")]
    NestedBlockOn,
    /// The loop was dropped (or is being dropped): it runs nothing more.
    #[error("{op}: the loop was dropped")]
    LoopGone {
        /// What was attempted.
        op: &'static str,
    },
    /// A line longer than the limit of a [`LineSplitter`](crate::LineSplitter).
    #[error("a line is longer than the limit of {max} bytes")]
    LineTooLong {
        /// The limit.
        max: usize,
    },
    /// The operation would block and nothing can queue it: the send queue
    /// is at its limit. The caller still has the data.
    #[error("{op}: would block (the queue is full)")]
    WouldBlock {
        /// What was attempted.
        op: &'static str,
    },
    /// A ZeroMQ error without a more specific variant (a REQ socket sending
    /// twice, an unroutable ROUTER peer, ...), with the operation and the
    /// endpoint or socket it concerned.
    #[cfg(feature = "zmq")]
    #[cfg_attr(docsrs, doc(cfg(feature = "zmq")))]
    #[error("{op} {endpoint}: {source}")]
    Zmq {
        /// What was being done.
        op: &'static str,
        /// The endpoint, or the socket's kind when there is none.
        endpoint: String,
        /// libzmq's error.
        source: ::zmq::Error,
    },
    /// `listen` on a server that is already listening.
    #[error("listen: the server is already listening on {addr}")]
    AlreadyListening {
        /// Where it listens.
        addr: String,
    },
    /// A client's HTTP request was refused: the server answered `status`
    /// (400, 408, 413, 414, 417, 431, 501) and closed the connection.
    /// Reported to [`http::Server::on_client_error`](crate::http::Server::on_client_error).
    #[error("{addr}: HTTP request refused with {status}: {reason}")]
    BadRequest {
        /// The status the server answered.
        status: u16,
        /// What was wrong with the request.
        reason: &'static str,
        /// The client's address.
        addr: String,
    },
    /// An HTTP response operation that the response's state forbids:
    /// a header set after the head was sent, a body on a 204 or 304,
    /// more bytes than the declared Content-Length, a write after `end`.
    #[error("{op}: {reason}")]
    HttpState {
        /// What was attempted.
        op: &'static str,
        /// Why it is refused.
        reason: &'static str,
    },
    /// An invalid HTTP status, header name or header value given to a
    /// response.
    #[error("{op}: invalid {what}")]
    InvalidHttp {
        /// What was attempted.
        op: &'static str,
        /// Which part was invalid.
        what: &'static str,
    },
    /// A request body ended early (the client went away), was malformed,
    /// or exceeded a limit.
    #[error("request body: {reason}")]
    BodyAborted {
        /// What happened.
        reason: &'static str,
    },
    /// An HTTP server answered the client with something that is not a
    /// valid HTTP/1.1 response, or broke its own framing: a malformed
    /// status line, two Content-Lengths, Content-Length with
    /// Transfer-Encoding, a bad chunk, a head over the limit, a body
    /// shorter than it declared, bytes nobody asked for. The connection
    /// is not reused. (See [`http::request`](crate::http::request).)
    #[error("{addr}: invalid HTTP response: {reason}")]
    InvalidResponse {
        /// The server's address.
        addr: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// A URL the HTTP client cannot use: not `http://` or `https://`,
    /// without a host, or `https://` without the `tls` feature.
    #[error("{url}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// A body was larger than the limit given to `collect`.
    #[error("{what}: larger than the limit of {limit} bytes")]
    TooLarge {
        /// Which body.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// A TLS error (`hinge::tls`): a bad certificate, a failed
    /// handshake, a peer that broke the protocol; rustls' error says
    /// which.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[error("{op} {addr}: TLS: {source}")]
    Tls {
        /// What was being done (`handshake`, `read`, `load certificate`...).
        op: &'static str,
        /// The peer's address, or the file.
        addr: String,
        /// rustls' error.
        source: ::rustls::Error,
    },
    /// [`Socket::set_layer`](crate::Socket::set_layer) on a socket that
    /// already has a layer.
    #[error("set_layer: the socket already has a layer")]
    AlreadyLayered,
    /// The peer closed the connection without ending its session first
    /// (TLS: no `close_notify`): what came before may have been cut short
    /// by an attacker, so it is not reported as a clean `end`.
    #[error("{addr}: the peer closed the connection without ending the session (truncated)")]
    Truncated {
        /// The peer's address.
        addr: String,
    },
    /// A worker of a [`Workers`](crate::Workers) group panicked, in its
    /// setup or in a callback of its loop.
    #[error("worker {index} panicked: {message}")]
    WorkerPanicked {
        /// Which worker ([`Worker::index`](crate::Worker::index)).
        index: usize,
        /// The panic's message, when it was a string.
        message: String,
    },
    /// A worker of a [`Workers`](crate::Workers) group could not start:
    /// its loop could not be made or its setup returned an error.
    #[error("worker {index}: {source}")]
    WorkerFailed {
        /// Which worker ([`Worker::index`](crate::Worker::index)).
        index: usize,
        /// What its setup returned.
        #[source]
        source: Box<Error>,
    },
    /// Any other OS error, with the operation and address.
    #[error("{op} {addr}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The address involved.
        addr: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// Classifies an OS error from `op` on `addr` into the variant a caller
    /// handles differently.
    ///
    /// ```
    /// use std::io;
    /// let e = hinge::Error::from_io("connect", "127.0.0.1:9", io::Error::from_raw_os_error(libc::ECONNREFUSED));
    /// assert!(matches!(e, hinge::Error::ConnectionRefused { .. }));
    /// assert_eq!(e.to_string(), "connect 127.0.0.1:9: connection refused");
    /// ```
    pub fn from_io(op: &'static str, addr: impl std::fmt::Display, source: io::Error) -> Error {
        let addr = addr.to_string();
        match source.raw_os_error() {
            Some(libc::EADDRINUSE) => Error::AddrInUse { op, addr, source },
            Some(libc::EADDRNOTAVAIL) => Error::AddrNotAvailable { op, addr, source },
            Some(libc::ECONNREFUSED) => Error::ConnectionRefused { op, addr, source },
            Some(libc::ECONNRESET | libc::EPIPE | libc::ECONNABORTED) => {
                Error::ConnectionReset { op, addr, source }
            }
            Some(libc::ETIMEDOUT) => Error::TimedOut { op, addr, source },
            Some(libc::ENETUNREACH | libc::EHOSTUNREACH | libc::ENETDOWN) => {
                Error::Unreachable { op, addr, source }
            }
            Some(libc::EMFILE | libc::ENFILE) => Error::TooManyOpenFiles { op, addr, source },
            _ if source.kind() == io::ErrorKind::TimedOut => Error::TimedOut { op, addr, source },
            _ => Error::Io { op, addr, source },
        }
    }

    /// A copy of this error, for a second receiver: an `error` event
    /// hands its listeners `&Error`, while a future, a stream or a queue
    /// needs one of its own. The OS error underneath is rebuilt from its
    /// code (or its kind and message); an error with nothing to rebuild
    /// from becomes [`Error::Io`] with the same message.
    ///
    /// ```
    /// let e = hinge::Error::Closed { op: "send" };
    /// let copy = e.duplicate();
    /// assert_eq!(copy.to_string(), e.to_string());
    /// ```
    pub fn duplicate(&self) -> Error {
        fn copy(source: &io::Error) -> io::Error {
            match source.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::new(source.kind(), source.to_string()),
            }
        }
        match self {
            Error::NameNotFound { host, source } => Error::NameNotFound {
                host: host.clone(),
                source: copy(source),
            },
            Error::InvalidAddress { addr, reason } => Error::InvalidAddress {
                addr: addr.clone(),
                reason,
            },
            Error::Closed { op } => Error::Closed { op },
            Error::AddrInUse { op, addr, source }
            | Error::AddrNotAvailable { op, addr, source }
            | Error::ConnectionRefused { op, addr, source }
            | Error::ConnectionReset { op, addr, source }
            | Error::TimedOut { op, addr, source }
            | Error::Unreachable { op, addr, source }
            | Error::TooManyOpenFiles { op, addr, source }
            | Error::Io { op, addr, source } => Error::from_io(op, addr, copy(source)),
            #[cfg(feature = "zmq")]
            Error::Zmq {
                op,
                endpoint,
                source,
            } => Error::Zmq {
                op,
                endpoint: endpoint.clone(),
                source: *source,
            },
            #[cfg(feature = "tls")]
            Error::Tls { op, addr, source } => Error::Tls {
                op,
                addr: addr.clone(),
                source: source.clone(),
            },
            Error::Truncated { addr } => Error::Truncated { addr: addr.clone() },
            Error::InvalidResponse { addr, reason } => Error::InvalidResponse {
                addr: addr.clone(),
                reason,
            },
            Error::InvalidUrl { url, reason } => Error::InvalidUrl {
                url: url.clone(),
                reason,
            },
            Error::TooLarge { what, limit } => Error::TooLarge {
                what,
                limit: *limit,
            },
            Error::HttpState { op, reason } => Error::HttpState { op, reason },
            Error::BodyAborted { reason } => Error::BodyAborted { reason },
            other => Error::Io {
                op: "error",
                addr: String::new(),
                source: io::Error::other(other.to_string()),
            },
        }
    }

    /// The underlying OS error, if there is one.
    ///
    /// ```
    /// let e = hinge::Error::Closed { op: "send" };
    /// assert!(e.io_error().is_none());
    /// ```
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            Error::AddrInUse { source, .. }
            | Error::AddrNotAvailable { source, .. }
            | Error::ConnectionRefused { source, .. }
            | Error::ConnectionReset { source, .. }
            | Error::TimedOut { source, .. }
            | Error::Unreachable { source, .. }
            | Error::TooManyOpenFiles { source, .. }
            | Error::NameNotFound { source, .. }
            | Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// For `std::io` interfaces (futures-io's `AsyncRead`, tokio's, ...): the
/// kind of the OS error underneath if there is one, else the kind that
/// fits; the hinge error stays inside as the source
/// (`io::Error::get_ref`).
///
/// ```
/// let e: std::io::Error = hinge::Error::Closed { op: "send" }.into();
/// assert_eq!(e.kind(), std::io::ErrorKind::NotConnected);
/// assert!(e.get_ref().unwrap().is::<hinge::Error>());
/// ```
impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Closed { .. } => io::ErrorKind::NotConnected,
            Error::Truncated { .. } => io::ErrorKind::UnexpectedEof,
            Error::WouldBlock { .. } => io::ErrorKind::WouldBlock,
            Error::InvalidAddress { .. }
            | Error::InvalidFd(_)
            | Error::InvalidEvents(_)
            | Error::InvalidPath
            | Error::InvalidTime(_)
            | Error::InvalidSignal(_) => io::ErrorKind::InvalidInput,
            other => other.io_error().map_or(io::ErrorKind::Other, |s| s.kind()),
        };
        io::Error::new(kind, e)
    }
}

/// `Result` with hinge's [`Error`].
///
/// ```
/// fn make() -> hinge::Result<hinge::Loop> {
///     hinge::Loop::new()
/// }
/// assert!(make().is_ok());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl std::fmt::Debug for Error {
    /// The message, then each cause it does not already quote:
    ///
    /// ```
    /// let e = hinge::Error::InvalidFd(-1);
    /// assert_eq!(format!("{e:?}"), "invalid file descriptor -1");
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let message = self.to_string();
        f.write_str(&message)?;
        let mut cause = std::error::Error::source(self);
        let mut first = true;
        while let Some(c) = cause {
            let text = c.to_string();
            if !message.contains(&text) {
                f.write_str(if first { "\n\nCaused by:" } else { "" })?;
                write!(f, "\n    {text}")?;
                first = false;
            }
            cause = c.source();
        }
        Ok(())
    }
}

/// Drops a caught panic's payload without ever unwinding, even if the
/// payload's own `Drop` panics (and that panic's payload, and so on, 16
/// links deep; a longer chain leaks its last link). hinge drops the
/// panics it does not re-raise this way; so can layers built on hinge
/// that catch panics of their own.
///
/// ```
/// let caught = std::panic::catch_unwind(|| panic!("a second panic")).unwrap_err();
/// hinge::discard_panic(caught);
/// ```
pub fn discard_panic(payload: Box<dyn std::any::Any + Send>) {
    crate::ffi::panic::drop_payload(payload);
}

/// Reports an error that no listener handled, so it never vanishes: to the
/// `log` crate at warn level when a logger is installed (its filter then
/// decides), otherwise straight to stderr, where most programs, which
/// install no logger, still show it. hinge's sockets and servers use it;
/// so can layers built on hinge, for their own `error` events.
///
/// ```
/// let err = hinge::Error::Closed { op: "send" };
/// hinge::report_unhandled(format_args!("my protocol: {err}"));
/// ```
pub fn report_unhandled(what: std::fmt::Arguments<'_>) {
    if log::max_level() == log::LevelFilter::Off {
        eprintln!("hinge: {what}");
    } else {
        log::warn!("hinge: {what}");
    }
}
