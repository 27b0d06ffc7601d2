//! The close path attacked from safe code, second part (the first is
//! tests/adversarial_close.rs): handles dropped from the socket's own
//! callbacks, nested runs in `end`, `close` and `data` listeners, the
//! peer's EOF (half-open sockets, flushing before the close), churn on a
//! server, and TLS.

mod common;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use common::close::*;
use common::{local_server, run_bounded, DropCounter, Hits};
use hinge::{Loop, Socket, Timer};

// ---------------------------------------------------------------------
// Handles and the loop held and dropped from the socket's own callbacks
// ---------------------------------------------------------------------

/// The only user handle lives in a cell that the socket's own callbacks
/// empty (an `Err` callback, then `close`).
#[test]
fn the_last_handle_dropped_from_the_sockets_own_callbacks() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let slot: Rc<RefCell<Option<Socket>>> = Rc::default();
    let (a, _b) = UnixStream::pair().unwrap();
    {
        let s = Socket::from_unix_stream(&lp, a).unwrap();
        *slot.borrow_mut() = Some(s.clone());
        let (sl, tok) = (slot.clone(), drops.token());
        s.send_then(vec![0u8; BIG], move |_, _, r| {
            tok.touch();
            assert!(r.is_err());
            drop(sl.borrow_mut().take());
        })
        .unwrap();
        let (sl, tok) = (slot.clone(), drops.token());
        s.on_close(move |_, s, _| {
            tok.touch();
            assert!(sl.borrow().is_none());
            assert!(s.is_closed());
        });
        s.destroy();
    }
    run_bounded(&lp, 5);
    assert_eq!(drops.dropped(), 2);
    drop(lp);
}

// ---------------------------------------------------------------------
// Nested runs inside `data`, `end` and `close`
// ---------------------------------------------------------------------

/// `end` listeners that run the loop nested: `end` once, `close` once,
/// and no `data` after `end`.
#[test]
fn nested_runs_in_end_and_close_listeners() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (s, mut b) = pair(&lp);
    let (ends, datas) = (Hits::default(), Hits::default());
    let (e, ended) = (ends.clone(), Rc::new(Cell::new(false)));
    let en = ended.clone();
    s.on_end(move |lp, _| {
        e.hit();
        en.set(true);
        for _ in 0..5 {
            lp.run_nowait();
        }
        lp.run_once();
    });
    let (d, en) = (datas.clone(), ended.clone());
    s.on_data(move |lp, _, _| {
        assert!(!en.get(), "data after end");
        d.hit();
        lp.run_nowait();
    });
    let closes = record_close(&s, &drops);
    s.on_close(|lp, _, _| {
        lp.run_nowait();
        lp.run_once();
    });
    b.write_all(b"hello").unwrap();
    b.shutdown(std::net::Shutdown::Write).unwrap();
    let _guard = guard_timer(&lp);
    run_bounded(&lp, 10);
    assert_eq!(ends.get(), 1);
    assert!(datas.get() >= 1);
    assert_eq!(*closes.borrow(), vec![false]);
    let mut rest = Vec::new();
    b.read_to_end(&mut rest).unwrap();
    drop(s);
    drop(lp);
    assert_eq!(drops.dropped(), 1);
}

/// A `data` listener that closes the socket and runs the loop nested, on
/// a server's connections: every connection closes once.
#[test]
fn data_listeners_that_close_and_run_nested_on_a_server() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let closes = Rc::new(RefCell::new(Vec::new()));
    let (c, d) = (closes.clone(), drops.clone());
    server.on_connection(move |_, _, client| {
        let me = client.clone();
        let tok = d.token();
        client.on_data(move |lp, s, _| {
            tok.touch();
            let _ = &me;
            let t2 = me.clone();
            s.send_then(b"bye", move |_, _, _| {
                let _ = &t2;
            })
            .unwrap();
            s.close();
            lp.run_nowait();
            s.destroy();
        });
        let c = c.clone();
        client.on_close(move |lp, _, had_error| {
            c.borrow_mut().push(*had_error);
            lp.run_nowait();
        });
    });
    let peers: Vec<_> = (0..8)
        .map(|_| {
            let mut p = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            p.write_all(b"hi").unwrap();
            p
        })
        .collect();
    let c = closes.clone();
    let t = Timer::new(
        &lp,
        Duration::ZERO,
        Duration::from_millis(5),
        move |lp, _| {
            if c.borrow().len() == 8 {
                lp.break_all();
            }
        },
    );
    run_bounded(&lp, 10);
    drop(t);
    assert_eq!(*closes.borrow(), vec![false; 8]);
    drop(peers);
    server.close();
    drop(server);
    drop(lp);
    assert_eq!(drops.dropped(), 8);
}

// ---------------------------------------------------------------------
// The peer's EOF: half-open sockets, and flushing before the close
// ---------------------------------------------------------------------

/// A half-open socket after the peer's EOF stops asking for reads: the
/// loop does not spin on the readable EOF, the socket still sends, and
/// `end` then closes it.
#[test]
fn a_half_open_socket_stops_reading_after_eof_and_still_sends() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (s, mut b) = pair(&lp);
    s.set_allow_half_open(true);
    let ends = Hits::default();
    let e = ends.clone();
    s.on_end(move |lp, _| {
        e.hit();
        lp.break_one();
    });
    let closes = record_close(&s, &drops);
    b.shutdown(std::net::Shutdown::Write).unwrap();
    run_bounded(&lp, 5);
    assert_eq!(ends.get(), 1);
    assert!(!s.is_closed(), "half-open: still open");
    let spins = iterations_over(&lp, 100);
    assert!(
        spins < 20,
        "the loop spun {spins} times on a read-ended socket"
    );
    assert_eq!(ends.get(), 1, "end once");
    s.send(b"still here").unwrap();
    s.end();
    run_bounded(&lp, 5);
    let mut got = String::new();
    b.read_to_string(&mut got).unwrap();
    assert_eq!(got, "still here");
    assert_eq!(*closes.borrow(), vec![false]);
    drop(s);
    drop(lp);
    assert_eq!(drops.dropped(), 1);
}

/// The same, when the `end` listener pauses and resumes (each changes the
/// interest while the EOF is being handled).
#[test]
fn a_half_open_end_listener_that_pauses_and_resumes() {
    let lp = Loop::new().unwrap();
    let (s, b) = pair(&lp);
    s.set_allow_half_open(true);
    s.on_end(|lp, s| {
        s.pause();
        s.resume();
        lp.run_nowait();
        s.resume();
        lp.break_one();
    });
    b.shutdown(std::net::Shutdown::Write).unwrap();
    run_bounded(&lp, 5);
    assert!(!s.is_closed());
    let spins = iterations_over(&lp, 100);
    assert!(
        spins < 20,
        "the loop spun {spins} times on a read-ended socket"
    );
    s.destroy();
    run_bounded(&lp, 5);
}

/// An `end` listener that runs the loop nested for 50 ms (broken by a
/// timer): the io watcher must stop asking for reads before `end`
/// listeners run, or the nested run spins on the readable EOF (found when
/// 821ea2c moved that update after them).
#[test]
fn a_nested_run_in_an_end_listener_does_not_spin() {
    let lp = Loop::new().unwrap();
    let (s, b) = pair(&lp);
    s.set_allow_half_open(true);
    let spins = Rc::new(Cell::new(0u32));
    let sp = spins.clone();
    s.on_end(move |lp, _| sp.set(iterations_over(lp, 50)));
    b.shutdown(std::net::Shutdown::Write).unwrap();
    let t = Timer::new(&lp, Duration::from_millis(200), Duration::ZERO, |lp, _| {
        lp.break_all()
    });
    run_bounded(&lp, 5);
    drop(t);
    assert!(spins.get() > 0, "end ran");
    assert!(
        spins.get() < 20,
        "the nested run spun {} times",
        spins.get()
    );
    s.destroy();
    run_bounded(&lp, 5);
}

/// The peer ends while a large send is still queued (not half-open): the
/// queue is flushed in full, then the socket closes (no error), without
/// spinning on the read side meanwhile.
#[test]
fn peer_eof_with_a_large_send_queued_flushes_then_closes() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (s, b) = pair(&lp);
    let outcomes = queue_sends(&s, 2, &drops);
    let closes = record_close(&s, &drops);
    let ends = Hits::default();
    let e = ends.clone();
    s.on_end(move |_, _| e.hit());
    b.shutdown(std::net::Shutdown::Write).unwrap();
    // Let the EOF arrive while nobody reads: the queue stays.
    let spins = iterations_over(&lp, 100);
    assert_eq!(ends.get(), 1);
    assert!(!s.is_closed(), "still flushing");
    assert!(spins < 20, "the loop spun {spins} times while flushing");
    let reader = drain_in_thread(b);
    run_bounded(&lp, 20);
    assert_eq!(reader.join().unwrap(), 2 * BIG, "every byte, then EOF");
    assert_eq!(*outcomes.borrow(), vec![(0, true), (1, true)]);
    assert_eq!(*closes.borrow(), vec![false]);
    drop(s);
    drop(lp);
    assert_eq!(drops.dropped(), 3);
}

/// The `end` listener itself queues a large answer: flushed, then closed.
#[test]
fn an_end_listener_that_queues_a_large_answer_flushes_it_then_closes() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (s, b) = pair(&lp);
    let outcomes: Outcomes = Rc::default();
    let (o, d) = (outcomes.clone(), drops.clone());
    s.on_end(move |_, s| {
        let (o, me, tok) = (o.clone(), s.clone(), d.token());
        s.send_then(vec![9u8; BIG], move |_, _, r| {
            let _ = (&me, &tok);
            o.borrow_mut().push((0, r.is_ok()));
        })
        .unwrap();
    });
    let closes = record_close(&s, &drops);
    b.shutdown(std::net::Shutdown::Write).unwrap();
    let reader = drain_in_thread(b);
    run_bounded(&lp, 20);
    assert_eq!(reader.join().unwrap(), BIG);
    assert_eq!(*outcomes.borrow(), vec![(0, true)]);
    assert_eq!(*closes.borrow(), vec![false]);
    drop(s);
    drop(lp);
    assert_eq!(
        drops.dropped(),
        2,
        "the send's callback and the close recorder"
    );
}

/// An `end` listener that closes from a nested run: `close` once, and
/// `on_eof`'s late interest update finds the socket closed.
#[test]
fn an_end_listener_that_destroys_then_runs_nested() {
    let lp = Loop::new().unwrap();
    let (s, b) = pair(&lp);
    s.set_allow_half_open(true);
    let closes = record_close(&s, &DropCounter::default());
    let c = closes.clone();
    s.on_end(move |lp, s| {
        s.destroy();
        lp.run_once();
        assert_eq!(*c.borrow(), vec![false], "closed by the nested run");
        assert!(s.send(b"x").is_err());
    });
    b.shutdown(std::net::Shutdown::Write).unwrap();
    let _guard = guard_timer(&lp);
    run_bounded(&lp, 5);
    assert_eq!(*closes.borrow(), vec![false]);
}

// ---------------------------------------------------------------------
// Churn: many connections whose callbacks hold their sockets
// ---------------------------------------------------------------------

/// Server connections whose `on_written` callbacks and listeners hold the
/// socket, closed by the peer, by `close` and by `destroy` in turn: every
/// closure is freed, and `close` is emitted once per connection.
#[test]
fn churn_with_callbacks_holding_their_sockets_frees_everything() {
    const N: usize = 60;
    let drops = DropCounter::default();
    let made = Rc::new(Cell::new(0usize));
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let closes = Rc::new(RefCell::new(Vec::new()));
    let (c, d, m) = (closes.clone(), drops.clone(), made.clone());
    server.on_connection(move |_, _, client| {
        let n = m.get();
        m.set(n + 1);
        let (me, tok) = (client.clone(), d.token());
        client
            .send_then(vec![1u8; 1 << 20], move |_, _, _| {
                let _ = (&me, &tok);
            })
            .unwrap();
        let (me, tok) = (client.clone(), d.token());
        client.on_data(move |_, s, _| {
            let _ = (&me, &tok);
            match n % 3 {
                0 => s.close(),
                1 => s.destroy(),
                _ => {}
            }
        });
        let c = c.clone();
        client.on_close(move |_, _, had_error| c.borrow_mut().push(*had_error));
    });
    let mut peers = Vec::new();
    for _ in 0..N {
        let mut p = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        p.write_all(b"x").unwrap();
        peers.push(p);
    }
    // Let every connection arrive and be served.
    let m = made.clone();
    let t = Timer::new(
        &lp,
        Duration::ZERO,
        Duration::from_millis(5),
        move |lp, _| {
            if m.get() == N {
                lp.break_one();
            }
        },
    );
    run_bounded(&lp, 10);
    drop(t);
    iterations_over(&lp, 50);
    // Some connections were closed and reset, some still flush; the peers
    // now read everything or go.
    for (i, mut p) in peers.into_iter().enumerate() {
        if i % 2 == 0 {
            let _ = p.set_read_timeout(Some(Duration::from_millis(1)));
            let mut buf = [0u8; 65536];
            while let Ok(n) = p.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        }
    }
    // Half the connections are left to the loop's teardown.
    for _ in 0..10 {
        lp.run_nowait();
    }
    server.close();
    drop(server);
    drop(lp);
    assert_eq!(made.get(), N);
    assert_eq!(closes.borrow().len(), N, "close once per connection");
    assert_eq!(drops.dropped(), 2 * N, "every closure freed");
}

// ---------------------------------------------------------------------
// TLS: sends waiting for the handshake
// ---------------------------------------------------------------------

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use common::tls::certs;
    use hinge::tls;

    /// A TLS client to a server that never answers the handshake: its
    /// sends wait in `early`; `destroy` fails each once.
    #[test]
    fn early_sends_holding_the_socket_fail_once_on_destroy() {
        let c = certs();
        let drops = DropCounter::default();
        let lp = Loop::new().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = tls::client_config_with_ca(c.ca()).unwrap();
        let s = Socket::connect_tls_as(&lp, "127.0.0.1", port, "localhost", config).unwrap();
        let outcomes: Outcomes = Rc::default();
        for i in 0..3 {
            let (o, me, tok) = (outcomes.clone(), s.clone(), drops.token());
            s.send_then(b"early", move |_, _, r| {
                let _ = (&me, &tok);
                o.borrow_mut().push((i, r.is_ok()));
            })
            .unwrap();
        }
        let closes = record_close(&s, &drops);
        let (_peer, _) = listener.accept().unwrap();
        for _ in 0..5 {
            lp.run_nowait();
        }
        s.destroy();
        run_bounded(&lp, 5);
        assert_eq!(*outcomes.borrow(), vec![(0, false), (1, false), (2, false)]);
        assert_eq!(*closes.borrow(), vec![false]);
        drop(s);
        drop(lp);
        assert_eq!(drops.dropped(), 4);
    }

    /// The same, with the loop dropped before the close step runs.
    #[test]
    fn early_sends_holding_the_socket_freed_when_the_loop_drops_mid_close() {
        let c = certs();
        let drops = DropCounter::default();
        let lp = Loop::new().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = tls::client_config_with_ca(c.ca()).unwrap();
        let s = Socket::connect_tls_as(&lp, "127.0.0.1", port, "localhost", config).unwrap();
        for _ in 0..3 {
            let (me, tok) = (s.clone(), drops.token());
            s.send_then(b"early", move |_, _, _| {
                let _ = (&me, &tok);
                panic!("never called: the loop is gone");
            })
            .unwrap();
        }
        let closes = record_close(&s, &drops);
        s.destroy();
        drop(s);
        drop(lp);
        assert_eq!(*closes.borrow(), vec![false]);
        assert_eq!(drops.dropped(), 4);
    }

    /// A TLS server whose peer sends `close_notify` and FIN while a large
    /// answer is still queued: flushed in full, then closed.
    #[test]
    fn tls_peer_end_with_a_large_answer_queued_flushes_then_closes() {
        let c = certs();
        let drops = DropCounter::default();
        let lp = Loop::new().unwrap();
        let (server, port) = local_server(&lp);
        server.set_tls(tls::server_config(c.cert(), c.key()).unwrap());
        let server_closes = Rc::new(RefCell::new(Vec::new()));
        let (sc, d) = (server_closes.clone(), drops.clone());
        server.on_connection(move |_, _, s| {
            let d = d.clone();
            s.on_data(move |_, s, _| {
                let (me, tok) = (s.clone(), d.token());
                s.send_then(vec![3u8; BIG], move |_, _, r| {
                    let _ = (&me, &tok);
                    assert!(r.is_ok(), "{r:?}");
                })
                .unwrap();
            });
            let sc = sc.clone();
            s.on_close(move |_, _, had_error| sc.borrow_mut().push(*had_error));
        });
        let config = tls::client_config_with_ca(c.ca()).unwrap();
        let client = Socket::connect_tls_as(&lp, "127.0.0.1", port, "localhost", config).unwrap();
        client.set_allow_half_open(true);
        let got = Rc::new(Cell::new(0usize));
        let g = got.clone();
        client.on_data(move |_, _, d| g.set(g.get() + d.len()));
        client.on_secure(|_, s| {
            s.send(b"go").unwrap();
            s.end(); // close_notify, then FIN, right after the request
        });
        let client_closes = record_close(&client, &drops);
        let srv = server.clone();
        client.on_close(move |_, _, _| srv.close());
        run_bounded(&lp, 30);
        assert_eq!(got.get(), BIG, "the whole answer arrived");
        assert_eq!(*server_closes.borrow(), vec![false]);
        assert_eq!(*client_closes.borrow(), vec![false]);
        drop((client, server));
        drop(lp);
        assert_eq!(drops.dropped(), 2);
    }
}
