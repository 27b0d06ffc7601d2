//! Unix-domain servers and clients: the same API as TCP.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::run_bounded;
use hinge::{Addr, Error, Loop, Server, Socket};

#[test]
fn unix_echo_round_trip_and_cleanup() {
    let path = std::env::temp_dir().join(format!("hinge-test-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let lp = Loop::new().unwrap();
    let server = Server::new(&lp);
    server.on_connection(|_, _, s| {
        s.on_data(|_, s, d| {
            s.send(d).unwrap();
        });
    });
    server.listen_unix(&path).unwrap();
    assert_eq!(server.local_addr(), Some(Addr::Unix(path.clone())));
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let client = Socket::connect_unix(&lp, &path).unwrap();
    client.send(b"over unix").unwrap(); // queued until connected
    let srv = server.clone();
    client.on_data(move |_, s, d| {
        g.borrow_mut().extend_from_slice(d);
        if g.borrow().len() == 9 {
            s.close();
            srv.close();
        }
    });
    run_bounded(&lp, 10);
    assert_eq!(&*got.borrow(), b"over unix");
    assert!(!path.exists(), "the socket file is removed on close");
}

#[test]
fn unix_errors() {
    let lp = Loop::new().unwrap();
    let errors = Rc::new(RefCell::new(Vec::new()));
    let e = errors.clone();
    let s = Socket::connect_unix(&lp, "/nonexistent/dir/x.sock").unwrap();
    s.on_error(move |_, _, err| e.borrow_mut().push(format!("{err}")));
    run_bounded(&lp, 5);
    assert_eq!(errors.borrow().len(), 1);
    assert!(
        errors.borrow()[0].contains("/nonexistent/dir/x.sock"),
        "{:?}",
        errors.borrow()
    );
    let long = "x".repeat(200);
    assert!(matches!(
        Socket::connect_unix(&lp, &long),
        Err(Error::InvalidAddress { .. })
    ));
    assert!(matches!(
        Server::new(&lp).listen_unix(&long),
        Err(Error::InvalidAddress { .. })
    ));
}
