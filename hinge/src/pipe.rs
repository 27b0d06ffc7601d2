//! Backpressure by construction: `pipe` moves the bytes of a readable
//! (a [`Socket`], an HTTP request body) into a writable (a [`Socket`], an
//! HTTP response), pausing the source while the destination's queue is
//! above its high-water mark, and ending the destination when the source
//! ends, as Node's `stream.pipeline`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::{Error, ListenerId, Loop, Result, Socket};

/// What a reader of the source's events gets: a chunk, or how it ended.
pub enum Flow<'a> {
    /// Bytes arrived.
    Data(&'a [u8]),
    /// The source ended cleanly: no more bytes.
    End,
    /// The source failed or closed before its end.
    Failed(&'a Error),
}

/// What [`Readable::read_into`] is given: the pipe's side that takes
/// each chunk, then the end or the failure. A cheap handle: clone it into
/// each listener of the source; [`deliver`](Reader::deliver) never
/// re-enters it (a nested emission is skipped).
///
/// ```
/// use hinge::pipe::{Flow, Reader};
/// # let lp = hinge::Loop::new()?;
/// let r = Reader::new(|_, flow| {
///     if let Flow::Data(bytes) = flow {
///         assert_eq!(bytes, b"x");
///     }
/// });
/// r.clone().deliver(&lp, Flow::Data(b"x"));
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone)]
pub struct Reader(Rc<RefCell<FlowFn>>);

/// The function behind a [`Reader`].
type FlowFn = Box<dyn FnMut(&Loop, Flow<'_>)>;

impl Reader {
    /// Wraps the function that takes the source's flow.
    pub fn new(f: impl FnMut(&Loop, Flow<'_>) + 'static) -> Reader {
        Reader(Rc::new(RefCell::new(Box::new(f))))
    }

    /// Hands `flow` to the pipe, unless it is taking one already.
    pub fn deliver(&self, lp: &Loop, flow: Flow<'_>) {
        if let Ok(mut f) = self.0.try_borrow_mut() {
            f(lp, flow);
        }
    }
}

/// `pipe`'s completion callback.
type Done = Box<dyn FnOnce(&Loop, Result<()>)>;

/// A source of bytes with flow control, for [`pipe`].
///
/// hinge implements it for [`Socket`] and for
/// [`http::Request`](crate::http::Request) (the request body); implement
/// it for a source of your own to pipe it. Listeners it adds must be
/// removable with the ids it returns.
///
/// ```
/// use hinge::{pipe::{Flow, Readable}, Socket};
/// fn reads<R: Readable>(_: &R) {}
/// # let lp = hinge::Loop::new()?;
/// # let sock = Socket::connect(&lp, "127.0.0.1", 9)?;
/// reads(&sock);
/// # Ok::<(), hinge::Error>(())
/// ```
pub trait Readable: Clone + 'static {
    /// Calls `f` with each chunk, then once with the end or the failure.
    /// Returns the ids of the listeners it added.
    fn read_into(&self, f: Reader) -> Vec<ListenerId>;
    /// Stops delivering chunks until [`resume`](Readable::resume).
    fn pause(&self);
    /// Delivers chunks again.
    fn resume(&self);
    /// Gives up on the source, for good (the destination failed).
    fn abort(&self);
    /// Removes a listener that [`read_into`](Readable::read_into) added.
    fn off(&self, id: ListenerId) -> bool;
}

/// A destination of bytes with backpressure, for [`pipe`].
///
/// hinge implements it for [`Socket`] and for
/// [`http::Response`](crate::http::Response).
///
/// ```
/// use hinge::{pipe::Writable, Socket};
/// fn writes<W: Writable>(_: &W) {}
/// # let lp = hinge::Loop::new()?;
/// # let sock = Socket::connect(&lp, "127.0.0.1", 9)?;
/// writes(&sock);
/// # Ok::<(), hinge::Error>(())
/// ```
pub trait Writable: Clone + 'static {
    /// Writes `data`; `Ok(false)` once the queue is above the high-water
    /// mark (the source then pauses until `drain`).
    fn write_chunk(&self, data: &[u8]) -> Result<bool>;
    /// Calls `f` on `drain`; returns the listener's id.
    fn on_writable(&self, f: Box<dyn FnMut(&Loop)>) -> ListenerId;
    /// Calls `f` if the destination goes away before it is finished;
    /// returns the listener's id.
    fn on_gone(&self, f: Box<dyn FnMut(&Loop)>) -> ListenerId;
    /// Finishes the destination once what was written is out (a socket
    /// half-closes, a response ends).
    fn finish(&self) -> Result<()>;
    /// Gives up on the destination (the source failed): what a reader
    /// of it sees must not look like a complete message.
    fn abort(&self);
    /// Removes a listener added by `on_writable` or `on_gone`.
    fn off(&self, id: ListenerId) -> bool;
}

/// The state of one pipe: the listeners to remove and the callback to
/// call, once.
struct Pipe<R, W> {
    src: R,
    dst: W,
    ids: RefCell<(Vec<ListenerId>, Vec<ListenerId>)>,
    done: Cell<Option<Done>>,
}

impl<R: Readable, W: Writable> Pipe<R, W> {
    /// Ends the pipe: its listeners go (breaking the cycles through
    /// them), then `done` runs.
    fn finish(&self, lp: &Loop, result: Result<()>) {
        let Some(done) = self.done.take() else {
            return; // already finished
        };
        let (src_ids, dst_ids) = std::mem::take(&mut *self.ids.borrow_mut());
        for id in src_ids {
            self.src.off(id);
        }
        for id in dst_ids {
            self.dst.off(id);
        }
        done(lp, result);
    }
}

/// Pipes `src` into `dst` until `src` ends, then finishes `dst`, and
/// calls `done` once: `Ok` after a clean end, `Err` if either side
/// failed, in which case the other is aborted (a socket is destroyed, a
/// response is cut short). Nothing more than the destination's
/// high-water mark is ever queued: `src` pauses whenever a write returns
/// `false` and resumes on `drain`.
///
/// An echo server that holds no more than one high-water mark per client,
/// however fast clients send and however slowly they read:
///
/// ```no_run
/// use hinge::{pipe, Loop, Server};
///
/// let lp = Loop::new()?;
/// let server = Server::new(&lp);
/// server.on_connection(|_, _, client| {
///     pipe(client, client, |_, r| {
///         if let Err(e) = r {
///             eprintln!("echo failed: {e}");
///         }
///     });
/// });
/// server.listen(4545)?;
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
///
/// An HTTP upload streamed straight back, with both sides' backpressure:
///
/// ```no_run
/// # let lp = hinge::Loop::new()?;
/// # let server = hinge::http::Server::new(&lp);
/// server.on_request(|_, _, req, res| {
///     hinge::pipe(&req, &res, |_, _| {});
/// });
/// # Ok::<(), hinge::Error>(())
/// ```
pub fn pipe<R, W>(src: &R, dst: &W, done: impl FnOnce(&Loop, Result<()>) + 'static)
where
    R: Readable,
    W: Writable,
{
    let pipe = Rc::new(Pipe {
        src: src.clone(),
        dst: dst.clone(),
        ids: RefCell::new((Vec::new(), Vec::new())),
        done: Cell::new(Some(Box::new(done))),
    });
    let p = pipe.clone();
    let drain = dst.on_writable(Box::new(move |_| p.src.resume()));
    let p = pipe.clone();
    let gone = dst.on_gone(Box::new(move |lp| {
        p.src.abort();
        p.finish(lp, Err(Error::Closed { op: "pipe" }));
    }));
    pipe.ids.borrow_mut().1 = vec![drain, gone];
    let p = pipe.clone();
    let src_ids = src.read_into(Reader::new(move |lp, flow| match flow {
        Flow::Data(bytes) => match p.dst.write_chunk(bytes) {
            Ok(true) => {}
            Ok(false) => p.src.pause(),
            Err(e) => {
                p.src.abort();
                p.finish(lp, Err(e));
            }
        },
        Flow::End => {
            let r = p.dst.finish();
            p.finish(lp, r);
        }
        Flow::Failed(e) => {
            p.dst.abort();
            p.finish(lp, Err(failure(e)));
        }
    }));
    // The source may have ended within `read_into` (a request whose body
    // was already read): then the pipe finished and these are stale.
    if pipe.done_pending() {
        pipe.ids.borrow_mut().0 = src_ids;
    } else {
        for id in src_ids {
            src.off(id);
        }
    }
}

impl<R, W> Pipe<R, W> {
    fn done_pending(&self) -> bool {
        let done = self.done.take();
        let pending = done.is_some();
        self.done.set(done);
        pending
    }
}

/// The error `done` gets for a source's failure: the source's own error
/// stays with the source's listeners; the pipe reports what happened.
fn failure(e: &Error) -> Error {
    match e {
        Error::Closed { .. } => Error::Closed { op: "pipe" },
        Error::BodyAborted { reason } => Error::BodyAborted { reason },
        other => Error::Io {
            op: "pipe",
            addr: "from its source".to_string(),
            source: std::io::Error::other(other.to_string()),
        },
    }
}

impl Readable for Socket {
    fn read_into(&self, f: Reader) -> Vec<ListenerId> {
        let (data, end, error, close) = (f.clone(), f.clone(), f.clone(), f);
        vec![
            self.on_data(move |lp, _, bytes| data.deliver(lp, Flow::Data(bytes))),
            self.on_end(move |lp, _| end.deliver(lp, Flow::End)),
            self.on_error(move |lp, _, e| error.deliver(lp, Flow::Failed(e))),
            self.on_close(move |lp, _, _| {
                // Closed before its end (an `end` or an error came first
                // otherwise, and finished the pipe).
                let e = Error::Closed { op: "pipe" };
                close.deliver(lp, Flow::Failed(&e));
            }),
        ]
    }

    fn pause(&self) {
        Socket::pause(self);
    }

    fn resume(&self) {
        Socket::resume(self);
    }

    fn abort(&self) {
        self.destroy();
    }

    fn off(&self, id: ListenerId) -> bool {
        Socket::off(self, id)
    }
}

impl Writable for Socket {
    fn write_chunk(&self, data: &[u8]) -> Result<bool> {
        self.send(data)
    }

    fn on_writable(&self, mut f: Box<dyn FnMut(&Loop)>) -> ListenerId {
        self.on_drain(move |lp, _| f(lp))
    }

    fn on_gone(&self, mut f: Box<dyn FnMut(&Loop)>) -> ListenerId {
        self.on_close(move |lp, _, _| f(lp))
    }

    fn finish(&self) -> Result<()> {
        self.end();
        Ok(())
    }

    fn abort(&self) {
        self.destroy();
    }

    fn off(&self, id: ListenerId) -> bool {
        Socket::off(self, id)
    }
}
