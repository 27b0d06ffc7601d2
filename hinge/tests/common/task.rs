//! Helpers of the adversarial task tests: deadlines for code that might
//! hang or spin, a child process for code that might abort.

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::Duration;

use hinge::task::timeout;
use hinge::Loop;

/// Runs `body` on a thread of its own (each with its own loop) and fails
/// the test if it has not finished after `secs`: for bugs that hang or
/// spin. A hung body's thread is left behind.
pub fn within<T: Send + 'static>(secs: u64, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let th = std::thread::spawn(move || {
        let out = body();
        let _ = tx.send(());
        out
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => th.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => match th.join() {
            Ok(out) => out,
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("still running after {secs} s: hung or spinning")
        }
    }
}

/// `common::adversary::in_child`, but the child also runs ignored tests
/// (the child is this binary filtered to `name`; without
/// `--include-ignored` an ignored test's child would run nothing).
pub fn in_child(name: &str, body: impl FnOnce()) -> Result<(), String> {
    if std::env::var("ADV_CHILD").as_deref() == Ok(name) {
        body();
        return Ok(());
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--nocapture",
            "--test-threads=1",
            "--include-ignored",
        ])
        .env("ADV_CHILD", name)
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    let err = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = err.lines().rev().take(12).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    match (out.status.code(), out.status.signal()) {
        (Some(0), _) => Ok(()),
        (_, Some(sig)) => Err(format!(
            "child killed by signal {sig}:\n{}",
            tail.join("\n")
        )),
        (code, _) => Err(format!("child exited {code:?}:\n{}", tail.join("\n"))),
    }
}

pub fn std_listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// Yields once to the executor.
pub struct YieldNow(pub bool);
impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// `block_on` with a deadline, for futures that might hang.
pub fn within_loop<F: Future>(lp: &Loop, f: F) -> F::Output {
    lp.block_on(timeout(lp, Duration::from_secs(5), f))
        .unwrap()
        .expect("the future did not complete within 5 s")
}
