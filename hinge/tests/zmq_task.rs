//! ZeroMQ sockets from tasks: `messages()` and `send_async`, with real
//! libzmq sockets on one loop.
#![cfg(all(feature = "zmq", feature = "async"))]

mod common;

use std::time::Duration;

use futures_util::StreamExt;
use hinge::task::{sleep, timeout};
use hinge::zmq::{Kind, ZmqSocket};
use hinge::Loop;

#[test]
fn ten_thousand_messages_in_order_through_send_async_and_messages() {
    let lp = Loop::new().unwrap();
    let pull = ZmqSocket::new(&lp, Kind::Pull).unwrap();
    pull.bind("inproc://zmq-task-order").unwrap();
    let push = ZmqSocket::new(&lp, Kind::Push).unwrap();
    push.connect("inproc://zmq-task-order").unwrap();
    let h = lp.handle();
    let sender = lp.spawn_local(async move {
        for i in 0..10_000u32 {
            push.send_async(&[b"n".to_vec(), i.to_be_bytes().to_vec()])
                .await
                .unwrap();
        }
        push
    });
    let got = lp
        .block_on(timeout(&h, Duration::from_secs(20), async {
            let mut inbox = pull.messages();
            let mut next = 0u32;
            while next < 10_000 {
                let msg = inbox.next().await.unwrap().unwrap();
                assert_eq!(&msg[0][..], b"n");
                assert_eq!(u32::from_be_bytes(msg[1][..].try_into().unwrap()), next);
                next += 1;
            }
            next
        }))
        .unwrap()
        .expect("in time");
    assert_eq!(got, 10_000);
    let push = lp.block_on(sender).unwrap();
    push.close();
    pull.close();
    lp.run();
}

#[test]
fn a_stream_nobody_reads_pauses_its_socket_and_the_sender_waits() {
    let lp = Loop::new().unwrap();
    let pull = ZmqSocket::new(&lp, Kind::Pull).unwrap();
    pull.bind("inproc://zmq-task-pause").unwrap();
    let push = ZmqSocket::new(&lp, Kind::Push).unwrap();
    push.set_send_queue_limit(100);
    push.connect("inproc://zmq-task-pause").unwrap();
    let mut inbox = pull.messages();
    const N: u32 = 20_000;
    let h = lp.handle();
    let sent = lp.spawn_local(async move {
        for i in 0..N {
            push.send_async(&[i.to_be_bytes()]).await.unwrap();
        }
        push
    });
    let h2 = h.clone();
    let received = lp
        .block_on(timeout(&h, Duration::from_secs(30), async move {
            // Nobody reads for a while: the socket pauses (within the
            // test's deadline, however slow the machine, valgrind too),
            // libzmq's high-water marks fill, the sender waits on drain.
            while !pull.is_paused() {
                sleep(&h2, Duration::from_millis(10)).await;
            }
            let mut n = 0u32;
            while n < N {
                let msg = inbox.next().await.unwrap().unwrap();
                assert_eq!(u32::from_be_bytes(msg[0][..].try_into().unwrap()), n);
                n += 1;
            }
            (n, pull)
        }))
        .unwrap()
        .expect("in time");
    assert_eq!(received.0, N);
    let push = lp.block_on(sent).unwrap();
    push.close();
    received.1.close();
    lp.run();
}

#[test]
fn the_stream_ends_when_the_socket_closes() {
    let lp = Loop::new().unwrap();
    let pull = ZmqSocket::new(&lp, Kind::Pull).unwrap();
    pull.bind("inproc://zmq-task-end").unwrap();
    let p = pull.clone();
    let _t = lp.set_timeout(Duration::from_millis(10), move |_| p.close());
    let next = lp
        .block_on(async {
            let mut inbox = pull.messages();
            inbox.next().await.is_none()
        })
        .unwrap();
    assert!(next);
}
