//! loadgen: a single-threaded, mio-driven load generator for echo servers.
//!
//! Every byte echoed back is checked against the connection's own
//! pseudo-random stream ([`Pattern`]); any mismatch, early close or stall
//! ends the run with a non-zero status. Figures go to stdout as one JSON
//! line, and a human summary to stderr. Run `loadgen --help` for the modes.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream as StdStream};
use std::process::exit;
use std::time::{Duration, Instant};

mod args;

use args::{parse_args, Args, Mode};
use hinge_bench::pattern::Pattern;
use hinge_bench::procfs;
use hinge_bench::report::{Report, Value, Window};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Socket, Type};

/// Why a run failed; `exit` turns it into the documented status.
enum Failure {
    Io(String),
    Mismatch(String),
}

impl Failure {
    fn io(what: impl std::fmt::Display) -> Failure {
        Failure::Io(what.to_string())
    }

    fn exit(self) -> ! {
        match self {
            Failure::Io(m) => {
                eprintln!("loadgen: {m}");
                exit(1)
            }
            Failure::Mismatch(m) => {
                eprintln!("loadgen: payload mismatch: {m}");
                exit(3)
            }
        }
    }
}

type Outcome<T> = Result<T, Failure>;

fn main() {
    let args = parse_args();
    let result = match args.mode {
        Mode::PingPong => pingpong(&args),
        Mode::Bulk => bulk(&args),
        Mode::Connect => connect(&args),
        Mode::Idle => idle(&args),
        Mode::Wait => wait(&args),
    };
    match result {
        Ok(Some(report)) => {
            println!("{}", report.json());
            eprintln!("{}", report.human());
        }
        Ok(None) => {}
        Err(failure) => failure.exit(),
    }
}

// ---------------------------------------------------------------------
// Sockets
// ---------------------------------------------------------------------

/// A connected, non-blocking, Nagle-free stream (blocking connect).
fn connect_blocking(target: SocketAddr) -> Outcome<TcpStream> {
    let s =
        StdStream::connect(target).map_err(|e| Failure::io(format!("connect {target}: {e}")))?;
    s.set_nodelay(true).map_err(Failure::io)?;
    s.set_nonblocking(true).map_err(Failure::io)?;
    Ok(TcpStream::from_std(s))
}

/// Starts a non-blocking connect; with `src_ips > 0` and a 127.0.0.1
/// target, from 127.0.0.(2 + index mod src_ips).
fn connect_start(target: SocketAddr, index: u64, src_ips: u32) -> io::Result<TcpStream> {
    let sock = Socket::new(
        Domain::for_address(target),
        Type::STREAM.nonblocking().cloexec(),
        None,
    )?;
    if src_ips > 0 && target.ip() == IpAddr::V4(Ipv4Addr::LOCALHOST) {
        bind_address_no_port(&sock)?;
        let host = 2 + (index % u64::from(src_ips)) as u8;
        let src = SocketAddr::from((Ipv4Addr::new(127, 0, 0, host), 0));
        sock.bind(&src.into())?;
    }
    match sock.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(sock.into()))
}

/// `IP_BIND_ADDRESS_NO_PORT`: `bind` picks the address only and leaves the
/// port to `connect`, which may then share ports across address pairs.
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

/// What one non-blocking read produced.
enum Got {
    Data(usize),
    Empty,
    Eof,
}

fn read_some(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<Got> {
    loop {
        return match stream.read(buf) {
            Ok(0) => Ok(Got::Eof),
            Ok(n) => Ok(Got::Data(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Got::Empty),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(e),
        };
    }
}

/// Reads what connection `i` echoed and checks it against the pattern
/// (no more than was `sent`, byte for byte); `None` when nothing is there.
fn read_echo(
    i: usize,
    stream: &mut TcpStream,
    pattern: &Pattern,
    sent: u64,
    received: &mut u64,
    buf: &mut [u8],
) -> Outcome<Option<usize>> {
    let n = match read_some(stream, buf) {
        Ok(Got::Data(n)) => n,
        Ok(Got::Empty) => return Ok(None),
        Ok(Got::Eof) => {
            return Err(Failure::io(format!(
                "conn {i}: server closed after {received} of {sent} bytes"
            )))
        }
        Err(e) => return Err(Failure::io(format!("conn {i}: read: {e}"))),
    };
    if *received + n as u64 > sent {
        return Err(Failure::Mismatch(format!(
            "conn {i}: {} bytes echoed but only {sent} sent",
            *received + n as u64
        )));
    }
    pattern
        .check(*received, &buf[..n])
        .map_err(|at| Failure::Mismatch(format!("conn {i}: stream byte {at} differs")))?;
    *received += n as u64;
    Ok(Some(n))
}

/// Writes what the kernel takes now; `Ok(0)` when it takes nothing.
fn write_some(stream: &mut TcpStream, data: &[u8]) -> io::Result<usize> {
    loop {
        return match stream.write(data) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(e),
        };
    }
}

fn poll_events(poll: &mut Poll, events: &mut Events, timeout: Duration) -> Outcome<()> {
    match poll.poll(events, Some(timeout)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
        Err(e) => Err(Failure::io(format!("poll: {e}"))),
    }
}

/// Fails a run once nothing has progressed for `limit`.
struct Stall {
    last: Instant,
    limit: Duration,
}

impl Stall {
    fn new(limit: Duration) -> Stall {
        Stall {
            last: Instant::now(),
            limit,
        }
    }

    fn progress(&mut self, now: Instant) {
        self.last = now;
    }

    fn check(&self, now: Instant, what: &str) -> Outcome<()> {
        if now.duration_since(self.last) > self.limit {
            Err(Failure::io(format!(
                "stalled: no progress for {:?} ({what})",
                self.limit
            )))
        } else {
            Ok(())
        }
    }
}

/// When the window opens and closes in a timed run.
struct Schedule {
    open_at: Instant,
    close_at: Instant,
}

impl Schedule {
    fn new(args: &Args) -> Schedule {
        let open_at = Instant::now() + args.warmup;
        Schedule {
            open_at,
            close_at: open_at + args.duration,
        }
    }

    /// Opens or closes `w` when due; returns how long to poll at most.
    fn tick(&self, w: &mut Window, now: Instant) -> Duration {
        if !w.is_opened() && now >= self.open_at {
            w.open(now);
        }
        if w.is_open() && now >= self.close_at {
            w.close(now);
        }
        let next = if !w.is_opened() {
            self.open_at
        } else {
            self.close_at
        };
        next.saturating_duration_since(now)
            .clamp(Duration::from_millis(1), Duration::from_millis(100))
    }
}

// ---------------------------------------------------------------------
// pingpong
// ---------------------------------------------------------------------

struct Ping {
    stream: TcpStream,
    pattern: Pattern,
    /// Stream bytes written, and echoed back (and checked).
    sent: u64,
    received: u64,
    /// End of the message in flight; `received == msg_end` when idle.
    msg_end: u64,
    since: Instant,
}

impl Ping {
    fn start(&mut self, size: usize, now: Instant) -> io::Result<()> {
        self.msg_end += size as u64;
        self.since = now;
        self.push()
    }

    fn push(&mut self) -> io::Result<()> {
        while self.sent < self.msg_end {
            let left = (self.msg_end - self.sent) as usize;
            let n = write_some(&mut self.stream, self.pattern.slice(self.sent, left))?;
            if n == 0 {
                break;
            }
            self.sent += n as u64;
        }
        Ok(())
    }
}

fn pingpong(args: &Args) -> Outcome<Option<Report>> {
    let size = args.size;
    let period = if size < 4093 { 4093 } else { 65521 };
    let mut poll = Poll::new().map_err(Failure::io)?;
    let mut conns = Vec::with_capacity(args.conns);
    for i in 0..args.conns {
        let mut stream = connect_blocking(args.target)?;
        poll.registry()
            .register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(Failure::io)?;
        conns.push(Ping {
            stream,
            pattern: Pattern::new(i as u64, period, size),
            sent: 0,
            received: 0,
            msg_end: 0,
            since: Instant::now(),
        });
    }

    let budget = args.messages;
    let schedule = Schedule::new(args);
    let mut window = Window::new(args.server_pid);
    if let Some(m) = budget {
        window.open(Instant::now());
        if m == 0 {
            window.close(Instant::now());
        }
    }
    let mut buf = vec![0u8; (64 * 1024).max(size)];
    let mut rtts: Vec<u64> = Vec::with_capacity(1 << 20);
    let mut started = 0u64;
    let mut done = 0u64;
    let mut in_flight = 0usize;
    let mut stall = Stall::new(args.stall);
    let now = Instant::now();
    for c in conns.iter_mut() {
        if budget.is_some_and(|m| started >= m) {
            break;
        }
        c.start(size, now).map_err(Failure::io)?;
        started += 1;
        in_flight += 1;
    }
    let mut events = Events::with_capacity(1024);
    loop {
        let now = Instant::now();
        let timeout = if budget.is_some() {
            Duration::from_millis(100)
        } else {
            schedule.tick(&mut window, now)
        };
        let stopping = window.is_closed();
        if stopping && in_flight == 0 {
            break;
        }
        stall.check(now, "pingpong")?;
        poll_events(&mut poll, &mut events, timeout)?;
        for event in events.iter() {
            let i = event.token().0;
            let c = &mut conns[i];
            c.push()
                .map_err(|e| Failure::io(format!("conn {i}: write: {e}")))?;
            if !event.is_readable() && !event.is_read_closed() {
                continue;
            }
            while let Some(n) = read_echo(
                i,
                &mut c.stream,
                &c.pattern,
                c.sent,
                &mut c.received,
                &mut buf,
            )? {
                if c.received < c.msg_end {
                    if n < buf.len() {
                        break;
                    }
                    continue;
                }
                // The message is back: record it, send the next one.
                let t = Instant::now();
                stall.progress(t);
                in_flight -= 1;
                if window.is_open() {
                    rtts.push(t.duration_since(c.since).as_nanos() as u64);
                    done += 1;
                    if budget.is_some_and(|m| done >= m) {
                        window.close(t);
                    }
                }
                let more = budget.is_none_or(|m| started < m);
                if !window.is_closed() && more {
                    c.start(size, t)
                        .map_err(|e| Failure::io(format!("conn {i}: write: {e}")))?;
                    started += 1;
                    in_flight += 1;
                }
                break;
            }
        }
    }

    let mut r = Report::new("pingpong", args.target);
    r.int("conns", args.conns as u64);
    r.int("size", size as u64);
    r.int("ops", done);
    r.window(&window);
    let rate = done as f64 / window.secs().max(1e-9);
    r.num("msgs_per_s", rate);
    r.latencies(&mut rtts);
    r.human = format!(
        "pingpong {} conns x {} B: {done} msgs, {:.0} msgs/s, p50 {:.1} us, p99 {:.1} us",
        args.conns,
        size,
        rate,
        r.get("p50_us").unwrap_or(f64::NAN),
        r.get("p99_us").unwrap_or(f64::NAN)
    );
    Ok(Some(r))
}

// ---------------------------------------------------------------------
// bulk
// ---------------------------------------------------------------------

struct Stream {
    stream: TcpStream,
    pattern: Pattern,
    sent: u64,
    received: u64,
}

fn bulk(args: &Args) -> Outcome<Option<Report>> {
    let chunk = args.chunk;
    let mut poll = Poll::new().map_err(Failure::io)?;
    let mut conns = Vec::with_capacity(args.conns);
    for i in 0..args.conns {
        let mut stream = connect_blocking(args.target)?;
        poll.registry()
            .register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(Failure::io)?;
        conns.push(Stream {
            stream,
            pattern: Pattern::new(i as u64, 65521, chunk),
            sent: 0,
            received: 0,
        });
    }
    let schedule = Schedule::new(args);
    let mut window = Window::new(args.server_pid);
    let mut buf = vec![0u8; (256 * 1024).max(chunk)];
    let mut echoed = 0u64;
    let mut stall = Stall::new(args.stall);
    let mut events = Events::with_capacity(1024);
    // Writable edges only come after a full send buffer: prime each one.
    let mut ready: Vec<usize> = (0..conns.len()).collect();
    loop {
        let now = Instant::now();
        let timeout = schedule.tick(&mut window, now);
        let stopping = window.is_closed();
        if stopping && conns.iter().all(|c| c.received == c.sent) {
            break;
        }
        stall.check(now, "bulk")?;
        if ready.is_empty() {
            poll_events(&mut poll, &mut events, timeout)?;
            ready.extend(events.iter().map(|e| e.token().0));
        }
        for i in ready.drain(..) {
            let c = &mut conns[i];
            if !stopping {
                loop {
                    let data = c.pattern.slice(c.sent, chunk);
                    let n = write_some(&mut c.stream, data)
                        .map_err(|e| Failure::io(format!("conn {i}: write: {e}")))?;
                    if n == 0 {
                        break;
                    }
                    c.sent += n as u64;
                }
            }
            while let Some(n) = read_echo(
                i,
                &mut c.stream,
                &c.pattern,
                c.sent,
                &mut c.received,
                &mut buf,
            )? {
                if window.is_open() {
                    echoed += n as u64;
                }
                stall.progress(now);
                if n < buf.len() {
                    break;
                }
            }
        }
    }

    let mut r = Report::new("bulk", args.target);
    r.int("conns", args.conns as u64);
    r.int("chunk", chunk as u64);
    r.int("bytes", echoed);
    r.num("ops", echoed as f64 / 1e6);
    r.window(&window);
    let rate = echoed as f64 / 1e6 / window.secs().max(1e-9);
    r.num("mb_per_s", rate);
    r.human = format!(
        "bulk {} conns x {} B writes: {:.0} MB echoed, {:.1} MB/s",
        args.conns,
        chunk,
        echoed as f64 / 1e6,
        rate
    );
    Ok(Some(r))
}

// ---------------------------------------------------------------------
// connect and idle
// ---------------------------------------------------------------------

/// One connection's life: connect, send `size` bytes, read them back.
struct Attempt {
    stream: TcpStream,
    index: u64,
    pattern: Pattern,
    sent: usize,
    received: usize,
    since: Instant,
}

impl Attempt {
    fn start(
        target: SocketAddr,
        index: u64,
        size: usize,
        src_ips: u32,
        poll: &Poll,
        token: Token,
    ) -> Outcome<Attempt> {
        let mut stream = connect_start(target, index, src_ips)
            .map_err(|e| Failure::io(format!("connect {target} (#{index}): {e}")))?;
        poll.registry()
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .map_err(Failure::io)?;
        let mut a = Attempt {
            stream,
            index,
            pattern: Pattern::new(index, size, size),
            sent: 0,
            received: 0,
            since: Instant::now(),
        };
        // On loopback the handshake often completes inside connect().
        a.advance(size, &mut [])?;
        Ok(a)
    }

    /// Moves on after an event; `true` once the whole echo came back.
    fn advance(&mut self, size: usize, buf: &mut [u8]) -> Outcome<bool> {
        let idx = self.index;
        if self.sent < size {
            let data = self.pattern.slice(self.sent as u64, size - self.sent);
            let n = write_some(&mut self.stream, data)
                .map_err(|e| Failure::io(format!("conn #{idx}: connect/write: {e}")))?;
            self.sent += n;
            if self.sent < size {
                return Ok(false);
            }
        }
        if buf.is_empty() {
            return Ok(false);
        }
        while self.received < self.sent {
            let n = match read_some(&mut self.stream, buf) {
                Ok(Got::Data(n)) => n,
                Ok(Got::Empty) => return Ok(false),
                Ok(Got::Eof) => {
                    return Err(Failure::io(format!(
                        "conn #{idx}: server closed after {} of {} bytes",
                        self.received, self.sent
                    )))
                }
                Err(e) => return Err(Failure::io(format!("conn #{idx}: read: {e}"))),
            };
            if self.received + n > self.sent {
                return Err(Failure::Mismatch(format!(
                    "conn #{idx}: {} bytes echoed but only {} sent",
                    self.received + n,
                    self.sent
                )));
            }
            self.pattern
                .check(self.received as u64, &buf[..n])
                .map_err(|at| Failure::Mismatch(format!("conn #{idx}: byte {at} differs")))?;
            self.received += n;
        }
        Ok(true)
    }
}

fn connect(args: &Args) -> Outcome<Option<Report>> {
    let size = args.size;
    let mut poll = Poll::new().map_err(Failure::io)?;
    let mut next = 0u64;
    // With --messages M: exactly M connections, all measured.
    let limit = args.messages;
    let mut workers: Vec<Option<Attempt>> = Vec::with_capacity(args.conns);
    for w in 0..args.conns {
        if limit.is_some_and(|m| next >= m) {
            workers.push(None);
            continue;
        }
        workers.push(Some(Attempt::start(
            args.target,
            next,
            size,
            args.src_ips,
            &poll,
            Token(w),
        )?));
        next += 1;
    }
    let schedule = Schedule::new(args);
    let mut window = Window::new(args.server_pid);
    let mut buf = vec![0u8; 64 * 1024];
    let mut times: Vec<u64> = Vec::with_capacity(1 << 20);
    let mut done = 0u64;
    let mut stall = Stall::new(args.stall);
    let mut events = Events::with_capacity(1024);
    if limit.is_some() {
        window.open(Instant::now());
    }
    loop {
        let now = Instant::now();
        let timeout = match limit {
            Some(_) => {
                if workers.iter().all(Option::is_none) {
                    window.close(now);
                    break;
                }
                Duration::from_millis(100)
            }
            None => schedule.tick(&mut window, now),
        };
        let stopping = window.is_closed();
        if stopping && workers.iter().all(Option::is_none) {
            break;
        }
        stall.check(now, "connect")?;
        poll_events(&mut poll, &mut events, timeout)?;
        for event in events.iter() {
            let w = event.token().0;
            let Some(a) = workers[w].as_mut() else {
                continue;
            };
            if !a.advance(size, &mut buf)? {
                continue;
            }
            let t = Instant::now();
            stall.progress(t);
            if window.is_open() {
                times.push(t.duration_since(a.since).as_nanos() as u64);
                done += 1;
            }
            // Dropping closes it: a FIN, as the server is done with it too.
            workers[w] = None;
            if !window.is_closed() && limit.is_none_or(|m| next < m) {
                let a = Attempt::start(args.target, next, size, args.src_ips, &poll, Token(w))?;
                workers[w] = Some(a);
                next += 1;
            }
        }
    }

    let mut r = Report::new("connect", args.target);
    r.int("workers", args.conns as u64);
    r.int("size", size as u64);
    r.int("ops", done);
    r.window(&window);
    let rate = done as f64 / window.secs().max(1e-9);
    r.num("conns_per_s", rate);
    r.latencies(&mut times);
    r.human = format!(
        "connect {} workers: {done} connections, {:.0} conns/s, p50 {:.1} us",
        args.conns,
        rate,
        r.get("p50_us").unwrap_or(f64::NAN)
    );
    Ok(Some(r))
}

fn idle(args: &Args) -> Outcome<Option<Report>> {
    let size = args.size;
    let total = args.conns;
    let mut poll = Poll::new().map_err(Failure::io)?;
    let mut window = Window::new(args.server_pid);
    window.open(Instant::now());
    // Slots 0..total; established connections stay registered but idle.
    let mut conns: Vec<Option<Attempt>> = Vec::with_capacity(total);
    let mut connecting = 0usize;
    let mut established = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let mut stall = Stall::new(args.stall);
    let mut events = Events::with_capacity(1024);
    let mut done = vec![false; total];
    while established < total {
        while connecting < args.concurrency && conns.len() < total {
            let i = conns.len();
            let a = Attempt::start(args.target, i as u64, size, args.src_ips, &poll, Token(i))?;
            conns.push(Some(a));
            connecting += 1;
        }
        let now = Instant::now();
        stall.check(now, "idle: connecting")?;
        poll_events(&mut poll, &mut events, Duration::from_millis(100))?;
        for event in events.iter() {
            let i = event.token().0;
            if done[i] {
                continue;
            }
            let Some(a) = conns[i].as_mut() else {
                continue;
            };
            if a.advance(size, &mut buf)? {
                done[i] = true;
                connecting -= 1;
                established += 1;
                stall.progress(Instant::now());
            }
        }
    }
    window.close(Instant::now());
    let setup_s = window.secs();
    std::thread::sleep(args.hold);
    let after = args.server_pid.and_then(procfs::sample);
    let before = window.server_at_open();

    let mut r = Report::new("idle", args.target);
    r.int("conns", total as u64);
    r.int("size", size as u64);
    r.int("ops", total as u64);
    r.window(&window);
    r.num("hold_s", args.hold.as_secs_f64());
    r.opt_int("server_rss_before_kib", before.map(|s| s.rss_kib));
    r.opt_int("server_rss_after_kib", after.map(|s| s.rss_kib));
    let per_conn = match (before, after) {
        (Some(b), Some(a)) => Value::Num((a.rss_kib as f64 - b.rss_kib as f64) / total as f64),
        _ => Value::Null,
    };
    r.put("server_rss_kib_per_conn", per_conn);
    r.human = format!(
        "idle: {total} connections open in {setup_s:.2} s, held {:.1} s",
        args.hold.as_secs_f64()
    );
    if let Some(k) = r.get("server_rss_kib_per_conn") {
        r.human.push_str(&format!(", server RSS +{k:.3} KiB/conn"));
    }
    drop(conns);
    Ok(Some(r))
}

// ---------------------------------------------------------------------
// wait
// ---------------------------------------------------------------------

fn wait(args: &Args) -> Outcome<Option<Report>> {
    let deadline = Instant::now() + args.timeout;
    loop {
        match StdStream::connect_timeout(&args.target, Duration::from_millis(500)) {
            Ok(_) => return Ok(None),
            Err(e) if Instant::now() >= deadline => {
                return Err(Failure::io(format!(
                    "{} not accepting after {:?}: {e}",
                    args.target, args.timeout
                )))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
