//! Signed tree heads as C2SP `tlog-checkpoint` bodies in C2SP `signed-note`
//! envelopes with Ed25519 signatures: the format of the Go checksum database
//! (`golang.org/x/mod/sumdb/note`), Sigstore, Trillian and Tessera, so that
//! auditors can check the gateway's checkpoints with tools they already have.
//!
//! ```text
//! consentgate/prod
//! 4711
//! <base64 of the 32-byte root>
//!
//! — consentgate/prod <base64 of the 4-byte key id ‖ 64-byte Ed25519 signature>
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;
use thiserror::Error;

use super::merkle::Hash;

/// The largest note [`NoteVerifier::open`] reads. A checkpoint with one
/// signature is about 200 bytes; the limit only stops a hostile input from
/// costing memory and time.
pub const MAX_NOTE_SIZE: usize = 1 << 20;

/// The signature type byte of Ed25519 in C2SP `signed-note`.
const ALG_ED25519: u8 = 0x01;

/// How many signature lines a note may carry. C2SP asks verifiers to accept at
/// least 16; Go's `note.Open` refuses more than 100.
const MAX_SIGNATURES: usize = 100;

/// Starts every signature line: an em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a checkpoint could not be signed or opened.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum NoteError {
    /// A key name that C2SP `signed-note` does not allow.
    #[error("key name `{0}` is empty or contains a space, a plus sign or a control character")]
    InvalidKeyName(String),
    /// An origin line that is empty or would break the note format.
    #[error("origin `{0}` is empty or contains a control character")]
    InvalidOrigin(String),
    /// A verifier key that is not `<name>+<hex key id>+<base64 key>`.
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(&'static str),
    /// A verifier key whose key id is not the hash of its name and key.
    #[error("verifier key id does not match its name and public key")]
    VerifierKeyIdMismatch,
    /// A verifier key for a signature type other than Ed25519.
    #[error("unsupported signature type {0:#04x}")]
    UnsupportedAlgorithm(u8),
    /// A note larger than [`MAX_NOTE_SIZE`].
    #[error("note of {0} bytes is larger than the limit of 1 MiB")]
    TooLarge(usize),
    /// Text that is not a signed note.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// A signed note whose text is not a checkpoint.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    /// A signature line by the expected key that does not verify.
    #[error("signature by key `{name}+{key_id:08x}` does not verify")]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// No signature line by the expected key.
    #[error("note has no signature by key `{name}+{key_id:08x}`")]
    NotSigned {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
}

/// A tree head: the size and root of the log named by `origin`
/// (C2SP `tlog-checkpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    // INVARIANT: non-empty, no control characters (so no newline).
    origin: String,
    size: u64,
    root: Hash,
}

impl Checkpoint {
    /// A checkpoint of the log `origin` (for the gateway
    /// `consentgate/<instance>`) at `size` leaves with root `root`.
    ///
    /// Fails when the origin is empty or contains a control character, which
    /// would make the note unparseable.
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Result<Self, NoteError> {
        let origin = origin.into();
        if origin.is_empty() || origin.chars().any(char::is_control) {
            return Err(NoteError::InvalidOrigin(origin));
        }
        Ok(Self { origin, size, root })
    }

    /// The log identity that issued the checkpoint.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 9162 root of the first `size` leaves.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The note text that gets signed: `<origin>\n<size>\n<base64 root>\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Parses a note text as a checkpoint. Extension lines after the root are
    /// allowed by C2SP (never written by the gateway) and ignored.
    fn parse_body(text: &str) -> Result<Self, NoteError> {
        let malformed = NoteError::MalformedCheckpoint;
        let body = text
            .strip_suffix('\n')
            .ok_or(malformed("text does not end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        let size = lines.next().ok_or(malformed("no tree size line"))?;
        let root = lines.next().ok_or(malformed("no root hash line"))?;
        if origin.is_empty() {
            return Err(malformed("empty origin line"));
        }
        if lines.any(str::is_empty) {
            return Err(malformed("empty extension line"));
        }
        let size_is_canonical = match size.as_bytes() {
            [] => false,
            [b'0'] => true,
            [b'0', ..] => false,
            digits => digits.iter().all(u8::is_ascii_digit),
        };
        if !size_is_canonical {
            return Err(malformed(
                "tree size is not a decimal number without leading zeros",
            ));
        }
        let size = size
            .parse::<u64>()
            .map_err(|_| malformed("tree size is out of range"))?;
        let root = STANDARD
            .decode(root)
            .ok()
            .and_then(|bytes| Hash::try_from(bytes).ok())
            .ok_or(malformed("root hash is not 32 bytes of standard base64"))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// Signs checkpoints with an Ed25519 key under a key name.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl NoteSigner {
    /// A signer for the key name `name` (the gateway uses its origin).
    ///
    /// Fails when the name is empty or contains a Unicode space, a plus sign or
    /// a control character, which C2SP `signed-note` forbids.
    pub fn new(name: impl Into<String>, key: SigningKey) -> Result<Self, NoteError> {
        let name = valid_key_name(name.into())?;
        let key_id = key_id(&name, &key.verifying_key());
        Ok(Self { name, key_id, key })
    }

    /// The key name written on signature lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id: the first four bytes, big-endian, of
    /// `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The public verifier key string, `<name>+<key id as 8 hex>+<base64(0x01 ‖
    /// public key)>`, as Go's `note.NewVerifier` and other tools read it.
    pub fn verifier_key(&self) -> String {
        self.verifier().verifier_key()
    }

    /// The verifier matching this signer.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The signed note of a checkpoint: its body, a blank line and one
    /// signature line `— <name> <base64(key id ‖ Ed25519 signature)>`.
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        self.sign_text(&checkpoint.body())
    }

    /// Signs any note text ending in a newline.
    fn sign_text(&self, text: &str) -> String {
        let signature = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(4 + Signature::BYTE_SIZE);
        blob.extend_from_slice(&self.key_id.to_be_bytes());
        blob.extend_from_slice(&signature.to_bytes());
        format!(
            "{text}\n{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(blob)
        )
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // CAUTION: never print the private key.
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

/// Checks checkpoints signed by one Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses a verifier key string `<name>+<key id as 8 hex>+<base64(0x01 ‖
    /// 32-byte public key)>`, checking that the key id matches the name and
    /// key.
    pub fn parse(verifier_key: &str) -> Result<Self, NoteError> {
        let malformed = NoteError::MalformedVerifierKey;
        let (name, rest) = verifier_key
            .split_once('+')
            .ok_or(malformed("no `+` after the key name"))?;
        let (id_hex, key_b64) = rest
            .split_once('+')
            .ok_or(malformed("no `+` after the key id"))?;
        let name = valid_key_name(name.to_owned())?;
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed("key id is not 8 hexadecimal digits"));
        }
        let claimed_id =
            u32::from_str_radix(id_hex, 16).map_err(|_| malformed("key id is not hexadecimal"))?;
        let key = STANDARD
            .decode(key_b64)
            .map_err(|_| malformed("key is not standard base64"))?;
        if claimed_id != key_id_of_encoded(&name, &key) {
            return Err(NoteError::VerifierKeyIdMismatch);
        }
        let (&alg, public) = key.split_first().ok_or(malformed("empty key"))?;
        if alg != ALG_ED25519 {
            return Err(NoteError::UnsupportedAlgorithm(alg));
        }
        let public = <&[u8; 32]>::try_from(public)
            .map_err(|_| malformed("ed25519 public key is not 32 bytes"))?;
        let key = VerifyingKey::from_bytes(public)
            .map_err(|_| malformed("ed25519 public key is not a curve point"))?;
        Ok(Self {
            name,
            key_id: claimed_id,
            key,
        })
    }

    /// A verifier for the key name `name` and an Ed25519 public key.
    pub fn new(name: impl Into<String>, key: VerifyingKey) -> Result<Self, NoteError> {
        let name = valid_key_name(name.into())?;
        let key_id = key_id(&name, &key);
        Ok(Self { name, key_id, key })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id (see [`NoteSigner::key_id`]).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The verifier key string (see [`NoteSigner::verifier_key`]).
    pub fn verifier_key(&self) -> String {
        let mut encoded = Vec::with_capacity(33);
        encoded.push(ALG_ED25519);
        encoded.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(encoded)
        )
    }

    /// Opens a signed checkpoint note: checks the note format strictly, requires
    /// at least one signature line by this verifier's name and key id, verifies
    /// every such line, and parses the text as a checkpoint.
    ///
    /// Signature lines of other keys (witness cosignatures, a rotated key) are
    /// ignored, as C2SP requires. The checkpoint's origin is not compared with
    /// the key name; callers that expect a particular log check
    /// [`Checkpoint::origin`].
    pub fn open(&self, note: &str) -> Result<Checkpoint, NoteError> {
        Checkpoint::parse_body(self.verified_text(note)?)
    }

    /// The text of a signed note, once a signature by this key verifies.
    fn verified_text<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        let malformed = NoteError::Malformed;
        if note.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge(note.len()));
        }
        if note.chars().any(|c| c < ' ' && c != '\n') {
            return Err(malformed("control character"));
        }
        // The text ends at the last blank line; it keeps its final newline.
        let split = note
            .rfind("\n\n")
            .ok_or(malformed("no blank line before the signatures"))?;
        let (text, signatures) = note
            .split_at_checked(split + 1)
            .ok_or(malformed("no blank line before the signatures"))?;
        let signatures = signatures
            .strip_prefix('\n')
            .and_then(|s| s.strip_suffix('\n'))
            .filter(|s| !s.is_empty())
            .ok_or(malformed("signature lines do not end with a newline"))?;
        let mut verified = false;
        for (count, line) in signatures.split('\n').enumerate() {
            if count >= MAX_SIGNATURES {
                return Err(malformed("too many signatures"));
            }
            let (name, key_id, signature) = parse_signature_line(line)?;
            if name != self.name || key_id != self.key_id {
                continue;
            }
            let invalid = || NoteError::InvalidSignature {
                name: self.name.clone(),
                key_id: self.key_id,
            };
            let signature = Signature::from_slice(&signature).map_err(|_| invalid())?;
            self.key
                .verify_strict(text.as_bytes(), &signature)
                .map_err(|_| invalid())?;
            verified = true;
        }
        if !verified {
            return Err(NoteError::NotSigned {
                name: self.name.clone(),
                key_id: self.key_id,
            });
        }
        Ok(text)
    }
}

/// Splits `— <name> <base64(key id ‖ signature)>` into its name, key id and
/// signature bytes.
fn parse_signature_line(line: &str) -> Result<(&str, u32, Vec<u8>), NoteError> {
    let malformed = NoteError::Malformed;
    let line = line.strip_prefix(SIGNATURE_PREFIX).ok_or(malformed(
        "signature line does not start with an em dash and a space",
    ))?;
    let (name, b64) = line
        .split_once(' ')
        .ok_or(malformed("signature line has no space after the key name"))?;
    if !is_valid_key_name(name) {
        return Err(malformed("invalid key name on a signature line"));
    }
    let blob = STANDARD
        .decode(b64)
        .map_err(|_| malformed("signature is not standard base64"))?;
    match blob.split_first_chunk::<4>() {
        Some((id, signature)) if !signature.is_empty() => {
            Ok((name, u32::from_be_bytes(*id), signature.to_vec()))
        }
        _ => Err(malformed("signature is shorter than a key id and one byte")),
    }
}

/// `name` if C2SP `signed-note` allows it as a key name.
fn valid_key_name(name: String) -> Result<String, NoteError> {
    if is_valid_key_name(&name) {
        Ok(name)
    } else {
        Err(NoteError::InvalidKeyName(name))
    }
}

/// Non-empty, no Unicode white space, no `+` (Go's `isValidName`), and no
/// control character (forbidden anywhere in a note).
fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
}

fn key_id(name: &str, key: &VerifyingKey) -> u32 {
    let mut encoded = Vec::with_capacity(33);
    encoded.push(ALG_ED25519);
    encoded.extend_from_slice(key.as_bytes());
    key_id_of_encoded(name, &encoded)
}

/// `SHA-256(name ‖ 0x0A ‖ encoded key)[:4]` as a big-endian integer, where the
/// encoded key starts with its signature type byte.
fn key_id_of_encoded(name: &str, encoded_key: &[u8]) -> u32 {
    let digest: Hash = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update(encoded_key)
        .finalize()
        .into();
    let [a, b, c, d, ..] = digest;
    u32::from_be_bytes([a, b, c, d])
}

#[cfg(test)]
mod tests {
    use super::*;

    // Test vectors of golang.org/x/mod/sumdb/note `note_test.go`.
    const PETER_SIGNER_KEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VERIFIER_KEY: &str =
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const ENOCH_VERIFIER_KEY: &str =
        "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    // The Go checksum database's verifier key (cmd/go's built-in GOSUMDB key)
    // and one of its published signed tree heads (quoted in
    // transparency-dev/trillian-tessera `internal/parse` tests).
    const SUMDB_VERIFIER_KEY: &str =
        "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
    const SUMDB_NOTE: &str = "go.sum database tree\n31700353\nqINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=\n\n\u{2014} sum.golang.org Az3grnmrIUEDFqHzAElIQCPNoRFRAAdFo47fooyWKMHb89k11GJh5zHIfNCOBmwn/C3YI8oW9/C8DJ87F61QqspBYwM=\n";

    /// The signer of a Go `PRIVATE+KEY+<name>+<id>+<base64(0x01 ‖ seed)>` key.
    fn go_signer(skey: &str) -> NoteSigner {
        let parts: Vec<&str> = skey.splitn(5, '+').collect();
        assert_eq!(&parts[..2], ["PRIVATE", "KEY"]);
        let raw = STANDARD.decode(parts[4]).unwrap();
        assert_eq!(raw[0], ALG_ED25519);
        let seed: [u8; 32] = raw[1..].try_into().unwrap();
        let signer = NoteSigner::new(parts[2], SigningKey::from_bytes(&seed)).unwrap();
        assert_eq!(format!("{:08x}", signer.key_id()), parts[3]);
        signer
    }

    fn random_signer(name: &str) -> NoteSigner {
        NoteSigner::new(name, SigningKey::generate(&mut rand::rngs::OsRng)).unwrap()
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint::new("consentgate/test", 4711, [7; 32]).unwrap()
    }

    #[test]
    fn the_go_private_key_gives_the_go_key_id_and_verifier_key() {
        let signer = go_signer(PETER_SIGNER_KEY);
        assert_eq!(signer.name(), "PeterNeumann");
        assert_eq!(signer.key_id(), 0xc74f20a3);
        assert_eq!(signer.verifier_key(), PETER_VERIFIER_KEY);
        assert_eq!(
            NoteVerifier::parse(PETER_VERIFIER_KEY).unwrap(),
            signer.verifier()
        );
    }

    #[test]
    fn the_key_id_is_the_first_four_bytes_of_the_c2sp_key_hash() {
        // An independent computation of C2SP signed-note's key ID.
        let signer = random_signer("example.com/log");
        let public = signer.key.verifying_key().to_bytes();
        let mut input = b"example.com/log\n\x01".to_vec();
        input.extend_from_slice(&public);
        let digest = Sha256::digest(&input);
        let want = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        assert_eq!(signer.key_id(), want);
        let mut encoded = vec![0x01];
        encoded.extend_from_slice(&public);
        assert_eq!(
            signer.verifier_key(),
            format!(
                "example.com/log+{}+{}",
                hex::encode(&digest[..4]),
                STANDARD.encode(encoded)
            )
        );
    }

    #[test]
    fn signing_the_go_text_gives_the_go_signature() {
        let signer = go_signer(PETER_SIGNER_KEY);
        assert_eq!(signer.sign_text(GO_TEXT), format!("{GO_TEXT}\n{PETER_SIG}"));
    }

    #[test]
    fn the_go_note_opens_with_either_of_its_signers_and_ignores_the_other() {
        let note = format!("{GO_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        let peter = NoteVerifier::parse(PETER_VERIFIER_KEY).unwrap();
        let enoch = NoteVerifier::parse(ENOCH_VERIFIER_KEY).unwrap();
        assert_eq!(enoch.key_id(), 0xaf0cfe78);
        assert_eq!(peter.verified_text(&note), Ok(GO_TEXT));
        assert_eq!(enoch.verified_text(&note), Ok(GO_TEXT));
        // Its text is not a checkpoint.
        assert!(matches!(
            peter.open(&note),
            Err(NoteError::MalformedCheckpoint(_))
        ));
        // Duplicated lines, verified and unverified, are fine.
        let note = format!("{GO_TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}");
        assert_eq!(peter.verified_text(&note), Ok(GO_TEXT));
    }

    #[test]
    fn the_go_malformed_notes_are_refused() {
        let peter = NoteVerifier::parse(PETER_VERIFIER_KEY).unwrap();
        let sig = PETER_SIG.trim_end_matches('\n');
        let bad = [
            GO_TEXT.to_owned(),
            format!("{GO_TEXT}\n"),
            format!("{GO_TEXT}\n{sig}"),
            format!("\x01{GO_TEXT}\n{PETER_SIG}"),
            format!(
                "{GO_TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
            ),
            format!("{GO_TEXT}\n{PETER_SIG}Unexpected line.\n"),
            format!("{GO_TEXT}\n{}", PETER_SIG.repeat(101)),
        ];
        for note in bad {
            assert!(
                matches!(peter.verified_text(&note), Err(NoteError::Malformed(_))),
                "{note:?}"
            );
        }
        // A changed signature by the known key is an invalid signature.
        let (head, tail) = PETER_SIG.split_at(60);
        let note = format!("{GO_TEXT}\n{head}ABCD{tail}");
        assert_eq!(
            peter.verified_text(&note),
            Err(NoteError::InvalidSignature {
                name: "PeterNeumann".into(),
                key_id: 0xc74f20a3
            })
        );
        // A note signed by others only is not signed.
        let note = format!("{GO_TEXT}\n{ENOCH_SIG}");
        assert!(matches!(
            peter.verified_text(&note),
            Err(NoteError::NotSigned { .. })
        ));
    }

    #[test]
    fn every_mangling_of_the_go_verifier_key_is_refused() {
        let key = PETER_VERIFIER_KEY.as_bytes();
        for i in 0..=key.len() {
            for j in i + 1..=key.len() {
                if i == 0 && j == key.len() {
                    continue;
                }
                let part = std::str::from_utf8(&key[i..j]).unwrap();
                assert!(NoteVerifier::parse(part).is_err(), "{part}");
            }
        }
        for i in 0..key.len() {
            let mut changed = key.to_vec();
            changed[i] += 1;
            let changed = String::from_utf8(changed).unwrap();
            assert!(NoteVerifier::parse(&changed).is_err(), "{changed}");
        }
        // Go's own: a wrong-length key and an unknown algorithm, each with a
        // matching key id.
        assert!(matches!(
            NoteVerifier::parse(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            ),
            Err(NoteError::MalformedVerifierKey(_))
        ));
        assert_eq!(
            NoteVerifier::parse(
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(NoteError::UnsupportedAlgorithm(0x65))
        );
    }

    #[test]
    fn a_real_go_checksum_database_checkpoint_opens() {
        let sumdb = NoteVerifier::parse(SUMDB_VERIFIER_KEY).unwrap();
        let checkpoint = sumdb.open(SUMDB_NOTE).unwrap();
        assert_eq!(checkpoint.origin(), "go.sum database tree");
        assert_eq!(checkpoint.size(), 31700353);
        assert_eq!(
            STANDARD.encode(checkpoint.root()),
            "qINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs="
        );
        let changed = SUMDB_NOTE.replace("31700353", "31700354");
        assert!(matches!(
            sumdb.open(&changed),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn a_signed_checkpoint_has_the_c2sp_layout_and_opens() {
        let signer = random_signer("consentgate/test");
        let cp = checkpoint();
        let note = signer.sign(&cp);
        let root_b64 = STANDARD.encode([7u8; 32]);
        assert_eq!(cp.body(), format!("consentgate/test\n4711\n{root_b64}\n"));
        let (text, signature) = note.split_once("\n\n").unwrap();
        assert_eq!(format!("{text}\n"), cp.body());
        let line = signature.strip_suffix('\n').unwrap();
        let b64 = line.strip_prefix("\u{2014} consentgate/test ").unwrap();
        let blob = STANDARD.decode(b64).unwrap();
        assert_eq!(blob.len(), 68);
        assert_eq!(blob[..4], signer.key_id().to_be_bytes());
        assert_eq!(signer.verifier().open(&note), Ok(cp.clone()));
        let parsed = NoteVerifier::parse(&signer.verifier_key()).unwrap();
        assert_eq!(parsed.open(&note), Ok(cp));
    }

    #[test]
    fn the_empty_tree_checkpoint_round_trips() {
        let signer = random_signer("consentgate/test");
        let cp = Checkpoint::new("consentgate/test", 0, super::super::merkle::EMPTY_ROOT).unwrap();
        assert_eq!(signer.verifier().open(&signer.sign(&cp)), Ok(cp));
    }

    #[test]
    fn any_changed_byte_of_a_signed_checkpoint_is_refused() {
        let signer = random_signer("consentgate/test");
        let verifier = signer.verifier();
        let note = signer.sign(&checkpoint());
        for i in 0..note.len() {
            for mask in [0x01u8, 0x20] {
                let mut bytes = note.clone().into_bytes();
                bytes[i] ^= mask;
                // A change that breaks UTF-8 cannot even be handed over.
                if let Ok(changed) = String::from_utf8(bytes) {
                    assert!(verifier.open(&changed).is_err(), "byte {i} mask {mask:#x}");
                }
            }
        }
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_is_refused() {
        let note = random_signer("consentgate/test").sign(&checkpoint());
        let other = random_signer("consentgate/test").verifier();
        assert!(matches!(
            other.open(&note),
            Err(NoteError::NotSigned { .. })
        ));
        // Same name and key id but another key: the signature is checked and fails.
        let signer = random_signer("consentgate/test");
        let impostor = NoteVerifier {
            key: SigningKey::generate(&mut rand::rngs::OsRng).verifying_key(),
            ..signer.verifier()
        };
        assert!(matches!(
            impostor.open(&signer.sign(&checkpoint())),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn unknown_signatures_are_ignored_and_a_bad_known_one_is_not() {
        let signer = random_signer("consentgate/test");
        let witness = random_signer("witness.example/w1");
        let cp = checkpoint();
        let note = signer.sign(&cp);
        let witness_line = witness.sign(&cp).split_once("\n\n").unwrap().1.to_owned();
        let own_line = note.split_once("\n\n").unwrap().1.to_owned();
        let body = cp.body();
        for note in [
            format!("{body}\n{witness_line}{own_line}"),
            format!("{body}\n{own_line}{witness_line}"),
        ] {
            assert_eq!(signer.verifier().open(&note), Ok(cp.clone()));
        }
        let other = signer.sign(&Checkpoint::new("consentgate/test", 4712, [7; 32]).unwrap());
        let wrong_line = other.split_once("\n\n").unwrap().1;
        let note = format!("{body}\n{own_line}{wrong_line}");
        assert!(matches!(
            signer.verifier().open(&note),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn extension_lines_are_accepted_and_ignored() {
        let signer = random_signer("consentgate/test");
        let cp = checkpoint();
        let note = signer.sign_text(&format!("{}extension one\nextension two\n", cp.body()));
        assert_eq!(signer.verifier().open(&note), Ok(cp.clone()));
        let note = signer.sign_text(&format!("{}\nafter an empty line\n", cp.body()));
        assert!(matches!(
            signer.verifier().open(&note),
            Err(NoteError::MalformedCheckpoint(_))
        ));
    }

    #[test]
    fn malformed_checkpoint_bodies_are_refused() {
        let root = STANDARD.encode([1u8; 32]);
        let short_root = STANDARD.encode([1u8; 31]);
        for body in [
            format!("\n5\n{root}\n"),
            "origin\n5\n".to_owned(),
            "origin\n".to_owned(),
            format!("origin\n05\n{root}\n"),
            format!("origin\n-5\n{root}\n"),
            format!("origin\n+5\n{root}\n"),
            format!("origin\n\n{root}\n"),
            format!("origin\n18446744073709551616\n{root}\n"),
            format!("origin\n5\n{short_root}\n"),
            "origin\n5\nnot base64!\n".to_owned(),
            format!("origin\n5\n{}\n", root.trim_end_matches('=')),
        ] {
            assert!(
                matches!(
                    Checkpoint::parse_body(&body),
                    Err(NoteError::MalformedCheckpoint(_))
                ),
                "{body:?}"
            );
        }
        let max = format!("origin\n18446744073709551615\n{root}\n");
        assert_eq!(Checkpoint::parse_body(&max).unwrap().size(), u64::MAX);
    }

    #[test]
    fn the_c2sp_example_checkpoint_body_parses() {
        // C2SP tlog-checkpoint.md.
        let body =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let cp = Checkpoint::parse_body(body).unwrap();
        assert_eq!(cp.origin(), "example.com/behind-the-sofa");
        assert_eq!(cp.size(), 20852163);
        assert_eq!(cp.body(), body);
    }

    #[test]
    fn an_oversized_note_is_refused_before_anything_else() {
        let verifier = random_signer("consentgate/test").verifier();
        let note = "a".repeat(MAX_NOTE_SIZE + 1);
        assert_eq!(
            verifier.open(&note),
            Err(NoteError::TooLarge(MAX_NOTE_SIZE + 1))
        );
    }

    #[test]
    fn names_and_origins_that_would_break_the_format_are_refused() {
        let key = || SigningKey::generate(&mut rand::rngs::OsRng);
        for name in ["", "a b", "a+b", "a\tb", "a\nb", "a\u{a0}b", "a\u{2003}b"] {
            assert!(
                matches!(
                    NoteSigner::new(name, key()),
                    Err(NoteError::InvalidKeyName(_))
                ),
                "{name:?}"
            );
            assert!(NoteVerifier::new(name, key().verifying_key()).is_err());
        }
        for origin in ["", "a\nb", "a\rb"] {
            assert!(matches!(
                Checkpoint::new(origin, 1, [0; 32]),
                Err(NoteError::InvalidOrigin(_))
            ));
        }
        // Spaces are allowed in an origin (the Go checksum database has them).
        assert!(Checkpoint::new("go.sum database tree", 1, [0; 32]).is_ok());
    }

    #[test]
    fn the_signer_debug_output_hides_the_private_key() {
        let signer = go_signer(PETER_SIGNER_KEY);
        let debug = format!("{signer:?}");
        assert_eq!(
            debug,
            "NoteSigner { name: \"PeterNeumann\", key_id: c74f20a3, .. }"
        );
    }
}
