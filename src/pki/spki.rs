//! The public-key pin that identifies a bank.

use sha2::{Digest as _, Sha256};
use x509_parser::asn1_rs::{Any, Class, FromDer as _, Tag};

use super::PkiError;

/// The pin of a certificate: lowercase hex SHA-256 of its DER SubjectPublicKeyInfo.
///
/// Banks are told apart by this pin (the contract's `spki_sha256`), not by names in the
/// certificate, so a bank can renew its certificate without a configuration change as
/// long as it keeps its key, and a CA cannot mint a certificate that acts as a bank.
///
/// This runs on every bank connection, after the TLS layer has verified the chain. It
/// steps over the DER fields in front of the key instead of parsing the whole
/// certificate (which would allocate for names and extensions), and allocates only the
/// returned string.
pub fn spki_sha256(cert_der: &[u8]) -> Result<String, PkiError> {
    let spki = subject_public_key_info(cert_der).ok_or(PkiError::MalformedCertificate)?;
    Ok(hex::encode(Sha256::digest(spki)))
}

/// The encoded SubjectPublicKeyInfo, tag and length included (x509-parser's
/// `tbs_certificate.subject_pki.raw`).
///
/// RFC 5280: `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }`
/// and `TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature,
/// issuer, validity, subject, subjectPublicKeyInfo, ... }`.
fn subject_public_key_info(cert_der: &[u8]) -> Option<&[u8]> {
    let (_, certificate, trailing) = element(cert_der, Class::Universal, Tag::Sequence)?;
    // CAUTION: bytes after the certificate would let two encodings share one pin input;
    // the TLS layer hands over exactly one certificate, so anything extra is an error.
    if !trailing.is_empty() {
        return None;
    }
    let (_, tbs, _) = element(certificate, Class::Universal, Tag::Sequence)?;
    let fields = match element(tbs, Class::ContextSpecific, Tag(0)) {
        Some((_, _, rest)) => rest,
        None => tbs,
    };
    let (_, _, fields) = element(fields, Class::Universal, Tag::Integer)?;
    // signature algorithm, issuer, validity, subject
    let (_, _, fields) = element(fields, Class::Universal, Tag::Sequence)?;
    let (_, _, fields) = element(fields, Class::Universal, Tag::Sequence)?;
    let (_, _, fields) = element(fields, Class::Universal, Tag::Sequence)?;
    let (_, _, fields) = element(fields, Class::Universal, Tag::Sequence)?;
    let (spki, _, _) = element(fields, Class::Universal, Tag::Sequence)?;
    Some(spki)
}

/// The first DER element of `input` if it has the given class and tag, as
/// `(whole encoding, contents, what follows)`. Borrows only; never allocates.
fn element(input: &[u8], class: Class, tag: Tag) -> Option<(&[u8], &[u8], &[u8])> {
    let (rest, any) = Any::from_der(input).ok()?;
    if any.class() != class || any.tag() != tag {
        return None;
    }
    let encoded_len = input.len().checked_sub(rest.len())?;
    let (encoded, rest) = input.split_at_checked(encoded_len)?;
    Some((encoded, any.data, rest))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    use rcgen::PublicKeyData as _;

    use super::*;

    fn self_signed() -> rcgen::CertifiedKey<rcgen::KeyPair> {
        rcgen::generate_simple_self_signed(vec!["bank.example".to_owned()]).unwrap()
    }

    /// Runs a command with `input` on stdin and returns stdout, or `None` when the
    /// command cannot be started (not installed).
    fn pipe(program: &str, args: &[&str], input: &[u8]) -> Option<Vec<u8>> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        child.stdin.take().unwrap().write_all(input).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{program} {args:?} failed");
        Some(output.stdout)
    }

    /// OpenSSL's answer for the pin, or `None` when `openssl` is not on PATH.
    fn openssl_pin(cert_pem: &str) -> Option<String> {
        let spki_pem = pipe(
            "openssl",
            &["x509", "-pubkey", "-noout"],
            cert_pem.as_bytes(),
        )?;
        let spki_der = pipe("openssl", &["pkey", "-pubin", "-outform", "der"], &spki_pem)?;
        let digest = pipe("openssl", &["dgst", "-sha256", "-r"], &spki_der)?;
        let digest = String::from_utf8(digest).unwrap();
        Some(digest.split_whitespace().next().unwrap().to_owned())
    }

    #[test]
    fn the_pin_matches_openssl_or_x509_parser() {
        let certified = self_signed();
        let pin = spki_sha256(certified.cert.der()).unwrap();

        let (_, parsed) = x509_parser::parse_x509_certificate(certified.cert.der()).unwrap();
        let expected = hex::encode(Sha256::digest(parsed.tbs_certificate.subject_pki.raw));
        assert_eq!(pin, expected);

        match openssl_pin(&certified.cert.pem()) {
            Some(from_openssl) => assert_eq!(pin, from_openssl),
            None => eprintln!("openssl not on PATH; compared with x509-parser only"),
        }
    }

    #[test]
    fn the_pin_is_the_hash_of_the_key_not_of_the_certificate() {
        let certified = self_signed();
        let pin = spki_sha256(certified.cert.der()).unwrap();
        // The key's own SubjectPublicKeyInfo, as rcgen encodes it apart from any certificate.
        let key_spki = certified.signing_key.subject_public_key_info();
        assert_eq!(pin, hex::encode(Sha256::digest(&key_spki)));

        let renewed = rcgen::CertificateParams::new(vec!["renewed.example".to_owned()])
            .unwrap()
            .self_signed(&certified.signing_key)
            .unwrap();
        assert_ne!(renewed.der().as_ref(), certified.cert.der().as_ref());
        assert_eq!(spki_sha256(renewed.der()).unwrap(), pin);
    }

    #[test]
    fn the_pin_is_64_lowercase_hex_characters() {
        let pin = spki_sha256(self_signed().cert.der()).unwrap();
        assert_eq!(pin.len(), 64);
        assert!(pin.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    }

    #[test]
    fn garbage_truncated_and_padded_input_is_rejected_without_panicking() {
        let der = self_signed().cert.der().to_vec();
        for bad in [
            &b""[..],
            &b"not a certificate"[..],
            &der[..der.len() / 2],
            &der[..der.len() - 1],
        ] {
            assert!(matches!(
                spki_sha256(bad),
                Err(PkiError::MalformedCertificate)
            ));
        }
        let mut padded = der.clone();
        padded.push(0);
        assert!(spki_sha256(&padded).is_err());
        // Every prefix: a parser that indexes past the end would panic on one of them.
        for len in 0..der.len() {
            assert!(spki_sha256(&der[..len]).is_err());
        }
    }
}
