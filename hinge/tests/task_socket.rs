//! Sockets from async code: futures-io's traits on real TCP sockets on
//! 127.0.0.1, `connected`, `incoming`, backpressure, half-close, the
//! handover between callbacks and tasks, and the close-on-last-drop rule.

mod common;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use common::{closed_port, local_server, run_bounded};
use futures_util::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, StreamExt};
use hinge::task::sleep;
use hinge::{Error, Loop, Socket};

fn std_listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[test]
fn echo_through_incoming_and_tasks() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let client = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut got = Vec::new();
        for i in 0..100u32 {
            let msg = format!("message {i}\n");
            c.write_all(msg.as_bytes()).unwrap();
            let mut buf = vec![0u8; msg.len()];
            c.read_exact(&mut buf).unwrap();
            got.push(buf);
        }
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).unwrap(); // the server closes after EOF
        (got, rest)
    });
    let h = lp.handle();
    let s = server.clone();
    lp.block_on(async move {
        let mut incoming = s.incoming();
        let mut sock = incoming.next().await.unwrap();
        let mut buf = [0u8; 256];
        loop {
            let n = sock.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            sock.write_all(&buf[..n]).await.unwrap();
        }
        drop(sock); // the last handle: closes the socket
        sleep(&h, Duration::from_millis(1)).await;
    })
    .unwrap();
    let (got, rest) = client.join().unwrap();
    assert_eq!(got.len(), 100);
    assert_eq!(got[42], b"message 42\n");
    assert!(rest.is_empty());
    server.close();
}

#[test]
fn connected_resolves_and_the_socket_reads_and_writes() {
    let (l, port) = std_listener();
    let peer = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        // Speaks first: the greeting waits in the kernel for the task.
        c.write_all(b"hello\n").unwrap();
        let mut buf = [0u8; 5];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping\n");
        c.write_all(b"pong\n").unwrap();
    });
    let lp = Loop::new().unwrap();
    let h = lp.handle();
    let lines = lp
        .block_on(async move {
            let sock = Socket::connect(&h, "127.0.0.1", port)?.connected().await?;
            // A task that waits before its first read loses nothing.
            sleep(&h, Duration::from_millis(30)).await;
            let mut reader = sock.reader();
            let mut writer = sock.clone();
            let mut a = String::new();
            reader.read_line(&mut a).await?;
            writer.write_all(b"ping\n").await?;
            let mut b = String::new();
            reader.read_line(&mut b).await?;
            Ok::<_, Box<dyn std::error::Error>>((a, b))
        })
        .unwrap()
        .unwrap();
    assert_eq!(lines, ("hello\n".to_string(), "pong\n".to_string()));
    peer.join().unwrap();
}

#[test]
fn connected_reports_a_refusal_as_a_typed_error() {
    let lp = Loop::new().unwrap();
    let port = closed_port();
    let r = lp
        .block_on(async {
            Socket::connect(&lp, "127.0.0.1", port)
                .unwrap()
                .connected()
                .await
        })
        .unwrap();
    assert!(matches!(r, Err(Error::ConnectionRefused { .. })), "{r:?}");
}

#[test]
fn a_slow_reader_holds_the_writer_back_with_bounded_buffering() {
    let (l, port) = std_listener();
    const TOTAL: usize = 32 << 20;
    let reader = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        std::thread::sleep(Duration::from_millis(200)); // slow to start
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0;
        while total < TOTAL {
            let n = c.read(&mut buf).unwrap();
            assert!(n > 0);
            total += n;
        }
        total
    });
    let lp = Loop::new().unwrap();
    let max_pending = Rc::new(Cell::new(0usize));
    let m = max_pending.clone();
    let h = lp.handle();
    lp.block_on(async move {
        let mut sock = Socket::connect(&h, "127.0.0.1", port)
            .unwrap()
            .connected()
            .await
            .unwrap();
        let chunk = vec![7u8; 256 * 1024];
        let mut sent = 0;
        while sent < TOTAL {
            sock.write_all(&chunk).await.unwrap();
            sent += chunk.len();
            m.set(m.get().max(sock.pending_bytes()));
        }
        sock.flush().await.unwrap();
    })
    .unwrap();
    assert_eq!(reader.join().unwrap(), TOTAL);
    // At most a high-water mark waited in user space, whatever the
    // writer wanted to write.
    assert!(
        max_pending.get() <= hinge::DEFAULT_HIGH_WATER,
        "{}",
        max_pending.get()
    );
}

#[test]
fn close_half_closes_and_reading_goes_on() {
    let (l, port) = std_listener();
    let peer = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).unwrap(); // ends at the task's close()
        c.write_all(b"after your end").unwrap();
        got
    });
    let lp = Loop::new().unwrap();
    let h = lp.handle();
    let reply = lp
        .block_on(async move {
            let mut sock = Socket::connect(&h, "127.0.0.1", port)
                .unwrap()
                .connected()
                .await
                .unwrap();
            sock.write_all(b"request").await.unwrap();
            // (`Socket::close`, the inherent method, would close at once.)
            AsyncWriteExt::close(&mut sock).await.unwrap(); // shutdown(Write)
            let mut reply = String::new();
            sock.read_to_string(&mut reply).await.unwrap();
            reply
        })
        .unwrap();
    assert_eq!(reply, "after your end");
    assert_eq!(peer.join().unwrap(), b"request");
}

#[test]
fn callbacks_hand_a_socket_to_a_task_without_losing_bytes() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let h = lp.handle();
    let received = Rc::new(RefCell::new(Vec::<u8>::new()));
    let r = received.clone();
    server.once_connection(move |_, _, client| {
        let r = r.clone();
        let h = h.clone();
        client.once_data(move |_, client, first| {
            // The first chunk came as an event; the rest goes to a task.
            r.borrow_mut().extend_from_slice(first);
            let mut sock = client.clone();
            let r = r.clone();
            h.spawn_local(async move {
                let mut rest = Vec::new();
                sock.read_to_end(&mut rest).await.unwrap();
                r.borrow_mut().extend_from_slice(&rest);
            })
            .detach();
        });
    });
    let client = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"first").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let big: Vec<u8> = (0..1_000_000u32).map(|i| i as u8).collect();
        c.write_all(&big).unwrap();
    });
    let s = server.clone();
    let r = received.clone();
    let _watch = hinge::Timer::new(
        &lp,
        Duration::from_millis(5),
        Duration::from_millis(5),
        move |_, t| {
            if r.borrow().len() >= 5 + 1_000_000 {
                s.close();
                hinge::Watcher::stop(t);
            }
        },
    );
    run_bounded(&lp, 10);
    client.join().unwrap();
    let got = received.borrow();
    assert_eq!(&got[..5], b"first");
    assert_eq!(got.len(), 5 + 1_000_000);
    assert!(got[5..].iter().enumerate().all(|(i, b)| *b == i as u8));
}

#[test]
fn a_task_hands_a_socket_back_to_callbacks_with_resume() {
    let (l, port) = std_listener();
    let peer = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        c.write_all(b"HEAD|").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        c.write_all(b"tail").unwrap();
    });
    let lp = Loop::new().unwrap();
    let h = lp.handle();
    let events = Rc::new(RefCell::new(Vec::<u8>::new()));
    let e = events.clone();
    let head = lp
        .block_on(async move {
            let mut sock = Socket::connect(&h, "127.0.0.1", port)
                .unwrap()
                .connected()
                .await
                .unwrap();
            let mut head = [0u8; 5];
            sock.read_exact(&mut head).await.unwrap();
            sock.on_data(move |_, _, data| e.borrow_mut().extend_from_slice(data));
            sock.resume(); // back to flowing mode: `data` again
            head
        })
        .unwrap();
    run_bounded(&lp, 5);
    peer.join().unwrap();
    assert_eq!(&head, b"HEAD|");
    assert_eq!(&*events.borrow(), b"tail");
}

#[test]
fn the_last_handle_of_an_async_socket_closes_it_and_a_callback_socket_stays() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let closes = Rc::new(Cell::new(0));
    let c = closes.clone();
    server.on_connection(move |_, _, s| {
        let c = c.clone();
        s.on_close(move |_, _, _| c.set(c.get() + 1));
    });
    let h = lp.handle();
    // An async socket whose task just drops it.
    let dropped = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1];
        c.read(&mut buf).unwrap() // 0: the server closed
    });
    let s = server.clone();
    lp.block_on(async move {
        let mut incoming = s.incoming();
        let sock = incoming.next().await.unwrap();
        let mut w = sock.clone();
        w.write_all(b"").await.unwrap(); // used from async code
        drop(w);
        drop(sock);
        sleep(&h, Duration::from_millis(20)).await;
    })
    .unwrap();
    assert_eq!(dropped.join().unwrap(), 0);
    assert_eq!(closes.get(), 1);
    // A callback socket's handle dropped: nothing changes.
    let kept = Rc::new(Cell::new(false));
    let k = kept.clone();
    server.once_connection(move |_, _, s| {
        let s2 = s.clone();
        drop(s2);
        k.set(!s.is_closed());
    });
    let t = std::thread::spawn(move || {
        let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        drop(c);
    });
    let s = server.clone();
    let _stop = lp.set_timeout(Duration::from_millis(100), move |_| s.close());
    run_bounded(&lp, 5);
    t.join().unwrap();
    assert!(kept.get());
    assert_eq!(closes.get(), 2); // closed by the peer's end, not by a drop
}

#[test]
fn a_task_waiting_to_read_sees_a_close_by_callbacks() {
    let lp = Loop::new().unwrap();
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let sock = Socket::from_unix_stream(&lp, a).unwrap();
    let mut reader = sock.clone();
    let task = lp.spawn_local(async move {
        let mut buf = [0u8; 8];
        reader.read(&mut buf).await
    });
    lp.run_nowait(); // parked in read
    let s = sock.clone();
    let _t = lp.set_timeout(Duration::from_millis(5), move |_| s.destroy());
    let r = lp.block_on(task).unwrap();
    assert_eq!(r.unwrap(), 0);
}

#[test]
fn cancelling_a_task_parked_in_read_closes_its_socket() {
    let lp = Loop::new().unwrap();
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut sock = Socket::from_unix_stream(&lp, a).unwrap();
    let task = lp.spawn_local(async move {
        let mut buf = [0u8; 8];
        sock.read(&mut buf).await
    });
    lp.run_nowait();
    drop(task); // its future, and the socket's last handle, go
    lp.run_nowait();
    lp.run_nowait();
    b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(b.read(&mut buf).unwrap(), 0);
}

#[test]
fn incoming_ends_when_the_server_closes() {
    let lp = Loop::new().unwrap();
    let (server, _port) = local_server(&lp);
    let s = server.clone();
    let _t = lp.set_timeout(Duration::from_millis(10), move |_| s.close());
    let next = lp
        .block_on(async {
            let mut incoming = server.incoming();
            incoming.next().await
        })
        .unwrap();
    assert!(next.is_none());
}

#[test]
fn incoming_stops_accepting_past_its_queue_limit_and_resumes() {
    let lp = Loop::new().unwrap();
    let (server, port) = local_server(&lp);
    let mut incoming = server.incoming();
    let clients = std::thread::spawn(move || {
        (0..100)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect::<Vec<_>>()
    });
    let h = lp.handle();
    let got = lp
        .block_on(async move {
            // Let the queue fill up before taking anything.
            sleep(&h, Duration::from_millis(100)).await;
            let mut got = Vec::new();
            while got.len() < 100 {
                got.push(incoming.next().await.unwrap());
            }
            got
        })
        .unwrap();
    assert_eq!(got.len(), 100);
    drop(clients.join().unwrap());
}

#[test]
fn an_http_request_body_as_a_stream_of_chunks() {
    let lp = Loop::new().unwrap();
    let server = hinge::http::Server::new(&lp);
    server.listen_on("127.0.0.1", 0).unwrap();
    let port = server.local_addr().unwrap().port();
    let h = lp.handle();
    let answered = Rc::new(Cell::new(false));
    let a = answered.clone();
    server.on_request(move |_, _, req, res| {
        let h2 = h.clone();
        let a = a.clone();
        h.spawn_local(async move {
            let mut body = hinge::task::chunks(&req);
            let mut total = 0usize;
            let mut sum = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.unwrap();
                total += chunk.len();
                sum += chunk.iter().map(|b| *b as u64).sum::<u64>();
                // A slow consumer: the source is paused meanwhile.
                sleep(&h2, Duration::from_micros(200)).await;
            }
            res.end(format!("{total} {sum}")).ok();
            a.set(true);
        })
        .detach();
    });
    const LEN: usize = 2_000_000;
    let client = std::thread::spawn(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let body: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
        let expect: u64 = body.iter().map(|b| *b as u64).sum();
        write!(
            c,
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {LEN}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        c.write_all(&body).unwrap();
        let mut reply = String::new();
        c.read_to_string(&mut reply).unwrap();
        (reply, expect)
    });
    // Once the answer went out and the connection closed, so does the server.
    let srv = server.clone();
    let stop = lp.set_interval(Duration::from_millis(10), move |_, t| {
        if answered.get() && srv.connections() == 0 {
            srv.close();
            t.clear();
        }
    });
    run_bounded(&lp, 20);
    stop.clear();
    let (reply, expect) = client.join().unwrap();
    assert!(reply.ends_with(&format!("{LEN} {expect}")), "{reply}");
}
