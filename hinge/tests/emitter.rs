//! Typed custom events: order, once, off, and re-entrant changes.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::DropCounter;
use hinge::{Event, ListenerId, Loop};

struct Door;

#[test]
fn listeners_run_in_registration_order_and_once_removes_itself() {
    let lp = Loop::new().unwrap();
    let opened: Event<Door, str> = Event::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    for name in ["a", "b", "c"] {
        let l = log.clone();
        opened.on(move |_, _, who| l.borrow_mut().push(format!("{name}:{who}")));
    }
    let l = log.clone();
    opened.once(move |_, _, who| l.borrow_mut().push(format!("once:{who}")));
    assert_eq!(opened.listener_count(), 4);
    opened.emit(&lp, &Door, "alice");
    opened.emit(&lp, &Door, "bob");
    assert_eq!(
        *log.borrow(),
        [
            "a:alice",
            "b:alice",
            "c:alice",
            "once:alice",
            "a:bob",
            "b:bob",
            "c:bob"
        ]
    );
    assert_eq!(opened.listener_count(), 3);
}

#[test]
fn listeners_may_add_and_remove_listeners_during_an_emission() {
    let lp = Loop::new().unwrap();
    let ev: Rc<Event<(), u32>> = Rc::new(Event::new());
    let log = Rc::new(RefCell::new(Vec::new()));
    let victim: Rc<RefCell<Option<ListenerId>>> = Rc::default();
    let (e, l, v) = (ev.clone(), log.clone(), victim.clone());
    let first = ev.on(move |_, _, n| {
        l.borrow_mut().push(format!("first {n}"));
        // Added now: runs from the next emission on.
        let l2 = l.clone();
        e.on(move |_, _, n| l2.borrow_mut().push(format!("added {n}")));
        // Removes a later listener before it runs.
        if let Some(id) = v.borrow_mut().take() {
            assert!(e.off(id));
        }
    });
    let l = log.clone();
    *victim.borrow_mut() = Some(ev.on(move |_, _, n| l.borrow_mut().push(format!("victim {n}"))));
    ev.emit(&lp, &(), &1);
    assert_eq!(*log.borrow(), ["first 1"]);
    assert!(ev.off(first));
    ev.emit(&lp, &(), &2);
    assert_eq!(*log.borrow(), ["first 1", "added 2"]);
}

#[test]
fn a_listener_removing_itself_and_clear_free_closures() {
    let lp = Loop::new().unwrap();
    let drops = DropCounter::default();
    let ev: Rc<Event<(), ()>> = Rc::new(Event::new());
    let id: Rc<RefCell<Option<ListenerId>>> = Rc::default();
    let (e, i, tok) = (ev.clone(), id.clone(), drops.token());
    *id.borrow_mut() = Some(ev.on(move |_, _, _| {
        tok.touch();
        e.off(i.borrow().unwrap());
    }));
    ev.emit(&lp, &(), &());
    assert_eq!(drops.dropped(), 1, "freed after its own call returned");
    let tok = drops.token();
    ev.on(move |_, _, _| tok.touch());
    ev.clear();
    assert_eq!(drops.dropped(), 2);
    assert!(!ev.emit(&lp, &(), &()));
}

#[test]
fn a_panicking_listener_leaves_the_event_usable() {
    let lp = Loop::new().unwrap();
    let ev: Event<(), ()> = Event::new();
    ev.on(|_, _, _| panic!("listener"));
    let ok = Rc::new(std::cell::Cell::new(0));
    let o = ok.clone();
    ev.on(move |_, _, _| o.set(o.get() + 1));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ev.emit(&lp, &(), &())));
    assert!(r.is_err());
    assert_eq!(ev.listener_count(), 1, "the panicking listener is gone");
    ev.emit(&lp, &(), &());
    assert_eq!(ok.get(), 1);
}

#[test]
fn order_holds_when_the_first_listener_goes_and_others_come() {
    let lp = Loop::new().unwrap();
    let ev: Event<(), ()> = Event::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut ids = Vec::new();
    for name in ["a", "b"] {
        let l = log.clone();
        ids.push(ev.on(move |_, _, _| l.borrow_mut().push(name)));
    }
    assert!(ev.off(ids[0]));
    let l = log.clone();
    ev.on(move |_, _, _| l.borrow_mut().push("c"));
    ev.emit(&lp, &(), &());
    assert_eq!(*log.borrow(), ["b", "c"], "c registered last, runs last");
    ev.clear();
    let l = log.clone();
    ev.once(move |_, _, _| l.borrow_mut().push("d"));
    ev.emit(&lp, &(), &());
    ev.emit(&lp, &(), &());
    assert_eq!(*log.borrow(), ["b", "c", "d"]);
    assert_eq!(ev.listener_count(), 0);
}

#[test]
fn a_lone_listener_replacing_itself_runs_the_new_one_next_time() {
    let lp = Loop::new().unwrap();
    let drops = DropCounter::default();
    let ev: Rc<Event<(), ()>> = Rc::new(Event::new());
    let log = Rc::new(RefCell::new(Vec::new()));
    let (e, l, tok) = (ev.clone(), log.clone(), drops.token());
    ev.on(move |_, _, _| {
        tok.touch();
        l.borrow_mut().push("old");
        e.clear();
        let l2 = l.clone();
        e.on(move |_, _, _| l2.borrow_mut().push("new"));
    });
    ev.emit(&lp, &(), &());
    assert_eq!(
        drops.dropped(),
        1,
        "the old closure is freed after its call"
    );
    assert_eq!(ev.listener_count(), 1);
    ev.emit(&lp, &(), &());
    assert_eq!(*log.borrow(), ["old", "new"]);
}

#[test]
fn an_emission_from_inside_a_listener_skips_only_that_listener() {
    let lp = Loop::new().unwrap();
    let ev: Rc<Event<(), u32>> = Rc::new(Event::new());
    let log = Rc::new(RefCell::new(Vec::new()));
    let (e, l) = (ev.clone(), log.clone());
    ev.on(move |lp, _, n| {
        l.borrow_mut().push(format!("outer {n}"));
        if *n == 1 {
            e.emit(lp, &(), &2);
        }
    });
    let l = log.clone();
    ev.on(move |_, _, n| l.borrow_mut().push(format!("second {n}")));
    ev.emit(&lp, &(), &1);
    assert_eq!(*log.borrow(), ["outer 1", "second 2", "second 1"]);
    ev.clear(); // the first listener holds the event: break the cycle
}

#[test]
fn a_lone_panicking_listener_is_forgotten() {
    let lp = Loop::new().unwrap();
    let ev: Event<(), ()> = Event::new();
    ev.on(|_, _, _| panic!("alone"));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ev.emit(&lp, &(), &())));
    assert!(r.is_err());
    assert_eq!(ev.listener_count(), 0);
    let ok = Rc::new(std::cell::Cell::new(0));
    let o = ok.clone();
    ev.on(move |_, _, _| o.set(o.get() + 1));
    assert!(ev.emit(&lp, &(), &()));
    assert_eq!(ok.get(), 1);
}

/// A value whose `Drop` always panics, even while the thread unwinds:
/// dropped during unwinding, it would abort the process.
struct PanicsOnDrop(Rc<std::cell::Cell<usize>>);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
        panic!("the capture's drop panics");
    }
}

/// Emits once under `catch_unwind`; returns the panic's message.
fn emit_caught(lp: &Loop, ev: &Event<Door, ()>) -> String {
    let payload =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ev.emit(lp, &Door, &())))
            .expect_err("the listener's panic reaches the emitter's caller");
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .unwrap_or_default()
}

#[test]
fn a_panicking_listener_whose_capture_panics_on_drop_does_not_abort() {
    let lp = Loop::new().unwrap();
    let drops = Rc::new(std::cell::Cell::new(0));
    // The first (inline) listener. (`once` takes an `FnOnce`, whose
    // captures Rust itself drops while a panic unwinds out of it, so that
    // case aborts in any Rust code: the docs of `once` say so.)
    let ev: Event<Door, ()> = Event::new();
    let p = PanicsOnDrop(drops.clone());
    ev.on(move |_, _, _| {
        let _ = &p;
        panic!("listener")
    });
    assert_eq!(emit_caught(&lp, &ev), "listener", "the first panic wins");
    assert_eq!(ev.listener_count(), 0);
    // A later listener, behind another one.
    let ev: Event<Door, ()> = Event::new();
    let ran = Rc::new(std::cell::Cell::new(0));
    let r = ran.clone();
    ev.on(move |_, _, _| r.set(r.get() + 1));
    let p = PanicsOnDrop(drops.clone());
    ev.on(move |_, _, _| {
        let _ = &p;
        panic!("listener")
    });
    assert_eq!(emit_caught(&lp, &ev), "listener");
    assert_eq!(
        ev.listener_count(),
        1,
        "only the panicking listener is gone"
    );
    ev.emit(&lp, &Door, &());
    assert_eq!(ran.get(), 2);
    assert_eq!(drops.get(), 2, "every panicking listener was dropped");
}
