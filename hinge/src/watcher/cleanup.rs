//! Hooks that run when the loop is destroyed.

use crate::ffi::{CleanupKind, Handle};
use crate::Loop;

/// Runs when the [`Loop`] is dropped, before its other watchers are stopped.
///
/// The callback may still use the loop (stop watchers, read the time) but
/// `run` does nothing by then. An active cleanup watcher does not keep
/// `run` alive.
///
/// ```
/// use hinge::{Cleanup, Loop, Watcher};
///
/// let lp = Loop::new()?;
/// let _c = Cleanup::new(&lp, |_, _| println!("loop going away"));
/// drop(lp); // prints
/// # Ok::<(), hinge::Error>(())
/// ```
pub struct Cleanup {
    h: Handle<CleanupKind>,
}

watcher_type!(Cleanup, CleanupKind);

impl Cleanup {
    /// Creates and starts the watcher.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let w = hinge::Cleanup::new(&lp, |_, _| {});
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new<F>(lp: &Loop, callback: F) -> Cleanup
    where
        F: FnMut(&Loop, &Cleanup) + 'static,
    {
        let w = Cleanup {
            h: Handle::new(lp, (), plain_callback!(Cleanup, callback)),
        };
        w.h.start();
        w
    }

    /// Replaces the callback.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let w = hinge::Cleanup::new(&lp, |_, _| {});
    /// w.set_callback(|_, _| println!("replaced"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_callback<F>(&self, callback: F)
    where
        F: FnMut(&Loop, &Cleanup) + 'static,
    {
        self.h.set_callback(plain_callback!(Cleanup, callback));
    }
}
