//! The HTTP/1.1 client: requests through a per-loop connection pool (an
//! [`Agent`]), in the vocabulary of Node's `http.request`.
//!
//! It shares the server's wire code (`http/proto`): one `httparse`
//! parser with RFC 9112's framing checks, one body decoder, one encoder.
//!
//! | file | concern |
//! |---|---|
//! | `mod.rs` | [`request`], [`get`], [`Upgraded`] |
//! | `request.rs` | [`ClientRequest`]: head, body with backpressure, events |
//! | `response.rs` | [`ClientResponse`]: head, body events, `collect` |
//! | `agent.rs` | [`Agent`]: the pool, its limits and queue |
//! | `conn.rs` | one connection's exchange state machine |

mod agent;
mod conn;
mod request;
mod response;

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use ::http::Method;

use crate::{Error, Event, ListenerId, Loop, Result, Socket};

pub use agent::{Agent, AgentConfig};
pub use request::ClientRequest;
pub use response::ClientResponse;

/// Starts a request for `url` (`http://` or, with the `tls` feature,
/// `https://`) through the loop's own [`Agent`]: Node's `http.request`.
///
/// Set headers, then write the body with [`write`](ClientRequest::write)
/// (backpressure: `false` means wait for
/// [`drain`](ClientRequest::on_drain)) and finish with
/// [`end`](ClientRequest::end); a request without a body is just
/// `end("")`. The head goes out with the first `write` or `end`: with a
/// Content-Length when the whole body is given to `end` (none for a GET
/// without a body), chunked otherwise, unless you set Content-Length
/// yourself. The [`response`](ClientRequest::on_response) event brings
/// the [`ClientResponse`]; failures before it come to
/// [`error`](ClientRequest::on_error), or are reported if nobody listens.
///
/// An invalid URL is an [`Error::InvalidUrl`] here, at the call.
///
/// ```no_run
/// use hinge::{http, Loop};
///
/// let lp = Loop::new()?;
/// let req = http::request(&lp, http::Method::POST, "http://127.0.0.1:8080/echo")?;
/// req.set_header("content-type", "text/plain")?;
/// req.on_response(|_, _, res| {
///     println!("{} {:?}", res.status(), res.headers());
///     res.on_data(|_, _, bytes| print!("{}", String::from_utf8_lossy(bytes)));
///     res.on_end(|_, _| println!());
/// });
/// req.on_error(|_, _, e| eprintln!("request failed: {e}"));
/// req.end("hello")?;
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
pub fn request(lp: &Loop, method: Method, url: &str) -> Result<ClientRequest> {
    Agent::of(lp).request(lp, method, url)
}

/// GETs `url` and calls `f` with the response (its body still to read)
/// or the error: the one-liner. Pair it with
/// [`ClientResponse::collect`] for the whole body.
///
/// ```no_run
/// use hinge::{http, Loop};
///
/// let lp = Loop::new()?;
/// http::get(&lp, "http://127.0.0.1:8080/hello", |_, res| match res {
///     Ok(res) => res.collect(1 << 20, |_, res, body| {
///         println!("{}: {:?}", res.status(), body.map(String::from_utf8));
///     }),
///     Err(e) => eprintln!("{e}"),
/// })?;
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
pub fn get<F>(lp: &Loop, url: &str, f: F) -> Result<ClientRequest>
where
    F: FnOnce(&Loop, Result<ClientResponse>) + 'static,
{
    let req = request(lp, Method::GET, url)?;
    type Done = Box<dyn FnOnce(&Loop, Result<ClientResponse>)>;
    let done: Rc<RefCell<Option<Done>>> = Rc::new(RefCell::new(Some(Box::new(f))));
    let d = done.clone();
    req.on_response(move |lp, _, res| {
        let f = d.borrow_mut().take();
        if let Some(f) = f {
            f(lp, Ok(res.clone()));
        }
    });
    req.on_error(move |lp, req, e| {
        let f = done.borrow_mut().take();
        match f {
            Some(f) => f(lp, Err(e.duplicate())),
            // The response's own error, with nobody listening to it.
            None => crate::report_unhandled(format_args!("http client: GET {}: {e}", req.url())),
        }
    });
    req.end("")?;
    Ok(req)
}

/// A connection handed over by a `101 Switching Protocols` response, or
/// by a 2xx response to CONNECT (a tunnel): the
/// [`upgrade`](ClientRequest::on_upgrade) event's payload. The socket is
/// yours, outside the agent; `head` holds bytes the server sent after
/// the response head, which belong to the new protocol.
///
/// ```no_run
/// use hinge::{http, Loop};
///
/// let lp = Loop::new()?;
/// let req = http::request(&lp, http::Method::GET, "http://127.0.0.1:8080/chat")?;
/// req.set_header("connection", "upgrade")?;
/// req.set_header("upgrade", "my-protocol")?;
/// req.on_upgrade(|_, _, up| {
///     println!("{} bytes already here", up.head.len());
///     up.socket.on_data(|_, _, bytes| println!("{bytes:?}"));
///     let _ = up.socket.send("hello over the new protocol");
/// });
/// req.end("")?;
/// lp.run();
/// # Ok::<(), hinge::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Upgraded {
    /// The 101 (or the CONNECT's 2xx) response head.
    pub response: ClientResponse,
    /// The connection, now the caller's.
    pub socket: Socket,
    /// Bytes after the response head.
    pub head: Vec<u8>,
}
