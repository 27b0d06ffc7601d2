//! Failures a new user must not miss: each runs a program as a process and
//! reads what it says, or checks that it ends.
//!
//! The programs are tests of this same binary, started again with
//! `HINGE_CHILD` set: a real process with no logger installed.

use std::process::{Command, Output};

mod common;

/// Runs test `name` of this binary as a child process.
fn child(name: &str) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("HINGE_CHILD", "1")
        .output()
        .unwrap()
}

fn is_child() -> bool {
    std::env::var_os("HINGE_CHILD").is_some()
}

#[test]
fn child_connects_to_a_closed_port_without_an_error_listener() {
    if !is_child() {
        return;
    }
    let lp = hinge::Loop::new().unwrap();
    let port = common::closed_port();
    let _s = hinge::Socket::connect(&lp, "127.0.0.1", port).unwrap();
    lp.run();
}

#[test]
fn an_unhandled_socket_error_reaches_stderr_when_no_logger_is_installed() {
    if is_child() {
        return;
    }
    let out = child("child_connects_to_a_closed_port_without_an_error_listener");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("hinge: unhandled socket error")
            && stderr.contains("on_error")
            && stderr.contains("refused"),
        "{stderr}"
    );
}

#[test]
fn child_server_error_nobody_handles() {
    if !is_child() {
        return;
    }
    // A listen error is returned, not emitted: it cannot go unseen. An
    // accept error is emitted; with no listener it must still be reported.
    // Make one by running out of fds with a tiny limit.
    let lp = hinge::Loop::new().unwrap();
    let (server, port) = common::local_server(&lp);
    let keep: Vec<_> = (0..4)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    rlimit::setrlimit(rlimit::Resource::NOFILE, 8, 8).unwrap();
    let _hog: Vec<_> = (0..16)
        .filter_map(|_| std::fs::File::open("/dev/null").ok())
        .collect();
    lp.set_timeout(std::time::Duration::from_millis(300), move |_| {
        server.close()
    });
    lp.run();
    drop(keep);
}

#[test]
fn an_unhandled_accept_error_reaches_stderr() {
    if is_child() || common::under_valgrind() {
        return; // valgrind virtualises the fd limit: no EMFILE there
    }
    let out = child("child_server_error_nobody_handles");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("hinge: unhandled server error") && stderr.contains("accept"),
        "{stderr}"
    );
}
