//! Line-oriented protocols: a splitter with a bound on line length.

use crate::{Error, Loop, Result, Socket};

/// Splits a byte stream into lines, holding at most `max_line` bytes of an
/// unfinished line. Lines end at `\n`; a `\r` before it is dropped too.
/// Lines that arrive whole are handed out straight from the input, so only
/// a line split across reads is copied.
///
/// ```
/// let mut lines = hinge::LineSplitter::new(16);
/// let mut got = Vec::new();
/// lines.feed(b"PING\r\nPO", |l| got.push(l.to_vec()))?;
/// lines.feed(b"NG\n", |l| got.push(l.to_vec()))?;
/// assert_eq!(got, [b"PING".to_vec(), b"PONG".to_vec()]);
/// assert!(lines.feed(&[b'x'; 17], |_| {}).is_err()); // over the limit
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LineSplitter {
    partial: Vec<u8>,
    max_line: usize,
    /// After a line over the limit: its rest is skipped up to its `\n`,
    /// so that the tail of a long line never passes for a line of its own.
    skipping: bool,
}

impl LineSplitter {
    /// A splitter for lines of at most `max_line` bytes (not counting the
    /// line ending).
    ///
    /// ```
    /// let lines = hinge::LineSplitter::new(1024);
    /// assert!(lines.pending().is_empty());
    /// ```
    pub fn new(max_line: usize) -> LineSplitter {
        LineSplitter {
            partial: Vec::new(),
            max_line,
            skipping: false,
        }
    }

    /// Feeds `data`, calling `line` with each complete line. A line longer
    /// than the limit is an [`Error::LineTooLong`]; the lines before it
    /// were delivered, and the rest of the long line, up to its `\n`, is
    /// skipped if feeding goes on.
    ///
    /// ```
    /// let mut lines = hinge::LineSplitter::new(8);
    /// let mut n = 0;
    /// lines.feed(b"a\nb\nc", |_| n += 1)?;
    /// assert_eq!(n, 2);
    /// assert_eq!(lines.pending(), b"c");
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn feed(&mut self, mut data: &[u8], mut line: impl FnMut(&[u8])) -> Result<()> {
        if self.skipping {
            match data.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    self.skipping = false;
                    data = &data[end + 1..];
                }
                None => return Ok(()),
            }
        }
        while let Some(end) = data.iter().position(|&b| b == b'\n') {
            let (head, rest) = (&data[..end], &data[end + 1..]);
            data = rest;
            if self.partial.is_empty() {
                line(self.check(trim_cr(head))?);
            } else {
                self.partial.extend_from_slice(head);
                let whole = std::mem::take(&mut self.partial);
                let result = self.check(trim_cr(&whole)).map(&mut line);
                self.partial = whole;
                self.partial.clear();
                result?;
            }
        }
        // An unfinished line: keep it, if it fits (a final `\r` may be the
        // start of its `\r\n`, so it does not count).
        let cr = data.last().or(self.partial.last()) == Some(&b'\r');
        if self.partial.len() + data.len() > self.max_line.saturating_add(usize::from(cr)) {
            self.partial.clear();
            self.skipping = true;
            return Err(Error::LineTooLong { max: self.max_line });
        }
        self.partial.extend_from_slice(data);
        Ok(())
    }

    /// The bytes of the unfinished line.
    ///
    /// ```
    /// let mut lines = hinge::LineSplitter::new(8);
    /// lines.feed(b"abc", |_| {})?;
    /// assert_eq!(lines.pending(), b"abc");
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn pending(&self) -> &[u8] {
        &self.partial
    }

    fn check<'a>(&mut self, line: &'a [u8]) -> Result<&'a [u8]> {
        if line.len() > self.max_line {
            self.partial.clear();
            return Err(Error::LineTooLong { max: self.max_line });
        }
        Ok(line)
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

impl Socket {
    /// Runs `f` with each line received (without its `\n` or `\r\n`), for
    /// line-oriented protocols. A line longer than `max_line` bytes is an
    /// [`Error::LineTooLong`] on the socket's `error` event, and the socket
    /// closes: memory stays bounded whatever the peer sends.
    ///
    /// ```no_run
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::Server::new(&lp);
    /// server.on_connection(|_, _, client| {
    ///     client.on_line(1024, |_, client, line| {
    ///         if line == b"PING" {
    ///             client.send("PONG\n").ok();
    ///         }
    ///     });
    /// });
    /// server.listen(4545)?;
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn on_line<F>(&self, max_line: usize, mut f: F) -> crate::ListenerId
    where
        F: FnMut(&Loop, &Socket, &[u8]) + 'static,
    {
        let mut lines = LineSplitter::new(max_line);
        self.on_data(move |lp, sock, data| {
            let fed = lines.feed(data, |line| {
                if !sock.is_closed() {
                    f(lp, sock, line)
                }
            });
            if let Err(e) = fed {
                sock.fail(lp, e);
            }
        })
    }
}
