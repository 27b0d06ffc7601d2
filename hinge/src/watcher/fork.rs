//! Hooks that run after a fork.

use crate::ffi::{ForkKind, Handle};

/// Runs at the start of the next iteration after [`Loop::fork`](crate::Loop::fork) was
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
#[must_use = "a watcher stops when its handle is dropped: keep it, e.g. `let _w = ...`"]
pub struct Fork {
    h: Handle<ForkKind>,
}

parameterless_watcher!(Fork, ForkKind);
