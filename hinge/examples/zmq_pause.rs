//! The ancestor's pause example: a PUSH producer sends the time every
//! second to a PULL consumer in the same process, which prints it. A
//! command socket takes `pause` and `resume`: while the consumer is paused
//! the messages build up in libzmq, and on resume the backlog arrives at
//! once.
//!
//! ```sh
//! cargo run --features zmq --example zmq_pause                      # run
//! cargo run --features zmq --example zmq_pause -- --command pause   # elsewhere
//! cargo run --features zmq --example zmq_pause -- --command resume
//! ```
//!
//! Options: `--endpoint E` for the command endpoint (default: an `ipc://`
//! path in the temp directory), `--interval-ms N` for the producer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hinge::zmq::{Kind, ZmqSocket};
use hinge::Loop;

fn main() -> hinge::Result<()> {
    let mut commands = format!("ipc://{}/hinge-zmq-pause", std::env::temp_dir().display());
    let mut command = None;
    let mut interval = Duration::from_secs(1);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--command", Some(c)) => command = Some(c),
            ("--endpoint", Some(e)) => commands = e,
            ("--interval-ms", Some(ms)) => {
                interval = Duration::from_millis(ms.parse().unwrap_or(1000));
            }
            _ => {
                eprintln!(
                    "usage: zmq_pause [--endpoint E] [--interval-ms N] [--command pause|resume]"
                );
                std::process::exit(2);
            }
        }
    }
    let lp = Loop::new()?;
    match command {
        Some(c) => send_command(&lp, &commands, c),
        None => run(&lp, &commands, interval),
    }
}

fn run(lp: &Loop, commands: &str, interval: Duration) -> hinge::Result<()> {
    // The consumer, and a producer feeding it over inproc://.
    let consumer = ZmqSocket::new(lp, Kind::Pull)?;
    consumer.bind("inproc://zmq-pause")?;
    consumer.on_data(|_, _, msg| println!("got {}", String::from_utf8_lossy(&msg[0])));
    let producer = ZmqSocket::new(lp, Kind::Push)?;
    producer.connect("inproc://zmq-pause")?;
    lp.set_interval(interval, move |_, _| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        producer
            .send_frame(format!("time {:.3}", now.as_secs_f64()))
            .ok();
    });

    // The command socket pauses and resumes the consumer.
    let control = ZmqSocket::new(lp, Kind::Pull)?;
    control.bind(commands)?;
    println!("zmq_pause: commands on {commands}");
    control.on_data(move |_, _, msg| match &msg[0][..] {
        b"pause" => {
            println!("pausing");
            consumer.pause();
        }
        b"resume" => {
            println!("resuming");
            consumer.resume();
        }
        other => println!("unknown command {:?}", String::from_utf8_lossy(other)),
    });
    lp.run();
    Ok(())
}

fn send_command(lp: &Loop, commands: &str, command: String) -> hinge::Result<()> {
    let push = ZmqSocket::new(lp, Kind::Push)?;
    push.connect(commands)?;
    push.send_frame(command)?; // queued until connected; close waits for it
    push.close();
    // Nobody there? Give up after a while instead of waiting forever.
    let (push, at) = (push.clone(), commands.to_string());
    lp.set_timeout(Duration::from_secs(3), move |_| {
        eprintln!("zmq_pause: nobody takes commands on {at}");
        push.destroy();
    })
    .unref();
    lp.run();
    Ok(())
}
