//! `Socket::reader`: reading with borrowed buffers (`AsyncBufRead`), so
//! that a task parked in a read holds no buffer.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_io::{AsyncBufRead, AsyncRead};

use crate::Socket;

/// The size of a reader's buffer: the loop's read size.
const BUF_SIZE: usize = 64 * 1024;
/// Free buffers a loop keeps for its readers.
const POOL_KEEP: usize = 8;

/// The loop's free read buffers.
#[derive(Default)]
struct Pool(RefCell<Vec<Box<[u8]>>>);

impl Pool {
    fn take(&self) -> Box<[u8]> {
        let free = self.0.borrow_mut().pop();
        free.unwrap_or_else(|| vec![0u8; BUF_SIZE].into_boxed_slice())
    }

    fn give(&self, buf: Box<[u8]>) {
        let mut free = self.0.borrow_mut();
        if free.len() < POOL_KEEP {
            free.push(buf);
        }
    }
}

/// A reading handle on a [`Socket`], from [`Socket::reader`], with
/// futures-io's `AsyncBufRead`: its buffer comes from a pool of the loop
/// while it holds unread bytes and goes back once they are consumed (or
/// when the read must wait). A task parked in a read therefore holds no
/// buffer: an idle connection costs the socket and the task, not 64 KiB.
/// It reads in pull mode, as `AsyncRead` on the socket does.
///
/// ```no_run
/// // An echo server's connection, as tokio's echo example writes it:
/// async fn echo(client: hinge::Socket) -> std::io::Result<u64> {
///     let mut reader = client.reader();
///     let mut writer = client;
///     futures_util::io::copy_buf(&mut reader, &mut writer).await
/// }
/// ```
pub struct Reader {
    socket: Socket,
    pool: Rc<Pool>,
    /// The borrowed buffer and its unread range.
    buf: Option<Box<[u8]>>,
    pos: usize,
    end: usize,
}

impl Socket {
    /// A reader with borrowed buffers (`AsyncBufRead`); the socket itself
    /// stays usable for writing (it is a cheap handle, like a clone).
    ///
    /// ```
    /// use futures_util::AsyncBufReadExt;
    /// use std::io::Write;
    /// let lp = hinge::Loop::new()?;
    /// let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// b.write_all(b"one line\n").unwrap();
    /// let mut line = String::new();
    /// lp.block_on(s.reader().read_line(&mut line))??;
    /// assert_eq!(line, "one line\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reader(&self) -> Reader {
        Reader {
            socket: self.clone(),
            pool: self.lp().local(Pool::default),
            buf: None,
            pos: 0,
            end: 0,
        }
    }
}

impl Reader {
    /// The socket read from.
    ///
    /// ```
    /// # let lp = hinge::Loop::new()?;
    /// # let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// assert!(s.reader().socket() == &s);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    fn release(&mut self) {
        self.pos = 0;
        self.end = 0;
        if let Some(buf) = self.buf.take() {
            self.pool.give(buf);
        }
    }
}

impl AsyncBufRead for Reader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let me = self.get_mut();
        if me.pos == me.end {
            // Parks without taking a buffer when nothing can be read.
            if me.socket.poll_read_ready(cx).is_pending() {
                return Poll::Pending;
            }
            let mut buf = me.buf.take().unwrap_or_else(|| me.pool.take());
            match me.socket.poll_read_bytes(cx, &mut buf) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    me.buf = Some(buf);
                    me.pos = 0;
                    me.end = n;
                }
                other => {
                    // Waiting, ended or failed: nothing to hold on to.
                    me.pool.give(buf);
                    return other.map(|r| r.map(|_| &[][..]));
                }
            }
        }
        match &me.buf {
            Some(buf) => Poll::Ready(Ok(&buf[me.pos..me.end])),
            None => Poll::Ready(Ok(&[])),
        }
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let me = self.get_mut();
        me.pos = (me.pos + amt).min(me.end);
        if me.pos == me.end {
            me.release();
        }
    }
}

impl AsyncRead for Reader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        if me.pos == me.end {
            // Nothing buffered: straight into the caller's buffer.
            return me.socket.poll_read_bytes(cx, out);
        }
        let buf = me.buf.as_ref().map_or(&[][..], |b| &b[me.pos..me.end]);
        let n = buf.len().min(out.len());
        out[..n].copy_from_slice(&buf[..n]);
        Pin::new(me).consume(n);
        Poll::Ready(Ok(n))
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.release();
    }
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("socket", &self.socket)
            .field("buffered", &(self.end - self.pos))
            .finish()
    }
}
