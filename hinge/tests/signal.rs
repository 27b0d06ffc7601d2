//! Signal watchers with real signals sent by a real `kill` process.

use std::process::Command;
use std::time::Duration;

use hinge::{Error, Loop, Signal, Timer, Watcher};

fn kill_self(signal: &str) {
    let status = Command::new("kill")
        .args([signal, &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

// One test function: signal ownership is process-wide, and parallel tests
// in this binary would contend for the same signals.
#[test]
fn signals() {
    delivers_a_real_signal_on_the_loop_thread();
    one_loop_at_a_time_owns_a_signal();
    bad_signal_numbers_are_errors();
    sigchld_is_shared_with_the_default_loop_safely();
}

fn sigchld_is_shared_with_the_default_loop_safely() {
    // libev's default loop watches SIGCHLD itself; a private loop that
    // already does makes creating the default loop an error, not an abort.
    let a = Loop::new().unwrap();
    let s = Signal::new(&a, libc::SIGCHLD, |_, _| {}).unwrap();
    assert!(
        matches!(Loop::default_loop(), Err(Error::SignalInUse { signum }) if signum == libc::SIGCHLD)
    );
    drop(s);
    let d = Loop::default_loop().unwrap();
    assert!(matches!(
        Signal::new(&a, libc::SIGCHLD, |_, _| {}),
        Err(Error::SignalInUse { .. })
    ));
    drop(d);
    let again = Signal::new(&a, libc::SIGCHLD, |_, _| {}).unwrap();
    drop(again);
}

fn delivers_a_real_signal_on_the_loop_thread() {
    let lp = Loop::new().unwrap();
    let me = std::thread::current().id();
    let got = std::rc::Rc::new(std::cell::Cell::new(0));
    let g = got.clone();
    let s = Signal::new(&lp, libc::SIGUSR1, move |_, s| {
        assert_eq!(std::thread::current().id(), me);
        g.set(s.signum());
        s.stop();
    })
    .unwrap();
    // Deliver it once the loop is running.
    let _t = Timer::new(&lp, Duration::from_millis(5), Duration::ZERO, |_, _| {
        kill_self("-USR1")
    });
    // A safety net that does not itself keep the loop alive.
    let guard = Timer::new(&lp, Duration::from_secs(5), Duration::ZERO, |lp, _| {
        lp.break_all()
    });
    guard.unref();
    lp.run();
    assert_eq!(got.get(), libc::SIGUSR1);
    assert!(!s.is_active());
}

fn one_loop_at_a_time_owns_a_signal() {
    let a = Loop::new().unwrap();
    let b = Loop::new().unwrap();
    let sa = Signal::new(&a, libc::SIGUSR2, |_, _| {}).unwrap();
    let sa2 = Signal::new(&a, libc::SIGUSR2, |_, _| {}).unwrap();
    assert!(matches!(
        Signal::new(&b, libc::SIGUSR2, |_, _| {}),
        Err(Error::SignalInUse { signum }) if signum == libc::SIGUSR2
    ));
    drop(sa);
    assert!(
        Signal::new(&b, libc::SIGUSR2, |_, _| {}).is_err(),
        "a still holds it"
    );
    drop(sa2);
    let sb = Signal::new(&b, libc::SIGUSR2, |_, _| {}).unwrap();
    // Moving a watcher onto a signal another loop owns fails too.
    let other = Signal::new(&a, libc::SIGWINCH, |_, _| {}).unwrap();
    assert!(matches!(
        other.set_signum(libc::SIGUSR2),
        Err(Error::SignalInUse { .. })
    ));
    assert_eq!(other.signum(), libc::SIGWINCH);
    drop(b); // dropping the loop releases its claims
    drop(sb);
    let again = Signal::new(&a, libc::SIGUSR2, |_, _| {}).unwrap();
    assert!(again.is_active());
}

fn bad_signal_numbers_are_errors() {
    let lp = Loop::new().unwrap();
    for bad in [0, -1, 65, 1000, libc::SIGSEGV, libc::SIGFPE] {
        assert!(
            matches!(Signal::new(&lp, bad, |_, _| {}), Err(Error::InvalidSignal(n)) if n == bad)
        );
    }
}
