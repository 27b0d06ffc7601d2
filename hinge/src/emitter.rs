//! Typed events: ordered listeners, `on`/`once`/`off`, safe re-entrancy.

use std::cell::{Cell, OnceCell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ffi::panic;
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

/// The listeners after the first, and the bookkeeping of walks over
/// them: behind one thin pointer, allocated when an event first has a
/// second listener (most never do), so that an `Event` costs 32 bytes
/// inline. The list's own buffer is freed whenever it empties.
struct Rest<S, T: ?Sized> {
    /// Listeners registered after `first`, in order.
    slots: RefCell<Vec<Slot<S, T>>>,
    /// Walks of `slots` in progress (they index it, so no compaction).
    emitting: Cell<u32>,
    /// Slots marked removed but not yet compacted away.
    removed: Cell<u32>,
}

impl<S, T: ?Sized> Rest<S, T> {
    fn is_empty(&self) -> bool {
        self.slots.borrow().is_empty()
    }

    /// Marks a slot removed (the caller takes or drops its closure).
    fn mark_removed(&self, slot: &mut Slot<S, T>) {
        slot.removed = true;
        self.removed.set(self.removed.get() + 1);
    }

    /// Drops removed slots, but never while an emission walks the list.
    fn compact(&self) {
        if self.removed.get() > 0 && self.emitting.get() == 0 {
            let mut slots = self.slots.borrow_mut();
            slots.retain(|s| !s.removed);
            if slots.is_empty() {
                *slots = Vec::new();
            }
            self.removed.set(0);
        }
    }
}

/// One event of an object of type `S`, carrying a payload of type `T`.
///
/// Built-in events of hinge's types are reached through typed methods
/// ([`Socket::on_data`](crate::Socket::on_data),
/// [`Server::on_connection`](crate::Server::on_connection),
/// [`Socket::once_close`](crate::Socket::once_close), ...), so a misspelled
/// event is a compile error. Custom events are `Event`s of your own.
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
    /// The earliest listener, kept inline: most events have exactly one,
    /// and calling it needs no walk. `None` while it runs.
    first: Cell<Option<Listener<S, T>>>,
    /// `first`'s id (with `ONCE` set for a `once` listener), or 0.
    first_id: Cell<u64>,
    /// Listeners registered after `first`. New listeners go there
    /// whenever `first` or `rest` holds one, which keeps the order.
    rest: OnceCell<Box<Rest<S, T>>>,
}

/// The bit of `Event::first_id` that marks a `once` listener (ids count
/// up from 1 and never reach it).
const ONCE: u64 = 1 << 63;

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
            first: Cell::new(None),
            first_id: Cell::new(0),
            rest: OnceCell::new(),
        }
    }

    /// The listeners after the first, if any were ever added.
    fn rest(&self) -> Option<&Rest<S, T>> {
        self.rest.get().map(|r| &**r)
    }

    fn rest_is_empty(&self) -> bool {
        self.rest().is_none_or(Rest::is_empty)
    }

    fn add(&self, once: bool, f: Listener<S, T>) -> ListenerId {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        if self.first_id.get() == 0 && self.rest_is_empty() {
            self.first_id.set(if once { id | ONCE } else { id });
            drop(self.first.replace(Some(f)));
            return ListenerId(id);
        }
        let rest = self.rest.get_or_init(|| {
            Box::new(Rest {
                // A second listener is rare: room for one, not Vec's four.
                slots: RefCell::new(Vec::with_capacity(1)),
                emitting: Cell::new(0),
                removed: Cell::new(0),
            })
        });
        rest.slots.borrow_mut().push(Slot {
            id: ListenerId(id),
            once,
            removed: false,
            f: Some(f),
        });
        ListenerId(id)
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
    /// The listener is an `FnOnce`, consumed by its call: if it panics,
    /// Rust drops its captures while the panic unwinds, so a capture whose
    /// `Drop` also panics aborts the process, as it would anywhere in
    /// Rust. An [`on`](Event::on) listener is dropped only after hinge
    /// caught its panic, and never aborts that way.
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

    /// Forgets the first listener if it is `id` (any id when `None`);
    /// returns whether it did. Its closure is dropped here, or by the
    /// emission that is running it.
    fn remove_first(&self, id: Option<ListenerId>) -> bool {
        let current = self.first_id.get() & !ONCE;
        if current == 0 || id.is_some_and(|id| id.0 != current) {
            return false;
        }
        self.first_id.set(0);
        drop(self.first.take()); // may run user code: nothing is borrowed
        true
    }

    /// Removes a listener; returns whether it was registered.
    ///
    /// ```
    /// let ev: hinge::Event<(), ()> = hinge::Event::new();
    /// let id = ev.on(|_, _, _| {});
    /// assert!(ev.off(id));
    /// ```
    pub fn off(&self, id: ListenerId) -> bool {
        if self.remove_first(Some(id)) {
            return true;
        }
        let Some(rest) = self.rest() else {
            return false;
        };
        let removed = {
            let mut slots = rest.slots.borrow_mut();
            match slots.iter_mut().find(|s| s.id == id && !s.removed) {
                Some(slot) => {
                    rest.mark_removed(slot);
                    slot.f.take()
                }
                None => return false,
            }
        };
        drop(removed); // outside the borrow: dropping may run user code
        rest.compact();
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
    #[inline]
    pub fn clear(&self) {
        // Nothing to drop: the common case, checked where it is called.
        if self.first_id.get() != 0 || !self.rest_is_empty() {
            self.clear_all();
        }
    }

    /// `clear` for an event with listeners.
    #[inline(never)]
    fn clear_all(&self) {
        // One at a time, each dropped outside the borrow (a drop may run
        // user code, even add a listener); no allocation, and nothing to
        // do for an empty event. A drop that panics does not stop the
        // rest: the first panic is re-raised once all are gone.
        let mut panicked = None;
        loop {
            let first = match panic::catch(|| self.remove_first(None)) {
                Ok(first) => first,
                Err(payload) => {
                    panic::keep_first(&mut panicked, payload);
                    true
                }
            };
            // A drop may have added the list: look it up each time.
            let f = match self.rest() {
                Some(rest) => {
                    let mut slots = rest.slots.borrow_mut();
                    match slots.iter_mut().find(|s| !s.removed) {
                        Some(slot) => {
                            rest.mark_removed(slot);
                            slot.f.take()
                        }
                        None if first => None,
                        None => break,
                    }
                }
                None if first => None,
                None => break,
            };
            if let Err(payload) = panic::catch(move || drop(f)) {
                panic::keep_first(&mut panicked, payload);
            }
        }
        if let Some(rest) = self.rest() {
            rest.compact();
        }
        if let Some(payload) = panicked {
            std::panic::resume_unwind(payload);
        }
    }

    /// How many listeners are registered.
    ///
    /// ```
    /// let ev: hinge::Event<(), ()> = hinge::Event::new();
    /// ev.on(|_, _, _| {});
    /// assert_eq!(ev.listener_count(), 1);
    /// ```
    pub fn listener_count(&self) -> usize {
        let first = usize::from(self.first_id.get() != 0);
        let rest = self.rest();
        first
            + rest.map_or(0, |r| {
                r.slots.borrow().iter().filter(|s| !s.removed).count()
            })
    }

    /// Calls the listeners in registration order; returns whether any ran.
    ///
    /// Re-entrancy: a listener may emit the same event again. The nested
    /// emission calls every listener except those already running (a
    /// listener never re-enters itself), so a listener that emits its own
    /// event cannot recurse forever. Node, by contrast, would recurse.
    ///
    /// ```
    /// # use std::{cell::RefCell, rc::Rc};
    /// # let lp = hinge::Loop::new()?;
    /// let ev: Rc<hinge::Event<(), u32>> = Rc::new(hinge::Event::new());
    /// let seen = Rc::new(RefCell::new(Vec::new()));
    /// let (inner, s) = (ev.clone(), seen.clone());
    /// ev.on(move |lp, _, n| {
    ///     s.borrow_mut().push(("a", *n));
    ///     if *n == 1 {
    ///         inner.emit(lp, &(), &2); // skips "a" itself, runs "b"
    ///     }
    /// });
    /// let s = seen.clone();
    /// ev.on(move |_, _, n| s.borrow_mut().push(("b", *n)));
    /// ev.emit(&lp, &(), &1);
    /// assert_eq!(*seen.borrow(), [("a", 1), ("b", 2), ("b", 1)]);
    /// # Ok::<(), hinge::Error>(())
    /// ```
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
        match self.rest() {
            Some(rest) if !rest.is_empty() => self.emit_all(rest, lp, source, payload, go),
            // The common case. Listeners the call adds land in `rest` and
            // first run on the next emission.
            _ => self.emit_first(lp, source, payload),
        }
    }

    /// Calls the inline first listener, unless there is none or it is
    /// already running (an emission from inside itself).
    #[inline(always)]
    fn emit_first(&self, lp: &Loop, source: &S, payload: &T) -> bool {
        let id = self.first_id.get();
        if id == 0 {
            return false;
        }
        let Some(mut f) = self.first.take() else {
            return false;
        };
        if id & ONCE != 0 {
            self.first_id.set(0);
            call(f, lp, source, payload);
            return true;
        }
        if let Err(payload) = panic::catch(|| f(lp, source, payload)) {
            // The listener panicked: forget it (unless it was already
            // replaced), then drop it and re-raise.
            if self.first_id.get() == id {
                self.first_id.set(0);
            }
            drop_then_raise(f, payload);
        }
        // Still registered (not removed, nor replaced) during the call?
        if self.first_id.get() == id {
            self.first.set(Some(f));
        }
        true
    }

    /// The general walk: `first`, then the listeners of `rest` that were
    /// there when it began, `once` ones and removals included.
    #[inline(never)]
    fn emit_all(
        &self,
        rest: &Rest<S, T>,
        lp: &Loop,
        source: &S,
        payload: &T,
        go: impl Fn() -> bool,
    ) -> bool {
        let n = rest.slots.borrow().len();
        let _walk = Walk::new(rest);
        let mut ran = self.emit_first(lp, source, payload);
        for i in 0..n {
            if ran && !go() {
                break;
            }
            let taken = {
                let mut slots = rest.slots.borrow_mut();
                match slots.get_mut(i) {
                    Some(slot) if !slot.removed => {
                        if slot.once {
                            rest.mark_removed(slot);
                        }
                        slot.f.take().map(|f| (f, slot.id))
                    }
                    _ => None,
                }
            };
            let Some((mut f, id)) = taken else { continue };
            ran = true;
            if let Err(payload) = panic::catch(|| f(lp, source, payload)) {
                // The listener panicked: forget its slot, then drop it
                // and re-raise (`_walk` compacts on the way out).
                forget_slot(rest, i, id);
                drop_then_raise(f, payload);
            }
            put_back(rest, i, id, f);
        }
        ran
    }
}

/// Calls a listener that is used once (a `once` listener, already
/// unregistered), dropping it only after a panic was caught.
fn call<S, T: ?Sized>(mut f: Listener<S, T>, lp: &Loop, source: &S, payload: &T) {
    if let Err(payload) = panic::catch(|| f(lp, source, payload)) {
        drop_then_raise(f, payload);
    }
}

/// Drops a listener that panicked, then re-raises its panic. The drop
/// runs before the unwinding starts: a closure whose captures panic in
/// their `Drop` would otherwise abort the process ("panic in a destructor
/// during cleanup"). Such a second panic is dropped (guarded), and the
/// first one goes on, as the watchers' trampoline does.
#[cold]
fn drop_then_raise<S, T: ?Sized>(f: Listener<S, T>, payload: panic::Payload) -> ! {
    if let Err(second) = panic::catch(move || drop(f)) {
        panic::drop_payload(second);
    }
    std::panic::resume_unwind(payload)
}

/// Unregisters the slot of a listener that panicked (its closure is the
/// caller's, to drop).
fn forget_slot<S, T: ?Sized>(rest: &Rest<S, T>, index: usize, id: ListenerId) {
    let mut slots = rest.slots.borrow_mut();
    if let Some(slot) = slots.get_mut(index) {
        if slot.id == id && !slot.removed {
            rest.mark_removed(slot);
        }
    }
}

/// Returns a listener to its slot after it ran, unless it was removed
/// meanwhile (then it is dropped here, outside the borrow).
fn put_back<S, T: ?Sized>(rest: &Rest<S, T>, index: usize, id: ListenerId, f: Listener<S, T>) {
    let leftover = {
        let mut slots = rest.slots.borrow_mut();
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

/// A walk of `rest` in progress: counted in `emitting` so that removals
/// only mark slots, and compacted when the walk ends, however it ends.
struct Walk<'a, S, T: ?Sized> {
    rest: &'a Rest<S, T>,
}

impl<'a, S, T: ?Sized> Walk<'a, S, T> {
    fn new(rest: &'a Rest<S, T>) -> Self {
        rest.emitting.set(rest.emitting.get() + 1);
        Walk { rest }
    }
}

impl<S, T: ?Sized> Drop for Walk<'_, S, T> {
    fn drop(&mut self) {
        let rest = self.rest;
        rest.emitting.set(rest.emitting.get() - 1);
        rest.compact();
    }
}

impl<S, T: ?Sized> std::fmt::Debug for Event<S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("listeners", &self.listener_count())
            .finish()
    }
}

impl ListenerId {
    /// A fresh id, unique in the process, that no [`Event`] holds: for a
    /// type that keeps listeners of its own (outside an `Event`) and
    /// wants its `on_*`/`off` to speak hinge's vocabulary. hinge's HTTP
    /// server keeps its `request` listeners that way, because they take
    /// their payload by value and survive a panic of theirs.
    ///
    /// ```
    /// use hinge::{Event, ListenerId};
    /// let mine = ListenerId::new();
    /// let ev: Event<(), ()> = Event::new();
    /// let theirs = ev.on(|_, _, _| {});
    /// assert_ne!(mine, theirs);
    /// assert!(!ev.off(mine));
    /// ```
    #[allow(clippy::new_without_default)] // each call is a new id
    pub fn new() -> ListenerId {
        ListenerId(NEXT_ID.fetch_add(1, Ordering::Relaxed))
    }

    /// An id no event holds: what adding a listener to a finished source
    /// returns, so that `off` on it is simply `false`.
    pub(crate) fn unregistered() -> ListenerId {
        ListenerId::new()
    }
}

/// One event's `on_*` and `once_*`, for `typed_events!`: listeners of an
/// event without payload take `(loop, source)`, others `(loop, source,
/// payload)`.
macro_rules! event_methods {
    ([$($doc:tt)*] $ty:ident, $enum:ident, $variant:ident, $on:ident, $once:ident, (),
     $setup:literal, |$f:ident| $finished:expr, |$s:ident| $event:expr) => {
        $($doc)*
        pub fn $on<F>(&self, mut f: F) -> $crate::ListenerId
        where
            F: FnMut(&$crate::Loop, &$ty) + 'static,
        {
            let $f = self;
            if $finished {
                return $crate::ListenerId::unregistered();
            }
            let $s = self;
            $event.on(move |lp, s, _| f(lp, s))
        }

        #[doc = concat!("Like [`", stringify!($on), "`](", stringify!($ty), "::", stringify!($on), "), but runs once.")]
        ///
        /// ```
        /// # let lp = hinge::Loop::new()?;
        #[doc = concat!("# ", $setup)]
        #[doc = concat!("s.", stringify!($once), "(|_, _| {});")]
        #[doc = concat!("assert_eq!(s.listeners(hinge::", stringify!($enum), "::", stringify!($variant), "), 1);")]
        /// # Ok::<(), hinge::Error>(())
        /// ```
        pub fn $once<F>(&self, f: F) -> $crate::ListenerId
        where
            F: FnOnce(&$crate::Loop, &$ty) + 'static,
        {
            let $f = self;
            if $finished {
                return $crate::ListenerId::unregistered();
            }
            let $s = self;
            $event.once(move |lp, s, _| f(lp, s))
        }
    };
    ([$($doc:tt)*] $ty:ident, $enum:ident, $variant:ident, $on:ident, $once:ident, $payload:ty,
     $setup:literal, |$f:ident| $finished:expr, |$s:ident| $event:expr) => {
        $($doc)*
        pub fn $on<F>(&self, f: F) -> $crate::ListenerId
        where
            F: FnMut(&$crate::Loop, &$ty, &$payload) + 'static,
        {
            let $f = self;
            if $finished {
                return $crate::ListenerId::unregistered();
            }
            let $s = self;
            $event.on(f)
        }

        #[doc = concat!("Like [`", stringify!($on), "`](", stringify!($ty), "::", stringify!($on), "), but runs once.")]
        ///
        /// ```
        /// # let lp = hinge::Loop::new()?;
        #[doc = concat!("# ", $setup)]
        #[doc = concat!("s.", stringify!($once), "(|_, _, _| {});")]
        #[doc = concat!("assert_eq!(s.listeners(hinge::", stringify!($enum), "::", stringify!($variant), "), 1);")]
        /// # Ok::<(), hinge::Error>(())
        /// ```
        pub fn $once<F>(&self, f: F) -> $crate::ListenerId
        where
            F: FnOnce(&$crate::Loop, &$ty, &$payload) + 'static,
        {
            let $f = self;
            if $finished {
                return $crate::ListenerId::unregistered();
            }
            let $s = self;
            $event.once(f)
        }
    };
}

/// Declares a type's built-in events and its whole listener surface:
/// `on_*`/`once_*` per event, plus `listeners`, `remove_listeners`, `off`,
/// `listener_count` and `remove_all_listeners`, over an enum naming the
/// events. Every type with events (sockets, servers, and protocol layers
/// such as HTTP) gets the same surface from here.
///
/// For each event: its enum variant, its method names, its payload (`()`
/// for none: its listeners then take just the loop and the source), an
/// expression giving the `Event` (created on demand), and one peeking at
/// it without creating it (`None`: no listeners). `finished` says when the
/// source has closed for good: listeners added then are dropped at once,
/// since nothing would ever call or free them.
macro_rules! typed_events {
    (
        $ty:ident, $enum:ident, finished: |$f:ident| $finished:expr,
        example: $setup:literal, $ex_variant:ident, $ex_on:ident;
        $(
            $(#[$doc:meta])*
            $variant:ident => $on:ident, $once:ident, $payload:tt,
                |$s:ident| $event:expr, |$p:ident| $peek:expr;
        )*
    ) => {
        impl $ty {
            $(
                event_methods!(
                    [$(#[$doc])*] $ty, $enum, $variant, $on, $once, $payload, $setup,
                    |$f| $finished, |$s| $event
                );
            )*

            /// How many listeners one event has.
            ///
            /// ```
            /// # let lp = hinge::Loop::new()?;
            #[doc = concat!("# ", $setup)]
            #[doc = concat!("s.", stringify!($ex_on), "(|_, _, _| {});")]
            #[doc = concat!("assert_eq!(s.listeners(hinge::", stringify!($enum), "::", stringify!($ex_variant), "), 1);")]
            /// # Ok::<(), hinge::Error>(())
            /// ```
            pub fn listeners(&self, event: $enum) -> usize {
                match event {
                    $($enum::$variant => {
                        let $p = self;
                        $peek.map_or(0, |e| e.listener_count())
                    })*
                }
            }

            /// Removes every listener of one event.
            ///
            /// ```
            /// # let lp = hinge::Loop::new()?;
            #[doc = concat!("# ", $setup)]
            #[doc = concat!("s.", stringify!($ex_on), "(|_, _, _| {});")]
            #[doc = concat!("s.remove_listeners(hinge::", stringify!($enum), "::", stringify!($ex_variant), ");")]
            /// assert_eq!(s.listener_count(), 0);
            /// # Ok::<(), hinge::Error>(())
            /// ```
            pub fn remove_listeners(&self, event: $enum) {
                match event {
                    $($enum::$variant => {
                        let $p = self;
                        if let Some(e) = $peek {
                            e.clear();
                        }
                    })*
                }
            }

            /// Removes a listener from whichever event it was added to;
            /// returns whether it was registered.
            ///
            /// ```
            /// # let lp = hinge::Loop::new()?;
            #[doc = concat!("# ", $setup)]
            #[doc = concat!("let id = s.", stringify!($ex_on), "(|_, _, _| {});")]
            /// assert!(s.off(id));
            /// assert!(!s.off(id));
            /// # Ok::<(), hinge::Error>(())
            /// ```
            pub fn off(&self, id: $crate::ListenerId) -> bool {
                $(
                    {
                        let $p = self;
                        if $peek.is_some_and(|e| e.off(id)) {
                            return true;
                        }
                    }
                )*
                false
            }

            /// How many listeners there are, over all events.
            ///
            /// ```
            /// # let lp = hinge::Loop::new()?;
            #[doc = concat!("# ", $setup)]
            #[doc = concat!("s.", stringify!($ex_on), "(|_, _, _| {});")]
            /// assert_eq!(s.listener_count(), 1);
            /// # Ok::<(), hinge::Error>(())
            /// ```
            pub fn listener_count(&self) -> usize {
                let mut n = 0;
                $(
                    {
                        let $p = self;
                        n += $peek.map_or(0, |e| e.listener_count());
                    }
                )*
                n
            }

            /// Removes every listener of every event.
            ///
            /// ```
            /// # let lp = hinge::Loop::new()?;
            #[doc = concat!("# ", $setup)]
            #[doc = concat!("s.", stringify!($ex_on), "(|_, _, _| {});")]
            /// s.remove_all_listeners();
            /// assert_eq!(s.listener_count(), 0);
            /// # Ok::<(), hinge::Error>(())
            /// ```
            pub fn remove_all_listeners(&self) {
                $(
                    {
                        let $p = self;
                        if let Some(e) = $peek {
                            e.clear();
                        }
                    }
                )*
            }
        }
    };
}
