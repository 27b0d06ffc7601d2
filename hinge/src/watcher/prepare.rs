//! Hooks that run just before the loop blocks.

use crate::ffi::{Handle, PrepareKind};

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
#[must_use = "a watcher stops when its handle is dropped: keep it, e.g. `let _w = ...`"]
pub struct Prepare {
    h: Handle<PrepareKind>,
}

parameterless_watcher!(Prepare, PrepareKind);
