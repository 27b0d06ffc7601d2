//! Hooks that run just before the loop blocks.

use crate::ffi::{Handle, PrepareKind};
use crate::Loop;

/// Runs in every iteration, just before the loop blocks for events.
///
/// Together with [`Check`](crate::Check) it lets another event source
/// (or a deferred-work queue) integrate with the loop.
///
/// ```
/// use hinge::{Prepare, Loop, Watcher};
///
/// let lp = Loop::new()?;
/// let _p = Prepare::new(&lp, |lp, p| {
///     println!("about to block at iteration {}", lp.iteration());
///     p.stop();
/// });
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
pub struct Prepare {
    h: Handle<PrepareKind>,
}

watcher_type!(Prepare, PrepareKind);

impl Prepare {
    /// Creates and starts the watcher.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let w = hinge::Prepare::new(&lp, |_, _| {});
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new<F>(lp: &Loop, callback: F) -> Prepare
    where
        F: FnMut(&Loop, &Prepare) + 'static,
    {
        let w = Prepare {
            h: Handle::new(lp, (), plain_callback!(Prepare, callback)),
        };
        w.h.start();
        w
    }

    /// Replaces the callback.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let w = hinge::Prepare::new(&lp, |_, _| {});
    /// w.set_callback(|_, _| println!("replaced"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_callback<F>(&self, callback: F)
    where
        F: FnMut(&Loop, &Prepare) + 'static,
    {
        self.h.set_callback(plain_callback!(Prepare, callback));
    }
}
