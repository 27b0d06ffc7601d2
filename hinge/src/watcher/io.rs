//! File descriptor readiness.

use std::any::Any;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use crate::ffi::{Handle, IoKind, IoParams};
use crate::{Backend, Error, Loop, Ready, Result};

/// Calls back when a file descriptor becomes readable and/or writable.
///
/// The watcher owns the value that holds the fd (a `TcpStream`, a
/// `UnixStream`, an `OwnedFd`, `std::io::stdin()`...), so the fd cannot be
/// closed while libev watches it; it is closed when the watcher is dropped,
/// after it is stopped. Reach the value with [`source`](Io::source).
///
/// The callback receives the events that fired.
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// use hinge::{Ready, Io, Loop, Watcher};
///
/// let lp = Loop::new()?;
/// let (a, mut b) = UnixStream::pair().expect("socketpair");
/// let _io = Io::new(&lp, a, Ready::READ, |_, io, ev| {
///     assert!(ev.is_readable());
///     let mut buf = [0u8; 16];
///     let n = io.source::<UnixStream>().unwrap().read(&mut buf).unwrap();
///     assert_eq!(&buf[..n], b"x");
///     io.stop();
/// })?;
/// b.write_all(b"x").expect("write");
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
#[must_use = "a watcher stops when its handle is dropped: keep it, e.g. `let _w = ...`"]
pub struct Io {
    h: Handle<IoKind>,
}

watcher_type!(Io, IoKind);

fn check_events(events: Ready) -> Result<()> {
    if events.bits() & !(Ready::READ | Ready::WRITE).bits() != 0 {
        return Err(Error::InvalidEvents(events));
    }
    Ok(())
}

impl Io {
    /// Creates and starts a watcher for `events` (READ, WRITE or both) on
    /// the fd of `source`, taking ownership of `source`.
    ///
    /// ```
    /// # use hinge::{Error, Ready, Io, Loop};
    /// # let lp = Loop::new()?;
    /// let r = Io::new(&lp, std::io::stdin(), Ready::TIMER, |_, _, _| {});
    /// assert!(matches!(r, Err(Error::InvalidEvents(_))));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new<S, F>(lp: &Loop, source: S, events: Ready, callback: F) -> Result<Io>
    where
        S: AsFd + 'static,
        F: FnMut(&Loop, &Io, Ready) + 'static,
    {
        check_events(events)?;
        let fd = source.as_fd().as_raw_fd();
        // libev's select backend asserts on fds it cannot put in an fd_set
        // (a source's fd is open: `AsFd` promises it for its lifetime).
        if lp.backend() == Backend::SELECT && fd >= libc::FD_SETSIZE as RawFd {
            return Err(Error::InvalidFd(fd));
        }
        let params = IoParams {
            fd,
            events: events.bits(),
            source: Box::new(source),
        };
        let io = Io {
            h: Handle::new(lp, params, Box::new(callback)),
        };
        io.h.start();
        Ok(io)
    }

    /// Creates and starts a watcher on a descriptor another library owns,
    /// such as ZeroMQ's `ZMQ_FD` or a C library's socket, where no Rust
    /// value owns the fd.
    ///
    /// The watcher never watches `fd` itself: it duplicates it
    /// (`fcntl(F_DUPFD_CLOEXEC)`) and watches, and owns, the duplicate,
    /// which refers to the same open file, so readiness is the same. This
    /// is what makes the call safe: libev aborts the process on a watched
    /// descriptor that is not open, and the library may close its own at
    /// any time. The consequences:
    ///
    /// - `fd` must be open now: anything else is [`Error::InvalidFd`].
    /// - [`fd`](Io::fd) is the duplicate's number, not `fd`.
    /// - The open file lives until both descriptors are closed. For a
    ///   socket, closing the library's fd alone sends no FIN while this
    ///   watcher lives: drop the watcher first (or with it).
    ///
    /// ```
    /// # use hinge::{Error, Io, Loop, Ready};
    /// # let lp = Loop::new()?;
    /// use std::os::fd::AsRawFd;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let io = Io::watch_dup(&lp, a.as_raw_fd(), Ready::READ, |_, _, _| {})?;
    /// assert_ne!(io.fd(), a.as_raw_fd()); // its own descriptor
    /// drop(a); // harmless: the watcher holds the duplicate
    /// // A number that is not an open descriptor is refused, not watched.
    /// let bad = Io::watch_dup(&lp, 900, Ready::READ, |_, _, _| {});
    /// assert!(matches!(bad, Err(Error::InvalidFd(900))));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn watch_dup<F>(lp: &Loop, fd: RawFd, events: Ready, callback: F) -> Result<Io>
    where
        F: FnMut(&Loop, &Io, Ready) + 'static,
    {
        check_events(events)?;
        let owned = crate::ffi::dup_fd(fd).map_err(|_| Error::InvalidFd(fd))?;
        // A refusal names the caller's fd, not the duplicate's number.
        Io::new(lp, owned, events, callback).map_err(|e| match e {
            Error::InvalidFd(_) => Error::InvalidFd(fd),
            e => e,
        })
    }

    /// The value that owns the fd, if it is of type `S`.
    ///
    /// ```
    /// # use hinge::{Ready, Io, Loop};
    /// # let lp = Loop::new()?;
    /// let io = Io::new(&lp, std::io::stdin(), Ready::READ, |_, _, _| {})?;
    /// assert!(io.source::<std::io::Stdin>().is_some());
    /// assert!(io.source::<std::fs::File>().is_none());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn source<S: Any>(&self) -> Option<&S> {
        self.h.extra().source.downcast_ref::<S>()
    }

    /// The watched fd.
    ///
    /// ```
    /// # use hinge::{Ready, Io, Loop};
    /// # let lp = Loop::new()?;
    /// let io = Io::new(&lp, std::io::stdin(), Ready::READ, |_, _, _| {})?;
    /// assert_eq!(io.fd(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn fd(&self) -> RawFd {
        self.h.extra().fd
    }

    /// The watched events.
    ///
    /// ```
    /// # use hinge::{Ready, Io, Loop};
    /// # let lp = Loop::new()?;
    /// let io = Io::new(&lp, std::io::stdin(), Ready::READ, |_, _, _| {})?;
    /// assert_eq!(io.events(), Ready::READ);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn events(&self) -> Ready {
        // libev keeps an internal flag bit in `events`; report only ours.
        Ready::from_bits(self.h.read(|w| w.events)) & (Ready::READ | Ready::WRITE)
    }

    /// Watches other events; restarts the watcher if it was active.
    ///
    /// ```
    /// # use hinge::{Ready, Io, Loop};
    /// # let lp = Loop::new()?;
    /// let io = Io::new(&lp, std::io::stdout(), Ready::READ, |_, _, _| {})?;
    /// io.modify(Ready::READ | Ready::WRITE)?;
    /// assert!(io.events().is_writable());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn modify(&self, events: Ready) -> Result<()> {
        check_events(events)?;
        self.h.modify(events.bits());
        Ok(())
    }

    /// Replaces the callback.
    ///
    /// ```
    /// # use hinge::{Ready, Io, Loop};
    /// # let lp = Loop::new()?;
    /// let io = Io::new(&lp, std::io::stdin(), Ready::READ, |_, _, _| {})?;
    /// io.set_callback(|_, _, ev| println!("{ev:?}"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_callback<F>(&self, callback: F)
    where
        F: FnMut(&Loop, &Io, Ready) + 'static,
    {
        self.h.set_callback(Box::new(callback));
    }
}
