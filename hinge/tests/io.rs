//! Io watchers on real pipes and sockets.

mod common;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
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
