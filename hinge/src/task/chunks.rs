//! Any [`Readable`](crate::pipe::Readable) source (a socket, an HTTP
//! request body) as a `Stream` of chunks, with flow control.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use crate::pipe::{Flow, Readable, Reader};
use crate::{Error, ListenerId, Result};

/// Bytes a [`Chunks`] stream holds before it pauses its source.
const HOLD: usize = 64 * 1024;

#[derive(Default)]
struct State {
    chunks: VecDeque<Vec<u8>>,
    held: usize,
    /// The end (`None` inside: clean) once the source is done.
    end: Option<Option<Error>>,
    waker: Option<Waker>,
    paused: bool,
}

/// The stream of [`chunks`]: each chunk the source emitted, copied; then
/// `None` at its end, or one `Err` if it failed first.
///
/// ```
/// use futures_util::StreamExt;
/// use std::io::Write;
/// let lp = hinge::Loop::new()?;
/// let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
/// let s = hinge::Socket::from_unix_stream(&lp, a)?;
/// b.write_all(b"some bytes").unwrap();
/// drop(b);
/// let mut chunks: hinge::task::Chunks<hinge::Socket> = hinge::task::chunks(&s);
/// let first = lp.block_on(chunks.next())?.unwrap()?;
/// assert_eq!(first, b"some bytes");
/// # Ok::<(), hinge::Error>(())
/// ```
#[must_use = "a Chunks stream reads nothing unless polled"]
pub struct Chunks<R: Readable> {
    source: R,
    state: Rc<RefCell<State>>,
    listeners: Vec<ListenerId>,
}

/// Reads `source` as a stream of chunks: an HTTP request body
/// ([`http::Request`](crate::http::Request)) or a socket, from a task.
/// While the stream holds 64 KiB nobody took, the source is paused (its
/// sender is held back); dropping the stream lets go of the source.
///
/// ```no_run
/// use futures_util::StreamExt;
/// let lp = hinge::Loop::new()?;
/// let server = hinge::http::Server::new(&lp);
/// let h = lp.handle();
/// server.on_request(move |_, _, req, res| {
///     h.spawn_local(async move {
///         let mut body = hinge::task::chunks(&req);
///         let mut total = 0;
///         while let Some(chunk) = body.next().await {
///             match chunk {
///                 Ok(bytes) => total += bytes.len(),
///                 Err(_) => return, // the client went away
///             }
///         }
///         res.end(format!("{total} bytes\n")).ok();
///     })
///     .detach();
/// });
/// server.listen(8080)?;
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
pub fn chunks<R: Readable>(source: &R) -> Chunks<R> {
    let state = Rc::new(RefCell::new(State::default()));
    let s = state.clone();
    let src = source.clone();
    let reader = Reader::new(move |_, flow| {
        let waker = {
            let mut st = s.borrow_mut();
            match flow {
                Flow::Data(bytes) => {
                    st.held += bytes.len();
                    st.chunks.push_back(bytes.to_vec());
                    if st.held >= HOLD && !st.paused {
                        st.paused = true;
                        src.pause();
                    }
                }
                Flow::End => st.end = Some(None),
                Flow::Failed(e) => st.end = Some(Some(e.duplicate())),
            }
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    });
    let listeners = source.read_into(reader);
    Chunks {
        source: source.clone(),
        state,
        listeners,
    }
}

impl<R: Readable> Stream for Chunks<R> {
    type Item = Result<Vec<u8>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Vec<u8>>>> {
        let mut st = self.state.borrow_mut();
        if let Some(chunk) = st.chunks.pop_front() {
            st.held -= chunk.len();
            if st.paused && st.held < HOLD / 2 {
                st.paused = false;
                drop(st);
                self.source.resume();
            }
            return Poll::Ready(Some(Ok(chunk)));
        }
        match st.end.take() {
            Some(Some(e)) => {
                st.end = Some(None); // one error, then the end
                Poll::Ready(Some(Err(e)))
            }
            Some(None) => {
                st.end = Some(None);
                Poll::Ready(None)
            }
            None => {
                st.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<R: Readable> Drop for Chunks<R> {
    fn drop(&mut self) {
        for id in self.listeners.drain(..) {
            self.source.off(id);
        }
        if self.state.borrow().paused {
            self.source.resume();
        }
    }
}

impl<R: Readable> fmt::Debug for Chunks<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("Chunks")
            .field("held", &st.held)
            .field("ended", &st.end.is_some())
            .finish()
    }
}
