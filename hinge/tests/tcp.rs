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
    let full = common::full_backlog();
    let port = full.port;
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
    drop(full);
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
