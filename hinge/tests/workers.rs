//! Every core: channels between loops, connections handed over, and
//! groups of loops (`Workers`) started, stopped and failing, on real
//! threads and real sockets.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread::{self, ThreadId};
use std::time::Duration;

use hinge::{
    Error, Io, Loop, Ready, SendError, Sender, Server, Socket, Stopper, TrySendError, Watcher,
    Workers,
};

mod common;
use common::{local_server, run_bounded};

fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

#[test]
fn handles_for_other_threads_are_send_sync_clone() {
    assert_send_sync_clone::<Sender<u32>>();
    assert_send_sync_clone::<Sender<TcpStream>>();
    assert_send_sync_clone::<Stopper>();
}

/// Counts drops, and records the thread each happened on.
struct Counted {
    drops: Arc<AtomicUsize>,
    threads: Arc<std::sync::Mutex<Vec<ThreadId>>>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        self.threads.lock().unwrap().push(thread::current().id());
    }
}

#[derive(Default, Clone)]
struct DropLog {
    drops: Arc<AtomicUsize>,
    threads: Arc<std::sync::Mutex<Vec<ThreadId>>>,
}

impl DropLog {
    fn value(&self) -> Counted {
        Counted {
            drops: self.drops.clone(),
            threads: self.threads.clone(),
        }
    }
    fn dropped(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }
    fn all_on(&self, id: ThreadId) -> bool {
        self.threads.lock().unwrap().iter().all(|t| *t == id)
    }
}

#[test]
fn values_arrive_in_order_on_the_loop_thread() {
    let lp = Loop::new().unwrap();
    let me = thread::current().id();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let (tx, _rx) = lp.channel(8, move |lp, n: u32| {
        assert_eq!(thread::current().id(), me);
        g.borrow_mut().push(n);
        if n == 99 {
            lp.break_one();
        }
    });
    let producer = thread::spawn(move || {
        for n in 0..100 {
            tx.send(n).unwrap(); // waits while 8 are queued
        }
    });
    run_bounded(&lp, 20);
    producer.join().unwrap();
    assert_eq!(*got.borrow(), (0..100).collect::<Vec<_>>());
}

#[test]
fn try_send_gives_the_value_back_when_full() {
    let lp = Loop::new().unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let (tx, rx) = lp.channel(2, move |_, v: &'static str| s.borrow_mut().push(v));
    tx.try_send("a").unwrap();
    tx.try_send("b").unwrap();
    assert_eq!(tx.try_send("c"), Err(TrySendError::Full("c")));
    assert_eq!(tx.len(), 2);
    rx.unref();
    lp.run(); // delivers the two, then nothing keeps the loop
    assert_eq!(*seen.borrow(), ["a", "b"]);
    tx.try_send("c").unwrap(); // room again
    assert_eq!(tx.capacity(), 2);
}

#[test]
fn a_closed_channel_gives_values_back() {
    let lp = Loop::new().unwrap();
    let (tx, rx) = lp.channel(4, |_, _: String| {});
    let other = tx.clone();
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(
        tx.try_send("x".into()),
        Err(TrySendError::Closed("x".into()))
    );
    // From another thread, blocking send too.
    let back = thread::spawn(move || other.send("y".to_string()))
        .join()
        .unwrap();
    assert_eq!(back, Err(SendError("y".to_string())));
}

#[test]
fn the_end_of_the_loop_closes_the_channel_even_if_the_receiver_lives_on() {
    let lp = Loop::new().unwrap();
    let (tx, rx) = lp.channel(4, |_, _: u8| {});
    drop(lp);
    assert!(tx.is_closed());
    assert!(matches!(tx.try_send(1), Err(TrySendError::Closed(1))));
    drop(rx); // harmless, the loop is gone
}

#[test]
fn queued_values_are_dropped_on_the_receiving_thread_when_it_closes() {
    let log = DropLog::default();
    let lp = Loop::new().unwrap();
    let (tx, rx) = lp.channel(16, |_, _: Counted| panic!("never delivered"));
    let l = log.clone();
    thread::spawn(move || {
        for _ in 0..5 {
            tx.try_send(l.value()).map_err(|_| "full").unwrap();
        }
    })
    .join()
    .unwrap();
    assert_eq!(log.dropped(), 0);
    drop(rx);
    assert_eq!(log.dropped(), 5);
    assert!(log.all_on(thread::current().id()));
}

#[test]
fn values_left_when_the_loop_ends_are_dropped_with_it() {
    let log = DropLog::default();
    let lp = Loop::new().unwrap();
    let (tx, rx) = lp.channel(16, |_, _: Counted| {});
    for _ in 0..3 {
        tx.try_send(log.value()).map_err(|_| "full").unwrap();
    }
    drop(lp);
    assert_eq!(log.dropped(), 3);
    // Refused values come back to the sender, who drops them.
    let refused = tx.try_send(log.value()).unwrap_err().into_inner();
    drop(refused);
    assert_eq!(log.dropped(), 4);
    drop(rx);
}

#[test]
fn a_handler_that_closes_the_channel_gets_no_more_values() {
    let lp = Loop::new().unwrap();
    let log = DropLog::default();
    let delivered = Rc::new(RefCell::new(0));
    let rx_slot: Rc<RefCell<Option<hinge::Receiver<Counted>>>> = Rc::default();
    let (d, slot) = (delivered.clone(), rx_slot.clone());
    let (tx, rx) = lp.channel(8, move |_, _v: Counted| {
        *d.borrow_mut() += 1;
        drop(slot.borrow_mut().take()); // close after the first
    });
    *rx_slot.borrow_mut() = Some(rx);
    for _ in 0..4 {
        tx.try_send(log.value()).map_err(|_| "full").unwrap();
    }
    run_bounded(&lp, 10);
    assert_eq!(*delivered.borrow(), 1);
    assert_eq!(log.dropped(), 4);
    assert!(tx.is_closed());
}

#[test]
fn many_threads_post_closures_to_one_loop() {
    type Job = Box<dyn FnOnce(&Loop) + Send>;
    const THREADS: usize = 8;
    const EACH: usize = 250;
    let lp = Loop::new().unwrap();
    let ran = Rc::new(RefCell::new(0usize));
    let r = ran.clone();
    let (remote, _rx) = lp.channel(32, move |lp, job: Job| {
        job(lp);
        *r.borrow_mut() += 1;
        if *r.borrow() == THREADS * EACH {
            lp.break_one();
        }
    });
    let total = Arc::new(AtomicUsize::new(0));
    let posters: Vec<_> = (0..THREADS)
        .map(|_| {
            let (remote, total) = (remote.clone(), total.clone());
            thread::spawn(move || {
                for _ in 0..EACH {
                    let total = total.clone();
                    let job: Job = Box::new(move |_| {
                        total.fetch_add(1, Ordering::Relaxed);
                    });
                    remote.send(job).map_err(|_| "closed").unwrap();
                }
            })
        })
        .collect();
    run_bounded(&lp, 60);
    for p in posters {
        p.join().unwrap();
    }
    assert_eq!(*ran.borrow(), THREADS * EACH);
    assert_eq!(total.load(Ordering::Relaxed), THREADS * EACH);
}

/// Echoes one line through a connection to `port`.
fn echo_once(port: u16, text: &[u8]) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(text).unwrap();
    let mut back = vec![0; text.len()];
    c.read_exact(&mut back).unwrap();
    assert_eq!(back, text);
}

#[test]
fn a_connection_accepted_on_one_loop_is_served_by_another() {
    // This thread's loop serves; a second loop accepts and hands over.
    let lp = Loop::new().unwrap();
    let (tx, _rx) = lp.channel(16, |lp, stream: TcpStream| {
        let s = Socket::from_tcp_stream(lp, stream).unwrap();
        s.on_data(|lp, s, data| {
            s.send(data).ok();
            s.end();
            lp.break_one();
        });
    });
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let acceptor = thread::spawn(move || {
        let lp = Loop::new().unwrap();
        let _io = Io::new(&lp, listener, Ready::READ, move |_, io, _| {
            let l = io.source::<TcpListener>().unwrap();
            if let Ok((stream, _)) = l.accept() {
                tx.try_send(stream).map_err(|_| "not handed").unwrap();
                io.stop(); // one is enough: the loop ends
            }
        })
        .unwrap();
        lp.run();
    });
    let client = thread::spawn(move || echo_once(port, b"handed over\n"));
    run_bounded(&lp, 20);
    acceptor.join().unwrap();
    client.join().unwrap();
}

#[test]
fn a_server_takes_connections_handed_to_it() {
    let lp = Loop::new().unwrap();
    let server = Server::new(&lp); // never listens
    let served = Rc::new(RefCell::new(0));
    let n = served.clone();
    server.on_connection(move |_, server, client| {
        *n.borrow_mut() += 1;
        let server = server.clone();
        client.on_data(move |_, c, data| {
            c.send(data).ok();
            server.close();
            server.close_connections();
        });
    });
    let s = server.clone();
    let (tx, rx) = lp.channel(4, move |_, stream: TcpStream| {
        s.add_connection(stream).unwrap();
    });
    rx.unref(); // the handed connection keeps the loop alive
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        tx.send(stream).unwrap();
    });
    let client = thread::spawn(move || echo_once(port, b"adopted\n"));
    acceptor.join().unwrap(); // the stream is queued: run delivers it
    run_bounded(&lp, 20);
    client.join().unwrap();
    assert_eq!(*served.borrow(), 1);
    // A closed server refuses (and drops) what it is handed.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    assert!(matches!(
        server.add_connection(stream),
        Err(Error::Closed { .. })
    ));
}

#[test]
fn workers_set_up_a_loop_on_each_thread_and_return() {
    let threads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let t = threads.clone();
    Workers::new()
        .threads(3)
        .run(move |lp, worker| {
            t.lock()
                .unwrap()
                .push((worker.index(), thread::current().id()));
            // A little work, so that each loop runs before it ends.
            lp.set_timeout(Duration::from_millis(1), |_| {});
            Ok(())
        })
        .unwrap();
    let mut seen = threads.lock().unwrap().clone();
    seen.sort_by_key(|(i, _)| *i);
    assert_eq!(seen.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(seen[0].1, thread::current().id(), "worker 0 is the caller");
    let ids: std::collections::HashSet<_> = seen.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids.len(), 3, "one thread per loop");
}

#[test]
fn a_stop_runs_every_workers_hooks_and_their_loops_end() {
    let workers = Workers::new().threads(3);
    let stopper = workers.stopper();
    let stopped = Arc::new(AtomicUsize::new(0));
    let ready = Arc::new(Barrier::new(4));
    let (s, r) = (stopped.clone(), ready.clone());
    let run = thread::spawn(move || {
        workers.run(move |lp, worker| {
            let (tx, rx) = lp.channel(1, |_, ()| {}); // keeps the loop up
            let s = s.clone();
            worker.on_stop(move |_| {
                s.fetch_add(1, Ordering::SeqCst);
                rx.close();
            });
            drop(tx);
            r.wait();
            Ok(())
        })
    });
    ready.wait();
    stopper.stop();
    stopper.stop(); // twice is once
    run.join().unwrap().unwrap();
    assert_eq!(stopped.load(Ordering::SeqCst), 3);
}

#[test]
fn a_worker_without_hooks_has_its_loop_broken() {
    let workers = Workers::new().threads(2);
    workers.stopper().stop(); // before they start: they stop once running
    workers
        .run(|lp, _| {
            lp.channel(1, |_, ()| {}).1.detach(); // would run forever
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_panicking_worker_is_reported_and_the_others_go_on() {
    let (failed_tx, failed) = mpsc::channel();
    let (to_zero_tx, to_zero) = mpsc::channel::<Sender<mpsc::Sender<usize>>>();
    let to_zero_tx = std::sync::Mutex::new(to_zero_tx);
    let workers = Workers::new().threads(2).on_failure(move |err, _stopper| {
        failed_tx.send(err.to_string()).unwrap();
    });
    let stopper = workers.stopper();
    let run = thread::spawn(move || {
        workers.run(move |lp, worker| {
            if worker.index() == 1 {
                lp.set_timeout(Duration::ZERO, |_| panic!("worker one breaks"));
                return Ok(());
            }
            // Worker 0 answers pings until stopped.
            let (tx, rx) = lp.channel(4, |_, reply: mpsc::Sender<usize>| {
                reply.send(0).unwrap();
            });
            to_zero_tx.lock().unwrap().send(tx).unwrap();
            worker.on_stop(move |_| rx.close());
            Ok(())
        })
    });
    let message = failed.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(message, "worker 1 panicked: worker one breaks");
    // Worker 0 still serves.
    let zero = to_zero.recv_timeout(Duration::from_secs(30)).unwrap();
    let (reply, answer) = mpsc::channel();
    zero.try_send(reply).unwrap();
    assert_eq!(answer.recv_timeout(Duration::from_secs(30)).unwrap(), 0);
    stopper.stop();
    match run.join().unwrap() {
        Err(Error::WorkerPanicked { index: 1, message }) => {
            assert_eq!(message, "worker one breaks")
        }
        other => panic!("unexpected: {other:?}"),
    }
}

#[test]
fn a_failed_setup_is_returned_naming_the_worker() {
    let result = Workers::new()
        .threads(2)
        .on_failure(|_, stopper| stopper.stop()) // all or nothing
        .run(|lp, worker| {
            if worker.index() == 0 {
                return Err(Error::Closed { op: "setup" });
            }
            lp.channel(1, |_, ()| {}).1.detach(); // stopped by the hook
            Ok(())
        });
    match result {
        Err(Error::WorkerFailed { index: 0, source }) => {
            assert!(matches!(*source, Error::Closed { op: "setup" }))
        }
        other => panic!("unexpected: {other:?}"),
    }
}

#[test]
fn reuse_port_spreads_connections_across_loops() {
    const LOOPS: usize = 2;
    let port = local_port();
    let counts: Arc<Vec<AtomicUsize>> = Arc::new((0..LOOPS).map(|_| AtomicUsize::new(0)).collect());
    let workers = Workers::new().threads(LOOPS);
    let stopper = workers.stopper();
    let ready = Arc::new(Barrier::new(LOOPS + 1));
    let (c, r) = (counts.clone(), ready.clone());
    let run = thread::spawn(move || {
        workers.run(move |lp, worker| {
            let server = Server::new(lp);
            server.set_reuse_port(true);
            let (c, index) = (c.clone(), worker.index());
            server.on_connection(move |_, _, client| {
                c[index].fetch_add(1, Ordering::SeqCst);
                client.on_data(|_, client, data| {
                    client.send(data).ok();
                });
            });
            server.listen_on("127.0.0.1", port)?;
            worker.on_stop(move |_| {
                server.close();
                server.close_connections();
            });
            r.wait();
            Ok(())
        })
    });
    ready.wait(); // every loop listens
                  // The kernel hashes each connection's addresses: with 2 loops, 64
                  // connections all on one would be a 1 in 2^63 chance.
    for i in 0..64 {
        echo_once(port, format!("client {i}\n").as_bytes());
        if counts.iter().all(|c| c.load(Ordering::SeqCst) > 0) {
            break;
        }
    }
    stopper.stop();
    run.join().unwrap().unwrap();
    let per_loop: Vec<_> = counts.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert!(per_loop.iter().all(|&n| n > 0), "{per_loop:?}");
}

/// A free port on 127.0.0.1 for several listeners to share.
fn local_port() -> u16 {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    server.close();
    port
}

#[test]
fn the_receiver_can_be_left_to_its_loop() {
    let lp = Loop::new().unwrap();
    let (tx, rx) = lp.channel(1, |lp, n: u8| {
        assert_eq!(n, 7);
        lp.break_one();
    });
    rx.detach();
    thread::spawn(move || tx.send(7).unwrap()).join().unwrap();
    run_bounded(&lp, 10);
}
