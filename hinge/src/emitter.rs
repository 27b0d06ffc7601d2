//! Typed events: ordered listeners, `on`/`once`/`off`, safe re-entrancy.

use std::cell::{Cell, RefCell};
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

/// The listeners after the first: a thin pointer, allocated only when an
/// event has a second listener (most never do), so that an `Event` costs
/// 48 bytes inline instead of 64. Reads as a slice.
// The Box is the point: one pointer inline, where a Vec is three words.
#[allow(clippy::box_collection)]
struct Slots<S, T: ?Sized>(Option<Box<Vec<Slot<S, T>>>>);

impl<S, T: ?Sized> Slots<S, T> {
    fn push(&mut self, slot: Slot<S, T>) {
        // A second listener is rare: room for one, not Vec's four.
        self.0
            .get_or_insert_with(|| Box::new(Vec::with_capacity(1)))
            .push(slot);
    }

    /// Keeps the slots `keep` accepts; frees the list once empty.
    fn retain(&mut self, keep: impl FnMut(&Slot<S, T>) -> bool) {
        if let Some(v) = &mut self.0 {
            v.retain(keep);
            if v.is_empty() {
                self.0 = None;
            }
        }
    }
}

impl<S, T: ?Sized> std::ops::Deref for Slots<S, T> {
    type Target = [Slot<S, T>];
    fn deref(&self) -> &[Slot<S, T>] {
        self.0.as_deref().map_or(&[], |v| v.as_slice())
    }
}

impl<S, T: ?Sized> std::ops::DerefMut for Slots<S, T> {
    fn deref_mut(&mut self) -> &mut [Slot<S, T>] {
        match &mut self.0 {
            Some(v) => v.as_mut_slice(),
            None => &mut [],
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
    /// Listeners registered after `first`, in order. New listeners go
    /// here whenever `first` or `rest` holds one, which keeps the order.
    rest: RefCell<Slots<S, T>>,
    /// Walks of `rest` in progress (they index it, so no compaction).
    emitting: Cell<u32>,
    /// Slots of `rest` marked removed but not yet compacted away.
    removed: Cell<u32>,
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
            rest: RefCell::new(Slots(None)),
            emitting: Cell::new(0),
            removed: Cell::new(0),
        }
    }

    fn add(&self, once: bool, f: Listener<S, T>) -> ListenerId {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let mut rest = self.rest.borrow_mut();
        if self.first_id.get() == 0 && rest.is_empty() {
            self.first_id.set(if once { id | ONCE } else { id });
            drop(self.first.replace(Some(f)));
            return ListenerId(id);
        }
        rest.push(Slot {
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
        let removed = {
            let mut rest = self.rest.borrow_mut();
            match rest.iter_mut().find(|s| s.id == id && !s.removed) {
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
        if self.first_id.get() == 0 && self.rest.borrow().is_empty() {
            return; // nothing to drop: the common case, and cheap
        }
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
            let f = {
                let mut rest = self.rest.borrow_mut();
                match rest.iter_mut().find(|s| !s.removed) {
                    Some(slot) => {
                        slot.removed = true;
                        self.removed.set(self.removed.get() + 1);
                        slot.f.take()
                    }
                    None if first => None,
                    None => break,
                }
            };
            if let Err(payload) = panic::catch(move || drop(f)) {
                panic::keep_first(&mut panicked, payload);
            }
        }
        self.compact();
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
        first + self.rest.borrow().iter().filter(|s| !s.removed).count()
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
        if self.rest.borrow().is_empty() {
            // The common case. Listeners the call adds land in `rest` and
            // first run on the next emission.
            return self.emit_first(lp, source, payload);
        }
        self.emit_all(lp, source, payload, go)
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
            f(lp, source, payload);
            return true;
        }
        // Only runs if the listener panics: forget it then.
        let guard = FirstUnwinding { event: self, id };
        f(lp, source, payload);
        std::mem::forget(guard);
        // Still registered (not removed, nor replaced) during the call?
        if self.first_id.get() == id {
            self.first.set(Some(f));
        }
        true
    }

    /// The general walk: `first`, then the listeners of `rest` that were
    /// there when it began, `once` ones and removals included.
    #[inline(never)]
    fn emit_all(&self, lp: &Loop, source: &S, payload: &T, go: impl Fn() -> bool) -> bool {
        let n = self.rest.borrow().len();
        let _walk = Walk::new(self);
        let mut ran = self.emit_first(lp, source, payload);
        for i in 0..n {
            if ran && !go() {
                break;
            }
            let taken = {
                let mut rest = self.rest.borrow_mut();
                match rest.get_mut(i) {
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
            };
            f(lp, source, payload);
            std::mem::forget(guard);
            self.put_back(i, id, f);
        }
        ran
    }

    /// Returns a listener to its slot after it ran, unless it was removed
    /// meanwhile (then it is dropped here, outside the borrow).
    fn put_back(&self, index: usize, id: ListenerId, f: Listener<S, T>) {
        let leftover = {
            let mut rest = self.rest.borrow_mut();
            match rest.get_mut(index) {
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
    fn compact(&self) {
        if self.removed.get() > 0 && self.emitting.get() == 0 {
            self.rest.borrow_mut().retain(|s| !s.removed);
            self.removed.set(0);
        }
    }
}

/// Armed while the first listener runs; dropped only if it panics (the
/// normal path forgets it), to forget that listener.
struct FirstUnwinding<'a, S, T: ?Sized> {
    event: &'a Event<S, T>,
    id: u64,
}

impl<S, T: ?Sized> Drop for FirstUnwinding<'_, S, T> {
    fn drop(&mut self) {
        if self.event.first_id.get() == self.id {
            self.event.first_id.set(0);
        }
    }
}

/// A walk of `rest` in progress: counted in `emitting` so that removals
/// only mark slots, and compacted when the walk ends, however it ends.
struct Walk<'a, S, T: ?Sized> {
    event: &'a Event<S, T>,
}

impl<'a, S, T: ?Sized> Walk<'a, S, T> {
    fn new(event: &'a Event<S, T>) -> Self {
        event.emitting.set(event.emitting.get() + 1);
        Walk { event }
    }
}

impl<S, T: ?Sized> Drop for Walk<'_, S, T> {
    fn drop(&mut self) {
        let event = self.event;
        event.emitting.set(event.emitting.get() - 1);
        event.compact();
    }
}

/// Armed while a listener of `rest` runs; dropped only if it panics (the
/// normal path forgets it), to forget its slot.
struct Unwinding<'a, S, T: ?Sized> {
    event: &'a Event<S, T>,
    index: usize,
    id: ListenerId,
}

impl<S, T: ?Sized> Drop for Unwinding<'_, S, T> {
    fn drop(&mut self) {
        let event = self.event;
        if let Some(slot) = event.rest.borrow_mut().get_mut(self.index) {
            if slot.id == self.id && !slot.removed {
                slot.removed = true;
                event.removed.set(event.removed.get() + 1);
            }
        }
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
    /// An id no event holds: what adding a listener to a finished source
    /// returns, so that `off` on it is simply `false`.
    pub(crate) fn unregistered() -> ListenerId {
        ListenerId(NEXT_ID.fetch_add(1, Ordering::Relaxed))
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
