//! `pipe`: backpressure by construction, between real sockets and HTTP
//! exchanges, with bounded queues, a `done` that comes once, and no
//! listener left behind.

mod common;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::Duration;

use common::{local_server, run_bounded};
use hinge::{pipe, Loop, Socket, SocketEvent};

/// Patterned bytes, so that a reordering or a loss shows.
fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn an_echo_through_pipe_never_queues_more_than_a_high_water_mark() {
    const SIZE: usize = 8 << 20;
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let peak = Rc::new(Cell::new(0usize));
    let result = Rc::new(RefCell::new(None));
    let (p, r) = (peak.clone(), result.clone());
    server.on_connection(move |_, server, client| {
        let r = r.clone();
        pipe(client, client, move |_, res| {
            *r.borrow_mut() = Some(res.is_ok())
        });
        // Runs after the pipe's own data listener: the queue it left.
        let p = p.clone();
        client.on_data(move |_, c, _| p.set(p.get().max(c.pending_bytes())));
        server.close();
    });
    // A fast writer, a slow reader.
    let peer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut writer = peer.try_clone().unwrap();
    let sent = std::thread::spawn(move || {
        writer.write_all(&data(SIZE)).unwrap();
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let got = std::thread::spawn(move || {
        let mut peer = peer;
        let mut all = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            std::thread::sleep(Duration::from_micros(200));
            match peer.read(&mut buf).unwrap() {
                0 => return all,
                n => all.extend_from_slice(&buf[..n]),
            }
        }
    });
    run_bounded(&lp, 60);
    sent.join().unwrap();
    let got = got.join().unwrap();
    assert_eq!(got.len(), SIZE);
    assert!(got == data(SIZE), "the echo differs");
    assert_eq!(*result.borrow(), Some(true), "done, once, with Ok");
    // One high-water mark (64 KiB) plus at most one read (64 KiB).
    assert!(peak.get() <= 128 * 1024, "queued {} bytes", peak.get());
}

#[test]
fn a_destination_that_goes_away_aborts_the_source_and_says_so() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let outcome = Rc::new(RefCell::new(Vec::new()));
    let first: Rc<RefCell<Option<Socket>>> = Rc::default();
    let (o, f) = (outcome.clone(), first.clone());
    server.on_connection(move |_, server, client| {
        let Some(source) = f.borrow_mut().take() else {
            // The first connection is the source; the second the sink.
            *f.borrow_mut() = Some(client.clone());
            return;
        };
        let o = o.clone();
        pipe(&source, client, move |_, r| {
            o.borrow_mut().push(format!("done: {}", r.is_ok()))
        });
        client.destroy(); // the destination goes away
        server.close();
    });
    let mut source = TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let _sink = TcpStream::connect(("127.0.0.1", port)).unwrap();
    run_bounded(&lp, 10);
    assert_eq!(*outcome.borrow(), ["done: false"]);
    // The source was destroyed with it: its peer sees the close.
    source
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let r = source.read(&mut [0u8; 8]);
    let closed = match &r {
        Ok(n) => *n == 0,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "{r:?}");
}

#[test]
fn a_finished_pipe_leaves_no_listener_behind() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let counts = Rc::new(RefCell::new(None));
    let c = counts.clone();
    server.on_connection(move |_, server, client| {
        let c = c.clone();
        let me = client.clone();
        pipe(client, client, move |_, r| {
            assert!(r.is_ok());
            *c.borrow_mut() = Some([
                me.listeners(SocketEvent::Data),
                me.listeners(SocketEvent::End),
                me.listeners(SocketEvent::Drain),
                me.listeners(SocketEvent::Error),
                me.listeners(SocketEvent::Close),
            ]);
        });
        server.close();
    });
    let mut peer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    peer.write_all(b"hello").unwrap();
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    run_bounded(&lp, 10);
    let mut back = Vec::new();
    peer.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"hello");
    assert_eq!(*counts.borrow(), Some([0; 5]));
}
