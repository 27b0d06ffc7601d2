//! A ZeroMQ socket on the loop: its kind, its state, and its face (bind,
//! connect, send, close, pause, ref/unref).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use slab::Slab;

use super::context::Context;
use super::error::from_zmq;
use super::Frame;
use crate::{Check, Cleanup, Error, Event, Idle, Io, Loop, Prepare, Ready, Result, Timer, Watcher};

/// Messages [`ZmqSocket::send`] queues while libzmq refuses more; beyond
/// it, `send` fails with [`Error::WouldBlock`].
pub const DEFAULT_SEND_QUEUE: usize = 1024;
/// How long a closed socket keeps trying to deliver what libzmq holds
/// (`ZMQ_LINGER`): finite, so closing a socket or dropping the loop never
/// hangs.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(1);
/// How often a send refused despite POLLOUT is retried.
const SEND_RETRY: Duration = Duration::from_millis(5);

/// The kind of a ZeroMQ socket: which pattern it takes part in.
///
/// ```
/// assert!(hinge::zmq::Kind::Pull.can_receive());
/// assert!(!hinge::zmq::Kind::Push.can_receive());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Exclusive pair.
    Pair,
    /// Publisher: sends to every matching subscriber.
    Pub,
    /// Subscriber: receives what matches its subscriptions.
    Sub,
    /// Request: send, then receive, in turn.
    Req,
    /// Reply: receive, then send, in turn.
    Rep,
    /// Asynchronous request.
    Dealer,
    /// Asynchronous reply, routing by peer identity (first frame).
    Router,
    /// Pipeline input.
    Pull,
    /// Pipeline output.
    Push,
    /// Publisher that sees subscriptions.
    XPub,
    /// Subscriber that sends subscriptions as messages.
    XSub,
}

impl Kind {
    fn raw(self) -> zmq::SocketType {
        match self {
            Kind::Pair => zmq::PAIR,
            Kind::Pub => zmq::PUB,
            Kind::Sub => zmq::SUB,
            Kind::Req => zmq::REQ,
            Kind::Rep => zmq::REP,
            Kind::Dealer => zmq::DEALER,
            Kind::Router => zmq::ROUTER,
            Kind::Pull => zmq::PULL,
            Kind::Push => zmq::PUSH,
            Kind::XPub => zmq::XPUB,
            Kind::XSub => zmq::XSUB,
        }
    }

    /// Whether sockets of this kind receive messages.
    ///
    /// ```
    /// assert!(hinge::zmq::Kind::Router.can_receive());
    /// ```
    pub fn can_receive(self) -> bool {
        !matches!(self, Kind::Pub | Kind::Push)
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Pair => "PAIR socket",
            Kind::Pub => "PUB socket",
            Kind::Sub => "SUB socket",
            Kind::Req => "REQ socket",
            Kind::Rep => "REP socket",
            Kind::Dealer => "DEALER socket",
            Kind::Router => "ROUTER socket",
            Kind::Pull => "PULL socket",
            Kind::Push => "PUSH socket",
            Kind::XPub => "XPUB socket",
            Kind::XSub => "XSUB socket",
        }
    }
}

/// One event of a [`ZmqSocket`], to count or remove its listeners.
///
/// ```
/// # let lp = hinge::Loop::new()?;
/// use hinge::zmq::{Kind, ZmqEvent, ZmqSocket};
/// let s = ZmqSocket::new(&lp, Kind::Pull)?;
/// s.on_data(|_, _, _| {});
/// assert_eq!(s.listeners(ZmqEvent::Data), 1);
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ZmqEvent {
    /// `data`
    Data,
    /// `drain`
    Drain,
    /// `error`
    Error,
    /// `close`
    Close,
}

#[derive(Default)]
pub(super) struct Events {
    pub(super) data: Event<ZmqSocket, [Frame]>,
    pub(super) drain: Event<ZmqSocket, ()>,
    pub(super) error: Event<ZmqSocket, Error>,
    pub(super) close: Event<ZmqSocket, ()>,
}

/// The loop watchers that drive one socket (see the module docs).
pub(super) struct Drive {
    pub(super) io: Io,
    pub(super) prepare: Prepare,
    pub(super) check: Check,
    pub(super) idle: Idle,
    /// Wakes the loop to retry a send that libzmq refused although it
    /// reported POLLOUT (a ROUTER with ROUTER_MANDATORY and one slow peer).
    pub(super) retry: Timer,
    /// Bounds how long `close` waits for the queue: the linger period.
    pub(super) linger: Timer,
    pub(super) _cleanup: Cleanup,
}

pub(super) struct Inner {
    // Declared first, so dropped first: the io watcher must stop before
    // libzmq closes the fd it watches.
    pub(super) drive: RefCell<Option<Drive>>,
    pub(super) sock: RefCell<Option<zmq::Socket>>,
    pub(super) kind: Kind,
    /// The last endpoint bound or connected, for error messages.
    pub(super) label: RefCell<String>,
    /// This socket's entry in the loop's table of open sockets.
    pub(super) slot: Cell<usize>,
    pub(super) paused: Cell<bool>,
    /// `close` or `destroy` was called: no more sends or receives.
    pub(super) closing: Cell<bool>,
    /// The libzmq socket is closed; `close` is emitted next.
    pub(super) closed: Cell<bool>,
    /// `close` was emitted and the listeners dropped.
    pub(super) finished: Cell<bool>,
    pub(super) unref: Cell<bool>,
    pub(super) queue: RefCell<VecDeque<Vec<Vec<u8>>>>,
    pub(super) queue_limit: Cell<usize>,
    pub(super) need_drain: Cell<bool>,
    /// libzmq refused a send while reporting POLLOUT: retry on a timer,
    /// not by spinning.
    pub(super) send_blocked: Cell<bool>,
    /// The check watcher's callback is running (a nested `run` cannot
    /// re-enter it, so it must not spin waiting for it either).
    pub(super) in_check: Cell<bool>,
    /// The linger period in ms (-1: forever), bounding `close`'s wait.
    pub(super) linger_ms: Cell<i32>,
    /// The receive buffer, reused: libzmq refills the frames in place.
    pub(super) frames: RefCell<Vec<Frame>>,
    pub(super) events: Events,
}

/// The loop's open ZeroMQ sockets: the loop owns a socket until it closes,
/// so a program need not keep the handle.
#[derive(Default)]
pub(super) struct Open(pub(super) RefCell<Slab<ZmqSocket>>);

impl Drop for Open {
    /// The loop's locals go last in its teardown, always: also while a
    /// panic unwinds (when cleanup watchers are skipped), and for sockets
    /// made after the cleanup watchers ran. Every socket still here is
    /// torn down, which drops its listeners, so that one holding its own
    /// socket is no cycle.
    fn drop(&mut self) {
        let open = std::mem::take(&mut *self.0.borrow_mut());
        let steps: Vec<_> = open
            .into_iter()
            .map(|(_, sock)| {
                move || {
                    if !sock.inner.finished.get() {
                        // Made too late for the cleanup watchers: no
                        // loop is at hand to emit `close` with.
                        sock.teardown(None);
                    }
                }
            })
            .collect();
        let steps: Vec<&dyn Fn()> = steps.iter().map(|f| f as &dyn Fn()).collect();
        super::listeners::all_of(&steps);
    }
}

/// A ZeroMQ socket on the loop. A cheap handle: clone it to use it from
/// other callbacks. The loop owns an open socket; `close` (or the loop's
/// end) closes it.
///
/// Events, in the vocabulary of hinge's [`Socket`](crate::Socket):
///
/// | event | when | payload |
/// |---|---|---|
/// | [`data`](ZmqSocket::on_data) | a whole message arrived | its frames, `&[Frame]` |
/// | [`drain`](ZmqSocket::on_drain) | the send queue emptied after `send` returned `false` | none |
/// | [`error`](ZmqSocket::on_error) | a queued send or a receive failed | `Error` |
/// | [`close`](ZmqSocket::on_close) | the socket closed, once | none |
///
/// ```no_run
/// use hinge::zmq::{Kind, ZmqSocket};
///
/// let lp = hinge::Loop::new()?;
/// let rep = ZmqSocket::new(&lp, Kind::Rep)?;
/// rep.bind("tcp://127.0.0.1:5555")?;
/// rep.on_data(|_, rep, msg| {
///     rep.send(msg).ok(); // echo every frame
/// });
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone)]
pub struct ZmqSocket {
    pub(super) inner: Rc<Inner>,
}

impl ZmqSocket {
    /// A socket of `kind` in the loop's default [`Context`].
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Push)?;
    /// assert_eq!(s.kind(), hinge::zmq::Kind::Push);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn new(lp: &Loop, kind: Kind) -> Result<ZmqSocket> {
        ZmqSocket::with_context(lp, &Context::of(lp), kind)
    }

    /// A socket of `kind` in `ctx` (needed for `inproc://` peers made with
    /// the `zmq` crate in that context).
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let ctx = hinge::zmq::Context::new();
    /// let s = hinge::zmq::ZmqSocket::with_context(&lp, &ctx, hinge::zmq::Kind::Sub)?;
    /// # drop(s);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn with_context(lp: &Loop, ctx: &Context, kind: Kind) -> Result<ZmqSocket> {
        let zerr = |op, e| from_zmq(op, kind.name(), e);
        let sock = ctx
            .as_zmq()
            .socket(kind.raw())
            .map_err(|e| zerr("socket", e))?;
        sock.set_linger(DEFAULT_LINGER.as_millis() as i32)
            .map_err(|e| zerr("set linger", e))?;
        let fd = sock.get_fd().map_err(|e| zerr("get fd", e))?;
        let inner = Rc::new(Inner {
            drive: RefCell::new(None),
            sock: RefCell::new(Some(sock)),
            kind,
            label: RefCell::new(kind.name().to_string()),
            slot: Cell::new(0),
            paused: Cell::new(false),
            closing: Cell::new(false),
            closed: Cell::new(false),
            finished: Cell::new(false),
            unref: Cell::new(false),
            queue: RefCell::new(VecDeque::new()),
            queue_limit: Cell::new(DEFAULT_SEND_QUEUE),
            need_drain: Cell::new(false),
            send_blocked: Cell::new(false),
            in_check: Cell::new(false),
            linger_ms: Cell::new(DEFAULT_LINGER.as_millis() as i32),
            frames: RefCell::new(Vec::new()),
            events: Events::default(),
        });
        let me = ZmqSocket { inner };
        let drive = me.drive(lp, fd)?;
        *me.inner.drive.borrow_mut() = Some(drive);
        let slot = lp.local(Open::default).0.borrow_mut().insert(me.clone());
        me.inner.slot.set(slot);
        Ok(me)
    }

    /// The watchers: closures hold the socket weakly, so only the loop's
    /// table keeps it alive.
    fn drive(&self, lp: &Loop, fd: i32) -> Result<Drive> {
        let weak = Rc::downgrade(&self.inner);
        let upgrade = move || weak.upgrade().map(|inner| ZmqSocket { inner });
        // The io watcher and the idle watcher only wake the loop; the
        // check watcher does the work.
        // A duplicate of ZMQ_FD: the watcher owns it, so libzmq closing its
        // own descriptor can never leave libev watching a closed one.
        let io = Io::watch_dup(lp, fd, Ready::READ, |_, _, _| {})?;
        io.stop();
        let idle = Idle::new(lp, |_, _| {});
        idle.stop();
        let up = upgrade.clone();
        let prepare = Prepare::new(lp, move |_, _| {
            if let Some(s) = up() {
                s.before_block();
            }
        });
        let up = upgrade.clone();
        let check = Check::new(lp, move |lp, _| {
            if let Some(s) = up() {
                s.after_wake(lp);
            }
        });
        // Only wakes the loop: the check watcher retries the send.
        let retry = Timer::new(lp, Duration::ZERO, SEND_RETRY, |_, _| {});
        retry.stop();
        let up = upgrade.clone();
        let linger = Timer::new(lp, DEFAULT_LINGER, Duration::ZERO, move |_, _| {
            if let Some(s) = up() {
                s.shut(); // the queue did not empty in time: give up on it
            }
        });
        linger.stop();
        let cleanup = Cleanup::new(lp, move |lp, _| {
            if let Some(s) = upgrade() {
                s.teardown(Some(lp));
            }
        });
        Ok(Drive {
            io,
            prepare,
            check,
            idle,
            retry,
            linger,
            _cleanup: cleanup,
        })
    }

    /// The socket's kind.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Dealer)?;
    /// assert_eq!(s.kind(), hinge::zmq::Kind::Dealer);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn kind(&self) -> Kind {
        self.inner.kind
    }

    /// Binds to `endpoint` (`tcp://127.0.0.1:5555`, `ipc:///tmp/x`,
    /// `inproc://name`; `tcp://127.0.0.1:*` picks a port, see
    /// [`last_endpoint`](ZmqSocket::last_endpoint)).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// use hinge::{zmq::{Kind, ZmqSocket}, Error};
    /// let s = ZmqSocket::new(&lp, Kind::Pull)?;
    /// s.bind("tcp://127.0.0.1:*")?;
    /// let taken = s.last_endpoint().unwrap();
    /// let t = ZmqSocket::new(&lp, Kind::Pull)?;
    /// assert!(matches!(t.bind(&taken), Err(Error::AddrInUse { .. })));
    /// assert!(matches!(t.bind("nope://x"), Err(Error::InvalidAddress { .. })));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn bind(&self, endpoint: &str) -> Result<()> {
        self.endpoint_op("bind", endpoint, |s| s.bind(endpoint))
    }

    /// Connects to `endpoint`; libzmq connects (and reconnects) in the
    /// background, so the peer need not be up yet.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Push)?;
    /// s.connect("tcp://127.0.0.1:5999")?; // nobody there yet: fine
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn connect(&self, endpoint: &str) -> Result<()> {
        self.endpoint_op("connect", endpoint, |s| s.connect(endpoint))
    }

    /// Stops listening on `endpoint`.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Pull)?;
    /// s.bind("inproc://unbind-doc")?;
    /// s.unbind("inproc://unbind-doc")?;
    /// assert!(s.unbind("inproc://unbind-doc").is_err());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn unbind(&self, endpoint: &str) -> Result<()> {
        self.endpoint_op("unbind", endpoint, |s| s.unbind(endpoint))
    }

    /// Drops the connection to `endpoint`.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Push)?;
    /// s.connect("tcp://127.0.0.1:5998")?;
    /// s.disconnect("tcp://127.0.0.1:5998")?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn disconnect(&self, endpoint: &str) -> Result<()> {
        self.endpoint_op("disconnect", endpoint, |s| s.disconnect(endpoint))
    }

    fn endpoint_op(
        &self,
        op: &'static str,
        endpoint: &str,
        f: impl FnOnce(&zmq::Socket) -> zmq::Result<()>,
    ) -> Result<()> {
        self.with_raw(|s| f(s))?
            .map_err(|e| from_zmq(op, endpoint, e))?;
        if matches!(op, "bind" | "connect") {
            *self.inner.label.borrow_mut() = endpoint.to_string();
        }
        Ok(())
    }

    /// The endpoint last bound, with the port libzmq picked for `*`.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Rep)?;
    /// s.bind("tcp://127.0.0.1:*")?;
    /// assert!(s.last_endpoint().unwrap().starts_with("tcp://127.0.0.1:"));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn last_endpoint(&self) -> Option<String> {
        self.with_raw(|s| s.get_last_endpoint().ok())
            .ok()
            .flatten()
            .and_then(|r| r.ok())
            .filter(|e| !e.is_empty())
    }

    /// Sends one whole message, all `frames` (at least one). Sent at once
    /// when libzmq takes it; otherwise (the peer's high-water mark is
    /// reached) it is queued and `send` returns `Ok(false)`: stop sending
    /// until `drain`. With the queue at its limit
    /// ([`set_send_queue_limit`](ZmqSocket::set_send_queue_limit)) the
    /// call fails with [`Error::WouldBlock`] and the message stays yours:
    /// nothing is dropped silently. libzmq's own refusals (a REQ socket
    /// sending twice, an unroutable ROUTER peer) are typed errors.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Dealer)?;
    /// s.bind("inproc://send-doc")?;
    /// // No peer: DEALER cannot send, so the message waits in the queue.
    /// assert_eq!(s.send(&["header", "body"])?, false);
    /// assert_eq!(s.queued(), 1);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn send<F: AsRef<[u8]>>(&self, frames: &[F]) -> Result<bool> {
        let inner = &*self.inner;
        if inner.closing.get() {
            return Err(Error::Closed { op: "send" });
        }
        if frames.is_empty() {
            return Err(from_zmq("send", &inner.label.borrow(), zmq::Error::EINVAL));
        }
        if !inner.queue.borrow().is_empty() {
            return self.enqueue(frames);
        }
        let sent =
            self.with_raw(|s| s.send_multipart(frames.iter().map(|f| f.as_ref()), zmq::DONTWAIT))?;
        match sent {
            Ok(()) => Ok(true),
            Err(zmq::Error::EAGAIN) => self.enqueue(frames),
            Err(e) => Err(from_zmq("send", &inner.label.borrow(), e)),
        }
    }

    /// [`send`](ZmqSocket::send) of a one-frame message.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Pub)?;
    /// s.bind("inproc://send-frame-doc")?;
    /// assert!(s.send_frame("news")?); // PUB never blocks: it drops for slow subscribers
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn send_frame(&self, frame: impl AsRef<[u8]>) -> Result<bool> {
        self.send(&[frame])
    }

    fn enqueue<F: AsRef<[u8]>>(&self, frames: &[F]) -> Result<bool> {
        let inner = &*self.inner;
        let mut queue = inner.queue.borrow_mut();
        if queue.len() >= inner.queue_limit.get() {
            return Err(Error::WouldBlock { op: "zmq send" });
        }
        queue.push_back(frames.iter().map(|f| f.as_ref().to_vec()).collect());
        inner.need_drain.set(true);
        Ok(false)
    }

    /// Messages waiting in hinge's send queue.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Push)?;
    /// assert_eq!(s.queued(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn queued(&self) -> usize {
        self.inner.queue.borrow().len()
    }

    /// How many messages `send` may queue (default [`DEFAULT_SEND_QUEUE`];
    /// 0 makes a refused send fail at once with [`Error::WouldBlock`]).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Dealer)?;
    /// s.set_send_queue_limit(0);
    /// assert!(matches!(s.send(&["x"]), Err(hinge::Error::WouldBlock { .. })));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_send_queue_limit(&self, messages: usize) {
        self.inner.queue_limit.set(messages);
    }

    /// Stops receiving from libzmq (no more `data`), so messages pile up in
    /// libzmq up to the receive high-water mark, then the sender is pushed
    /// back. [`resume`](ZmqSocket::resume) delivers the backlog.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Pull)?;
    /// s.pause();
    /// assert!(s.is_paused());
    /// s.resume();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn pause(&self) {
        self.inner.paused.set(true);
    }

    /// Receives again after [`pause`](ZmqSocket::pause).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Pull)?;
    /// s.resume();
    /// assert!(!s.is_paused());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn resume(&self) {
        self.inner.paused.set(false);
    }

    /// Whether receiving is paused.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// assert!(!hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Sub)?.is_paused());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_paused(&self) -> bool {
        self.inner.paused.get()
    }

    /// Closes the socket gracefully: it stops receiving, sends what it has
    /// queued (as the peer takes it), then closes the libzmq socket, which
    /// has its linger period to deliver what it holds. `close` is emitted
    /// from the loop, then every listener is dropped.
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Push)?;
    /// s.on_close(|_, _| println!("closed"));
    /// s.close();
    /// assert!(s.is_closed());
    /// lp.run(); // emits close, then returns: nothing is left
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn close(&self) {
        if self.inner.closing.replace(true) {
            return;
        }
        if self.inner.queue.borrow().is_empty() {
            self.shut();
            return;
        }
        // `flush` shuts it once the queue is empty, or the linger timer
        // does after the linger period: a queue no peer takes never makes
        // close hang (a negative linger waits forever, as libzmq's does).
        let ms = self.inner.linger_ms.get();
        if ms >= 0 {
            if let Some(d) = &*self.inner.drive.borrow() {
                d.linger
                    .set(Duration::from_millis(ms as u64), Duration::ZERO);
                d.linger.start();
            }
        }
    }

    /// Closes at once, discarding what is queued here (libzmq still has
    /// the linger period for what it holds).
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Dealer)?;
    /// s.send_frame("never sent: no peer")?;
    /// s.destroy();
    /// assert_eq!(s.queued(), 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn destroy(&self) {
        self.inner.closing.set(true);
        self.shut();
    }

    /// Closes the libzmq socket, the io watcher first (libev must not
    /// watch a closed fd). The check watcher stays, with the idle one so
    /// the loop does not block, to emit `close` on the next iteration.
    pub(super) fn shut(&self) {
        if self.inner.closed.replace(true) {
            return;
        }
        if let Some(d) = &*self.inner.drive.borrow() {
            d.io.stop();
            d.prepare.stop();
            d.retry.stop();
            d.linger.stop();
            d.idle.start();
        }
        let sock = self.inner.sock.borrow_mut().take();
        drop(sock);
        let unsent = std::mem::take(&mut *self.inner.queue.borrow_mut());
        drop(unsent);
    }

    /// Whether [`close`](ZmqSocket::close) was called (or the loop ended).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Pull)?;
    /// assert!(!s.is_closed());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.closing.get()
    }

    /// Lets the loop's `run` return while this socket is its only work (an
    /// open socket keeps the loop alive by default).
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Pull)?;
    /// s.unref();
    /// lp.run(); // returns at once
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn unref(&self) {
        self.inner.unref.set(true);
        self.apply_ref();
    }

    /// Undoes [`unref`](ZmqSocket::unref).
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Pull)?;
    /// s.unref();
    /// s.ref_();
    /// assert!(s.has_ref());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn ref_(&self) {
        self.inner.unref.set(false);
        self.apply_ref();
    }

    /// Whether this socket keeps the loop alive while open.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// assert!(hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Pull)?.has_ref());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn has_ref(&self) -> bool {
        !self.inner.unref.get()
    }

    fn apply_ref(&self) {
        let unref = self.inner.unref.get();
        if let Some(d) = &*self.inner.drive.borrow() {
            let all: [&dyn Watcher; 6] =
                [&d.io, &d.prepare, &d.check, &d.idle, &d.retry, &d.linger];
            for w in all {
                if unref {
                    w.unref();
                } else {
                    w.ref_();
                }
            }
        }
    }

    /// Runs `f` with the `zmq` crate's socket, for options hinge has no
    /// method for. Receiving or sending through it bypasses hinge's queue
    /// and events; the loop still notices what it changes. Fails with
    /// [`Error::Closed`] once the socket is closed.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// let s = hinge::zmq::ZmqSocket::new(&lp, hinge::zmq::Kind::Sub)?;
    /// let hwm = s.with_raw(|raw| raw.get_rcvhwm())?.unwrap();
    /// assert!(hwm > 0);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn with_raw<R>(&self, f: impl FnOnce(&zmq::Socket) -> R) -> Result<R> {
        match &*self.inner.sock.borrow() {
            Some(s) => Ok(f(s)),
            None => Err(Error::Closed { op: "zmq" }),
        }
    }
}

impl std::fmt::Debug for ZmqSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZmqSocket")
            .field("kind", &self.inner.kind)
            .field("endpoint", &*self.inner.label.borrow())
            .field("closed", &self.is_closed())
            .field("queued", &self.queued())
            .finish()
    }
}

impl PartialEq for ZmqSocket {
    fn eq(&self, other: &ZmqSocket) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}
