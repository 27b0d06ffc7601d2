//! cl-async's `tcp-async-send`: connect, send, and read, in one call.

use std::time::Duration;

use crate::{Error, Loop, Result, Socket};

/// Options for [`tcp_send`].
///
/// ```
/// use std::time::Duration;
/// let opts = hinge::SendOptions {
///     read_timeout: Some(Duration::from_secs(5)),
///     ..Default::default()
/// };
/// assert!(opts.write_timeout.is_none());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SendOptions {
    /// Fail with [`Error::TimedOut`] if the connection does not complete in time.
    pub connect_timeout: Option<Duration>,
    /// Fail with [`Error::TimedOut`] after this long without receiving data.
    ///
    /// It runs until the exchange is over, which only the caller knows:
    /// once the response is complete, call [`Socket::close`] in `on_read`.
    /// After that the timeout can only close the socket quietly (`close`
    /// with `had_error = false`), while what is queued is still being
    /// written; without it, the timeout fires `TimedOut` even after a full
    /// reply. [`Socket::end`] (a half-close, say to end a request) keeps
    /// the timeout's error: the response may still be missing.
    pub read_timeout: Option<Duration>,
    /// Fail with [`Error::TimedOut`] if `data` is not fully written in time.
    pub write_timeout: Option<Duration>,
}

/// Connects to `host:port`, sends `data`, and calls `on_read` with every
/// chunk received and `on_error` with a failure (after which the socket is
/// closed). Returns the socket, which can be reused for further sends.
/// Close it in `on_read` once the response is complete; see
/// [`SendOptions::read_timeout`].
///
/// ```no_run
/// use hinge::{tcp_send, Loop, SendOptions};
///
/// let lp = Loop::new()?;
/// tcp_send(
///     &lp,
///     "localhost",
///     4545,
///     b"hello\n",
///     SendOptions::default(),
///     |_, sock, bytes| {
///         println!("reply: {}", String::from_utf8_lossy(bytes));
///         sock.close();
///     },
///     |_, _, err| eprintln!("failed: {err}"),
/// )?;
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
pub fn tcp_send<R, E>(
    lp: &Loop,
    host: &str,
    port: u16,
    data: impl AsRef<[u8]>,
    options: SendOptions,
    on_read: R,
    on_error: E,
) -> Result<Socket>
where
    R: FnMut(&Loop, &Socket, &[u8]) + 'static,
    E: FnMut(&Loop, &Socket, &Error) + 'static,
{
    let sock = Socket::connect(lp, host, port)?;
    if let Some(t) = options.connect_timeout {
        sock.set_connect_timeout(t);
    }
    sock.on_data(on_read);
    sock.on_error(on_error);
    if let Some(t) = options.read_timeout {
        sock.set_timeout(Some(t));
        sock.on_timeout(|lp, s| {
            if s.is_closing() {
                s.destroy(); // the caller said the response was complete
            } else {
                s.fail_timed_out(lp, "read", "no data received in time");
            }
        });
    }
    sock.send(data)?;
    if let Some(t) = options.write_timeout {
        let s = sock.clone();
        lp.set_timeout(t, move |lp| {
            if !s.is_closed() && s.pending_bytes() > 0 {
                s.fail_timed_out(lp, "write", "data not written in time");
            }
        })
        .unref();
    }
    Ok(sock)
}
