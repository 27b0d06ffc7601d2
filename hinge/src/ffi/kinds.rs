//! The per-kind table: for each libev watcher type, its struct, its
//! init/start/stop functions, the parameters it keeps alive, and the
//! kind-specific operations (timer `again`, signal re-claim, stream
//! sockets, async senders).

use std::any::Any;
use std::cell::Cell;
use std::ffi::CString;
use std::mem::ManuallyDrop;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::os::raw::c_int;
use std::rc::Rc;
use std::sync::{Arc, RwLock};

use libev_sys as sys;

use super::cell::{call_boxed, Callback, Handle, Kind, Shared, Trampoline};
use super::loop_core::LoopCore;
use super::signals;
use super::store::{Inline, Pooled, Store};
use crate::{Error, Loop, Ready};

/// The parts of `Kind` shared by every public watcher type: its boxed
/// closure is called with the watcher as that type.
macro_rules! boxed_callback {
    ($public:ty) => {
        type Public = $public;
        type Cb = Box<Callback<Self>>;
        fn wrap(handle: Handle<Self>) -> $public {
            <$public>::from_handle(handle)
        }
        #[inline]
        fn invoke(cb: &mut Self::Cb, lp: &Loop, shared: &Rc<Shared<Self>>, events: Ready) {
            call_boxed(cb, lp, shared, events)
        }
    };
}

macro_rules! kind {
    ($kind:ident, $public:ty, $raw:ty, $extra:ty, $start:ident, $stop:ident,
     |$w:ident, $cb:ident, $x:ident| $init:expr) => {
        pub(crate) struct $kind;
        impl Kind for $kind {
            type Raw = $raw;
            type Store = Inline<$raw>;
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
/// Timers keep their `ev_timer` in the loop's pool (see `store.rs`):
/// libev's heap walks the structs, so they are packed densely.
pub(crate) struct TimerKind;
impl Kind for TimerKind {
    type Raw = sys::ev_timer;
    type Store = Pooled<sys::ev_timer>;
    /// None: `Timer::new` sets the times after init, which keeps the cell
    /// small (its size is memory traffic when timers are many).
    type Extra = ();
    boxed_callback!(crate::Timer);
    unsafe fn init(w: *mut Self::Raw, cb: Trampoline<Self>, _: &()) {
        // SAFETY: forwarded from the caller.
        unsafe { sys::hinge_ev_timer_init(w, cb, 0.0, 0.0) }
    }
    unsafe fn start(lp: *mut sys::ev_loop, w: *mut Self::Raw) {
        // SAFETY: forwarded from the caller.
        unsafe { sys::ev_timer_start(lp, w) }
    }
    unsafe fn stop(lp: *mut sys::ev_loop, w: *mut Self::Raw) {
        // SAFETY: forwarded from the caller.
        unsafe { sys::ev_timer_stop(lp, w) }
    }
}
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
    type Store = Inline<Self::Raw>;
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
    type Store = Inline<Self::Raw>;
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

/// What a stream cell holds and calls: a socket's own state (`Self`),
/// with the public handle that wraps the cell.
pub(crate) trait StreamHandler: Sized + 'static {
    /// The handle, e.g. `Socket`: a newtype over the cell's `Rc`.
    type Handle;
    fn wrap(cell: Rc<StreamCell<Self>>) -> Self::Handle;
    /// Called for each readiness event of the socket.
    fn on_io(handle: &Self::Handle, lp: &Loop, events: Ready);
}

/// A stream socket in one allocation: its io watcher, its OS socket and
/// its state `T` (reached by `Deref`). Its handles are plain `Rc`s that
/// never close it: the owner closes it with `close_stream`, or it closes
/// when freed.
pub(crate) type StreamCell<T> = Shared<StreamKind<T>>;

/// A stream cell's OS socket, closed by `release_socket` (or with the
/// cell), never while libev watches its fd.
pub(crate) struct StreamExtra<T> {
    /// The OS socket this cell owns, or -1.
    fd: Cell<c_int>,
    state: T,
}

impl<T> StreamExtra<T> {
    fn close_fd(&self) {
        let fd = self.fd.replace(-1);
        if fd >= 0 {
            // SAFETY: the cell owns this fd (taken from a socket2::Socket
            // in `attach_socket`), and -1 now marks it gone.
            drop(unsafe { socket2::Socket::from_raw_fd(fd) });
        }
    }
}

impl<T> Drop for StreamExtra<T> {
    fn drop(&mut self) {
        // After `Shared`'s own drop, which stopped the watcher.
        self.close_fd();
    }
}

pub(crate) struct StreamKind<T>(std::marker::PhantomData<T>);
impl<T: StreamHandler> Kind for StreamKind<T> {
    type Raw = sys::ev_io;
    type Store = Inline<Self::Raw>;
    type Public = Handle<Self>;
    type Extra = StreamExtra<T>;
    /// Nothing to call but the state's handler; the (empty) callback slot
    /// still marks a running call, so a nested run never re-enters it.
    type Cb = ();
    fn wrap(handle: Handle<Self>) -> Handle<Self> {
        handle
    }
    unsafe fn init(w: *mut Self::Raw, cb: Trampoline<Self>, _: &StreamExtra<T>) {
        // SAFETY: forwarded from the caller; the fd is set (to an open,
        // owned socket) before the watcher first starts.
        unsafe { sys::hinge_ev_io_init(w, cb, -1, 0) }
    }
    unsafe fn start(lp: *mut sys::ev_loop, w: *mut Self::Raw) {
        // SAFETY: forwarded from the caller.
        unsafe { sys::ev_io_start(lp, w) }
    }
    unsafe fn stop(lp: *mut sys::ev_loop, w: *mut Self::Raw) {
        // SAFETY: forwarded from the caller.
        unsafe { sys::ev_io_stop(lp, w) }
    }
    // Inlined into the trampoline: the socket's read path is its body.
    #[inline(always)]
    fn invoke(_: &mut (), lp: &Loop, shared: &Rc<Shared<Self>>, events: Ready) {
        // SAFETY: the trampoline holds a strong count for this call; the
        // alias is never dropped, so the count is not touched.
        let me = ManuallyDrop::new(T::wrap(unsafe { Rc::from_raw(Rc::as_ptr(shared)) }));
        T::on_io(&me, lp, events)
    }
}

impl<T: StreamHandler> std::ops::Deref for StreamCell<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.extra.state
    }
}

impl<T: StreamHandler> StreamCell<T> {
    /// A cell on `core`'s loop, with no OS socket yet.
    #[inline(always)]
    pub(crate) fn create(core: &Rc<LoopCore>, state: T) -> Rc<StreamCell<T>> {
        let extra = StreamExtra {
            fd: Cell::new(-1),
            state,
        };
        Shared::new(core, extra, ())
    }

    /// Gives the cell its OS socket (after `release_socket`, a new one).
    pub(crate) fn attach_socket(&self, sock: socket2::Socket) {
        self.release_socket();
        self.extra.fd.set(sock.into_raw_fd());
    }

    /// The OS socket's fd, or -1: for the hot path's own syscalls.
    #[inline]
    pub(crate) fn fd(&self) -> c_int {
        self.extra.fd.get()
    }

    /// Watches `events` (READ and/or WRITE, or none: an open socket keeps
    /// its loop alive even while it waits for nothing) and starts. Does
    /// nothing without an OS socket.
    pub(crate) fn set_events(&self, events: Ready) {
        self.stop();
        let fd = self.fd();
        if fd < 0 {
            return;
        }
        // SAFETY: the watcher is stopped; the fd is open and owned by this
        // cell, and the mask holds only READ/WRITE.
        unsafe { sys::hinge_ev_io_set(self.raw.get(), fd, events.bits()) };
        self.start();
    }

    /// Calls `f` with the OS socket, if there is one.
    pub(crate) fn with_socket<R>(&self, f: impl FnOnce(&socket2::Socket) -> R) -> Option<R> {
        let fd = self.fd();
        if fd < 0 {
            return None;
        }
        // SAFETY: the fd is open and owned by this cell; the borrowed
        // Socket is never dropped (ManuallyDrop), and through `&Socket`
        // `f` cannot close it, so the cell keeps sole ownership.
        let sock = ManuallyDrop::new(unsafe { socket2::Socket::from_raw_fd(fd) });
        Some(f(&sock))
    }

    /// Stops watching and closes the OS socket now; the cell can take
    /// another (a connect's next address).
    pub(crate) fn release_socket(&self) {
        self.stop();
        self.extra.close_fd();
    }

    /// `release_socket`, then detaches the cell from its loop for good.
    pub(crate) fn close_stream(&self) {
        self.release_socket();
        self.close();
    }
}

impl Handle<ChildKind> {
    pub(crate) fn set(&self, pid: c_int, trace: c_int) {
        // SAFETY: reconfigure stops the watcher first.
        self.reconfigure(|w| unsafe { sys::hinge_ev_child_set(w, pid, trace) });
    }
}

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
    type Store = Inline<Self::Raw>;
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
