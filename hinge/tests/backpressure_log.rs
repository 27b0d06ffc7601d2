//! A sender that ignores `send`'s result is told so, through the `log`
//! crate, once its queue passes 16 high-water marks. (Its own binary: it
//! installs a logger, which is process-wide.)

use std::sync::Mutex;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Collect;

impl log::Log for Collect {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.level() == log::Level::Debug {
            LINES.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

#[test]
fn a_queue_sixteen_high_water_marks_deep_is_reported_at_debug_level() {
    log::set_logger(&Collect).unwrap();
    log::set_max_level(log::LevelFilter::Debug);
    let lp = hinge::Loop::new().unwrap();
    // The peer never reads: everything past the kernel's buffer queues.
    let (a, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let s = hinge::Socket::from_unix_stream(&lp, a).unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let warned = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.contains("high-water mark") && l.contains("pipe"))
            .count()
    };
    // 15 marks queued: nothing said yet.
    while s.pending_bytes() < 15 * hinge::DEFAULT_HIGH_WATER {
        let _ = s.send(&chunk); // ignoring the result: the mistake
    }
    assert_eq!(warned(&LINES.lock().unwrap()), 0);
    while s.pending_bytes() < 33 * hinge::DEFAULT_HIGH_WATER {
        let _ = s.send(&chunk);
    }
    // At 16 marks, and again at 32: once per doubling, not per send.
    assert_eq!(
        warned(&LINES.lock().unwrap()),
        2,
        "{:?}",
        LINES.lock().unwrap()
    );
    s.destroy();
}
