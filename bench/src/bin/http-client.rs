//! An HTTP client load test (bench/client.sh): `GET PATH` over CONNS
//! keep-alive connections, each connection's requests one after the
//! other, until REQUESTS have been answered after WARMUP more; prints
//! the measured part's own CPU time (getrusage, this process) and wall
//! time as JSON.
//!
//! `hinge` is hinge's `http::Agent` on one loop; `hyper` is hyper 1.x's
//! client (hyper-util's legacy `Client`, the one with a pool) on tokio's
//! current_thread runtime. Both keep CONNS connections to the host, set
//! TCP_NODELAY, and read each body whole.
//!
//! ```sh
//! cargo run --release -p hinge-bench --bin http-client -- hinge 8080 /hello 64 200000 20000
//! cargo run --release -p hinge-bench --bin http-client -- hyper 8080 /hello 64 200000 20000
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

fn cpu_seconds() -> f64 {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is valid.
    let u = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr());
        u.assume_init()
    };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

struct Args {
    port: u16,
    path: String,
    conns: usize,
    requests: u64,
    warmup: u64,
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() != 6 {
        eprintln!("usage: http-client hinge|hyper PORT PATH CONNS REQUESTS WARMUP");
        std::process::exit(2);
    }
    let args = Args {
        port: a[1].parse().expect("PORT"),
        path: a[2].clone(),
        conns: a[3].parse().expect("CONNS"),
        requests: a[4].parse().expect("REQUESTS"),
        warmup: a[5].parse().expect("WARMUP"),
    };
    match a[0].as_str() {
        "hinge" => hinge_client(&args),
        "hyper" => hyper_client(&args),
        other => panic!("unknown client {other}"),
    }
}

/// Counts answers; notes CPU and wall time when the warm-up ends and when
/// the measured requests are done.
struct Tally {
    done: Cell<u64>,
    warmup: u64,
    total: u64,
    start: Cell<Option<(f64, Instant)>>,
}

impl Tally {
    /// One more answer; whether to send another.
    fn answered(&self) -> bool {
        let n = self.done.get() + 1;
        self.done.set(n);
        if n == self.warmup {
            self.start.set(Some((cpu_seconds(), Instant::now())));
        }
        if n == self.total {
            let (cpu0, wall0) = self.start.get().expect("warm-up ended");
            println!(
                "{{\"requests\": {}, \"cpu_s\": {:.4}, \"wall_s\": {:.4}}}",
                self.total - self.warmup,
                cpu_seconds() - cpu0,
                wall0.elapsed().as_secs_f64()
            );
        }
        n < self.total
    }

    fn issued(&self, sent: &Cell<u64>) -> bool {
        let s = sent.get();
        if s >= self.total {
            return false;
        }
        sent.set(s + 1);
        true
    }
}

fn hinge_client(args: &Args) {
    use hinge::http::{Agent, AgentConfig, Method};
    let lp = hinge::Loop::new().unwrap();
    let mut config = AgentConfig::default();
    config.max_connections_per_host = args.conns;
    config.max_idle_per_host = args.conns;
    let agent = Agent::with_config(&lp, config);
    let url = Rc::new(format!("http://127.0.0.1:{}{}", args.port, args.path));
    let tally = Rc::new(Tally {
        done: Cell::new(0),
        warmup: args.warmup,
        total: args.warmup + args.requests,
        start: Cell::new(None),
    });
    let sent = Rc::new(Cell::new(0u64));
    fn next(
        lp: &hinge::Loop,
        agent: &Agent,
        url: &Rc<String>,
        tally: &Rc<Tally>,
        sent: &Rc<Cell<u64>>,
    ) {
        if !tally.issued(sent) {
            return;
        }
        let req = agent.request(lp, Method::GET, url).expect("request");
        let (agent, url, tally, sent) = (agent.clone(), url.clone(), tally.clone(), sent.clone());
        req.on_response(move |_, _, res| {
            let (agent, url, tally, sent) =
                (agent.clone(), url.clone(), tally.clone(), sent.clone());
            res.collect(1 << 20, move |lp, _, body| {
                body.expect("body");
                if tally.answered() {
                    next(lp, &agent, &url, &tally, &sent);
                }
            });
        });
        req.on_error(|_, _, e| panic!("request failed: {e}"));
        req.end("").expect("end");
    }
    for _ in 0..args.conns {
        next(&lp, &agent, &url, &tally, &sent);
    }
    lp.run_once();
    while tally.done.get() < tally.total {
        lp.run_once();
    }
}

fn hyper_client(args: &Args) {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::{connect::HttpConnector, Client};
    use hyper_util::rt::TokioExecutor;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let tally = Rc::new(Tally {
        done: Cell::new(0),
        warmup: args.warmup,
        total: args.warmup + args.requests,
        start: Cell::new(None),
    });
    let sent = Rc::new(Cell::new(0u64));
    let uri: hyper::Uri = format!("http://127.0.0.1:{}{}", args.port, args.path)
        .parse()
        .unwrap();
    let conns = args.conns;
    local.block_on(&rt, async move {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<HttpConnector, Empty<bytes::Bytes>> =
            Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(conns)
                .build(connector);
        let mut workers = Vec::new();
        for _ in 0..conns {
            let (client, uri, tally, sent) =
                (client.clone(), uri.clone(), tally.clone(), sent.clone());
            workers.push(tokio::task::spawn_local(async move {
                while tally.issued(&sent) {
                    let res = client.get(uri.clone()).await.expect("request");
                    res.into_body().collect().await.expect("body");
                    if !tally.answered() {
                        break;
                    }
                }
            }));
        }
        for w in workers {
            w.await.unwrap();
        }
    });
}
