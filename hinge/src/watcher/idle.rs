//! Work for when the loop has nothing else to do.

use crate::ffi::{Handle, IdleKind};

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
#[must_use = "a watcher stops when its handle is dropped: keep it, e.g. `let _w = ...`"]
pub struct Idle {
    h: Handle<IdleKind>,
}

parameterless_watcher!(Idle, IdleKind);
