//! Shared helpers for the benchmark binaries: the listening socket every
//! Rust peer server uses, the load generator's payload ([`pattern`]) and
//! its view of the server under test ([`procfs`]).
//!
//! The crate is a tool box, not a library anyone depends on; see
//! `bench/README.md` for what each binary does and how `run.sh` uses them.

pub mod pattern;
pub mod procfs;
pub mod report;
pub mod tls;

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Socket, Type};

/// The listen backlog of every peer server (hinge's `Server` default).
pub const BACKLOG: i32 = 1024;

/// The read buffer size of every peer server (hinge's `READ_BUF`).
pub const READ_BUF: usize = 64 * 1024;

/// A non-blocking listener on `[::]:port` dual-stack, or `0.0.0.0:port`
/// without IPv6, with `SO_REUSEADDR`: what hinge's `Server::listen` does.
pub fn listen(port: u16) -> io::Result<std::net::TcpListener> {
    let any6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
    let sock = match bind(any6) {
        Ok(sock) => sock,
        Err(_) => bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))?,
    };
    sock.listen(BACKLOG)?;
    Ok(sock.into())
}

fn bind(addr: SocketAddr) -> io::Result<Socket> {
    let sock = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        None,
    )?;
    if addr.is_ipv6() {
        sock.set_only_v6(false)?;
    }
    sock.set_reuse_address(true)?;
    // Accepted connections inherit TCP_NODELAY from the listener: every
    // peer gets the same socket options (bench/run.sh sets ECHO_NODELAY).
    sock.set_tcp_nodelay(nodelay())?;
    sock.bind(&addr.into())?;
    Ok(sock)
}

/// Whether the echo servers turn Nagle's algorithm off: `ECHO_NODELAY`
/// (1, the default, or 0), set alike for every peer by bench/run.sh.
pub fn nodelay() -> bool {
    std::env::var("ECHO_NODELAY").map_or(true, |v| v != "0")
}

/// The port from a server's first argument, or exits with a usage line.
pub fn port_arg(program: &str, extra: &str) -> u16 {
    match std::env::args().nth(1).map(|a| a.parse::<u16>()) {
        Some(Ok(port)) => port,
        _ => {
            eprintln!("usage: {program} PORT{extra}");
            std::process::exit(2);
        }
    }
}
