//! libev's watchers, one file per kind, and the [`Watcher`] trait they share.
//!
//! Every watcher follows the same lifecycle:
//!
//! * `Kind::new(&lp, ..., callback)` creates the watcher **started**.
//! * [`Watcher::stop`] and [`Watcher::start`] pause and resume it; the
//!   closure and the configuration survive a stop.
//! * Dropping the handle stops it and frees its closure. This is safe from
//!   inside its own callback: the closure is freed when the call returns.
//! * When the [`Loop`](crate::Loop) is dropped first, the watcher is stopped
//!   and its closure freed; the handle stays valid but inert.
//!
//! Callbacks receive the loop and their own watcher, so they can stop,
//! restart, reconfigure or drop it, and create or drop other watchers.

use crate::{Error, Ready};

pub(crate) mod sealed {
    use crate::{Error, Ready};

    /// The kind-independent operations of a watcher handle.
    pub trait Ops {
        fn start(&self);
        fn stop(&self);
        fn is_active(&self) -> bool;
        fn is_pending(&self) -> bool;
        fn priority(&self) -> i32;
        fn set_priority(&self, priority: i32) -> Result<(), Error>;
        fn feed_event(&self, events: Ready);
        fn clear_pending(&self) -> Ready;
        fn unref(&self);
        fn ref_(&self);
        fn has_ref(&self) -> bool;
    }

    /// Implemented by hinge's watcher types only.
    pub trait Sealed {
        fn ops(&self) -> &dyn Ops;
    }
}

impl<K: crate::ffi::Kind> sealed::Ops for crate::ffi::Handle<K> {
    fn start(&self) {
        crate::ffi::Handle::start(self)
    }
    fn stop(&self) {
        crate::ffi::Handle::stop(self)
    }
    fn is_active(&self) -> bool {
        crate::ffi::Handle::is_active(self)
    }
    fn is_pending(&self) -> bool {
        crate::ffi::Handle::is_pending(self)
    }
    fn priority(&self) -> i32 {
        crate::ffi::Handle::priority(self)
    }
    fn set_priority(&self, priority: i32) -> Result<(), Error> {
        crate::ffi::Handle::set_priority(self, priority)
    }
    fn feed_event(&self, events: Ready) {
        crate::ffi::Handle::feed_event(self, events)
    }
    fn clear_pending(&self) -> Ready {
        crate::ffi::Handle::clear_pending(self)
    }
    fn unref(&self) {
        crate::ffi::Handle::unref(self)
    }
    fn ref_(&self) {
        crate::ffi::Handle::ref_(self)
    }
    fn has_ref(&self) -> bool {
        crate::ffi::Handle::has_ref(self)
    }
}

/// What every watcher can do, whatever its kind.
///
/// ```
/// use hinge::{Idle, Loop, Watcher};
///
/// let lp = Loop::new()?;
/// let idle = Idle::new(&lp, |_, idle| idle.stop());
/// assert!(idle.is_active());
/// lp.run();
/// assert!(!idle.is_active());
/// # Ok::<(), hinge::Error>(())
/// ```
pub trait Watcher: sealed::Sealed {
    /// Starts the watcher; does nothing if it is active or its loop is gone.
    ///
    /// ```
    /// # use hinge::{Idle, Loop, Watcher};
    /// # let lp = Loop::new()?;
    /// let idle = Idle::new(&lp, |_, _| {});
    /// idle.stop();
    /// idle.start();
    /// assert!(idle.is_active());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    fn start(&self) {
        self.ops().start()
    }

    /// Stops the watcher and discards an event still pending for it.
    ///
    /// ```
    /// # use hinge::{Idle, Loop, Watcher};
    /// # let lp = Loop::new()?;
    /// let idle = Idle::new(&lp, |_, _| unreachable!());
    /// idle.stop();
    /// lp.run(); // returns at once: nothing active
    /// # Ok::<(), hinge::Error>(())
    /// ```
    fn stop(&self) {
        self.ops().stop()
    }

    /// Whether the watcher is started.
    ///
    /// ```
    /// # use hinge::{Idle, Loop, Watcher};
    /// # let lp = Loop::new()?;
    /// let idle = Idle::new(&lp, |_, _| {});
    /// assert!(idle.is_active());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    fn is_active(&self) -> bool {
        self.ops().is_active()
    }

    /// Whether an event is waiting to be dispatched to this watcher.
    ///
    /// ```
    /// # use hinge::{Ready, Idle, Loop, Watcher};
    /// # let lp = Loop::new()?;
    /// let idle = Idle::new(&lp, |_, _| {});
    /// idle.feed_event(Ready::CUSTOM);
    /// assert!(idle.is_pending());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    fn is_pending(&self) -> bool {
        self.ops().is_pending()
    }

    /// The watcher's priority (higher runs first within an iteration).
    ///
    /// ```
    /// # use hinge::{Idle, Loop, Watcher};
    /// # let lp = Loop::new()?;
    /// let idle = Idle::new(&lp, |_, _| {});
    /// assert_eq!(idle.priority(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    fn priority(&self) -> i32 {
        self.ops().priority()
    }

    /// Sets the priority, clamped to [`priority_range`](crate::priority_range).
    /// Fails with [`Error::WatcherBusy`] while the watcher is active or
    /// pending: stop it first.
    ///
    /// ```
    /// # use hinge::{Error, Idle, Loop, Watcher};
    /// # let lp = Loop::new()?;
    /// let idle = Idle::new(&lp, |_, _| {});
    /// assert!(matches!(idle.set_priority(1), Err(Error::WatcherBusy)));
    /// idle.stop();
    /// idle.set_priority(1)?;
    /// idle.start();
    /// assert_eq!(idle.priority(), 1);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    fn set_priority(&self, priority: i32) -> Result<(), Error> {
        self.ops().set_priority(priority)
    }

    /// Queues an event for this watcher as if it had happened; the callback
    /// runs in the next iteration, whether or not the watcher is active.
    ///
    /// ```
    /// # use hinge::{Ready, Idle, Loop, Watcher};
    /// # use std::{cell::Cell, rc::Rc};
    /// # let lp = Loop::new()?;
    /// let hits = Rc::new(Cell::new(0));
    /// let h = hits.clone();
    /// let idle = Idle::new(&lp, move |_, _| h.set(h.get() + 1));
    /// idle.stop();
    /// idle.feed_event(Ready::CUSTOM);
    /// lp.run_nowait();
    /// assert_eq!(hits.get(), 1);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    fn feed_event(&self, events: Ready) {
        self.ops().feed_event(events)
    }

    /// Discards a pending event and returns its bits (empty if none).
    ///
    /// ```
    /// # use hinge::{Ready, Idle, Loop, Watcher};
    /// # let lp = Loop::new()?;
    /// let idle = Idle::new(&lp, |_, _| unreachable!());
    /// idle.stop();
    /// idle.feed_event(Ready::CUSTOM);
    /// assert_eq!(idle.clear_pending(), Ready::CUSTOM);
    /// lp.run_nowait();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    fn clear_pending(&self) -> Ready {
        self.ops().clear_pending()
    }

    /// Stops this watcher from keeping [`Loop::run`](crate::Loop::run)
    /// alive: `run` returns once only unreferenced watchers remain. The
    /// setting survives stop and start.
    ///
    /// ```
    /// # use hinge::{Loop, Timer, Watcher};
    /// # use std::time::Duration;
    /// # let lp = Loop::new()?;
    /// let t = Timer::new(&lp, Duration::from_secs(3600), Duration::ZERO, |_, _| {});
    /// t.unref();
    /// assert!(!t.has_ref());
    /// lp.run(); // returns at once
    /// assert!(t.is_active());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    fn unref(&self) {
        self.ops().unref()
    }

    /// Undoes [`unref`](Watcher::unref).
    ///
    /// ```
    /// # use hinge::{Idle, Loop, Watcher};
    /// # let lp = Loop::new()?;
    /// let idle = Idle::new(&lp, |_, _| {});
    /// idle.unref();
    /// idle.ref_();
    /// assert!(idle.has_ref());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    fn ref_(&self) {
        self.ops().ref_()
    }

    /// Whether this watcher keeps the loop alive while active.
    ///
    /// ```
    /// # use hinge::{Idle, Loop, Watcher};
    /// # let lp = Loop::new()?;
    /// assert!(Idle::new(&lp, |_, _| {}).has_ref());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    fn has_ref(&self) -> bool {
        self.ops().has_ref()
    }
}

/// The parts every watcher type shares: construction from a handle, the
/// `Watcher` impl, `Debug`, and `set_callback` for the common signature.
macro_rules! watcher_type {
    ($name:ident, $kind:ty) => {
        impl $name {
            pub(crate) fn from_handle(h: crate::ffi::Handle<$kind>) -> $name {
                $name { h }
            }
        }
        impl crate::watcher::sealed::Sealed for $name {
            fn ops(&self) -> &dyn crate::watcher::sealed::Ops {
                &self.h
            }
        }
        impl crate::Watcher for $name {}
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                use crate::Watcher;
                f.debug_struct(stringify!($name))
                    .field("active", &self.is_active())
                    .field("pending", &self.is_pending())
                    .field("priority", &self.priority())
                    .finish()
            }
        }
    };
}

/// `new` and `set_callback` for a watcher kind that takes no parameters
/// (idle, prepare, check, fork, cleanup).
macro_rules! parameterless_watcher {
    ($name:ident, $kind:ty) => {
        watcher_type!($name, $kind);

        impl $name {
            /// Creates and starts the watcher.
            ///
            /// ```
            /// let lp = hinge::Loop::new()?;
            #[doc = concat!("let w = hinge::", stringify!($name), "::new(&lp, |_, _| {});")]
            /// # Ok::<(), hinge::Error>(())
            /// ```
            pub fn new<F>(lp: &crate::Loop, callback: F) -> $name
            where
                F: FnMut(&crate::Loop, &$name) + 'static,
            {
                let w = $name {
                    h: crate::ffi::Handle::new(lp, (), plain_callback!($name, callback)),
                };
                w.h.start();
                w
            }

            /// Replaces the callback.
            ///
            /// ```
            /// let lp = hinge::Loop::new()?;
            #[doc = concat!("let w = hinge::", stringify!($name), "::new(&lp, |_, _| {});")]
            /// w.set_callback(|_, _| println!("replaced"));
            /// # Ok::<(), hinge::Error>(())
            /// ```
            pub fn set_callback<F>(&self, callback: F)
            where
                F: FnMut(&crate::Loop, &$name) + 'static,
            {
                self.h.set_callback(plain_callback!($name, callback));
            }
        }
    };
}

/// Wraps a two-argument user closure into the stored three-argument form.
macro_rules! plain_callback {
    ($name:ident, $f:expr) => {{
        let mut f = $f;
        Box::new(move |lp: &crate::Loop, w: &$name, _: crate::Ready| f(lp, w))
    }};
}

mod r#async;
mod check;
mod child;
mod cleanup;
mod fork;
mod idle;
mod io;
mod periodic;
mod prepare;
mod signal;
mod stat;
mod timer;

pub use self::check::Check;
pub use self::child::Child;
pub use self::cleanup::Cleanup;
pub use self::fork::Fork;
pub use self::idle::Idle;
pub use self::io::Io;
pub use self::periodic::Periodic;
pub use self::prepare::Prepare;
pub use self::r#async::{Async, AsyncSender};
pub use self::signal::{Signal, SignalHandle};
pub use self::stat::{FileStat, Stat};
pub use self::timer::Timer;
