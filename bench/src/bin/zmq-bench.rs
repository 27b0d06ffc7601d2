//! zmq-bench: hinge's ZeroMQ sockets against raw blocking libzmq (the
//! `zmq` crate), the equivalents of libzmq's local_thr/remote_thr and
//! local_lat/remote_lat, measured side by side in one run.
//!
//!   zmq-bench [--rounds 5] [--messages 200000] [--roundtrips 20000]
//!   zmq-bench --only send/ipc/64      # one case, e.g. to profile it
//!
//! For each transport (ipc://, tcp://127.0.0.1) and size (64 B, 1 KiB),
//! every round runs each pair back to back (interleaved):
//! * recv: a raw PUSH thread sends N messages; the receiver is a hinge
//!   PULL on a loop, or a raw blocking PULL. Figure: messages/s received.
//! * send: the sender is a hinge PUSH (send until it queues, then more on
//!   `drain`), or a raw blocking PUSH; a raw PULL thread receives.
//!   Figure: messages/s, until the receiver has them all.
//! * lat: a raw REQ thread does round trips against a hinge ROUTER echo,
//!   or a raw REP echo. Figure: mean round trip in microseconds.
//!
//! Prints each round, then medians and the median of per-round ratios.

use std::cell::Cell;
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use hinge::zmq::{Context, Kind, ZmqSocket};
use hinge::Loop;

struct Args {
    rounds: usize,
    messages: u64,
    roundtrips: u64,
    /// Only this scenario/transport/size (for profiling one case).
    only: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        rounds: 5,
        messages: 200_000,
        roundtrips: 20_000,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--only" {
            a.only = it.next();
            continue;
        }
        let v: u64 = it
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| usage());
        match k.as_str() {
            "--rounds" => a.rounds = v as usize,
            "--messages" => a.messages = v,
            "--roundtrips" => a.roundtrips = v,
            _ => usage(),
        }
    }
    a
}

fn usage() -> ! {
    eprintln!("usage: zmq-bench [--rounds N] [--messages N] [--roundtrips N] [--only SCENARIO/TRANSPORT/SIZE]");
    std::process::exit(2)
}

/// A fresh endpoint of `transport` ("ipc" or "tcp") for one measurement.
fn endpoint(transport: &str, n: usize) -> String {
    match transport {
        "ipc" => format!(
            "ipc://{}/hinge-zmq-bench-{}-{n}",
            std::env::temp_dir().display(),
            std::process::id()
        ),
        _ => format!("tcp://127.0.0.1:{}", 21_000 + (n % 2_000)),
    }
}

fn raw_socket(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let s = ctx.socket(kind).expect("socket");
    // Deliver everything before a context ends, however long it takes;
    // a stall fails the run after 20 s instead of hanging it.
    s.set_linger(-1).expect("linger");
    s.set_rcvtimeo(20_000).expect("rcvtimeo");
    s.set_sndtimeo(20_000).expect("sndtimeo");
    s
}

// --- recv: who receives faster ------------------------------------------

fn sender_thread(ep: String, n: u64, size: usize) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let ctx = zmq::Context::new();
        let s = raw_socket(&ctx, zmq::PUSH);
        s.connect(&ep).expect("connect");
        let msg = vec![7u8; size];
        for _ in 0..n {
            s.send(&msg[..], 0).expect("send");
        }
    })
}

fn recv_hinge(ep: &str, n: u64, size: usize) -> f64 {
    let lp = Loop::new().expect("loop");
    stall_guard(&lp);
    let pull = ZmqSocket::new(&lp, Kind::Pull).expect("pull");
    pull.bind(ep).expect("bind");
    let got = Rc::new(Cell::new(0u64));
    let start = Rc::new(Cell::new(None::<Instant>));
    let (g, st) = (got.clone(), start.clone());
    pull.on_data(move |_, p, _| {
        if st.get().is_none() {
            st.set(Some(Instant::now()));
        }
        g.set(g.get() + 1);
        if g.get() == n {
            p.close();
        }
    });
    let sender = sender_thread(ep.to_string(), n, size);
    lp.run();
    let secs = start.get().expect("started").elapsed().as_secs_f64();
    sender.join().expect("sender");
    (n - 1) as f64 / secs
}

fn recv_raw(ep: &str, n: u64, size: usize) -> f64 {
    let ctx = zmq::Context::new();
    let pull = raw_socket(&ctx, zmq::PULL);
    pull.bind(ep).expect("bind");
    let sender = sender_thread(ep.to_string(), n, size);
    let mut msg = zmq::Message::new();
    pull.recv(&mut msg, 0).expect("recv");
    let start = Instant::now();
    for _ in 1..n {
        pull.recv(&mut msg, 0).expect("recv");
    }
    let secs = start.elapsed().as_secs_f64();
    sender.join().expect("sender");
    (n - 1) as f64 / secs
}

// --- send: who sends faster ---------------------------------------------

fn receiver_thread(ep: String, n: u64) -> thread::JoinHandle<Duration> {
    thread::spawn(move || {
        let ctx = zmq::Context::new();
        let s = raw_socket(&ctx, zmq::PULL);
        s.bind(&ep).expect("bind");
        let mut msg = zmq::Message::new();
        s.recv(&mut msg, 0).expect("recv");
        let start = Instant::now();
        for _ in 1..n {
            s.recv(&mut msg, 0).expect("recv");
        }
        start.elapsed()
    })
}

fn send_hinge(ep: &str, n: u64, size: usize) -> f64 {
    let receiver = receiver_thread(ep.to_string(), n);
    thread::sleep(Duration::from_millis(50)); // let it bind
    let lp = Loop::new().expect("loop");
    stall_guard(&lp);
    let push = ZmqSocket::new(&lp, Kind::Push).expect("push");
    push.connect(ep).expect("connect");
    let msg = vec![7u8; size];
    let sent = Rc::new(Cell::new(0u64));
    // Send until the socket queues, then go on when it drains.
    let pump = {
        let sent = sent.clone();
        move |p: &ZmqSocket| {
            while sent.get() < n {
                sent.set(sent.get() + 1);
                if !p.send_frame(&msg).expect("send") {
                    return;
                }
            }
            p.close();
        }
    };
    let pump = Rc::new(pump);
    let pm = pump.clone();
    push.on_drain(move |_, p| pm(p));
    pump(&push);
    lp.run();
    let secs = receiver.join().expect("receiver").as_secs_f64();
    (n - 1) as f64 / secs
}

fn send_raw(ep: &str, n: u64, size: usize) -> f64 {
    let receiver = receiver_thread(ep.to_string(), n);
    thread::sleep(Duration::from_millis(50));
    let ctx = zmq::Context::new();
    let push = raw_socket(&ctx, zmq::PUSH);
    push.connect(ep).expect("connect");
    let msg = vec![7u8; size];
    for _ in 0..n {
        push.send(&msg[..], 0).expect("send");
    }
    let secs = receiver.join().expect("receiver").as_secs_f64();
    (n - 1) as f64 / secs
}

// --- lat: round trips against an echo -----------------------------------

fn client_thread(ep: String, n: u64, size: usize) -> thread::JoinHandle<f64> {
    thread::spawn(move || {
        let ctx = zmq::Context::new();
        let s = raw_socket(&ctx, zmq::REQ);
        s.connect(&ep).expect("connect");
        let msg = vec![7u8; size];
        let mut reply = zmq::Message::new();
        s.send(&msg[..], 0).expect("send");
        s.recv(&mut reply, 0).expect("recv"); // warm up the connection
        let start = Instant::now();
        for _ in 0..n {
            s.send(&msg[..], 0).expect("send");
            s.recv(&mut reply, 0).expect("recv");
        }
        start.elapsed().as_secs_f64() * 1e6 / n as f64
    })
}

fn lat_hinge(ep: &str, n: u64, size: usize) -> f64 {
    let lp = Loop::new().expect("loop");
    stall_guard(&lp);
    let router = ZmqSocket::with_context(&lp, &Context::new(), Kind::Router).expect("router");
    router.bind(ep).expect("bind");
    let left = Rc::new(Cell::new(n + 1));
    let l = left.clone();
    router.on_data(move |_, r, msg| {
        r.send(msg).expect("send");
        l.set(l.get() - 1);
        if l.get() == 0 {
            r.close();
        }
    });
    let client = client_thread(ep.to_string(), n, size);
    lp.run();
    client.join().expect("client")
}

fn lat_raw(ep: &str, n: u64, size: usize) -> f64 {
    let ctx = zmq::Context::new();
    let rep = raw_socket(&ctx, zmq::REP);
    rep.bind(ep).expect("bind");
    let client = client_thread(ep.to_string(), n, size);
    let mut msg = zmq::Message::new();
    for _ in 0..=n {
        rep.recv(&mut msg, 0).expect("recv");
        rep.send(&msg[..], 0).expect("send");
    }
    client.join().expect("client")
}

/// Fails the run, rather than hanging it, if the hinge side stalls.
fn stall_guard(lp: &Loop) {
    lp.set_timeout(Duration::from_secs(20), |_| {
        panic!("zmq-bench: the hinge side stalled")
    })
    .unref();
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

fn main() {
    let a = args();
    println!(
        "zmq-bench: {} rounds, {} messages, {} round trips",
        a.rounds, a.messages, a.roundtrips
    );
    println!("| scenario | transport | size | hinge | raw libzmq | hinge/raw (median of per-round) | target |");
    println!("|---|---|---|---|---|---|---|");
    let mut n = 0;
    for transport in ["ipc", "tcp"] {
        for size in [64usize, 1024] {
            for scenario in ["recv", "send", "lat"] {
                if a.only
                    .as_ref()
                    .is_some_and(|o| *o != format!("{scenario}/{transport}/{size}"))
                {
                    continue;
                }
                let (mut h, mut r, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
                for round in 0..a.rounds {
                    n += 1;
                    let e1 = endpoint(transport, n);
                    n += 1;
                    let e2 = endpoint(transport, n);
                    // Alternate which goes first, round by round.
                    let run = |hinge: bool, ep: &str| match (scenario, hinge) {
                        ("recv", true) => recv_hinge(ep, a.messages, size),
                        ("recv", false) => recv_raw(ep, a.messages, size),
                        ("send", true) => send_hinge(ep, a.messages, size),
                        ("send", false) => send_raw(ep, a.messages, size),
                        (_, true) => lat_hinge(ep, a.roundtrips, size),
                        (_, false) => lat_raw(ep, a.roundtrips, size),
                    };
                    let (hv, rv) = if round % 2 == 0 {
                        let hv = run(true, &e1);
                        (hv, run(false, &e2))
                    } else {
                        let rv = run(false, &e2);
                        (run(true, &e1), rv)
                    };
                    eprintln!(
                        "round {round} {scenario} {transport} {size} B: hinge {hv:.1}, raw {rv:.1}"
                    );
                    h.push(hv);
                    r.push(rv);
                    ratio.push(hv / rv);
                }
                let (unit, target) = match scenario {
                    "lat" => ("us", "<= 1.10"),
                    _ => ("msg/s", ">= 0.90"),
                };
                println!(
                    "| {scenario} | {transport} | {size} B | {:.1} {unit} | {:.1} {unit} | {:.3} ({}) | {target} |",
                    median(&mut h),
                    median(&mut r),
                    median(&mut ratio.clone()),
                    ratio.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(" "),
                );
            }
        }
    }
}
