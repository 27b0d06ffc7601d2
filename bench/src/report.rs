//! The load generator's measured window (bracketed by CPU samples of the
//! server and of itself) and its report: one JSON line, one human line.

use std::net::SocketAddr;
use std::time::Instant;

use crate::procfs::{self, Sample};

/// The measured window, bracketed by samples of the server and of the
/// load generator itself (to see which side saturates).
#[derive(Default)]
pub struct Window {
    server_pid: Option<u32>,
    opened: Option<(Instant, Option<Sample>, Option<Sample>)>,
    closed: Option<(Instant, Option<Sample>, Option<Sample>)>,
}

impl Window {
    pub fn new(server_pid: Option<u32>) -> Window {
        Window {
            server_pid,
            ..Window::default()
        }
    }

    fn samples(&self) -> (Option<Sample>, Option<Sample>) {
        (
            self.server_pid.and_then(procfs::sample),
            procfs::sample(std::process::id()),
        )
    }

    pub fn open(&mut self, now: Instant) {
        let (server, me) = self.samples();
        self.opened = Some((now, server, me));
    }

    pub fn close(&mut self, now: Instant) {
        let (server, me) = self.samples();
        self.closed = Some((now, server, me));
    }

    /// The window was opened (it may have closed since).
    pub fn is_opened(&self) -> bool {
        self.opened.is_some()
    }

    /// The server's sample taken when the window opened.
    pub fn server_at_open(&self) -> Option<Sample> {
        self.opened.as_ref().and_then(|o| o.1)
    }

    /// The window was closed.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    pub fn is_open(&self) -> bool {
        self.opened.is_some() && self.closed.is_none()
    }

    pub fn secs(&self) -> f64 {
        match (&self.opened, &self.closed) {
            (Some(o), Some(c)) => c.0.duration_since(o.0).as_secs_f64(),
            _ => 0.0,
        }
    }

    pub fn server_cpu_ticks(&self) -> Option<u64> {
        let (o, c) = (self.opened.as_ref()?.1?, self.closed.as_ref()?.1?);
        Some(c.cpu_ticks.saturating_sub(o.cpu_ticks))
    }

    pub fn own_cpu_ticks(&self) -> Option<u64> {
        let (o, c) = (self.opened.as_ref()?.2?, self.closed.as_ref()?.2?);
        Some(c.cpu_ticks.saturating_sub(o.cpu_ticks))
    }
}

/// One JSON value of a report.
pub enum Value {
    Int(u64),
    Num(f64),
    Str(String),
    Null,
}

/// A run's figures, as one JSON line and a human summary.
pub struct Report {
    fields: Vec<(&'static str, Value)>,
    /// The summary's start; `human()` appends CPU and window figures.
    pub human: String,
}

impl Report {
    pub fn new(mode: &str, target: SocketAddr) -> Report {
        let mut r = Report {
            fields: Vec::new(),
            human: String::new(),
        };
        r.put("mode", Value::Str(mode.to_string()));
        r.put("host", Value::Str(target.ip().to_string()));
        r.put("port", Value::Int(target.port().into()));
        r
    }

    pub fn put(&mut self, key: &'static str, value: Value) {
        self.fields.push((key, value));
    }

    pub fn int(&mut self, key: &'static str, v: impl Into<u64>) {
        self.put(key, Value::Int(v.into()));
    }

    pub fn num(&mut self, key: &'static str, v: f64) {
        self.put(key, Value::Num(v));
    }

    pub fn opt_int(&mut self, key: &'static str, v: Option<u64>) {
        self.put(key, v.map_or(Value::Null, Value::Int));
    }

    /// The window's length and the CPU both sides used in it.
    pub fn window(&mut self, w: &Window) {
        let hz = procfs::clock_ticks_per_second();
        self.num("window_s", w.secs());
        self.int("clk_tck", hz);
        let server = w.server_cpu_ticks();
        self.opt_int("server_cpu_ticks", server);
        self.put(
            "server_cpu_s",
            server.map_or(Value::Null, |t| Value::Num(t as f64 / hz as f64)),
        );
        let own = w.own_cpu_ticks();
        self.put(
            "loadgen_cpu_s",
            own.map_or(Value::Null, |t| Value::Num(t as f64 / hz as f64)),
        );
    }

    pub fn latencies(&mut self, samples: &mut [u64]) {
        samples.sort_unstable();
        let pick = |q: f64| -> Value {
            if samples.is_empty() {
                return Value::Null;
            }
            let i = ((samples.len() as f64 * q) as usize).min(samples.len() - 1);
            Value::Num(samples[i] as f64 / 1e3)
        };
        self.put("p50_us", pick(0.50));
        self.put("p99_us", pick(0.99));
        self.put("max_us", pick(1.0));
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.fields
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| match v {
                Value::Int(i) => Some(*i as f64),
                Value::Num(n) => Some(*n),
                _ => None,
            })
    }

    pub fn json(&self) -> String {
        let body: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::Int(i) => i.to_string(),
                    Value::Num(n) if n.is_finite() => format!("{n:.6}"),
                    Value::Str(s) => {
                        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
                    }
                    Value::Num(_) | Value::Null => "null".to_string(),
                };
                format!("\"{k}\":{v}")
            })
            .collect();
        format!("{{{}}}", body.join(","))
    }

    pub fn human(&self) -> String {
        let mut line = self.human.clone();
        if let Some(cpu) = self.get("server_cpu_s") {
            line.push_str(&format!(", server cpu {cpu:.2} s"));
        }
        if let Some(cpu) = self.get("loadgen_cpu_s") {
            line.push_str(&format!(", loadgen cpu {cpu:.2} s"));
        }
        if let Some(w) = self.get("window_s") {
            line.push_str(&format!(" in {w:.2} s"));
        }
        line
    }
}
