//! The watcher cell: one libev watcher struct, its Rust callback and its
//! bookkeeping in an `Rc` ([`Shared`]), the strong [`Handle`] that public
//! types wrap, and the `extern "C"` trampoline libev calls.

use std::any::Any;
use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::os::raw::{c_int, c_void};
use std::rc::{Rc, Weak};

use libev_sys as sys;

use super::loop_core::{priority_range, LoopCore};
use super::panic;
use super::store::Store;
use crate::{Error, Loop, Ready};

/// The closure type every watcher stores.
pub(crate) type Callback<K> = dyn FnMut(&Loop, &<K as Kind>::Public, Ready);

/// One libev watcher type and its public Rust face.
pub(crate) trait Kind: Sized + 'static {
    /// The libev struct, e.g. `ev_timer`.
    type Raw: Default;
    /// Where the struct lives: in the cell, or in a per-loop pool.
    type Store: Store<Self::Raw>;
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
    fn invoke(cb: &mut Self::Cb, lp: &Loop, shared: &Rc<Shared<Self>>, events: Ready);
}

/// `Kind::invoke` for the public watcher types: hands the closure its
/// watcher as the public type.
pub(super) fn call_boxed<K: Kind<Cb = Box<Callback<K>>>>(
    cb: &mut Box<Callback<K>>,
    lp: &Loop,
    shared: &Rc<Shared<K>>,
    events: Ready,
) {
    // SAFETY: the trampoline holds a strong count for this call; the
    // alias is never dropped, so the count is not touched.
    let me = ManuallyDrop::new(K::wrap(Handle {
        rc: unsafe { Rc::from_raw(Rc::as_ptr(shared)) },
    }));
    cb(lp, &me, events)
}

pub(crate) type Trampoline<K> =
    Option<unsafe extern "C" fn(*mut sys::ev_loop, *mut <K as Kind>::Raw, c_int)>;

/// A libev watcher struct, its closure and its bookkeeping.
pub(crate) struct Shared<K: Kind> {
    pub(super) raw: K::Store,
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
    pub(super) extra: K::Extra,
}

/// The strong handle a public watcher type wraps. Dropping it closes the
/// watcher: stop, detach, and drop the closure.
pub(crate) struct Handle<K: Kind> {
    pub(super) rc: Rc<Shared<K>>,
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
        Handle {
            rc: Shared::new(lp.core(), extra, cb),
        }
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

    pub(crate) fn feed_event(&self, events: Ready) {
        if let Some(lp) = self.rc.live_loop() {
            // SAFETY: lp is live; the watcher is initialised and will be
            // stopped (clearing the pending event) before it is freed.
            unsafe { sys::ev_feed_event(lp, self.raw_watcher().cast(), events.bits()) }
        }
    }

    pub(crate) fn clear_pending(&self) -> Ready {
        if let Some(lp) = self.rc.live_loop() {
            self.rc.sync_ref(lp);
        }
        match self.rc.live_loop() {
            // SAFETY: lp is live and the watcher belongs to it.
            Some(lp) => {
                Ready::from_bits(unsafe { sys::ev_clear_pending(lp, self.raw_watcher().cast()) })
            }
            None => Ready::NONE,
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
        self.rc.set_unref(true);
    }

    pub(crate) fn ref_(&self) {
        self.rc.set_unref(false);
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

/// A cell not closed by a `Handle` (a stream cell, whose handles are plain
/// `Rc`s) closes when it is freed: libev must never keep its address.
impl<K: Kind> Drop for Shared<K> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<K: Kind> Shared<K> {
    /// A watcher cell attached to `core`'s loop (or born detached if the
    /// loop is being torn down), its struct initialised, not started.
    /// Inlined so that a large `extra` (a socket's state) is built in
    /// place rather than copied on its way into the `Rc`.
    #[inline(always)]
    pub(super) fn new(core: &Rc<LoopCore>, extra: K::Extra, cb: K::Cb) -> Rc<Shared<K>> {
        let shared = Rc::new(Shared::<K> {
            raw: K::Store::new(core),
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
        shared
    }

    pub(super) fn live_loop(&self) -> Option<*mut sys::ev_loop> {
        let core = self.core.get();
        if core.is_null() {
            return None;
        }
        // SAFETY: an attached watcher's core outlives the attachment
        // (teardown detaches every watcher before the core is freed).
        unsafe { (*core).live() }
    }

    #[inline]
    pub(super) fn is_active(&self) -> bool {
        // SAFETY: every watcher struct begins with ev_watcher's fields
        // (libev's own casts rely on it); `active` is initialised and only
        // written on this thread, by libev or by us. Read in place, no
        // reference made.
        unsafe { (*self.raw.get().cast::<sys::ev_watcher>()).active != 0 }
    }

    pub(super) fn start(&self) {
        let Some(lp) = self.live_loop() else { return };
        if self.is_active() {
            return;
        }
        // SAFETY: lp is live, the watcher is initialised and inactive, and
        // its parameters were validated by the public constructors.
        unsafe { K::start(lp, self.raw.get()) };
        self.apply_ref();
    }

    pub(super) fn stop(&self) {
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

    /// Whether the watcher should not keep its loop alive (applied now,
    /// and whenever it starts).
    pub(crate) fn set_unref(&self, on: bool) {
        self.unref.set(on);
        self.apply_ref();
    }

    /// Makes the loop's reference count match `unref` and `is_active`.
    #[inline]
    pub(super) fn apply_ref(&self) {
        if K::IS_CLEANUP {
            return; // libev never lets cleanup watchers hold a reference
        }
        if !self.unref.get() && !self.unref_applied.get() {
            return; // the common case: never unref'd, nothing to match
        }
        self.match_ref();
    }

    #[cold]
    fn match_ref(&self) {
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
    pub(super) fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        self.stop();
        let core = self.core.replace(std::ptr::null());
        if !core.is_null() {
            // SAFETY: the core outlives every attached watcher.
            let core = unsafe { &*core };
            core.unregister(self.slot.get());
            K::on_detach(&self.extra, core.id());
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
        let outcome = panic::catch(|| K::invoke(&mut cb, &lp, self, Ready::from_bits(revents)));
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
    // SAFETY: `data` was set to the owning Shared in Shared::new, and
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
    let outcome = panic::catch(move || {
        shared.dispatch(revents);
        drop(shared);
    });
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
pub(super) trait Node {
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
