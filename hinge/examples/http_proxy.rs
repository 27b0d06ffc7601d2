//! A reverse proxy: hinge's HTTP server in front, its HTTP client
//! behind, bodies streamed both ways with backpressure.
//!
//! ```sh
//! cargo run --release --example http_echo -- 8080 --quiet &
//! cargo run --release --example http_proxy -- 8000 http://127.0.0.1:8080
//! curl http://127.0.0.1:8000/hello
//! ```
//!
//! Each request goes to `UPSTREAM_URL` with the same method, path and
//! query, headers (but the hop-by-hop ones, RFC 9110 §7.6.1) and body;
//! `Host` names the upstream, and `X-Forwarded-For`/`-Host`/`-Proto`
//! say who asked. Bodies flow as they come: when one side cannot take
//! more, the other is paused, so memory stays bounded whatever the
//! sizes. If the upstream cannot be reached or breaks the protocol the
//! client gets `502 Bad Gateway`, `504 Gateway Timeout` if it is too
//! slow (or, once the response has started, its connection is closed:
//! a cut body must not look whole). A client that goes away aborts its
//! upstream request.
//!
//! `PROXY_TIMEOUT_MS` sets the upstream's response-head timeout
//! (default 30 s). With `--quiet` nothing is printed per request.

use std::process::exit;
use std::time::Duration;

use hinge::http::{self, header, Method};
use hinge::{Error, Loop};

/// Hop-by-hop headers: they describe one connection, not the message.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quiet = args.iter().any(|a| a == "--quiet");
    let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let (Some(Ok(port)), Some(upstream)) = (
        positional.first().map(|p| p.parse::<u16>()),
        positional.get(1),
    ) else {
        eprintln!("usage: http_proxy LISTEN_PORT UPSTREAM_URL [--quiet]");
        exit(2);
    };
    if let Err(e) = run(port, upstream.trim_end_matches('/').to_string(), quiet) {
        eprintln!("http_proxy: {e}");
        exit(1);
    }
}

fn run(port: u16, upstream: String, quiet: bool) -> hinge::Result<()> {
    let lp = Loop::new()?;
    let mut config = http::AgentConfig::default();
    if let Some(ms) = std::env::var("PROXY_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.head_timeout = Some(Duration::from_millis(ms));
    }
    let agent = http::Agent::with_config(&lp, config);
    // Check the upstream URL once, at start.
    agent.request(&lp, Method::GET, &upstream)?.destroy();
    // Bodies stream through: no size limit but the timeouts.
    let mut server_config = http::Config::default();
    server_config.max_body_bytes = u64::MAX;
    let server = http::Server::with_config(&lp, server_config);
    server.on_request(move |lp, _, req, res| {
        if !quiet {
            println!("{} {}", req.method(), req.uri());
        }
        proxy(lp, &agent, &upstream, req, res);
    });
    server.on_client_error(|_, _, _| {}); // bad clients are answered and closed
    server.listen(port)?;
    println!("http_proxy listening on http://127.0.0.1:{port}");
    let s = server.clone();
    let _sig = lp.on_signal(hinge::signal::SIGINT, move |_, _| s.close())?;
    let s = server.clone();
    let _term = lp.on_signal(hinge::signal::SIGTERM, move |_, _| s.close())?;
    lp.run();
    Ok(())
}

fn proxy(lp: &Loop, agent: &http::Agent, upstream: &str, req: http::Request, res: http::Response) {
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("{upstream}{target}");
    let up = match agent.request(lp, req.method().clone(), &url) {
        Ok(up) => up,
        Err(_) => {
            res.error(502).ok();
            return;
        }
    };
    for (name, value) in req.headers() {
        if name == header::HOST || HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        up.append_header(name.clone(), value.clone()).ok();
    }
    if let Some(peer) = req.peer_addr() {
        if let Some(inet) = peer.inet() {
            up.append_header("x-forwarded-for", inet.ip().to_string())
                .ok();
        }
    }
    if let Some(host) = req.host() {
        up.set_header("x-forwarded-host", host).ok();
    }
    up.set_header("x-forwarded-proto", "http").ok();
    if req.content_length().is_none() && req.header("transfer-encoding").is_some() {
        up.set_header("transfer-encoding", "chunked").ok();
    }

    // The request body, upstream: pause the client when the upstream
    // connection is full.
    let (u, r) = (up.clone(), req.clone());
    req.on_data(move |_, _, bytes| {
        if !u.write(bytes).unwrap_or(true) {
            r.pause();
        }
    });
    let r = req.clone();
    up.on_drain(move |_, _| r.resume());
    let u = up.clone();
    req.on_end(move |_, _| {
        u.end("").ok();
    });

    // The response, back: pause the upstream when the client is slow.
    let r = res.clone();
    up.on_response(move |_, _, answer| {
        r.set_status(answer.status()).ok();
        for (name, value) in answer.headers() {
            if !HOP_BY_HOP.contains(&name.as_str()) {
                r.append_header(name.clone(), value.clone()).ok();
            }
        }
        let (r2, a) = (r.clone(), answer.clone());
        answer.on_data(move |_, _, bytes| {
            if !r2.write(bytes).unwrap_or(true) {
                a.pause();
            }
        });
        let a = answer.clone();
        r.on_drain(move |_, _| a.resume());
        let r2 = r.clone();
        answer.on_end(move |_, _| {
            r2.end("").ok();
        });
        let r2 = r.clone();
        answer.on_error(move |_, _, _| r2.destroy());
    });
    let r = res.clone();
    up.on_error(move |_, _, e| {
        if r.headers_sent() {
            r.destroy();
        } else if matches!(e, Error::TimedOut { .. }) {
            r.error(504).ok();
        } else {
            r.error(502).ok();
        }
    });
    // The client went away: so does its upstream request.
    let u = up.clone();
    res.on_close(move |_, res| {
        if !res.is_finished() {
            u.destroy();
        }
    });
}
