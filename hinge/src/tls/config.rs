//! rustls configurations in one line: PEM files in, `Arc<...Config>` out,
//! on the aws-lc-rs provider, with resumption on and verification on.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::{Error, Result};

/// The crypto provider hinge's helpers build on: aws-lc-rs, with its
/// default key exchange groups (X25519MLKEM768, post-quantum, first).
/// Measured beside ring here, it costs 0.91x the CPU per handshake on
/// X25519 (per byte the two tie; BENCHMARKS.md), and ring's provider is
/// deprecated in rustls for lacking post-quantum key exchange.
///
/// ```
/// let provider = hinge::tls::provider();
/// assert!(!provider.cipher_suites.is_empty());
/// ```
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn pem_error(op: &'static str, path: &Path, e: rustls::pki_types::pem::Error) -> Error {
    match e {
        rustls::pki_types::pem::Error::Io(source) => Error::from_io(op, path.display(), source),
        other => Error::Tls {
            op,
            addr: path.display().to_string(),
            source: rustls::Error::General(other.to_string()),
        },
    }
}

fn tls_error(op: &'static str, what: impl std::fmt::Display, source: rustls::Error) -> Error {
    Error::Tls {
        op,
        addr: what.to_string(),
        source,
    }
}

/// Every certificate in a PEM file, in order (a chain: the leaf first).
///
/// ```no_run
/// let chain = hinge::tls::load_certs("cert.pem")?;
/// # Ok::<(), hinge::Error>(())
/// ```
pub fn load_certs(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>> {
    let path = path.as_ref();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error("load certificate", path, e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| pem_error("load certificate", path, e))?;
    if certs.is_empty() {
        let none = rustls::Error::General("no certificate in the file".into());
        return Err(tls_error("load certificate", path.display(), none));
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
///
/// ```no_run
/// let key = hinge::tls::load_key("key.pem")?;
/// # Ok::<(), hinge::Error>(())
/// ```
pub fn load_key(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>> {
    let path = path.as_ref();
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_error("load key", path, e))
}

/// A server configuration from a PEM certificate chain and key, with
/// TLS 1.2 and 1.3, session resumption (tickets, and a cache) on, and no
/// client certificates. Set `alpn_protocols` on a clone to offer ALPN
/// ([`http::Server::set_tls`](crate::http::Server::set_tls) offers
/// `http/1.1` itself).
///
/// ```no_run
/// let lp = hinge::Loop::new()?;
/// let server = hinge::Server::new(&lp);
/// server.set_tls(hinge::tls::server_config("cert.pem", "key.pem")?);
/// # Ok::<(), hinge::Error>(())
/// ```
pub fn server_config(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Arc<ServerConfig>> {
    let certs = load_certs(&cert)?;
    let key = load_key(&key)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("configure", "server", e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_error("configure", cert.as_ref().display(), e))?;
    with_tickets(&mut config)?;
    Ok(Arc::new(config))
}

/// [`server_config`] that also asks every client for a certificate and
/// verifies it against the CA certificates in `client_ca` (mutual TLS);
/// a client without one fails its handshake.
///
/// ```no_run
/// let config = hinge::tls::server_config_mtls("cert.pem", "key.pem", "clients-ca.pem")?;
/// # Ok::<(), hinge::Error>(())
/// ```
pub fn server_config_mtls(
    cert: impl AsRef<Path>,
    key: impl AsRef<Path>,
    client_ca: impl AsRef<Path>,
) -> Result<Arc<ServerConfig>> {
    let roots = Arc::new(root_store(client_ca.as_ref())?);
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| {
            let e = rustls::Error::General(e.to_string());
            tls_error("configure", client_ca.as_ref().display(), e)
        })?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("configure", "server", e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(&cert)?, load_key(&key)?)
        .map_err(|e| tls_error("configure", cert.as_ref().display(), e))?;
    with_tickets(&mut config)?;
    Ok(Arc::new(config))
}

/// A server configuration that picks its certificate by the name the
/// client asks for (SNI): one `(name, cert, key)` per site. A client that
/// names none of them, or no name, fails its handshake.
///
/// ```no_run
/// let config = hinge::tls::sni_server_config(&[
///     ("a.example", "a.pem", "a-key.pem"),
///     ("b.example", "b.pem", "b-key.pem"),
/// ])?;
/// # Ok::<(), hinge::Error>(())
/// ```
pub fn sni_server_config<P: AsRef<Path>>(sites: &[(&str, P, P)]) -> Result<Arc<ServerConfig>> {
    let provider = provider();
    let mut resolver = rustls::server::ResolvesServerCertUsingSni::new();
    for (name, cert, key) in sites {
        let certified =
            rustls::sign::CertifiedKey::from_der(load_certs(cert)?, load_key(key)?, &provider)
                .map_err(|e| tls_error("configure", cert.as_ref().display(), e))?;
        resolver
            .add(name, certified)
            .map_err(|e| tls_error("configure", name, e))?;
    }
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("configure", "server", e))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    with_tickets(&mut config)?;
    Ok(Arc::new(config))
}

/// Resumption by ticket (stateless), beside rustls' default session cache.
fn with_tickets(config: &mut ServerConfig) -> Result<()> {
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()
        .map_err(|e| tls_error("configure", "tickets", e))?;
    Ok(())
}

fn root_store(path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| tls_error("load certificate", path.display(), e))?;
    }
    Ok(roots)
}

/// A client configuration that trusts the webpki roots (Mozilla's CA
/// list, built in): what a browser would accept.
///
/// ```
/// let config = hinge::tls::client_config();
/// assert!(config.alpn_protocols.is_empty());
/// ```
pub fn client_config() -> Arc<ClientConfig> {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    client_config_with_roots(roots)
}

/// A client configuration that trusts only the CA certificates in a PEM
/// file (a private CA, a test CA).
///
/// ```no_run
/// let config = hinge::tls::client_config_with_ca("ca.pem")?;
/// # Ok::<(), hinge::Error>(())
/// ```
pub fn client_config_with_ca(ca: impl AsRef<Path>) -> Result<Arc<ClientConfig>> {
    Ok(client_config_with_roots(root_store(ca.as_ref())?))
}

fn client_config_with_roots(roots: RootCertStore) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}
