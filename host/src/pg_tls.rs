//! TLS to PostgreSQL as libpq's `sslmode` says, for the migrator and the native host's pool:
//! `disable`, `prefer` (the default: TLS when the server offers it), `require` (TLS, the
//! certificate unchecked unless `sslrootcert` is given, as libpq does), `verify-ca` (signed by
//! `sslrootcert`, or a public CA) and `verify-full` (that, and issued for the host). Managed
//! PostgreSQL services accept only TLS, so a URL from one works as its provider gives it.

use std::sync::Arc;

use anyhow::{bail, Context};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connection settings of `url` and the TLS its `sslmode` asks for.
pub fn connection(url: &str) -> anyhow::Result<(tokio_postgres::Config, MakeRustlsConnect)> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut mode = "prefer".to_owned();
    let mut root_cert = None;
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "sslmode" => mode = value.into_owned(),
            "sslrootcert" => root_cert = Some(value.into_owned()),
            _ => {
                rest.append_pair(&name, &value);
            }
        }
    }
    let rest = rest.finish();
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{rest}")
    };
    let mut config: tokio_postgres::Config = url.parse().context("the database URL")?;
    let roots = || roots(root_cert.as_deref());
    let verifier: Arc<dyn ServerCertVerifier> = match mode.as_str() {
        "disable" | "prefer" => Arc::new(Lenient::unchecked()),
        "require" if root_cert.is_none() => Arc::new(Lenient::unchecked()),
        "require" | "verify-ca" => Arc::new(Lenient::signed_by(full_verifier(roots()?)?)),
        "verify-full" => full_verifier(roots()?)?,
        other => bail!(
            "sslmode={other} is not supported: use disable, prefer, require, verify-ca or verify-full"
        ),
    };
    config.ssl_mode(match mode.as_str() {
        "disable" => SslMode::Disable,
        "prefer" => SslMode::Prefer,
        _ => SslMode::Require,
    });
    let tls = ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok((config, MakeRustlsConnect::new(tls)))
}

fn provider() -> CryptoProvider {
    ring::default_provider()
}

/// The CAs in the `sslrootcert` PEM file, or the public ones.
fn roots(file: Option<&str>) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match file {
        Some(file) => {
            for cert in CertificateDer::pem_file_iter(file)
                .with_context(|| format!("reading sslrootcert {file}"))?
            {
                roots.add(cert.with_context(|| format!("a certificate in {file}"))?)?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(roots)
}

fn full_verifier(roots: RootCertStore) -> anyhow::Result<Arc<WebPkiServerVerifier>> {
    Ok(
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::new(provider()))
            .build()?,
    )
}

/// Less than `verify-full`: `require` without a CA takes any certificate (encrypted, whoever
/// the server is: libpq's meaning); `verify-ca` one the CAs signed, for whatever host name. The
/// handshake's signatures are checked either way.
#[derive(Debug)]
struct Lenient {
    signer: Option<Arc<WebPkiServerVerifier>>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl Lenient {
    fn unchecked() -> Self {
        Self {
            signer: None,
            algorithms: provider().signature_verification_algorithms,
        }
    }

    fn signed_by(verifier: Arc<WebPkiServerVerifier>) -> Self {
        Self {
            signer: Some(verifier),
            ..Self::unchecked()
        }
    }
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(signer) = &self.signer else {
            return Ok(ServerCertVerified::assertion());
        };
        match signer.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
