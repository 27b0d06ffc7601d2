//! The accept path: up to a budget of connections per wakeup, admission
//! under `max_connections`, and a pause after running out of descriptors.

use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use super::Server;
use crate::event_loop::Loop;
use crate::net::addr::Addr;
use crate::{Error, Io, Socket, Timer, Watcher};

/// Connections accepted per readiness event, so one busy listener cannot
/// starve the loop's other work.
const ACCEPTS_PER_WAKEUP: usize = 64;
/// How long to stop accepting after running out of file descriptors.
const EMFILE_BACKOFF: Duration = Duration::from_millis(100);

impl Server {
    pub(super) fn accept(&self, lp: &Loop, io: &Io) {
        let Some(listener) = io.source::<socket2::Socket>() else {
            return;
        };
        for _ in 0..ACCEPTS_PER_WAKEUP {
            if self.inner.closed.get() {
                return;
            }
            match crate::ffi::accept(listener.as_raw_fd()) {
                Ok((sock, peer)) => self.admit(lp, sock, Addr::from_sock(&peer)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The peer gave up while queued: nothing to do.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ECONNABORTED | libc::EPROTO)) => {
                    continue
                }
                Err(e) => {
                    let out_of_fds = matches!(
                        e.raw_os_error(),
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                    );
                    let err = Error::from_io("accept", self.label(), e);
                    if out_of_fds {
                        // Pending connections would wake us at once, forever:
                        // stop accepting for a moment instead of spinning.
                        self.back_off(lp);
                    }
                    if !self.inner.events.error.emit(lp, self, &err) {
                        crate::error::report_unhandled(format_args!(
                            "unhandled server error (add an on_error listener to handle it) on {}: {err}",
                            self.label()
                        ));
                    }
                    return;
                }
            }
        }
    }
    /// Takes a connection accepted elsewhere as if this server had
    /// accepted it: `max_connections`, the layer (TLS) and the
    /// `connection` event apply, and [`close_connections`](Server::close_connections)
    /// counts it. The server need not listen: this is how a group of loops
    /// shares one port where `SO_REUSEPORT` does not spread connections
    /// (not Linux): one loop accepts, and hands each stream to another
    /// through a [`Sender`](crate::Sender) (Node's `cluster` does the
    /// same by default).
    ///
    /// ```
    /// use std::net::{TcpListener, TcpStream};
    ///
    /// let lp = hinge::Loop::new()?;
    /// let server = hinge::Server::new(&lp);
    /// server.on_connection(|_, _, client| println!("handed {:?}", client.peer_addr()));
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let (stream, _) = listener.accept().unwrap(); // another loop's accept
    /// server.add_connection(stream)?;
    /// assert_eq!(server.connections(), 1);
    /// # server.destroy_connections();
    /// # Ok::<(), hinge::Error>(())
    /// ```
    pub fn add_connection(&self, stream: std::net::TcpStream) -> crate::Result<()> {
        if self.inner.closed.get() || !self.inner.core.is_alive() {
            return Err(Error::Closed {
                op: "add_connection",
            });
        }
        let peer = stream
            .peer_addr()
            .map_err(|e| Error::from_io("adopt", "tcp", e))?;
        stream
            .set_nonblocking(true)
            .and_then(|()| stream.set_nodelay(self.inner.nodelay.get()))
            .map_err(|e| Error::from_io("adopt", peer, e))?;
        let lp = self.lp();
        let sock = socket2::Socket::from(std::os::fd::OwnedFd::from(stream));
        self.admit(&lp, sock, Addr::Inet(peer));
        Ok(())
    }

    pub(super) fn admit(&self, lp: &Loop, sock: socket2::Socket, peer: Addr) {
        if let Some(max) = self.inner.max_connections.get() {
            if self.inner.clients.borrow().len() >= max {
                log::debug!(
                    "hinge: server {}: at max connections, closing {peer}",
                    self.label()
                );
                return; // dropping closes it
            }
        }
        match Socket::adopt(lp, sock, Some(peer)) {
            Ok(socket) => {
                let layer = self.inner.layer.borrow().clone();
                if let Some(make) = layer {
                    let guard = Unadmitted(&socket);
                    let made = make(&socket);
                    drop(guard);
                    if let Err(e) = made {
                        socket.destroy();
                        return crate::error::report_unhandled(format_args!(
                            "server {}: could not set up an accepted connection: {e}",
                            self.label()
                        ));
                    }
                }
                let slot = self.inner.clients.borrow_mut().insert(socket.clone());
                socket.set_server(&self.inner, slot);
                self.inner.events.connection.emit(lp, self, &socket);
            }
            Err(e) => crate::error::report_unhandled(format_args!(
                "server {}: could not adopt an accepted connection: {e}",
                self.label()
            )),
        }
    }
    pub(super) fn back_off(&self, lp: &Loop) {
        if let Some(io) = &*self.inner.io.borrow() {
            io.stop();
        }
        let weak = Rc::downgrade(&self.inner);
        let timer = Timer::new(lp, EMFILE_BACKOFF, Duration::ZERO, move |_, _| {
            if let Some(inner) = weak.upgrade() {
                if !inner.closed.get() {
                    if let Some(io) = &*inner.io.borrow() {
                        io.start();
                    }
                }
            }
        });
        if self.inner.unref.get() {
            timer.unref();
        }
        *self.inner.backoff.borrow_mut() = Some(timer);
    }
}

/// Destroys an accepted socket if its layer factory panics: the socket is
/// in no server's list yet, so nothing else would ever close it.
struct Unadmitted<'a>(&'a Socket);

impl Drop for Unadmitted<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.destroy();
        }
    }
}
