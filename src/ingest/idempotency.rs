//! Deciding, per item, whether it is new, a duplicate, or a conflict.

use std::collections::HashMap;
use std::hash::Hash;

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// What happened to one item of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    /// Stored now.
    Accepted,
    /// Already stored with identical content; nothing is done again.
    Duplicate,
}

/// Keyed hash of an item's canonical content.
pub fn content_hash(key: &[u8; 32], content: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail; an empty hash would only ever
    // make the item look changed (a 409), never a silent duplicate.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(content);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Classifies each `(key, hash)` against what is stored and against earlier items of the
/// same batch. `Err` holds the positions whose key is known with different content: the
/// whole batch is then refused.
pub fn classify<K: Eq + Hash>(
    items: &[(K, Vec<u8>)],
    stored: &HashMap<K, Vec<u8>>,
) -> Result<Vec<ItemStatus>, Vec<usize>> {
    let mut seen: HashMap<&K, &[u8]> = HashMap::with_capacity(items.len());
    let mut statuses = Vec::with_capacity(items.len());
    let mut conflicts = Vec::new();
    for (position, (key, hash)) in items.iter().enumerate() {
        let known = stored
            .get(key)
            .map(Vec::as_slice)
            .or_else(|| seen.get(key).copied());
        match known {
            Some(previous) if previous == hash.as_slice() => statuses.push(ItemStatus::Duplicate),
            Some(_) => conflicts.push(position),
            None => {
                seen.insert(key, hash);
                statuses.push(ItemStatus::Accepted);
            }
        }
    }
    if conflicts.is_empty() {
        Ok(statuses)
    } else {
        Err(conflicts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, hash: u8) -> (String, Vec<u8>) {
        (key.to_string(), vec![hash])
    }

    #[test]
    fn an_identical_resend_is_a_duplicate_and_a_new_key_is_accepted() {
        let stored = HashMap::from([("t-1".to_string(), vec![1])]);
        let statuses = classify(&[item("t-1", 1), item("t-2", 2)], &stored).unwrap();
        assert_eq!(statuses, vec![ItemStatus::Duplicate, ItemStatus::Accepted]);
    }

    #[test]
    fn a_stored_key_with_other_content_is_a_conflict_at_its_position() {
        let stored = HashMap::from([("t-1".to_string(), vec![1])]);
        let conflicts = classify(&[item("t-0", 0), item("t-1", 9)], &stored).unwrap_err();
        assert_eq!(conflicts, vec![1]);
    }

    #[test]
    fn a_key_repeated_within_a_batch_is_judged_against_its_first_occurrence() {
        let statuses = classify(&[item("t-1", 1), item("t-1", 1)], &HashMap::new()).unwrap();
        assert_eq!(statuses, vec![ItemStatus::Accepted, ItemStatus::Duplicate]);
        let conflicts = classify(&[item("t-1", 1), item("t-1", 2)], &HashMap::new()).unwrap_err();
        assert_eq!(conflicts, vec![1]);
    }

    #[test]
    fn the_content_hash_depends_on_the_key() {
        let content = b"same content";
        assert_ne!(
            content_hash(&[1; 32], content),
            content_hash(&[2; 32], content)
        );
        assert_eq!(
            content_hash(&[1; 32], content),
            content_hash(&[1; 32], content)
        );
    }
}
