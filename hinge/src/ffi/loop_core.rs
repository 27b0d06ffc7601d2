//! The loop core: the raw libev loop, its watcher table and loop-local
//! state, and teardown.

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::os::raw::{c_int, c_uint};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};

use libev_sys as sys;
use slab::Slab;

use super::cell::Node;
use super::panic::{self, Payload, Stash};
use super::signals;
use crate::Error;
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
    panics: Stash,
    suspended: Cell<bool>,
    tearing_down: Cell<bool>,
    /// Per-loop state of other modules (read buffer, pool port), by type.
    locals: RefCell<Vec<(TypeId, Rc<dyn Any>)>>,
    /// The locals a connection's life asks for (see [`Hot`]), found by
    /// index instead of by a scan of `locals`.
    hot: [RefCell<Option<Rc<dyn Any>>>; Hot::COUNT],
}

/// The loop locals on the per-connection path: each has a fixed slot in
/// the core, so that a lookup is an index, not a scan of every local
/// with a type comparison (callgrind: ~100 instructions each, four per
/// connection). A type must always be asked for through its one slot.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Hot {
    /// The table of a loop's open sockets.
    Sockets,
    /// The sockets' shared read buffer.
    ReadBuf,
    /// The deferred-work queues.
    Deferred,
}

impl Hot {
    const COUNT: usize = 3;
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
            panics: Stash::default(),
            suspended: Cell::new(false),
            tearing_down: Cell::new(false),
            locals: RefCell::new(Vec::new()),
            hot: Default::default(),
        }))
    }

    /// The raw loop, or `None` once it is being or has been destroyed.
    pub(super) fn live(&self) -> Option<*mut sys::ev_loop> {
        let raw = self.raw.get();
        (!raw.is_null()).then_some(raw)
    }

    /// Whether the libev loop still exists. Every operation on a dead
    /// loop is inert (and returns `Error::Closed` where it returns at all).
    pub(crate) fn is_alive(&self) -> bool {
        !self.raw.get().is_null()
    }

    /// Alive and not being torn down: `run` would run.
    #[cfg(feature = "async")]
    pub(crate) fn can_run(&self) -> bool {
        self.is_alive() && !self.tearing_down.get()
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
        self.panics.rethrow();
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
        self.local_in(init, false)
    }

    /// `local`, but kept even once the loop is dead: only for values that
    /// hold nothing of the loop or of user code (so no cycle, and no user
    /// `Drop` when the core is freed), such as the timer pool, which must
    /// not be created afresh for every timer made during teardown.
    pub(super) fn kept_local<T: 'static>(&self, init: impl FnOnce() -> T) -> Rc<T> {
        self.local_in(init, true)
    }

    /// [`local`](LoopCore::local) for a type of the per-connection path,
    /// in its fixed `slot`.
    #[inline]
    pub(crate) fn hot_local<T: 'static>(&self, slot: Hot, init: impl FnOnce() -> T) -> Rc<T> {
        let cell = &self.hot[slot as usize];
        let found = cell.borrow().clone();
        let value = match found {
            Some(value) => value,
            // A dead loop keeps nothing (as `local_in`).
            None if !self.is_alive() => return Rc::new(init()),
            None => {
                let value: Rc<dyn Any> = Rc::new(init());
                *cell.borrow_mut() = Some(value.clone());
                value
            }
        };
        match value.downcast::<T>() {
            Ok(value) => value,
            Err(_) => unreachable!("a hot slot holds one type"),
        }
    }

    fn local_in<T: 'static>(&self, init: impl FnOnce() -> T, keep_when_dead: bool) -> Rc<T> {
        let key = TypeId::of::<T>();
        let found = self
            .locals
            .borrow()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone());
        let value = match found {
            Some(value) => value,
            // A dead loop keeps nothing: the value lives as long as the
            // caller holds it, so it cannot tie a cycle to this core.
            None if !self.is_alive() && !keep_when_dead => return Rc::new(init()),
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

    /// Keeps a callback's panic for `run` to re-raise, and breaks the loop.
    pub(super) fn stash_panic(&self, payload: Payload) {
        self.panics.keep(payload);
        self.break_loop(sys::EVBREAK_ALL as c_int);
    }

    pub(super) fn register(&self, node: Weak<dyn Node>) -> usize {
        self.watchers.borrow_mut().insert(node)
    }

    pub(super) fn unregister(&self, slot: usize) {
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
        // Cleanup callbacks run first, while the loop still fully works,
        // also while a panic unwinds: each runs under `catch`, so a panic
        // of theirs is kept (or dropped), never raised across this one.
        // Protocol layers close their sockets there, so they must run.
        // Cleanup watchers that those callbacks create run too, in a few
        // more rounds at most.
        let mut ran = std::collections::HashSet::new();
        for _ in 0..CLEANUP_ROUNDS {
            let fresh: Vec<_> = self
                .snapshot()
                .into_iter()
                .filter(|node| ran.insert(Rc::as_ptr(node) as *const () as usize))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for node in fresh {
                if let Err(payload) = panic::catch(move || node.run_cleanup()) {
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
            self.panics.drop_value(node);
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
            self.panics.drop_value(closure);
        }
        for node in nodes {
            self.panics.drop_value(node);
        }
        // Take first: a value's Drop may itself ask for a loop local.
        let locals = std::mem::take(&mut *self.locals.borrow_mut());
        for local in locals {
            self.panics.drop_value(local);
        }
        for slot in &self.hot {
            let local = slot.borrow_mut().take();
            self.panics.drop_value(local);
        }
        self.panics.rethrow_unless_unwinding();
    }
}

/// Rounds of cleanup callbacks at teardown: the first, then those that
/// cleanup callbacks created (a program that creates one from each would
/// otherwise never finish tearing down).
const CLEANUP_ROUNDS: usize = 8;

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
