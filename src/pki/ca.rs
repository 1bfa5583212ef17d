//! A development certificate authority: the CA, the server certificate and the bank
//! client certificates, and the CRL that revokes them.

use std::fmt;

use rand::RngCore as _;
use rand::rngs::OsRng;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    RevokedCertParams, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::{PkiError, spki_sha256};

/// How long a server or client certificate is valid: the CA/Browser Forum's former
/// maximum, long enough that a development setup does not expire under a developer.
const LEAF_VALIDITY: Duration = Duration::days(825);
/// How long the CA is valid.
const CA_VALIDITY: Duration = Duration::days(3650);
/// Certificates start an hour in the past, so a peer whose clock is a little behind
/// does not reject a certificate made a moment ago.
const BACKDATE: Duration = Duration::hours(1);
/// How long a CRL is valid; regenerate it before then.
const CRL_VALIDITY: Duration = Duration::days(30);

/// A development CA that signs the server certificate and the banks' client
/// certificates, so a whole mutual-TLS setup can be made on one machine.
///
/// Keys are ECDSA P-256: supported by every TLS stack the gateway and the banks use.
pub struct DevCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl DevCa {
    /// Makes a new CA with a fresh key and a self-signed certificate valid for 10 years.
    pub fn generate(common_name: &str) -> Result<Self, PkiError> {
        let failed = |source| PkiError::Generate {
            item: format!("ca certificate `{common_name}`"),
            source,
        };
        let key = new_key(&failed)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        // Leaves only: a development CA has no reason to sign another CA.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
        params.key_identifier_method = KeyIdMethod::Sha256;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + CA_VALIDITY;
        let issuer = CertifiedIssuer::self_signed(params, key).map_err(failed)?;
        Ok(Self { issuer })
    }

    /// The CA certificate (PEM): what `tls.client_ca` points at.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// The CA's private key (PKCS#8 PEM).
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// Issues a server certificate valid for each of `dns_names_and_ips`; a name that
    /// parses as an IP address becomes an IP address SAN (as TLS clients connecting to
    /// `127.0.0.1` require), the rest DNS SANs.
    pub fn issue_server(&self, dns_names_and_ips: &[&str]) -> Result<IssuedCert, PkiError> {
        let first = dns_names_and_ips.first().ok_or(PkiError::NoServerNames)?;
        let failed = |source| PkiError::Generate {
            item: format!("server certificate for `{}`", dns_names_and_ips.join(", ")),
            source,
        };
        let names: Vec<String> = dns_names_and_ips.iter().map(|&n| n.to_owned()).collect();
        let mut params = CertificateParams::new(names).map_err(&failed)?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, *first);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params, &failed)
    }

    /// Issues a client certificate for a bank, with a random serial so that a CRL can
    /// revoke exactly this certificate.
    pub fn issue_client(&self, common_name: &str) -> Result<IssuedCert, PkiError> {
        let failed = |source| PkiError::Generate {
            item: format!("client certificate for `{common_name}`"),
            source,
        };
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params, &failed)
    }

    /// A CRL signed by this CA that revokes `revoked`, valid from now for 30 days. Its
    /// CRL number is the current Unix time, so a later CRL always has a larger one.
    pub fn crl_pem(&self, revoked: &[&IssuedCert]) -> Result<String, PkiError> {
        let failed = |source| PkiError::Generate {
            item: "certificate revocation list".to_owned(),
            source,
        };
        let now = OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now,
            next_update: now + CRL_VALIDITY,
            crl_number: SerialNumber::from_slice(&now.unix_timestamp().to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|cert| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&cert.serial),
                    revocation_time: now,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.issuer).map_err(&failed)?;
        crl.pem().map_err(failed)
    }

    /// Signs a leaf certificate with a fresh key; `params` carries the names and EKU.
    fn issue(
        &self,
        mut params: CertificateParams,
        failed: &dyn Fn(rcgen::Error) -> PkiError,
    ) -> Result<IssuedCert, PkiError> {
        let key = new_key(failed)?;
        let serial = random_serial();
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = KeyIdMethod::Sha256;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + LEAF_VALIDITY;
        let cert = params.signed_by(&key, &self.issuer).map_err(failed)?;
        let cert_der = cert.der().to_vec();
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            spki_sha256: spki_sha256(&cert_der)?,
            cert_der,
            serial: serial.to_vec(),
        })
    }
}

impl fmt::Debug for DevCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // rcgen's issuer Debug already leaves the key out.
        f.debug_struct("DevCa")
            .field("issuer", &*self.issuer)
            .finish()
    }
}

/// A certificate issued by a [`DevCa`], with its private key.
#[derive(Clone)]
pub struct IssuedCert {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// Its private key (PKCS#8 PEM).
    pub key_pem: String,
    /// The certificate (DER).
    pub cert_der: Vec<u8>,
    /// The certificate's public-key pin, as a bank entry in the configuration lists it.
    pub spki_sha256: String,
    /// The serial number, big-endian; a CRL names the certificate by it.
    serial: Vec<u8>,
}

impl IssuedCert {
    /// The serial number, big-endian without a sign byte, as x509-parser's `raw_serial`
    /// reports it.
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("serial", &hex::encode(&self.serial))
            .field("spki_sha256", &self.spki_sha256)
            .field("key_pem", &"[elided]")
            .finish_non_exhaustive()
    }
}

fn new_key(failed: &dyn Fn(rcgen::Error) -> PkiError) -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(failed)
}

/// 16 random bytes, first byte in `0x40..=0x7f`: positive (RFC 5280 requires it), so the
/// DER INTEGER is exactly these bytes, and 126 bits of randomness, above the CA/Browser
/// Forum's 64.
fn random_serial() -> [u8; 16] {
    let mut serial = [0u8; 16];
    OsRng.fill_bytes(&mut serial);
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x3f) | 0x40;
    }
    serial
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use x509_parser::certificate::X509Certificate;
    use x509_parser::extensions::GeneralName;
    use x509_parser::pem::{Pem, parse_x509_pem};

    use super::*;

    fn pem_der(pem: &str) -> Pem {
        let (rest, pem) = parse_x509_pem(pem.as_bytes()).unwrap();
        assert!(rest.iter().all(u8::is_ascii_whitespace));
        pem
    }

    fn parse(der: &[u8]) -> X509Certificate<'_> {
        let (rest, cert) = x509_parser::parse_x509_certificate(der).unwrap();
        assert!(rest.is_empty());
        cert
    }

    fn openssl_available() -> bool {
        Command::new("openssl").arg("version").output().is_ok()
    }

    /// `openssl verify` of `leaf` against `ca` (and `crl` when given), for `purpose`.
    fn openssl_verify(dir: &Path, ca: &str, leaf: &str, crl: Option<&str>, purpose: &str) -> bool {
        std::fs::write(dir.join("ca.pem"), ca).unwrap();
        std::fs::write(dir.join("leaf.pem"), leaf).unwrap();
        let mut command = Command::new("openssl");
        command
            .current_dir(dir)
            .args(["verify", "-CAfile", "ca.pem", "-purpose", purpose]);
        if let Some(crl) = crl {
            std::fs::write(dir.join("crl.pem"), crl).unwrap();
            command.args(["-crl_check", "-CRLfile", "crl.pem"]);
        }
        command.arg("leaf.pem").output().unwrap().status.success()
    }

    #[test]
    fn a_client_certificate_chains_to_its_ca_and_not_to_another() {
        let ca = DevCa::generate("consentgate dev ca").unwrap();
        let other = DevCa::generate("consentgate dev ca").unwrap();
        let client = ca.issue_client("bank-a").unwrap();

        let ca_pem = pem_der(&ca.cert_pem());
        let ca_cert = ca_pem.parse_x509().unwrap();
        let other_pem = pem_der(&other.cert_pem());
        let other_cert = other_pem.parse_x509().unwrap();
        let cert = parse(&client.cert_der);

        assert_eq!(cert.issuer(), ca_cert.subject());
        cert.verify_signature(Some(ca_cert.public_key())).unwrap();
        assert!(
            cert.verify_signature(Some(other_cert.public_key()))
                .is_err()
        );
        ca_cert.verify_signature(None).unwrap();

        if openssl_available() {
            let dir = tempfile::tempdir().unwrap();
            let ok = openssl_verify(
                dir.path(),
                &ca.cert_pem(),
                &client.cert_pem,
                None,
                "sslclient",
            );
            assert!(ok, "openssl rejects the client certificate");
            let wrong = openssl_verify(
                dir.path(),
                &other.cert_pem(),
                &client.cert_pem,
                None,
                "sslclient",
            );
            assert!(!wrong, "openssl accepts a certificate from another ca");
        }
    }

    #[test]
    fn a_client_certificate_is_for_client_auth_only_and_records_its_serial() {
        let ca = DevCa::generate("dev ca").unwrap();
        let first = ca.issue_client("bank-a").unwrap();
        let second = ca.issue_client("bank-a").unwrap();
        let cert = parse(&first.cert_der);

        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth);
        assert!(!eku.server_auth);
        assert!(!cert.is_ca());
        let cn = cert.subject().iter_common_name().next().unwrap();
        assert_eq!(cn.as_str().unwrap(), "bank-a");
        assert_eq!(cert.raw_serial(), first.serial());
        assert_eq!(first.serial().len(), 16);
        assert_ne!(first.serial(), second.serial());
        assert_ne!(first.spki_sha256, second.spki_sha256);
        assert_eq!(first.spki_sha256, spki_sha256(&first.cert_der).unwrap());
    }

    #[test]
    fn a_server_certificate_names_localhost_as_dns_and_127_0_0_1_as_an_ip() {
        let ca = DevCa::generate("dev ca").unwrap();
        let server = ca.issue_server(&["localhost", "127.0.0.1"]).unwrap();
        let cert = parse(&server.cert_der);

        let san = cert.subject_alternative_name().unwrap().unwrap().value;
        assert_eq!(
            san.general_names,
            vec![
                GeneralName::DNSName("localhost"),
                GeneralName::IPAddress(&[127, 0, 0, 1]),
            ]
        );
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth);
        assert!(!eku.client_auth);

        if openssl_available() {
            let dir = tempfile::tempdir().unwrap();
            let ok = openssl_verify(
                dir.path(),
                &ca.cert_pem(),
                &server.cert_pem,
                None,
                "sslserver",
            );
            assert!(ok, "openssl rejects the server certificate");
            let as_client = openssl_verify(
                dir.path(),
                &ca.cert_pem(),
                &server.cert_pem,
                None,
                "sslclient",
            );
            assert!(
                !as_client,
                "a server certificate passes as a client certificate"
            );
        }
    }

    #[test]
    fn a_server_certificate_without_names_is_refused() {
        let ca = DevCa::generate("dev ca").unwrap();
        assert!(matches!(ca.issue_server(&[]), Err(PkiError::NoServerNames)));
    }

    #[test]
    fn the_ca_may_sign_certificates_and_crls_for_ten_years_and_leaves_last_825_days() {
        let ca = DevCa::generate("dev ca").unwrap();
        let ca_pem = pem_der(&ca.cert_pem());
        let ca_cert = ca_pem.parse_x509().unwrap();
        assert!(ca_cert.is_ca());
        let usage = ca_cert.key_usage().unwrap().unwrap().value;
        assert!(usage.key_cert_sign());
        assert!(usage.crl_sign());

        let now = OffsetDateTime::now_utc().unix_timestamp();
        let hour = 3600;
        let day = 24 * hour;
        let validity = ca_cert.validity();
        assert!((validity.not_before.timestamp() - (now - hour)).abs() < 60);
        assert!((validity.not_after.timestamp() - (now + 3650 * day)).abs() < 60);

        let leaf = ca.issue_client("bank-a").unwrap();
        let leaf_cert = parse(&leaf.cert_der);
        let validity = leaf_cert.validity();
        assert!((validity.not_before.timestamp() - (now - hour)).abs() < 60);
        assert!((validity.not_after.timestamp() - (now + 825 * day)).abs() < 60);
    }

    #[test]
    fn keys_are_pkcs8_p256_and_match_their_certificates() {
        let ca = DevCa::generate("dev ca").unwrap();
        let leaf = ca.issue_client("bank-a").unwrap();
        for (key_pem, cert_pem) in [(ca.key_pem(), ca.cert_pem()), (leaf.key_pem, leaf.cert_pem)] {
            assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
            let key = KeyPair::from_pem(&key_pem).unwrap();
            assert_eq!(key.algorithm(), &PKCS_ECDSA_P256_SHA256);
            let pem = pem_der(&cert_pem);
            let cert = pem.parse_x509().unwrap();
            assert_eq!(
                cert.public_key().subject_public_key.data.as_ref(),
                key.public_key_raw()
            );
        }
    }

    #[test]
    fn the_crl_lists_the_revoked_serial_and_is_signed_by_the_ca() {
        let ca = DevCa::generate("dev ca").unwrap();
        let revoked = ca.issue_client("bank-a").unwrap();
        let kept = ca.issue_client("bank-b").unwrap();
        let crl_pem = ca.crl_pem(&[&revoked]).unwrap();
        assert!(crl_pem.starts_with("-----BEGIN X509 CRL-----"));

        let pem = pem_der(&crl_pem);
        let (_, crl) = x509_parser::parse_x509_crl(&pem.contents).unwrap();
        let serials: Vec<&[u8]> = crl
            .iter_revoked_certificates()
            .map(|r| r.raw_serial())
            .collect();
        assert_eq!(serials, vec![revoked.serial()]);
        assert!(!serials.contains(&kept.serial()));

        let ca_pem = pem_der(&ca.cert_pem());
        let ca_cert = ca_pem.parse_x509().unwrap();
        assert_eq!(crl.issuer(), ca_cert.subject());
        crl.verify_signature(ca_cert.public_key()).unwrap();
        let other = DevCa::generate("dev ca").unwrap();
        let other_pem = pem_der(&other.cert_pem());
        assert!(
            crl.verify_signature(other_pem.parse_x509().unwrap().public_key())
                .is_err()
        );

        assert!(crl.crl_number().is_some());
        let now = OffsetDateTime::now_utc().unix_timestamp();
        assert!((crl.last_update().timestamp() - now).abs() < 60);
        let next = crl.next_update().unwrap().timestamp();
        assert!((next - (now + 30 * 24 * 3600)).abs() < 60);

        if openssl_available() {
            let dir = tempfile::tempdir().unwrap();
            let ca_pem = ca.cert_pem();
            let crl = Some(crl_pem.as_str());
            assert!(!openssl_verify(
                dir.path(),
                &ca_pem,
                &revoked.cert_pem,
                crl,
                "sslclient"
            ));
            assert!(openssl_verify(
                dir.path(),
                &ca_pem,
                &kept.cert_pem,
                crl,
                "sslclient"
            ));
        }
    }

    #[test]
    fn debug_output_leaves_private_keys_out() {
        let ca = DevCa::generate("dev ca").unwrap();
        let leaf = ca.issue_client("bank-a").unwrap();
        let printed = format!("{ca:?} {leaf:?}");
        assert!(!printed.contains("PRIVATE KEY"));
        assert!(!printed.contains(leaf.key_pem.lines().nth(1).unwrap()));
        assert!(printed.contains(&leaf.spki_sha256));
    }
}
