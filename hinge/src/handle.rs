//! The one lifecycle of hinge's long-lived handles.
//!
//! Watchers, [`Socket`](crate::Socket)s and [`Server`](crate::Server)s
//! share the same words, as libuv's handles do:
//!
//! | word | watchers | sockets and servers |
//! |---|---|---|
//! | start / stop | [`Watcher::start`](crate::Watcher::start), [`Watcher::stop`](crate::Watcher::stop) | `listen`, `connect`; `pause` / `resume` for reading |
//! | close | drop the handle | `close()` (graceful), `destroy()` (sockets, at once) |
//! | unref / ref | [`Watcher::unref`](crate::Watcher::unref) | `unref()` / `ref_()` / `has_ref()` |
//! | drop | stops it and frees its closure | the loop owns an open one; dropping a handle changes nothing |
//!
//! Sockets and servers are owned by their loop while they are open, so a
//! program need not keep them. This file holds the table through which a
//! loop owns them, and through which its teardown breaks the listener
//! cycles of those still alive, so that nothing that can hold its own
//! listeners lives outside the table.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use slab::Slab;

use crate::ffi::panic;

/// What the loop's teardown does to a handle still alive in its table.
pub(crate) trait Owned: 'static {
    /// Marks the handle closed, releases its OS resources, emits `close`
    /// if it was not emitted yet, and drops its listeners (breaking any
    /// cycle through them). `close` is the one event every handle emits
    /// once, whatever ends it: code on top (a protocol layer, a user's
    /// table of clients) breaks its own cycles there.
    fn teardown(self: &Rc<Self>);
}

/// One handle: always known (weakly), owned (strongly) while open.
struct Slot<T> {
    known: Weak<T>,
    owned: Option<Rc<T>>,
}

/// A loop-local table of handles of one type (use it through
/// `LoopCore::local`). A handle joins when it is created and leaves when
/// it is dropped; in between, the loop may own it.
pub(crate) struct Table<T: Owned>(RefCell<Slab<Slot<T>>>);

impl<T: Owned> Default for Table<T> {
    fn default() -> Self {
        Table(RefCell::new(Slab::new()))
    }
}

impl<T: Owned> Table<T> {
    /// Registers `handle`; returns its slot. `own` also makes the loop
    /// keep it alive until [`release`](Table::release).
    pub(crate) fn join(&self, handle: &Rc<T>, own: bool) -> usize {
        self.0.borrow_mut().insert(Slot {
            known: Rc::downgrade(handle),
            owned: own.then(|| handle.clone()),
        })
    }

    /// The loop keeps the handle in `slot` alive from now on.
    pub(crate) fn own(&self, slot: usize, handle: &Rc<T>) {
        if let Some(entry) = self.0.borrow_mut().get_mut(slot) {
            entry.owned = Some(handle.clone());
        }
    }

    /// The loop lets go of the handle in `slot` (it stays known); the
    /// caller drops the returned strong reference when it is done with it.
    pub(crate) fn release(&self, slot: usize) -> Option<Rc<T>> {
        self.0
            .borrow_mut()
            .get_mut(slot)
            .and_then(|entry| entry.owned.take())
    }

    /// Forgets `slot` (its handle is being dropped).
    pub(crate) fn leave(&self, slot: usize) {
        let entry = match self.0.try_borrow_mut() {
            Ok(mut entries) => entries.try_remove(slot),
            Err(_) => None,
        };
        // Outside the borrow: this may drop the handle, and run user code.
        drop(entry);
    }
}

impl<T: Owned> Drop for Table<T> {
    fn drop(&mut self) {
        // The loop is going away: tear down every handle still alive,
        // owned or merely kept alive by a cycle of its own listeners.
        let entries = std::mem::take(&mut *self.0.borrow_mut());
        let mut alive = Vec::new();
        for (_, entry) in entries {
            if let Some(handle) = entry.known.upgrade() {
                alive.push(handle);
            }
            // An owned handle's strong count stays in `alive`.
            drop(entry.owned);
        }
        // One panicking listener drop must not skip the other handles.
        let mut steps = panic::Steps::default();
        for handle in &alive {
            steps.run(|| handle.teardown());
        }
        steps.run(move || drop(alive));
        steps.finish();
    }
}

/// Watchers the loop owns on the user's behalf (Node-style timers, signal
/// handlers): the handle a user gets names one by key and generation, may
/// be dropped freely, and `clear` stops and frees it.
pub(crate) struct Registry<W> {
    table: RefCell<Slab<(u64, W)>>,
    next_gen: Cell<u64>,
}

impl<W> Default for Registry<W> {
    fn default() -> Self {
        Registry {
            table: RefCell::new(Slab::new()),
            next_gen: Cell::new(0),
        }
    }
}

impl<W: 'static> Registry<W> {
    /// Names the entry the next [`insert`](Registry::insert) fills, so a
    /// watcher's own callback can hold its entry before the watcher exists.
    pub(crate) fn reserve(self: &Rc<Self>) -> Entry<W> {
        let generation = self.next_gen.get();
        self.next_gen.set(generation + 1);
        Entry {
            registry: Rc::downgrade(self),
            key: self.table.borrow().vacant_key(),
            generation,
        }
    }

    /// Fills the entry `reserve` named; nothing may insert in between.
    pub(crate) fn insert(&self, entry: &Entry<W>, watcher: W) {
        let key = self.table.borrow_mut().insert((entry.generation, watcher));
        debug_assert_eq!(key, entry.key);
    }
}

/// One loop-owned watcher, or nothing once it was cleared.
pub(crate) struct Entry<W> {
    registry: Weak<Registry<W>>,
    key: usize,
    generation: u64,
}

impl<W> Clone for Entry<W> {
    fn clone(&self) -> Self {
        Entry {
            registry: self.registry.clone(),
            key: self.key,
            generation: self.generation,
        }
    }
}

impl<W> Entry<W> {
    /// Calls `f` with the watcher, while it is registered.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&W) -> R) -> Option<R> {
        let registry = self.registry.upgrade()?;
        let table = registry.table.borrow();
        match table.get(self.key) {
            Some((generation, w)) if *generation == self.generation => Some(f(w)),
            _ => None,
        }
    }

    /// Stops and frees the watcher; does nothing if it is already gone.
    pub(crate) fn clear(&self) {
        let Some(registry) = self.registry.upgrade() else {
            return;
        };
        let removed = {
            let mut table = registry.table.borrow_mut();
            match table.get(self.key) {
                Some((generation, _)) if *generation == self.generation => {
                    Some(table.remove(self.key))
                }
                _ => None,
            }
        };
        drop(removed); // outside the borrow: dropping frees the closure
    }
}
