//! The rustls configurations built from the `tls {}` blocks: client
//! connections, both ends of routes, https monitoring. They are built at
//! start and again on each reload (new certificate and key files); a
//! session keeps the configuration it started with.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, Error, RootCertStore, ServerConfig, SignatureScheme,
};

use super::errors::note_rejected;

use crate::config::options::{Options, TlsOpts};

/// Every TLS configuration the server uses.
#[derive(Default, Clone)]
pub struct Configs {
    /// Client connections (`tls {}`).
    pub client: Option<Arc<ServerConfig>>,
    /// Accepted routes: a certificate from the cluster's `ca_file` is
    /// required, as Go requires it on routes whatever `verify` says.
    pub route_server: Option<Arc<ServerConfig>>,
    /// Solicited routes: the peer's certificate is checked against the
    /// cluster's `ca_file` and the route URL's host; ours is presented.
    pub route_client: Option<Arc<ClientConfig>>,
    /// https monitoring: the client certificate, no client verification.
    pub https: Option<Arc<ServerConfig>>,
    /// The leaf port (`leafnodes { tls {} }`).
    pub leaf_server: Option<Arc<ServerConfig>>,
    /// The WebSocket listener (`websocket { tls {} }`).
    pub websocket: Option<Arc<ServerConfig>>,
}

impl Configs {
    /// Reads every certificate, key and CA file the options name. Errors
    /// are worded for the log (start-up or reload).
    pub fn build(o: &Options) -> Result<Configs, String> {
        let mut c = Configs::default();
        if let Some(t) = &o.tls {
            c.client = Some(server_config(t)?);
            if o.https_port.is_some() {
                c.https = Some(server_config(&TlsOpts { verify: false, ..t.clone() })?);
            }
        }
        if let Some(t) = o.websocket.as_ref().and_then(|w| w.tls.as_ref()) {
            c.websocket = Some(server_config(t).map_err(|e| format!("websocket TLS: {e}"))?);
        }
        if let Some(t) = &o.leaf_tls {
            c.leaf_server = Some(server_config(t).map_err(|e| format!("leafnode TLS: {e}"))?);
        }
        if let Some(t) = &o.cluster_tls {
            let ctx = |e: String| format!("cluster TLS: {e}");
            if t.ca_file.is_empty() {
                return Err(ctx("'ca_file' is required (the CA that signs the route certificates)".into()));
            }
            c.route_server = Some(server_config(&TlsOpts { verify: true, ..t.clone() }).map_err(ctx)?);
            c.route_client = Some(client_config(t).map_err(ctx)?);
        }
        Ok(c)
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn cert_and_key(t: &TlsOpts) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    if t.cert_file.is_empty() {
        return Err("missing 'cert_file' in TLS configuration".into());
    }
    if t.key_file.is_empty() {
        return Err("missing 'key_file' in TLS configuration".into());
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&t.cert_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("error parsing X509 certificate/key pair: {}: {e}", t.cert_file))?;
    if certs.is_empty() {
        return Err(format!("error parsing X509 certificate/key pair: no certificate found in {}", t.cert_file));
    }
    let key = PrivateKeyDer::from_pem_file(&t.key_file)
        .map_err(|e| format!("error parsing X509 certificate/key pair: {}: {e}", t.key_file))?;
    Ok((certs, key))
}

fn roots(ca_file: &str) -> Result<Arc<RootCertStore>, String> {
    let mut roots = RootCertStore::empty();
    let cas = CertificateDer::pem_file_iter(ca_file)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("failed to parse root ca certificate: {ca_file}: {e}"))?;
    for ca in cas {
        roots.add(ca).map_err(|e| format!("failed to parse root ca certificate: {ca_file}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("failed to parse root ca certificate: no certificate found in {ca_file}"));
    }
    Ok(Arc::new(roots))
}

/// A server configuration: certificate chain and key, and with `verify` a
/// client verifier trusting `ca_file`.
pub fn server_config(t: &TlsOpts) -> Result<Arc<ServerConfig>, String> {
    let (certs, key) = cert_and_key(t)?;
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?;
    let builder = if t.verify {
        if t.ca_file.is_empty() {
            return Err("TLS 'verify' needs 'ca_file' (the CA that signs client certificates)".into());
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(roots(&t.ca_file)?, provider)
            .build()
            .map_err(|e| format!("TLS client verification: {e}"))?;
        builder.with_client_cert_verifier(Arc::new(NotingClientVerifier(verifier)))
    } else {
        builder.with_no_client_auth()
    };
    let config =
        builder.with_single_cert(certs, key).map_err(|e| format!("error parsing X509 certificate/key pair: {e}"))?;
    Ok(Arc::new(config))
}

/// The client configuration of a solicited route: trusts `ca_file` and
/// presents our certificate.
fn client_config(t: &TlsOpts) -> Result<Arc<ClientConfig>, String> {
    let (certs, key) = cert_and_key(t)?;
    let provider = provider();
    let verifier = WebPkiServerVerifier::builder_with_provider(roots(&t.ca_file)?, provider.clone())
        .build()
        .map_err(|e| format!("TLS server verification: {e}"))?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NotingServerVerifier(verifier)))
        .with_client_auth_cert(certs, key)
        .map_err(|e| format!("error parsing X509 certificate/key pair: {e}"))?;
    Ok(Arc::new(config))
}

/// The CA bundles of the common Linux distributions, for a leaf remote
/// whose `tls {}` names no `ca_file`.
const SYSTEM_CA_FILES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The client configuration of a leaf remote: trusts its `ca_file` (the
/// system's CA bundle when not given) and presents its certificate when it
/// has one.
pub fn leaf_client_config(t: &crate::config::options::LeafTlsOpts) -> Result<Arc<ClientConfig>, String> {
    let ca = if t.ca_file.is_empty() {
        SYSTEM_CA_FILES
            .iter()
            .find(|p| std::path::Path::new(p).exists())
            .ok_or("leafnode remote TLS: no 'ca_file' given and no system CA bundle found")?
            .to_string()
    } else {
        t.ca_file.clone()
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots(&ca)?);
    let config = if t.cert_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let (certs, key) = cert_and_key(&TlsOpts {
            cert_file: t.cert_file.clone(),
            key_file: t.key_file.clone(),
            ..Default::default()
        })?;
        builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("error parsing X509 certificate/key pair: {e}"))?
    };
    Ok(Arc::new(config))
}

/// The signature checks of a noting verifier: those of the verifier it
/// wraps (`self.0`).
macro_rules! delegate_signature_checks {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            self.0.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            self.0.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.supported_verify_schemes()
        }
    };
}

/// The webpki client verifier, noting the chain it rejects so the log line
/// can name it (see `tls::errors`).
#[derive(Debug)]
struct NotingClientVerifier(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for NotingClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.0.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.0.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.0
            .verify_client_cert(end_entity, intermediates, now)
            .inspect_err(|_| note_rejected(end_entity, intermediates))
    }

    delegate_signature_checks!();
}

/// The webpki server verifier of solicited routes, noting the chain it
/// rejects.
#[derive(Debug)]
struct NotingServerVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for NotingServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .inspect_err(|_| note_rejected(end_entity, intermediates))
    }

    delegate_signature_checks!();
}
