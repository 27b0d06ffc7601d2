//! `AsyncFd`: readiness of a file descriptor you own, as futures.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::{Io, Loop, Ready, Result, Watcher};

/// Wakers and readiness shared between an `AsyncFd` and its io watcher.
#[derive(Default)]
struct Shared {
    /// Readiness seen and not yet taken by a poll.
    ready: Cell<Ready>,
    /// Every task waiting, per direction (`readable()` takes `&self`,
    /// so several tasks may wait at once).
    reader: RefCell<Vec<Waker>>,
    writer: RefCell<Vec<Waker>>,
}

/// A file descriptor of yours, watched by the loop for futures: the
/// equivalent of async-io's `Async<T>` and tokio's `AsyncFd`. It owns the
/// value that holds the fd (a non-blocking `UnixDatagram`, a pipe, a
/// device...), so the fd stays open while the loop watches it, and closes
/// when the `AsyncFd` is dropped. The fd should be non-blocking.
///
/// Readiness is one-shot: a poll that finds none asks the loop to watch
/// for it, and the watch ends once it fires, so an fd nobody waits on
/// costs no wakeups.
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// use hinge::task::AsyncFd;
///
/// let lp = hinge::Loop::new()?;
/// let (a, mut b) = UnixStream::pair().unwrap();
/// a.set_nonblocking(true).unwrap();
/// let fd = AsyncFd::new(&lp, a)?;
/// b.write_all(b"ping").unwrap();
/// let got = lp.block_on(fd.read_with(|mut s| {
///     let mut buf = [0u8; 8];
///     let n = s.read(&mut buf)?;
///     Ok(buf[..n].to_vec())
/// }))??;
/// assert_eq!(got, b"ping");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AsyncFd<T> {
    io: Io,
    shared: Rc<Shared>,
    _source: std::marker::PhantomData<T>,
}

impl<T: AsFd + 'static> AsyncFd<T> {
    /// Watches `source`'s fd on `lp`, taking ownership of `source`.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let fd = hinge::task::AsyncFd::new(&lp, a)?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new(lp: &Loop, source: T) -> Result<AsyncFd<T>> {
        let shared = Rc::new(Shared::default());
        let s = shared.clone();
        let io = Io::new(lp, source, Ready::NONE, move |_, io, events| {
            s.ready.set(s.ready.get() | events);
            let mut wanted = io.events();
            if events.is_readable() || events.is_error() {
                wanted = Ready::from_bits(wanted.bits() & !Ready::READ.bits());
                let waiting = std::mem::take(&mut *s.reader.borrow_mut());
                waiting.into_iter().for_each(Waker::wake);
            }
            if events.is_writable() || events.is_error() {
                wanted = Ready::from_bits(wanted.bits() & !Ready::WRITE.bits());
                let waiting = std::mem::take(&mut *s.writer.borrow_mut());
                waiting.into_iter().for_each(Waker::wake);
            }
            watch(io, wanted);
        })?;
        io.stop();
        Ok(AsyncFd {
            io,
            shared,
            _source: std::marker::PhantomData,
        })
    }

    /// The value that owns the fd.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let fd = hinge::task::AsyncFd::new(&lp, a)?;
    /// assert!(fd.get_ref().peer_addr().is_ok());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn get_ref(&self) -> &T {
        self.io
            .source::<T>()
            .expect("an AsyncFd's watcher holds its source")
    }

    /// Ready once the fd is readable (or in error); otherwise registers
    /// `cx`'s waker for it.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let fd = hinge::task::AsyncFd::new(&lp, a)?;
    /// let waker = std::task::Waker::noop();
    /// let mut cx = std::task::Context::from_waker(&waker);
    /// assert!(fd.poll_readable(&mut cx).is_pending());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_ready(cx, Ready::READ, &self.shared.reader)
    }

    /// Ready once the fd is writable (or in error); otherwise registers
    /// `cx`'s waker for it.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let fd = hinge::task::AsyncFd::new(&lp, a)?;
    /// lp.block_on(std::future::poll_fn(|cx| fd.poll_writable(cx)))?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_ready(cx, Ready::WRITE, &self.shared.writer)
    }

    fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        want: Ready,
        slot: &RefCell<Vec<Waker>>,
    ) -> Poll<()> {
        let seen = self.shared.ready.get();
        if seen.bits() & (want.bits() | Ready::ERROR.bits()) != 0 {
            self.shared
                .ready
                .set(Ready::from_bits(seen.bits() & !want.bits()));
            return Poll::Ready(());
        }
        let mut waiting = slot.borrow_mut();
        if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
            waiting.push(cx.waker().clone());
        }
        watch(&self.io, self.io.events() | want);
        Poll::Pending
    }

    /// Waits until the fd is readable.
    ///
    /// ```
    /// # use std::io::Write;
    /// # let lp = hinge::Loop::new()?;
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let fd = hinge::task::AsyncFd::new(&lp, a)?;
    /// b.write_all(b"x").unwrap();
    /// lp.block_on(fd.readable())?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn readable(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| self.poll_readable(cx))
    }

    /// Waits until the fd is writable.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let fd = hinge::task::AsyncFd::new(&lp, a)?;
    /// lp.block_on(fd.writable())?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn writable(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| self.poll_writable(cx))
    }

    /// Runs `op` on the source until it does not fail with `WouldBlock`,
    /// waiting for readability in between.
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # let lp = hinge::Loop::new()?;
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// a.set_nonblocking(true).unwrap();
    /// let fd = hinge::task::AsyncFd::new(&lp, a)?;
    /// b.write_all(b"hi").unwrap();
    /// let n = lp.block_on(fd.read_with(|mut s| s.read(&mut [0u8; 4])))??;
    /// assert_eq!(n, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        loop {
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable().await,
                r => return r,
            }
        }
    }

    /// Runs `op` on the source until it does not fail with `WouldBlock`,
    /// waiting for writability in between.
    ///
    /// ```
    /// # use std::io::Write;
    /// # let lp = hinge::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// a.set_nonblocking(true).unwrap();
    /// let fd = hinge::task::AsyncFd::new(&lp, a)?;
    /// let n = lp.block_on(fd.write_with(|mut s| s.write(b"hello")))??;
    /// assert_eq!(n, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        loop {
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable().await,
                r => return r,
            }
        }
    }
}

/// Points the io watcher at `events`, stopped when there are none.
fn watch(io: &Io, events: Ready) {
    if events.is_empty() {
        io.stop();
        return;
    }
    if events != io.events() {
        // Only READ and WRITE get here: `modify` cannot fail.
        let _ = io.modify(events);
    }
    if !io.is_active() {
        io.start();
    }
}

impl<T> fmt::Debug for AsyncFd<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFd")
            .field("fd", &self.io.fd())
            .finish()
    }
}
