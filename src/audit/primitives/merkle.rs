//! Merkle tree hashing of RFC 9162 (Certificate Transparency 2.0), section 2.1.
//!
//! The audit log is an append-only list of leaves. Its tree head (a root hash
//! and a size) commits to every leaf, inclusion proofs show one leaf is in a
//! tree head, and consistency proofs show an older tree head is a prefix of a
//! newer one. Everything here follows the RFC byte for byte, so proofs and roots
//! agree with other implementations (Go's transparency-dev/merkle, Trillian,
//! Tessera, Sigstore) and an auditor can check them with any of those tools.
//!
//! Storage is abstracted by [`NodeSource`]: a store keeps the hash of every
//! complete subtree, addressed by `(level, index)`, which [`CompactRange::append`]
//! reports as it completes them. With that, a root or a proof costs O(log n)
//! node reads whatever the tree size.

use sha2::{Digest, Sha256};
use thiserror::Error;

/// A SHA-256 digest: a leaf hash, an interior node hash or a root.
pub type Hash = [u8; 32];

/// The root of the empty tree, `SHA-256("")` (RFC 9162 section 2.1.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Where the hashes of complete subtrees come from (a database table, a cache,
/// memory).
///
/// A complete subtree is addressed by `(level, index)`: it covers the leaves
/// `[index * 2^level, (index + 1) * 2^level)`, and level 0 holds the leaf
/// hashes themselves. The functions of this module only ever ask for complete
/// subtrees that lie inside the tree size they were given.
pub trait NodeSource {
    /// Why a node could not be read (a database error, a missing row).
    type Error;

    /// The hash of the complete subtree at `(level, index)`.
    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// Why a proof could not be produced.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProofError<E> {
    /// The leaf asked about is not in the tree of that size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The leaf index asked about.
        index: u64,
        /// The tree size it was asked against.
        size: u64,
    },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    SizeDecreased {
        /// The size of the older tree.
        old_size: u64,
        /// The size of the newer tree.
        new_size: u64,
    },
    /// The node source failed.
    #[error("a tree node could not be read")]
    Source(#[source] E),
}

/// The hash of a leaf: `SHA-256(0x00 ‖ data)`.
///
/// The prefix byte separates leaves from interior nodes, so no leaf can be
/// passed off as a subtree (second preimage resistance, RFC 9162 section 2.1.1).
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0x00])
        .chain_update(data)
        .finalize()
        .into()
}

/// The hash of an interior node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut input = [0u8; 65];
    let (prefix, children) = input.split_at_mut(1);
    let (l, r) = children.split_at_mut(32);
    prefix.fill(0x01);
    l.copy_from_slice(left);
    r.copy_from_slice(right);
    Sha256::digest(input).into()
}

/// The Merkle tree hash (MTH) of the first `size` leaves.
///
/// Reads one node per set bit of `size`: the complete subtrees of its binary
/// decomposition, combined right to left.
pub fn root<S: NodeSource + ?Sized>(source: &S, size: u64) -> Result<Hash, S::Error> {
    if size == 0 {
        return Ok(EMPTY_ROOT);
    }
    range_hash(source, 0, size)
}

/// The inclusion proof (audit path) of leaf `index` in the tree of `size`
/// leaves, exactly `PATH(index, D[size])` of RFC 9162 section 2.1.3.1: sibling
/// hashes from the leaf up to the root.
///
/// Reads at most about 2·log2(size) nodes: every sibling is a complete subtree
/// except at most one on the right edge, which is assembled from the complete
/// subtrees of its decomposition.
pub fn inclusion_proof<S: NodeSource + ?Sized>(
    source: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // Walk from the root down to the leaf; PATH lists the siblings leaf first.
    let mut path = Vec::new();
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let k = largest_power_of_two_below(hi - lo);
        let split = lo + k;
        if index < split {
            path.push(range_hash(source, split, hi).map_err(ProofError::Source)?);
            hi = split;
        } else {
            path.push(range_hash(source, lo, split).map_err(ProofError::Source)?);
            lo = split;
        }
    }
    path.reverse();
    Ok(path)
}

/// The consistency proof from the tree of `old_size` leaves to the tree of
/// `new_size` leaves, exactly `PROOF(old_size, D[new_size])` of RFC 9162
/// section 2.1.4.1.
///
/// RFC 9162 defines the proof for `0 < old_size < new_size`. For
/// `old_size == new_size` and for `old_size == 0` this returns the empty proof,
/// as transparency-dev/merkle does: an equal tree proves itself, and the empty
/// tree is a prefix of every tree, so there is nothing to prove. The verifier
/// [`verify_consistency`] accepts exactly these empty proofs.
pub fn consistency_proof<S: NodeSource + ?Sized>(
    source: &S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if old_size > new_size {
        return Err(ProofError::SizeDecreased { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[lo:hi], whole) with m = old_size - lo, walked from the root
    // down; the proof lists the deepest hash first.
    let mut proof = Vec::new();
    let (mut lo, mut hi) = (0u64, new_size);
    let mut whole = true;
    loop {
        if old_size == hi {
            if !whole {
                proof.push(range_hash(source, lo, hi).map_err(ProofError::Source)?);
            }
            break;
        }
        // INVARIANT: lo < old_size < hi, so the range has at least two leaves.
        let k = largest_power_of_two_below(hi - lo);
        let split = lo + k;
        if old_size <= split {
            proof.push(range_hash(source, split, hi).map_err(ProofError::Source)?);
            hi = split;
        } else {
            proof.push(range_hash(source, lo, split).map_err(ProofError::Source)?);
            lo = split;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Whether `proof` shows that the leaf with hash `leaf_hash` is leaf `index` of
/// the tree of `size` leaves whose root is `root`: the verification algorithm
/// of RFC 9162 section 2.1.3.2.
///
/// A proof with a hash too many or too few fails.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// Whether `proof` shows that the tree of `old_size` leaves with root
/// `old_root` is a prefix of the tree of `new_size` leaves with root
/// `new_root`: the verification algorithm of RFC 9162 section 2.1.4.2.
///
/// The cases RFC 9162 leaves open are decided as [`consistency_proof`] produces
/// them: equal sizes need an empty proof and equal roots; `old_size == 0` needs
/// an empty proof and `old_root` equal to [`EMPTY_ROOT`] (any new tree extends
/// the empty one). A shrinking tree never verifies.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty() && *old_root == EMPTY_ROOT;
    }
    // Step 1: a non-trivial consistency proof is never empty.
    let Some((first, rest)) = proof.split_first() else {
        return false;
    };
    // Step 2: when the old tree is a complete subtree, its root is the first
    // hash of the path and the proof leaves it out.
    let (seed, path) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (first, rest)
    };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && fr == *old_root && sr == *new_root
}

/// The Merkle tree hash of a list of leaf hashes, computed directly from the
/// recursive definition of RFC 9162 section 2.1.1.
///
/// Needs every leaf in memory; for long logs stream them through
/// [`RootBuilder`] instead. Kept as the reference the incremental code is
/// tested against.
pub fn root_of_leaves(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => EMPTY_ROOT,
        [leaf] => *leaf,
        _ => {
            let k = 1usize << (usize::BITS - 1 - (leaves.len() - 1).leading_zeros());
            match leaves.split_at_checked(k) {
                Some((left, right)) => node_hash(&root_of_leaves(left), &root_of_leaves(right)),
                // INVARIANT: k < leaves.len(), so the split always exists.
                None => EMPTY_ROOT,
            }
        }
    }
}

/// Why a [`CompactRange`] could not be restored.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CompactRangeError {
    /// The number of peaks does not match the size.
    #[error("a tree of {size} leaves has {expected} peaks, not {actual}")]
    PeakCount {
        /// The tree size given.
        size: u64,
        /// How many peaks that size has (its number of set bits).
        expected: usize,
        /// How many peaks were given.
        actual: usize,
    },
}

/// The right edge of a growing tree: everything needed to append leaves and to
/// compute the root, in O(log n) memory.
///
/// The peaks are the roots of the complete subtrees of the binary
/// decomposition of `size`, largest (leftmost) first; a tree of 13 leaves
/// (0b1101) has peaks of 8, 4 and 1 leaves. Persisting `size` and `peaks` (or
/// re-reading the peaks from a [`NodeSource`]) is enough to resume appending
/// after a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    // INVARIANT: peaks.len() == size.count_ones(), peaks[i] is the root of the
    // i-th complete subtree of size's decomposition, largest first.
    peaks: Vec<Hash>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Restores a range from its persisted parts.
    ///
    /// Fails when the number of peaks is not the number of set bits of `size`;
    /// whether the peaks are the right hashes cannot be checked here, that is
    /// what comparing [`CompactRange::root`] with a signed checkpoint is for.
    pub fn from_parts(size: u64, peaks: Vec<Hash>) -> Result<Self, CompactRangeError> {
        let expected = size.count_ones() as usize;
        if peaks.len() != expected {
            return Err(CompactRangeError::PeakCount {
                size,
                expected,
                actual: peaks.len(),
            });
        }
        Ok(Self { size, peaks })
    }

    /// Restores the range of a tree of `size` leaves from a node source,
    /// reading one node per peak.
    pub fn from_source<S: NodeSource + ?Sized>(source: &S, size: u64) -> Result<Self, S::Error> {
        let mut peaks = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        for level in (0..u64::BITS).rev() {
            let width = 1u64 << level;
            if size & width != 0 {
                peaks.push(source.node(level, start >> level)?);
                start += width;
            }
        }
        Ok(Self { size, peaks })
    }

    /// The number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The roots of the complete subtrees of the decomposition of
    /// [`CompactRange::size`], largest first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Appends a leaf hash, calling `on_complete(level, index, hash)` for every
    /// complete subtree the append completes: the leaf itself at level 0, then
    /// each subtree formed by merging with the peaks to its left, lowest first.
    ///
    /// Storing every reported node gives a [`NodeSource`] for the whole tree.
    pub fn append(&mut self, leaf: Hash, on_complete: impl FnMut(u32, u64, &Hash)) {
        self.append_with(leaf, on_complete);
    }

    /// The Merkle tree hash of the leaves appended so far.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return EMPTY_ROOT;
        };
        peaks.fold(*last, |right, left| node_hash(left, &right))
    }

    /// The body of [`CompactRange::append`], generic over the callback so that a
    /// no-op callback compiles away in [`RootBuilder`].
    fn append_with<F: FnMut(u32, u64, &Hash)>(&mut self, leaf: Hash, mut on_complete: F) {
        let mut index = self.size;
        let mut level = 0u32;
        let mut hash = leaf;
        on_complete(level, index, &hash);
        // Each set low bit of the old size is a peak of the same width as the
        // subtree built so far, directly to its left: merge them.
        while index & 1 == 1 {
            let Some(left) = self.peaks.pop() else {
                // INVARIANT: one peak per set bit of size, so never reached.
                break;
            };
            hash = node_hash(&left, &hash);
            index >>= 1;
            level += 1;
            on_complete(level, index, &hash);
        }
        self.peaks.push(hash);
        // CAUTION: a log of 2^64 leaves cannot be reached (584 years at a
        // billion appends a second), so the size is not checked for overflow.
        self.size += 1;
    }
}

/// A streaming root computation for offline verification: feed every leaf of
/// an export in order and read the root at any size.
///
/// Memory is O(log n) and each leaf costs one leaf hash plus, on average, one
/// node hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootBuilder {
    range: CompactRange,
}

impl RootBuilder {
    /// A builder for the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf given its input (the bytes of one record).
    pub fn push_leaf_input(&mut self, data: &[u8]) {
        self.push_leaf_hash(leaf_hash(data));
    }

    /// Appends a leaf given its hash.
    pub fn push_leaf_hash(&mut self, leaf: Hash) {
        self.range.append_with(leaf, |_, _, _| {});
    }

    /// The number of leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.range.size()
    }

    /// The Merkle tree hash of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        self.range.root()
    }

    /// The right edge reached, to go on appending with node callbacks.
    pub fn into_compact_range(self) -> CompactRange {
        self.range
    }
}

/// The MTH of the leaves `[start, end)`, read from the complete subtrees of the
/// decomposition of `end - start`, combined right to left.
///
/// Requires `start < end` and `start` to be a multiple of the largest power of
/// two not above `end - start`, which holds for every range the RFC 9162
/// recursion visits.
fn range_hash<S: NodeSource + ?Sized>(source: &S, start: u64, end: u64) -> Result<Hash, S::Error> {
    let mut remaining = end - start;
    let mut right_end = end;
    let mut acc: Option<Hash> = None;
    while remaining != 0 {
        let level = remaining.trailing_zeros();
        let width = 1u64 << level;
        right_end -= width;
        let piece = source.node(level, right_end >> level)?;
        acc = Some(match acc {
            None => piece,
            Some(right) => node_hash(&piece, &right),
        });
        remaining -= width;
    }
    Ok(acc.unwrap_or(EMPTY_ROOT))
}

/// The largest power of two strictly below `n` (the `k` of RFC 9162), for
/// `n >= 2`.
fn largest_power_of_two_below(n: u64) -> u64 {
    1u64 << (u64::BITS - 1 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::cell::Cell;
    use std::collections::HashMap;

    /// An in-memory node store filled from [`CompactRange::append`] callbacks.
    #[derive(Default)]
    struct MemoryTree {
        nodes: HashMap<(u32, u64), Hash>,
        leaves: Vec<Hash>,
        range: CompactRange,
        reads: Cell<usize>,
    }

    #[derive(Debug, PartialEq, Eq)]
    struct MissingNode(u32, u64);

    impl MemoryTree {
        fn with_leaves(n: u64) -> Self {
            let mut tree = Self::default();
            for i in 0..n {
                tree.push(leaf_hash(&i.to_be_bytes()));
            }
            tree
        }

        fn from_inputs(inputs: &[Vec<u8>]) -> Self {
            let mut tree = Self::default();
            for input in inputs {
                tree.push(leaf_hash(input));
            }
            tree
        }

        fn push(&mut self, leaf: Hash) {
            let nodes = &mut self.nodes;
            self.range.append(leaf, |level, index, hash| {
                assert!(nodes.insert((level, index), *hash).is_none());
            });
            self.leaves.push(leaf);
        }

        fn root_at(&self, size: u64) -> Hash {
            root_of_leaves(&self.leaves[..size as usize])
        }
    }

    impl NodeSource for MemoryTree {
        type Error = MissingNode;

        fn node(&self, level: u32, index: u64) -> Result<Hash, MissingNode> {
            self.reads.set(self.reads.get() + 1);
            self.nodes
                .get(&(level, index))
                .copied()
                .ok_or(MissingNode(level, index))
        }
    }

    fn h(hex_str: &str) -> Hash {
        hex::decode(hex_str).unwrap().try_into().unwrap()
    }

    /// transparency-dev/merkle `testonly/constants.go` `LeafInputs()`.
    fn vector_inputs() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|s| hex::decode(s).unwrap())
        .collect()
    }

    /// transparency-dev/merkle `testonly/constants.go` `RootHashes()`, by size.
    const VECTOR_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// transparency-dev/merkle `testonly/constants.go` `NodeHashes()`:
    /// `VECTOR_NODES[level][index]`.
    const VECTOR_NODES: [&[&str]; 4] = [
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ],
        &[
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ],
        &[
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
        &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
    ];

    /// transparency-dev/merkle `proof/verify_test.go` `inclusionProofs`:
    /// (1-based leaf, size, proof).
    fn vector_inclusion_proofs() -> Vec<(u64, u64, Vec<Hash>)> {
        vec![
            (1, 1, vec![]),
            (
                1,
                8,
                vec![
                    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
                ],
            ),
            (
                6,
                8,
                vec![
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                    h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
            (
                3,
                3,
                vec![h(
                    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                )],
            ),
            (
                2,
                5,
                vec![
                    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                ],
            ),
        ]
    }

    /// transparency-dev/merkle `proof/verify_test.go` `consistencyProofs`:
    /// (old size, new size, proof).
    fn vector_consistency_proofs() -> Vec<(u64, u64, Vec<Hash>)> {
        vec![
            (1, 1, vec![]),
            (
                1,
                8,
                vec![
                    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
                ],
            ),
            (
                6,
                8,
                vec![
                    h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                    h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
            (
                2,
                5,
                vec![
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                ],
            ),
            (
                6,
                7,
                vec![
                    h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                    h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
        ]
    }

    fn flip(hash: &Hash, bit: usize) -> Hash {
        let mut out = *hash;
        out[bit / 8] ^= 1 << (bit % 8);
        out
    }

    #[test]
    fn the_empty_root_is_the_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, <Hash>::from(Sha256::digest(b"")));
        assert_eq!(hex::encode(EMPTY_ROOT), VECTOR_ROOTS[0]);
        assert_eq!(root_of_leaves(&[]), EMPTY_ROOT);
        assert_eq!(CompactRange::new().root(), EMPTY_ROOT);
        assert_eq!(root(&MemoryTree::default(), 0), Ok(EMPTY_ROOT));
    }

    #[test]
    fn leaf_and_node_hashes_use_the_rfc_9162_prefixes() {
        let mut leaf_input = vec![0x00];
        leaf_input.extend_from_slice(b"record");
        assert_eq!(
            leaf_hash(b"record"),
            <Hash>::from(Sha256::digest(&leaf_input))
        );
        let (l, r) = (leaf_hash(b"l"), leaf_hash(b"r"));
        let mut node_input = vec![0x01];
        node_input.extend_from_slice(&l);
        node_input.extend_from_slice(&r);
        assert_eq!(node_hash(&l, &r), <Hash>::from(Sha256::digest(&node_input)));
    }

    #[test]
    fn roots_match_the_transparency_dev_vectors_for_every_size() {
        let inputs = vector_inputs();
        let leaves: Vec<Hash> = inputs.iter().map(|i| leaf_hash(i)).collect();
        let tree = MemoryTree::from_inputs(&inputs);
        let mut range = CompactRange::new();
        let mut builder = RootBuilder::new();
        for (size, want) in VECTOR_ROOTS.iter().enumerate() {
            let want = h(want);
            assert_eq!(
                root_of_leaves(&leaves[..size]),
                want,
                "root_of_leaves {size}"
            );
            assert_eq!(root(&tree, size as u64), Ok(want), "root {size}");
            assert_eq!(range.root(), want, "compact range {size}");
            assert_eq!(builder.root(), want, "builder {size}");
            if let Some(input) = inputs.get(size) {
                range.append(leaf_hash(input), |_, _, _| {});
                builder.push_leaf_input(input);
            }
        }
    }

    #[test]
    fn appending_reports_exactly_the_vector_node_hashes() {
        let tree = MemoryTree::from_inputs(&vector_inputs());
        let expected: usize = VECTOR_NODES.iter().map(|level| level.len()).sum();
        assert_eq!(tree.nodes.len(), expected);
        for (level, hashes) in VECTOR_NODES.iter().enumerate() {
            for (index, want) in hashes.iter().enumerate() {
                assert_eq!(
                    tree.nodes.get(&(level as u32, index as u64)),
                    Some(&h(want)),
                    "node ({level}, {index})"
                );
            }
        }
    }

    #[test]
    fn peaks_match_the_transparency_dev_compact_trees() {
        // testonly `CompactTrees()`, as (level, index) into NodeHashes().
        let compact: [&[(usize, usize)]; 9] = [
            &[],
            &[(0, 0)],
            &[(1, 0)],
            &[(1, 0), (0, 2)],
            &[(2, 0)],
            &[(2, 0), (0, 4)],
            &[(2, 0), (1, 2)],
            &[(2, 0), (1, 2), (0, 6)],
            &[(3, 0)],
        ];
        let inputs = vector_inputs();
        let mut range = CompactRange::new();
        for (size, want) in compact.iter().enumerate() {
            let want: Vec<Hash> = want.iter().map(|&(l, i)| h(VECTOR_NODES[l][i])).collect();
            assert_eq!(range.peaks(), want.as_slice(), "size {size}");
            if let Some(input) = inputs.get(size) {
                range.append(leaf_hash(input), |_, _, _| {});
            }
        }
    }

    /// transparency-dev/merkle `proof/verify_test.go` `sha256SomeHash`.
    const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

    #[test]
    fn inclusion_proofs_match_the_transparency_dev_vectors() {
        let tree = MemoryTree::from_inputs(&vector_inputs());
        for (leaf, size, want) in vector_inclusion_proofs() {
            let index = leaf - 1;
            assert_eq!(
                inclusion_proof(&tree, index, size),
                Ok(want.clone()),
                "{leaf} {size}"
            );
            let root = h(VECTOR_ROOTS[size as usize]);
            let leaf_hash = tree.leaves[index as usize];
            assert!(verify_inclusion(&leaf_hash, index, size, &want, &root));

            // The corruptions of `corruptInclusionProof` in verify_test.go.
            let (some, garbage) = (h(SOME_HASH), [0u8; 32]);
            let v = |leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash| {
                verify_inclusion(leaf, index, size, proof, root)
            };
            assert!(!v(&leaf_hash, index.wrapping_sub(1), size, &want, &root));
            assert!(!v(&leaf_hash, index + 1, size, &want, &root));
            assert!(!v(&leaf_hash, index ^ 2, size, &want, &root));
            assert!(!v(&leaf_hash, index, size * 2, &want, &root));
            assert!(!v(&leaf_hash, index, size / 2, &want, &root));
            assert!(!v(&garbage, index, size, &want, &root));
            assert!(!v(&leaf_hash, index, size, &want, &EMPTY_ROOT));
            assert!(!v(&leaf_hash, index, size, &want, &some));
            for extra in [garbage, root] {
                let trailing = [want.as_slice(), &[extra]].concat();
                let preceding = [&[extra], want.as_slice()].concat();
                assert!(!v(&leaf_hash, index, size, &trailing, &root));
                assert!(!v(&leaf_hash, index, size, &preceding, &root));
            }
            for i in 0..want.len() {
                let mut bad = want.clone();
                bad[i][0] ^= 8;
                assert!(!v(&leaf_hash, index, size, &bad, &root));
            }
            if let Some((_, rest)) = want.split_last() {
                assert!(!v(&leaf_hash, index, size, rest, &root));
            }
            if want.len() > 1 {
                let inserted = [&[want[0], some], &want[1..]].concat();
                assert!(!v(&leaf_hash, index, size, &inserted, &root));
            }
        }
    }

    #[test]
    fn consistency_proofs_match_the_transparency_dev_vectors() {
        let tree = MemoryTree::from_inputs(&vector_inputs());
        for (old, new, want) in vector_consistency_proofs() {
            assert_eq!(
                consistency_proof(&tree, old, new),
                Ok(want.clone()),
                "{old} {new}"
            );
            let (r1, r2) = (h(VECTOR_ROOTS[old as usize]), h(VECTOR_ROOTS[new as usize]));
            assert!(verify_consistency(old, new, &r1, &r2, &want));
            if want.is_empty() {
                continue;
            }

            // The corruptions of `corruptConsistencyProof` in verify_test.go.
            let (wrong, garbage) = (h(SOME_HASH), [0u8; 32]);
            let v = |old: u64, new: u64, r1: &Hash, r2: &Hash, proof: &[Hash]| {
                verify_consistency(old, new, r1, r2, proof)
            };
            assert!(!v(old - 1, new, &r1, &r2, &want));
            assert!(!v(old + 1, new, &r1, &r2, &want));
            assert!(!v(old ^ 2, new, &r1, &r2, &want));
            assert!(!v(old, new * 2, &r1, &r2, &want));
            assert!(!v(old, new / 2, &r1, &r2, &want));
            assert!(!v(old, new, &wrong, &r2, &want));
            assert!(!v(old, new, &r1, &wrong, &want));
            assert!(!v(old, new, &r2, &r1, &want));
            assert!(!v(old, new, &r1, &r2, &[]));
            for extra in [garbage, r1, r2] {
                let trailing = [want.as_slice(), &[extra]].concat();
                let preceding = [&[extra], want.as_slice()].concat();
                assert!(!v(old, new, &r1, &r2, &trailing));
                assert!(!v(old, new, &r1, &r2, &preceding));
            }
            let preceding = [&[want[0]], want.as_slice()].concat();
            assert!(!v(old, new, &r1, &r2, &preceding));
            assert!(!v(old, new, &r1, &r2, &want[..want.len() - 1]));
            for i in 0..want.len() {
                let mut bad = want.clone();
                bad[i][0] ^= 16;
                assert!(!v(old, new, &r1, &r2, &bad));
            }
        }
    }

    #[test]
    fn inclusion_proofs_round_trip_for_every_leaf_of_trees_up_to_70() {
        let tree = MemoryTree::with_leaves(70);
        for size in 1..=70u64 {
            let root_hash = tree.root_at(size);
            assert_eq!(root(&tree, size), Ok(root_hash));
            for index in 0..size {
                let proof = inclusion_proof(&tree, index, size).unwrap();
                let leaf = tree.leaves[index as usize];
                assert!(
                    verify_inclusion(&leaf, index, size, &proof, &root_hash),
                    "{index} {size}"
                );
                // The same proof says nothing about the neighbouring leaf.
                // (A wrong size can verify: RFC 9162 proofs bind the size only
                // through the signed root.)
                if index + 1 < size {
                    assert!(!verify_inclusion(
                        &leaf,
                        index + 1,
                        size,
                        &proof,
                        &root_hash
                    ));
                }
            }
        }
    }

    #[test]
    fn consistency_proofs_round_trip_for_every_pair_of_sizes_up_to_70() {
        let tree = MemoryTree::with_leaves(70);
        for new in 0..=70u64 {
            let new_root = tree.root_at(new);
            for old in 0..=new {
                let old_root = tree.root_at(old);
                let proof = consistency_proof(&tree, old, new).unwrap();
                assert!(
                    verify_consistency(old, new, &old_root, &new_root, &proof),
                    "{old} {new}"
                );
                if old < new {
                    assert!(!verify_consistency(old, new, &new_root, &old_root, &proof));
                }
            }
        }
    }

    #[test]
    fn proofs_round_trip_in_random_larger_trees() {
        let mut rng = StdRng::seed_from_u64(9162);
        let tree = MemoryTree::with_leaves(5000);
        for _ in 0..60 {
            let size = rng.gen_range(1..=5000u64);
            let index = rng.gen_range(0..size);
            let old = rng.gen_range(0..=size);
            let new_root = tree.root_at(size);
            let old_root = tree.root_at(old);
            assert_eq!(root(&tree, size), Ok(new_root));
            let proof = inclusion_proof(&tree, index, size).unwrap();
            let leaf = tree.leaves[index as usize];
            assert!(verify_inclusion(&leaf, index, size, &proof, &new_root));
            let proof = consistency_proof(&tree, old, size).unwrap();
            assert!(verify_consistency(old, size, &old_root, &new_root, &proof));
        }
    }

    #[test]
    fn proofs_read_a_logarithmic_number_of_nodes() {
        let tree = MemoryTree::with_leaves(4097);
        let reads = |f: &dyn Fn()| {
            tree.reads.set(0);
            f();
            tree.reads.get()
        };
        // log2(4097) rounds up to 13; at most one right-edge sibling adds its
        // own decomposition.
        for size in [1, 2, 3, 1000, 2047, 2048, 4095, 4096, 4097] {
            assert!(reads(&|| drop(root(&tree, size))) <= 13);
            for index in [0, size / 3, size - 1] {
                assert!(reads(&|| drop(inclusion_proof(&tree, index, size))) <= 26);
            }
            for old in [1, size / 2, size - 1] {
                assert!(reads(&|| drop(consistency_proof(&tree, old, size))) <= 26);
            }
        }
    }

    #[test]
    fn every_single_bit_flip_breaks_an_inclusion_proof() {
        let tree = MemoryTree::with_leaves(40);
        let cases = (1..=12u64)
            .flat_map(|size| (0..size).map(move |index| (index, size)))
            .chain([(0, 40), (13, 40), (31, 40), (39, 40), (32, 33)]);
        for (index, size) in cases {
            let root_hash = tree.root_at(size);
            let leaf = tree.leaves[index as usize];
            let proof = inclusion_proof(&tree, index, size).unwrap();
            for bit in 0..256 {
                assert!(!verify_inclusion(
                    &flip(&leaf, bit),
                    index,
                    size,
                    &proof,
                    &root_hash
                ));
                assert!(!verify_inclusion(
                    &leaf,
                    index,
                    size,
                    &proof,
                    &flip(&root_hash, bit)
                ));
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i] = flip(&bad[i], bit);
                    assert!(!verify_inclusion(&leaf, index, size, &bad, &root_hash));
                }
            }
        }
    }

    #[test]
    fn every_single_bit_flip_breaks_a_consistency_proof() {
        let tree = MemoryTree::with_leaves(40);
        let cases = (1..=12u64)
            .flat_map(|new| (1..new).map(move |old| (old, new)))
            .chain([(1, 40), (8, 40), (13, 40), (32, 40), (39, 40)]);
        for (old, new) in cases {
            let (old_root, new_root) = (tree.root_at(old), tree.root_at(new));
            let proof = consistency_proof(&tree, old, new).unwrap();
            for bit in 0..256 {
                assert!(!verify_consistency(
                    old,
                    new,
                    &flip(&old_root, bit),
                    &new_root,
                    &proof
                ));
                assert!(!verify_consistency(
                    old,
                    new,
                    &old_root,
                    &flip(&new_root, bit),
                    &proof
                ));
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i] = flip(&bad[i], bit);
                    assert!(
                        !verify_consistency(old, new, &old_root, &new_root, &bad),
                        "{old} {new}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_proof_with_a_missing_or_extra_hash_fails() {
        let tree = MemoryTree::with_leaves(40);
        let garbage = leaf_hash(b"garbage");
        for size in 1..=40u64 {
            let root_hash = tree.root_at(size);
            for index in 0..size {
                let leaf = tree.leaves[index as usize];
                let proof = inclusion_proof(&tree, index, size).unwrap();
                for extra in [garbage, root_hash, leaf] {
                    let mut longer = proof.clone();
                    longer.push(extra);
                    assert!(!verify_inclusion(&leaf, index, size, &longer, &root_hash));
                    let mut longer = vec![extra];
                    longer.extend_from_slice(&proof);
                    assert!(!verify_inclusion(&leaf, index, size, &longer, &root_hash));
                }
                if let Some((_, shorter)) = proof.split_last() {
                    assert!(!verify_inclusion(&leaf, index, size, shorter, &root_hash));
                    assert!(!verify_inclusion(
                        &leaf,
                        index,
                        size,
                        &proof[1..],
                        &root_hash
                    ));
                }
            }
            for old in 1..size {
                let old_root = tree.root_at(old);
                let proof = consistency_proof(&tree, old, size).unwrap();
                for extra in [garbage, old_root, root_hash, proof[0]] {
                    let mut longer = proof.clone();
                    longer.push(extra);
                    assert!(!verify_consistency(
                        old, size, &old_root, &root_hash, &longer
                    ));
                    let mut longer = vec![extra];
                    longer.extend_from_slice(&proof);
                    assert!(!verify_consistency(
                        old, size, &old_root, &root_hash, &longer
                    ));
                }
                assert!(!verify_consistency(old, size, &old_root, &root_hash, &[]));
                if let Some((_, shorter)) = proof.split_last() {
                    assert!(!verify_consistency(
                        old, size, &old_root, &root_hash, shorter
                    ));
                    assert!(!verify_consistency(
                        old,
                        size,
                        &old_root,
                        &root_hash,
                        &proof[1..]
                    ));
                }
            }
        }
    }

    #[test]
    fn degenerate_consistency_cases_follow_the_documented_rules() {
        let tree = MemoryTree::with_leaves(5);
        let r = |n: u64| tree.root_at(n);
        let junk = leaf_hash(b"junk");
        // Equal sizes: empty proof, equal roots.
        assert_eq!(consistency_proof(&tree, 3, 3), Ok(vec![]));
        assert!(verify_consistency(3, 3, &r(3), &r(3), &[]));
        assert!(!verify_consistency(3, 3, &r(3), &r(4), &[]));
        assert!(!verify_consistency(3, 3, &r(3), &r(3), &[junk]));
        assert!(verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]));
        assert!(!verify_consistency(0, 0, &EMPTY_ROOT, &junk, &[]));
        // From the empty tree: empty proof, the empty root.
        assert_eq!(consistency_proof(&tree, 0, 5), Ok(vec![]));
        assert!(verify_consistency(0, 5, &EMPTY_ROOT, &r(5), &[]));
        assert!(!verify_consistency(0, 5, &junk, &r(5), &[]));
        assert!(!verify_consistency(0, 5, &EMPTY_ROOT, &r(5), &[EMPTY_ROOT]));
        // Shrinking never verifies.
        assert_eq!(
            consistency_proof(&tree, 4, 3),
            Err(ProofError::SizeDecreased {
                old_size: 4,
                new_size: 3
            })
        );
        assert!(!verify_consistency(4, 3, &r(4), &r(3), &[]));
    }

    #[test]
    fn inclusion_is_refused_outside_the_tree() {
        let tree = MemoryTree::with_leaves(5);
        assert_eq!(
            inclusion_proof(&tree, 5, 5),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            inclusion_proof(&tree, 0, 0),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
        let leaf = tree.leaves[0];
        assert!(!verify_inclusion(&leaf, 0, 0, &[], &EMPTY_ROOT));
        assert!(!verify_inclusion(&leaf, 1, 1, &[], &leaf));
        assert!(verify_inclusion(&leaf, 0, 1, &[], &leaf));
    }

    #[test]
    fn source_errors_are_passed_on() {
        let tree = MemoryTree::with_leaves(5);
        assert_eq!(root(&tree, 6), Err(MissingNode(1, 2)));
        assert!(matches!(
            inclusion_proof(&tree, 0, 8),
            Err(ProofError::Source(_))
        ));
        assert!(matches!(
            consistency_proof(&tree, 2, 8),
            Err(ProofError::Source(_))
        ));
    }

    #[test]
    fn compact_range_roots_equal_the_recursive_definition_up_to_300() {
        let mut range = CompactRange::new();
        let mut leaves = Vec::new();
        for size in 0..=300u64 {
            assert_eq!(range.size(), size);
            assert_eq!(range.peaks().len(), size.count_ones() as usize);
            assert_eq!(range.root(), root_of_leaves(&leaves), "size {size}");
            let leaf = leaf_hash(format!("record {size}").as_bytes());
            leaves.push(leaf);
            range.append(leaf, |_, _, _| {});
        }
    }

    #[test]
    fn compact_range_survives_persist_and_restore() {
        let tree = MemoryTree::with_leaves(300);
        let mut range = CompactRange::new();
        for (size, leaf) in tree.leaves.iter().enumerate() {
            let size = size as u64;
            let restored = CompactRange::from_parts(size, range.peaks().to_vec()).unwrap();
            assert_eq!(restored, range);
            assert_eq!(CompactRange::from_source(&tree, size), Ok(range.clone()));
            // Resume from the restored copy and check it keeps agreeing.
            range = restored;
            let mut reported = Vec::new();
            range.append(*leaf, |level, index, hash| {
                reported.push((level, index, *hash))
            });
            for (level, index, hash) in reported {
                assert_eq!(tree.nodes.get(&(level, index)), Some(&hash));
            }
            assert_eq!(range.root(), tree.root_at(size + 1));
        }
    }

    #[test]
    fn append_reports_every_subtree_it_completes_lowest_first() {
        let mut range = CompactRange::from_parts(7, vec![[1; 32], [2; 32], [3; 32]]).unwrap();
        let mut reported = Vec::new();
        range.append([4; 32], |level, index, _| reported.push((level, index)));
        assert_eq!(reported, vec![(0, 7), (1, 3), (2, 1), (3, 0)]);
        assert_eq!(range.size(), 8);
        assert_eq!(range.peaks().len(), 1);
    }

    #[test]
    fn from_parts_refuses_a_peak_count_that_does_not_fit_the_size() {
        assert_eq!(
            CompactRange::from_parts(5, vec![[0; 32]]),
            Err(CompactRangeError::PeakCount {
                size: 5,
                expected: 2,
                actual: 1
            })
        );
        assert!(CompactRange::from_parts(0, vec![[0; 32]]).is_err());
        assert_eq!(CompactRange::from_parts(0, vec![]), Ok(CompactRange::new()));
    }

    #[test]
    fn root_builder_agrees_with_the_recursive_definition() {
        let mut builder = RootBuilder::new();
        let mut leaves = Vec::new();
        for i in 0..300u32 {
            let input = i.to_le_bytes();
            builder.push_leaf_input(&input);
            leaves.push(leaf_hash(&input));
            assert_eq!(builder.size(), u64::from(i) + 1);
            assert_eq!(builder.root(), root_of_leaves(&leaves));
        }
        let range = builder.into_compact_range();
        assert_eq!(range.root(), root_of_leaves(&leaves));
    }

    #[test]
    #[ignore = "throughput measurement: cargo test --release -- --ignored --nocapture"]
    fn root_builder_throughput() {
        const N: u64 = 4_000_000;
        let hashes: Vec<Hash> = (0..N).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let start = std::time::Instant::now();
        let mut builder = RootBuilder::new();
        for leaf in &hashes {
            builder.push_leaf_hash(*leaf);
        }
        let root_hash = builder.root();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "push_leaf_hash: {:.0} leaves/s ({})",
            N as f64 / secs,
            hex::encode(root_hash)
        );

        // A realistic record: about 300 bytes of canonical JSON.
        let record = [b'x'; 300];
        let start = std::time::Instant::now();
        let mut builder = RootBuilder::new();
        for _ in 0..N {
            builder.push_leaf_input(&record);
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "push_leaf_input (300-byte records): {:.0} leaves/s ({})",
            N as f64 / secs,
            hex::encode(builder.root())
        );
    }
}
