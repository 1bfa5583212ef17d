//! The canonical content encoding of a record, which the idempotency check hashes.
//!
//! Re-sending an identical record is a `duplicate`, re-sending its id with different content is
//! a `409` (CONTRACT §5), so "identical" must be decided on meaning, not on bytes: member
//! order, whitespace and the offset a timestamp was written with must not matter, while every
//! member value, and whether an optional member was there at all, must.

/// Builds the canonical bytes of one record.
///
/// Layout: the length-prefixed record label, then for each member in a fixed order its
/// length-prefixed name and either `0x00` (absent) or `0x01` and the length-prefixed value.
/// Lengths are 8-byte big-endian. Length prefixes make the encoding injective: no two
/// different records share bytes, so `""` and absent, or `"ab","c"` and `"a","bc"`, differ.
pub(crate) struct ContentEncoder {
    bytes: Vec<u8>,
}

impl ContentEncoder {
    /// Starts a record; `label` names the record kind and the encoding version, so a change
    /// of layout can never be mistaken for a change of content.
    pub(crate) fn new(label: &str) -> Self {
        let mut encoder = Self {
            bytes: Vec::with_capacity(256),
        };
        encoder.push_len_prefixed(label.as_bytes());
        encoder
    }

    /// Adds member `name` with its canonical text, or `None` when the record does not carry it.
    pub(crate) fn member(&mut self, name: &str, value: Option<&str>) {
        self.push_len_prefixed(name.as_bytes());
        match value {
            None => self.bytes.push(0x00),
            Some(value) => {
                self.bytes.push(0x01);
                self.push_len_prefixed(value.as_bytes());
            }
        }
    }

    /// The finished encoding.
    pub(crate) fn finish(self) -> Vec<u8> {
        self.bytes
    }

    fn push_len_prefixed(&mut self, data: &[u8]) {
        // A `usize` always fits in a `u64` on the targets Rust supports.
        self.bytes
            .extend_from_slice(&(data.len() as u64).to_be_bytes());
        self.bytes.extend_from_slice(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(members: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut encoder = ContentEncoder::new("test/v1");
        for (name, value) in members {
            encoder.member(name, *value);
        }
        encoder.finish()
    }

    #[test]
    fn the_same_members_encode_to_the_same_bytes() {
        assert_eq!(encode(&[("a", Some("x"))]), encode(&[("a", Some("x"))]));
    }

    #[test]
    fn an_absent_member_differs_from_an_empty_one() {
        assert_ne!(encode(&[("a", None)]), encode(&[("a", Some(""))]));
    }

    #[test]
    fn moving_bytes_across_a_member_boundary_changes_the_encoding() {
        assert_ne!(
            encode(&[("a", Some("ab")), ("b", Some("c"))]),
            encode(&[("a", Some("a")), ("b", Some("bc"))])
        );
    }

    #[test]
    fn the_label_is_part_of_the_encoding() {
        let mut other = ContentEncoder::new("test/v2");
        other.member("a", Some("x"));
        assert_ne!(other.finish(), encode(&[("a", Some("x"))]));
    }

    #[test]
    fn the_layout_is_stable() {
        let mut expected = Vec::new();
        expected.extend_from_slice(&7u64.to_be_bytes());
        expected.extend_from_slice(b"test/v1");
        expected.extend_from_slice(&1u64.to_be_bytes());
        expected.extend_from_slice(b"a");
        expected.push(1);
        expected.extend_from_slice(&2u64.to_be_bytes());
        expected.extend_from_slice(b"xy");
        expected.extend_from_slice(&1u64.to_be_bytes());
        expected.extend_from_slice(b"b");
        expected.push(0);
        assert_eq!(encode(&[("a", Some("xy")), ("b", None)]), expected);
    }
}
