//! Addresses: TCP (IPv4/IPv6) or Unix-domain paths.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use socket2::SockAddr;

use crate::{Error, Result};

/// The address of a socket: an IP address and port, or a Unix path.
///
/// ```
/// use hinge::Addr;
/// let a: Addr = "127.0.0.1:80".parse::<std::net::SocketAddr>().unwrap().into();
/// assert_eq!(a.to_string(), "127.0.0.1:80");
/// assert_eq!(Addr::Unix("/tmp/s".into()).to_string(), "unix:/tmp/s");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Addr {
    /// A TCP address.
    Inet(SocketAddr),
    /// A Unix-domain socket path (empty when unnamed).
    Unix(PathBuf),
}

impl Addr {
    /// The TCP address, if this is one.
    ///
    /// ```
    /// use hinge::Addr;
    /// assert!(Addr::Unix("/x".into()).inet().is_none());
    /// ```
    pub fn inet(&self) -> Option<SocketAddr> {
        match self {
            Addr::Inet(a) => Some(*a),
            Addr::Unix(_) => None,
        }
    }

    /// The port of a TCP address (0 for Unix sockets).
    ///
    /// ```
    /// let a = hinge::Addr::Inet("[::1]:4545".parse().unwrap());
    /// assert_eq!(a.port(), 4545);
    /// ```
    pub fn port(&self) -> u16 {
        self.inet().map_or(0, |a| a.port())
    }

    pub(crate) fn from_sock(addr: &SockAddr) -> Addr {
        match addr.as_socket() {
            Some(a) => Addr::Inet(canonical(a)),
            None => Addr::Unix(
                addr.as_pathname()
                    .map(|p| p.to_path_buf())
                    .unwrap_or_default(),
            ),
        }
    }
}

/// `::ffff:1.2.3.4` (an IPv4 peer on a dual-stack socket) as `1.2.3.4`.
fn canonical(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => a,
        },
        v4 => v4,
    }
}

impl From<SocketAddr> for Addr {
    fn from(a: SocketAddr) -> Addr {
        Addr::Inet(a)
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Inet(a) => write!(f, "{a}"),
            Addr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// A host given as an IP literal, or a name that needs resolving.
pub(crate) enum Host {
    Ip(IpAddr),
    Name(String),
}

pub(crate) fn parse_host(host: &str) -> Result<Host> {
    let trimmed = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = trimmed.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    // "300.1.2.3" is a mistyped IP address, not a host name.
    let numeric = host
        .split('.')
        .all(|label| label.bytes().all(|b| b.is_ascii_digit()));
    if valid && !numeric {
        Ok(Host::Name(host.to_string()))
    } else {
        Err(Error::InvalidAddress {
            addr: host.to_string(),
            reason: "not an IP address or host name",
        })
    }
}

/// Blocking name resolution; run it off the loop thread.
pub(crate) fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|source| Error::NameNotFound {
            host: host.to_string(),
            source,
        })?
        .collect();
    if addrs.is_empty() {
        let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses");
        return Err(Error::NameNotFound {
            host: host.to_string(),
            source,
        });
    }
    Ok(addrs)
}
