//! Outgoing connections: name resolution off the loop thread, one
//! address after another, and the connect timeout.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use socket2::SockAddr;

use super::state::flag;
use super::Socket;
use crate::event_loop::Loop;
use crate::net::addr::{parse_host, resolve, Addr, Host};
use crate::net::sys;
use crate::{Error, Pool, Ready, Result, Timer};

/// Threads that resolve host names for `connect`, off every loop thread.
fn resolver() -> &'static Pool {
    static POOL: std::sync::OnceLock<Pool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| Pool::with_threads(2))
}

impl Socket {
    /// Connects to `host:port` without blocking the loop: `host` is an IP
    /// literal or a name, resolved on a background thread. The socket
    /// emits `connect`, or `error` then `close`. An invalid host string is
    /// an error here, at the call.
    ///
    /// Data sent before the connection is established is queued.
    ///
    /// ```
    /// # use hinge::{Error, Loop, Socket};
    /// let lp = Loop::new()?;
    /// assert!(matches!(Socket::connect(&lp, "not a host!", 80), Err(Error::InvalidAddress { .. })));
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn connect(lp: &Loop, host: &str, port: u16) -> Result<Socket> {
        let host = parse_host(host)?;
        let s = Socket::new(lp.core());
        s.inner.state.set(flag::CONNECTING, true);
        match host {
            Host::Ip(ip) => s.connect_next(lp, vec![SocketAddr::new(ip, port)], "connect"),
            Host::Name(name) => {
                let me = s.clone();
                resolver().submit(
                    lp,
                    move || resolve(&name, port),
                    move |lp, result| {
                        if me.is_closed() {
                            return;
                        }
                        match result {
                            Ok(Ok(addrs)) => me.connect_next(lp, addrs, "connect"),
                            Ok(Err(e)) => me.fail(lp, e),
                            Err(job) => me.fail(
                                lp,
                                Error::Io {
                                    op: "resolve",
                                    addr: format!("port {port}"),
                                    source: io::Error::other(job.to_string()),
                                },
                            ),
                        }
                    },
                );
            }
        }
        Ok(s)
    }

    /// Connects to a socket address (no resolution needed). Errors come
    /// the same way as [`connect`](Socket::connect)'s: what is wrong with
    /// the call at the call, what happens on the network as `error` then
    /// `close`.
    ///
    /// ```no_run
    /// let lp = hinge::Loop::new()?;
    /// let s = hinge::Socket::connect_addr(&lp, "127.0.0.1:4545".parse().unwrap())?;
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn connect_addr(lp: &Loop, addr: SocketAddr) -> Result<Socket> {
        let s = Socket::new(lp.core());
        s.inner.state.set(flag::CONNECTING, true);
        s.connect_next(lp, vec![addr], "connect");
        Ok(s)
    }

    /// Connects to a Unix-domain socket at `path`.
    ///
    /// ```
    /// # use hinge::{Loop, Socket};
    /// let lp = Loop::new()?;
    /// let s = Socket::connect_unix(&lp, "/nonexistent/socket")?;
    /// s.on_error(|_, _, e| println!("as expected: {e}"));
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn connect_unix(lp: &Loop, path: impl AsRef<Path>) -> Result<Socket> {
        let path = path.as_ref();
        let addr = sys::unix_addr(path)?;
        let s = Socket::new(lp.core());
        s.inner.state.set(flag::CONNECTING, true);
        s.inner.peer.set(Some(Addr::Unix(path.to_path_buf())));
        let label = Addr::Unix(path.to_path_buf());
        if s.is_closed() {
            return Ok(s); // made on a dead loop: closed at birth
        }
        match sys::unix_stream() {
            Ok(sock) => s.start_connect(lp, sock, &addr, label, Vec::new()),
            Err(e) => {
                let e = Error::from_io("socket", &label, e);
                s.fail_soon(e);
            }
        }
        Ok(s)
    }

    /// Tries the next resolved address.
    pub(super) fn connect_next(&self, lp: &Loop, mut addrs: Vec<SocketAddr>, op: &'static str) {
        // Closed already (made on a dead loop, or closed while resolving):
        // no connection may start.
        if addrs.is_empty() || self.is_closed() {
            return;
        }
        let addr = addrs.remove(0);
        self.inner.peer.set(Some(Addr::Inet(addr)));
        match sys::inet_stream(&addr).and_then(|s| {
            // Nagle off, as for accepted connections (Server::set_nodelay).
            s.set_tcp_nodelay(true)?;
            Ok(s)
        }) {
            Ok(sock) => self.start_connect(lp, sock, &addr.into(), Addr::Inet(addr), addrs),
            Err(e) => self.fail_soon(Error::from_io(op, addr, e)),
        }
    }

    pub(super) fn start_connect(
        &self,
        lp: &Loop,
        sock: socket2::Socket,
        to: &SockAddr,
        label: Addr,
        rest: Vec<SocketAddr>,
    ) {
        match sock.connect(to) {
            // Connected at once (Unix sockets) or in progress: either way
            // writability reports the outcome, like every other connect.
            Ok(()) => {
                *self.inner.rare().fallback.borrow_mut() = rest;
                let _ = self.attach(lp, sock, Ready::WRITE);
            }
            Err(e)
                if e.raw_os_error() == Some(libc::EINPROGRESS)
                    || e.kind() == io::ErrorKind::WouldBlock =>
            {
                *self.inner.rare().fallback.borrow_mut() = rest;
                let _ = self.attach(lp, sock, Ready::WRITE);
            }
            Err(e) if !rest.is_empty() => {
                log::debug!("connect {label}: {e}; trying the next address");
                self.connect_next(lp, rest, "connect");
            }
            Err(e) => self.fail_soon(Error::from_io("connect", &label, e)),
        }
    }

    /// Fails the connect after `timeout` unless it completed by then.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// let lp = hinge::Loop::new()?;
    /// let s = hinge::Socket::connect(&lp, "192.0.2.1", 80)?; // TEST-NET: never answers
    /// s.set_connect_timeout(Duration::from_millis(100));
    /// s.on_error(|_, _, e| assert!(matches!(e, hinge::Error::TimedOut { .. })));
    /// lp.run();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn set_connect_timeout(&self, timeout: Duration) {
        if !self.inner.state.has(flag::CONNECTING) || self.is_closed() {
            return;
        }
        let weak = Rc::downgrade(&self.inner);
        let timer = Timer::new(&self.lp(), timeout, Duration::ZERO, move |lp, _| {
            if let Some(inner) = weak.upgrade() {
                let s = Socket { inner };
                if s.inner.state.has(flag::CONNECTING) {
                    s.fail_timed_out(lp, "connect", "connect timed out");
                }
            }
        });
        *self.inner.rare().connect_timer.borrow_mut() = Some(timer);
    }

    pub(super) fn finish_connect(&self, lp: &Loop) {
        let status = self.with_sock(|s| s.take_error());
        match status {
            Some(Ok(None)) => {
                self.inner.state.set(flag::CONNECTING, false);
                if let Some(r) = self.inner.rare.get() {
                    drop(r.connect_timer.borrow_mut().take());
                }
                self.update_interest();
                self.touch();
                if let Some(r) = self.inner.rare.get() {
                    r.connect.emit(lp, self, &());
                }
                // A client layer speaks first (a ClientHello).
                if let Err(e) = self.pump_wire() {
                    return self.fail(lp, e);
                }
                self.check_ready(lp);
                if self.inner.queue().is_empty() {
                    // end() or close() may have come while connecting.
                    self.after_flush();
                } else {
                    self.flush(lp);
                }
            }
            Some(Ok(Some(e))) | Some(Err(e)) => {
                let rest = match self.inner.rare.get() {
                    Some(r) => std::mem::take(&mut *r.fallback.borrow_mut()),
                    None => Vec::new(),
                };
                if rest.is_empty() {
                    self.fail(lp, Error::from_io("connect", self.label(), e));
                } else {
                    self.inner.release_io(false);
                    self.connect_next(lp, rest, "connect");
                }
            }
            None => {}
        }
    }
}
