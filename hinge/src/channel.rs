//! Messages between loops: a bounded queue whose [`Sender`] any thread
//! may hold, delivered on the receiving loop's thread through an
//! [`Async`] watcher.
//!
//! The queue is the only thing the two sides share: a `Mutex` around a
//! `VecDeque`, taken once per send and once per wakeup (the receiver
//! takes every queued value at once). A sender wakes the loop only when
//! it finds the queue empty, so a burst of sends costs one wakeup.

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::{Async, AsyncSender, Loop, Watcher};

/// What the sending and receiving sides share.
struct Shared<T> {
    state: Mutex<State<T>>,
    /// Signalled when the receiver took the queue or the channel closed,
    /// for [`Sender::send`] waiting for room.
    room: Condvar,
    capacity: usize,
}

struct State<T> {
    queue: VecDeque<T>,
    /// The receiver is gone (dropped, closed, or its loop ended).
    closed: bool,
    /// Senders blocked in `send`: the receiver signals `room` only then
    /// (a signal costs a system call even when nobody waits).
    waiting: usize,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while the lock was held left the queue consistent: every
        // operation on it is a single push, swap or drain.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the channel and drops what is queued, outside the lock, on
    /// the calling (receiving) thread.
    fn close(&self) {
        let left = {
            let mut st = self.lock();
            st.closed = true;
            std::mem::take(&mut st.queue)
        };
        self.room.notify_all();
        drop(left);
    }

    /// Takes every queued value, making room for blocked senders.
    fn take(&self) -> VecDeque<T> {
        let (batch, waiting) = {
            let mut st = self.lock();
            (std::mem::take(&mut st.queue), st.waiting > 0)
        };
        if waiting {
            self.room.notify_all();
        }
        batch
    }
}

/// Why [`Sender::try_send`] did not queue a value; the value is inside.
///
/// ```
/// let lp = hinge::Loop::new()?;
/// let (tx, rx) = lp.channel(1, |_, _: u32| {});
/// tx.try_send(1).unwrap();
/// assert_eq!(tx.try_send(2), Err(hinge::TrySendError::Full(2)));
/// drop(rx);
/// assert_eq!(tx.try_send(3), Err(hinge::TrySendError::Closed(3)));
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The queue holds `capacity` values the loop has not yet taken.
    Full(T),
    /// The receiving side is gone: its [`Receiver`] was dropped or its
    /// loop ended.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    ///
    /// ```
    /// assert_eq!(hinge::TrySendError::Full(7).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }
}

impl<T> std::fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("the channel is full"),
            TrySendError::Closed(_) => f.write_str("the receiving loop is gone"),
        }
    }
}

impl<T: std::fmt::Debug> std::error::Error for TrySendError<T> {}

/// Why [`Sender::send`] did not queue a value: the receiving side is
/// gone. The value is inside.
///
/// ```
/// let lp = hinge::Loop::new()?;
/// let (tx, rx) = lp.channel(1, |_, _: String| {});
/// drop(rx);
/// let back = tx.send("hello".to_string()).unwrap_err();
/// assert_eq!(back.0, "hello");
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> std::fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the receiving loop is gone")
    }
}

impl<T: std::fmt::Debug> std::error::Error for SendError<T> {}

/// The sending side of a channel to a loop, from [`Loop::channel`]:
/// `Send`, `Sync` and cheap to clone (a reference count), for any thread,
/// another loop's included. Values run through the channel's handler on
/// the receiving loop's thread, in the order they were queued.
///
/// The queue is bounded: [`try_send`](Sender::try_send) gives the value
/// back when `capacity` values wait, and [`send`](Sender::send) waits for
/// room. Once the receiving side is gone, both give the value back.
///
/// ```
/// use hinge::Loop;
///
/// let lp = Loop::new()?;
/// let (tx, rx) = lp.channel(16, |_, line: String| println!("got {line}"));
/// let producer = std::thread::spawn(move || {
///     for i in 0..3 {
///         tx.send(format!("line {i}")).unwrap();
///     }
/// });
/// producer.join().unwrap();
/// rx.unref(); // the queued lines are delivered; then run returns
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
    wake: AsyncSender,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        Sender {
            shared: self.shared.clone(),
            wake: self.wake.clone(),
        }
    }
}

impl<T> Sender<T> {
    /// Queues `value` if there is room; never blocks, so it is the one to
    /// use from a loop's thread.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (tx, _rx) = lp.channel(2, |_, _: u8| {});
    /// assert!(tx.try_send(1).is_ok());
    /// assert!(tx.try_send(2).is_ok());
    /// assert!(matches!(tx.try_send(3), Err(hinge::TrySendError::Full(3))));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let was_empty = {
            let mut st = self.shared.lock();
            if st.closed {
                return Err(TrySendError::Closed(value));
            }
            if st.queue.len() >= self.shared.capacity {
                return Err(TrySendError::Full(value));
            }
            st.queue.push_back(value);
            st.queue.len() == 1
        };
        self.wake_if(was_empty);
        Ok(())
    }

    /// Queues `value`, waiting while the queue is full. Do not call it
    /// from a loop's thread: if the receiving loop is waiting on this one,
    /// neither moves. Use [`try_send`](Sender::try_send) there.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (tx, rx) = lp.channel(4, |_, n: u64| println!("{n}"));
    /// std::thread::spawn(move || tx.send(42)).join().unwrap().unwrap();
    /// rx.unref();
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let was_empty = {
            let mut st = self.shared.lock();
            while !st.closed && st.queue.len() >= self.shared.capacity {
                st.waiting += 1;
                st = self.shared.room.wait(st).unwrap_or_else(|e| e.into_inner());
                st.waiting -= 1;
            }
            if st.closed {
                return Err(SendError(value));
            }
            st.queue.push_back(value);
            st.queue.len() == 1
        };
        self.wake_if(was_empty);
        Ok(())
    }

    /// A sender that finds the queue empty wakes the loop; later ones
    /// know a wakeup is on its way (the receiver takes the whole queue).
    fn wake_if(&self, was_empty: bool) {
        if was_empty {
            // False only while the loop is ending: its receiver then
            // closes the channel and drops what is queued.
            self.wake.send();
        }
    }

    /// Whether the receiving side is gone, so that every send would fail.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (tx, rx) = lp.channel(1, |_, _: ()| {});
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// How many values wait for the receiving loop.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (tx, _rx) = lp.channel(8, |_, _: ()| {});
    /// tx.try_send(()).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Whether no value waits for the receiving loop.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (tx, _rx) = lp.channel(8, |_, _: ()| {});
    /// assert!(tx.is_empty());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most values that may wait at once.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (tx, _rx) = lp.channel(8, |_, _: ()| {});
    /// assert_eq!(tx.capacity(), 8);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.shared.capacity)
            .finish_non_exhaustive()
    }
}

/// The receiving side of a channel, from [`Loop::channel`]: it keeps the
/// channel open, and its loop alive (unless [`unref`](Receiver::unref)'d).
/// Dropping it, or the end of its loop, closes the channel: senders get
/// their values back from then on, and values still queued are dropped
/// here, on the receiving loop's thread. Like the loop, it is `!Send`.
///
/// To keep the channel open for as long as the loop lives without
/// keeping the `Receiver` anywhere, [`detach`](Receiver::detach) it.
///
/// It stays on its loop's thread:
///
/// ```compile_fail
/// let lp = hinge::Loop::new()?;
/// let (_tx, rx) = lp.channel(1, |_, _: u8| {});
/// std::thread::spawn(move || drop(rx)); // error: `Receiver` is not `Send`
/// # Ok::<(), hinge::Error>(())
/// ```
///
/// ```
/// let lp = hinge::Loop::new()?;
/// let (tx, rx) = lp.channel(4, |lp, n: u32| {
///     println!("{n}");
///     lp.break_one(); // one is enough
/// });
/// tx.try_send(1).unwrap();
/// lp.run();
/// drop(rx);
/// assert!(tx.try_send(2).is_err());
/// # Ok::<(), hinge::Error>(())
/// ```
#[must_use = "dropping the Receiver closes the channel: keep it, or detach() it"]
pub struct Receiver<T> {
    watcher: Async,
    /// The loop, for `detach`.
    core: Rc<crate::ffi::LoopCore>,
    shared: Arc<Shared<T>>,
    /// Set by `close`, read between deliveries: values taken in the same
    /// wakeup are not delivered after a handler closed the channel.
    closed: Rc<Cell<bool>>,
}

impl<T> Receiver<T> {
    /// Closes the channel now: senders get their values back from here
    /// on, and what is queued is dropped. Dropping the `Receiver` does the
    /// same.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (tx, rx) = lp.channel(4, |_, _: u8| {});
    /// tx.try_send(1).unwrap();
    /// rx.close();
    /// assert!(tx.is_closed());
    /// assert_eq!(tx.len(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn close(&self) {
        self.closed.set(true);
        self.shared.close();
        self.watcher.stop();
    }

    /// Lets the loop's `run` return while this channel is all it has
    /// left; values are still delivered while other work keeps the loop
    /// running.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (_tx, rx) = lp.channel(4, |_, _: u8| {});
    /// rx.unref();
    /// lp.run(); // returns at once
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn unref(&self) {
        self.watcher.unref();
    }

    /// Undoes [`unref`](Receiver::unref).
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (_tx, rx) = lp.channel(4, |_, _: u8| {});
    /// rx.unref();
    /// rx.ref_();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn ref_(&self) {
        self.watcher.ref_();
    }

    /// Hands the receiver to its loop: the channel stays open until
    /// the loop is dropped. Keep the result of an
    /// [`unref`](Receiver::unref) first if it must not keep the loop alive.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (tx, rx) = lp.channel(4, |lp, _: u8| lp.break_one());
    /// rx.detach();
    /// tx.try_send(1).unwrap();
    /// lp.run();
    /// assert!(!tx.is_closed());
    /// drop(lp);
    /// assert!(tx.is_closed());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn detach(self)
    where
        T: 'static,
    {
        let lp = Loop::view(&self.core);
        lp.local(Detached::default)
            .0
            .borrow_mut()
            .push(Box::new(self));
    }
}

/// Receivers handed to their loop by `detach`, dropped with it.
#[derive(Default)]
struct Detached(std::cell::RefCell<Vec<Box<dyn std::any::Any>>>);

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.closed.set(true);
        self.shared.close();
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("closed", &self.closed.get())
            .finish_non_exhaustive()
    }
}

/// Lives in the watcher's closure, which the loop frees when it ends:
/// the channel then closes, on the receiving thread, even if the
/// `Receiver` outlives the loop.
struct CloseOnDrop<T>(Arc<Shared<T>>);

impl<T> Drop for CloseOnDrop<T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl Loop {
    /// A channel into this loop: `handler` runs on this loop's thread with
    /// each value any [`Sender`] queues, in order. Up to `capacity` values
    /// (at least 1) wait at once; see [`Sender`] for what happens beyond.
    ///
    /// It is cheap enough to hand connections between loops: accept on
    /// one, send the `std::net::TcpStream`, adopt it on the other with
    /// [`Socket::from_tcp_stream`](crate::Socket::from_tcp_stream) (or
    /// [`Server::add_connection`](crate::Server::add_connection)). For
    /// closures, make the channel's values closures:
    ///
    /// ```
    /// use hinge::Loop;
    ///
    /// type Job = Box<dyn FnOnce(&Loop) + Send>;
    /// let lp = Loop::new()?;
    /// let (remote, rx) = lp.channel(64, |lp, job: Job| job(lp));
    /// std::thread::spawn(move || {
    ///     let job: Job = Box::new(|lp| {
    ///         println!("on the loop's thread, iteration {}", lp.iteration());
    ///         lp.break_one();
    ///     });
    ///     if remote.send(job).is_err() {
    ///         eprintln!("the loop is gone");
    ///     }
    /// });
    /// lp.run();
    /// # drop(rx);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    ///
    /// A panic in `handler` is caught and resumed from `run`, as in any
    /// callback; the values taken in the same wakeup and not yet handled
    /// are dropped.
    pub fn channel<T, F>(&self, capacity: usize, mut handler: F) -> (Sender<T>, Receiver<T>)
    where
        T: Send + 'static,
        F: FnMut(&Loop, T) + 'static,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                closed: false,
                waiting: 0,
            }),
            room: Condvar::new(),
            capacity: capacity.max(1),
        });
        let closed = Rc::new(Cell::new(false));
        let guard = CloseOnDrop(shared.clone());
        let seen = closed.clone();
        let watcher = Async::new(self, move |lp, _| {
            let batch = guard.0.take();
            for value in batch {
                if seen.get() {
                    break; // closed by a handler: the rest drops here
                }
                handler(lp, value);
            }
        });
        let tx = Sender {
            shared: shared.clone(),
            wake: watcher.sender(),
        };
        let rx = Receiver {
            watcher,
            core: self.core().clone(),
            shared,
            closed,
        };
        (tx, rx)
    }
}
