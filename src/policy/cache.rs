//! The mask cache: decisions already taken by one engine (one policy version), keyed by
//! everything a decision depends on. A hit hashes the key parts in place, compares them
//! with the stored ones and copies a mask out: no allocation.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::RwLock;

use super::catalog::RecordKind;
use super::decision::FieldMask;

/// The most decisions kept; past it the cache starts over. A consent has a few purposes,
/// so this covers tens of thousands of active consent, recipient and bank combinations.
pub(super) const MAX_ENTRIES: usize = 100_000;

/// Everything a decision depends on besides the policy set itself.
///
/// INVARIANT: a consent's `(id, version)` identifies its fields and purposes (see
/// [`ConsentView`](super::ConsentView)), so they need not be part of the key.
#[derive(Debug, Clone, Copy, Hash)]
pub(super) struct Key<'a> {
    pub(super) consent_id: &'a str,
    pub(super) consent_version: i64,
    pub(super) purpose: &'a str,
    pub(super) recipient: &'a str,
    pub(super) bank: &'a str,
    pub(super) kind: RecordKind,
}

/// A bounded concurrent map from decision keys to masks.
#[derive(Debug, Default)]
pub(super) struct MaskCache {
    /// Keyed per process, so nobody can aim at collisions from outside.
    hasher: RandomState,
    entries: RwLock<HashMap<u64, Entry, BuildHasherDefault<PassThrough>>>,
}

/// A stored decision with the key it was taken for, to tell a hit from a hash collision.
#[derive(Debug)]
struct Entry {
    consent_id: Box<str>,
    consent_version: i64,
    purpose: Box<str>,
    recipient: Box<str>,
    bank: Box<str>,
    kind: RecordKind,
    mask: FieldMask,
}

impl MaskCache {
    /// The decision stored for exactly this key, if any.
    pub(super) fn get(&self, key: &Key<'_>) -> Option<FieldMask> {
        let hash = self.hasher.hash_one(key);
        // A poisoned lock means a panic elsewhere while holding it: treat as a miss and
        // let the caller decide afresh.
        let entries = self.entries.read().ok()?;
        entries
            .get(&hash)
            .filter(|entry| entry.matches(key))
            .map(|entry| entry.mask)
    }

    /// Stores a decision, replacing any entry with the same hash; starts over when full.
    pub(super) fn insert(&self, key: &Key<'_>, mask: FieldMask) {
        let hash = self.hasher.hash_one(key);
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&hash) {
            entries.clear();
        }
        entries.insert(
            hash,
            Entry {
                consent_id: key.consent_id.into(),
                consent_version: key.consent_version,
                purpose: key.purpose.into(),
                recipient: key.recipient.into(),
                bank: key.bank.into(),
                kind: key.kind,
                mask,
            },
        );
    }

    /// How many decisions are stored.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.read().map_or(0, |entries| entries.len())
    }
}

impl Entry {
    fn matches(&self, key: &Key<'_>) -> bool {
        self.consent_version == key.consent_version
            && self.kind == key.kind
            && *self.consent_id == *key.consent_id
            && *self.purpose == *key.purpose
            && *self.recipient == *key.recipient
            && *self.bank == *key.bank
    }
}

/// The map's keys are already hashes: use them as they are.
#[derive(Debug, Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used for `u64` keys; this keeps any other use well-defined.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(consent_id: &'a str, purpose: &'a str) -> Key<'a> {
        Key {
            consent_id,
            consent_version: 1,
            purpose,
            recipient: "messenger",
            bank: "bank-a",
            kind: RecordKind::Transaction,
        }
    }

    fn mask(released: u32) -> FieldMask {
        FieldMask {
            released,
            consented: released,
            prohibited: false,
        }
    }

    #[test]
    fn a_stored_decision_is_found_only_under_its_exact_key() {
        let cache = MaskCache::default();
        cache.insert(&key("c1", "fraud_alert"), mask(3));
        assert_eq!(cache.get(&key("c1", "fraud_alert")), Some(mask(3)));
        assert_eq!(cache.get(&key("c1", "customer_service")), None);
        assert_eq!(cache.get(&key("c2", "fraud_alert")), None);
        let mut other = key("c1", "fraud_alert");
        other.consent_version = 2;
        assert_eq!(cache.get(&other), None);
        other = key("c1", "fraud_alert");
        other.bank = "bank-b";
        assert_eq!(cache.get(&other), None);
        other = key("c1", "fraud_alert");
        other.recipient = "other";
        assert_eq!(cache.get(&other), None);
        other = key("c1", "fraud_alert");
        other.kind = RecordKind::Balance;
        assert_eq!(cache.get(&other), None);
    }

    #[test]
    fn an_entry_under_a_colliding_hash_is_not_a_hit() {
        let cache = MaskCache::default();
        let stored = key("c1", "fraud_alert");
        let asked = key("c2", "fraud_alert");
        let hash = cache.hasher.hash_one(asked);
        // Plant `stored`'s decision under `asked`'s hash, as a collision would.
        cache.entries.write().unwrap().insert(
            hash,
            Entry {
                consent_id: stored.consent_id.into(),
                consent_version: stored.consent_version,
                purpose: stored.purpose.into(),
                recipient: stored.recipient.into(),
                bank: stored.bank.into(),
                kind: stored.kind,
                mask: mask(1),
            },
        );
        assert_eq!(cache.get(&asked), None);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = MaskCache::default();
        let ids: Vec<String> = (0..=MAX_ENTRIES).map(|n| format!("c{n}")).collect();
        for id in &ids[..MAX_ENTRIES] {
            cache.insert(&key(id, "fraud_alert"), mask(1));
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        cache.insert(&key(&ids[MAX_ENTRIES], "fraud_alert"), mask(1));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(&key(&ids[0], "fraud_alert")), None);
    }
}
