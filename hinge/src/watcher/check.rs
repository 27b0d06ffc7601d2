//! Hooks that run just after the loop wakes.

use crate::ffi::{CheckKind, Handle};
use crate::Loop;

/// Runs in every iteration, just after the loop has polled for events.
///
/// Pair it with [`Prepare`](crate::Prepare) to integrate another event
/// source.
///
/// ```
/// use hinge::{Check, Loop, Watcher};
///
/// let lp = Loop::new()?;
/// let _c = Check::new(&lp, |_, c| c.stop());
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
pub struct Check {
    h: Handle<CheckKind>,
}

watcher_type!(Check, CheckKind);

impl Check {
    /// Creates and starts the watcher.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let w = hinge::Check::new(&lp, |_, _| {});
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new<F>(lp: &Loop, callback: F) -> Check
    where
        F: FnMut(&Loop, &Check) + 'static,
    {
        let w = Check {
            h: Handle::new(lp, (), plain_callback!(Check, callback)),
        };
        w.h.start();
        w
    }

    /// Replaces the callback.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let w = hinge::Check::new(&lp, |_, _| {});
    /// w.set_callback(|_, _| println!("replaced"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_callback<F>(&self, callback: F)
    where
        F: FnMut(&Loop, &Check) + 'static,
    {
        self.h.set_callback(plain_callback!(Check, callback));
    }
}
