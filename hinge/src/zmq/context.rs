//! The ZeroMQ context: libzmq's I/O threads, one per loop by default.

use std::sync::Arc;

use crate::Loop;

/// A ZeroMQ context, the owner of libzmq's I/O threads. Cloning is cheap
/// (shared). Each loop has a default one ([`Context::of`]); pass your own
/// to [`ZmqSocket::with_context`](crate::zmq::ZmqSocket::with_context) to
/// share one between loops or with code that uses the `zmq` crate
/// directly (`inproc://` endpoints only connect within one context).
///
/// The context ends once its last socket is closed; sockets have a finite
/// linger by default, so that never hangs.
///
/// ```
/// let lp = hinge::Loop::new()?;
/// let a = hinge::zmq::Context::of(&lp);
/// let b = hinge::zmq::Context::of(&lp);
/// assert!(a.same_as(&b));
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone)]
pub struct Context {
    ctx: Arc<zmq::Context>,
}

/// The loop-local default context.
struct LoopContext(Context);

impl Context {
    /// A new context of its own.
    ///
    /// ```
    /// let ctx = hinge::zmq::Context::new();
    /// assert!(!ctx.same_as(&hinge::zmq::Context::new()));
    /// ```
    #[allow(clippy::new_without_default)] // starts libzmq threads: not a default value
    pub fn new() -> Context {
        Context::from_zmq(zmq::Context::new())
    }

    /// `lp`'s default context, made on first use.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let ctx = hinge::zmq::Context::of(&lp);
    /// # drop(ctx);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn of(lp: &Loop) -> Context {
        lp.local(|| LoopContext(Context::new())).0.clone()
    }

    /// Wraps a context made with the `zmq` crate.
    ///
    /// ```
    /// let raw = zmq::Context::new();
    /// let ctx = hinge::zmq::Context::from_zmq(raw.clone());
    /// assert!(ctx.as_zmq().get_io_threads().unwrap() >= 1);
    /// ```
    pub fn from_zmq(ctx: zmq::Context) -> Context {
        Context { ctx: Arc::new(ctx) }
    }

    /// The `zmq` crate's context, for sockets made outside hinge.
    ///
    /// ```
    /// let ctx = hinge::zmq::Context::new();
    /// let raw = ctx.as_zmq().socket(zmq::PUSH).unwrap();
    /// # drop(raw);
    /// ```
    pub fn as_zmq(&self) -> &zmq::Context {
        &self.ctx
    }

    /// Whether both are the same `Context` (handles of one `new`, `of` or
    /// `from_zmq`).
    ///
    /// ```
    /// let ctx = hinge::zmq::Context::new();
    /// assert!(ctx.same_as(&ctx.clone()));
    /// ```
    pub fn same_as(&self, other: &Context) -> bool {
        Arc::ptr_eq(&self.ctx, &other.ctx)
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}
