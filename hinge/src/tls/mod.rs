//! TLS with rustls: encrypted sockets and servers, and HTTPS from
//! [`http::Server`](crate::http::Server).
//!
//! A TLS socket is an ordinary [`Socket`]: a [`Session`] sits in it as its
//! [`Layer`](crate::Layer), so `data` carries plaintext, `send` encrypts,
//! and `drain`, `end`, `close`, timeouts, `pause`/`resume` and the async
//! traits work as on a plain socket. On top of that:
//!
//! - `secure` ([`Socket::on_secure`]) is emitted when the handshake is
//!   done; [`Socket::tls_info`] then tells the version, ALPN protocol, SNI
//!   name and peer certificates. What is sent before waits for it.
//! - A handshake must finish within [`DEFAULT_HANDSHAKE_TIMEOUT`] (10 s),
//!   or the socket fails with [`Error::TimedOut`](crate::Error::TimedOut);
//!   change it per socket with
//!   [`set_handshake_timeout`](Socket::set_handshake_timeout).
//! - `end()` sends `close_notify` before the FIN. The peer's
//!   `close_notify` is `end`; a connection cut without it is an
//!   [`Error::Truncated`](crate::Error::Truncated), and a protocol failure
//!   an [`Error::Tls`](crate::Error::Tls), both through `error` (or the
//!   unhandled-error report).
//! - Backpressure counts encrypted bytes: `send` returns false once they
//!   (and what waits for the handshake) pass the high-water mark, and
//!   `drain` comes once they reached the kernel.
//!
//! The configurations are rustls' own; [`server_config`],
//! [`sni_server_config`], [`server_config_mtls`], [`client_config`] and
//! [`client_config_with_ca`] build the usual ones from PEM files, on the
//! aws-lc-rs provider. Certificate checks can be turned off only through
//! rustls' own `dangerous()` API.
//!
//! A TLS echo server:
//!
//! ```no_run
//! use hinge::{Loop, Server};
//!
//! let lp = Loop::new()?;
//! let server = Server::new(&lp);
//! server.set_tls(hinge::tls::server_config("cert.pem", "key.pem")?);
//! server.on_connection(|_, _, sock| {
//!     sock.on_data(|_, s, bytes| {
//!         s.send(bytes).ok();
//!     });
//! });
//! server.listen(4443)?;
//! lp.run();
//! # Ok::<(), hinge::Error>(())
//! ```
//!
//! A client:
//!
//! ```no_run
//! use hinge::{Loop, Socket};
//!
//! let lp = Loop::new()?;
//! let s = Socket::connect_tls(&lp, "example.com", 443, hinge::tls::client_config())?;
//! s.send("GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")?;
//! s.on_data(|_, _, bytes| print!("{}", String::from_utf8_lossy(bytes)));
//! s.on_error(|_, _, e| eprintln!("{e}"));
//! lp.run();
//! # Ok::<(), hinge::Error>(())
//! ```

mod config;
mod session;

use std::sync::Arc;
use std::time::Duration;

pub use config::{
    client_config, client_config_with_ca, load_certs, load_key, provider, server_config,
    server_config_mtls, sni_server_config,
};
/// The rustls crate hinge uses, for its configuration types.
pub use rustls;
pub use session::{Session, TlsInfo};

use crate::{Loop, Result, Server, Socket};

/// How long a TLS handshake may take before the socket fails with
/// [`Error::TimedOut`](crate::Error::TimedOut).
///
/// ```
/// assert_eq!(hinge::tls::DEFAULT_HANDSHAKE_TIMEOUT.as_secs(), 10);
/// ```
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl Socket {
    /// Connects to `host:port` and speaks TLS: the server's certificate
    /// must be valid for `host` by `config`'s roots
    /// ([`client_config`]: the webpki roots). `send` may be called at
    /// once; the bytes wait for the handshake. `connect` is emitted when
    /// TCP connects, `secure` when the handshake is done.
    ///
    /// ```no_run
    /// let lp = hinge::Loop::new()?;
    /// let s = hinge::Socket::connect_tls(&lp, "example.com", 443, hinge::tls::client_config())?;
    /// s.on_secure(|_, s| println!("{:?}", s.tls_info().unwrap().version));
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn connect_tls(
        lp: &Loop,
        host: &str,
        port: u16,
        config: Arc<rustls::ClientConfig>,
    ) -> Result<Socket> {
        Socket::connect_tls_as(lp, host, port, host, config)
    }

    /// [`connect_tls`](Socket::connect_tls) to `host`, checking the
    /// certificate for `server_name` instead (and sending it as SNI): to
    /// reach a name through an address.
    ///
    /// ```no_run
    /// let lp = hinge::Loop::new()?;
    /// let config = hinge::tls::client_config_with_ca("ca.pem")?;
    /// let s = hinge::Socket::connect_tls_as(&lp, "127.0.0.1", 4443, "localhost", config)?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn connect_tls_as(
        lp: &Loop,
        host: &str,
        port: u16,
        server_name: &str,
        config: Arc<rustls::ClientConfig>,
    ) -> Result<Socket> {
        let session = Session::client(config, server_name, format!("{host}:{port}"))?;
        let s = Socket::connect(lp, host, port)?;
        s.set_layer(session)?;
        Ok(s)
    }

    /// What this socket's TLS handshake settled (`None` without TLS; the
    /// fields are empty until `secure`).
    ///
    /// ```
    /// let lp = hinge::Loop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let s = hinge::Socket::from_unix_stream(&lp, a)?;
    /// assert!(s.tls_info().is_none());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn tls_info(&self) -> Option<TlsInfo> {
        self.with_layer(|s: &mut Session| s.info())
    }
}

impl Server {
    /// Serves TLS with `config` on every connection accepted from now on
    /// (see [`server_config`]); each handshake must finish within
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`] (a `connection` listener may set
    /// another with [`Socket::set_handshake_timeout`]).
    ///
    /// ```no_run
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::Server::new(&lp);
    /// server.set_tls(hinge::tls::server_config("cert.pem", "key.pem")?);
    /// server.listen(4443)?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_tls(&self, config: Arc<rustls::ServerConfig>) {
        self.set_layer(move |s: &Socket| {
            let peer = s.peer_addr().map_or_else(String::new, |a| a.to_string());
            Session::server(config.clone(), peer)
        });
    }
}
