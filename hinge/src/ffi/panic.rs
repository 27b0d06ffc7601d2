//! The panic policy, whole: no panic crosses into C.
//!
//! * Every callback libev triggers runs under [`catch`] (in the cell's
//!   trampoline); a caught payload goes to its loop's [`Stash`], which
//!   breaks the loop, and `run` re-raises it once `ev_run` has returned.
//! * Only the first payload is kept: later ones are usually consequences
//!   of the first. They are dropped with [`drop_payload`], because a
//!   payload's own `Drop` may panic again; that is the one place where
//!   payloads are dropped, by the loop, its teardown and the pool alike.
//! * Teardown drops user values (closures, sockets, loop locals) with
//!   [`Stash::drop_value`], so one panicking destructor cannot skip the
//!   rest, and re-raises the first panic at its end unless the thread is
//!   already unwinding.

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// What a caught panic carries.
pub(crate) type Payload = Box<dyn Any + Send>;

/// How many nested panics (a payload whose `Drop` panics with a payload
/// whose `Drop` panics...) [`drop_payload`] follows before it leaks the
/// rest rather than risk an abort.
const NESTED_PAYLOADS: usize = 16;

/// Runs `f`, catching a panic.
#[inline]
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Payload> {
    catch_unwind(AssertUnwindSafe(f))
}

/// Drops a panic payload without ever unwinding, even if its `Drop`
/// panics (and that panic's payload panics when dropped, and so on).
pub(crate) fn drop_payload(payload: Payload) {
    let mut payload = payload;
    for _ in 0..NESTED_PAYLOADS {
        match catch(move || drop(payload)) {
            Ok(()) => return,
            Err(nested) => payload = nested,
        }
    }
    // A chain this long is hostile: leak its last link, never abort.
    std::mem::forget(payload);
}

/// Keeps `payload` in `first` if that is empty, else drops it (guarded):
/// for code that must go on after a panic and re-raise the first at its end.
pub(crate) fn keep_first(first: &mut Option<Payload>, payload: Payload) {
    match first {
        None => *first = Some(payload),
        Some(_) => drop_payload(payload),
    }
}

/// Steps that must all run even if one panics (dropping listeners, say):
/// `finish` re-raises the first panic once every step has run.
#[must_use = "call finish() to re-raise a caught panic"]
#[derive(Default)]
pub(crate) struct Steps(Option<Payload>);

impl Steps {
    /// Runs one step, catching a panic.
    pub(crate) fn run(&mut self, step: impl FnOnce()) {
        if let Err(payload) = catch(step) {
            keep_first(&mut self.0, payload);
        }
    }

    /// Re-raises the first panic a step raised, if any.
    pub(crate) fn finish(self) {
        if let Some(payload) = self.0 {
            resume_unwind(payload);
        }
    }
}

/// A loop's first caught panic, waiting for `run` to re-raise it.
#[derive(Default)]
pub(crate) struct Stash(Cell<Option<Payload>>);

impl Stash {
    /// Keeps `payload` if it is the first; drops it (guarded) otherwise.
    pub(crate) fn keep(&self, payload: Payload) {
        match self.0.take() {
            Some(first) => {
                self.0.set(Some(first));
                drop_payload(payload);
            }
            None => self.0.set(Some(payload)),
        }
    }

    /// Drops `value`; a panic from its `Drop` is kept like a callback's.
    pub(crate) fn drop_value<T>(&self, value: T) {
        if let Err(payload) = catch(move || drop(value)) {
            self.keep(payload);
        }
    }

    /// Re-raises the kept panic, if any.
    pub(crate) fn rethrow(&self) {
        if let Some(payload) = self.0.take() {
            resume_unwind(payload);
        }
    }

    /// Re-raises the kept panic unless this thread is already unwinding,
    /// where a second panic would abort: then the payload is dropped.
    pub(crate) fn rethrow_unless_unwinding(&self) {
        if let Some(payload) = self.0.take() {
            if std::thread::panicking() {
                drop_payload(payload);
            } else {
                resume_unwind(payload);
            }
        }
    }
}

impl Drop for Stash {
    fn drop(&mut self) {
        if let Some(payload) = self.0.take() {
            drop_payload(payload);
        }
    }
}
