//! Hooks that run just after the loop wakes.

use crate::ffi::{CheckKind, Handle};

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
#[must_use = "a watcher stops when its handle is dropped: keep it, e.g. `let _w = ...`"]
pub struct Check {
    h: Handle<CheckKind>,
}

parameterless_watcher!(Check, CheckKind);
