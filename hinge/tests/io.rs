//! Io watchers on real pipes and sockets.

mod common;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;

use common::{DropCounter, Hits};
use hinge::{Backend, Error, Io, Loop, Ready, Watcher};

#[test]
fn read_readiness_on_a_socketpair() {
    let lp = Loop::new().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let _io = Io::new(&lp, a, Ready::READ, move |_, io, ev| {
        assert!(ev.is_readable());
        let mut buf = [0u8; 64];
        let mut sock = io.source::<UnixStream>().unwrap();
        match sock.read(&mut buf) {
            Ok(0) => io.stop(),
            Ok(n) => g.borrow_mut().extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    })
    .unwrap();
    b.write_all(b"hello ").unwrap();
    b.write_all(b"world").unwrap();
    drop(b); // EOF stops the watcher
    lp.run();
    assert_eq!(&*got.borrow(), b"hello world");
}

#[test]
fn write_readiness_and_modify_on_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let lp = Loop::new().unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let _io = Io::new(&lp, client, Ready::WRITE, move |_, io, ev| {
        s.borrow_mut().push(ev);
        let mut c = io.source::<TcpStream>().unwrap();
        if ev.is_writable() {
            c.write_all(b"ping").unwrap();
            // Done writing: wait for the reply instead.
            io.modify(Ready::READ).unwrap();
        } else {
            let mut buf = [0u8; 4];
            c.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"pong");
            io.stop();
        }
    })
    .unwrap();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).unwrap();
        server.write_all(b"pong").unwrap();
    });
    lp.run();
    t.join().unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 2);
    assert!(seen[0].is_writable() && seen[1].is_readable());
}

#[test]
fn bad_event_masks_are_typed_errors() {
    let lp = Loop::new().unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    assert!(matches!(
        Io::new(&lp, a, Ready::TIMER, |_, _, _| {}),
        Err(Error::InvalidEvents(_))
    ));
    let (a, _b) = UnixStream::pair().unwrap();
    let io = Io::new(&lp, a, Ready::READ, |_, _, _| {}).unwrap();
    assert!(matches!(
        io.modify(Ready::SIGNAL),
        Err(Error::InvalidEvents(_))
    ));
    assert_eq!(
        io.events(),
        Ready::READ,
        "a failed modify leaves the watcher as it was"
    );
}

#[test]
fn the_watcher_owns_its_fd_and_closes_it_after_stopping() {
    let lp = Loop::new().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let io = Io::new(&lp, a, Ready::READ, |_, _, _| {}).unwrap();
    lp.run_nowait();
    drop(io);
    // The peer sees EOF: the fd was closed with the watcher.
    let mut buf = [0u8; 1];
    assert_eq!(b.read(&mut buf).unwrap(), 0);
    assert!(!lp.run());
}

#[test]
fn select_backend_rejects_fds_it_cannot_hold() {
    if !Backend::supported().contains(Backend::SELECT) {
        return;
    }
    let lp = Loop::builder().backend(Backend::SELECT).build().unwrap();
    // Push the next fd number past FD_SETSIZE (1024) if the limit allows.
    let mut hold = Vec::new();
    while hold.len() < 1100 {
        match UnixStream::pair() {
            Ok(p) => hold.push(p),
            Err(_) => return, // fd limit too low to reach 1024 here
        }
    }
    let (a, _b) = hold.pop().unwrap();
    assert!(matches!(
        Io::new(&lp, a, Ready::READ, |_, _, _| {}),
        Err(Error::InvalidFd(_))
    ));
}

#[test]
fn dropping_an_io_watcher_inside_another_callback_stops_it() {
    let lp = Loop::new().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let hits = Hits::default();
    let drops = DropCounter::default();
    let (h, tok) = (hits.clone(), drops.token());
    let io = Io::new(&lp, a, Ready::READ, move |_, _, _| {
        let _ = &tok;
        h.hit();
    })
    .unwrap();
    let slot = Rc::new(RefCell::new(Some(io)));
    let s = slot.clone();
    let _t = hinge::Timer::new(
        &lp,
        std::time::Duration::ZERO,
        std::time::Duration::ZERO,
        move |_, _| {
            s.borrow_mut().take();
        },
    );
    b.write_all(b"x").unwrap();
    lp.run(); // ends: the only io watcher was dropped
    assert!(hits.get() <= 1);
    assert_eq!(drops.dropped(), 1);
}

/// Every backend hinge can pick on Linux, each as its own loop.
fn loops() -> Vec<Loop> {
    [Backend::EPOLL, Backend::POLL, Backend::SELECT]
        .into_iter()
        .map(|b| Loop::builder().backend(b).build().unwrap())
        .collect()
}

#[test]
fn a_number_that_is_not_an_open_fd_is_refused_not_watched() {
    // libev asserts (epoll, poll) or reads out of bounds (i32::MAX) on a
    // watched fd that is not open: such numbers never reach it.
    for lp in loops() {
        for fd in [-1, 900, 65_535, i32::MAX] {
            let r = Io::watch_dup(&lp, fd, Ready::READ, |_, io, _| io.stop());
            assert!(matches!(r, Err(Error::InvalidFd(n)) if n == fd), "{fd}");
        }
        lp.run();
    }
}

#[test]
fn the_lenders_fd_closing_leaves_the_watcher_on_its_own_duplicate() {
    for lp in loops() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let hits = Hits::default();
        let h = hits.clone();
        let io = Io::watch_dup(&lp, a.as_raw_fd(), Ready::READ, move |_, io, _| {
            h.hit();
            io.stop();
        })
        .unwrap();
        assert_ne!(io.fd(), a.as_raw_fd());
        // The lender closes its descriptor; the watcher is then modified
        // and run: before, libev aborted on the closed fd.
        drop(a);
        io.modify(Ready::READ | Ready::WRITE).unwrap();
        io.modify(Ready::READ).unwrap();
        b.write_all(b"x").unwrap();
        lp.run();
        assert_eq!(hits.get(), 1);
        // The duplicate is the watcher's: dropping it closes the last
        // descriptor of `a`'s end, so the peer sees it closed (a reset:
        // the "x" was never read).
        drop(io);
        b.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let r = b.read(&mut [0u8; 8]);
        assert!(
            matches!(&r, Ok(0))
                || matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "{r:?}"
        );
    }
}
