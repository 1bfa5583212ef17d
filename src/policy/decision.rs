//! What a decision is about (a consent) and what it says (a mask over the catalog fields
//! of one record kind, with the reason each withheld field was withheld).

use std::fmt;

use serde::{Serialize, Serializer};

/// A consent as stored, as far as decisions are concerned.
///
/// INVARIANT: `(id, version)` identifies `fields` and `purposes`: whoever changes a
/// consent's fields or purposes gives it a new version. Decisions are cached by it.
#[derive(Debug, Clone, Copy)]
pub struct ConsentView<'a> {
    /// The consent id.
    pub id: &'a str,
    /// Its version.
    pub version: i64,
    /// The catalog names of the fields the user agreed to release.
    pub fields: &'a [String],
    /// The purposes the user agreed to, as stored. Raw strings: a row forced into the
    /// database could hold a prohibited or unknown one, and it must still be refused.
    pub purposes: &'a [String],
}

/// Why a catalog field was not released (CONTRACT §5), in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WithholdReason {
    /// The purpose is prohibited (only reachable if such a purpose reached storage).
    ProhibitedPurpose,
    /// The consent does not list the field, or does not list the purpose.
    NoConsent,
    /// Consented, but the policy set does not release this field for this purpose.
    NotPermittedByPolicy,
    /// The record did not carry this optional member (decided by the caller).
    FieldAbsent,
}

impl WithholdReason {
    /// The reason as the contract spells it, such as `no_consent`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ProhibitedPurpose => "prohibited_purpose",
            Self::NoConsent => "no_consent",
            Self::NotPermittedByPolicy => "not_permitted_by_policy",
            Self::FieldAbsent => "field_absent",
        }
    }
}

impl fmt::Display for WithholdReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serializes as [`WithholdReason::as_str`].
impl Serialize for WithholdReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The decision for one record kind, consent, purpose, recipient and bank: bit `i` stands
/// for field `i` of [`Catalog::fields`](super::Catalog::fields).
///
/// INVARIANT: `released` is a subset of `consented`, and is empty when `prohibited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FieldMask {
    /// Fields released.
    pub released: u32,
    /// Fields the consent lists, for a purpose the consent lists.
    pub consented: u32,
    /// The purpose is prohibited: nothing is released.
    pub prohibited: bool,
}

impl FieldMask {
    /// Nothing released, nothing consented.
    pub const NOTHING: Self = Self {
        released: 0,
        consented: 0,
        prohibited: false,
    };

    /// Whether field `index` is released; false for an index past the mask.
    pub fn is_released(self, index: usize) -> bool {
        bit(self.released, index)
    }

    /// Whether at least one field is released (a release event is due).
    pub fn released_any(self) -> bool {
        self.released != 0
    }

    /// `None` when field `index` is released, else the first reason that applies:
    /// `prohibited_purpose`, then `no_consent`, then `not_permitted_by_policy`. An index
    /// past the mask is a field nobody consented to. `field_absent` is the caller's to
    /// give: it knows which members the record carried.
    pub fn reason(self, index: usize) -> Option<WithholdReason> {
        if self.prohibited {
            Some(WithholdReason::ProhibitedPurpose)
        } else if self.is_released(index) {
            None
        } else if !bit(self.consented, index) {
            Some(WithholdReason::NoConsent)
        } else {
            Some(WithholdReason::NotPermittedByPolicy)
        }
    }
}

fn bit(mask: u32, index: usize) -> bool {
    u32::try_from(index)
        .ok()
        .and_then(|index| mask.checked_shr(index))
        .is_some_and(|shifted| shifted & 1 == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_applicable_reason_is_given() {
        let mask = FieldMask {
            released: 0b001,
            consented: 0b011,
            prohibited: false,
        };
        assert_eq!(mask.reason(0), None);
        assert_eq!(mask.reason(1), Some(WithholdReason::NotPermittedByPolicy));
        assert_eq!(mask.reason(2), Some(WithholdReason::NoConsent));
        assert_eq!(mask.reason(31), Some(WithholdReason::NoConsent));
        assert_eq!(mask.reason(32), Some(WithholdReason::NoConsent));
        assert_eq!(mask.reason(usize::MAX), Some(WithholdReason::NoConsent));
        let prohibited = FieldMask {
            prohibited: true,
            ..FieldMask::NOTHING
        };
        assert_eq!(
            prohibited.reason(0),
            Some(WithholdReason::ProhibitedPurpose)
        );
    }

    #[test]
    fn the_top_bit_is_a_field_like_any_other() {
        let mask = FieldMask {
            released: 1 << 31,
            consented: 1 << 31,
            prohibited: false,
        };
        assert!(mask.is_released(31));
        assert!(!mask.is_released(30));
        assert!(mask.released_any());
        assert!(!FieldMask::NOTHING.released_any());
    }

    #[test]
    fn reasons_serialize_as_the_contract_spells_them() {
        let reasons = [
            WithholdReason::ProhibitedPurpose,
            WithholdReason::NoConsent,
            WithholdReason::NotPermittedByPolicy,
            WithholdReason::FieldAbsent,
        ];
        assert_eq!(
            serde_json::to_value(reasons).unwrap(),
            serde_json::json!([
                "prohibited_purpose",
                "no_consent",
                "not_permitted_by_policy",
                "field_absent"
            ])
        );
    }
}
