//! Child watchers on real child processes. Child watchers need the
//! default loop, which is process-wide: one test function runs them in turn.
//!
//! libev's SIGCHLD handler reaps the children, so the tests never `wait()`.
#![allow(clippy::zombie_processes)]

use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;

use hinge::{Child, Error, Loop, Watcher};

#[test]
fn child_processes() {
    exit_status_of_a_specific_child();
    death_by_signal();
    any_child_with_pid_zero();
    not_on_a_private_loop();
}

fn exit_status_of_a_specific_child() {
    let lp = Loop::default_loop().unwrap();
    let child = Command::new("sh").args(["-c", "exit 7"]).spawn().unwrap();
    let pid = child.id() as i32;
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    let w = Child::new(&lp, pid, false, move |_, c| {
        *s.borrow_mut() = Some((c.rpid(), c.exit_code(), c.term_signal()));
    })
    .unwrap();
    lp.run(); // returns: the watcher stops itself after the exit
    assert_eq!(*seen.borrow(), Some((pid, Some(7), None)));
    assert!(!w.is_active());
}

fn death_by_signal() {
    let lp = Loop::default_loop().unwrap();
    let child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id() as i32;
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    let _w = Child::new(&lp, pid, false, move |_, c| {
        *s.borrow_mut() = Some(c.term_signal())
    })
    .unwrap();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    lp.run();
    assert_eq!(*seen.borrow(), Some(Some(libc::SIGTERM)));
}

fn any_child_with_pid_zero() {
    let lp = Loop::default_loop().unwrap();
    let pids: Vec<i32> = (0..3)
        .map(|i| {
            Command::new("sh")
                .args(["-c", &format!("exit {i}")])
                .spawn()
                .unwrap()
                .id() as i32
        })
        .collect();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let _w = Child::new(&lp, 0, false, move |lp, c| {
        s.borrow_mut().push((c.rpid(), c.exit_code().unwrap()));
        if s.borrow().len() == 3 {
            lp.break_one(); // pid 0 watchers never stop by themselves
        }
    })
    .unwrap();
    lp.run();
    let mut seen = seen.borrow().clone();
    seen.sort();
    let mut want: Vec<_> = pids
        .iter()
        .enumerate()
        .map(|(i, p)| (*p, i as i32))
        .collect();
    want.sort();
    assert_eq!(seen, want);
}

fn not_on_a_private_loop() {
    let lp = Loop::new().unwrap();
    assert!(matches!(
        Child::new(&lp, 0, false, |_, _| {}),
        Err(Error::NotDefaultLoop)
    ));
}
