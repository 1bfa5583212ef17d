//! Standard Webhooks 1.0 signatures (CONTRACT §8): `v1,<base64 HMAC-SHA256(key,
//! "{webhook-id}.{webhook-timestamp}.{body}")>`, where `key` is the base64-decoded part of the
//! recipient's `whsec_` secret. While a secret is rotated the recipient has two, and the header
//! carries one signature per secret, space-separated, so the recipient may verify with either.

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The keys one recipient's webhooks are signed with: one, or two during a rotation.
#[derive(Clone)]
pub struct SigningKeys {
    /// One keyed MAC per secret, cloned for each signature.
    macs: Vec<HmacSha256>,
}

impl SigningKeys {
    /// Keys from the decoded secrets, in the configured order.
    pub fn new(keys: &[Vec<u8>]) -> Result<Self, hmac::digest::InvalidLength> {
        let macs = keys
            .iter()
            .map(|key| HmacSha256::new_from_slice(key))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { macs })
    }

    /// The `webhook-signature` header value: `v1,<signature>` per key, space-separated.
    pub fn sign(&self, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
        self.macs
            .iter()
            .map(|mac| {
                let mut mac = mac.clone();
                mac.update(webhook_id.as_bytes());
                mac.update(b".");
                mac.update(timestamp.to_string().as_bytes());
                mac.update(b".");
                mac.update(body);
                let tag = mac.finalize().into_bytes();
                format!(
                    "v1,{}",
                    base64::engine::general_purpose::STANDARD.encode(tag)
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKeys({} key(s))", self.macs.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Secret, webhook_key};

    fn keys(secrets: &[&str]) -> SigningKeys {
        let decoded: Vec<Vec<u8>> = secrets
            .iter()
            .map(|s| webhook_key(&Secret::new(*s)).unwrap())
            .collect();
        SigningKeys::new(&decoded).unwrap()
    }

    /// The test vector of the Standard Webhooks reference libraries
    /// (standard-webhooks/standard-webhooks, `libraries/python/tests/test_webhooks.py`,
    /// `test_sign_function`).
    #[test]
    fn the_specification_test_vector_reproduces_exactly() {
        let signature = keys(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]).sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    /// The vector of the reference Rust library (`libraries/rust/src/lib.rs`, `test_sign`).
    #[test]
    fn the_rust_reference_library_vector_reproduces_exactly() {
        let signature = keys(&["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]).sign(
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1_649_367_553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn during_a_rotation_each_secret_signs_in_configured_order() {
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let new = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let both = keys(&[old, new]).sign(id, 1_614_265_330, body);
        let expected = format!(
            "{} {}",
            keys(&[old]).sign(id, 1_614_265_330, body),
            keys(&[new]).sign(id, 1_614_265_330, body)
        );
        assert_eq!(both, expected);
        assert_eq!(both.split(' ').count(), 2);
    }

    #[test]
    fn a_different_timestamp_or_body_changes_the_signature() {
        let k = keys(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);
        let base = k.sign("msg_1", 1, b"{}");
        assert_ne!(base, k.sign("msg_1", 2, b"{}"));
        assert_ne!(base, k.sign("msg_1", 1, b"{ }"));
        assert_ne!(base, k.sign("msg_2", 1, b"{}"));
    }

    #[test]
    fn debug_output_never_shows_key_material() {
        let k = keys(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);
        assert_eq!(format!("{k:?}"), "SigningKeys(1 key(s))");
    }
}
