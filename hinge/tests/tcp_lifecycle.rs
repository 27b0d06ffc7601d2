//! TCP servers and sockets over 127.0.0.1, their lifecycle: handles that
//! outlive their loop, listeners nothing would free, unref, graceful
//! shutdown, line splitting, signals, `tcp_send` and socket options.

mod common;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::Duration;

use common::{local_server, run_bounded, DropCounter, Hits};
use hinge::{Error, Loop, Server, Socket};

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
