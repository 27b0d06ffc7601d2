//! Unix signals.

use std::cell::Cell;

use crate::ffi::{signals, Handle, SignalKind, SignalParams};
use crate::{Error, Loop, Result};

/// Calls back on the loop's thread after a Unix signal arrives.
///
/// The callback runs as a normal loop callback, not in signal context, so
/// it may do anything. libev lets one loop at a time watch a given signal:
/// a second loop gets [`Error::SignalInUse`] until the first one's signal
/// watchers are dropped. On the default loop `SIGCHLD` belongs to libev's
/// child handling.
///
/// ```no_run
/// use hinge::{Loop, Signal};
///
/// let lp = Loop::new()?;
/// let _int = Signal::new(&lp, libc::SIGINT, |lp, _| {
///     println!("interrupted, shutting down");
///     lp.break_all();
/// })?;
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
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
    /// let _s = Signal::new(&a, libc::SIGUSR2, |_, _| {})?;
    /// assert!(matches!(Signal::new(&b, libc::SIGUSR2, |_, _| {}), Err(Error::SignalInUse { .. })));
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
    /// let s = hinge::Signal::new(&lp, libc::SIGHUP, |_, _| {})?;
    /// assert_eq!(s.signum(), libc::SIGHUP);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn signum(&self) -> i32 {
        self.h.extra().signum.get()
    }

    /// Watches another signal; restarts the watcher if it was active.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::Signal::new(&lp, libc::SIGHUP, |_, _| {})?;
    /// s.set_signum(libc::SIGWINCH)?;
    /// assert_eq!(s.signum(), libc::SIGWINCH);
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
    /// let s = hinge::Signal::new(&lp, libc::SIGHUP, |_, _| {})?;
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
