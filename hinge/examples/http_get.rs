//! An HTTP client: fetches each URL in order, over one kept-alive
//! connection where the host repeats.
//!
//! ```sh
//! cargo run --example http_get -- http://127.0.0.1:8080/hello http://127.0.0.1:8080/chunked
//! cargo run --example http_get -- --head http://127.0.0.1:8080/
//! cargo run --example http_get -- https://localhost:8443/ --cafile ca.pem
//! ```
//!
//! For each response it prints the status and each header (`name:
//! value`) to stderr, and the body to stdout. It exits 0 when every
//! response was 2xx or 3xx, 1 if one had an error status, and 2 on a
//! connection or protocol error (with one line on stderr; the URLs after
//! it are not fetched). `--cafile` trusts the CAs of a PEM file instead
//! of the built-in webpki roots, for `https://` URLs.

use std::cell::Cell;
use std::io::Write;
use std::process::exit;
use std::rc::Rc;

use hinge::http::{self, Method};
use hinge::Loop;

fn main() {
    let mut urls = Vec::new();
    let mut head = false;
    let mut cafile = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--head" => head = true,
            "--cafile" => cafile = args.next(),
            _ => urls.push(arg),
        }
    }
    if urls.is_empty() {
        eprintln!("usage: http_get URL [URL...] [--head] [--cafile CA]");
        exit(2);
    }
    match run(urls, head, cafile) {
        Ok(code) => exit(code),
        Err(e) => {
            eprintln!("http_get: {e}");
            exit(2);
        }
    }
}

fn run(urls: Vec<String>, head: bool, cafile: Option<String>) -> hinge::Result<i32> {
    let lp = Loop::new()?;
    #[allow(unused_mut)]
    let mut config = http::AgentConfig::default();
    #[cfg(feature = "tls")]
    if let Some(ca) = cafile {
        config.tls = Some(hinge::tls::client_config_with_ca(ca)?);
    }
    #[cfg(not(feature = "tls"))]
    if cafile.is_some() {
        eprintln!("http_get: --cafile needs the tls feature");
        return Ok(2);
    }
    let agent = http::Agent::with_config(&lp, config);
    let code = Rc::new(Cell::new(0));
    fetch(&lp, &agent, Rc::new(urls), 0, head, code.clone());
    lp.run();
    Ok(code.get())
}

/// Fetches `urls[i]`, then the next one once this body has ended.
fn fetch(
    lp: &Loop,
    agent: &http::Agent,
    urls: Rc<Vec<String>>,
    i: usize,
    head: bool,
    code: Rc<Cell<i32>>,
) {
    let Some(url) = urls.get(i) else {
        return;
    };
    let method = if head { Method::HEAD } else { Method::GET };
    let req = match agent.request(lp, method, url) {
        Ok(req) => req,
        Err(e) => {
            eprintln!("http_get: {e}");
            code.set(2);
            return;
        }
    };
    let c = code.clone();
    req.on_error(move |_, req, e| {
        eprintln!("http_get: {}: {e}", req.url());
        c.set(2);
    });
    let (agent, c) = (agent.clone(), code.clone());
    req.on_response(move |_, _, res| {
        let code = &c;
        eprintln!("{}", res.status());
        for (name, value) in res.headers() {
            eprintln!("{name}: {}", String::from_utf8_lossy(value.as_bytes()));
        }
        if !(res.status().is_success() || res.status().is_redirection()) && code.get() == 0 {
            code.set(1);
        }
        res.on_data(|_, _, bytes| {
            let mut out = std::io::stdout().lock();
            if out.write_all(bytes).is_err() {
                exit(2); // stdout is gone (a closed pipe)
            }
        });
        let (agent, urls, code) = (agent.clone(), urls.clone(), code.clone());
        res.on_end(move |lp, _| {
            let _ = std::io::stdout().flush();
            fetch(lp, &agent, urls.clone(), i + 1, head, code.clone());
        });
    });
    if let Err(e) = req.end("") {
        eprintln!("http_get: {e}");
        code.set(2);
    }
}
