//! An adversarial pass over the HTTP server's listeners and responses,
//! from safe code (the core half is `adversarial.rs`): listeners that
//! remove themselves or others and panic with captures that panic on
//! drop, responses kept by `drain` listeners, nested runs.

mod common;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::Duration;

use common::{DropCounter, Hits};
use hinge::http;
use hinge::Loop;

use common::adversary::{in_child, PanicOnDrop};

fn get(port: u16, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    s
}

fn http_server(lp: &Loop) -> (http::Server, u16) {
    let server = http::Server::new(lp);
    server.on_client_error(|_, _, _| {});
    server.listen_on("127.0.0.1", 0).unwrap();
    let port = server.local_addr().unwrap().inet().unwrap().port();
    (server, port)
}
// ---------------------------------------------------------------------
// HTTP: request listeners
// ---------------------------------------------------------------------

/// A request listener that removes itself with
/// `server.off(own id)` and then panics: the dispatch snapshot holds the
/// last `Rc` of the listener, which is then dropped while the panic
/// unwinds; a capture whose Drop panics aborts the process.
/// Expected: `run` re-raises the listener's panic (as Event listeners do).
/// Before its fix: the process aborts (SIGABRT, "panic in a destructor during
/// cleanup"): the `Snapshot` built at hinge/src/http/server.rs:531 is
/// dropped at :537 while the panic unwinds.
#[test]
fn http_request_listener_off_self_then_panic_with_panicking_capture() {
    let r = in_child(
        "http_request_listener_off_self_then_panic_with_panicking_capture",
        || {
            let lp = Loop::new().unwrap();
            let (server, port) = http_server(&lp);
            let id = Rc::new(Cell::new(None));
            let i = id.clone();
            let bomb = PanicOnDrop;
            let lid = server.on_request(move |_, server, _, _| {
                let _ = &bomb;
                server.off(i.get().unwrap());
                panic!("listener panics after removing itself");
            });
            id.set(Some(lid));
            let _peer = get(port, "/");
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                common::run_bounded(&lp, 5)
            }));
            assert!(r.is_err(), "run re-raises the listener's panic");
        },
    );
    r.unwrap();
}

/// FINDING (fails). Same, but listener A removes listener B (which holds
/// the panicking capture) and then A panics: B's last Rc lives in the
/// dispatch snapshot, dropped while A's panic unwinds.
/// Expected: `run` re-raises A's panic. Before its fix: SIGABRT, "panic in a
/// destructor during cleanup" (hinge/src/http/server.rs:531-537).
#[test]
fn http_request_listener_off_other_then_panic_with_panicking_capture() {
    let r = in_child(
        "http_request_listener_off_other_then_panic_with_panicking_capture",
        || {
            let lp = Loop::new().unwrap();
            let (server, port) = http_server(&lp);
            let id = Rc::new(Cell::new(None));
            let i = id.clone();
            server.on_request(move |_, server, _, _| {
                server.off(i.get().unwrap());
                panic!("A panics after removing B");
            });
            let bomb = PanicOnDrop;
            let b = server.on_request(move |_, _, _, res| {
                let _ = &bomb;
                let _ = res.end("b");
            });
            id.set(Some(b));
            let _peer = get(port, "/");
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                common::run_bounded(&lp, 5)
            }));
            assert!(r.is_err(), "run re-raises A's panic");
            // B was removed; its drop panicked: at least no abort.
            std::mem::forget(lp);
        },
    );
    r.unwrap();
}

/// Several listeners, the first panics: the others still answer? The
/// documented rule is "a handler's bug costs its request, not the
/// server": the server must go on serving the next request.
#[test]
fn http_panicking_listener_among_several_keeps_server_alive() {
    let lp = Loop::new().unwrap();
    let (server, port) = http_server(&lp);
    let hits = Hits::default();
    let h = hits.clone();
    server.on_request(move |_, _, req, _| {
        h.hit();
        if req.path() == "/boom" {
            panic!("boom");
        }
    });
    server.on_request(|_, _, _, res| {
        let _ = res.end("ok");
    });
    let _p1 = get(port, "/boom");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| common::run_bounded(&lp, 5)));
    assert!(r.is_err());
    let mut p2 = get(port, "/fine");
    p2.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    let t = std::thread::spawn(move || {
        let _done = SetOnDrop(d);
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while let Ok(n) = p2.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(2).any(|w| w == b"ok") {
                break;
            }
        }
        buf
    });
    // Until the reader has its answer (30 s at most: valgrind is slow).
    let started = std::time::Instant::now();
    let timer = lp.set_interval(Duration::from_millis(10), move |lp, _| {
        if done.load(std::sync::atomic::Ordering::SeqCst)
            || started.elapsed() > Duration::from_secs(30)
        {
            lp.break_all();
        }
    });
    lp.run();
    timer.clear();
    let buf = t.join().unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(hits.get(), 2);
}

/// A response that registers on_drain capturing its own Response and then
/// ends normally: once the exchange is over and the loop dropped, the
/// closure must be freed (no Response -> drain listener -> Response cycle).
#[test]
fn http_ended_response_with_self_capturing_drain_listener_is_freed() {
    let drops = DropCounter::default();
    {
        let lp = Loop::new().unwrap();
        let (server, port) = http_server(&lp);
        let d = drops.clone();
        server.on_request(move |lp, _, _, res| {
            let me = res.clone();
            let tok = d.token();
            res.on_drain(move |_, _| {
                tok.touch();
                let _ = &me;
            });
            let _ = res.end("x");
            lp.set_timeout(Duration::from_millis(100), |lp| lp.break_all());
        });
        let mut peer = get(port, "/");
        common::run_bounded(&lp, 5);
        let mut buf = [0u8; 256];
        let _ = peer.read(&mut buf);
        drop(peer);
        drop(server);
        drop(lp);
    }
    assert_eq!(
        drops.dropped(),
        1,
        "the drain listener (and its response) leaked"
    );
}

/// A response that registers on_drain and is never ended, while the client
/// stays connected, then the loop is dropped: freed?
#[test]
fn http_never_ended_response_with_drain_freed_at_teardown() {
    let drops = DropCounter::default();
    {
        let lp = Loop::new().unwrap();
        let (server, port) = http_server(&lp);
        let d = drops.clone();
        server.on_request(move |lp, _, _, res| {
            let me = res.clone();
            let tok = d.token();
            let _ = res.write("partial");
            res.on_drain(move |_, _| {
                tok.touch();
                let _ = &me;
            });
            lp.break_one();
        });
        let _peer = get(port, "/");
        common::run_bounded(&lp, 5);
        drop(server);
        drop(lp);
    }
    assert_eq!(
        drops.dropped(),
        1,
        "a drain-kept response leaked at teardown"
    );
}

/// A drain-kept response (never ended, no self capture) across a client
/// disconnect: the close listener of the response runs once, the drain
/// closure is freed while the loop still runs.
#[test]
fn http_drain_kept_response_freed_on_client_disconnect() {
    let drops = DropCounter::default();
    let closes = Hits::default();
    let lp = Loop::new().unwrap();
    let (server, port) = http_server(&lp);
    let (d, c) = (drops.clone(), closes.clone());
    server.on_request(move |_, _, _, res| {
        let tok = d.token();
        let _ = res.write("partial");
        res.on_drain(move |_, _| tok.touch());
        let c = c.clone();
        res.on_close(move |_, _| c.hit());
    });
    let peer = get(port, "/");
    let t = lp.set_timeout(Duration::from_millis(200), move |lp| {
        drop(peer);
        lp.set_timeout(Duration::from_millis(200), |lp| lp.break_all());
    });
    common::run_bounded(&lp, 5);
    drop(t);
    assert_eq!(closes.get(), 1, "response close once");
    assert_eq!(
        drops.dropped(),
        1,
        "drain listener freed after the client left"
    );
    drop(server);
    drop(lp);
}

/// on_drain then off of it, then the response is dropped without end:
/// the server answers/cleans up, no hang, closure freed.
#[test]
fn http_on_drain_then_off_then_drop_response() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let (server, port) = http_server(&lp);
    let d = drops.clone();
    server.on_request(move |_, _, _, res| {
        let tok = d.token();
        let id = res.on_drain(move |_, _| tok.touch());
        assert!(res.off(id));
        // dropped without end: a 500
    });
    let mut peer = get(port, "/");
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let n = peer.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let w = lp.set_timeout(Duration::from_millis(300), |lp| lp.break_all());
    common::run_bounded(&lp, 5);
    drop(w);
    let text = t.join().unwrap();
    assert!(text.starts_with("HTTP/1.1 500"), "{text:?}");
    assert_eq!(drops.dropped(), 1);
}

/// A request listener that runs the loop again (nested run) while a second
/// client sends a request: the nested dispatch finds the listener busy.
/// The second request must still be answered eventually (not silently lost).
#[test]
fn http_nested_run_inside_request_listener() {
    let lp = Loop::new().unwrap();
    let (server, port) = http_server(&lp);
    let depth = Rc::new(Cell::new(0));
    let answered = Hits::default();
    let (dd, a) = (depth.clone(), answered.clone());
    server.on_request(move |lp, _, req, res| {
        dd.set(dd.get() + 1);
        if req.path() == "/outer" {
            let t = lp.set_timeout(Duration::from_millis(300), |lp| lp.break_one());
            lp.run();
            drop(t);
        }
        let _ = res.end("done");
        a.hit();
    });
    let mut outer = get(port, "/outer");
    let pt = port;
    let i2 = lp.set_timeout(Duration::from_millis(50), move |_| {
        std::mem::forget(get(pt, "/inner"));
    });
    let w = lp.set_timeout(Duration::from_millis(1200), |lp| lp.break_all());
    common::run_bounded(&lp, 5);
    drop((i2, w));
    outer
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 256];
    let n = outer.read(&mut buf).unwrap_or(0);
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    eprintln!(
        "requests dispatched: {} answered: {}",
        depth.get(),
        answered.get()
    );
}

/// FINDING (fails). An upgrade listener that removes itself, then panics,
/// with a capture that panics on drop. Expected: the panic re-raised from
/// `run`. Before its fix: SIGABRT (snapshot in `hand_over`, server.rs:555-571).
#[test]
fn http_upgrade_listener_off_self_then_panic_with_panicking_capture() {
    let r = in_child(
        "http_upgrade_listener_off_self_then_panic_with_panicking_capture",
        || {
            let lp = Loop::new().unwrap();
            let (server, port) = http_server(&lp);
            let id = Rc::new(Cell::new(None));
            let i = id.clone();
            let bomb = PanicOnDrop;
            let lid = server.on_upgrade(move |_, server, _, _, _| {
                let _ = &bomb;
                server.off(i.get().unwrap());
                panic!("upgrade listener panics");
            });
            id.set(Some(lid));
            let mut peer = TcpStream::connect(("127.0.0.1", port)).unwrap();
            peer.write_all(
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n",
            )
            .unwrap();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                common::run_bounded(&lp, 5)
            }));
            assert!(r.is_err());
        },
    );
    r.unwrap();
}

/// A request listener registers res.on_close with a listener that panics,
/// then panics itself: the unwinding closes the connection; if that
/// emits the response's close synchronously, the second panic escapes a
/// Drop during unwinding (abort).
#[test]
fn http_handler_panics_with_panicking_response_close_listener() {
    let r = in_child(
        "http_handler_panics_with_panicking_response_close_listener",
        || {
            let lp = Loop::new().unwrap();
            let (server, port) = http_server(&lp);
            server.on_request(move |_, _, _, res| {
                res.on_close(|_, _| panic!("close listener panics"));
                panic!("handler panics");
            });
            let _peer = get(port, "/");
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                common::run_bounded(&lp, 5)
            }));
            assert!(r.is_err());
            // Let the connection close, then tear down.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let w = lp.set_timeout(Duration::from_millis(200), |lp| lp.break_all());
                lp.run();
                drop(w);
            }));
            let _ = r;
            drop(server);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(lp)));
        },
    );
    r.unwrap();
}

/// A response ended after its server was closed (and its loop dropped).
#[test]
fn http_response_ended_after_server_closed() {
    let lp = Loop::new().unwrap();
    let (server, port) = http_server(&lp);
    let kept = Rc::new(RefCell::new(None));
    let k = kept.clone();
    server.on_request(move |lp, server, _, res| {
        *k.borrow_mut() = Some(res);
        server.close();
        lp.break_one();
    });
    let _peer = get(port, "/");
    common::run_bounded(&lp, 5);
    let res: http::Response = kept.borrow_mut().take().unwrap();
    assert!(
        res.end("late").is_ok(),
        "the connection is still open: end works"
    );
    let w = lp.set_timeout(Duration::from_millis(200), |lp| lp.break_all());
    common::run_bounded(&lp, 5);
    drop(w);
    drop(server);
    drop(lp);
    assert!(res.end("again").is_err());
}

/// Sets its flag when dropped: a thread's "I am done", even if it panics.
struct SetOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
