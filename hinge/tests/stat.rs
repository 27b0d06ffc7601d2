//! Stat watchers on real file changes.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use hinge::{Error, Loop, Stat, Timer, Watcher};

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hinge-test-stat-{}-{name}", std::process::id()))
}

fn run_until_or_timeout(lp: &Loop, secs: u64) {
    let guard = Timer::new(lp, Duration::from_secs(secs), Duration::ZERO, |lp, _| {
        lp.break_all()
    });
    guard.unref();
    lp.run();
}

#[test]
fn creation_write_and_removal_are_seen() {
    let path = temp_path("lifecycle");
    let _ = std::fs::remove_file(&path);
    let lp = Loop::new().unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let w = Stat::new(&lp, &path, Duration::from_millis(10), move |_, w| {
        s.borrow_mut()
            .push((w.prev().map(|a| a.size), w.attr().map(|a| a.size)));
        if s.borrow().len() == 3 {
            w.stop();
        }
    })
    .unwrap();
    assert_eq!(w.attr(), None, "does not exist yet");
    // Change the file step by step from a timer, so each change is seen.
    let p = path.clone();
    let mut step = 0;
    let _steps = Timer::new(
        &lp,
        Duration::from_millis(20),
        Duration::from_millis(1100),
        move |_, t| {
            step += 1;
            match step {
                1 => std::fs::write(&p, b"").unwrap(),
                2 => std::fs::write(&p, b"twelve bytes").unwrap(),
                _ => {
                    std::fs::remove_file(&p).unwrap();
                    t.stop();
                }
            }
        },
    );
    run_until_or_timeout(&lp, 10);
    let seen = seen.borrow();
    assert_eq!(
        *seen,
        vec![(None, Some(0)), (Some(0), Some(12)), (Some(12), None)]
    );
}

#[test]
fn path_attr_and_errors() {
    let lp = Loop::new().unwrap();
    let w = Stat::new(&lp, "/", Duration::ZERO, |_, _| {}).unwrap();
    assert_eq!(w.path(), PathBuf::from("/"));
    let attr = w.attr().expect("/ exists");
    assert!(attr.is_dir() && !attr.is_file());
    assert!(matches!(
        Stat::new(&lp, "bad\0path", Duration::ZERO, |_, _| {}),
        Err(Error::InvalidPath)
    ));
    w.stop();
}
