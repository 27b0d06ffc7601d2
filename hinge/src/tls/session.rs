//! A TLS session as a socket's [`Layer`]: rustls' state machine fed with
//! the socket's wire bytes, its records written with the socket's queue.

use std::io::{self, Read, Write};

use rustls::pki_types::CertificateDer;

use crate::{Decoded, Error, Layer, Result};

/// A socket's TLS session: a rustls connection as the socket's
/// [`Layer`]. [`Socket::connect_tls`](crate::Socket::connect_tls) and
/// [`Server::set_tls`](crate::Server::set_tls) install one; read what it
/// negotiated with [`Socket::tls_info`](crate::Socket::tls_info).
///
/// ```
/// use std::sync::Arc;
/// use hinge::tls::{self, Session};
///
/// let lp = hinge::Loop::new()?;
/// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
/// let s = hinge::Socket::from_unix_stream(&lp, a)?;
/// let config = tls::client_config();
/// s.set_layer(Session::client(config, "example.com", "example.com")?)?; // sends a ClientHello
/// assert!(!s.is_secure()); // until the handshake is done
/// # Ok::<(), hinge::Error>(())
/// ```
pub struct Session {
    conn: rustls::Connection,
    /// Wire bytes rustls could not take yet (its plaintext buffer was
    /// full); empty, and unallocated, in the usual case.
    stash: Vec<u8>,
    /// The peer, for errors.
    addr: String,
    handshake_timeout: Option<std::time::Duration>,
    /// Whether the peer sent anything at all.
    heard: bool,
}

impl Session {
    /// A client session for `server_name` (checked against the server's
    /// certificate), with `addr` naming the peer in errors.
    ///
    /// ```
    /// let session = hinge::tls::Session::client(hinge::tls::client_config(), "localhost", "127.0.0.1:4443")?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn client(
        config: std::sync::Arc<rustls::ClientConfig>,
        server_name: &str,
        addr: impl Into<String>,
    ) -> Result<Session> {
        let addr = addr.into();
        let name =
            rustls::pki_types::ServerName::try_from(server_name.to_string()).map_err(|_| {
                Error::InvalidAddress {
                    addr: server_name.to_string(),
                    reason: "not a valid TLS server name (a DNS name or an IP address)",
                }
            })?;
        let conn = rustls::ClientConnection::new(config, name).map_err(|e| Error::Tls {
            op: "connect",
            addr: addr.clone(),
            source: e,
        })?;
        Ok(Session::new(conn.into(), addr))
    }

    /// A server session, with `addr` naming the peer in errors.
    ///
    /// ```no_run
    /// let config = hinge::tls::server_config("cert.pem", "key.pem")?;
    /// let session = hinge::tls::Session::server(config, "client")?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn server(
        config: std::sync::Arc<rustls::ServerConfig>,
        addr: impl Into<String>,
    ) -> Result<Session> {
        let addr = addr.into();
        let conn = rustls::ServerConnection::new(config).map_err(|e| Error::Tls {
            op: "accept",
            addr: addr.clone(),
            source: e,
        })?;
        Ok(Session::new(conn.into(), addr))
    }

    fn new(mut conn: rustls::Connection, addr: String) -> Session {
        // What is sent before the handshake ends waits in the socket
        // (counted by its backpressure), not in rustls: no limit here.
        conn.set_buffer_limit(None);
        Session {
            conn,
            stash: Vec::new(),
            addr,
            handshake_timeout: Some(super::DEFAULT_HANDSHAKE_TIMEOUT),
            heard: false,
        }
    }

    /// How long the handshake may take once the session is in its socket
    /// (default [`DEFAULT_HANDSHAKE_TIMEOUT`](super::DEFAULT_HANDSHAKE_TIMEOUT));
    /// `None` for no limit.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let session = hinge::tls::Session::client(hinge::tls::client_config(), "localhost", "peer")?
    ///     .with_handshake_timeout(Some(Duration::from_secs(3)));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn with_handshake_timeout(mut self, timeout: Option<std::time::Duration>) -> Session {
        self.handshake_timeout = timeout;
        self
    }

    /// The rustls connection, to read what it negotiated.
    ///
    /// ```
    /// let session = hinge::tls::Session::client(hinge::tls::client_config(), "localhost", "peer")?;
    /// assert!(session.connection().is_handshaking());
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn connection(&self) -> &rustls::Connection {
        &self.conn
    }

    /// What the handshake settled.
    ///
    /// ```
    /// let session = hinge::tls::Session::client(hinge::tls::client_config(), "localhost", "peer")?;
    /// assert_eq!(session.info().version, None); // no handshake yet
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn info(&self) -> TlsInfo {
        let server_name = match &self.conn {
            rustls::Connection::Server(s) => s.server_name().map(str::to_string),
            rustls::Connection::Client(_) => None,
        };
        TlsInfo {
            version: self.conn.protocol_version(),
            alpn: self.conn.alpn_protocol().map(<[u8]>::to_vec),
            server_name,
            cipher_suite: self.conn.negotiated_cipher_suite(),
            peer_certificates: self
                .conn
                .peer_certificates()
                .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
        }
    }

    fn error(&self, op: &'static str, source: rustls::Error) -> Error {
        Error::Tls {
            op,
            addr: self.addr.clone(),
            source,
        }
    }

    /// Feeds `wire` to rustls as far as it takes it; returns the rest
    /// (rustls stops taking bytes while its plaintext buffer is full).
    fn feed<'a>(&mut self, mut wire: &'a [u8]) -> Result<&'a [u8]> {
        while !wire.is_empty() {
            match self.conn.read_tls(&mut wire) {
                // The peer's close_notify: nothing after it counts.
                Ok(0) => return Ok(&[]),
                Ok(_) => {
                    let op = if self.conn.is_handshaking() {
                        "handshake"
                    } else {
                        "read"
                    };
                    if let Err(e) = self.conn.process_new_packets() {
                        return Err(self.error(op, e));
                    }
                }
                // A record too large for its buffer: the peer broke the
                // protocol.
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    return Err(self.error("read", rustls::Error::General(e.to_string())));
                }
                // Its plaintext buffer is full: keep the rest for later.
                Err(_) => break,
            }
        }
        Ok(wire)
    }

    /// Feeds what was stashed; whether rustls took any of it.
    fn feed_stash(&mut self) -> Result<bool> {
        let mut stash = std::mem::take(&mut self.stash);
        let before = stash.len();
        let rest = self.feed(&stash)?.len();
        stash.drain(..before - rest);
        self.stash = stash;
        Ok(rest < before)
    }
}

/// Wire bytes a session keeps unread at most: a socket stops reading
/// while its user pauses it, so only a peer that rustls refuses to decode
/// could reach this.
const STASH_LIMIT: usize = 1 << 20;

impl Layer for Session {
    fn receive(&mut self, wire: &[u8]) -> Result<()> {
        self.heard |= !wire.is_empty();
        if self.stash.is_empty() {
            let rest = self.feed(wire)?;
            self.stash.extend_from_slice(rest);
        } else {
            self.stash.extend_from_slice(wire);
            self.feed_stash()?;
        }
        if self.stash.len() > STASH_LIMIT {
            let why = "the peer sent more than can be decoded".to_string();
            return Err(self.error("read", rustls::Error::General(why)));
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<Decoded> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(0) if !buf.is_empty() => return Ok(Decoded::End),
                Ok(n) => return Ok(Decoded::Bytes(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.stash.is_empty() || !self.feed_stash()? {
                        return Ok(Decoded::Empty);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(Error::Truncated {
                        addr: self.addr.clone(),
                    })
                }
                Err(e) => return Err(Error::from_io("read", &self.addr, e)),
            }
        }
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.conn
            .writer()
            .write_all(data)
            .map_err(|e| Error::from_io("write", &self.addr, e))
    }

    fn output(&mut self, wire: &mut dyn io::Write) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(wire)?;
        }
        Ok(())
    }

    fn end(&mut self) {
        self.conn.send_close_notify();
    }

    fn eof(&mut self) -> Result<()> {
        if !self.heard {
            // A connection closed before its first byte (a health check,
            // a port scan) never started a TLS session: no error.
            return Ok(());
        }
        if self.conn.is_handshaking() {
            return Err(self.error(
                "handshake",
                rustls::Error::General(
                    "the peer closed the connection during the handshake".into(),
                ),
            ));
        }
        Err(Error::Truncated {
            addr: self.addr.clone(),
        })
    }

    fn is_ready(&self) -> bool {
        !self.conn.is_handshaking()
    }

    fn handshake_timeout(&self) -> Option<std::time::Duration> {
        self.handshake_timeout
    }
}

/// What a TLS handshake settled, from
/// [`Socket::tls_info`](crate::Socket::tls_info).
///
/// ```
/// let info = hinge::tls::TlsInfo::default();
/// assert!(info.alpn.is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct TlsInfo {
    /// TLS 1.2 or 1.3 (`None` before the handshake).
    pub version: Option<rustls::ProtocolVersion>,
    /// The ALPN protocol agreed on (`b"http/1.1"`, `b"h2"`), if any.
    pub alpn: Option<Vec<u8>>,
    /// The name the client asked for (SNI), on a server's socket.
    pub server_name: Option<String>,
    /// The cipher suite.
    pub cipher_suite: Option<rustls::SupportedCipherSuite>,
    /// The peer's certificate chain, its own first (a server's, or a
    /// client's under mutual TLS); empty if it sent none.
    pub peer_certificates: Vec<CertificateDer<'static>>,
}
