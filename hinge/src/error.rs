//! The one error type of hinge.

use crate::Events;

/// Everything that can go wrong in hinge, one variant per failure a caller
/// handles differently.
///
/// ```
/// use hinge::{Error, Loop, Signal};
///
/// let lp = Loop::new()?;
/// match Signal::new(&lp, 0, |_, _| {}) {
///     Err(Error::InvalidSignal(0)) => {}
///     other => panic!("unexpected: {other:?}"),
/// }
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// libev could not create a loop with the requested backends and flags.
    #[error("libev could not create a loop (flags {flags:#x}); is the backend supported here?")]
    LoopCreate {
        /// The backend and flag bits passed to libev.
        flags: u32,
    },
    /// The process-wide default loop is already owned by a live [`Loop`](crate::Loop).
    #[error("the default loop is already owned by another Loop in this process")]
    DefaultLoopBusy,
    /// A signal number outside `1..=64`.
    #[error("invalid signal number {0}")]
    InvalidSignal(i32),
    /// libev lets one loop at a time watch a given signal.
    #[error("signal {signum} is already watched by another loop")]
    SignalInUse {
        /// The contested signal number.
        signum: i32,
    },
    /// Child watchers only work on the default loop (libev's rule).
    #[error("child watchers need the default loop (Loop::default_loop)")]
    NotDefaultLoop,
    /// A negative file descriptor.
    #[error("invalid file descriptor {0}")]
    InvalidFd(i32),
    /// An io watcher accepts only [`Events::READ`] and [`Events::WRITE`].
    #[error("invalid io event mask {0:?}: only READ and WRITE are allowed")]
    InvalidEvents(Events),
    /// A path containing a NUL byte.
    #[error("path contains a NUL byte")]
    InvalidPath,
    /// A duration or time that libev cannot represent (negative or not finite).
    #[error("invalid time value {0}")]
    InvalidTime(f64),
    /// The priority of an active or pending watcher cannot change.
    #[error("cannot change the priority of an active or pending watcher")]
    WatcherBusy,
}

/// `Result` with hinge's [`Error`].
///
/// ```
/// fn make() -> hinge::Result<hinge::Loop> {
///     hinge::Loop::new()
/// }
/// assert!(make().is_ok());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;
