//! Typed events: ordered listeners, `on`/`once`/`off`, safe re-entrancy.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Loop;

/// Identifies one registered listener, for [`Event::off`].
///
/// ```
/// use hinge::{Event, Loop};
/// let ev: Event<(), u32> = Event::new();
/// let id = ev.on(|_, _, n| println!("{n}"));
/// assert!(ev.off(id));
/// assert!(!ev.off(id));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

type Listener<S, T> = Box<dyn FnMut(&Loop, &S, &T)>;

struct Slot<S, T: ?Sized> {
    id: ListenerId,
    once: bool,
    removed: bool,
    /// `None` while the listener runs.
    f: Option<Listener<S, T>>,
}

/// One event of an object of type `S`, carrying a payload of type `T`.
///
/// Built-in events of hinge's types are `Event` fields reached through a
/// method (`socket.data()`, `server.connection()`), so a misspelled event
/// is a compile error. Custom events are `Event`s of your own.
///
/// Listeners run in registration order and receive the loop, the emitting
/// object and the payload. During an emission a listener may add or remove
/// listeners (added ones first run on the next emission; removed ones that
/// have not run yet are skipped), remove itself, or close the emitter.
///
/// ```
/// use hinge::{Event, Loop};
///
/// struct Thermometer;
/// let hot: Event<Thermometer, f64> = Event::new();
/// hot.on(|_, _, t| println!("it is {t} degrees"));
/// hot.once(|_, _, _| println!("first warning only"));
/// let lp = Loop::new()?;
/// hot.emit(&lp, &Thermometer, &41.5);
/// hot.emit(&lp, &Thermometer, &42.0);
/// assert_eq!(hot.listener_count(), 1);
/// # Ok::<(), hinge::Error>(())
/// ```
pub struct Event<S, T: ?Sized> {
    slots: RefCell<Vec<Slot<S, T>>>,
    emitting: Cell<u32>,
    /// Slots marked removed but not yet compacted away.
    removed: Cell<u32>,
}

impl<S, T: ?Sized> Default for Event<S, T> {
    fn default() -> Self {
        Event::new()
    }
}

impl<S, T: ?Sized> Event<S, T> {
    /// An event with no listeners.
    ///
    /// ```
    /// let ev: hinge::Event<(), str> = hinge::Event::new();
    /// assert_eq!(ev.listener_count(), 0);
    /// ```
    pub fn new() -> Event<S, T> {
        Event {
            slots: RefCell::new(Vec::new()),
            emitting: Cell::new(0),
            removed: Cell::new(0),
        }
    }

    fn add(&self, once: bool, f: Listener<S, T>) -> ListenerId {
        let id = ListenerId(NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let mut slots = self.slots.borrow_mut();
        if slots.capacity() == 0 {
            // Most events get one listener: don't pay for four (Vec's
            // default first growth) on every connection.
            slots.reserve_exact(1);
        }
        slots.push(Slot {
            id,
            once,
            removed: false,
            f: Some(f),
        });
        id
    }

    /// Adds a listener that runs on every emission.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let ev: hinge::Event<(), str> = hinge::Event::new();
    /// ev.on(|_, _, s| println!("{s}"));
    /// ev.emit(&lp, &(), "hello");
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on<F>(&self, f: F) -> ListenerId
    where
        F: FnMut(&Loop, &S, &T) + 'static,
    {
        self.add(false, Box::new(f))
    }

    /// Adds a listener that removes itself after its first run.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let ev: hinge::Event<(), ()> = hinge::Event::new();
    /// ev.once(|_, _, _| println!("only once"));
    /// ev.emit(&lp, &(), &());
    /// assert_eq!(ev.listener_count(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn once<F>(&self, f: F) -> ListenerId
    where
        F: FnOnce(&Loop, &S, &T) + 'static,
    {
        let mut f = Some(f);
        self.add(
            true,
            Box::new(move |lp, s, t| {
                if let Some(f) = f.take() {
                    f(lp, s, t)
                }
            }),
        )
    }

    /// Removes a listener; returns whether it was registered.
    ///
    /// ```
    /// let ev: hinge::Event<(), ()> = hinge::Event::new();
    /// let id = ev.on(|_, _, _| {});
    /// assert!(ev.off(id));
    /// ```
    pub fn off(&self, id: ListenerId) -> bool {
        let removed = {
            let mut slots = self.slots.borrow_mut();
            match slots.iter_mut().find(|s| s.id == id && !s.removed) {
                Some(slot) => {
                    slot.removed = true;
                    self.removed.set(self.removed.get() + 1);
                    slot.f.take()
                }
                None => return false,
            }
        };
        drop(removed); // outside the borrow: dropping may run user code
        self.compact();
        true
    }

    /// Removes every listener.
    ///
    /// ```
    /// let ev: hinge::Event<(), ()> = hinge::Event::new();
    /// ev.on(|_, _, _| {});
    /// ev.on(|_, _, _| {});
    /// ev.clear();
    /// assert_eq!(ev.listener_count(), 0);
    /// ```
    pub fn clear(&self) {
        // One at a time, each dropped outside the borrow (a drop may run
        // user code); no allocation, and nothing to do for an empty event.
        loop {
            let f = {
                let mut slots = self.slots.borrow_mut();
                match slots.iter_mut().find(|s| !s.removed) {
                    Some(slot) => {
                        slot.removed = true;
                        self.removed.set(self.removed.get() + 1);
                        slot.f.take()
                    }
                    None => break,
                }
            };
            drop(f);
        }
        self.compact();
    }

    /// How many listeners are registered.
    ///
    /// ```
    /// let ev: hinge::Event<(), ()> = hinge::Event::new();
    /// ev.on(|_, _, _| {});
    /// assert_eq!(ev.listener_count(), 1);
    /// ```
    pub fn listener_count(&self) -> usize {
        self.slots.borrow().iter().filter(|s| !s.removed).count()
    }

    /// Calls the listeners in registration order; returns whether any ran.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let ev: hinge::Event<(), i32> = hinge::Event::new();
    /// assert!(!ev.emit(&lp, &(), &1));
    /// ev.on(|_, _, _| {});
    /// assert!(ev.emit(&lp, &(), &1));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn emit(&self, lp: &Loop, source: &S, payload: &T) -> bool {
        self.emit_while(lp, source, payload, || true)
    }

    /// `emit`, stopping before each listener after the first once `go` is
    /// false (for example because a listener closed the emitting socket).
    /// Callers check their own state before the first.
    #[inline]
    pub(crate) fn emit_while(
        &self,
        lp: &Loop,
        source: &S,
        payload: &T,
        go: impl Fn() -> bool,
    ) -> bool {
        // The common case, one listener that stays: call it without the
        // per-slot bookkeeping of the general walk.
        let (mut f, id) = {
            let mut slots = self.slots.borrow_mut();
            match slots.as_mut_slice() {
                [] => return false,
                [slot] if !slot.once && !slot.removed => match slot.f.take() {
                    Some(f) => (f, slot.id),
                    // It is running: an emission from inside itself.
                    None => return false,
                },
                _ => {
                    drop(slots);
                    return self.emit_each(lp, source, payload, go);
                }
            }
        };
        // Only runs if the listener panics: forget its slot then.
        let guard = Unwinding {
            event: self,
            index: 0,
            id,
            walking: false,
        };
        f(lp, source, payload);
        std::mem::forget(guard);
        // No walk to protect: the first slot cannot move during the call
        // (removals only shift later slots), and `put_back` checks the id.
        self.put_back(0, id, f);
        true
    }

    /// The general walk: any number of listeners, `once` ones, removals.
    #[inline(never)]
    fn emit_each(&self, lp: &Loop, source: &S, payload: &T, go: impl Fn() -> bool) -> bool {
        let n = self.slots.borrow().len();
        self.emitting.set(self.emitting.get() + 1);
        let mut ran = false;
        for i in 0..n {
            if i > 0 && !go() {
                break;
            }
            let taken = {
                let mut slots = self.slots.borrow_mut();
                match slots.get_mut(i) {
                    Some(slot) if !slot.removed => {
                        if slot.once {
                            slot.removed = true;
                            self.removed.set(self.removed.get() + 1);
                        }
                        slot.f.take().map(|f| (f, slot.id))
                    }
                    _ => None,
                }
            };
            let Some((mut f, id)) = taken else { continue };
            ran = true;
            // Only runs if the listener panics: forget its slot then.
            let guard = Unwinding {
                event: self,
                index: i,
                id,
                walking: true,
            };
            f(lp, source, payload);
            std::mem::forget(guard);
            self.put_back(i, id, f);
        }
        self.emitting.set(self.emitting.get() - 1);
        self.compact();
        ran
    }

    /// Returns a listener to its slot after it ran, unless it was removed
    /// meanwhile (then it is dropped here, outside the borrow).
    #[inline(always)]
    fn put_back(&self, index: usize, id: ListenerId, f: Listener<S, T>) {
        let leftover = {
            let mut slots = self.slots.borrow_mut();
            match slots.get_mut(index) {
                Some(slot) if slot.id == id && !slot.removed => {
                    slot.f = Some(f);
                    None
                }
                _ => Some(f),
            }
        };
        drop(leftover);
    }

    /// Drops removed slots, but never while an emission walks the list.
    #[inline]
    fn compact(&self) {
        if self.removed.get() > 0 && self.emitting.get() == 0 {
            self.slots.borrow_mut().retain(|s| !s.removed);
            self.removed.set(0);
        }
    }
}

/// Armed while a listener runs; dropped only if it panics (the normal
/// path forgets it), to forget the listener's slot and end the emission.
struct Unwinding<'a, S, T: ?Sized> {
    event: &'a Event<S, T>,
    index: usize,
    id: ListenerId,
    /// Inside `emit_each`, which counted itself in `emitting`.
    walking: bool,
}

impl<S, T: ?Sized> Drop for Unwinding<'_, S, T> {
    fn drop(&mut self) {
        let event = self.event;
        if let Some(slot) = event.slots.borrow_mut().get_mut(self.index) {
            if slot.id == self.id && !slot.removed {
                slot.removed = true;
                event.removed.set(event.removed.get() + 1);
            }
        }
        if self.walking {
            event.emitting.set(event.emitting.get().saturating_sub(1));
        }
        event.compact();
    }
}

impl<S, T: ?Sized> std::fmt::Debug for Event<S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("listeners", &self.listener_count())
            .finish()
    }
}
