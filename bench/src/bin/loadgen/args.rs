//! loadgen's command line: the modes, the flags, and their parsing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::exit;
use std::time::Duration;

pub const HELP: &str = "\
loadgen: drives an echo server and checks every echoed byte.

usage: loadgen MODE --port PORT [options]

modes:
  pingpong  N connections, one message of S bytes in flight on each; the
            next message leaves when the previous one is fully echoed.
            Reports messages/s and round-trip p50/p99 in microseconds.
              --conns N (50)  --size S (64)
              --duration SECS (5) [--warmup SECS (1)]  or  --messages M
  bulk      N connections each streaming CHUNK-byte writes as fast as the
            server takes them while reading the echo back. Reports MB/s
            echoed (MB = 10^6 bytes).
              --conns N (8)  --chunk BYTES (65536)  --duration SECS (5)
              [--warmup SECS (1)]
  connect   N workers, each in a loop: connect, send S bytes, read them
            back, close. Reports connections/s.
              --workers N (8)  --size S (64)  --duration SECS (5)
              [--warmup SECS (1)]  [--src-ips K (32)]  or  --messages M
              (exactly M connections, all measured)
  idle      open N connections (at most --concurrency connecting at once),
            echo S bytes on each, then hold them all for SECS.
              --conns N (10000)  --size S (16)  --hold SECS (1)
              [--concurrency C (256)]
  wait      connect until the server accepts, at most --timeout SECS (10).

common options:
  --host IP          server address (127.0.0.1)
  --port PORT        server port (required)
  --server-pid PID   sample the server's /proc/PID/stat (utime+stime) and
                     /proc/PID/status (VmRSS) when the measured window opens
                     and closes; idle mode samples VmRSS before connecting
                     and after the hold
  --stall SECS       fail if nothing progresses for this long (10)

The measured window starts after the warm-up and lasts --duration; with
--messages it spans the whole run. Connections close gracefully (FIN).
In connect mode, with a 127.0.0.1 target, connection i binds source
address 127.0.0.(2 + i mod K) (IP_BIND_ADDRESS_NO_PORT), so TIME_WAIT
sockets spread over K address pairs and ephemeral ports never run out.

output: one JSON line on stdout; a human line on stderr.
exit status: 0 ok, 1 connection failure or stall, 2 usage, 3 payload mismatch.
";

#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    PingPong,
    Bulk,
    Connect,
    Idle,
    Wait,
}

pub struct Args {
    pub mode: Mode,
    pub target: SocketAddr,
    pub conns: usize,
    pub size: usize,
    pub chunk: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub messages: Option<u64>,
    pub hold: Duration,
    pub src_ips: u32,
    pub concurrency: usize,
    pub server_pid: Option<u32>,
    pub stall: Duration,
    pub timeout: Duration,
}

pub fn usage(message: &str) -> ! {
    eprintln!("loadgen: {message}\nrun `loadgen --help` for usage");
    exit(2)
}

fn parse<T: std::str::FromStr>(flag: &str, value: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|_| usage(&format!("bad value {value:?} for {flag}")))
}

fn secs(flag: &str, value: &str) -> Duration {
    Duration::try_from_secs_f64(parse(flag, value))
        .unwrap_or_else(|_| usage(&format!("bad duration {value:?} for {flag}")))
}

pub fn parse_args() -> Args {
    let mut argv = std::env::args().skip(1);
    let mode = match argv.next().as_deref() {
        Some("pingpong") => Mode::PingPong,
        Some("bulk") => Mode::Bulk,
        Some("connect") => Mode::Connect,
        Some("idle") => Mode::Idle,
        Some("wait") => Mode::Wait,
        Some("-h" | "--help" | "help") => {
            print!("{HELP}");
            exit(0)
        }
        Some(other) => usage(&format!("unknown mode {other:?}")),
        None => usage("missing mode"),
    };
    let mut args = Args {
        mode,
        target: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        conns: match mode {
            Mode::PingPong => 50,
            Mode::Idle => 10_000,
            _ => 8,
        },
        size: if mode == Mode::Idle { 16 } else { 64 },
        chunk: 64 * 1024,
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        messages: None,
        hold: Duration::from_secs(1),
        src_ips: 32,
        concurrency: 256,
        server_pid: None,
        stall: Duration::from_secs(10),
        timeout: Duration::from_secs(10),
    };
    let mut host = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut port = None;
    while let Some(flag) = argv.next() {
        if flag == "-h" || flag == "--help" {
            print!("{HELP}");
            exit(0);
        }
        let value = argv
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--host" => host = parse(&flag, &value),
            "--port" => port = Some(parse::<u16>(&flag, &value)),
            "--conns" | "--workers" => args.conns = parse(&flag, &value),
            "--size" => args.size = parse(&flag, &value),
            "--chunk" => args.chunk = parse(&flag, &value),
            "--duration" => args.duration = secs(&flag, &value),
            "--warmup" => args.warmup = secs(&flag, &value),
            "--messages" => args.messages = Some(parse(&flag, &value)),
            "--hold" => args.hold = secs(&flag, &value),
            "--src-ips" => args.src_ips = parse(&flag, &value),
            "--concurrency" => args.concurrency = parse(&flag, &value),
            "--server-pid" => args.server_pid = Some(parse(&flag, &value)),
            "--stall" => args.stall = secs(&flag, &value),
            "--timeout" => args.timeout = secs(&flag, &value),
            _ => usage(&format!("unknown option {flag}")),
        }
    }
    let Some(port) = port.filter(|&p| p != 0) else {
        usage("--port is required")
    };
    args.target = SocketAddr::new(host, port);
    if args.conns == 0 || args.size == 0 || args.chunk == 0 || args.concurrency == 0 {
        usage("--conns, --size, --chunk and --concurrency must be positive");
    }
    if args.src_ips > 250 {
        usage("--src-ips is at most 250");
    }
    args
}
