//! Errors read as sentences, in `Display` and in `Debug` (what `?` out of
//! `main` prints), with the OS cause but none of the enum's insides.

mod common;

use hinge::{Error, Loop, Server};

#[test]
fn debug_of_an_os_error_is_a_sentence_not_the_enums_insides() {
    let lp = Loop::new().unwrap();
    let (_first, port) = common::local_server(&lp);
    let second = Server::new(&lp);
    let err = second.listen_on("127.0.0.1", port).unwrap_err();
    assert!(matches!(err, Error::AddrInUse { .. }), "{err}");
    let debug = format!("{err:?}");
    assert!(debug.starts_with(&err.to_string()), "{debug}");
    assert!(debug.contains("address already in use"), "{debug}");
    for inside in ["AddrInUse", "Os {", "code:", "kind:", "source:"] {
        assert!(!debug.contains(inside), "{inside:?} in {debug:?}");
    }
    // What `fn main() -> hinge::Result<()>` prints on this error.
    let printed = format!("Error: {err:?}");
    assert!(printed.contains(&format!("127.0.0.1:{port}")), "{printed}");
}
