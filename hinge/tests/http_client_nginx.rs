//! The HTTP client against nginx, a real server it did not grow up
//! with: static files small and large, HEAD, a conditional GET (304),
//! a range (206), errors, and keep-alive reuse.
#![cfg(feature = "http")]

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use hinge::http::{self, Agent, ClientResponse, Method};
use hinge::Loop;

mod common;
use common::process::{connect, free_port};

struct Nginx {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nginx_binary() -> PathBuf {
    for p in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
    {
        let candidate = PathBuf::from(p).join("nginx");
        if candidate.exists() {
            return candidate;
        }
    }
    panic!("nginx is not installed (.ci/run installs nginx-light)");
}

fn nginx() -> Nginx {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("hinge-nginx-{}-{port}", std::process::id()));
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(www.join("small.txt"), "Hello from nginx!\n").unwrap();
    let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(www.join("big.bin"), big).unwrap();
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\nerror_log {d}/logs/error.log error;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  keepalive_requests 1000;\n  keepalive_timeout 30s;\n\
         client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
         server {{\n    listen 127.0.0.1:{port};\n    root {d}/www;\n\
         location /chunked {{ default_type text/plain; return 200 \"generated\"; }}\n  }}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(nginx_binary())
        .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    drop(connect(port));
    Nginx { child, dir, port }
}

type Got = Rc<RefCell<Option<(ClientResponse, Vec<u8>)>>>;

fn send(
    lp: &Loop,
    agent: &Agent,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
) -> (ClientResponse, Vec<u8>) {
    let got: Got = Rc::new(RefCell::new(None));
    let req = agent.request(lp, method, url).unwrap();
    for (n, v) in headers {
        req.set_header(*n, *v).unwrap();
    }
    let g = got.clone();
    req.on_response(move |_, _, res| {
        let g = g.clone();
        res.collect(16 << 20, move |_, res, body| {
            *g.borrow_mut() = Some((res.clone(), body.unwrap()));
        });
    });
    req.on_error(|_, req, e| panic!("{}: {e}", req.url()));
    req.end("").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.borrow().is_none() {
        assert!(Instant::now() < deadline, "timed out");
        lp.run_once();
    }
    let out = got.borrow_mut().take().unwrap();
    out
}

#[test]
fn static_files_head_conditional_range_and_keep_alive() {
    let n = nginx();
    let base = format!("http://127.0.0.1:{}", n.port);
    let lp = Loop::new().unwrap();
    let agent = Agent::new(&lp);

    let (res, body) = send(&lp, &agent, Method::GET, &format!("{base}/small.txt"), &[]);
    assert_eq!(res.status(), 200);
    assert_eq!(body, b"Hello from nginx!\n");
    assert!(res.header("server").unwrap_or("").starts_with("nginx"));
    let etag = res.header("etag").unwrap().to_string();

    let (res, body) = send(&lp, &agent, Method::GET, &format!("{base}/big.bin"), &[]);
    assert_eq!(res.content_length(), Some(5_000_000));
    assert_eq!(body.len(), 5_000_000);
    assert!(body.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));

    let (res, body) = send(&lp, &agent, Method::HEAD, &format!("{base}/big.bin"), &[]);
    assert_eq!(res.header("content-length"), Some("5000000"));
    assert!(body.is_empty());

    let (res, body) = send(
        &lp,
        &agent,
        Method::GET,
        &format!("{base}/small.txt"),
        &[("if-none-match", &etag)],
    );
    assert_eq!(res.status(), 304);
    assert!(body.is_empty());

    let (res, body) = send(
        &lp,
        &agent,
        Method::GET,
        &format!("{base}/big.bin"),
        &[("range", "bytes=10-19")],
    );
    assert_eq!(res.status(), 206);
    assert_eq!(body, (10..20u8).collect::<Vec<_>>());

    let (res, _) = send(&lp, &agent, Method::GET, &format!("{base}/missing"), &[]);
    assert_eq!(res.status(), 404);
    let (res, body) = send(&lp, &agent, Method::GET, &format!("{base}/chunked"), &[]);
    assert_eq!(res.status(), 200);
    assert_eq!(body, b"generated");

    // Every request went over one kept-alive connection.
    assert_eq!(agent.connections(), 1);
    assert_eq!(agent.idle_connections(), 1);
}

#[test]
fn a_post_body_to_nginx_and_many_requests_in_parallel() {
    let n = nginx();
    let base = format!("http://127.0.0.1:{}", n.port);
    let lp = Loop::new().unwrap();
    let mut config = http::AgentConfig::default();
    config.max_connections_per_host = 8;
    let agent = Agent::with_config(&lp, config);
    // A POST to a static file: nginx answers 405 after reading the body.
    let got: Got = Rc::new(RefCell::new(None));
    let req = agent
        .request(&lp, Method::POST, &format!("{base}/small.txt"))
        .unwrap();
    let g = got.clone();
    req.on_response(move |_, _, res| {
        let g = g.clone();
        res.collect(1 << 20, move |_, res, b| {
            *g.borrow_mut() = Some((res.clone(), b.unwrap()))
        });
    });
    req.end(vec![b'p'; 100_000]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.borrow().is_none() {
        assert!(Instant::now() < deadline);
        lp.run_once();
    }
    assert_eq!(got.borrow().as_ref().unwrap().0.status(), 405);

    let done = Rc::new(RefCell::new(0));
    for _ in 0..200 {
        let d = done.clone();
        http::get(&lp, &format!("{base}/small.txt"), move |_, res| {
            let d = d.clone();
            res.unwrap().collect(1024, move |_, _, b| {
                assert_eq!(b.unwrap(), b"Hello from nginx!\n");
                *d.borrow_mut() += 1;
            });
        })
        .unwrap();
        let d = done.clone();
        let _ = agent
            .request(&lp, Method::GET, &format!("{base}/small.txt"))
            .map(|r| {
                r.on_response(move |_, _, res| {
                    let d = d.clone();
                    res.on_end(move |_, _| *d.borrow_mut() += 1);
                });
                r.end("").unwrap();
            });
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while *done.borrow() < 400 {
        assert!(Instant::now() < deadline, "{} of 400", done.borrow());
        lp.run_once();
    }
    assert!(agent.connections() <= 8);
}
