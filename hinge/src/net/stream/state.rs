//! A socket's state: its flag word, the `SocketInner` behind every
//! handle, the rarely used parts allocated on first use, and the loop's
//! tables of open sockets and the shared read buffer.

use std::cell::{Cell, OnceCell, Ref, RefCell, RefMut};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::{Rc, Weak};

use super::{Socket, DEFAULT_HIGH_WATER};
use crate::event_loop::Loop;
use crate::ffi::panic;
use crate::ffi::{LoopCore, StreamCell, StreamHandler};
use crate::handle::{Owned, Table};
use crate::net::addr::Addr;
use crate::net::server::ServerInner;
use crate::{Backend, Error, Event, Ready, Result, Timer};

/// The one read buffer every socket of a loop shares.
pub(super) const READ_BUF: usize = 64 * 1024;
/// `SocketInner::slot` of a socket the loop no longer holds.
pub(super) const NO_SLOT: usize = usize::MAX;

/// A callback told whether queued bytes reached the kernel.
pub(super) type Written = Box<dyn FnOnce(&Loop, &Socket, Result<()>)>;

/// The bits of `SocketInner::state`.
pub(super) mod flag {
    /// Connecting, or resolving the name to connect to.
    pub(crate) const CONNECTING: u16 = 1;
    pub(crate) const PAUSED: u16 = 1 << 1;
    /// The peer ended: no more reads.
    pub(crate) const READ_EOF: u16 = 1 << 2;
    /// `end()` was called: shut down writing once the queue is flushed.
    pub(crate) const ENDING: u16 = 1 << 3;
    /// `close()` was called: close once the queue is flushed.
    pub(crate) const CLOSING: u16 = 1 << 4;
    pub(crate) const WRITE_SHUT: u16 = 1 << 5;
    pub(crate) const CLOSED: u16 = 1 << 6;
    pub(crate) const ALLOW_HALF_OPEN: u16 = 1 << 7;
    /// `send` returned false: emit `drain` once the queue empties.
    pub(crate) const NEED_DRAIN: u16 = 1 << 8;
    /// An inactivity timer is set: reads and writes re-arm it.
    pub(crate) const HAS_IDLE_TIMER: u16 = 1 << 9;
    /// The socket closed for good: `close` was emitted and its listeners
    /// dropped; new listeners are refused.
    pub(crate) const FINISHED: u16 = 1 << 10;
    /// The user asked that this socket not keep the loop alive.
    pub(crate) const UNREF: u16 = 1 << 11;
    /// A `send` cannot go straight to the kernel.
    pub(crate) const NO_DIRECT_SEND: u16 = CONNECTING | ENDING | CLOSING | CLOSED;
}

/// A socket's state, as `flag` bits in one word.
#[derive(Default)]
pub(super) struct State(Cell<u16>);

impl State {
    #[inline]
    pub(super) fn has(&self, bits: u16) -> bool {
        self.0.get() & bits != 0
    }

    #[inline]
    pub(super) fn set(&self, bit: u16, on: bool) {
        let v = self.0.get();
        self.0.set(if on { v | bit } else { v & !bit });
    }

    /// Sets `bit` to `on`; returns whether it was set before.
    #[inline]
    pub(super) fn replace(&self, bit: u16, on: bool) -> bool {
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

/// The send queue, allocated when the socket first queues something (most
/// sends go straight to the kernel) and kept from then on.
// The Box is the point: one pointer inline, where a VecDeque is four words.
#[allow(clippy::box_collection)]
#[derive(Default)]
pub(super) struct Queue(RefCell<Option<Box<VecDeque<Chunk>>>>);

impl Queue {
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.0.borrow().as_ref().map_or(true, |q| q.is_empty())
    }

    /// The queue, if it was ever allocated.
    pub(super) fn borrow(&self) -> Option<Ref<'_, VecDeque<Chunk>>> {
        Ref::filter_map(self.0.borrow(), |q| q.as_deref()).ok()
    }

    /// The queue, allocated if need be.
    pub(super) fn borrow_mut(&self) -> RefMut<'_, VecDeque<Chunk>> {
        RefMut::map(self.0.borrow_mut(), |q| {
            &mut **q.get_or_insert_with(Box::default)
        })
    }

    /// Empties the queue, handing back what was in it.
    pub(super) fn take_all(&self) -> Vec<Chunk> {
        match &mut *self.0.borrow_mut() {
            Some(q) => q.drain(..).collect(),
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
    pub(super) error: Event<Socket, Error>,
    pub(super) close: Event<Socket, bool>,
}

/// What most sockets never use, allocated on first use: an idle server
/// connection pays for none of it.
#[derive(Default)]
pub(super) struct Rare {
    pub(super) connect: Event<Socket, ()>,
    /// Only sockets that ever fill their send queue need it.
    pub(super) drain: Event<Socket, ()>,
    pub(super) end: Event<Socket, ()>,
    pub(super) timeout: Event<Socket, ()>,
    /// Resolved addresses still to try if the current connect fails.
    pub(super) fallback: RefCell<Vec<SocketAddr>>,
    pub(super) idle_timer: RefCell<Option<Timer>>,
    pub(super) connect_timer: RefCell<Option<Timer>>,
}

impl SocketInner {
    pub(super) fn rare(&self) -> &Rare {
        self.rare.get_or_init(Box::default)
    }

    /// Neither closed nor closing nor connecting, and nothing queued: a
    /// send can go straight to the kernel. Every queued chunk holds unsent
    /// bytes (`send_rest` queues only a non-empty rest, `flush` pops a
    /// chunk once it is all sent), so `queued == 0` means an empty queue.
    #[inline]
    pub(super) fn can_send_now(&self) -> bool {
        debug_assert!(self.queued.get() != 0 || self.queue.is_empty());
        !self.state.has(flag::NO_DIRECT_SEND) && self.queued.get() == 0
    }

    /// Drops every listener. A listener whose drop panics does not keep
    /// the others: all go, then the first panic is re-raised.
    pub(super) fn clear_listeners(&self) {
        let e = &self.events;
        let mut steps = panic::Steps::default();
        steps.run(|| e.data.clear());
        steps.run(|| e.error.clear());
        steps.run(|| e.close.clear());
        if let Some(r) = self.rare.get() {
            steps.run(|| r.connect.clear());
            steps.run(|| r.drain.clear());
            steps.run(|| r.end.clear());
            steps.run(|| r.timeout.clear());
        }
        steps.finish();
    }
}

pub(crate) struct SocketInner {
    pub(super) core: Rc<LoopCore>,
    /// Events the cell's io watcher currently asks for.
    pub(super) interest: Cell<Ready>,
    /// `flag` bits.
    pub(super) state: State,
    /// The loop's shared read buffer, looked up once per socket.
    pub(super) read_buf: Rc<ReadBuf>,
    /// This socket's entry in the loop's socket table, or `NO_SLOT`.
    pub(super) slot: Cell<usize>,
    pub(super) peer: RefCell<Option<Addr>>,
    pub(super) queue: Queue,
    pub(super) queued: Cell<usize>,
    pub(super) high_water: Cell<usize>,
    pub(super) bytes_read: Cell<u64>,
    pub(super) bytes_written: Cell<u64>,
    pub(super) server: Cell<Weak<ServerInner>>,
    /// This socket's entry in its server's list of clients.
    pub(super) server_slot: Cell<usize>,
    pub(super) events: SocketEvents,
    pub(super) rare: OnceCell<Box<Rare>>,
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
    fn teardown(&self) {
        // Handles kept past the loop see a closed socket, never a stale
        // fd number, and accept no listener.
        self.state.set(flag::CLOSED | flag::FINISHED, true);
        // OS resources first: no user code can stop that.
        self.release_io(true);
        let unsent = self.queue.take_all();
        let mut steps = panic::Steps::default();
        steps.run(|| self.clear_listeners());
        steps.run(move || drop(unsent));
        steps.finish();
    }
}

/// The loop's shared read buffer; borrowed while a read runs.
pub(super) struct ReadBuf(pub(super) RefCell<Box<[u8]>>);

impl Default for ReadBuf {
    fn default() -> ReadBuf {
        ReadBuf(RefCell::new(vec![0u8; READ_BUF].into_boxed_slice()))
    }
}

impl Socket {
    pub(super) fn new(core: &Rc<LoopCore>) -> Socket {
        let state = SocketInner {
            core: core.clone(),
            interest: Cell::new(Ready::NONE),
            state: State::default(),
            read_buf: core.local(ReadBuf::default),
            slot: Cell::new(NO_SLOT),
            peer: RefCell::new(None),
            queue: Queue::default(),
            queued: Cell::new(0),
            high_water: Cell::new(DEFAULT_HIGH_WATER),
            bytes_read: Cell::new(0),
            bytes_written: Cell::new(0),
            server: Cell::new(Weak::new()),
            server_slot: Cell::new(0),
            events: SocketEvents::default(),
            rare: OnceCell::new(),
        };
        let inner = SocketCell::create(core, state);
        let slot = core.local(SocketTable::default).join(&inner, true);
        inner.slot.set(slot);
        Socket { inner }
    }

    pub(super) fn lp(&self) -> Loop {
        Loop::view(&self.inner.core)
    }

    /// Wraps an open, connected OS socket and starts reading.
    pub(crate) fn adopt(lp: &Loop, sock: socket2::Socket, peer: Option<Addr>) -> Result<Socket> {
        let s = Socket::new(lp.core());
        *s.inner.peer.borrow_mut() = peer;
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
        match &*self.inner.peer.borrow() {
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
        self.inner.server_slot.set(slot);
    }
}
