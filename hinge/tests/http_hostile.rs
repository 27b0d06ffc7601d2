//! Hostile HTTP clients: thousands of mutated requests, and a thousand
//! slow readers. The server never panics or hangs, answers each with a
//! valid response or a 4xx and a close, and keeps its memory bounded.
//! (Its own binary, so that nothing else moves the RSS figure.)

mod common;

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::http::{parse_all, roundtrip, serve, Resp};
use common::{rss_kib, under_valgrind};
use hinge::http::{Config, Server};
use hinge::Loop;

fn routes(_: &Loop, server: &Server) {
    server.on_client_error(|_, _, _| {});
    server.on_request(|_, _, req, res| match req.path() {
        "/chunked" => {
            res.write("one\n").unwrap();
            res.end("two\n").unwrap();
        }
        "/collect" => req.collect(4096, move |_, _, body| {
            let _ = match body {
                Ok(body) => res.end(format!("{}", body.len())),
                Err(_) => res.error(413),
            };
        }),
        "/echo" => common::http::echo(req, res),
        _ => {
            let _ = res.end("Hello world!");
        }
    });
}

/// xorshift64*: a seeded generator, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SEEDS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /chunked HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /collect HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /collect HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n",
    b"POST /collect HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /chunked HTTP/1.1\r\nHost: a\r\n\r\n",
];

const INTERESTING: &[&[u8]] = &[
    b"\r",
    b"\n",
    b"\r\n",
    b":",
    b" ",
    b"\t",
    b"0",
    b"9",
    b";",
    b",",
    b"\0",
    b"\x7f",
    b"\xff",
    b"Transfer-Encoding: chunked\r\n",
    b"Content-Length: 3\r\n",
    b"Content-Length: 99999999999\r\n",
    b"Transfer-Encoding: gzip\r\n",
    b"Host: b\r\n",
    b"Connection: close\r\n",
    b"ffffffffffffffffff\r\n",
    b"HTTP/1.0",
    b"HTTP/2.0",
];

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if at < v.len() => v[at] = rng.next() as u8,
            1 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                v.splice(at..at, piece.iter().copied());
            }
            2 if at < v.len() => {
                v.remove(at);
            }
            3 => v.truncate(at),
            4 => {
                // Duplicate a line.
                let start = v[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1);
                let end = v[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(v.len(), |p| at + p + 1);
                let line = v[start..end].to_vec();
                v.splice(end..end, line);
            }
            5 => {
                let n = rng.below(40);
                v.splice(at..at, std::iter::repeat_n(b'a', n));
            }
            _ => {
                let piece = SEEDS[rng.below(SEEDS.len())];
                v.splice(at..at, piece.iter().copied());
            }
        }
    }
    v
}

/// Statuses the server answers on its own before closing.
const REFUSALS: &[u16] = &[400, 408, 413, 414, 417, 431, 501, 505];

fn check(raw: &[u8], answer: &[u8]) -> Result<(), String> {
    // A HEAD response has no body: find which request lines say HEAD.
    let heads: Vec<bool> = raw
        .split(|&b| b == b'\n')
        .filter(|line| {
            let t = line.split(|&b| b == b' ').next().unwrap_or(b"");
            !t.is_empty()
                && t.iter().all(u8::is_ascii_uppercase)
                && line.windows(6).any(|w| w == b" HTTP/")
        })
        .map(|line| line.starts_with(b"HEAD "))
        .collect();
    let parsed = parse_all(answer, &heads).or_else(|_| parse_all(answer, &[false; 64]));
    let rs: Vec<Resp> = parsed.map_err(|e| format!("invalid answer ({e})"))?;
    for (i, r) in rs.iter().enumerate() {
        if REFUSALS.contains(&r.status) {
            if r.header("connection") != Some("close") {
                return Err(format!("a {} without connection: close", r.status));
            }
            if i + 1 != rs.len() {
                return Err(format!("bytes after a {}", r.status));
            }
        }
    }
    Ok(())
}

#[test]
fn mutated_requests_get_valid_answers_or_a_refusal() {
    let s = serve(Config::default(), routes);
    let seed = std::env::var("HINGE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234_u64);
    let rounds: usize = if under_valgrind() { 300 } else { 3000 };
    let mut rng = Rng(seed);
    let started = Instant::now();
    for i in 0..rounds {
        let base = SEEDS[rng.below(SEEDS.len())];
        let raw = mutate(&mut rng, base);
        let answer = roundtrip(s.port, &raw);
        if let Err(e) = check(&raw, &answer) {
            panic!(
                "round {i} (seed {seed:#x}): {e}\nrequest: {:?}\nanswer: {:?}",
                String::from_utf8_lossy(&raw),
                String::from_utf8_lossy(&answer)
            );
        }
    }
    assert_eq!(s.panics.load(Ordering::SeqCst), 0);
    eprintln!("{rounds} mutated requests in {:?}", started.elapsed());
}

#[test]
fn a_thousand_slow_readers_keep_memory_bounded() {
    const N: usize = 1000;
    // The most a connection holds: its 16 KiB output mark, one 64 KiB
    // read that overshoots it, and a 64 KiB read-ahead of input.
    const BUDGET_KIB_PER_CONN: usize = 144;
    if under_valgrind() {
        return;
    }
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    let want = (2 * N as u64 + 200).min(hard);
    if soft < want {
        rlimit::setrlimit(rlimit::Resource::NOFILE, want, hard).unwrap();
    }
    if want < 2 * N as u64 + 200 {
        eprintln!("skipped: fd limit {hard} too low");
        return;
    }
    let s = serve(Config::default(), routes);
    // Warm up the allocator and the server's tables.
    roundtrip(s.port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let rss0 = rss_kib();
    let head = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 62914560\r\n\r\n";
    let mut clients: Vec<TcpStream> = (0..N)
        .map(|_| {
            let c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
            c.set_nodelay(true).unwrap();
            let mut c2 = &c;
            c2.write_all(head).unwrap();
            c.set_nonblocking(true).unwrap();
            c
        })
        .collect();
    // Upload as fast as the server takes it, never reading the echo,
    // until nobody can write any more: the server has pushed back.
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut still = Instant::now();
    while still.elapsed() < Duration::from_millis(1500) && Instant::now() < deadline {
        let mut progress = false;
        for c in clients.iter_mut() {
            match c.write(&chunk) {
                Ok(n) => {
                    sent += n as u64;
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("upload: {e}"),
            }
        }
        if progress {
            still = Instant::now();
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let rss1 = rss_kib();
    let per_conn = rss1.saturating_sub(rss0) / N;
    eprintln!(
        "{N} slow readers: {} MiB uploaded, rss {rss0} KiB -> {rss1} KiB, {per_conn} KiB per connection",
        sent >> 20
    );
    assert!(
        per_conn <= BUDGET_KIB_PER_CONN,
        "{per_conn} KiB per slow connection (budget {BUDGET_KIB_PER_CONN} KiB)"
    );
    drop(clients);

    // Pipelined requests from clients that never read their answers: the
    // server stops taking requests once a connection's output is backed up.
    let rss2 = rss_kib();
    let batch = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(2000);
    let mut floods: Vec<TcpStream> = (0..N / 4)
        .map(|_| {
            let c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
            c.set_nonblocking(true).unwrap();
            c
        })
        .collect();
    let mut still = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    while still.elapsed() < Duration::from_millis(1500) && Instant::now() < deadline {
        let mut progress = false;
        for c in floods.iter_mut() {
            match c.write(&batch) {
                Ok(_) => progress = true,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("pipelining: {e}"),
            }
        }
        if progress {
            still = Instant::now();
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let rss3 = rss_kib();
    let per_flood = rss3.saturating_sub(rss2) / (N / 4);
    eprintln!(
        "{} pipelining non-readers: rss {rss2} KiB -> {rss3} KiB, {per_flood} KiB per connection",
        N / 4
    );
    assert!(
        per_flood <= BUDGET_KIB_PER_CONN,
        "{per_flood} KiB per pipelining connection (budget {BUDGET_KIB_PER_CONN} KiB)"
    );
    drop(floods);
    assert_eq!(s.panics.load(Ordering::SeqCst), 0);
}
