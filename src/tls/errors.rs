//! Handshake failures worded as the Go server (2.15) logs them, and the
//! names Go gives TLS cipher suites in `/connz`.
//!
//! Certificates that fail verification are named in the log line with
//! their subject and SHA-256, as Go does: the verifiers in `config.rs`
//! note the chain a peer presented when they reject it ([`note_rejected`]),
//! and the session that failed takes it right after (one thread: nothing
//! runs in between).

use std::cell::RefCell;

use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::{AlertDescription, CertificateError, Error};

use super::x509;

thread_local! {
    static REJECTED: RefCell<Vec<CertificateDer<'static>>> = const { RefCell::new(Vec::new()) };
}

/// A verifier rejected this chain (end entity first).
pub fn note_rejected(end_entity: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>]) {
    REJECTED.with(|r| {
        let mut r = r.borrow_mut();
        r.clear();
        r.push(end_entity.clone().into_owned());
        // Bounded: a peer may send a long chain.
        r.extend(intermediates.iter().take(8).map(|c| c.clone().into_owned()));
    });
}

/// The chain last rejected, if any (and forgets it).
pub fn take_rejected() -> Vec<CertificateDer<'static>> {
    REJECTED.with(|r| std::mem::take(&mut *r.borrow_mut()))
}

fn rfc3339(t: UnixTime) -> String {
    rnats_protocol::gotime::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.as_secs()))
}

/// SHA-256 in hex, by the crypto provider's hash.
pub fn sha256_hex(data: &[u8]) -> String {
    let sha256 = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256.tls13().map(|s| s.common.hash_provider);
    sha256.map(|h| x509::hex(h.hash(data).as_ref())).unwrap_or_default()
}

/// What `/connz?auth=true` shows of each certificate a peer presented:
/// subject (as Go prints it), SHA-256 of its public key info and of the
/// whole certificate.
pub fn peer_cert_rows(chain: &[CertificateDer<'_>]) -> Vec<[String; 3]> {
    chain
        .iter()
        .map(|c| {
            let info = x509::parse_cert(c);
            let subject = info.as_ref().map(|i| x509::name_string(&i.subject, false)).unwrap_or_default();
            let spki = info.as_ref().map(|i| sha256_hex(i.spki)).unwrap_or_default();
            [subject, spki, sha256_hex(c)]
        })
        .collect()
}

/// `(CN=x SHA-256: ...; CN=ca SHA-256: ...)` for the rejected chain.
fn detail(chain: &[CertificateDer<'_>]) -> String {
    let parts: Vec<String> = chain
        .iter()
        .map(|c| {
            // Only newer Go servers name the certificates here, in their
            // Go's form.
            let subject = x509::parse_cert(c).map(|i| x509::name_string(&i.subject, true)).unwrap_or_default();
            format!("{subject} SHA-256: {}", sha256_hex(c))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

/// The text Go logs after `TLS handshake error: ` for a failed handshake.
pub fn go_text(e: &Error, rejected: &[CertificateDer<'_>]) -> String {
    match e {
        Error::NoCertificatesPresented => "tls: client didn't provide a certificate".into(),
        Error::InvalidCertificate(ce) => {
            let why = match ce {
                CertificateError::UnknownIssuer => "certificate signed by unknown authority".to_string(),
                CertificateError::Expired | CertificateError::NotValidYet => {
                    "certificate has expired or is not yet valid".to_string()
                }
                CertificateError::ExpiredContext { time, not_after } => format!(
                    "certificate has expired or is not yet valid: current time {} is after {}",
                    rfc3339(*time),
                    rfc3339(*not_after)
                ),
                CertificateError::NotValidYetContext { time, not_before } => format!(
                    "certificate has expired or is not yet valid: current time {} is before {}",
                    rfc3339(*time),
                    rfc3339(*not_before)
                ),
                CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                    "certificate specifies an incompatible key usage".to_string()
                }
                other => format!("{}", Error::InvalidCertificate(other.clone())),
            };
            format!("tls: failed to verify certificate: x509: {why}{}", detail(rejected))
        }
        Error::AlertReceived(a) => format!("remote error: tls: {}", alert_text(*a)),
        other => other.to_string(),
    }
}

/// Go's wording of a TLS alert (`crypto/tls`).
fn alert_text(a: AlertDescription) -> String {
    use AlertDescription as A;
    let s = match a {
        A::CloseNotify => "close notify",
        A::UnexpectedMessage => "unexpected message",
        A::BadRecordMac => "bad record MAC",
        A::DecryptionFailed => "decryption failed",
        A::RecordOverflow => "record overflow",
        A::DecompressionFailure => "decompression failure",
        A::HandshakeFailure => "handshake failure",
        A::BadCertificate => "bad certificate",
        A::UnsupportedCertificate => "unsupported certificate",
        A::CertificateRevoked => "revoked certificate",
        A::CertificateExpired => "expired certificate",
        A::CertificateUnknown => "unknown certificate",
        A::IllegalParameter => "illegal parameter",
        A::UnknownCA => "unknown certificate authority",
        A::AccessDenied => "access denied",
        A::DecodeError => "error decoding message",
        A::DecryptError => "error decrypting message",
        A::ExportRestriction => "export restriction",
        A::ProtocolVersion => "protocol version not supported",
        A::InsufficientSecurity => "insufficient security level",
        A::InternalError => "internal error",
        A::InappropriateFallback => "inappropriate fallback",
        A::UserCanceled => "user canceled",
        A::NoRenegotiation => "no renegotiation",
        A::MissingExtension => "missing extension",
        A::UnsupportedExtension => "unsupported extension",
        A::CertificateUnobtainable => "certificate unobtainable",
        A::UnrecognisedName => "unrecognized name",
        A::BadCertificateStatusResponse => "bad certificate status response",
        A::BadCertificateHashValue => "bad certificate hash value",
        A::UnknownPSKIdentity => "unknown PSK identity",
        A::CertificateRequired => "certificate required",
        A::NoApplicationProtocol => "no application protocol",
        other => return format!("alert({})", u8::from(other)),
    };
    s.to_string()
}

/// The name Go 2.9 gives a cipher suite in `/connz` (`tls_cipher_suite`);
/// Go 2.10+ spells the two ECDHE ChaCha20 suites with a `_SHA256` suffix.
pub fn cipher_name(id: u16) -> String {
    let s = match id {
        0x1301 => "TLS_AES_128_GCM_SHA256",
        0x1302 => "TLS_AES_256_GCM_SHA384",
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256",
        0xc02b => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xc02c => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xc02f => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xc030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xcca8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        0xcca9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        _ => return format!("Unknown [0x{id:x}]"),
    };
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wording() {
        let t = |s| UnixTime::since_unix_epoch(std::time::Duration::from_secs(s));
        let e = Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: t(1_795_000_000),
            not_after: t(1_577_923_200),
        });
        assert_eq!(
            go_text(&e, &[]),
            "tls: failed to verify certificate: x509: certificate has expired or is not yet valid: \
             current time 2026-11-18T11:06:40Z is after 2020-01-02T00:00:00Z"
        );
        assert_eq!(
            go_text(&Error::AlertReceived(AlertDescription::BadCertificate), &[]),
            "remote error: tls: bad certificate"
        );
        assert_eq!(go_text(&Error::NoCertificatesPresented, &[]), "tls: client didn't provide a certificate");
        assert_eq!(cipher_name(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(cipher_name(0x00ff), "Unknown [0xff]");
        // A chain that does not parse is still named by its hash.
        let junk = CertificateDer::from(vec![1u8, 2, 3]);
        assert!(detail(&[junk]).starts_with(" ( SHA-256: 039058c6f2c0cb49"));
    }
}
