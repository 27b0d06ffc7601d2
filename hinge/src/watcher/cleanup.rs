//! Hooks that run when the loop is destroyed.

use crate::ffi::{CleanupKind, Handle};

/// Runs when the [`Loop`](crate::Loop) is dropped, before its other watchers are stopped.
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
#[must_use = "a watcher stops when its handle is dropped: keep it, e.g. `let _w = ...`"]
pub struct Cleanup {
    h: Handle<CleanupKind>,
}

parameterless_watcher!(Cleanup, CleanupKind);
