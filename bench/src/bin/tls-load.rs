//! The TLS benchmark's load generator (bench/tls.sh): tokio
//! `current_thread` with a rustls client that never resumes, so every
//! connection is a full handshake. Prints one JSON line per run.
//!
//! ```text
//! tls-load handshake --port P --ca CA [--mode https|echo] [--conns 4]
//!          [--duration 5] [--warmup 1] [--server-pid PID] [--provider aws-lc|ring] [--groups default|x25519]
//! tls-load bulk --port P --ca CA [--conns 8] [--chunk 65536] [--duration 5] [--warmup 1] [--server-pid PID]
//! tls-load idle --port P --ca CA [--mode https|echo] [--conns 1000] [--hold 1] --server-pid PID
//! ```
//!
//! * `handshake`: `--conns` workers each loop: connect, full handshake,
//!   one request (`GET /hello`, or 64 bytes echoed), close_notify and FIN,
//!   wait for the server's close. Reports handshakes/s and the server's
//!   CPU (utime+stime from /proc) per handshake over the window, and the
//!   key-exchange groups, suites and versions negotiated.
//! * `bulk`: `--conns` connections each stream `--chunk`-byte writes of a
//!   per-connection pseudo-random stream to an echo server and check
//!   every echoed byte: MB/s echoed and server CPU per GB.
//! * `idle`: `--conns` connections each handshake and do one request,
//!   then sit idle for `--hold` seconds: server VmRSS growth per
//!   connection.
//!
//! The client is rustls on `--provider` (aws-lc-rs, hinge's, by default)
//! offering its default key-exchange groups (aws-lc-rs: X25519MLKEM768
//! first, with an X25519 key share beside it, as browsers do) or, with
//! `--groups x25519`, X25519 only.
//!
//! The first connection of every run verifies the server's certificate
//! against `--ca` (for `localhost`); the load's connections skip that
//! check, so the client's CPU goes to the handshake itself.
//! Connection *i* binds source address 127.0.0.(2 + *i* mod 32), as the
//! echo load generator does, so TIME_WAIT never exhausts ports.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use socket2::{Domain, Socket, Type};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use hinge_bench::pattern::Pattern;
use hinge_bench::procfs::{clock_ticks_per_second, sample, Sample};
use hinge_bench::tls::{client_config, flag, provider};

const REQUEST: &[u8] = b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
const BODY: &[u8] = b"Hello world!";
const SRC_IPS: u64 = 32;

#[derive(Clone)]
struct Opts {
    port: u16,
    https: bool,
    conns: u64,
    duration: f64,
    warmup: f64,
    server_pid: Option<u32>,
    verified: Arc<ClientConfig>,
    load: Arc<ClientConfig>,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    done: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    negotiated: Mutex<BTreeMap<String, u64>>,
}

fn main() {
    let cmd = std::env::args().nth(1).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        let opts = opts(&cmd)?;
        match cmd.as_str() {
            "handshake" => handshake(opts).await,
            "bulk" => bulk(opts).await,
            "idle" => idle(opts).await,
            _ => unreachable!(),
        }
    });
    if let Err(e) = result {
        eprintln!("tls-load {cmd}: {e}");
        std::process::exit(1);
    }
}

fn opts(cmd: &str) -> io::Result<Opts> {
    if !matches!(cmd, "handshake" | "bulk" | "idle") {
        eprintln!("usage: tls-load handshake|bulk|idle --port P --ca CA [options] (see the source's header)");
        std::process::exit(2);
    }
    let num = |name: &str, default: &str| -> io::Result<f64> {
        flag(name, default)
            .parse::<f64>()
            .map_err(|e| io::Error::other(format!("{name}: {e}")))
    };
    let https = cmd != "bulk" && flag("--mode", "https") == "https";
    let alpn: &[&[u8]] = if https { &[b"http/1.1"] } else { &[] };
    let provider = provider(&flag("--provider", "aws-lc"), &flag("--groups", "default"))?;
    let ca = flag("--ca", "");
    if ca.is_empty() {
        return Err(io::Error::other("--ca CA.pem is required"));
    }
    let default_conns = match cmd {
        "handshake" => "4",
        "bulk" => "8",
        _ => "1000",
    };
    Ok(Opts {
        port: num("--port", "0")? as u16,
        https,
        conns: num("--conns", default_conns)? as u64,
        duration: num(
            if cmd == "idle" {
                "--hold"
            } else {
                "--duration"
            },
            "5",
        )?,
        warmup: num("--warmup", "1")?,
        server_pid: flag("--server-pid", "").parse().ok(),
        verified: client_config(provider.clone(), Some(&ca), alpn)?,
        load: client_config(provider, None, alpn)?,
    })
}

/// A connected socket from 127.0.0.(2 + index mod 32), Nagle off.
async fn connect(port: u16, index: u64) -> io::Result<TcpStream> {
    let target = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let sock = Socket::new(Domain::IPV4, Type::STREAM.nonblocking().cloexec(), None)?;
    bind_address_no_port(&sock)?;
    let src = Ipv4Addr::new(127, 0, 0, 2 + (index % SRC_IPS) as u8);
    sock.bind(&SocketAddr::from((src, 0)).into())?;
    match sock.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let stream = TcpStream::from_std(sock.into())?;
    stream.writable().await?;
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// `IP_BIND_ADDRESS_NO_PORT`: `bind` picks the address only, `connect`
/// the port, so ports are shared across the 32 address pairs.
fn bind_address_no_port(sock: &Socket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: the descriptor is open (owned by `sock`), and the option
    // value points at a live c_int whose size is passed alongside.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Connect and complete a full handshake.
async fn open(
    opts: &Opts,
    config: &Arc<ClientConfig>,
    index: u64,
) -> io::Result<TlsStream<TcpStream>> {
    let tcp = connect(opts.port, index).await?;
    let name = ServerName::try_from("localhost").expect("a valid name");
    TlsConnector::from(config.clone()).connect(name, tcp).await
}

/// What the handshake settled on: "version suite group \[alpn\]".
fn negotiated(tls: &TlsStream<TcpStream>) -> String {
    let conn = tls.get_ref().1;
    format!(
        "{:?} {:?} {:?}{}",
        conn.protocol_version(),
        conn.negotiated_cipher_suite().map(|s| s.suite()),
        conn.negotiated_key_exchange_group().map(|g| g.name()),
        conn.alpn_protocol()
            .map(|p| format!(" {}", String::from_utf8_lossy(p)))
            .unwrap_or_default()
    )
}

/// One request: `GET /hello` and its whole answer, or 64 bytes echoed.
async fn request<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, https: bool) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    let mut got = 0;
    if https {
        s.write_all(REQUEST).await?;
        while !buf[..got].ends_with(BODY) {
            let n = s.read(&mut buf[got..]).await?;
            if n == 0 {
                return Err(io::Error::other("closed before the answer"));
            }
            got += n;
            if got == buf.len() {
                return Err(io::Error::other("answer too long"));
            }
        }
        if !buf.starts_with(b"HTTP/1.1 200") {
            return Err(io::Error::other(format!(
                "unexpected answer {:?}",
                String::from_utf8_lossy(&buf[..got])
            )));
        }
    } else {
        let msg = [b'x'; 64];
        s.write_all(&msg).await?;
        while got < msg.len() {
            let n = s.read(&mut buf[got..msg.len()]).await?;
            if n == 0 {
                return Err(io::Error::other("closed before the echo"));
            }
            got += n;
        }
        if buf[..got] != msg {
            return Err(io::Error::other("echo mismatch"));
        }
    }
    Ok(())
}

/// close_notify and FIN, then the server's close (at most 2 s).
async fn close(mut tls: TlsStream<TcpStream>) -> io::Result<()> {
    tls.shutdown().await?;
    let mut buf = [0u8; 1024];
    let drain = async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    timeout(Duration::from_secs(2), drain)
        .await
        .map_err(|_| io::Error::other("the server did not close within 2 s"))
}

/// The first connection: a verified handshake and one request.
async fn check(opts: &Opts) -> io::Result<String> {
    let mut tls = open(opts, &opts.verified, 0).await?;
    let what = negotiated(&tls);
    request(&mut tls, opts.https).await?;
    close(tls).await?;
    Ok(what)
}

fn count_error(shared: &Shared, what: &str, e: &io::Error) {
    if shared.errors.fetch_add(1, Ordering::Relaxed) < 5 {
        eprintln!("tls-load: {what}: {e}");
    }
}

/// Runs the window: warm-up, then `duration` seconds between two samples
/// of the server and of the counter; returns (seconds, server CPU
/// seconds, client CPU seconds, count).
async fn window(opts: &Opts, counter: impl Fn() -> u64) -> (f64, Option<f64>, f64, u64) {
    sleep(Duration::from_secs_f64(opts.warmup)).await;
    let hz = clock_ticks_per_second() as f64;
    let me = std::process::id();
    let s0 = opts.server_pid.and_then(sample);
    let c0 = sample(me).unwrap_or_default();
    let (n0, t0) = (counter(), Instant::now());
    sleep(Duration::from_secs_f64(opts.duration)).await;
    let s1 = opts.server_pid.and_then(sample);
    let c1 = sample(me).unwrap_or_default();
    let (n1, secs) = (counter(), t0.elapsed().as_secs_f64());
    let cpu = |a: Sample, b: Sample| (b.cpu_ticks - a.cpu_ticks) as f64 / hz;
    let server = match (s0, s1) {
        (Some(a), Some(b)) => Some(cpu(a, b)),
        _ => None,
    };
    (secs, server, cpu(c0, c1), n1 - n0)
}

fn json_map(m: &BTreeMap<String, u64>) -> String {
    let fields: Vec<String> = m.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
    format!("{{{}}}", fields.join(","))
}

fn opt(x: Option<f64>) -> String {
    x.map_or("null".into(), |x| format!("{x:.3}"))
}

async fn handshake(opts: Opts) -> io::Result<()> {
    let first = check(&opts).await?;
    eprintln!("tls-load: verified: {first}");
    let shared = Arc::new(Shared::default());
    let mut workers = Vec::new();
    for w in 0..opts.conns {
        let (opts, shared) = (opts.clone(), shared.clone());
        workers.push(tokio::spawn(async move {
            let mut index = w + 1;
            while !shared.stop.load(Ordering::Relaxed) {
                index += opts.conns;
                let mut tls = match open(&opts, &opts.load, index).await {
                    Ok(tls) => tls,
                    Err(e) => {
                        count_error(&shared, "handshake", &e);
                        sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let what = negotiated(&tls);
                if let Err(e) = request(&mut tls, opts.https).await {
                    count_error(&shared, "request", &e);
                    continue;
                }
                if let Err(e) = close(tls).await {
                    count_error(&shared, "close", &e);
                }
                *shared.negotiated.lock().unwrap().entry(what).or_default() += 1;
                shared.done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let (secs, server, client, n) = window(&opts, || shared.done.load(Ordering::Relaxed)).await;
    shared.stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let per = |cpu: f64| cpu * 1e6 / n.max(1) as f64;
    println!(
        "{{\"handshakes\":{n},\"per_s\":{:.1},\"server_cpu_us_per_hs\":{},\"client_cpu_us_per_hs\":{:.3},\"server_cpu_util\":{},\"errors\":{},\"negotiated\":{}}}",
        n as f64 / secs,
        opt(server.map(per)),
        per(client),
        opt(server.map(|s| s / secs)),
        shared.errors.load(Ordering::Relaxed),
        json_map(&shared.negotiated.lock().unwrap()),
    );
    Ok(())
}

async fn bulk(opts: Opts) -> io::Result<()> {
    let first = check(&opts).await?;
    eprintln!("tls-load: verified: {first}");
    let shared = Arc::new(Shared::default());
    let chunk = flag("--chunk", "65536")
        .parse::<usize>()
        .map_err(io::Error::other)?;
    let mut tasks = Vec::new();
    for i in 0..opts.conns {
        let tls = open(&opts, &opts.load, i + 1).await?;
        *shared
            .negotiated
            .lock()
            .unwrap()
            .entry(negotiated(&tls))
            .or_default() += 1;
        let (mut rd, mut wr) = tokio::io::split(tls);
        let pattern = Arc::new(Pattern::new(i, (1 << 20) + 4093, chunk));
        let (p, s) = (pattern.clone(), shared.clone());
        tasks.push(tokio::spawn(async move {
            let mut off = 0u64;
            while !s.stop.load(Ordering::Relaxed) {
                if let Err(e) = wr.write_all(p.slice(off, chunk)).await {
                    count_error(&s, "write", &e);
                    return;
                }
                off += chunk as u64;
            }
            let _ = wr.shutdown().await;
        }));
        let s = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut off = 0u64;
            let until_eof = async {
                loop {
                    match rd.read(&mut buf).await {
                        Ok(0) => return Ok(()),
                        Ok(n) => {
                            if let Err(at) = pattern.check(off, &buf[..n]) {
                                return Err(io::Error::other(format!("echoed byte {at} differs")));
                            }
                            off += n as u64;
                            s.bytes.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            // Reads until the server closes after the client's close,
            // or gives up 3 s after the stop.
            let give_up = async {
                while !s.stop.load(Ordering::Relaxed) {
                    sleep(Duration::from_millis(50)).await;
                }
                sleep(Duration::from_secs(3)).await;
            };
            tokio::select! {
                r = until_eof => if let Err(e) = r { count_error(&s, "read", &e) },
                () = give_up => count_error(&s, "close", &io::Error::other("no close within 3 s")),
            }
        }));
    }
    let (secs, server, client, bytes) =
        window(&opts, || shared.bytes.load(Ordering::Relaxed)).await;
    shared.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let gb = bytes as f64 / 1e9;
    println!(
        "{{\"bytes\":{bytes},\"mb_per_s\":{:.1},\"server_cpu_s_per_gb\":{},\"client_cpu_s_per_gb\":{:.3},\"server_cpu_util\":{},\"errors\":{},\"negotiated\":{}}}",
        bytes as f64 / 1e6 / secs,
        opt(server.map(|s| s / gb)),
        client / gb,
        opt(server.map(|s| s / secs)),
        shared.errors.load(Ordering::Relaxed),
        json_map(&shared.negotiated.lock().unwrap()),
    );
    Ok(())
}

async fn idle(opts: Opts) -> io::Result<()> {
    let pid = opts
        .server_pid
        .ok_or_else(|| io::Error::other("idle needs --server-pid"))?;
    let first = check(&opts).await?;
    eprintln!("tls-load: verified: {first}");
    let rss = || sample(pid).map(|s| s.rss_kib).unwrap_or(0);
    let before = rss();
    let mut held = Vec::with_capacity(opts.conns as usize);
    // 32 handshakes in flight at a time.
    let mut next = 0;
    while next < opts.conns {
        let batch: Vec<_> = (next..opts.conns.min(next + 32))
            .map(|i| {
                let opts = opts.clone();
                tokio::spawn(async move {
                    let mut tls = open(&opts, &opts.load, i + 1).await?;
                    request(&mut tls, opts.https).await?;
                    Ok::<_, io::Error>(tls)
                })
            })
            .collect();
        next += batch.len() as u64;
        for t in batch {
            held.push(t.await.map_err(io::Error::other)??);
        }
    }
    sleep(Duration::from_secs_f64(opts.duration)).await;
    let after = rss();
    println!(
        "{{\"conns\":{},\"rss_before_kib\":{before},\"rss_after_kib\":{after},\"kib_per_conn\":{:.3}}}",
        held.len(),
        (after as f64 - before as f64) / held.len() as f64
    );
    for tls in held {
        let _ = timeout(Duration::from_millis(200), close(tls)).await;
    }
    Ok(())
}
