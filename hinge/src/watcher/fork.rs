//! Hooks that run after a fork.

use crate::ffi::{ForkKind, Handle};
use crate::Loop;

/// Runs at the start of the next iteration after [`Loop::fork`] was
/// called (or, with [`LoopBuilder::fork_check`](crate::LoopBuilder::fork_check),
/// after a fork was detected).
///
///
/// ```
/// use hinge::{Fork, Loop, Watcher};
///
/// let lp = Loop::new()?;
/// let _f = Fork::new(&lp, |_, f| {
///     println!("re-initialise per-process state here");
///     f.stop();
/// });
/// lp.fork();
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
pub struct Fork {
    h: Handle<ForkKind>,
}

watcher_type!(Fork, ForkKind);

impl Fork {
    /// Creates and starts the watcher.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let w = hinge::Fork::new(&lp, |_, _| {});
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new<F>(lp: &Loop, callback: F) -> Fork
    where
        F: FnMut(&Loop, &Fork) + 'static,
    {
        let w = Fork {
            h: Handle::new(lp, (), plain_callback!(Fork, callback)),
        };
        w.h.start();
        w
    }

    /// Replaces the callback.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let w = hinge::Fork::new(&lp, |_, _| {});
    /// w.set_callback(|_, _| println!("replaced"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_callback<F>(&self, callback: F)
    where
        F: FnMut(&Loop, &Fork) + 'static,
    {
        self.h.set_callback(plain_callback!(Fork, callback));
    }
}
