//! Dropping a loop with work in flight: every open socket and server
//! emits `close` once, and nothing that was alive at teardown (a
//! protocol layer's cycles included) outlives the loop.

mod common;

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::TcpStream;
use std::rc::Rc;
use std::time::Duration;

use common::{local_server, DropCounter};
use hinge::http::{self, Response};
use hinge::{Loop, Socket};

#[test]
fn open_sockets_and_servers_emit_close_at_teardown_and_free_their_cycles() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let drops = DropCounter::default();
    let closes = Rc::new(RefCell::new(Vec::new()));
    let (c, d) = (closes.clone(), drops.clone());
    server.on_connection(move |lp, _, client| {
        // A listener that holds its own socket: a cycle only `close`
        // (or teardown) breaks.
        let me = client.clone();
        let tok = d.token();
        client.on_data(move |_, _, _| {
            tok.touch();
            let _ = &me;
        });
        let c = c.clone();
        client.on_close(move |_, _, had_error| c.borrow_mut().push(("client", *had_error)));
        lp.break_one();
    });
    let c = closes.clone();
    server.on_close(move |_, _| c.borrow_mut().push(("server", false)));
    let _peer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    common::run_bounded(&lp, 5);
    drop(server);
    drop(lp);
    let closes = closes.borrow();
    assert!(closes.contains(&("client", false)), "{closes:?}");
    assert!(closes.contains(&("server", false)), "{closes:?}");
    assert_eq!(closes.len(), 2, "once each: {closes:?}");
    assert_eq!(drops.dropped(), 1, "the socket's own cycle is freed");
}

#[test]
fn a_servers_close_comes_after_its_last_clients_close() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let order = Rc::new(RefCell::new(Vec::new()));
    let o = order.clone();
    server.on_connection(move |_, server, client| {
        let o = o.clone();
        client.on_close(move |_, _, _| o.borrow_mut().push("client"));
        server.close();
        client.close();
    });
    let o = order.clone();
    server.on_close(move |_, _| o.borrow_mut().push("server"));
    let _peer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    common::run_bounded(&lp, 5);
    assert_eq!(*order.borrow(), ["client", "server"]);
}

/// What an HTTP handler does with its exchange before the loop drops.
#[derive(Clone, Copy, Debug)]
enum Park {
    /// Keeps `res` in a 60 s timer.
    Timer,
    /// Ends `res` from the request's `end`, which never comes.
    OnEnd,
    /// Hands `res` out of the loop; the test ends it after the loop is gone.
    EndLater,
    /// Hands `res` out; the test drops it after the loop is gone.
    DropLater,
}

/// Serves one exchange parked as `park`, drops the loop mid-flight, and
/// returns whether everything the server held was freed.
fn teardown_mid_exchange(park: Park) -> bool {
    let lp = Loop::new().unwrap();
    let server = http::Server::new(&lp);
    server.on_client_error(|_, _, _| {});
    let drops = DropCounter::default();
    let kept: Rc<RefCell<Option<Response>>> = Rc::default();
    let served = Rc::new(Cell::new(false));
    let (tok, k, s) = (drops.token(), kept.clone(), served.clone());
    server.on_request(move |lp, _, req, res| {
        tok.touch(); // freed only with the server's state
        s.set(true);
        match park {
            Park::Timer => {
                lp.set_timeout(Duration::from_secs(60), move |_| {
                    let _ = res.end("late");
                });
            }
            Park::OnEnd => {
                req.on_data(|_, _, _| {});
                req.on_end(move |_, _| {
                    let _ = res.end("done");
                });
            }
            Park::EndLater | Park::DropLater => *k.borrow_mut() = Some(res),
        }
        lp.break_one();
    });
    server.listen_on("127.0.0.1", 0).unwrap();
    let port = server.local_addr().unwrap().inet().unwrap().port();
    let mut peer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // A body shorter than announced: the request never ends.
    peer.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhalf")
        .unwrap();
    common::run_bounded(&lp, 5);
    assert!(served.get(), "{park:?}: the handler ran");
    drop(server);
    drop(lp);
    let res = kept.borrow_mut().take();
    match (park, res) {
        (Park::EndLater, Some(res)) => {
            assert!(res.end("after the loop").is_err(), "{park:?}");
        }
        (_, res) => drop(res),
    }
    drops.dropped() == 1
}

#[test]
fn http_exchanges_alive_at_teardown_are_freed() {
    for park in [Park::Timer, Park::OnEnd, Park::EndLater, Park::DropLater] {
        assert!(
            teardown_mid_exchange(park),
            "{park:?}: the server's state leaked"
        );
    }
}

#[test]
fn a_socket_made_by_a_close_listener_at_teardown_is_inert_and_freed() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let drops = DropCounter::default();
    let made = Rc::new(Cell::new(0));
    let (d, m) = (drops.clone(), made.clone());
    server.on_connection(move |lp, _, client| {
        let (d, m) = (d.clone(), m.clone());
        client.on_close(move |lp, _, _| {
            // The loop is dead: this socket never connects.
            let late = Socket::connect_addr(lp, ([127, 0, 0, 1], 9).into());
            if let Ok(late) = late {
                m.set(m.get() + 1);
                let tok = d.token();
                let me = late.clone();
                late.on_close(move |_, _, _| {
                    tok.touch();
                    let _ = &me;
                });
            }
        });
        lp.break_one();
    });
    let _peer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    common::run_bounded(&lp, 5);
    drop(server);
    drop(lp);
    assert_eq!(drops.dropped(), made.get());
}
