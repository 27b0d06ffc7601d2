//! The event loop.

use std::os::raw::c_int;
use std::rc::Rc;
use std::time::Duration;

use libev_sys as sys;

use crate::ffi::{self, LoopCore};
use crate::{Error, Result};

mod builder;
pub use builder::{Backend, LoopBuilder};

/// A libev event loop.
///
/// A `Loop` owns a libev loop and every watcher made on it. `run` dispatches
/// events until nothing active keeps the loop alive, or until a callback
/// breaks it. Dropping the `Loop` runs its [`Cleanup`](crate::Cleanup)
/// watchers, stops every watcher still registered, frees their closures and
/// destroys the libev loop; watcher handles that outlive it become inert.
///
/// A `Loop` is neither `Send` nor `Sync`: libev loops are single-threaded.
/// Use one loop per thread, and [`Async`](crate::Async) to wake a loop from
/// another thread.
///
/// A panic inside any callback is caught before it reaches C, breaks the
/// loop, and resumes unwinding from the `run` call that dispatched it.
///
/// ```
/// use std::time::Duration;
/// use hinge::{Loop, Timer};
///
/// let lp = Loop::new()?;
/// let _t = Timer::new(&lp, Duration::from_millis(1), Duration::ZERO, |lp, _t| {
///     println!("tick at {:.3}", lp.now());
/// });
/// lp.run(); // returns once the one-shot timer has fired
/// # Ok::<(), hinge::Error>(())
/// ```
#[must_use = "dropping the Loop stops every watcher, socket and server on it"]
pub struct Loop {
    core: Rc<LoopCore>,
    /// Only the `Loop` returned by a constructor tears the loop down;
    /// crate-internal views made from a core (see `Loop::view`) do not.
    owner: bool,
}

impl Loop {
    /// The longest io or timeout collect interval; longer ones are clamped.
    ///
    /// ```
    /// assert_eq!(hinge::Loop::MAX_COLLECT_INTERVAL.as_secs(), 1);
    /// ```
    pub const MAX_COLLECT_INTERVAL: Duration = Duration::from_secs(1);

    /// Creates a loop with libev's recommended backend.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// assert!(!lp.is_default());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new() -> Result<Loop> {
        Loop::builder().build()
    }

    /// The process-wide default loop, the only one that can watch child
    /// processes. Only one `Loop` may own it at a time; a second call
    /// returns [`Error::DefaultLoopBusy`] until the first is dropped.
    ///
    /// ```
    /// let lp = hinge::Loop::default_loop()?;
    /// assert!(lp.is_default());
    /// assert!(matches!(hinge::Loop::default_loop(), Err(hinge::Error::DefaultLoopBusy)));
    /// drop(lp);
    /// assert!(hinge::Loop::default_loop().is_ok());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn default_loop() -> Result<Loop> {
        Loop::builder().build_default()
    }

    /// Chooses the backend and flags of a new loop.
    ///
    /// ```
    /// use hinge::{Backend, Loop};
    /// let lp = Loop::builder().backend(Backend::POLL).build()?;
    /// assert_eq!(lp.backend(), Backend::POLL);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn builder() -> LoopBuilder {
        LoopBuilder::default()
    }

    pub(crate) fn from_core(core: Rc<LoopCore>) -> Loop {
        Loop { core, owner: true }
    }

    /// A non-owning `Loop` around a core pointer the trampoline borrows.
    pub(crate) fn alias(core: Rc<LoopCore>) -> Loop {
        Loop { core, owner: false }
    }

    /// A non-owning `Loop` for code that holds only the core (sockets,
    /// servers), to call APIs that take `&Loop`.
    pub(crate) fn view(core: &Rc<LoopCore>) -> Loop {
        Loop {
            core: core.clone(),
            owner: false,
        }
    }

    pub(crate) fn core(&self) -> &Rc<LoopCore> {
        &self.core
    }

    /// This loop's single value of type `T`, created by `init` on first
    /// use and dropped with the loop: per-loop state for layers built on
    /// hinge (a ZeroMQ context, a protocol's shared buffers), as hinge's
    /// own sockets keep their read buffer. Use a type of your own as the
    /// key. Once the loop is gone, `init`'s value is returned but kept
    /// nowhere. A value must not hold strong references to watchers whose
    /// closures hold the value, or neither is ever freed.
    ///
    /// ```
    /// struct Greeting(&'static str);
    /// let lp = hinge::Loop::new()?;
    /// let a = lp.local(|| Greeting("hello"));
    /// let b = lp.local(|| Greeting("ignored: already there"));
    /// assert_eq!(b.0, "hello");
    /// assert!(std::rc::Rc::ptr_eq(&a, &b));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn local<T: 'static>(&self, init: impl FnOnce() -> T) -> Rc<T> {
        self.core.local(init)
    }

    /// Runs until no active, referenced watcher remains or the loop is
    /// broken. Returns `true` if it was broken with watchers still active.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// assert!(!lp.run()); // nothing to do
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn run(&self) -> bool {
        self.core.run(0)
    }

    /// Waits for events once (blocking if needed), dispatches them, returns.
    ///
    /// ```
    /// use hinge::{Idle, Loop, Watcher};
    /// let lp = Loop::new()?;
    /// let idle = Idle::new(&lp, |_, idle| idle.stop());
    /// idle.start();
    /// lp.run_once();
    /// assert!(!idle.is_active());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn run_once(&self) -> bool {
        self.core.run(sys::EVRUN_ONCE as c_int)
    }

    /// Dispatches whatever is ready now, without blocking.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// lp.run_nowait();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn run_nowait(&self) -> bool {
        self.core.run(sys::EVRUN_NOWAIT as c_int)
    }

    /// Makes the innermost `run` return after the current iteration.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hinge::{Loop, Timer};
    /// let lp = Loop::new()?;
    /// let t = Timer::new(&lp, Duration::ZERO, Duration::from_millis(1), |lp, _| lp.break_one());
    /// assert!(lp.run()); // broken while the repeating timer is still active
    /// # drop(t);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn break_one(&self) {
        self.core.break_loop(sys::EVBREAK_ONE as c_int);
    }

    /// Makes every nested `run` return.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// lp.break_all(); // harmless outside run
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn break_all(&self) {
        self.core.break_loop(sys::EVBREAK_ALL as c_int);
    }

    /// The loop's cached time (seconds since the epoch), updated once per
    /// iteration.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// assert!(lp.now() > 1.0e9);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn now(&self) -> f64 {
        self.core.now()
    }

    /// [`now`](Loop::now) as an [`Instant`](std::time::Instant), for
    /// measuring with `Duration`s instead of float seconds: the instant the
    /// loop's cached time was taken, estimated from how far libev's clock
    /// has moved since. The estimate is bounded: a wall-clock step while
    /// the loop slept moves it by at most 60 s (libev's longest block), and
    /// two calls in one callback may differ by the time between them.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let then = lp.now_instant();
    /// assert!(then <= std::time::Instant::now());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn now_instant(&self) -> std::time::Instant {
        // How long ago the cached time was taken, by libev's own clock.
        let age = (crate::time() - self.now()).clamp(0.0, 60.0);
        let now = std::time::Instant::now();
        now.checked_sub(Duration::from_secs_f64(age)).unwrap_or(now)
    }

    /// Refreshes the cached time, e.g. after a long computation in a callback.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let before = lp.now();
    /// std::thread::sleep(std::time::Duration::from_millis(2));
    /// lp.update_now();
    /// assert!(lp.now() > before);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn update_now(&self) {
        self.core.update_now();
    }

    /// How many times the loop has polled for events.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// lp.run_nowait();
    /// assert_eq!(lp.iteration(), 1);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn iteration(&self) -> u32 {
        self.core.iteration()
    }

    /// How many `run` calls are on the stack right now.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// assert_eq!(lp.depth(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn depth(&self) -> u32 {
        self.core.depth()
    }

    /// How many watchers have events waiting to be dispatched.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// assert_eq!(lp.pending_count(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn pending_count(&self) -> u32 {
        self.core.pending_count()
    }

    /// The backend in use.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// assert!(hinge::Backend::supported().contains(lp.backend()));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn backend(&self) -> Backend {
        Backend(self.core.backend())
    }

    /// The backend's name, e.g. `"epoll"`.
    ///
    /// ```
    /// let lp = hinge::Loop::builder().backend(hinge::Backend::SELECT).build()?;
    /// assert_eq!(lp.backend_name(), "select");
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn backend_name(&self) -> &'static str {
        self.backend().name()
    }

    /// Whether this is the process-wide default loop.
    ///
    /// ```
    /// assert!(!hinge::Loop::new()?.is_default());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_default(&self) -> bool {
        self.core.is_default()
    }

    /// Suspends the loop's notion of time, e.g. while the process is
    /// stopped: timers do not count the suspended span. `resume` (or the
    /// next `run`) ends it.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// lp.suspend();
    /// lp.resume();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn suspend(&self) {
        self.core.suspend();
    }

    /// Ends a [`suspend`](Loop::suspend). Does nothing if not suspended.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// lp.resume();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn resume(&self) {
        self.core.resume();
    }

    /// Tells the loop that the process forked: the backend is re-created
    /// and [`Fork`](crate::Fork) watchers run at the start of the next
    /// iteration. Call it in the child after `fork()`.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// lp.fork();
    /// lp.run_nowait();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn fork(&self) {
        self.core.fork();
    }

    /// Trades latency for fewer wakeups: gather io events for up to
    /// `interval` before dispatching them.
    ///
    /// Intervals above [`Loop::MAX_COLLECT_INTERVAL`] (1 s) are clamped
    /// to it. Collecting batches wakeups at the millisecond scale; longer
    /// only delays every timer, and past about 24 days libev's `int` of
    /// milliseconds for `epoll_wait` overflows (C's undefined behaviour).
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// lp.set_io_collect_interval(std::time::Duration::from_millis(1));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_io_collect_interval(&self, interval: Duration) {
        self.core.set_io_collect_interval(collect_seconds(interval));
    }

    /// Gathers timer expirations that fall within `interval` of each other.
    ///
    /// Intervals above [`Loop::MAX_COLLECT_INTERVAL`] (1 s) are clamped
    /// to it. Collecting batches wakeups at the millisecond scale; longer
    /// only delays every timer, and past about 24 days libev's `int` of
    /// milliseconds for `epoll_wait` overflows (C's undefined behaviour).
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// lp.set_timeout_collect_interval(std::time::Duration::from_millis(1));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_timeout_collect_interval(&self, interval: Duration) {
        self.core
            .set_timeout_collect_interval(collect_seconds(interval));
    }
}

impl Loop {
    /// A cheap, non-owning handle to this loop, for code that must hold
    /// the loop rather than borrow it: a task (`'static`), a struct.
    /// It derefs to [`Loop`], so every method taking `&Loop` takes it.
    /// Dropping a handle changes nothing; only the `Loop` itself tears the
    /// loop down, after which handles see a dead loop (watchers made on it
    /// are inert, `run` returns at once).
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let h = lp.handle();
    /// lp.spawn_local(async move {
    ///     let later = h.set_timeout(std::time::Duration::ZERO, |_| println!("later"));
    ///     drop(later); // a TimerHandle: dropping it does not clear it
    /// })
    /// .detach();
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn handle(&self) -> LoopHandle {
        LoopHandle(Loop::view(&self.core))
    }
}

/// A non-owning handle to a [`Loop`], from [`Loop::handle`]: clone it
/// freely, use it as a `&Loop` (it derefs to one). Like `Loop`, it is
/// neither `Send` nor `Sync`.
///
/// ```
/// fn ticks(lp: &hinge::Loop) -> u32 { lp.iteration() }
/// let lp = hinge::Loop::new()?;
/// let h: hinge::LoopHandle = lp.handle();
/// assert_eq!(ticks(&h), 0);
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Debug)]
pub struct LoopHandle(Loop);

impl Clone for LoopHandle {
    fn clone(&self) -> LoopHandle {
        LoopHandle(Loop::view(&self.0.core))
    }
}

impl std::ops::Deref for LoopHandle {
    type Target = Loop;
    fn deref(&self) -> &Loop {
        &self.0
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        if self.owner {
            self.core.teardown();
        }
    }
}

impl std::fmt::Debug for Loop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loop")
            .field("backend", &self.backend_name())
            .field("default", &self.is_default())
            .field("iteration", &self.iteration())
            .finish()
    }
}

/// libev's clock: seconds since the epoch, as `f64`.
///
/// ```
/// assert!(hinge::time() > 1.0e9);
/// ```
pub fn time() -> f64 {
    ffi::time()
}

/// The libev library's (major, minor) version, as linked at run time.
///
/// ```
/// let (major, _minor) = hinge::libev_version();
/// assert!(major >= 4);
/// ```
pub fn libev_version() -> (i32, i32) {
    ffi::version()
}

/// The range of watcher priorities this libev supports (`EV_MINPRI`,
/// `EV_MAXPRI`), usually `(-2, 2)`.
///
/// ```
/// let (lo, hi) = hinge::priority_range();
/// assert!(lo <= 0 && 0 <= hi);
/// ```
pub fn priority_range() -> (i32, i32) {
    ffi::priority_range()
}

/// A collect interval as libev can use it: at most
/// `Loop::MAX_COLLECT_INTERVAL`.
fn collect_seconds(d: Duration) -> f64 {
    d.as_secs_f64()
        .min(Loop::MAX_COLLECT_INTERVAL.as_secs_f64())
}

pub(crate) fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

pub(crate) fn check_time(t: f64) -> Result<f64> {
    if t.is_finite() {
        Ok(t)
    } else {
        Err(Error::InvalidTime(t))
    }
}
