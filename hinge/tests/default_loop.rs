//! The process-wide default loop is exclusive (own binary: it is global).

use hinge::{Error, Loop};

#[test]
fn only_one_owner_at_a_time_across_threads() {
    let lp = Loop::default_loop().unwrap();
    assert!(lp.is_default());
    let other = std::thread::spawn(|| matches!(Loop::default_loop(), Err(Error::DefaultLoopBusy)))
        .join()
        .unwrap();
    assert!(other, "another thread cannot take the default loop");
    drop(lp);
    let again = std::thread::spawn(|| {
        Loop::default_loop()
            .map(|lp| lp.is_default())
            .unwrap_or(false)
    })
    .join()
    .unwrap();
    assert!(again, "free again once dropped");
}
