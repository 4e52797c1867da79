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
        "disable" | "prefer" => Arc::new(Unchecked(provider())),
        "require" if root_cert.is_none() => Arc::new(Unchecked(provider())),
        "require" | "verify-ca" => Arc::new(AnyName(full_verifier(roots()?)?)),
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

/// `require` without a CA: encrypted, whoever the server is (libpq's meaning). The handshake's
/// signatures are still checked.
#[derive(Debug)]
struct Unchecked(CryptoProvider);

impl ServerCertVerifier for Unchecked {
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
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: a certificate the CAs signed, for whatever host name.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
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
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
