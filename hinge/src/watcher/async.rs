//! Waking a loop from other threads.

use std::sync::Arc;

use crate::ffi::{AsyncKind, AsyncTarget, Handle};
use crate::Loop;

/// Calls back on the loop's thread after [`AsyncSender::send`] was called
/// from any thread. Sends are coalesced: many sends before the loop wakes
/// give one callback.
///
/// ```
/// use std::sync::mpsc;
/// use hinge::{Async, Loop, Watcher};
///
/// let lp = Loop::new()?;
/// let (tx, rx) = mpsc::channel();
/// let w = Async::new(&lp, move |_, w| {
///     for n in rx.try_iter() {
///         println!("got {n}");
///     }
///     w.stop();
/// });
/// let sender = w.sender();
/// std::thread::spawn(move || {
///     tx.send(42).unwrap();
///     sender.send();
/// });
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
#[must_use = "a watcher stops when its handle is dropped: keep it, e.g. `let _w = ...`"]
pub struct Async {
    h: Handle<AsyncKind>,
}

watcher_type!(Async, AsyncKind);

/// A `Send + Sync` handle that wakes an [`Async`] watcher's loop.
///
/// It stays safe to use after the watcher or its loop is gone: `send`
/// then does nothing and returns `false`.
///
/// ```
/// # let lp = hinge::Loop::new()?;
/// let w = hinge::Async::new(&lp, |_, _| {});
/// let s = w.sender();
/// assert!(s.send());
/// drop(w);
/// assert!(!s.send());
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone)]
pub struct AsyncSender {
    target: Arc<AsyncTarget>,
}

impl AsyncSender {
    /// Wakes the loop; the watcher's callback runs on the loop's thread.
    /// Returns `false` if the watcher or its loop no longer exists.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let w = hinge::Async::new(&lp, |_, _| {});
    /// let s = w.sender();
    /// std::thread::spawn(move || s.send()).join().unwrap();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn send(&self) -> bool {
        self.target.send()
    }

    /// Whether the watcher and its loop still exist.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let w = hinge::Async::new(&lp, |_, _| {});
    /// assert!(w.sender().is_connected());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_connected(&self) -> bool {
        self.target.is_connected()
    }
}

impl std::fmt::Debug for AsyncSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncSender")
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl Async {
    /// Creates and starts the watcher.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let w = hinge::Async::new(&lp, |_, _| println!("woken"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new<F>(lp: &Loop, callback: F) -> Async
    where
        F: FnMut(&Loop, &Async) + 'static,
    {
        let target = Arc::new(AsyncTarget::default());
        let w = Async {
            h: Handle::new(lp, target, plain_callback!(Async, callback)),
        };
        w.h.connect();
        w.h.start();
        w
    }

    /// A handle other threads can use to wake this watcher.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let w = hinge::Async::new(&lp, |_, _| {});
    /// let s: hinge::AsyncSender = w.sender();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn sender(&self) -> AsyncSender {
        AsyncSender {
            target: self.h.extra().clone(),
        }
    }

    /// Wakes the watcher from the loop's own thread.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let w = hinge::Async::new(&lp, |_, w| hinge::Watcher::stop(w));
    /// w.send();
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn send(&self) -> bool {
        self.h.extra().send()
    }

    /// Whether a send has arrived that the callback has not yet seen.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let w = hinge::Async::new(&lp, |_, _| {});
    /// w.send();
    /// assert!(w.is_sent());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_sent(&self) -> bool {
        self.h.async_pending()
    }

    /// Replaces the callback.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let w = hinge::Async::new(&lp, |_, _| {});
    /// w.set_callback(|_, _| println!("replaced"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_callback<F>(&self, callback: F)
    where
        F: FnMut(&Loop, &Async) + 'static,
    {
        self.h.set_callback(plain_callback!(Async, callback));
    }
}
