//! The limits and timeouts of an HTTP server, with safe defaults.

use std::time::Duration;

/// The most header lines a request may carry, whatever
/// [`Config::max_headers`] says (the parser's slots live on the stack).
pub const MAX_HEADERS_CAP: usize = 256;

/// Limits and timeouts of an [`http::Server`](crate::http::Server).
///
/// Every limit is answered the way RFC 9110 says and the connection is
/// then closed gracefully (the client reads the answer, not a reset).
/// The defaults suit a public server; raise them deliberately.
///
/// | setting | default | when exceeded |
/// |---|---|---|
/// | `max_head_bytes` | 16 KiB | 431 |
/// | `max_headers` | 100 | 431 |
/// | `max_uri_bytes` | 8 KiB | 414 |
/// | `max_body_bytes` | 64 MiB | 413 |
/// | `max_chunk_ext_bytes` | 1 KiB per chunk | 400 |
/// | `max_requests_per_connection` | 10 000 | the last response says `Connection: close` |
/// | `headers_timeout` | 60 s | 408 (slowloris) |
/// | `keep_alive_timeout` | 5 s | the idle connection is closed |
/// | `body_timeout` | 30 s without body bytes | 408, or the connection is dropped |
/// | `send_timeout` | 60 s without write progress | the connection is dropped |
/// | `response_timeout` | none (off) | 503 if the head was not sent, else the connection is closed |
/// | `high_water` | 16 KiB of queued output | `Response::write` returns `false` |
///
/// Timeouts are checked by one timer per server every `check_interval`
/// (1 s), against the loop's cached time: a request costs no syscall for
/// them, and a deadline is honoured to within `check_interval`.
///
/// ```
/// use std::time::Duration;
/// let mut config = hinge::http::Config::default();
/// config.max_body_bytes = 1 << 20;
/// config.keep_alive_timeout = Duration::from_secs(15);
/// let lp = hinge::Loop::new()?;
/// let server = hinge::http::Server::with_config(&lp, config);
/// # drop(server);
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Bytes of a request head (request line and headers), and of a
    /// chunked body's trailers.
    pub max_head_bytes: usize,
    /// Header lines in a request (at most [`MAX_HEADERS_CAP`]).
    pub max_headers: usize,
    /// Bytes of the request target.
    pub max_uri_bytes: usize,
    /// Bytes of one request body, declared or streamed.
    pub max_body_bytes: u64,
    /// Bytes of one chunk's extensions, which are otherwise ignored.
    pub max_chunk_ext_bytes: usize,
    /// Requests served on one connection; `None` for no limit.
    pub max_requests_per_connection: Option<u32>,
    /// How long a request head may take to arrive, from its first byte
    /// (or from the connection's start, for the first request).
    pub headers_timeout: Duration,
    /// How long a connection may sit idle between requests.
    pub keep_alive_timeout: Duration,
    /// How long a request body may go without a byte arriving.
    pub body_timeout: Duration,
    /// How long queued response bytes may wait without any reaching the
    /// kernel (a client that stops reading).
    pub send_timeout: Duration,
    /// How long a handler may take to end its response, from the moment
    /// the request head arrived. Off (`None`) by default: a response
    /// that is kept and never ended then holds its client until the
    /// client gives up (the server does not know how long a slow answer,
    /// or a long poll, should take). When set and exceeded, the client
    /// gets `503 Service Unavailable` if no head was sent yet, or a
    /// close after what was written otherwise; the response gets
    /// `close`, and the timeout goes to
    /// [`on_client_error`](crate::http::Server::on_client_error) as an
    /// [`Error::BadRequest`](crate::Error::BadRequest) with status 503.
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut config = hinge::http::Config::default();
    /// config.response_timeout = Some(Duration::from_secs(30));
    /// # let lp = hinge::Loop::new()?;
    /// # let _server = hinge::http::Server::with_config(&lp, config);
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub response_timeout: Option<Duration>,
    /// How long a connection answered with an error keeps reading (and
    /// discarding) after its answer, so that the client sees the answer.
    pub linger: Duration,
    /// How often the server checks its connections' deadlines.
    pub check_interval: Duration,
    /// Keep answering a client that half-closed (shut down its sending
    /// side) with a request in flight. Off by default, as in Node: such a
    /// request is abandoned (its response gets `close`), which is how a
    /// server learns promptly that a waiting client went away.
    pub allow_half_open: bool,
    /// Response bytes queued for one connection above which
    /// [`Response::write`](crate::http::Response::write) returns `false`.
    pub high_water: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_uri_bytes: 8 * 1024,
            max_body_bytes: 64 * 1024 * 1024,
            max_chunk_ext_bytes: 1024,
            max_requests_per_connection: Some(10_000),
            headers_timeout: Duration::from_secs(60),
            keep_alive_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(60),
            response_timeout: None,
            linger: Duration::from_secs(2),
            check_interval: Duration::from_secs(1),
            allow_half_open: false,
            high_water: 16 * 1024,
        }
    }
}
