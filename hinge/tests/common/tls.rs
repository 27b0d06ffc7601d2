//! Test certificates made at run time with rcgen (ECDSA P-256): a CA, a
//! server certificate for `localhost` and 127.0.0.1, one for another
//! name (SNI), and a client certificate (mutual TLS), written as PEM
//! files to a directory of the test's own. No key lives in the repo.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }
    /// A certificate for `other.test` (same CA).
    pub fn other_cert(&self) -> PathBuf {
        self.dir.join("other.pem")
    }
    pub fn other_key(&self) -> PathBuf {
        self.dir.join("other-key.pem")
    }
    /// A client certificate (same CA), for mutual TLS.
    pub fn client_cert(&self) -> PathBuf {
        self.dir.join("client.pem")
    }
    pub fn client_key(&self) -> PathBuf {
        self.dir.join("client-key.pem")
    }
    pub fn s(p: &Path) -> &str {
        p.to_str().unwrap()
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn leaf(
    names: &[&str],
    ca: &rcgen::Certificate,
    ca_key: &KeyPair,
    dir: &Path,
    cert: &str,
    key: &str,
) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, &names[0]);
    let k = KeyPair::generate().unwrap();
    let c = params.signed_by(&k, ca, ca_key).unwrap();
    std::fs::write(dir.join(cert), c.pem()).unwrap();
    std::fs::write(dir.join(key), k.serialize_pem()).unwrap();
}

/// Fresh certificates in a fresh directory (removed on drop).
pub fn certs() -> Certs {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "hinge-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "hinge test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    leaf(
        &["localhost", "127.0.0.1"],
        &ca,
        &ca_key,
        &dir,
        "cert.pem",
        "key.pem",
    );
    leaf(
        &["other.test"],
        &ca,
        &ca_key,
        &dir,
        "other.pem",
        "other-key.pem",
    );
    leaf(
        &["client.test"],
        &ca,
        &ca_key,
        &dir,
        "client.pem",
        "client-key.pem",
    );
    Certs { dir }
}

/// How many handshakes the churn test opens and drops (fewer under
/// valgrind, where each costs far more).
pub fn churn() -> usize {
    std::env::var("HINGE_TLS_CHURN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Runs a Python script with `args`; returns (success, stdout, stderr).
pub fn python(script: &str, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is installed (.ci/run installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `openssl` with `args` and `stdin`; returns stdout and stderr,
/// together.
pub fn openssl(args: &[&str], stdin: &[u8]) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl is installed");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    // s_client ends the session when its stdin ends: keep it open a
    // moment for the answer.
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(input);
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Runs `client` on a thread of its own while `lp` serves `server`;
/// once the client is done, the server and its connections close, the
/// loop ends (within 60 s, or the test fails) and the client's result is
/// returned.
pub fn serve_while<T: Send + 'static>(
    lp: &hinge::Loop,
    server: &hinge::Server,
    client: impl FnOnce() -> T + Send + 'static,
) -> T {
    use std::time::{Duration, Instant};
    let slot = std::rc::Rc::new(std::cell::RefCell::new(Some(std::thread::spawn(client))));
    let (s, server) = (slot.clone(), server.clone());
    let started = Instant::now();
    let watch = hinge::Timer::new(
        lp,
        Duration::ZERO,
        Duration::from_millis(5),
        move |lp, t| {
            let finished = s.borrow().as_ref().is_none_or(|h| h.is_finished());
            if finished || started.elapsed() > Duration::from_secs(60) {
                hinge::Watcher::stop(t);
                server.close();
                server.destroy_connections();
                if !finished {
                    lp.break_all();
                }
            }
        },
    );
    lp.run();
    drop(watch);
    let handle = slot.borrow_mut().take().unwrap();
    assert!(
        handle.is_finished(),
        "the client did not finish within 60 s"
    );
    handle
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}
