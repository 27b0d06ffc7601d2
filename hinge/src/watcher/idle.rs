//! Work for when the loop has nothing else to do.

use crate::ffi::{Handle, IdleKind};
use crate::Loop;

/// Runs once per loop iteration while no other event is pending.
///
/// While an idle watcher is active the loop polls without blocking, so
/// stop it when the background work is done.
///
/// ```
/// use hinge::{Idle, Loop, Watcher};
///
/// let lp = Loop::new()?;
/// let mut chunks = 3;
/// let _idle = Idle::new(&lp, move |_, idle| {
///     chunks -= 1; // one slice of background work
///     if chunks == 0 {
///         idle.stop();
///     }
/// });
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
pub struct Idle {
    h: Handle<IdleKind>,
}

watcher_type!(Idle, IdleKind);

impl Idle {
    /// Creates and starts the watcher.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let w = hinge::Idle::new(&lp, |_, _| {});
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new<F>(lp: &Loop, callback: F) -> Idle
    where
        F: FnMut(&Loop, &Idle) + 'static,
    {
        let w = Idle {
            h: Handle::new(lp, (), plain_callback!(Idle, callback)),
        };
        w.h.start();
        w
    }

    /// Replaces the callback.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let w = hinge::Idle::new(&lp, |_, _| {});
    /// w.set_callback(|_, _| println!("replaced"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_callback<F>(&self, callback: F)
    where
        F: FnMut(&Loop, &Idle) + 'static,
    {
        self.h.set_callback(plain_callback!(Idle, callback));
    }
}
