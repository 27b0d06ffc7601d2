//! The one place where hinge crosses into C.
//!
//! Everything that touches a raw libev pointer lives here: the loop's
//! lifetime ([`LoopCore`]), the generic watcher cell ([`Shared`]) that owns
//! one libev watcher struct and its Rust callback (a boxed closure for the
//! public watcher types; for hinge's sockets, the socket itself), and the
//! `extern "C"` trampoline that libev calls. Every other module is safe
//! Rust and goes through the small API at the bottom of each section.
//!
//! The invariants, stated once:
//!
//! 1. A watcher struct lives inside an `Rc<Shared<K>>`, so its address is
//!    stable, and libev's `data` field points back at that `Shared`.
//! 2. A `Shared` is attached to a loop (`core` non-null) until it is closed
//!    or the loop is torn down. While attached, the loop's raw pointer is
//!    valid. Every libev call on a watcher first checks that it is attached.
//! 3. A watcher is stopped (which also clears a pending event) before it is
//!    detached, so libev never holds a pointer to a watcher that may be freed.
//! 4. The trampoline holds its own strong count for the duration of a
//!    callback, so a callback may drop its own watcher.
//! 5. No panic crosses into C: each callback runs under `catch_unwind`; the
//!    payload is stored in the loop and re-raised by `run` after `ev_run`
//!    returns.
#![allow(unsafe_code)]

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell, UnsafeCell};
use std::ffi::CString;
use std::mem::ManuallyDrop;
use std::os::raw::{c_int, c_uint, c_void};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use libev_sys as sys;
use slab::Slab;

use crate::{Error, Events, Loop};

// ---------------------------------------------------------------------
// The loop
// ---------------------------------------------------------------------

/// Set while some `Loop` owns libev's process-wide default loop.
static DEFAULT_TAKEN: AtomicBool = AtomicBool::new(false);

/// The state behind a [`Loop`]: the raw loop and every watcher made on it.
pub(crate) struct LoopCore {
    /// Null once the loop has been destroyed.
    raw: Cell<*mut sys::ev_loop>,
    is_default: bool,
    /// Every live watcher, so teardown can stop and detach them.
    watchers: RefCell<Slab<Weak<dyn Node>>>,
    /// The first panic caught in a callback, waiting for `run` to re-raise.
    panic: Cell<Option<Box<dyn Any + Send>>>,
    suspended: Cell<bool>,
    tearing_down: Cell<bool>,
    /// Per-loop state of other modules (read buffer, pool port), by type.
    locals: RefCell<Vec<(TypeId, Rc<dyn Any>)>>,
}

impl LoopCore {
    pub(crate) fn new(flags: c_uint, default: bool) -> Result<Rc<LoopCore>, Error> {
        if default && DEFAULT_TAKEN.swap(true, Ordering::AcqRel) {
            return Err(Error::DefaultLoopBusy);
        }
        // libev's default loop watches SIGCHLD itself, and aborts if another
        // loop already does: claim it first. The claim is keyed by a
        // placeholder until the loop's address is known.
        if default && !signals::claim(libc::SIGCHLD, signals::DEFAULT_LOOP) {
            DEFAULT_TAKEN.store(false, Ordering::Release);
            return Err(Error::SignalInUse {
                signum: libc::SIGCHLD,
            });
        }
        // SAFETY: both constructors accept any flags and return null on failure.
        let raw = unsafe {
            if default {
                sys::ev_default_loop(flags)
            } else {
                sys::ev_loop_new(flags)
            }
        };
        if raw.is_null() {
            if default {
                signals::release(libc::SIGCHLD, signals::DEFAULT_LOOP);
                DEFAULT_TAKEN.store(false, Ordering::Release);
            }
            return Err(Error::LoopCreate { flags });
        }
        if default {
            signals::rekey(libc::SIGCHLD, signals::DEFAULT_LOOP, raw as usize);
        }
        Ok(Rc::new(LoopCore {
            raw: Cell::new(raw),
            is_default: default,
            watchers: RefCell::new(Slab::new()),
            panic: Cell::new(None),
            suspended: Cell::new(false),
            tearing_down: Cell::new(false),
            locals: RefCell::new(Vec::new()),
        }))
    }

    /// The raw loop, or `None` once it is being or has been destroyed.
    fn live(&self) -> Option<*mut sys::ev_loop> {
        let raw = self.raw.get();
        (!raw.is_null()).then_some(raw)
    }

    pub(crate) fn is_default(&self) -> bool {
        self.is_default
    }

    /// The raw loop's address: a process-unique id while the loop lives.
    pub(crate) fn id(&self) -> usize {
        self.raw.get() as usize
    }

    pub(crate) fn run(&self, flags: c_int) -> bool {
        let Some(raw) = self.live() else { return false };
        if self.tearing_down.get() {
            return false;
        }
        self.resume();
        // SAFETY: raw is a live loop owned by this core; callbacks cannot
        // unwind through ev_run (invariant 5).
        let more = unsafe { sys::ev_run(raw, flags) };
        if let Some(payload) = self.panic.take() {
            resume_unwind(payload);
        }
        more != 0
    }

    pub(crate) fn break_loop(&self, how: c_int) {
        if let Some(raw) = self.live() {
            // SAFETY: raw is live; ev_break only sets a flag.
            unsafe { sys::ev_break(raw, how) }
        }
    }

    pub(crate) fn now(&self) -> f64 {
        match self.live() {
            // SAFETY: raw is live.
            Some(raw) => unsafe { sys::ev_now(raw) },
            None => time(),
        }
    }

    pub(crate) fn update_now(&self) {
        if let Some(raw) = self.live() {
            // SAFETY: raw is live.
            unsafe { sys::ev_now_update(raw) }
        }
    }

    pub(crate) fn iteration(&self) -> u32 {
        // SAFETY: raw is live.
        self.live()
            .map_or(0, |raw| unsafe { sys::ev_iteration(raw) })
    }

    pub(crate) fn depth(&self) -> u32 {
        // SAFETY: raw is live.
        self.live().map_or(0, |raw| unsafe { sys::ev_depth(raw) })
    }

    pub(crate) fn pending_count(&self) -> u32 {
        // SAFETY: raw is live.
        self.live()
            .map_or(0, |raw| unsafe { sys::ev_pending_count(raw) })
    }

    pub(crate) fn backend(&self) -> c_uint {
        // SAFETY: raw is live.
        self.live().map_or(0, |raw| unsafe { sys::ev_backend(raw) })
    }

    pub(crate) fn suspend(&self) {
        if let Some(raw) = self.live() {
            if !self.suspended.replace(true) {
                // SAFETY: raw is live and not already suspended.
                unsafe { sys::ev_suspend(raw) }
            }
        }
    }

    pub(crate) fn resume(&self) {
        if let Some(raw) = self.live() {
            if self.suspended.replace(false) {
                // SAFETY: raw is live and was suspended by us.
                unsafe { sys::ev_resume(raw) }
            }
        }
    }

    pub(crate) fn fork(&self) {
        if let Some(raw) = self.live() {
            // SAFETY: raw is live; ev_loop_fork only marks the loop.
            unsafe { sys::ev_loop_fork(raw) }
        }
    }

    pub(crate) fn set_io_collect_interval(&self, seconds: f64) {
        if let Some(raw) = self.live() {
            // SAFETY: raw is live; the value is finite and non-negative.
            unsafe { sys::ev_set_io_collect_interval(raw, seconds) }
        }
    }

    pub(crate) fn set_timeout_collect_interval(&self, seconds: f64) {
        if let Some(raw) = self.live() {
            // SAFETY: raw is live; the value is finite and non-negative.
            unsafe { sys::ev_set_timeout_collect_interval(raw, seconds) }
        }
    }

    /// The loop's single value of type `T`, created by `init` on first use.
    pub(crate) fn local<T: 'static>(&self, init: impl FnOnce() -> T) -> Rc<T> {
        let key = TypeId::of::<T>();
        let found = self
            .locals
            .borrow()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone());
        let value = match found {
            Some(value) => value,
            None => {
                let value: Rc<dyn Any> = Rc::new(init());
                self.locals.borrow_mut().push((key, value.clone()));
                value
            }
        };
        match value.downcast::<T>() {
            Ok(value) => value,
            Err(_) => unreachable!("locals are keyed by their TypeId"),
        }
    }

    fn stash_panic(&self, payload: Box<dyn Any + Send>) {
        // Keep the first; later ones are consequences more often than not.
        // Dropping a later payload runs its Drop, which may itself panic.
        match self.panic.take() {
            Some(first) => {
                self.panic.set(Some(first));
                if let Err(nested) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
                    // A payload whose Drop panics: give up on that one only.
                    std::mem::forget(nested);
                }
            }
            None => self.panic.set(Some(payload)),
        }
        self.break_loop(sys::EVBREAK_ALL as c_int);
    }

    fn drop_caught<T>(&self, value: T) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
            let first = self.panic.take().unwrap_or(payload);
            self.panic.set(Some(first));
        }
    }

    fn register(&self, node: Weak<dyn Node>) -> usize {
        self.watchers.borrow_mut().insert(node)
    }

    fn unregister(&self, slot: usize) {
        self.watchers.borrow_mut().try_remove(slot);
    }

    fn snapshot(&self) -> Vec<Rc<dyn Node>> {
        self.watchers
            .borrow()
            .iter()
            .filter_map(|(_, w)| w.upgrade())
            .collect()
    }

    /// Destroys the loop: runs cleanup watchers, stops every watcher,
    /// frees the libev loop, then detaches the watchers and drops their
    /// closures. Called once, by `Loop`'s `Drop`.
    pub(crate) fn teardown(&self) {
        let Some(raw) = self.live() else { return };
        self.tearing_down.set(true);
        self.resume();
        // Cleanup callbacks run first, while the loop still fully works;
        // skipped while unwinding, where a second panic would abort.
        if !std::thread::panicking() {
            for node in self.snapshot() {
                let outcome = catch_unwind(AssertUnwindSafe(move || node.run_cleanup()));
                if let Err(payload) = outcome {
                    self.stash_panic(payload);
                }
            }
        }
        // Stop everything (again: cleanup callbacks may have started some),
        // so that no signal handler or fd registration outlives the loop.
        let running = self.snapshot();
        for node in &running {
            node.stop_for_teardown();
        }
        for node in running {
            self.drop_caught(node);
        }
        // SAFETY: raw is live and every watcher on it is stopped.
        unsafe { sys::ev_loop_destroy(raw) };
        self.raw.set(std::ptr::null_mut());
        if self.is_default {
            // Only now has libev given up its own SIGCHLD watcher.
            signals::release(libc::SIGCHLD, raw as usize);
        }
        if self.is_default {
            DEFAULT_TAKEN.store(false, Ordering::Release);
        }
        // Detach, then drop closures; those drops may drop other watchers,
        // which by then see a detached core and do nothing.
        let nodes: Vec<_> = std::mem::take(&mut *self.watchers.borrow_mut())
            .into_iter()
            .filter_map(|(_, w)| w.upgrade())
            .collect();
        let closures: Vec<_> = nodes.iter().map(|n| n.detach()).collect();
        // User code runs from here on (closure and value drops); a panic
        // in one must not skip the rest.
        for closure in closures {
            self.drop_caught(closure);
        }
        for node in nodes {
            self.drop_caught(node);
        }
        // Take first: a value's Drop may itself ask for a loop local.
        let locals = std::mem::take(&mut *self.locals.borrow_mut());
        for local in locals {
            self.drop_caught(local);
        }
        if let Some(payload) = self.panic.take() {
            if !std::thread::panicking() {
                resume_unwind(payload);
            }
        }
    }
}

/// libev's clock: seconds since the epoch, as a float.
pub(crate) fn time() -> f64 {
    // SAFETY: no preconditions.
    unsafe { sys::ev_time() }
}

pub(crate) fn version() -> (i32, i32) {
    // SAFETY: no preconditions.
    unsafe { (sys::ev_version_major(), sys::ev_version_minor()) }
}

pub(crate) fn supported_backends() -> c_uint {
    // SAFETY: no preconditions.
    unsafe { sys::ev_supported_backends() }
}

pub(crate) fn recommended_backends() -> c_uint {
    // SAFETY: no preconditions.
    unsafe { sys::ev_recommended_backends() }
}

pub(crate) fn embeddable_backends() -> c_uint {
    // SAFETY: no preconditions.
    unsafe { sys::ev_embeddable_backends() }
}

pub(crate) fn priority_range() -> (i32, i32) {
    // SAFETY: no preconditions.
    unsafe { (sys::hinge_ev_minpri(), sys::hinge_ev_maxpri()) }
}

// ---------------------------------------------------------------------
// Socket I/O on a raw fd, for the hot path
// ---------------------------------------------------------------------

/// `recv(2)` into `buf`. Any fd value is memory-safe here: a stale one
/// fails with EBADF; the buffer is a valid, exclusively borrowed slice.
#[inline]
pub(crate) fn recv(fd: c_int, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: buf is valid for writes of buf.len() bytes.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `send(2)` with MSG_NOSIGNAL: a closed peer is an EPIPE error, never a
/// SIGPIPE.
#[inline]
pub(crate) fn send(fd: c_int, buf: &[u8]) -> std::io::Result<usize> {
    // SAFETY: buf is valid for reads of buf.len() bytes.
    let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `accept4(2)` with `SOCK_NONBLOCK | SOCK_CLOEXEC`: a ready-to-use
/// connection in one system call.
pub(crate) fn accept(fd: c_int) -> std::io::Result<(socket2::Socket, socket2::SockAddr)> {
    // SAFETY: socket2's try_init hands us zeroed storage of the right size
    // and length to fill; accept4 writes at most that many bytes. A
    // successful accept4 returns a new fd that nothing else owns, which
    // the OwnedFd takes over.
    unsafe {
        let mut conn = -1;
        let ((), addr) = socket2::SockAddr::try_init(|storage, len| {
            conn = libc::accept4(
                fd,
                storage.cast(),
                len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            );
            if conn < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        })?;
        use std::os::fd::FromRawFd;
        Ok((
            socket2::Socket::from(std::os::fd::OwnedFd::from_raw_fd(conn)),
            addr,
        ))
    }
}

// ---------------------------------------------------------------------
// Signals: libev lets one loop at a time own a signal number
// ---------------------------------------------------------------------

pub(crate) mod signals {
    use super::*;

    /// Per signal number: the owning loop's address and its claim count.
    static OWNERS: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

    /// The claim key of the default loop while it is being created.
    pub(crate) const DEFAULT_LOOP: usize = 1;

    /// Signals a loop may watch: 1 to 64, except those that report a
    /// synchronous fault, where deferring to the loop would re-fault forever.
    pub(crate) fn valid(signum: c_int) -> bool {
        signum > 0
            && signum < 65
            && !matches!(
                signum,
                libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE
            )
    }

    /// Moves a claim from one owner key to another.
    pub(crate) fn rekey(signum: c_int, from: usize, to: usize) {
        let mut owners = OWNERS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = owners.get_mut(signum as usize) {
            if entry.0 == from {
                entry.0 = to;
            }
        }
    }

    /// Claims `signum` for `owner`; fails if another loop holds it.
    pub(crate) fn claim(signum: c_int, owner: usize) -> bool {
        let mut owners = OWNERS.lock().unwrap_or_else(|e| e.into_inner());
        if owners.len() < 65 {
            owners.resize(65, (0, 0));
        }
        let entry = &mut owners[signum as usize];
        if entry.1 > 0 && entry.0 != owner {
            return false;
        }
        *entry = (owner, entry.1 + 1);
        true
    }

    pub(crate) fn release(signum: c_int, owner: usize) {
        let mut owners = OWNERS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = owners.get_mut(signum as usize) {
            if entry.0 == owner && entry.1 > 0 {
                entry.1 -= 1;
            }
        }
    }
}

// ---------------------------------------------------------------------
// Watchers
// ---------------------------------------------------------------------

/// The closure type every watcher stores.
pub(crate) type Callback<K> = dyn FnMut(&Loop, &<K as Kind>::Public, Events);

/// One libev watcher type and its public Rust face.
pub(crate) trait Kind: Sized + 'static {
    /// The libev struct, e.g. `ev_timer`.
    type Raw: Default;
    /// The public handle, e.g. `Timer`, a newtype over `Handle<Self>`.
    type Public: 'static;
    /// Extra state that must live as long as the watcher.
    type Extra;
    /// What the watcher calls: a boxed closure for the public watcher
    /// types, a typed handler for hinge's own hot paths.
    type Cb: 'static;
    /// Whether teardown must invoke it before stopping (ev_cleanup).
    const IS_CLEANUP: bool = false;

    fn wrap(handle: Handle<Self>) -> Self::Public;
    /// `ev_TYPE_init`: sets the callback and the watcher's parameters.
    ///
    /// # Safety
    /// `w` points at an inactive watcher struct.
    unsafe fn init(w: *mut Self::Raw, cb: Trampoline<Self>, extra: &Self::Extra);
    /// # Safety
    /// `lp` is live and `w` was initialised by `init`.
    unsafe fn start(lp: *mut sys::ev_loop, w: *mut Self::Raw);
    /// # Safety
    /// `lp` is live and `w` was initialised by `init`.
    unsafe fn stop(lp: *mut sys::ev_loop, w: *mut Self::Raw);
    /// Called once when the watcher is closed or its loop torn down.
    fn on_detach(_extra: &Self::Extra, _owner: usize) {}
    /// Calls `cb` for an event of the watcher `shared`.
    fn invoke(cb: &mut Self::Cb, lp: &Loop, shared: &Rc<Shared<Self>>, events: Events);
}

/// `Kind::invoke` for the public watcher types: hands the closure its
/// watcher as the public type.
fn call_boxed<K: Kind<Cb = Box<Callback<K>>>>(
    cb: &mut Box<Callback<K>>,
    lp: &Loop,
    shared: &Rc<Shared<K>>,
    events: Events,
) {
    // SAFETY: the trampoline holds a strong count for this call; the
    // alias is never dropped, so the count is not touched.
    let me = ManuallyDrop::new(K::wrap(Handle {
        rc: unsafe { Rc::from_raw(Rc::as_ptr(shared)) },
    }));
    cb(lp, &me, events)
}

/// The parts of `Kind` shared by every public watcher type: its boxed
/// closure is called with the watcher as that type.
macro_rules! boxed_callback {
    ($public:ty) => {
        type Public = $public;
        type Cb = Box<Callback<Self>>;
        fn wrap(handle: Handle<Self>) -> $public {
            <$public>::from_handle(handle)
        }
        fn invoke(cb: &mut Self::Cb, lp: &Loop, shared: &Rc<Shared<Self>>, events: Events) {
            call_boxed(cb, lp, shared, events)
        }
    };
}

pub(crate) type Trampoline<K> =
    Option<unsafe extern "C" fn(*mut sys::ev_loop, *mut <K as Kind>::Raw, c_int)>;

/// A libev watcher struct, its closure and its bookkeeping.
pub(crate) struct Shared<K: Kind> {
    raw: UnsafeCell<K::Raw>,
    /// Null when detached (closed, or its loop torn down).
    core: Cell<*const LoopCore>,
    slot: Cell<usize>,
    /// `None` while the callback runs (it is taken out for the call).
    cb: Cell<Option<K::Cb>>,
    /// The user asked that this watcher not keep the loop alive.
    unref: Cell<bool>,
    /// An `ev_unref` for this watcher is currently in effect.
    unref_applied: Cell<bool>,
    closed: Cell<bool>,
    /// Events that arrived while the closure was running (a nested `run`),
    /// re-fed once it returns.
    missed: Cell<c_int>,
    extra: K::Extra,
}

/// The strong handle a public watcher type wraps. Dropping it closes the
/// watcher: stop, detach, and drop the closure.
pub(crate) struct Handle<K: Kind> {
    rc: Rc<Shared<K>>,
}

impl<K: Kind> Handle<K> {
    /// A watcher of a public type, calling a boxed closure.
    pub(crate) fn new(lp: &Loop, extra: K::Extra, cb: Box<Callback<K>>) -> Handle<K>
    where
        K: Kind<Cb = Box<Callback<K>>>,
    {
        Handle::with_callback(lp, extra, cb)
    }

    pub(crate) fn with_callback(lp: &Loop, extra: K::Extra, cb: K::Cb) -> Handle<K> {
        let core = lp.core();
        let shared = Rc::new(Shared::<K> {
            raw: UnsafeCell::new(K::Raw::default()),
            core: Cell::new(std::ptr::null()),
            slot: Cell::new(0),
            cb: Cell::new(Some(cb)),
            unref: Cell::new(false),
            unref_applied: Cell::new(false),
            closed: Cell::new(false),
            missed: Cell::new(0),
            extra,
        });
        let w = shared.raw.get();
        // SAFETY: w is a fresh, inactive watcher owned by `shared`; its
        // `data` points at `shared`, whose address the Rc keeps stable.
        unsafe {
            K::init(w, Some(trampoline::<K>), &shared.extra);
            (*w.cast::<sys::ev_watcher>()).data = Rc::as_ptr(&shared) as *mut c_void;
        }
        if core.live().is_some() {
            let weak: Weak<dyn Node> = Rc::downgrade(&shared) as Weak<dyn Node>;
            shared.slot.set(core.register(weak));
            shared.core.set(Rc::as_ptr(core));
        } else {
            // The loop is being torn down: the watcher is born detached,
            // and will never call back (nor hold what its callback holds).
            K::on_detach(&shared.extra, 0);
            drop(shared.cb.take());
        }
        Handle { rc: shared }
    }

    pub(crate) fn extra(&self) -> &K::Extra {
        &self.rc.extra
    }

    /// The loop's identity (its raw address), or 0 when detached.
    pub(crate) fn owner(&self) -> usize {
        self.rc.live_loop().map_or(0, |raw| raw as usize)
    }

    fn raw_watcher(&self) -> *mut sys::ev_watcher {
        self.rc.raw.get().cast()
    }

    pub(crate) fn start(&self) {
        self.rc.start();
    }

    pub(crate) fn stop(&self) {
        self.rc.stop();
    }

    pub(crate) fn is_active(&self) -> bool {
        self.rc.is_active()
    }

    pub(crate) fn is_pending(&self) -> bool {
        // SAFETY: the struct is initialised; reading `pending` is always valid.
        unsafe { sys::hinge_ev_is_pending(self.raw_watcher()) != 0 }
    }

    pub(crate) fn priority(&self) -> i32 {
        // SAFETY: as above.
        unsafe { sys::hinge_ev_priority(self.raw_watcher()) }
    }

    pub(crate) fn set_priority(&self, priority: i32) -> Result<(), Error> {
        if self.is_active() || self.is_pending() {
            return Err(Error::WatcherBusy);
        }
        let (lo, hi) = priority_range();
        // SAFETY: libev allows changing the priority of an inactive,
        // non-pending watcher, which was just checked.
        unsafe { sys::hinge_ev_set_priority(self.raw_watcher(), priority.clamp(lo, hi)) };
        Ok(())
    }

    pub(crate) fn feed_event(&self, events: Events) {
        if let Some(lp) = self.rc.live_loop() {
            // SAFETY: lp is live; the watcher is initialised and will be
            // stopped (clearing the pending event) before it is freed.
            unsafe { sys::ev_feed_event(lp, self.raw_watcher().cast(), events.bits()) }
        }
    }

    pub(crate) fn clear_pending(&self) -> Events {
        if let Some(lp) = self.rc.live_loop() {
            self.rc.sync_ref(lp);
        }
        match self.rc.live_loop() {
            // SAFETY: lp is live and the watcher belongs to it.
            Some(lp) => {
                Events::from_bits(unsafe { sys::ev_clear_pending(lp, self.raw_watcher().cast()) })
            }
            None => Events::NONE,
        }
    }

    pub(crate) fn set_callback(&self, cb: Box<Callback<K>>)
    where
        K: Kind<Cb = Box<Callback<K>>>,
    {
        if !self.rc.closed.get() {
            drop(self.rc.cb.replace(Some(cb)));
        }
    }

    pub(crate) fn unref(&self) {
        self.rc.unref.set(true);
        self.rc.apply_ref();
    }

    pub(crate) fn ref_(&self) {
        self.rc.unref.set(false);
        self.rc.apply_ref();
    }

    pub(crate) fn has_ref(&self) -> bool {
        !self.rc.unref.get()
    }

    /// Runs `f` on the inactive struct, e.g. an `ev_TYPE_set`: stops the
    /// watcher first and restarts it afterwards if it was running.
    pub(crate) fn reconfigure(&self, f: impl FnOnce(*mut K::Raw)) {
        let was_active = self.is_active();
        self.stop();
        f(self.rc.raw.get());
        if was_active {
            self.start();
        }
    }

    /// Reads the raw struct (accessors for fields such as `rpid`).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&K::Raw) -> T) -> T {
        // SAFETY: libev writes the struct only from inside ev_run or our
        // own calls on this thread, never while this shared borrow lives.
        f(unsafe { &*self.rc.raw.get() })
    }

    /// Calls `f` with the live loop and the raw struct, if attached.
    pub(crate) fn with_loop<T>(
        &self,
        f: impl FnOnce(*mut sys::ev_loop, *mut K::Raw) -> T,
    ) -> Option<T> {
        let lp = self.rc.live_loop()?;
        Some(f(lp, self.rc.raw.get()))
    }
}

impl<K: Kind> Drop for Handle<K> {
    fn drop(&mut self) {
        self.rc.close();
    }
}

impl<K: Kind> Shared<K> {
    fn live_loop(&self) -> Option<*mut sys::ev_loop> {
        let core = self.core.get();
        if core.is_null() {
            return None;
        }
        // SAFETY: an attached watcher's core outlives the attachment
        // (teardown detaches every watcher before the core is freed).
        unsafe { (*core).live() }
    }

    #[inline]
    fn is_active(&self) -> bool {
        // SAFETY: every watcher struct begins with ev_watcher's fields
        // (libev's own casts rely on it); `active` is initialised and only
        // written on this thread, by libev or by us. Read in place, no
        // reference made.
        unsafe { (*self.raw.get().cast::<sys::ev_watcher>()).active != 0 }
    }

    fn start(&self) {
        let Some(lp) = self.live_loop() else { return };
        if self.is_active() {
            return;
        }
        // SAFETY: lp is live, the watcher is initialised and inactive, and
        // its parameters were validated by the public constructors.
        unsafe { K::start(lp, self.raw.get()) };
        self.apply_ref();
    }

    fn stop(&self) {
        let Some(lp) = self.live_loop() else { return };
        self.sync_ref(lp);
        if self.unref_applied.replace(false) {
            // SAFETY: lp is live; this undoes our own earlier ev_unref.
            unsafe { sys::ev_ref(lp) };
        }
        // SAFETY: lp is live; stopping also clears a pending event, even
        // for an inactive watcher.
        unsafe { K::stop(lp, self.raw.get()) };
    }

    /// Makes the loop's reference count match `unref` and `is_active`.
    fn apply_ref(&self) {
        if K::IS_CLEANUP {
            return; // libev never lets cleanup watchers hold a reference
        }
        if !self.unref.get() && !self.unref_applied.get() {
            return; // the common case: never unref'd, nothing to match
        }
        let Some(lp) = self.live_loop() else { return };
        self.sync_ref(lp);
        let want = self.unref.get() && self.is_active();
        if want != self.unref_applied.get() {
            self.unref_applied.set(want);
            // SAFETY: lp is live; ev_ref/ev_unref are paired by unref_applied.
            unsafe {
                if want {
                    sys::ev_unref(lp)
                } else {
                    sys::ev_ref(lp)
                }
            }
        }
    }

    /// libev stops some watchers itself (one-shot timers, io on a dead fd),
    /// which drops the loop's count a second time for an unref'd watcher.
    fn sync_ref(&self, lp: *mut sys::ev_loop) {
        if self.unref_applied.get() && !self.is_active() {
            self.unref_applied.set(false);
            // SAFETY: lp is live; this restores the count libev's stop took.
            unsafe { sys::ev_ref(lp) };
        }
    }

    /// Stops and detaches; drops the closure unless it is running.
    fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        self.stop();
        let core = self.core.replace(std::ptr::null());
        if !core.is_null() {
            // SAFETY: the core outlives every attached watcher.
            let core = unsafe { &*core };
            core.unregister(self.slot.get());
            K::on_detach(&self.extra, core.raw.get() as usize);
        }
        drop(self.cb.take());
    }

    fn dispatch(self: &Rc<Self>, revents: c_int) {
        let core_ptr = self.core.get();
        if core_ptr.is_null() {
            return;
        }
        if self.unref_applied.get() {
            self.resync_ref();
        }
        // None: a nested `run` reached this watcher while its callback is
        // already on the stack. A callback cannot be re-entered, so keep
        // the event and deliver it after the running call returns.
        let Some(mut cb) = self.cb.take() else {
            self.missed.set(self.missed.get() | revents);
            return;
        };
        // SAFETY: core_ptr came from Rc::as_ptr and the loop is alive while
        // callbacks run; ManuallyDrop means this alias never drops it.
        let lp = ManuallyDrop::new(Loop::alias(unsafe { Rc::from_raw(core_ptr) }));
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            K::invoke(&mut cb, &lp, self, Events::from_bits(revents))
        }));
        if let Err(payload) = outcome {
            // SAFETY: as above, the core is alive during callbacks.
            unsafe { &*core_ptr }.stash_panic(payload);
        }
        // Put the callback back, unless the watcher was closed during the
        // call or the call installed a new one: then the old one goes.
        if self.closed.get() {
            drop(cb);
        } else if let Some(newer) = self.cb.replace(Some(cb)) {
            drop(self.cb.replace(Some(newer)));
        }
        if self.missed.get() != 0 {
            self.refeed_missed();
        }
    }

    #[cold]
    fn resync_ref(&self) {
        if let Some(lp) = self.live_loop() {
            self.sync_ref(lp);
        }
    }

    #[cold]
    fn refeed_missed(&self) {
        let missed = self.missed.replace(0);
        if !self.closed.get() {
            if let Some(lp) = self.live_loop() {
                // SAFETY: lp is live and the watcher attached to it.
                unsafe { sys::ev_feed_event(lp, self.raw.get().cast(), missed) };
            }
        }
    }
}

/// libev's entry point for every watcher of kind `K`.
unsafe extern "C" fn trampoline<K: Kind>(_lp: *mut sys::ev_loop, w: *mut K::Raw, revents: c_int) {
    // SAFETY: `data` was set to the owning Shared in Handle::new, and
    // libev only calls back for watchers that are started or pending,
    // which are never freed (invariant 3). Taking a strong count keeps the
    // Shared alive even if the callback drops its last handle.
    let shared = unsafe {
        let ptr = (*w.cast::<sys::ev_watcher>()).data as *const Shared<K>;
        Rc::increment_strong_count(ptr);
        Rc::from_raw(ptr)
    };
    let core = shared.core.get();
    // The callback itself is caught inside dispatch; this also catches
    // panics from dropping closures or sources after it returned.
    let outcome = catch_unwind(AssertUnwindSafe(move || {
        shared.dispatch(revents);
        drop(shared);
    }));
    if let Err(payload) = outcome {
        if core.is_null() {
            // No loop to carry the panic to; unwinding into C is worse.
            std::process::abort();
        }
        // SAFETY: the core outlives every callback (invariant 2).
        unsafe { &*core }.stash_panic(payload);
    }
}

/// What teardown needs from any watcher, whatever its kind.
trait Node {
    fn run_cleanup(self: Rc<Self>);
    fn stop_for_teardown(&self);
    /// Marks the watcher detached and hands back its closure to drop.
    fn detach(&self) -> Option<Box<dyn Any>>;
}

impl<K: Kind> Node for Shared<K> {
    fn run_cleanup(self: Rc<Self>) {
        if K::IS_CLEANUP && self.is_active() {
            self.dispatch(sys::EV_CLEANUP as c_int);
        }
    }

    fn stop_for_teardown(&self) {
        self.stop();
        // Before ev_loop_destroy: senders must not reach a freed loop.
        if let Some(lp) = self.live_loop() {
            K::on_detach(&self.extra, lp as usize);
        }
    }

    fn detach(&self) -> Option<Box<dyn Any>> {
        self.core.set(std::ptr::null());
        self.unref_applied.set(false);
        self.cb.take().map(|cb| Box::new(cb) as Box<dyn Any>)
    }
}

// ---------------------------------------------------------------------
// The watcher kinds
// ---------------------------------------------------------------------

macro_rules! kind {
    ($kind:ident, $public:ty, $raw:ty, $extra:ty, $start:ident, $stop:ident,
     |$w:ident, $cb:ident, $x:ident| $init:expr) => {
        pub(crate) struct $kind;
        impl Kind for $kind {
            type Raw = $raw;
            type Extra = $extra;
            boxed_callback!($public);
            unsafe fn init($w: *mut $raw, $cb: Trampoline<Self>, $x: &$extra) {
                // SAFETY: forwarded from the caller.
                unsafe { $init }
            }
            unsafe fn start(lp: *mut sys::ev_loop, w: *mut $raw) {
                // SAFETY: forwarded from the caller.
                unsafe { sys::$start(lp, w) }
            }
            unsafe fn stop(lp: *mut sys::ev_loop, w: *mut $raw) {
                // SAFETY: forwarded from the caller.
                unsafe { sys::$stop(lp, w) }
            }
        }
    };
}

/// An io watcher owns its fd source, so safe code cannot close the fd
/// behind libev's back (libev aborts on a watched fd that was closed).
pub(crate) struct IoParams {
    pub(crate) fd: c_int,
    pub(crate) events: c_int,
    pub(crate) source: Box<dyn Any>,
}
pub(crate) struct TimeParams {
    pub(crate) a: f64,
    pub(crate) b: f64,
}

kind!(
    IoKind,
    crate::Io,
    sys::ev_io,
    IoParams,
    ev_io_start,
    ev_io_stop,
    |w, cb, x| sys::hinge_ev_io_init(w, cb, x.fd, x.events)
);
kind!(
    TimerKind,
    crate::Timer,
    sys::ev_timer,
    TimeParams,
    ev_timer_start,
    ev_timer_stop,
    |w, cb, x| sys::hinge_ev_timer_init(w, cb, x.a, x.b)
);
kind!(
    PeriodicKind,
    crate::Periodic,
    sys::ev_periodic,
    TimeParams,
    ev_periodic_start,
    ev_periodic_stop,
    |w, cb, x| sys::hinge_ev_periodic_init(w, cb, x.a, x.b)
);
kind!(
    IdleKind,
    crate::Idle,
    sys::ev_idle,
    (),
    ev_idle_start,
    ev_idle_stop,
    |w, cb, _x| sys::hinge_ev_idle_init(w, cb)
);
kind!(
    PrepareKind,
    crate::Prepare,
    sys::ev_prepare,
    (),
    ev_prepare_start,
    ev_prepare_stop,
    |w, cb, _x| sys::hinge_ev_prepare_init(w, cb)
);
kind!(
    CheckKind,
    crate::Check,
    sys::ev_check,
    (),
    ev_check_start,
    ev_check_stop,
    |w, cb, _x| sys::hinge_ev_check_init(w, cb)
);
kind!(
    ForkKind,
    crate::Fork,
    sys::ev_fork,
    (),
    ev_fork_start,
    ev_fork_stop,
    |w, cb, _x| sys::hinge_ev_fork_init(w, cb)
);

pub(crate) struct CleanupKind;
impl Kind for CleanupKind {
    type Raw = sys::ev_cleanup;
    type Extra = ();
    const IS_CLEANUP: bool = true;
    boxed_callback!(crate::Cleanup);
    unsafe fn init(w: *mut Self::Raw, cb: Trampoline<Self>, _: &()) {
        // SAFETY: forwarded from the caller.
        unsafe { sys::hinge_ev_cleanup_init(w, cb) }
    }
    unsafe fn start(lp: *mut sys::ev_loop, w: *mut Self::Raw) {
        // SAFETY: forwarded from the caller.
        unsafe { sys::ev_cleanup_start(lp, w) }
    }
    unsafe fn stop(lp: *mut sys::ev_loop, w: *mut Self::Raw) {
        // SAFETY: forwarded from the caller.
        unsafe { sys::ev_cleanup_stop(lp, w) }
    }
}

/// A signal watcher's claim on its signal number, released on detach.
pub(crate) struct SignalParams {
    pub(crate) signum: Cell<c_int>,
}

pub(crate) struct SignalKind;
impl Kind for SignalKind {
    type Raw = sys::ev_signal;
    type Extra = SignalParams;
    boxed_callback!(crate::Signal);
    unsafe fn init(w: *mut Self::Raw, cb: Trampoline<Self>, x: &SignalParams) {
        // SAFETY: forwarded from the caller; signum was validated.
        unsafe { sys::hinge_ev_signal_init(w, cb, x.signum.get()) }
    }
    unsafe fn start(lp: *mut sys::ev_loop, w: *mut Self::Raw) {
        // SAFETY: forwarded; the signal is claimed for this loop, which
        // is libev's precondition for starting it.
        unsafe { sys::ev_signal_start(lp, w) }
    }
    unsafe fn stop(lp: *mut sys::ev_loop, w: *mut Self::Raw) {
        // SAFETY: forwarded from the caller.
        unsafe { sys::ev_signal_stop(lp, w) }
    }
    fn on_detach(extra: &SignalParams, owner: usize) {
        if owner != 0 {
            signals::release(extra.signum.get(), owner);
        }
    }
}

impl Handle<SignalKind> {
    /// Moves the watcher to another signal: claim the new, release the old.
    pub(crate) fn set_signum(&self, signum: c_int) -> Result<(), Error> {
        let owner = self.owner();
        if owner == 0 {
            return Ok(());
        }
        if !signals::claim(signum, owner) {
            return Err(Error::SignalInUse { signum });
        }
        let old = self.rc.extra.signum.replace(signum);
        // SAFETY: reconfigure stops the watcher before the set.
        self.reconfigure(|w| unsafe { sys::hinge_ev_signal_set(w, signum) });
        signals::release(old, owner);
        Ok(())
    }
}

pub(crate) struct ChildParams {
    pub(crate) pid: c_int,
    pub(crate) trace: c_int,
}
kind!(
    ChildKind,
    crate::Child,
    sys::ev_child,
    ChildParams,
    ev_child_start,
    ev_child_stop,
    |w, cb, x| sys::hinge_ev_child_init(w, cb, x.pid, x.trace)
);

/// The path must outlive the watcher: libev keeps the pointer.
pub(crate) struct StatParams {
    pub(crate) path: CString,
    pub(crate) interval: f64,
}
kind!(
    StatKind,
    crate::Stat,
    sys::ev_stat,
    StatParams,
    ev_stat_start,
    ev_stat_stop,
    |w, cb, x| sys::hinge_ev_stat_init(w, cb, x.path.as_ptr(), x.interval)
);

impl Handle<StatKind> {
    /// `ev_stat_stat`: refreshes `attr` from the file system now.
    pub(crate) fn refresh(&self) {
        // SAFETY: lp is live; the path pointer lives in `extra`.
        self.with_loop(|lp, w| unsafe { sys::ev_stat_stat(lp, w) });
    }
}

impl Handle<TimerKind> {
    pub(crate) fn again(&self) {
        // SAFETY: lp is live and the timer initialised; repeat >= 0 was
        // validated when it was set.
        self.with_loop(|lp, w| unsafe { sys::ev_timer_again(lp, w) });
        self.rc.apply_ref();
    }

    pub(crate) fn remaining(&self) -> Option<f64> {
        // SAFETY: lp is live and the timer initialised.
        self.with_loop(|lp, w| unsafe { sys::ev_timer_remaining(lp, w) })
    }

    pub(crate) fn set(&self, after: f64, repeat: f64) {
        // SAFETY: reconfigure stops the watcher first; values validated.
        self.reconfigure(|w| unsafe { sys::hinge_ev_timer_set(w, after, repeat) });
    }

    pub(crate) fn set_repeat(&self, repeat: f64) {
        // SAFETY: `repeat` may be changed at any time (libev docs); the
        // value is validated non-negative by the caller.
        unsafe { (*self.rc.raw.get()).repeat = repeat };
    }
}

impl Handle<PeriodicKind> {
    pub(crate) fn again(&self) {
        // SAFETY: lp is live and the watcher initialised.
        self.with_loop(|lp, w| unsafe { sys::ev_periodic_again(lp, w) });
        self.rc.apply_ref();
    }

    pub(crate) fn at(&self) -> f64 {
        // SAFETY: reading a field of an initialised struct.
        self.read(|w| unsafe { sys::hinge_ev_periodic_at(w) })
    }

    pub(crate) fn set(&self, offset: f64, interval: f64) {
        // SAFETY: reconfigure stops the watcher first; values validated.
        self.reconfigure(|w| unsafe { sys::hinge_ev_periodic_set(w, offset, interval) });
    }
}

impl Handle<IoKind> {
    pub(crate) fn modify(&self, events: c_int) {
        let fd = self.rc.extra.fd;
        // SAFETY: reconfigure stops the watcher first; the mask was
        // validated and the fd is owned by this watcher.
        self.reconfigure(|w| unsafe { sys::hinge_ev_io_set(w, fd, events) });
    }
}

/// The io watcher of hinge's own stream sockets. It owns the socket and
/// calls its handler (the socket itself, a cheap `Rc` handle) directly:
/// no boxed closure, no type-erased fd source, one allocation in all.
pub(crate) trait StreamHandler: 'static {
    fn on_io(&self, lp: &Loop, events: Events);
}

/// A stream watcher's socket, closed by `close_socket` (or with the
/// watcher), never while libev watches its fd.
pub(crate) struct StreamSource {
    fd: c_int,
    sock: RefCell<Option<socket2::Socket>>,
}

impl StreamSource {
    pub(crate) fn new(sock: socket2::Socket) -> StreamSource {
        use std::os::fd::AsRawFd;
        StreamSource {
            fd: sock.as_raw_fd(),
            sock: RefCell::new(Some(sock)),
        }
    }
}

pub(crate) struct StreamKind<H>(std::marker::PhantomData<H>);
impl<H: StreamHandler> Kind for StreamKind<H> {
    type Raw = sys::ev_io;
    type Public = Handle<Self>;
    type Extra = StreamSource;
    type Cb = H;
    fn wrap(handle: Handle<Self>) -> Handle<Self> {
        handle
    }
    unsafe fn init(w: *mut Self::Raw, cb: Trampoline<Self>, x: &StreamSource) {
        // SAFETY: forwarded from the caller; the fd is owned by the
        // source, which lives in the watcher.
        unsafe { sys::hinge_ev_io_init(w, cb, x.fd, 0) }
    }
    unsafe fn start(lp: *mut sys::ev_loop, w: *mut Self::Raw) {
        // SAFETY: forwarded from the caller.
        unsafe { sys::ev_io_start(lp, w) }
    }
    unsafe fn stop(lp: *mut sys::ev_loop, w: *mut Self::Raw) {
        // SAFETY: forwarded from the caller.
        unsafe { sys::ev_io_stop(lp, w) }
    }
    fn invoke(handler: &mut H, lp: &Loop, _: &Rc<Shared<Self>>, events: Events) {
        handler.on_io(lp, events)
    }
}

impl<H: StreamHandler> Handle<StreamKind<H>> {
    /// Watches `events` (READ and/or WRITE, or none: an open socket keeps
    /// its loop alive even while it waits for nothing) and starts. Does
    /// nothing once the socket is closed.
    pub(crate) fn set_events(&self, events: Events) {
        self.stop();
        let source = &self.rc.extra;
        if source.sock.borrow().is_none() {
            return;
        }
        // SAFETY: the watcher is stopped; the fd is open and owned by this
        // watcher, and the mask holds only READ/WRITE.
        unsafe { sys::hinge_ev_io_set(self.rc.raw.get(), source.fd, events.bits()) };
        self.start();
    }

    /// Calls `f` with the socket, unless it is closed.
    pub(crate) fn with_socket<R>(&self, f: impl FnOnce(&socket2::Socket) -> R) -> Option<R> {
        self.rc.extra.sock.borrow().as_ref().map(f)
    }

    /// Closes the watcher and its socket now, even if the watcher's cell
    /// outlives this call (its callback is running).
    pub(crate) fn close_socket(self) {
        self.stop();
        let sock = self.rc.extra.sock.borrow_mut().take();
        drop(sock);
    }
}

impl Handle<ChildKind> {
    pub(crate) fn set(&self, pid: c_int, trace: c_int) {
        // SAFETY: reconfigure stops the watcher first.
        self.reconfigure(|w| unsafe { sys::hinge_ev_child_set(w, pid, trace) });
    }
}

// ---------------------------------------------------------------------
// Async: the one watcher other threads may poke
// ---------------------------------------------------------------------

/// Where `ev_async_send` should go, while the watcher and loop exist.
#[derive(Default)]
pub(crate) struct AsyncTarget {
    /// (loop, watcher) addresses; `None` once either is gone. Senders hold
    /// the read lock across `ev_async_send`, so teardown (write lock)
    /// waits for any send in progress.
    target: RwLock<Option<(usize, usize)>>,
}

impl AsyncTarget {
    pub(crate) fn send(&self) -> bool {
        let guard = self.target.read().unwrap_or_else(|e| e.into_inner());
        match *guard {
            Some((lp, w)) => {
                // SAFETY: while the read lock is held the loop and the
                // watcher are alive (on_detach takes the write lock before
                // either is stopped or freed); ev_async_send is thread-safe.
                unsafe { sys::ev_async_send(lp as *mut sys::ev_loop, w as *mut sys::ev_async) };
                true
            }
            None => false,
        }
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.target
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

pub(crate) struct AsyncKind;
impl Kind for AsyncKind {
    type Raw = sys::ev_async;
    type Extra = Arc<AsyncTarget>;
    boxed_callback!(crate::Async);
    unsafe fn init(w: *mut Self::Raw, cb: Trampoline<Self>, _: &Self::Extra) {
        // SAFETY: forwarded from the caller.
        unsafe { sys::hinge_ev_async_init(w, cb) }
    }
    unsafe fn start(lp: *mut sys::ev_loop, w: *mut Self::Raw) {
        // SAFETY: forwarded from the caller.
        unsafe { sys::ev_async_start(lp, w) }
    }
    unsafe fn stop(lp: *mut sys::ev_loop, w: *mut Self::Raw) {
        // SAFETY: forwarded from the caller.
        unsafe { sys::ev_async_stop(lp, w) }
    }
    fn on_detach(extra: &Arc<AsyncTarget>, _owner: usize) {
        *extra.target.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Handle<AsyncKind> {
    /// Publishes the (loop, watcher) pair to senders.
    pub(crate) fn connect(&self) {
        if let Some(lp) = self.rc.live_loop() {
            let w = self.rc.raw.get() as usize;
            *self
                .rc
                .extra
                .target
                .write()
                .unwrap_or_else(|e| e.into_inner()) = Some((lp as usize, w));
        }
    }

    pub(crate) fn async_pending(&self) -> bool {
        // SAFETY: other threads write `sent` (a sig_atomic_t) through
        // ev_async_send, so no Rust reference is made: C reads it through
        // the raw pointer.
        unsafe { sys::hinge_ev_async_pending(self.rc.raw.get()) != 0 }
    }
}
