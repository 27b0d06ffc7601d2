//! A socket's state: its flag word, the `SocketInner` behind every
//! handle, the rarely used parts allocated on first use, and the loop's
//! tables of open sockets and the shared read buffer.

use std::cell::{Cell, OnceCell, Ref, RefCell, RefMut};
use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::{Rc, Weak};
use std::task::Waker;

use super::{Socket, DEFAULT_HIGH_WATER};
use crate::event_loop::Loop;
use crate::ffi::panic;
use crate::ffi::Hot;
use crate::ffi::{LoopCore, StreamCell, StreamHandler};
use crate::handle::{Owned, Table};
use crate::net::addr::Addr;
use crate::net::server::ServerInner;
use crate::{Backend, Error, Event, Layer, Ready, Result, Timer};

/// The one read buffer every socket of a loop shares.
pub(super) const READ_BUF: usize = 64 * 1024;
/// `SocketInner::slot` of a socket the loop no longer holds.
pub(super) const NO_SLOT: u32 = u32::MAX;

/// A callback told whether queued bytes reached the kernel.
pub(super) type Written = Box<dyn FnOnce(&Loop, &Socket, Result<()>)>;

/// The bits of `SocketInner::state`.
pub(super) mod flag {
    /// Connecting, or resolving the name to connect to.
    pub(crate) const CONNECTING: u32 = 1;
    pub(crate) const PAUSED: u32 = 1 << 1;
    /// The peer ended: no more reads.
    pub(crate) const READ_EOF: u32 = 1 << 2;
    /// `end()` was called: shut down writing once the queue is flushed.
    pub(crate) const ENDING: u32 = 1 << 3;
    /// `close()` was called: close once the queue is flushed.
    pub(crate) const CLOSING: u32 = 1 << 4;
    pub(crate) const WRITE_SHUT: u32 = 1 << 5;
    pub(crate) const CLOSED: u32 = 1 << 6;
    pub(crate) const ALLOW_HALF_OPEN: u32 = 1 << 7;
    /// `send` returned false: emit `drain` once the queue empties.
    pub(crate) const NEED_DRAIN: u32 = 1 << 8;
    /// An inactivity timer is set: reads and writes re-arm it.
    pub(crate) const HAS_IDLE_TIMER: u32 = 1 << 9;
    /// The socket closed for good: `close` was emitted and its listeners
    /// dropped; new listeners are refused.
    pub(crate) const FINISHED: u32 = 1 << 10;
    /// The user asked that this socket not keep the loop alive.
    pub(crate) const UNREF: u32 = 1 << 11;
    /// Read through `AsyncRead` (pull mode): readiness wakes the reading
    /// task, which reads into its own buffer; no `data` events.
    pub(crate) const PULL: u32 = 1 << 12;
    /// Used through the async traits: readiness wakes tasks, and the
    /// last handle's drop closes the socket.
    pub(crate) const ASYNC: u32 = 1 << 13;
    /// A task waits in `poll_read`.
    pub(crate) const READ_WAIT: u32 = 1 << 14;
    /// A task waits in `poll_write`, `poll_flush` or `poll_close`.
    pub(crate) const WRITE_WAIT: u32 = 1 << 15;
    /// A task's read came back short: the kernel has nothing more until
    /// the next readiness event (tokio's trick), so the next read parks
    /// without a system call.
    pub(crate) const DRAINED: u32 = 1 << 16;
    /// The socket closed with bytes still queued: a task's flush fails.
    pub(crate) const LOST: u32 = 1 << 17;
    /// A [`Layer`](crate::Layer) sits between the user and the wire: sends
    /// go through it, and reads come out of it.
    pub(crate) const LAYER: u32 = 1 << 18;
    /// The layer is not ready (a TLS handshake): sends wait in `early`.
    pub(crate) const HANDSHAKING: u32 = 1 << 19;
    /// The layer's `end` was called (TLS: `close_notify` queued).
    pub(crate) const LAYER_ENDED: u32 = 1 << 20;
    /// The layer holds decoded bytes that a pause kept from `data`:
    /// `resume` emits them (no readiness will).
    pub(crate) const LAYER_HELD: u32 = 1 << 21;
    /// `close()` of a layered socket: its writing side is shut, and what
    /// the peer still sends (TLS 1.3 tickets) is read and dropped until
    /// its FIN, so that the kernel does not answer it with a reset that
    /// would destroy our last bytes in flight.
    pub(crate) const LINGER: u32 = 1 << 22;
    /// A layered socket emits `data`: what its listeners send stays in
    /// the layer until the pass ends, then goes out in one system call.
    pub(crate) const EMITTING: u32 = 1 << 23;
    /// The socket closed because of an error: its `close` says so.
    pub(crate) const CLOSED_WITH_ERROR: u32 = 1 << 24;
    /// A `send` cannot go straight to the kernel.
    pub(crate) const NO_DIRECT_SEND: u32 = CONNECTING | ENDING | CLOSING | CLOSED | LAYER;
}

/// A socket's state, as `flag` bits in one word.
#[derive(Default)]
pub(super) struct State(Cell<u32>);

impl State {
    #[inline]
    pub(super) fn has(&self, bits: u32) -> bool {
        self.0.get() & bits != 0
    }

    #[inline]
    pub(super) fn set(&self, bit: u32, on: bool) {
        let v = self.0.get();
        self.0.set(if on { v | bit } else { v & !bit });
    }

    /// Whether every one of `bits` is set.
    #[inline]
    pub(super) fn has_all(&self, bits: u32) -> bool {
        self.0.get() & bits == bits
    }

    /// Sets `bit` to `on`; returns whether it was set before.
    #[inline]
    pub(super) fn replace(&self, bit: u32, on: bool) -> bool {
        let was = self.has(bit);
        self.set(bit, on);
        was
    }
}

/// A socket's one allocation: its io watcher, its OS socket, and its
/// `SocketInner` (which the cell derefs to).
pub(crate) type SocketCell = StreamCell<SocketInner>;

impl StreamHandler for SocketInner {
    type Handle = Socket;
    #[inline]
    fn wrap(cell: Rc<SocketCell>) -> Socket {
        Socket { inner: cell }
    }
    #[inline]
    fn on_io(socket: &Socket, lp: &Loop, events: Ready) {
        socket.handle_io(lp, events)
    }
}

/// The send queue, which lives in the socket's rarely used part: most
/// sends go straight to the kernel, and a socket that never queues never
/// allocates it.
#[derive(Clone, Copy)]
pub(super) struct Queue<'a>(&'a SocketInner);

impl<'a> Queue<'a> {
    #[inline]
    pub(super) fn is_empty(self) -> bool {
        self.0
            .rare
            .get()
            .is_none_or(|r| r.queue.borrow().is_empty())
    }

    /// The queue, if it was ever allocated.
    pub(super) fn borrow(self) -> Option<Ref<'a, VecDeque<Chunk>>> {
        self.0.rare.get().map(|r| r.queue.borrow())
    }

    /// The queue, allocated if need be.
    pub(super) fn borrow_mut(self) -> RefMut<'a, VecDeque<Chunk>> {
        self.0.rare().queue.borrow_mut()
    }

    /// Empties the queue, handing back what was in it, and zeroes the
    /// socket's byte count `queued` (the two never drift apart).
    pub(super) fn take_all(self) -> Vec<Chunk> {
        self.0.queued.set(0);
        match self.0.rare.get() {
            Some(r) => r.queue.borrow_mut().drain(..).collect(),
            None => Vec::new(),
        }
    }
}

pub(super) struct Chunk {
    pub(super) data: Vec<u8>,
    pub(super) sent: usize,
    pub(super) on_written: Option<Written>,
}

/// The events every socket needs at hand. Reach them through the methods
/// of [`Socket`] (`on_data`, `on_close`...).
#[derive(Default)]
pub(super) struct SocketEvents {
    pub(super) data: Event<Socket, [u8]>,
    /// Inline, not rare: `on_drain(resume)` is the usual backpressure
    /// idiom, set up on every connection.
    pub(super) drain: Event<Socket, ()>,
    pub(super) error: Event<Socket, Error>,
    pub(super) close: Event<Socket, bool>,
}

/// What most sockets never use, allocated on first use: an idle server
/// connection pays for none of it.
#[derive(Default)]
pub(super) struct Rare {
    pub(super) connect: Event<Socket, ()>,
    /// Bytes not yet accepted by the kernel, in order.
    pub(super) queue: RefCell<VecDeque<Chunk>>,
    /// `send` returns false once this many bytes are queued; 0 means
    /// `DEFAULT_HIGH_WATER`.
    pub(super) high_water: Cell<usize>,
    pub(super) end: Event<Socket, ()>,
    pub(super) timeout: Event<Socket, ()>,
    /// Resolved addresses still to try if the current connect fails.
    pub(super) fallback: RefCell<Vec<SocketAddr>>,
    pub(super) idle_timer: RefCell<Option<Timer>>,
    pub(super) connect_timer: RefCell<Option<Timer>>,
    /// The socket's layer (TLS), between the user's bytes and the wire.
    pub(super) layer: RefCell<Option<Box<dyn Layer>>>,
    /// What the user sent while the layer was not ready, in order.
    pub(super) early: RefCell<VecDeque<Chunk>>,
    /// Bytes in `early`.
    pub(super) early_bytes: Cell<usize>,
    pub(super) secure: Event<Socket, ()>,
    pub(super) handshake_timer: RefCell<Option<Timer>>,
    /// What was still queued when the socket closed, until the loop's
    /// close step fails each send's callback.
    pub(super) unsent: RefCell<Vec<Chunk>>,
}

impl SocketInner {
    pub(super) fn rare(&self) -> &Rare {
        self.rare.get_or_init(Box::default)
    }

    /// The send queue (in the rarely used part).
    #[inline]
    pub(super) fn queue(&self) -> Queue<'_> {
        Queue(self)
    }

    /// How many queued bytes make `send` return false.
    pub(super) fn high_water(&self) -> usize {
        match self.rare.get().map_or(0, |r| r.high_water.get()) {
            0 => DEFAULT_HIGH_WATER,
            n => n,
        }
    }

    /// The peer's address, if known.
    pub(super) fn peer(&self) -> Option<Addr> {
        let peer = self.peer.take();
        let copy = peer.clone();
        self.peer.set(peer);
        copy
    }

    /// Neither closed nor closing nor connecting, and nothing queued: a
    /// send can go straight to the kernel. Every queued chunk holds unsent
    /// bytes (`send_rest` queues only a non-empty rest, `flush` pops a
    /// chunk once it is all sent), so `queued == 0` means an empty queue.
    #[inline]
    pub(super) fn can_send_now(&self) -> bool {
        debug_assert!(self.queued.get() != 0 || self.queue().is_empty());
        !self.state.has(flag::NO_DIRECT_SEND) && self.queued.get() == 0
    }

    /// Drops every listener. A listener whose drop panics does not keep
    /// the others: all go, then the first panic is re-raised.
    pub(super) fn clear_listeners(&self) {
        let e = &self.events;
        let mut steps = panic::Steps::default();
        steps.run(|| e.data.clear());
        steps.run(|| e.drain.clear());
        steps.run(|| e.error.clear());
        steps.run(|| e.close.clear());
        if let Some(r) = self.rare.get() {
            steps.run(|| r.connect.clear());
            steps.run(|| r.end.clear());
            steps.run(|| r.timeout.clear());
            steps.run(|| r.secure.clear());
        }
        steps.finish();
    }
}

pub(crate) struct SocketInner {
    /// Named apart from the cell's own fields (`Shared::core`, `slot`),
    /// which `Deref` would otherwise shadow or be shadowed by.
    pub(super) loop_core: Rc<LoopCore>,
    /// Events the cell's io watcher currently asks for.
    pub(super) interest: Cell<Ready>,
    /// `flag` bits.
    pub(super) state: State,
    /// The loop's shared read buffer, looked up once per socket.
    pub(super) read_buf: Rc<ReadBuf>,
    /// This socket's entry in the loop's socket table, or `NO_SLOT`
    /// (u32: a loop holds fewer sockets than fds exist).
    pub(super) table_slot: Cell<u32>,
    /// A `Cell`, not a `RefCell`: read by `peer()`, which puts it back.
    pub(super) peer: Cell<Option<Addr>>,
    /// Bytes in the send queue; 0 exactly when the queue is empty.
    pub(super) queued: Cell<usize>,
    pub(super) bytes_read: Cell<u64>,
    pub(super) bytes_written: Cell<u64>,
    pub(super) server: Cell<Weak<ServerInner>>,
    /// This socket's entry in its server's list of clients.
    pub(super) server_slot: Cell<u32>,
    pub(super) events: SocketEvents,
    pub(super) rare: OnceCell<Box<Rare>>,
    /// The tasks waiting on this socket, for sockets used from async code.
    pub(super) wakers: OnceCell<Box<Wakers>>,
}

/// The tasks waiting to read and to write.
#[derive(Default)]
pub(super) struct Wakers {
    pub(super) read: RefCell<Option<Waker>>,
    pub(super) write: RefCell<Option<Waker>>,
}

/// The loop's open sockets: the loop owns a socket until it closes.
pub(super) type SocketTable = Table<SocketCell>;

impl SocketCell {
    /// Stops watching and closes the OS socket now (the cell may live on,
    /// even while its own callback runs). `for_good` also detaches the
    /// cell from its loop; otherwise it can take another OS socket.
    pub(super) fn release_io(&self, for_good: bool) {
        if for_good {
            self.close_stream();
        } else {
            self.release_socket();
        }
    }
}

impl Owned for SocketCell {
    fn teardown(self: &Rc<Self>) {
        // `close` is still owed unless it was emitted (a close deferred
        // to a loop that will not run again is owed too).
        let owed = !self.state.has(flag::FINISHED);
        // Handles kept past the loop see a closed socket, never a stale
        // fd number, and accept no listener.
        self.state.set(flag::CLOSED | flag::FINISHED, true);
        // OS resources first: no user code can stop that.
        self.release_io(true);
        let mut unsent = self.queue().take_all();
        // The sends that waited for a layer's handshake too: their
        // callbacks may hold the socket, a cycle the loop must break.
        if let Some(r) = self.rare.get() {
            r.early_bytes.set(0);
            unsent.extend(r.early.borrow_mut().drain(..));
            unsent.extend(r.unsent.take());
        }
        let waiting = self.wakers.get().map(|w| (w.read.take(), w.write.take()));
        let mut steps = panic::Steps::default();
        steps.run(move || drop(waiting));
        if owed {
            // The loop is dead: listeners see a closed socket, and what
            // they start (timers, sockets) never runs.
            let me = Socket {
                inner: self.clone(),
            };
            let lp = Loop::view(&self.loop_core);
            let had_error = self.state.has(flag::CLOSED_WITH_ERROR);
            steps.run(|| {
                self.events.close.emit(&lp, &me, &had_error);
            });
        }
        steps.run(|| self.clear_listeners());
        // One chunk per step: a callback whose captures panic on drop
        // must not unwind through the other chunks' drops (an abort).
        for chunk in unsent {
            steps.run(move || drop(chunk));
        }
        steps.finish();
    }
}

impl Socket {
    /// The loop's teardown of this socket, ahead of the socket table's
    /// (a server tears its clients down before itself); the table's own
    /// pass then finds it finished.
    pub(crate) fn teardown_for_loop(&self) {
        Owned::teardown(&self.inner);
    }
}

/// The loop's shared read buffer; borrowed while a read runs.
pub(super) struct ReadBuf(pub(super) RefCell<Box<[MaybeUninit<u8>]>>);

impl Default for ReadBuf {
    fn default() -> ReadBuf {
        ReadBuf(RefCell::new(crate::ffi::uninit_buf(READ_BUF)))
    }
}

impl Socket {
    pub(super) fn new(core: &Rc<LoopCore>) -> Socket {
        let state = SocketInner {
            loop_core: core.clone(),
            interest: Cell::new(Ready::NONE),
            state: State::default(),
            read_buf: core.hot_local(Hot::ReadBuf, ReadBuf::default),
            table_slot: Cell::new(NO_SLOT),
            peer: Cell::new(None),
            queued: Cell::new(0),
            bytes_read: Cell::new(0),
            bytes_written: Cell::new(0),
            server: Cell::new(Weak::new()),
            server_slot: Cell::new(0),
            events: SocketEvents::default(),
            rare: OnceCell::new(),
            wakers: OnceCell::new(),
        };
        let inner = SocketCell::create(core, state);
        let slot = core
            .hot_local(Hot::Sockets, SocketTable::default)
            .join(&inner, true);
        inner.table_slot.set(slot as u32);
        Socket { inner }
    }

    pub(crate) fn lp(&self) -> Loop {
        Loop::view(&self.inner.loop_core)
    }

    /// Wraps an open, connected OS socket and starts reading.
    pub(crate) fn adopt(lp: &Loop, sock: socket2::Socket, peer: Option<Addr>) -> Result<Socket> {
        let s = Socket::new(lp.core());
        s.inner.peer.set(peer);
        s.attach(lp, sock, Ready::READ)?;
        Ok(s)
    }

    /// Gives the OS socket to a new io watcher, which holds the socket
    /// until it closes (the loop keeps open sockets alive anyway).
    pub(super) fn attach(&self, lp: &Loop, sock: socket2::Socket, events: Ready) -> Result<()> {
        let fd = sock.as_raw_fd();
        // libev's select backend asserts on fds it cannot put in an fd_set.
        if lp.backend() == Backend::SELECT && fd >= libc::FD_SETSIZE as RawFd {
            self.finish_close(false);
            return Err(Error::InvalidFd(fd));
        }
        self.inner.attach_socket(sock);
        self.inner.set_events(events);
        self.inner.interest.set(events);
        Ok(())
    }

    pub(super) fn with_sock<R>(&self, f: impl FnOnce(&socket2::Socket) -> R) -> Option<R> {
        self.inner.with_socket(f)
    }

    pub(super) fn label(&self) -> String {
        match &self.inner.peer() {
            Some(a) => a.to_string(),
            None => "socket".to_string(),
        }
    }

    /// Makes the io watcher match `flag::UNREF`. It alone keeps the loop
    /// alive for the socket: the socket's timers never do.
    pub(super) fn apply_ref(&self) {
        self.inner.set_unref(self.inner.state.has(flag::UNREF));
    }

    /// `close()` was called (the queue may still be flushing).
    pub(crate) fn is_closing(&self) -> bool {
        self.inner.state.has(flag::CLOSING | flag::CLOSED)
    }

    pub(crate) fn set_server(&self, server: &Rc<ServerInner>, slot: usize) {
        self.inner.server.set(Rc::downgrade(server));
        self.inner.server_slot.set(slot as u32);
    }
}
