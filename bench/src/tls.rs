//! rustls configurations for the TLS benchmark (bench/tls.sh): the
//! servers' (configured like `hinge::tls::server_config`: TLS 1.2 and
//! 1.3, tickets on, no client certificates) and the load generator's (no
//! resumption), on a provider chosen by name.

use std::io;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, NamedGroup, RootCertStore, ServerConfig};

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// The provider named `aws-lc` (hinge's) or `ring`, its key-exchange
/// groups cut down to X25519 when `groups` is `x25519` (`default`: the
/// provider's own list; aws-lc-rs's starts with X25519MLKEM768, ring's
/// with secp384r1).
pub fn provider(name: &str, groups: &str) -> io::Result<Arc<CryptoProvider>> {
    let mut provider = match name {
        "aws-lc" => rustls::crypto::aws_lc_rs::default_provider(),
        // rustls deprecates ring's provider for lacking post-quantum key
        // exchange; it is here for the provider comparison.
        #[allow(deprecated)]
        "ring" => rustls::crypto::ring::default_provider(),
        other => return Err(err(format!("unknown provider {other:?} (aws-lc, ring)"))),
    };
    match groups {
        "default" => {}
        "x25519" => provider
            .kx_groups
            .retain(|g| g.name() == NamedGroup::X25519),
        other => return Err(err(format!("unknown groups {other:?} (default, x25519)"))),
    }
    Ok(Arc::new(provider))
}

/// What `hinge::tls::server_config` builds, on `provider`: the chain and
/// key from PEM files, TLS 1.2 and 1.3, resumption by tickets (the
/// provider's ticketer) beside rustls' session cache, `alpn` offered.
pub fn server_config(
    provider: Arc<CryptoProvider>,
    provider_name: &str,
    cert: &str,
    key: &str,
    alpn: &[&[u8]],
) -> io::Result<Arc<ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(err)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(err)?;
    config.ticketer = match provider_name {
        "ring" => rustls::crypto::ring::Ticketer::new().map_err(err)?,
        _ => rustls::crypto::aws_lc_rs::Ticketer::new().map_err(err)?,
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The load generator's client: trusts the CA in `ca` (or, with `ca`
/// `None`, verifies nothing: the load runs spend their client CPU on the
/// handshake, not on checking the same certificate again), never resumes.
pub fn client_config(
    provider: Arc<CryptoProvider>,
    ca: Option<&str>,
    alpn: &[&[u8]],
) -> io::Result<Arc<ClientConfig>> {
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(err)?;
    let mut config = match ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca).map_err(err)? {
                roots.add(cert.map_err(err)?).map_err(err)?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth(),
    };
    config.resumption = Resumption::disabled();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Accepts any certificate and signature (load runs only; every run's
/// first connection is made with the CA-verifying client).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The value of `--name VALUE` among the process arguments, or `default`.
pub fn flag(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}
