//! Examples started as real processes: their paths, ports, signals,
//! exits and output, and curl as their client.

use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `cargo test` builds the examples next to the test binaries.
pub fn example(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop(); // deps
    dir.pop(); // debug
    dir.join("examples").join(name)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start(name: &str, args: &[&str]) -> Running {
    let child = Command::new(example(name))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("start {name}: {e} (run through cargo test, which builds examples)")
        });
    Running(child)
}

pub fn connect(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                return s;
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("example never listened on {port}: {e}"),
        }
    }
}

/// Sends a signal (`-INT`, `-TERM`) to the example's process.
pub fn signal(child: &Child, sig: &str) {
    let kill = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
}

pub fn wait_exit(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the example did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM: a clean exit (status 0); returns what the example printed.
pub fn terminate(server: &mut Running) -> String {
    signal(&server.0, "-TERM");
    let status = wait_exit(&mut server.0, 10);
    assert!(status.success(), "{status:?}");
    stdout_of(server)
}

/// SIGTERM: a clean exit (status 0); returns the rest of what the
/// example printed, from `out`, its stdout taken to read as it ran.
pub fn terminate_reading(mut server: Running, mut out: impl Read) -> String {
    signal(&server.0, "-TERM");
    let status = wait_exit(&mut server.0, 20);
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    rest
}

/// Everything the example printed (it has exited).
pub fn stdout_of(server: &mut Running) -> String {
    let mut out = String::new();
    server
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    out
}

/// Runs curl with `args`; returns its stdout and stderr.
pub fn run_curl(args: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60"])
        .args(args)
        .output()
        .expect("curl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.stdout, out.stderr)
}

pub fn curl(args: &[&str]) -> Vec<u8> {
    run_curl(args).0
}

/// `curl -v`: the body and the conversation, as text.
pub fn curl_verbose(args: &[&str]) -> String {
    let (out, err) = run_curl(&[&["-v"], args].concat());
    String::from_utf8_lossy(&out).to_string() + &String::from_utf8_lossy(&err)
}
