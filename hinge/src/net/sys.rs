//! Socket creation, once for servers and clients alike: non-blocking,
//! close-on-exec stream sockets, and Unix-domain addresses.

use std::io;
use std::net::SocketAddr;
use std::path::Path;

use socket2::{Domain, SockAddr, Type};

use crate::{Error, Result};

/// A non-blocking, close-on-exec stream socket for `addr`'s family.
pub(crate) fn inet_stream(addr: &SocketAddr) -> io::Result<socket2::Socket> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    socket2::Socket::new(domain, Type::STREAM.nonblocking().cloexec(), None)
}

/// A non-blocking, close-on-exec Unix-domain stream socket.
pub(crate) fn unix_stream() -> io::Result<socket2::Socket> {
    socket2::Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)
}

/// `path` as a Unix socket address, or a typed error (too long, or a NUL).
pub(crate) fn unix_addr(path: &Path) -> Result<SockAddr> {
    SockAddr::unix(path).map_err(|_| Error::InvalidAddress {
        addr: path.display().to_string(),
        reason: "not a valid Unix socket path",
    })
}
