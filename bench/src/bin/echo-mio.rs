//! A single-threaded echo server on mio, written the way the C reference
//! is: one shared 64 KiB read buffer, each read written back at once, only
//! the remainder queued, no reading while a backlog exists.
//!
//! ```sh
//! cargo run --release -p hinge-bench --bin echo-mio -- 4545
//! ```
//!
//! mio is edge-triggered, so a connection reads until a short read or
//! `WouldBlock` (a short read on a stream socket means the receive queue
//! was empty; new data raises a new edge), and reads again by itself once
//! a backlog is flushed.

use std::io::{self, Read, Write};

use hinge_bench::{listen, port_arg, READ_BUF};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    /// Bytes the kernel did not take yet, and how many of them are written.
    pending: Vec<u8>,
    off: usize,
}

enum Next {
    Open,
    Close,
}

impl Conn {
    /// Writes the backlog; `true` once it is empty.
    fn flush(&mut self) -> io::Result<bool> {
        while self.off < self.pending.len() {
            match self.stream.write(&self.pending[self.off..]) {
                Ok(n) => self.off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.pending.clear();
        self.off = 0;
        Ok(true)
    }

    /// Reads and echoes until the socket is drained or a backlog forms.
    fn echo(&mut self, buf: &mut [u8]) -> io::Result<Next> {
        loop {
            let n = match self.stream.read(buf) {
                Ok(0) => return Ok(Next::Close),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Next::Open),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let mut sent = 0;
            while sent < n {
                match self.stream.write(&buf[sent..n]) {
                    Ok(w) => sent += w,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if sent < n {
                self.pending.extend_from_slice(&buf[sent..n]);
                return Ok(Next::Open);
            }
            if n < buf.len() {
                return Ok(Next::Open);
            }
        }
    }

    fn on_event(&mut self, buf: &mut [u8]) -> io::Result<Next> {
        if !self.pending.is_empty() && !self.flush()? {
            return Ok(Next::Open);
        }
        self.echo(buf)
    }
}

fn main() -> io::Result<()> {
    let port = port_arg("echo-mio", "");
    let mut listener = TcpListener::from_std(listen(port)?);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut conns: Slab<Conn> = Slab::new();
    let mut buf = vec![0u8; READ_BUF];

    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                accept(&listener, &poll, &mut conns)?;
                continue;
            }
            let key = event.token().0;
            let Some(conn) = conns.get_mut(key) else {
                continue;
            };
            match conn.on_event(&mut buf) {
                Ok(Next::Open) => {}
                // Closing the socket also removes it from the epoll set.
                Ok(Next::Close) | Err(_) => drop(conns.remove(key)),
            }
        }
    }
}

/// Accepts until `WouldBlock`: with edge triggering, connections left in
/// the queue would raise no new event.
fn accept(listener: &TcpListener, poll: &Poll, conns: &mut Slab<Conn>) -> io::Result<()> {
    loop {
        let (mut stream, _) = match listener.accept() {
            Ok(pair) => pair,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
            Err(e) => {
                eprintln!("echo-mio: accept: {e}");
                return Ok(());
            }
        };
        let entry = conns.vacant_entry();
        poll.registry().register(
            &mut stream,
            Token(entry.key()),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        entry.insert(Conn {
            stream,
            pending: Vec::new(),
            off: 0,
        });
    }
}
