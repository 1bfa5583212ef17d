//! The pure, storage-independent building blocks of the tamper-evident audit
//! log (CONTRACT section 9, DESIGN section 5).
//!
//! - [`merkle`]: RFC 9162 Merkle tree hashes, roots, inclusion and consistency
//!   proofs and their verifiers, and the compact range used to append.
//! - [`jcs`]: RFC 8785 canonical JSON, the exact bytes of each leaf.
//! - [`jcs_check`]: whether bytes are exactly a canonical JSON text, checked in one pass
//!   without building a value (offline verification of exports).
//! - [`note`]: C2SP signed notes carrying `tlog-checkpoint` tree heads.
//!
//! Nothing here touches a database, a clock or the network, so the gateway, the
//! offline `audit verify` command and an auditor's tooling all share one
//! implementation.

pub mod jcs;
pub mod jcs_check;
pub mod merkle;
pub mod note;

pub use jcs::{JcsError, canonicalize, canonicalize_into, write_canonical, write_canonical_string};
pub use jcs_check::{CanonicalChecker, NotCanonical, check_canonical, check_canonical_prefix};
pub use merkle::{
    CompactRange, CompactRangeError, EMPTY_ROOT, Hash, NodeSource, ProofError, RootBuilder,
    consistency_proof, inclusion_proof, leaf_hash, node_hash, root, root_of_leaves,
    verify_consistency, verify_inclusion,
};
pub use note::{Checkpoint, NoteError, NoteSigner, NoteVerifier};
