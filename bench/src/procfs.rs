//! What `/proc` says about the server under test.

use std::fs;

/// One reading of a process's CPU time and resident memory.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// utime + stime (fields 14 and 15 of `/proc/PID/stat`), in clock ticks.
    pub cpu_ticks: u64,
    /// `VmRSS` from `/proc/PID/status`, in KiB.
    pub rss_kib: u64,
}

/// Reads process `pid`, or `None` if it is gone or `/proc` is unreadable.
pub fn sample(pid: u32) -> Option<Sample> {
    Some(Sample {
        cpu_ticks: cpu_ticks(pid)?,
        rss_kib: rss_kib(pid)?,
    })
}

fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3, so fields 14 and 15 are the 12th and 13th.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`).
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions; it only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as u64
    } else {
        100
    }
}
