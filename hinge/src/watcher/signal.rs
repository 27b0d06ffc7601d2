//! Unix signals.

use std::cell::Cell;

use crate::ffi::{signals, Handle, SignalKind, SignalParams};
use crate::handle::{Entry, Registry};
use crate::{Error, Loop, Result, Watcher};

/// Calls back on the loop's thread after a Unix signal arrives.
///
/// The callback runs as a normal loop callback, not in signal context, so
/// it may do anything. libev lets one loop at a time watch a given signal:
/// a second loop gets [`Error::SignalInUse`] until the first one's signal
/// watchers are dropped. On the default loop `SIGCHLD` belongs to libev's
/// child handling.
///
/// For "on this signal, do that" without keeping a handle, and without the
/// signal keeping `run` alive, use [`Loop::on_signal`] instead.
///
/// ```no_run
/// use hinge::{Loop, Signal};
///
/// let lp = Loop::new()?;
/// let _int = Signal::new(&lp, hinge::signal::SIGINT, |lp, _| {
///     println!("interrupted, shutting down");
///     lp.break_all();
/// })?;
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
#[must_use = "a watcher stops when its handle is dropped: keep it, e.g. `let _w = ...`"]
pub struct Signal {
    h: Handle<SignalKind>,
}

watcher_type!(Signal, SignalKind);

impl Signal {
    /// Creates and starts a watcher for `signum` (1 to 64).
    ///
    /// ```
    /// # use hinge::{Error, Loop, Signal};
    /// let a = Loop::new()?;
    /// let b = Loop::new()?;
    /// let _s = Signal::new(&a, hinge::signal::SIGUSR2, |_, _| {})?;
    /// assert!(matches!(Signal::new(&b, hinge::signal::SIGUSR2, |_, _| {}), Err(Error::SignalInUse { .. })));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new<F>(lp: &Loop, signum: i32, callback: F) -> Result<Signal>
    where
        F: FnMut(&Loop, &Signal) + 'static,
    {
        if !signals::valid(signum) {
            return Err(Error::InvalidSignal(signum));
        }
        let owner = lp.core().id();
        if owner != 0 && !signals::claim(signum, owner) {
            return Err(Error::SignalInUse { signum });
        }
        let params = SignalParams {
            signum: Cell::new(signum),
        };
        let s = Signal {
            h: Handle::new(lp, params, plain_callback!(Signal, callback)),
        };
        s.h.start();
        Ok(s)
    }

    /// The watched signal number.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::Signal::new(&lp, hinge::signal::SIGHUP, |_, _| {})?;
    /// assert_eq!(s.signum(), hinge::signal::SIGHUP);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn signum(&self) -> i32 {
        self.h.extra().signum.get()
    }

    /// Watches another signal; restarts the watcher if it was active.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::Signal::new(&lp, hinge::signal::SIGHUP, |_, _| {})?;
    /// s.set_signum(hinge::signal::SIGWINCH)?;
    /// assert_eq!(s.signum(), hinge::signal::SIGWINCH);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_signum(&self, signum: i32) -> Result<()> {
        if !signals::valid(signum) {
            return Err(Error::InvalidSignal(signum));
        }
        self.h.set_signum(signum)
    }

    /// Replaces the callback.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::Signal::new(&lp, hinge::signal::SIGHUP, |_, _| {})?;
    /// s.set_callback(|_, s| println!("signal {}", s.signum()));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_callback<F>(&self, callback: F)
    where
        F: FnMut(&Loop, &Signal) + 'static,
    {
        self.h.set_callback(plain_callback!(Signal, callback));
    }
}

/// A signal handler the loop owns, from [`Loop::on_signal`]. Dropping it
/// changes nothing; [`clear`](SignalHandle::clear) removes the handler.
#[derive(Clone)]
pub struct SignalHandle {
    entry: Entry<Signal>,
}

impl SignalHandle {
    /// Removes the handler (and frees its closure). Safe to call more than
    /// once, and from inside the handler.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let h = lp.on_signal(hinge::signal::SIGUSR1, |_, _| {})?;
    /// assert!(h.is_active());
    /// h.clear();
    /// assert!(!h.is_active());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn clear(&self) {
        self.entry.clear();
    }

    /// Whether the handler is still installed.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let h = lp.on_signal(hinge::signal::SIGUSR2, |_, _| {})?;
    /// assert!(h.is_active());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_active(&self) -> bool {
        self.entry.with(|s| s.is_active()).unwrap_or(false)
    }
}

impl std::fmt::Debug for SignalHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalHandle")
            .field("active", &self.is_active())
            .finish()
    }
}

impl Loop {
    /// Runs `f` with the signal number each time `signum` arrives, until
    /// [`SignalHandle::clear`]. The loop owns the handler, and it does not
    /// keep [`run`](Loop::run) alive: a program that closes its servers on
    /// Ctrl-C then ends, and a second Ctrl-C is not swallowed by a loop
    /// that has nothing else to do.
    ///
    /// ```no_run
    /// use hinge::{signal, Loop, Server};
    ///
    /// let lp = Loop::new()?;
    /// let server = Server::new(&lp);
    /// server.listen(4545)?;
    /// let s = server.clone(); // cheap: a handle
    /// lp.on_signal(signal::SIGINT, move |_, _| {
    ///     s.close();             // stop accepting
    ///     s.close_connections(); // let clients finish, then close them
    /// })?;
    /// lp.run(); // returns once the server and its clients are closed
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_signal<F>(&self, signum: i32, mut f: F) -> Result<SignalHandle>
    where
        F: FnMut(&Loop, i32) + 'static,
    {
        let handlers = self.local(Registry::<Signal>::default);
        let handle = SignalHandle {
            entry: handlers.reserve(),
        };
        let signal = Signal::new(self, signum, move |lp, s| f(lp, s.signum()))?;
        signal.unref();
        // Signal::new runs no callback, so the reserved entry is still ours.
        handlers.insert(&handle.entry, signal);
        Ok(handle)
    }
}
