//! The raw bindings against the real libev: version, layout and a loop run.

use libev_sys::*;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicI32, Ordering};

#[test]
fn version_is_at_least_4_0() {
    // SAFETY: these functions have no preconditions.
    let (major, minor) = unsafe { (ev_version_major(), ev_version_minor()) };
    assert!(major >= 4, "libev {major}.{minor} is older than 4.0");
    // The header the bindings came from and the library linked must agree
    // on the major version, or the ABI may differ.
    assert_eq!(major as u32, EV_VERSION_MAJOR);
}

#[test]
fn rust_and_c_agree_on_watcher_sizes() {
    use std::mem::size_of;
    let rust = [
        size_of::<ev_watcher>(),
        size_of::<ev_io>(),
        size_of::<ev_timer>(),
        size_of::<ev_periodic>(),
        size_of::<ev_signal>(),
        size_of::<ev_child>(),
        size_of::<ev_stat>(),
        size_of::<ev_idle>(),
        size_of::<ev_prepare>(),
        size_of::<ev_check>(),
        size_of::<ev_fork>(),
        size_of::<ev_cleanup>(),
        size_of::<ev_async>(),
    ];
    for (which, size) in rust.iter().enumerate() {
        // SAFETY: hinge_ev_sizeof accepts any int.
        let c = unsafe { hinge_ev_sizeof(which as c_int) };
        assert_eq!(*size, c, "watcher #{which}");
    }
}

#[test]
fn priorities_span_a_range() {
    // SAFETY: no preconditions.
    let (lo, hi) = unsafe { (hinge_ev_minpri(), hinge_ev_maxpri()) };
    assert!(lo <= 0 && hi >= 0);
}

static FIRED: AtomicI32 = AtomicI32::new(0);

unsafe extern "C" fn on_timer(_lp: *mut ev_loop, w: *mut ev_timer, revents: c_int) {
    FIRED.fetch_add(1, Ordering::SeqCst);
    // SAFETY: w points at the test's watcher, alive for the whole run.
    unsafe {
        assert_eq!(revents & EV_TIMER, EV_TIMER);
        assert_eq!((*w).repeat, 0.0);
    }
}

#[test]
fn a_timer_fires_once_and_the_loop_ends() {
    // SAFETY: a private loop and a stack watcher that outlives every use;
    // the watcher is stopped by libev (one-shot) before the loop is freed.
    unsafe {
        let lp = ev_loop_new(EVFLAG_AUTO);
        assert!(!lp.is_null());
        let mut w: ev_timer = std::mem::zeroed();
        hinge_ev_timer_init(&mut w, Some(on_timer), 0.001, 0.0);
        ev_timer_start(lp, &mut w);
        // `active` holds a heap index, so any non-zero value means active.
        assert_ne!(hinge_ev_is_active(&w as *const _ as *const ev_watcher), 0);
        let more = ev_run(lp, 0);
        assert_eq!(more, 0, "no active watchers remain");
        assert_eq!(FIRED.load(Ordering::SeqCst), 1);
        assert_eq!(hinge_ev_is_active(&w as *const _ as *const ev_watcher), 0);
        assert!(ev_iteration(lp) >= 1);
        ev_loop_destroy(lp);
    }
}
