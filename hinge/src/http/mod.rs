//! HTTP/1.1 on hinge's sockets, in the vocabulary of Node's `http`
//! module: a [`Server`] whose [`on_request`](Server::on_request) handler
//! gets a [`Request`] and a [`Response`], and a client: [`request`] and
//! [`get`] send a [`ClientRequest`] through a loop's connection pool (an
//! [`Agent`]) and bring back a [`ClientResponse`]. Both use one parser
//! and one encoder (the crate's `http/proto`).
//!
//! It is a protocol layer on hinge's public API (the way hyper's
//! `proto/h1` sits on its I/O): `net` knows nothing of HTTP. Parsing is
//! `httparse`'s; the types at the API are the `http` crate's, re-exported
//! here ([`Method`], [`StatusCode`], [`HeaderMap`], ...).
//!
//! ```no_run
//! use hinge::{http, Loop};
//!
//! let lp = Loop::new()?;
//! let server = http::Server::new(&lp);
//! server.on_request(|_, _, req, res| match req.path() {
//!     "/" => {
//!         res.set_header("content-type", "text/plain").ok();
//!         res.end("Hello world!").ok();
//!     }
//!     _ => {
//!         res.error(404).ok();
//!     }
//! });
//! server.listen(8080)?;
//! lp.run();
//! # Ok::<(), hinge::Error>(())
//! ```
//!
//! What the server does for you:
//! - keep-alive by HTTP/1.1's rules (HTTP/1.0 only with
//!   `Connection: keep-alive`), and a graceful [`Server::close`];
//! - pipelined requests answered in order; the responses produced in one
//!   read go out in one write;
//! - request bodies by Content-Length or chunked (extensions bounded and
//!   ignored, trailers parsed and bounded), streamed with backpressure;
//! - response framing: Content-Length when the body is known at `end`,
//!   chunked otherwise, never chunked to HTTP/1.0; no body for HEAD, 1xx,
//!   204 and 304;
//! - `Expect: 100-continue` answered when the handler reads the body;
//! - the request-smuggling defences of RFC 9112 (conflicting or invalid
//!   Content-Length, Transfer-Encoding with Content-Length or on
//!   HTTP/1.0 or not ending in chunked, bare CR, missing Host), each
//!   answered 400 and closed;
//! - the limits and timeouts of [`Config`] (431, 414, 413, 408).

mod client;
mod config;
mod conn;
mod pipe;
mod proto;
mod request;
mod response;
mod server;

pub use client::{get, request, Agent, AgentConfig, ClientRequest, ClientResponse, Upgraded};
pub use config::{Config, MAX_HEADERS_CAP};
pub use request::Request;
pub use response::Response;
pub use server::Server;

pub use ::http::header;
pub use ::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
