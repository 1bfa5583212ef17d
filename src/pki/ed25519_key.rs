//! Ed25519 signing keys: the development JWT key and the audit checkpoint key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand::rngs::OsRng;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::PkiError;

/// An Ed25519 private key, read and written as PKCS#8 PEM, with the public forms others
/// need: SPKI PEM for auditors and a JWK for token verifiers.
///
/// Debug prints only the key id, so the key can sit in structs that are logged.
#[derive(Clone)]
pub struct Ed25519Key {
    signing_key: SigningKey,
}

impl Ed25519Key {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        Self {
            signing_key: SigningKey::generate(&mut OsRng),
        }
    }

    /// Reads a PKCS#8 PEM private key (`BEGIN PRIVATE KEY`), v1 (RFC 8410, what
    /// `openssl genpkey` writes) or v2 (RFC 5958, with the public key, which is then
    /// checked against the private key).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, PkiError> {
        let signing_key = SigningKey::from_pkcs8_pem(pem).map_err(PkiError::Ed25519Pkcs8)?;
        Ok(Self { signing_key })
    }

    /// The private key as PKCS#8 v1 PEM.
    ///
    /// v1 carries the private key only; it is what OpenSSL writes and every PKCS#8 reader
    /// accepts, while some readers still reject v2.
    pub fn to_pkcs8_pem(&self) -> Result<String, PkiError> {
        let v1 = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.signing_key.to_bytes(),
            public_key: None,
        };
        let pem = v1
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(PkiError::Ed25519Pkcs8)?;
        Ok(pem.as_str().to_owned())
    }

    /// The public key as SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`): what an auditor
    /// passes to `consentgate audit verify --public-key`.
    pub fn public_key_pem(&self) -> Result<String, PkiError> {
        self.verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(PkiError::Ed25519Spki)
    }

    /// The key itself, for signers that take an ed25519-dalek key (checkpoint notes).
    pub fn signing_key(&self) -> ed25519_dalek::SigningKey {
        self.signing_key.clone()
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing_key.verifying_key()
    }

    /// Signs `message` (Ed25519 is deterministic: the same message, the same signature).
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.signing_key.sign(message)
    }

    /// The public key as a JWK (RFC 8037) for token verifiers, with `kid` set to its
    /// RFC 7638 thumbprint so a token's `kid` picks it out of a key set.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": self.x(),
            "kid": self.kid(),
            "alg": "EdDSA",
            "use": "sig",
        })
    }

    /// `{"keys": [jwk]}`, pretty printed: the contents of `auth.jwks_file`.
    pub fn jwks_json(&self) -> String {
        format!("{:#}", json!({ "keys": [self.jwk()] }))
    }

    /// The RFC 7638 JWK thumbprint, base64url: SHA-256 of the required members in
    /// lexicographic order with no whitespace. Stable for a key, so it can be
    /// recomputed anywhere instead of being stored.
    pub fn kid(&self) -> String {
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, self.x());
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The JWK `x` member: the public key, base64url.
    fn x(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.verifying_key().as_bytes())
    }
}

impl fmt::Debug for Ed25519Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519Key")
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::Verifier as _;
    use ed25519_dalek::pkcs8::DecodePublicKey as _;

    use super::*;

    /// The private key of RFC 8037 appendix A.1 (`d`).
    const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    /// Its public key (`x`), appendix A.1.
    const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    /// Its thumbprint, appendix A.3.
    const RFC8037_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

    fn rfc8037_key() -> Ed25519Key {
        let d: [u8; 32] = URL_SAFE_NO_PAD
            .decode(RFC8037_D)
            .unwrap()
            .try_into()
            .unwrap();
        Ed25519Key {
            signing_key: SigningKey::from_bytes(&d),
        }
    }

    #[test]
    fn the_kid_is_the_rfc_8037_known_answer_thumbprint() {
        let key = rfc8037_key();
        assert_eq!(key.kid(), RFC8037_THUMBPRINT);
        let jwk = key.jwk();
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["x"], RFC8037_X);
        assert_eq!(jwk["kid"], RFC8037_THUMBPRINT);
        assert_eq!(jwk["alg"], "EdDSA");
        assert_eq!(jwk["use"], "sig");
        assert!(jwk.get("d").is_none(), "the jwk leaks the private key");
    }

    #[test]
    fn the_jwks_lists_exactly_the_one_public_key() {
        let key = Ed25519Key::generate();
        let jwks: Value = serde_json::from_str(&key.jwks_json()).unwrap();
        assert_eq!(jwks, json!({ "keys": [key.jwk()] }));
        assert!(key.jwks_json().contains('\n'), "not pretty printed");
    }

    #[test]
    fn a_key_round_trips_through_pkcs8_v1_pem() {
        let key = Ed25519Key::generate();
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        // v1: version 0 and no public key. 48 bytes = 16 of header + 32 of key.
        let (_, doc) = ed25519_dalek::pkcs8::Document::from_pem(&pem).unwrap();
        assert_eq!(doc.as_bytes().len(), 48);
        let read = Ed25519Key::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(read.verifying_key(), key.verifying_key());
        assert_eq!(read.signing_key.to_bytes(), key.signing_key.to_bytes());
    }

    #[test]
    fn a_pkcs8_v2_pem_with_the_public_key_is_accepted() {
        let key = Ed25519Key::generate();
        let v2 = key.signing_key.to_pkcs8_pem(LineEnding::LF).unwrap();
        let (_, doc) = ed25519_dalek::pkcs8::Document::from_pem(&v2).unwrap();
        assert!(doc.as_bytes().len() > 48, "ed25519-dalek did not write v2");
        let read = Ed25519Key::from_pkcs8_pem(&v2).unwrap();
        assert_eq!(read.verifying_key(), key.verifying_key());
    }

    #[test]
    fn a_pkcs8_v2_pem_whose_public_key_does_not_match_is_rejected() {
        let key = Ed25519Key::generate();
        let other = Ed25519Key::generate();
        let mismatched = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: key.signing_key.to_bytes(),
            public_key: Some(ed25519_dalek::pkcs8::PublicKeyBytes(
                other.verifying_key().to_bytes(),
            )),
        };
        let pem = mismatched.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert!(Ed25519Key::from_pkcs8_pem(&pem).is_err());
    }

    #[test]
    fn a_key_written_by_openssl_is_read() {
        let Ok(output) = std::process::Command::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519"])
            .output()
        else {
            eprintln!("openssl not on PATH; skipped");
            return;
        };
        assert!(output.status.success());
        let pem = String::from_utf8(output.stdout).unwrap();
        let key = Ed25519Key::from_pkcs8_pem(&pem).unwrap();
        let signature = key.sign(b"checkpoint");
        key.verifying_key()
            .verify(b"checkpoint", &signature)
            .unwrap();
    }

    #[test]
    fn a_read_key_signs_and_the_public_key_pem_verifies() {
        let key =
            Ed25519Key::from_pkcs8_pem(&Ed25519Key::generate().to_pkcs8_pem().unwrap()).unwrap();
        let signature = key.sign(b"consentgate/dev\n42\n");
        let public_pem = key.public_key_pem().unwrap();
        assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let public = VerifyingKey::from_public_key_pem(&public_pem).unwrap();
        public.verify(b"consentgate/dev\n42\n", &signature).unwrap();
        assert!(public.verify(b"consentgate/dev\n43\n", &signature).is_err());
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(Ed25519Key::from_pkcs8_pem("").is_err());
        assert!(
            Ed25519Key::from_pkcs8_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            )
            .is_err()
        );
    }

    #[test]
    fn debug_output_shows_the_kid_and_not_the_key() {
        let key = rfc8037_key();
        let printed = format!("{key:?}");
        assert!(printed.contains(RFC8037_THUMBPRINT));
        assert!(!printed.contains(RFC8037_D));
        assert!(!printed.contains(&hex::encode(key.signing_key.to_bytes())));
    }
}
