//! TCP servers and sockets over 127.0.0.1: echo, half-close, pause and
//! resume, backpressure, many clients, timeouts, errors and re-entrancy.

mod common;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{local_server, run_bounded, DropCounter, Hits};
use hinge::{Error, Loop, Server, Socket};

fn echo(server: &Server) {
    server.on_connection(|_, _, sock| {
        sock.on_data(|_, s, data| match s.send(data) {
            Ok(true) => {}
            Ok(false) => s.pause(),
            Err(e) => panic!("send: {e}"),
        });
        sock.on_drain(|_, s| s.resume());
    });
}

#[test]
fn echo_round_trip_with_a_hinge_client() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    echo(&server);
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let client = Socket::connect(&lp, "127.0.0.1", port).unwrap();
    let connected = Hits::default();
    let c = connected.clone();
    client.on_connect(move |_, s| {
        c.hit();
        s.send(b"hello hinge").unwrap();
    });
    let srv = server.clone();
    client.on_data(move |_, s, data| {
        g.borrow_mut().extend_from_slice(data);
        if g.borrow().len() == 11 {
            s.end();
            srv.close();
        }
    });
    run_bounded(&lp, 10);
    assert_eq!(connected.get(), 1);
    assert_eq!(&*got.borrow(), b"hello hinge");
    assert!(client.is_closed());
}

#[test]
fn connect_by_name_resolves_off_the_loop() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    echo(&server);
    let client = Socket::connect(&lp, "localhost", port).unwrap();
    let ok = Hits::default();
    let o = ok.clone();
    client.on_connect(|_, s| {
        s.send(b"x").unwrap();
    });
    let srv = server.clone();
    client.on_data(move |_, s, _| {
        o.hit();
        s.destroy();
        srv.close();
    });
    // localhost may be ::1 only; the server is on 127.0.0.1: accept either outcome
    // but never a hang.
    let srv2 = server.clone();
    client.on_error(move |_, _, _| srv2.close());
    run_bounded(&lp, 10);
    assert!(client.is_closed());
}

#[test]
fn half_close_delivers_end_and_the_reply_still_arrives() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let events = Rc::new(RefCell::new(Vec::new()));
    let e = events.clone();
    server.on_connection(move |_, _, sock| {
        let got = Rc::new(RefCell::new(Vec::new()));
        let (g, e1, e2) = (got.clone(), e.clone(), e.clone());
        sock.on_data(move |_, _, d| g.borrow_mut().extend_from_slice(d));
        sock.on_end(move |_, s| {
            e1.borrow_mut().push("end");
            // Reply after the peer finished sending; hinge then ends too.
            let n = got.borrow().len();
            s.send(format!("got {n} bytes").as_bytes()).unwrap();
        });
        sock.on_close(move |_, _, had_error| {
            e2.borrow_mut()
                .push(if *had_error { "close!" } else { "close" })
        });
    });
    let t = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"0123456789").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut reply = String::new();
        c.read_to_string(&mut reply).unwrap();
        reply
    });
    let srv = server.clone();
    let e = events.clone();
    let _poll = lp.set_interval(Duration::from_millis(5), move |_, me| {
        if e.borrow().len() == 2 {
            srv.close();
            me.clear();
        }
    });
    run_bounded(&lp, 10);
    assert_eq!(t.join().unwrap(), "got 10 bytes");
    assert_eq!(*events.borrow(), vec!["end", "close"]);
}

#[test]
fn pause_stops_data_and_resume_restarts_it() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let log = Rc::new(RefCell::new(Vec::<(usize, Instant)>::new()));
    let l = log.clone();
    server.on_connection(move |lp, _, sock| {
        let l = l.clone();
        sock.on_data(move |lp, s, d| {
            l.borrow_mut().push((d.len(), Instant::now()));
            if l.borrow().len() == 1 {
                s.pause();
                let s = s.clone();
                lp.set_timeout(Duration::from_millis(50), move |_| s.resume());
            }
        });
        let _ = lp;
    });
    let t = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"first").unwrap();
        std::thread::sleep(Duration::from_millis(10));
        c.write_all(b"second").unwrap();
        std::thread::sleep(Duration::from_millis(100));
    });
    let srv = server.clone();
    let l2 = log.clone();
    let _poll = lp.set_interval(Duration::from_millis(5), move |_, me| {
        if l2.borrow().len() >= 2 {
            srv.close();
            me.clear();
        }
    });
    run_bounded(&lp, 10);
    t.join().unwrap();
    let log = log.borrow();
    assert!(
        log[1].1.duration_since(log[0].1) >= Duration::from_millis(45),
        "data arrived while paused"
    );
}

#[test]
fn backpressure_with_a_slow_reader_keeps_memory_bounded() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let max_pending = Rc::new(std::cell::Cell::new(0usize));
    let drains = Hits::default();
    let (m, d) = (max_pending.clone(), drains.clone());
    const TOTAL: usize = 32 * 1024 * 1024;
    server.on_connection(move |_, _, sock| {
        // A producer that honours backpressure: write until send says stop,
        // continue on drain.
        let sent = Rc::new(std::cell::Cell::new(0usize));
        let chunk = vec![7u8; 64 * 1024];
        let (m, d) = (m.clone(), d.clone());
        let pump = Rc::new(move |s: &Socket| {
            while sent.get() < TOTAL {
                sent.set(sent.get() + chunk.len());
                let more = s.send(&chunk).unwrap();
                m.set(m.get().max(s.pending_bytes()));
                if !more {
                    return;
                }
            }
            s.end();
        });
        pump(sock);
        sock.on_drain(move |_, s| {
            d.hit();
            pump(s)
        });
    });
    let t = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        loop {
            let n = c.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n;
            std::thread::sleep(Duration::from_micros(200)); // slow reader
        }
        total
    });
    let srv = server.clone();
    server.on_connection(move |_, _, s| {
        let srv = srv.clone();
        s.on_close(move |_, _, _| srv.close());
    });
    run_bounded(&lp, 60);
    assert_eq!(t.join().unwrap(), TOTAL);
    assert!(drains.get() > 0, "the slow reader caused backpressure");
    // Queue never grows past the high-water mark plus one chunk.
    assert!(
        max_pending.get() <= hinge::DEFAULT_HIGH_WATER + 64 * 1024,
        "queued {}",
        max_pending.get()
    );
}

#[test]
fn a_thousand_concurrent_connections() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    echo(&server);
    const N: usize = 1000;
    let done = Hits::default();
    for i in 0..N {
        let client = Socket::connect(&lp, "127.0.0.1", port).unwrap();
        let msg = format!("client {i}");
        client.send(msg.as_bytes()).unwrap();
        let (d, srv) = (done.clone(), server.clone());
        let got = Rc::new(RefCell::new(Vec::new()));
        client.on_data(move |_, s, data| {
            got.borrow_mut().extend_from_slice(data);
            if *got.borrow() == msg.as_bytes() {
                d.hit();
                s.destroy();
                if d.get() == N {
                    srv.close();
                }
            }
        });
        client.on_error(|_, _, e| panic!("client error: {e}"));
    }
    run_bounded(&lp, 60);
    assert_eq!(done.get(), N);
}

#[test]
fn inactivity_timeout_fires_and_activity_postpones_it() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let fired_after = Rc::new(RefCell::new(None));
    let f = fired_after.clone();
    server.on_connection(move |_, srv, sock| {
        let start = Instant::now();
        sock.set_timeout(Some(Duration::from_millis(100)));
        let (f, srv) = (f.clone(), srv.clone());
        sock.on_timeout(move |_, s| {
            *f.borrow_mut() = Some(start.elapsed());
            s.destroy();
            srv.close();
        });
    });
    let t = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(50));
            c.write_all(b".").unwrap(); // activity every 50 ms
        }
        let mut buf = [0u8; 1];
        let _ = c.read(&mut buf); // wait for the server to drop us
    });
    run_bounded(&lp, 10);
    t.join().unwrap();
    let after = fired_after.borrow().expect("timeout fired");
    assert!(
        after >= Duration::from_millis(340),
        "timed out while active: {after:?}"
    );
}

#[test]
fn connect_errors_are_typed() {
    let lp = Loop::new().unwrap();
    let port = common::closed_port();
    let errors = Rc::new(RefCell::new(Vec::new()));
    let e = errors.clone();
    let refused = Socket::connect(&lp, "127.0.0.1", port).unwrap();
    refused.on_error(move |_, _, err| {
        let kind = match err {
            Error::ConnectionRefused { .. } => "ConnectionRefused",
            _ => "other",
        };
        e.borrow_mut().push(format!("{kind}: {err:?}"))
    });
    let closes = Rc::new(RefCell::new(Vec::new()));
    let c = closes.clone();
    refused.on_close(move |_, _, had_error| c.borrow_mut().push(*had_error));
    let e = errors.clone();
    let nowhere = Socket::connect(&lp, "no-such-host.invalid", 80).unwrap();
    nowhere.on_error(move |_, _, err| {
        let kind = match err {
            Error::NameNotFound { .. } => "NameNotFound",
            _ => "other",
        };
        e.borrow_mut().push(format!("{kind}: {err:?}"))
    });
    run_bounded(&lp, 30);
    let errors = errors.borrow();
    assert!(
        errors.iter().any(|e| e.starts_with("ConnectionRefused")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with("NameNotFound")),
        "{errors:?}"
    );
    assert_eq!(*closes.borrow(), vec![true]);
    assert!(matches!(
        Socket::connect(&lp, "", 80),
        Err(Error::InvalidAddress { .. })
    ));
    assert!(matches!(
        Socket::connect(&lp, "bad host name!", 80),
        Err(Error::InvalidAddress { .. })
    ));
}

#[test]
fn binding_a_port_in_use_names_the_address() {
    let lp = Loop::new().unwrap();
    let (a, port) = local_server(&lp);
    let b = Server::new(&lp);
    let err = b.listen_on("127.0.0.1", port).unwrap_err();
    assert!(matches!(err, Error::AddrInUse { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(matches!(
        b.listen_on("300.1.2.3", 1),
        Err(Error::InvalidAddress { .. })
    ));
    a.close();
    lp.run();
}

#[test]
fn writing_to_a_closed_socket_is_an_error_not_a_crash() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let results = Rc::new(RefCell::new(Vec::new()));
    let r = results.clone();
    server.on_connection(move |lp, srv, sock| {
        let (r, srv) = (r.clone(), srv.clone());
        let sock = sock.clone();
        // Give the peer time to vanish, then write a lot (EPIPE/ECONNRESET
        // without SIGPIPE), then write again on the closed socket.
        lp.set_timeout(Duration::from_millis(100), move |_| {
            let big = vec![0u8; 1 << 20];
            let mut first_err = None;
            for _ in 0..8 {
                match sock.send(&big) {
                    Ok(_) => continue,
                    Err(e) => {
                        first_err = Some(kind(&e));
                        break;
                    }
                }
            }
            r.borrow_mut().push(first_err.unwrap_or_default());
            r.borrow_mut().push(kind(&sock.send(b"again").unwrap_err()));
            srv.close();
        });
    });
    let t = std::thread::spawn(move || {
        let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        socket2::SockRef::from(&c)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(c); // RST
    });
    run_bounded(&lp, 10);
    t.join().unwrap();
    let results = results.borrow();
    assert!(
        results[0].starts_with("ConnectionReset") || results[0].starts_with("Closed"),
        "{results:?}"
    );
    assert!(results[1].starts_with("Closed"), "{results:?}");
}

#[test]
fn a_reset_client_gets_error_then_close_and_others_keep_being_served() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    server.on_connection(move |_, _, sock| {
        let (l1, l2) = (l.clone(), l.clone());
        sock.on_data(|_, s, d| {
            let _ = s.send(d);
        });
        sock.on_error(move |_, _, e| {
            l1.borrow_mut().push(format!(
                "error {}",
                matches!(e, Error::ConnectionReset { .. })
            ))
        });
        sock.on_close(move |_, _, had_error| l2.borrow_mut().push(format!("close {had_error}")));
    });
    let t = std::thread::spawn(move || {
        // The rude client: send, then reset.
        let rude = TcpStream::connect(("127.0.0.1", port)).unwrap();
        socket2::SockRef::from(&rude)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        let mut polite = TcpStream::connect(("127.0.0.1", port)).unwrap();
        (&rude).write_all(b"x").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        drop(rude);
        std::thread::sleep(Duration::from_millis(50));
        polite.write_all(b"still there?").unwrap();
        let mut buf = [0u8; 12];
        polite.read_exact(&mut buf).unwrap();
        buf
    });
    let srv = server.clone();
    let l = log.clone();
    let _poll = lp.set_interval(Duration::from_millis(10), move |_, me| {
        if l.borrow().len() >= 2 {
            me.clear();
            let srv = srv.clone();
            srv.close();
        }
    });
    // Polite client's socket keeps the server's close waiting; drop it late.
    run_bounded(&lp, 10);
    assert_eq!(&t.join().unwrap(), b"still there?");
    let log = log.borrow();
    assert!(log.contains(&"close true".to_string()), "{log:?}");
}

#[test]
fn an_unhandled_error_is_logged_and_the_socket_closed() {
    let lp = Loop::new().unwrap();
    let port = common::closed_port();
    let closes = Rc::new(RefCell::new(Vec::new()));
    let c = closes.clone();
    let s = Socket::connect(&lp, "127.0.0.1", port).unwrap();
    s.on_close(move |_, _, had_error| c.borrow_mut().push(*had_error));
    run_bounded(&lp, 10);
    assert_eq!(*closes.borrow(), vec![true]);
    assert!(s.is_closed());
}

#[test]
fn closing_a_socket_from_its_own_data_listener() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let datas = Hits::default();
    let d = datas.clone();
    server.on_connection(move |_, srv, sock| {
        let (d, srv) = (d.clone(), srv.clone());
        sock.on_data(move |_, s, _| {
            d.hit();
            s.destroy(); // closes while the data emission is running
            srv.close();
        });
        // A second listener registered after: not called once closed.
        sock.on_data(|_, _, _| panic!("listener ran on a closed socket"));
    });
    let t = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"a").unwrap();
        let mut buf = [0u8; 1];
        let _ = c.read(&mut buf);
    });
    run_bounded(&lp, 10);
    t.join().unwrap();
    assert_eq!(datas.get(), 1);
}

#[test]
fn removing_a_listener_from_inside_its_own_data_callback() {
    let lp = Loop::new().unwrap();
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let s = Socket::from_unix_stream(&lp, a).unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    let id = Rc::new(std::cell::Cell::new(None));
    let i = id.clone();
    id.set(Some(s.on_data(move |_, s, _| {
        h.hit();
        assert!(s.off(i.get().unwrap()));
    })));
    let later = Hits::default();
    let l = later.clone();
    s.on_data(move |_, s, _| {
        l.hit();
        if l.get() == 2 {
            s.destroy();
        }
    });
    let t = std::thread::spawn(move || {
        let mut b = b;
        b.write_all(b"1").unwrap();
        std::thread::sleep(Duration::from_millis(30));
        b.write_all(b"2").unwrap();
        std::thread::sleep(Duration::from_millis(30));
    });
    run_bounded(&lp, 10);
    t.join().unwrap();
    assert_eq!((hits.get(), later.get()), (1, 2));
}

#[test]
fn closing_drops_listeners_so_captured_handles_do_not_leak() {
    let lp = Loop::new().unwrap();
    let drops = DropCounter::default();
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let s = Socket::from_unix_stream(&lp, a).unwrap();
    // A listener capturing its own socket: a cycle until close.
    let me = s.clone();
    let tok = drops.token();
    s.on_data(move |_, _, _| {
        tok.touch();
        let _ = &me;
    });
    let tok = drops.token();
    s.on_close(move |_, _, _| tok.touch());
    s.destroy();
    run_bounded(&lp, 5);
    assert_eq!(drops.dropped(), 2);
    assert_eq!(s.listener_count(), 0);
}

#[test]
fn max_connections_refuses_the_excess() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    server.set_max_connections(Some(2));
    let accepted = Hits::default();
    let a = accepted.clone();
    server.on_connection(move |_, _, _| a.hit());
    let t = std::thread::spawn(move || {
        let conns: Vec<_> = (0..4)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        conns
            .into_iter()
            .map(|mut c| {
                c.set_read_timeout(Some(Duration::from_millis(100)))
                    .unwrap();
                let mut buf = [0u8; 1];
                matches!(c.read(&mut buf), Ok(0))
            })
            .filter(|closed| *closed)
            .count()
    });
    // Well after the client has checked all four (100 ms + 4 x 100 ms):
    // stop listening, then close the two kept connections.
    let srv = server.clone();
    lp.set_timeout(Duration::from_millis(1400), move |_| srv.close());
    server.on_connection(|lp, _, s| {
        let s = s.clone();
        lp.set_timeout(Duration::from_millis(1500), move |_| s.destroy());
    });
    run_bounded(&lp, 10);
    assert_eq!(accepted.get(), 2);
    assert_eq!(t.join().unwrap(), 2, "two connections were closed at once");
}

#[test]
fn connect_timeout_on_a_full_accept_queue() {
    // A loopback listener with a full accept queue never completes new
    // handshakes: a connect there hangs until hinge's timeout fires.
    let listener =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    listener.listen(0).unwrap();
    let port = listener.local_addr().unwrap().as_socket().unwrap().port();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into());
        fillers.push(s);
    }
    std::thread::sleep(Duration::from_millis(50));
    let lp = Loop::new().unwrap();
    let errors = Rc::new(RefCell::new(Vec::new()));
    let e = errors.clone();
    let start = Instant::now();
    let s = Socket::connect(&lp, "127.0.0.1", port).unwrap();
    s.set_connect_timeout(Duration::from_millis(300));
    s.on_error(move |_, _, err| e.borrow_mut().push(kind(err)));
    run_bounded(&lp, 10);
    let errors = errors.borrow();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("TimedOut"), "{errors:?}");
    assert!(start.elapsed() >= Duration::from_millis(290));
    drop(fillers);
}

#[test]
fn end_and_close_while_connecting_finish_once_connected() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let lp = Loop::new().unwrap();
    let ending = Socket::connect(&lp, "127.0.0.1", port).unwrap();
    ending.end();
    let closing = Socket::connect(&lp, "127.0.0.1", port).unwrap();
    closing.close();
    let peers = std::thread::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..2 {
            let (mut peer, _) = listener.accept().unwrap();
            peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = Vec::new();
            // EOF, not a timeout: hinge sent its FIN without any data.
            got.push(peer.read_to_end(&mut buf).map(|_| buf.len()).ok());
        }
        got
    });
    run_bounded(&lp, 10);
    assert!(ending.is_closed() && closing.is_closed());
    assert_eq!(peers.join().unwrap(), [Some(0), Some(0)]);
}

#[test]
fn a_socket_kept_past_its_loop_is_closed() {
    let lp = Loop::new().unwrap();
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let s = Socket::from_unix_stream(&lp, a).unwrap();
    drop(lp);
    assert!(s.is_closed());
    assert!(matches!(s.send(b"x"), Err(Error::Closed { .. })));
    // The fd number went back to the OS; a new file may reuse it, and
    // the old handle must not write there.
    let (c, mut d) = std::os::unix::net::UnixStream::pair().unwrap();
    assert!(s.send(b"stray").is_err());
    drop(c);
    let mut buf = Vec::new();
    d.read_to_end(&mut buf).unwrap();
    assert!(buf.is_empty());
}

// --- handles that outlive their loop, and listeners nothing would free ---

#[test]
fn listen_after_the_loop_is_gone_is_closed_and_opens_no_port() {
    let lp = Loop::new().unwrap();
    let server = Server::new(&lp);
    let drops = DropCounter::default();
    let t = drops.token();
    server.on_listening(move |_, _| t.touch());
    drop(lp);
    let port = common::closed_port();
    let err = server.listen_on("127.0.0.1", port).unwrap_err();
    assert!(matches!(err, Error::Closed { op: "listen" }), "{err:?}");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens on {port}"
    );
    assert_eq!(drops.dropped(), 1, "teardown dropped the listener");
    // Inert, never a leak (the leak check runs this too).
    server.close();
    assert!(server.is_closed());
    let t = drops.token();
    server.on_close(move |_, _| t.touch());
    assert_eq!(drops.dropped(), 2, "a finished server refuses listeners");
}

#[test]
fn close_after_the_loop_is_gone_is_inert() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let s2 = server.clone();
    server.on_error(move |_, _, _| s2.close());
    drop(lp);
    server.close();
    server.close();
    assert!(server.is_closed());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the port closed with the loop"
    );
}

#[test]
fn a_listener_added_to_a_finished_socket_is_dropped_at_once() {
    let lp = Loop::new().unwrap();
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let s = Socket::from_unix_stream(&lp, a).unwrap();
    s.destroy();
    // Between destroy and the loop's `close` emission listeners still count.
    let closes = Hits::default();
    let c = closes.clone();
    s.on_close(move |_, _, _| c.hit());
    run_bounded(&lp, 10);
    assert_eq!(closes.get(), 1);
    // Now it is finished: a listener capturing the socket would be a cycle
    // nothing breaks, so it is refused.
    let drops = DropCounter::default();
    let t = drops.token();
    let me = s.clone();
    let id = s.on_data(move |_, _, _| {
        t.touch();
        me.destroy();
    });
    assert_eq!(drops.dropped(), 1);
    assert_eq!(s.listener_count(), 0);
    assert!(!s.off(id));
}

#[test]
fn a_server_whose_listen_failed_is_freed_with_its_loop() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (first, port) = local_server(&lp);
    let second = Server::new(&lp);
    let me = second.clone();
    let t = drops.token();
    // An error listener that captures its own server: a cycle.
    second.on_error(move |_, _, _| {
        t.touch();
        me.close();
    });
    let err = second.listen_on("127.0.0.1", port).unwrap_err();
    assert!(matches!(err, Error::AddrInUse { .. }), "{err:?}");
    drop(second);
    first.close();
    run_bounded(&lp, 10);
    assert_eq!(drops.dropped(), 0, "still alive: the loop knows it");
    drop(lp);
    assert_eq!(drops.dropped(), 1, "the loop's teardown broke the cycle");
}

#[test]
fn listen_twice_says_already_listening() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let err = server.listen(0).unwrap_err();
    assert!(matches!(err, Error::AlreadyListening { .. }), "{err:?}");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    server.close();
}

#[test]
fn unref_lets_run_return_with_a_server_and_a_socket_open() {
    let lp = Loop::new().unwrap();
    let (server, _port) = local_server(&lp);
    server.unref();
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let s = Socket::from_unix_stream(&lp, a).unwrap();
    s.set_timeout(Some(Duration::from_secs(60)));
    s.unref();
    assert!(!server.has_ref() && !s.has_ref());
    run_bounded(&lp, 10); // would hang without the unrefs
    s.ref_();
    assert!(s.has_ref());
    s.destroy();
    server.close();
    run_bounded(&lp, 10);
}

#[test]
fn server_listener_surface_matches_the_socket_one() {
    use hinge::ServerEvent;
    let lp = Loop::new().unwrap();
    let (server, _port) = local_server(&lp);
    let listening = Hits::default();
    let l = listening.clone();
    server.once_listening(move |_, _| l.hit());
    server.on_connection(|_, _, _| {});
    assert_eq!(server.listeners(ServerEvent::Listening), 1);
    assert_eq!(server.listener_count(), 2);
    server.remove_listeners(ServerEvent::Connection);
    assert_eq!(server.listeners(ServerEvent::Connection), 0);
    lp.run_nowait();
    assert_eq!(listening.get(), 1);
    assert_eq!(
        server.listeners(ServerEvent::Listening),
        0,
        "once removes itself"
    );
    server.close();
    run_bounded(&lp, 10);
}

#[test]
fn a_closing_server_emits_close_after_its_last_client_even_without_a_handle() {
    let lp = Loop::new().unwrap();
    let closed = Hits::default();
    {
        let (server, port) = local_server(&lp);
        let c = closed.clone();
        server.on_close(move |_, _| c.hit());
        server.on_connection(|_, srv, client| {
            srv.close(); // stop accepting; this client carries on
            client.on_data(|_, client, _| client.end());
        });
        std::thread::spawn(move || {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            c.write_all(b"bye").unwrap();
            let mut rest = Vec::new();
            let _ = c.read_to_end(&mut rest);
        });
    } // no Server handle is kept
    run_bounded(&lp, 10);
    assert_eq!(closed.get(), 1);
}

#[test]
fn line_splitter_bounds_memory_and_handles_every_split() {
    use hinge::LineSplitter;
    let input = b"one\r\ntwo\nthree\r\n\nfour";
    // Fed whole, split at every byte boundary, and one byte at a time.
    for cut in 0..=input.len() {
        let mut lines = LineSplitter::new(8);
        let mut got = Vec::new();
        lines.feed(&input[..cut], |l| got.push(l.to_vec())).unwrap();
        lines.feed(&input[cut..], |l| got.push(l.to_vec())).unwrap();
        assert_eq!(got, [&b"one"[..], b"two", b"three", b""], "cut at {cut}");
        assert_eq!(lines.pending(), b"four");
    }
    let mut lines = LineSplitter::new(8);
    let mut n = 0;
    for &b in input.iter() {
        lines.feed(&[b], |_| n += 1).unwrap();
    }
    assert_eq!(n, 4);
    // Exactly at the limit passes, with or without \r; one more fails.
    let mut lines = LineSplitter::new(4);
    lines.feed(b"abcd\r", |_| {}).unwrap();
    lines.feed(b"\nabcd\n", |_| {}).unwrap();
    assert!(matches!(
        lines.feed(b"abcde", |_| {}),
        Err(Error::LineTooLong { max: 4 })
    ));
    assert!(lines.pending().is_empty(), "nothing kept after the error");
    // The rest of the long line is skipped: it never passes for a line.
    let mut got = Vec::new();
    lines.feed(b"QUIT\nok\n", |l| got.push(l.to_vec())).unwrap();
    assert_eq!(got, [b"ok".to_vec()]);
    assert!(lines.feed(b"abcde\n", |_| {}).is_err());
    assert!(LineSplitter::new(usize::MAX).feed(b"x\r", |_| {}).is_ok());
}

#[test]
fn on_line_closes_a_peer_that_sends_an_endless_line() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let errors = Rc::new(RefCell::new(Vec::new()));
    let lines = Rc::new(RefCell::new(Vec::new()));
    let (e, l) = (errors.clone(), lines.clone());
    server.on_connection(move |_, srv, client| {
        srv.close();
        let l = l.clone();
        client.on_line(1024, move |_, _, line| l.borrow_mut().push(line.to_vec()));
        let e = e.clone();
        client.on_error(move |_, _, err| e.borrow_mut().push(format!("{err}")));
    });
    let writer = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"hello\n").unwrap();
        // 1 MiB without a newline: the server must not buffer it all.
        let junk = vec![b'x'; 64 * 1024];
        for _ in 0..16 {
            if c.write_all(&junk).is_err() {
                break; // closed by the server, as it should be
            }
        }
    });
    run_bounded(&lp, 10);
    writer.join().unwrap();
    assert_eq!(*lines.borrow(), vec![b"hello".to_vec()]);
    assert_eq!(errors.borrow().len(), 1);
    assert!(errors.borrow()[0].contains("1024"), "{:?}", errors.borrow());
}

#[test]
fn server_tracks_its_clients_for_a_graceful_shutdown() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let clients: Vec<_> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let s = server.clone();
    server.on_connection(move |lp, _, _| {
        if s.connections() == 3 {
            assert_eq!(s.clients().len(), 3);
            for c in s.clients() {
                c.send("bye\n").unwrap();
            }
            s.close();
            s.close_connections(); // each flushes its "bye", then closes
            let s = s.clone();
            lp.defer(move |_| assert_eq!(s.connections(), 0));
        }
    });
    let closed = Hits::default();
    let c = closed.clone();
    server.on_close(move |_, _| c.hit());
    run_bounded(&lp, 10);
    assert_eq!(closed.get(), 1);
    for mut c in clients {
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        assert_eq!(got, "bye\n");
    }
}

#[test]
fn on_signal_does_not_keep_the_loop_alive_and_can_be_cleared() {
    let lp = Loop::new().unwrap();
    let hits = Hits::default();
    let h = hits.clone();
    let handle = lp
        .on_signal(hinge::signal::SIGUSR1, move |_, signum| {
            assert_eq!(signum, hinge::signal::SIGUSR1);
            h.hit();
        })
        .unwrap();
    run_bounded(&lp, 10); // returns at once: nothing keeps it alive
                          // Delivered while something else keeps the loop running.
    let _t = lp.set_timeout(Duration::from_millis(50), |_| {});
    unsafe_free_kill(hinge::signal::SIGUSR1);
    run_bounded(&lp, 10);
    assert_eq!(hits.get(), 1);
    assert!(handle.is_active());
    handle.clear();
    assert!(!handle.is_active());
}

/// Sends `signum` to this process through the `kill` command.
fn unsafe_free_kill(signum: i32) {
    let status = std::process::Command::new("kill")
        .args([format!("-{signum}"), std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn tcp_send_end_marks_the_response_complete_so_the_read_timeout_is_quiet() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    // Answers, then keeps the connection open (never hangs up, even
    // after the client's end).
    server.on_connection(|_, srv, client| {
        srv.close();
        client.set_allow_half_open(true);
        client.set_timeout(Some(Duration::from_secs(2)));
        client.on_timeout(|_, c| c.destroy());
        client.on_data(|_, c, _| {
            c.send("reply").ok();
        });
    });
    let closes = Rc::new(RefCell::new(Vec::new()));
    let errors = Hits::default();
    let e = errors.clone();
    let s = hinge::tcp_send(
        &lp,
        "127.0.0.1",
        port,
        "request",
        hinge::SendOptions {
            read_timeout: Some(Duration::from_millis(100)),
            ..Default::default()
        },
        |_, sock, _| sock.close(), // complete: say so
        move |_, _, _| e.hit(),
    )
    .unwrap();
    let c = closes.clone();
    s.on_close(move |_, _, had_error| c.borrow_mut().push(*had_error));
    run_bounded(&lp, 10);
    assert_eq!(errors.get(), 0);
    assert_eq!(*closes.borrow(), vec![false]);
}

#[test]
fn tcp_nodelay_is_on_by_default_and_a_server_can_opt_out() {
    let lp = Loop::new().unwrap();
    for on in [true, false] {
        let server = Server::new(&lp);
        server.set_nodelay(on);
        server.listen_on("127.0.0.1", 0).unwrap();
        let port = server.local_addr().unwrap().port();
        let accepted = Rc::new(RefCell::new(None));
        let a = accepted.clone();
        server.on_connection(move |_, srv, client| {
            *a.borrow_mut() = Some(client.nodelay().unwrap());
            client.destroy();
            srv.close();
        });
        let client = Socket::connect(&lp, "127.0.0.1", port).unwrap();
        let connected = Rc::new(RefCell::new(None));
        let c = connected.clone();
        client.on_connect(move |_, s| {
            *c.borrow_mut() = Some(s.nodelay().unwrap());
            s.destroy();
        });
        run_bounded(&lp, 10);
        assert_eq!(
            *accepted.borrow(),
            Some(on),
            "accepted, server nodelay {on}"
        );
        assert_eq!(*connected.borrow(), Some(true), "connected: on by default");
    }
}

/// The variant's name, then the message: what these tests match on.
fn kind(e: &Error) -> String {
    let name = match e {
        Error::ConnectionReset { .. } => "ConnectionReset",
        Error::Closed { .. } => "Closed",
        Error::TimedOut { .. } => "TimedOut",
        _ => "other",
    };
    format!("{name}: {e}")
}
