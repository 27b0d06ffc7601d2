//! The seed's pingpong: a line protocol server plus a built-in client.
//!
//! `PING` -> `PONG`, `RANDOM` -> `Random: N` (computed on the work pool),
//! `DIE` closes everything so the loop ends. Anything else is refused and
//! the client disconnected. Idle clients are dropped after 30 s.
//!
//! ```sh
//! cargo run --example pingpong            # port 4545
//! nc localhost 4545                       # type PING, RANDOM, DIE
//! ```

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::rc::Rc;
use std::time::Duration;

use hinge::{Loop, Pool, Server, Socket, TimerHandle};

const IDLE: Duration = Duration::from_secs(30);
const PING_EVERY: Duration = Duration::from_secs(5);

/// Everything DIE has to close (the server tracks its own clients).
#[derive(Default)]
struct World {
    server: Option<Server>,
    pinger: Option<TimerHandle>,
    pinger_socket: Option<Socket>,
}

fn main() -> hinge::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(4545);
    let lp = Loop::new()?;
    let pool = Pool::new();
    let world = Rc::new(RefCell::new(World::default()));

    let server = Server::new(&lp);
    server.on_listening(|_, s| println!("pingpong server on {}", s.local_addr().expect("bound")));
    let w = world.clone();
    server.on_connection(move |_, _, client| {
        println!(
            "client {} connected",
            client
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        );
        client.set_timeout(Some(IDLE));
        client.on_timeout(|_, c| {
            println!(
                "client {} idle for {IDLE:?}, disconnecting",
                c.peer_addr().map(|a| a.to_string()).unwrap_or_default()
            );
            c.send(b"Timed out, bye\n").ok();
            c.close();
        });
        let (w, pool) = (w.clone(), pool.clone());
        // Lines of at most 64 bytes: a longer one is an error, and the
        // client is disconnected (memory stays bounded).
        client.on_line(64, move |lp, c, line| {
            let cmd = String::from_utf8_lossy(line).trim().to_ascii_uppercase();
            handle(lp, c, &cmd, &pool, &w);
        });
        client.on_error(|_, c, e| {
            c.send(format!("{e}, bye\n")).ok();
        });
        client.on_close(|_, c, _| {
            println!(
                "client {} left",
                c.peer_addr().map(|a| a.to_string()).unwrap_or_default()
            )
        });
    });
    server.listen(port)?;
    world.borrow_mut().server = Some(server);

    // The built-in client: ping the server every few seconds.
    let me = Socket::connect(&lp, "127.0.0.1", port)?;
    me.on_data(|_, _, data| print!("built-in client got: {}", String::from_utf8_lossy(data)));
    me.on_error(|_, _, e| eprintln!("built-in client: {e}"));
    let pinger = me.clone();
    let handle = lp.set_interval(PING_EVERY, move |_, _| {
        pinger.send(b"PING\n").ok();
    });
    world.borrow_mut().pinger = Some(handle);
    world.borrow_mut().pinger_socket = Some(me);

    lp.run();
    println!("bye");
    Ok(())
}

fn handle(lp: &Loop, client: &Socket, cmd: &str, pool: &Pool, world: &Rc<RefCell<World>>) {
    match cmd {
        "PING" => {
            client.send(b"PONG\n").ok();
        }
        "RANDOM" => {
            let client = client.clone();
            pool.submit(
                lp,
                || RandomState::new().hash_one(std::time::Instant::now()) % 1000,
                move |_, n| {
                    if let Ok(n) = n {
                        client.send(format!("Random: {n}\n")).ok();
                    }
                },
            );
        }
        "DIE" => {
            println!("DIE received: closing everything");
            let w = std::mem::take(&mut *world.borrow_mut());
            if let Some(t) = w.pinger {
                t.clear();
            }
            if let Some(s) = w.server {
                s.close();
                s.close_connections();
            }
            if let Some(c) = w.pinger_socket {
                c.close();
            }
        }
        "" => {}
        other => {
            client
                .send(format!("Unknown command {other:?}, bye\n"))
                .ok();
            client.close();
        }
    }
}
