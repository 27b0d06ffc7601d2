//! ZeroMQ sockets on the loop, against real libzmq peers: other threads
//! using the `zmq` crate directly, over inproc://, ipc:// and tcp://.
#![cfg(feature = "zmq")]

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use common::{run_bounded, DropCounter, Hits};
use hinge::zmq::{Context, Kind, ZmqSocket};
use hinge::{Error, Loop};

fn ipc_path(name: &str) -> String {
    let path = std::env::temp_dir().join(format!("hinge-zmq-{}-{name}", std::process::id()));
    format!("ipc://{}", path.display())
}

fn tcp_any() -> &'static str {
    "tcp://127.0.0.1:*"
}

/// Collects every message's frames as byte vectors.
fn collect(sock: &ZmqSocket) -> Rc<RefCell<Vec<Vec<Vec<u8>>>>> {
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    sock.on_data(move |_, _, msg| {
        g.borrow_mut()
            .push(msg.iter().map(|f| f.to_vec()).collect());
    });
    got
}

/// A raw `zmq` peer on another thread.
fn peer<T: Send + 'static>(
    ctx: &Context,
    kind: zmq::SocketType,
    f: impl FnOnce(zmq::Socket) -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    let sock = ctx.as_zmq().socket(kind).unwrap();
    sock.set_linger(1000).unwrap();
    thread::spawn(move || f(sock))
}

#[test]
fn pull_receives_over_every_transport() {
    for endpoint in [
        "inproc://pull-every".to_string(),
        ipc_path("pull"),
        tcp_any().to_string(),
    ] {
        let lp = Loop::new().unwrap();
        let ctx = Context::new();
        let pull = ZmqSocket::with_context(&lp, &ctx, Kind::Pull).unwrap();
        pull.bind(&endpoint).unwrap();
        let at = pull.last_endpoint().unwrap();
        let got = collect(&pull);
        let sender = peer(&ctx, zmq::PUSH, move |s| {
            s.connect(&at).unwrap();
            for i in 0..3 {
                s.send(format!("m{i}").as_bytes(), 0).unwrap();
            }
        });
        let g = got.clone();
        let p = pull.clone();
        pull.on_data(move |_, _, _| {
            if g.borrow().len() == 3 {
                p.close();
            }
        });
        run_bounded(&lp, 10);
        sender.join().unwrap();
        let got = got.borrow();
        assert_eq!(got.len(), 3, "{endpoint}");
        assert_eq!(got[2], vec![b"m2".to_vec()], "{endpoint}");
    }
}

#[test]
fn pub_sub_with_topics() {
    let lp = Loop::new().unwrap();
    let ctx = Context::new();
    let sub = ZmqSocket::with_context(&lp, &ctx, Kind::Sub).unwrap();
    sub.bind("inproc://topics").unwrap();
    sub.subscribe("weather.").unwrap();
    let got = collect(&sub);
    let g = got.clone();
    let s = sub.clone();
    sub.on_data(move |_, _, msg| {
        if &msg[0][..] == b"weather.end" {
            assert!(g.borrow().iter().all(|m| m[0].starts_with(b"weather.")));
            s.close();
        }
    });
    let publisher = peer(&ctx, zmq::PUB, |s| {
        s.connect("inproc://topics").unwrap();
        // Subscriptions travel to the publisher: keep publishing until the
        // subscriber has certainly seen some.
        for _ in 0..200 {
            s.send_multipart(["sports.goal", "1-0"], 0).unwrap();
            s.send_multipart(["weather.rain", "10mm"], 0).unwrap();
            thread::sleep(Duration::from_millis(1));
        }
        s.send("weather.end", 0).unwrap();
    });
    run_bounded(&lp, 10);
    publisher.join().unwrap();
    let got = got.borrow();
    assert!(got.len() > 1);
    assert!(
        got.iter().all(|m| m[0].starts_with(b"weather.")),
        "topic filter"
    );
    assert_eq!(got[0].len(), 2, "multipart kept whole");
}

#[test]
fn push_pull_fan_in_and_fan_out() {
    // Fan-in: three raw PUSH peers into one hinge PULL.
    let lp = Loop::new().unwrap();
    let ctx = Context::new();
    let pull = ZmqSocket::with_context(&lp, &ctx, Kind::Pull).unwrap();
    pull.bind("inproc://fan-in").unwrap();
    let got = collect(&pull);
    let g = got.clone();
    let p = pull.clone();
    pull.on_data(move |_, _, _| {
        if g.borrow().len() == 300 {
            p.close();
        }
    });
    let peers: Vec<_> = (0..3)
        .map(|n| {
            peer(&ctx, zmq::PUSH, move |s| {
                s.connect("inproc://fan-in").unwrap();
                for i in 0..100 {
                    s.send(format!("{n}:{i}").as_bytes(), 0).unwrap();
                }
            })
        })
        .collect();
    run_bounded(&lp, 10);
    for p in peers {
        p.join().unwrap();
    }
    assert_eq!(got.borrow().len(), 300);
    // Each peer's messages arrive in its own order.
    for n in 0..3 {
        let mine: Vec<_> = got
            .borrow()
            .iter()
            .map(|m| String::from_utf8(m[0].clone()).unwrap())
            .filter(|m| m.starts_with(&format!("{n}:")))
            .collect();
        let want: Vec<_> = (0..100).map(|i| format!("{n}:{i}")).collect();
        assert_eq!(mine, want);
    }

    // Fan-out: one hinge PUSH to two raw PULL peers, round robin.
    let lp = Loop::new().unwrap();
    let push = ZmqSocket::with_context(&lp, &ctx, Kind::Push).unwrap();
    push.bind("inproc://fan-out").unwrap();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            peer(&ctx, zmq::PULL, |s| {
                s.connect("inproc://fan-out").unwrap();
                let mut n = 0;
                while s.recv_bytes(0).unwrap() != b"stop" {
                    n += 1;
                }
                n
            })
        })
        .collect();
    // Wait until both are connected, then send.
    let push2 = push.clone();
    lp.set_timeout(Duration::from_millis(100), move |_| {
        for i in 0..100 {
            push2.send_frame(format!("job {i}")).unwrap();
        }
        push2.send_frame("stop").unwrap();
        push2.send_frame("stop").unwrap();
        push2.close();
    });
    run_bounded(&lp, 10);
    let counts: Vec<usize> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(counts.iter().sum::<usize>(), 100);
    assert!(counts.iter().all(|&c| c > 0), "round robin: {counts:?}");
}

#[test]
fn req_rep_and_wrong_state_is_a_typed_error() {
    let lp = Loop::new().unwrap();
    let ctx = Context::new();
    let rep = ZmqSocket::with_context(&lp, &ctx, Kind::Rep).unwrap();
    rep.bind(tcp_any()).unwrap();
    let at = rep.last_endpoint().unwrap();
    rep.on_data(|_, rep, msg| {
        let mut reply = b"re: ".to_vec();
        reply.extend_from_slice(&msg[0]);
        rep.send_frame(reply).unwrap();
    });
    let client = peer(&ctx, zmq::REQ, move |s| {
        s.connect(&at).unwrap();
        (0..5)
            .map(|i| {
                s.send(format!("q{i}").as_bytes(), 0).unwrap();
                s.recv_string(0).unwrap().unwrap()
            })
            .collect::<Vec<_>>()
    });
    let r = rep.clone();
    let mut client = Some(client);
    let replies = Rc::new(RefCell::new(Vec::new()));
    let got = replies.clone();
    lp.set_interval(Duration::from_millis(10), move |_, t| {
        if client.as_ref().is_some_and(|c| c.is_finished()) {
            t.clear();
            *got.borrow_mut() = client.take().unwrap().join().unwrap();
            r.close();
        }
    });
    run_bounded(&lp, 10);
    assert_eq!(
        *replies.borrow(),
        ["re: q0", "re: q1", "re: q2", "re: q3", "re: q4"]
    );

    // A REQ socket must receive before it sends again.
    let req = ZmqSocket::new(&lp, Kind::Req).unwrap();
    req.connect("inproc://nobody-home").unwrap();
    req.set_send_queue_limit(0);
    let _ = req.send_frame("first");
    let rep2 = ZmqSocket::new(&lp, Kind::Rep).unwrap();
    let err = rep2.send_frame("no request yet").unwrap_err();
    assert!(matches!(err, Error::Zmq { op: "send", .. }), "{err:?}");
    req.close();
    rep2.close();
    run_bounded(&lp, 10);
}

#[test]
fn router_dealer_with_many_peers_and_multipart_frames() {
    let lp = Loop::new().unwrap();
    let ctx = Context::new();
    let router = ZmqSocket::with_context(&lp, &ctx, Kind::Router).unwrap();
    router.bind("inproc://router").unwrap();
    // Echo every message back to its sender, all frames.
    router.on_data(|_, r, msg| {
        r.send(msg).unwrap();
    });
    let big = vec![7u8; 16 * 1024 * 1024];
    let dealers: Vec<_> = (0..8)
        .map(|n| {
            let big = big.clone();
            peer(&ctx, zmq::DEALER, move |s| {
                s.set_identity(format!("dealer-{n}").as_bytes()).unwrap();
                s.connect("inproc://router").unwrap();
                let frames: Vec<&[u8]> = if n == 0 {
                    vec![b"", b"empty first frame", b""]
                } else if n == 1 {
                    vec![b"big", &big]
                } else {
                    vec![b"hello", b"world"]
                };
                s.send_multipart(frames.iter(), 0).unwrap();
                let back = s.recv_multipart(0).unwrap();
                let sent: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
                back == sent
            })
        })
        .collect();
    let dealers = Rc::new(RefCell::new(dealers));
    let (r, d) = (router.clone(), dealers.clone());
    lp.set_interval(Duration::from_millis(10), move |_, t| {
        if d.borrow().iter().all(|d| d.is_finished()) {
            t.clear();
            r.close();
        }
    });
    run_bounded(&lp, 30);
    for d in dealers.borrow_mut().drain(..) {
        assert!(
            d.join().unwrap(),
            "every dealer got its own message back, whole"
        );
    }
}

#[test]
fn a_message_arriving_during_a_send_from_another_callback_is_delivered() {
    // The trap: a send made from a timer consumes ZMQ_FD's edge; a naive
    // binding then never wakes for the message that arrived meanwhile.
    let lp = Loop::new().unwrap();
    let ctx = Context::new();
    let dealer = ZmqSocket::with_context(&lp, &ctx, Kind::Dealer).unwrap();
    dealer.bind("inproc://edge").unwrap();
    let got = collect(&dealer);
    let echo = peer(&ctx, zmq::DEALER, |s| {
        s.connect("inproc://edge").unwrap();
        for _ in 0..50 {
            let m = s.recv_multipart(0).unwrap();
            s.send_multipart(m, 0).unwrap();
        }
    });
    let d = dealer.clone();
    let mut sent = 0;
    lp.set_interval(Duration::from_millis(1), move |_, t| {
        // Each send may consume the edge of the reply to the previous one.
        d.send_frame(format!("{sent}")).unwrap();
        sent += 1;
        if sent == 50 {
            t.clear();
        }
    });
    let g = got.clone();
    let d = dealer.clone();
    dealer.on_data(move |_, _, _| {
        if g.borrow().len() == 50 {
            d.close();
        }
    });
    run_bounded(&lp, 10);
    echo.join().unwrap();
    assert_eq!(got.borrow().len(), 50);
}

#[test]
fn a_burst_of_100_000_messages_all_arrives() {
    // Fewer under valgrind (.ci/leak-check), where 100k take minutes.
    let total: u32 = std::env::var("HINGE_ZMQ_BURST")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let lp = Loop::new().unwrap();
    let ctx = Context::new();
    let pull = ZmqSocket::with_context(&lp, &ctx, Kind::Pull).unwrap();
    pull.bind("inproc://burst").unwrap();
    let mut n = 0u32;
    let p = pull.clone();
    pull.on_data(move |_, _, msg| {
        assert_eq!(&msg[0][..], n.to_le_bytes(), "in order");
        n += 1;
        if n == total {
            p.close();
        }
    });
    let sender = peer(&ctx, zmq::PUSH, move |s| {
        s.set_sndhwm(0).unwrap();
        s.connect("inproc://burst").unwrap();
        for i in 0..total {
            s.send(&i.to_le_bytes()[..], 0).unwrap();
        }
    });
    run_bounded(&lp, 60);
    sender.join().unwrap();
    assert!(pull.is_closed());
}

#[test]
fn push_to_a_stalled_pull_queues_loses_nothing_and_drains() {
    let lp = Loop::new().unwrap();
    let ctx = Context::new();
    let push = ZmqSocket::with_context(&lp, &ctx, Kind::Push).unwrap();
    push.set_send_hwm(5).unwrap();
    push.bind("inproc://stall").unwrap();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let reader = peer(&ctx, zmq::PULL, move |s| {
        s.set_rcvhwm(5).unwrap();
        s.connect("inproc://stall").unwrap();
        go_rx.recv().unwrap(); // stalled until told
        let mut got = Vec::new();
        loop {
            let m = s.recv_bytes(0).unwrap();
            if m == b"end" {
                return got;
            }
            got.push(u32::from_le_bytes(m[..4].try_into().unwrap()));
        }
    });
    let drains = Hits::default();
    let d = drains.clone();
    push.on_drain(move |_, p| {
        d.hit();
        p.send_frame("end").unwrap();
        p.close();
    });
    let p = push.clone();
    let refused = Rc::new(RefCell::new(None));
    let r = refused.clone();
    lp.set_timeout(Duration::from_millis(50), move |lp| {
        // Send until libzmq refuses; the rest is queued, never dropped.
        let mut i = 0u32;
        while p.send_frame(i.to_le_bytes()).unwrap() {
            i += 1;
            assert!(i < 1_000, "the high-water mark never pushed back");
        }
        *r.borrow_mut() = Some(i);
        for j in i + 1..i + 50 {
            assert!(!p.send_frame(j.to_le_bytes()).unwrap(), "queued");
        }
        assert!(p.queued() >= 50);
        lp.set_timeout(Duration::from_millis(50), move |_| go_tx.send(()).unwrap());
    });
    run_bounded(&lp, 10);
    let got = reader.join().unwrap();
    let first_refused = refused.borrow().unwrap();
    assert_eq!(
        got,
        (0..first_refused + 50).collect::<Vec<_>>(),
        "all, in order"
    );
    assert_eq!(drains.get(), 1);
}

#[test]
fn a_paused_pull_pushes_back_then_delivers_in_order() {
    let lp = Loop::new().unwrap();
    let ctx = Context::new();
    let pull = ZmqSocket::with_context(&lp, &ctx, Kind::Pull).unwrap();
    pull.set_recv_hwm(10).unwrap();
    pull.bind("inproc://pause").unwrap();
    pull.pause();
    let got = collect(&pull);
    // The sender sends until it sees would-block (EAGAIN): pause stopped
    // hinge from draining libzmq, so the high-water marks fill up.
    let sender = peer(&ctx, zmq::PUSH, |s| {
        s.set_sndhwm(10).unwrap();
        s.connect("inproc://pause").unwrap();
        let mut sent = 0u32;
        for _ in 0..100_000 {
            match s.send(&sent.to_le_bytes()[..], zmq::DONTWAIT) {
                Ok(()) => sent += 1,
                Err(zmq::Error::EAGAIN) => return (sent, true),
                Err(e) => panic!("{e}"),
            }
        }
        (sent, false)
    });
    let outcome = Rc::new(RefCell::new(None));
    let (o, p, g) = (outcome.clone(), pull.clone(), got.clone());
    let mut sender = Some(sender);
    lp.set_interval(Duration::from_millis(20), move |_, t| {
        if sender.as_ref().is_some_and(|h| h.is_finished()) {
            t.clear();
            *o.borrow_mut() = Some(sender.take().unwrap().join().unwrap());
            assert!(g.borrow().is_empty(), "nothing delivered while paused");
            p.resume();
        }
    });
    let (o, g) = (outcome.clone(), got.clone());
    pull.on_data(move |_, p, _| {
        if o.borrow()
            .is_some_and(|(sent, _)| g.borrow().len() == sent as usize)
        {
            p.close();
        }
    });
    run_bounded(&lp, 10);
    let (sent, blocked) = outcome.borrow().unwrap();
    assert!(blocked, "the sender was pushed back");
    let numbers: Vec<u32> = got
        .borrow()
        .iter()
        .map(|m| u32::from_le_bytes(m[0][..4].try_into().unwrap()))
        .collect();
    assert_eq!(
        numbers,
        (0..sent).collect::<Vec<_>>(),
        "everything, in order"
    );
}

#[test]
fn lifecycle_drop_close_from_data_and_unref() {
    // Dropping the loop with messages unsent does not hang (finite linger).
    let lp = Loop::new().unwrap();
    let push = ZmqSocket::new(&lp, Kind::Push).unwrap();
    push.connect("tcp://127.0.0.1:1").unwrap(); // nobody there
    for i in 0..10 {
        let _ = push.send_frame(format!("{i}"));
    }
    let started = std::time::Instant::now();
    drop(lp);
    drop(push);
    assert!(started.elapsed() < Duration::from_secs(5));

    // Close from inside a data callback; the close event follows.
    let lp = Loop::new().unwrap();
    let ctx = Context::new();
    let pull = ZmqSocket::with_context(&lp, &ctx, Kind::Pull).unwrap();
    pull.bind("inproc://close-in-data").unwrap();
    let closes = Hits::default();
    let c = closes.clone();
    pull.on_close(move |_, _| c.hit());
    let datas = Hits::default();
    let d = datas.clone();
    pull.on_data(move |_, p, _| {
        d.hit();
        p.close();
    });
    let sender = peer(&ctx, zmq::PUSH, |s| {
        s.connect("inproc://close-in-data").unwrap();
        for _ in 0..5 {
            s.send("x", 0).unwrap();
        }
    });
    run_bounded(&lp, 10);
    sender.join().unwrap();
    assert_eq!(datas.get(), 1, "no data after close");
    assert_eq!(closes.get(), 1);
    // A finished socket refuses listeners (they would never be freed).
    let drops = DropCounter::default();
    let t = drops.token();
    pull.on_data(move |_, _, _| t.touch());
    assert_eq!(drops.dropped(), 1);

    // run() returns when only unref'd sockets remain.
    let sub = ZmqSocket::new(&lp, Kind::Sub).unwrap();
    sub.bind("inproc://unref").unwrap();
    sub.unref();
    run_bounded(&lp, 10);
    sub.close();
    run_bounded(&lp, 10);
}

#[test]
fn bad_input_gives_typed_errors() {
    let lp = Loop::new().unwrap();
    let s = ZmqSocket::new(&lp, Kind::Pull).unwrap();
    let invalid = s.bind("tcp://not an endpoint").unwrap_err();
    assert!(
        matches!(invalid, Error::InvalidAddress { .. }),
        "{invalid:?}"
    );
    let transport = s.bind("carrier-pigeon://home").unwrap_err();
    assert!(
        matches!(
            transport,
            Error::InvalidAddress {
                reason: "unsupported transport",
                ..
            }
        ),
        "{transport:?}"
    );
    s.bind("tcp://127.0.0.1:*").unwrap();
    let used = s.last_endpoint().unwrap();
    let t = ZmqSocket::new(&lp, Kind::Pull).unwrap();
    let in_use = t.bind(&used).unwrap_err();
    assert!(matches!(in_use, Error::AddrInUse { .. }), "{in_use:?}");
    assert!(in_use.to_string().contains(&used), "{in_use}");
    assert!(matches!(s.set_send_hwm(-5), Err(Error::Zmq { .. })));
    assert!(s.set_routing_id([0u8; 256]).is_err());
    assert!(matches!(
        s.set_reconnect_interval(Duration::from_secs(u64::MAX)),
        Err(Error::InvalidTime(_))
    ));
    let empty: &[&[u8]] = &[];
    assert!(s.send(empty).is_err());
    s.close();
    assert!(matches!(s.send_frame("x"), Err(Error::Closed { .. })));
    assert!(matches!(s.bind("inproc://late"), Err(Error::Closed { .. })));
    t.close();
    run_bounded(&lp, 10);
}

/// CPU seconds this process has used (utime + stime from /proc).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[test]
fn a_refused_send_despite_pollout_does_not_spin() {
    // ROUTER_MANDATORY reports POLLOUT while any peer has room, yet a send
    // to a full peer fails: hinge must retry on a timer, not spin.
    let lp = Loop::new().unwrap();
    let ctx = Context::new();
    let router = ZmqSocket::with_context(&lp, &ctx, Kind::Router).unwrap();
    router.set_router_mandatory(true).unwrap();
    router.set_send_hwm(1).unwrap();
    router.bind("inproc://mandatory").unwrap();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let slow = peer(&ctx, zmq::DEALER, move |s| {
        s.set_identity(b"slow").unwrap();
        s.set_rcvhwm(1).unwrap();
        s.connect("inproc://mandatory").unwrap();
        s.send("hi", 0).unwrap();
        stop_rx.recv().unwrap(); // never reads until told
        let mut n = 0;
        while s.recv_bytes(0).unwrap() != b"end" {
            n += 1;
        }
        n
    });
    // A second peer with room: now libzmq reports POLLOUT all along.
    let (idle_tx, idle_rx) = std::sync::mpsc::channel::<()>();
    let roomy = peer(&ctx, zmq::DEALER, move |s| {
        s.set_identity(b"roomy").unwrap();
        s.connect("inproc://mandatory").unwrap();
        s.send("hi", 0).unwrap();
        idle_rx.recv().unwrap();
    });
    let (r, queued) = (router.clone(), Rc::new(RefCell::new(0)));
    let q = queued.clone();
    let greetings = Rc::new(std::cell::Cell::new(0));
    let g = greetings.clone();
    router.on_data(move |lp, _, _| {
        g.set(g.get() + 1);
        if g.get() < 2 {
            return; // wait for both peers
        }
        // Fill the slow peer; the rest queues in hinge.
        for i in 0..20 {
            let _ = r.send(&["slow".as_bytes(), format!("{i}").as_bytes()]);
        }
        *q.borrow_mut() = r.queued();
        let r = r.clone();
        let cpu = cpu_seconds();
        let (stop_tx, idle_tx) = (stop_tx.clone(), idle_tx.clone());
        lp.set_timeout(Duration::from_millis(500), move |_| {
            let used = cpu_seconds() - cpu;
            if !common::under_valgrind() {
                assert!(used < 0.25, "spun: {used:.2} s of CPU in 0.5 s");
            }
            stop_tx.send(()).unwrap();
            idle_tx.send(()).unwrap();
            r.send(&["slow", "end"]).unwrap();
            r.close();
        });
    });
    run_bounded(&lp, 10);
    roomy.join().unwrap();
    assert!(*queued.borrow() > 0, "some sends queued");
    assert_eq!(
        slow.join().unwrap(),
        20,
        "every message delivered once the peer read"
    );
}

#[test]
fn close_with_a_queue_nobody_takes_ends_after_the_linger() {
    let lp = Loop::new().unwrap();
    let dealer = ZmqSocket::new(&lp, Kind::Dealer).unwrap();
    dealer.set_linger(Some(Duration::from_millis(100))).unwrap();
    dealer.bind("inproc://nobody-takes").unwrap();
    assert!(!dealer.send_frame("stuck").unwrap(), "queued: no peer");
    let closed = Hits::default();
    let c = closed.clone();
    dealer.on_close(move |_, _| c.hit());
    dealer.close();
    let start = std::time::Instant::now();
    run_bounded(&lp, 10);
    assert_eq!(closed.get(), 1);
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn without_a_data_listener_messages_wait_in_libzmq() {
    let lp = Loop::new().unwrap();
    let ctx = Context::new();
    let pull = ZmqSocket::with_context(&lp, &ctx, Kind::Pull).unwrap();
    pull.bind("inproc://no-listener").unwrap();
    let sender = peer(&ctx, zmq::PUSH, |s| {
        s.connect("inproc://no-listener").unwrap();
        for i in 0..10u8 {
            s.send(&[i][..], 0).unwrap();
        }
    });
    // A once listener takes exactly one message; nothing is thrown away.
    let first = Rc::new(RefCell::new(Vec::new()));
    let f = first.clone();
    pull.once_data(move |_, _, m| f.borrow_mut().push(m[0].to_vec()));
    let (p, all) = (pull.clone(), Rc::new(RefCell::new(Vec::new())));
    let a = all.clone();
    lp.set_timeout(Duration::from_millis(200), move |_| {
        let a = a.clone();
        let p2 = p.clone();
        p.on_data(move |_, _, m| {
            a.borrow_mut().push(m[0][0]);
            if a.borrow().len() == 9 {
                p2.close();
            }
        });
    });
    run_bounded(&lp, 10);
    sender.join().unwrap();
    assert_eq!(*first.borrow(), vec![vec![0u8]]);
    assert_eq!(*all.borrow(), (1..10).collect::<Vec<u8>>());
}

/// A socket whose data listener holds its own handle: a cycle only the
/// loop's teardown can break.
fn self_holding(lp: &Loop, drops: &DropCounter) -> ZmqSocket {
    let s = ZmqSocket::new(lp, Kind::Pull).unwrap();
    let (me, tok) = (s.clone(), drops.token());
    s.on_data(move |_, _, _| {
        tok.touch();
        let _ = &me;
    });
    s
}

#[test]
fn a_socket_holding_itself_is_freed_when_the_loop_drops_during_a_panic() {
    let drops = DropCounter::default();
    let d = drops.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let lp = Loop::new().unwrap();
        let _s = self_holding(&lp, &d);
        panic!("the loop drops while this unwinds");
    }));
    assert!(r.is_err());
    assert_eq!(drops.dropped(), 1, "the socket's listeners were dropped");
}

#[test]
fn a_socket_made_by_a_cleanup_callback_is_freed_with_the_loop() {
    let drops = DropCounter::default();
    let lp = Loop::new().unwrap();
    let d = drops.clone();
    let _c = hinge::Cleanup::new(&lp, move |lp, _| {
        let _s = self_holding(lp, &d);
    });
    drop(lp);
    assert_eq!(drops.dropped(), 1, "the socket's listeners were dropped");
}
