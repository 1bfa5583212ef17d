//! The policy engine: one loaded, checked policy set and the decisions taken with it.

use std::fmt;
use std::path::Path;

use cedar_policy::PolicySet;

use super::cache::{Key, MaskCache};
use super::catalog::{Catalog, RecordKind};
use super::decision::{ConsentView, FieldMask};
use super::diagnostic::PolicyError;
use super::load::{self, Compiled};
use super::purpose::{self, Purpose};
use super::request::{Asker, Question};

/// One policy set (one [`version`](Self::version)) and the decisions taken with it.
///
/// Reloading policies means building a new engine: its cache starts empty, so no decision
/// of an older set is ever served.
pub struct PolicyEngine {
    catalog: Catalog,
    policies: PolicySet,
    asker: Asker,
    version: String,
    summary: String,
    cache: MaskCache,
}

impl PolicyEngine {
    /// Loads and checks a policy set: `None` is the set compiled into the binary (the
    /// repository's `policies/`), `Some(dir)` reads `catalog.toml`, the one
    /// `*.cedarschema` and every `*.cedar` file of that folder.
    pub fn load(dir: Option<&Path>) -> Result<Self, PolicyError> {
        let files = match dir {
            None => load::bundled_files(),
            Some(dir) => load::read_dir(dir)?,
        };
        let Compiled {
            catalog,
            policies,
            asker,
            version,
            summary,
        } = load::compile(&files)?;
        Ok(Self {
            catalog,
            policies,
            asker,
            version,
            summary,
            cache: MaskCache::default(),
        })
    }

    /// `sha256:<hex>` over the set's files (names and contents): what audit records and
    /// `policy.loaded` name as `policy_version`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The field catalog and purpose taxonomy of this set.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// One line for people: files, policies, catalog size and version.
    pub fn summary(&self) -> String {
        self.summary.clone()
    }

    /// The fields of a `kind` record that `recipient` may receive for `purpose` (as the
    /// consent stores it) under `consent`, for a record pushed by `bank`: from the cache
    /// when this engine already decided the same key, else as [`decide_fresh`](Self::decide_fresh).
    ///
    /// Consent status (revoked, expired) is the caller's to check: only active consents
    /// are decided on.
    pub fn decide(
        &self,
        recipient: &str,
        bank: &str,
        kind: RecordKind,
        purpose: &str,
        consent: &ConsentView<'_>,
    ) -> FieldMask {
        let key = Key {
            consent_id: consent.id,
            consent_version: consent.version,
            purpose,
            recipient,
            bank,
            kind,
        };
        if let Some(mask) = self.cache.get(&key) {
            return mask;
        }
        let mask = self.decide_fresh(recipient, bank, kind, purpose, consent);
        self.cache.insert(&key, mask);
        mask
    }

    /// [`decide`](Self::decide) without the cache: asks Cedar about every consented field.
    ///
    /// A field is released only when the purpose is a permitted one (prohibited: nothing,
    /// with `prohibited` set; unknown: nothing), the consent lists the purpose (compared
    /// trimmed and lowercased) and the field (exact catalog name), and Cedar allows it
    /// without any evaluation error.
    pub fn decide_fresh(
        &self,
        recipient: &str,
        bank: &str,
        kind: RecordKind,
        purpose: &str,
        consent: &ConsentView<'_>,
    ) -> FieldMask {
        let canonical = purpose::canonical(purpose);
        let consent_purposes: Vec<String> = consent
            .purposes
            .iter()
            .map(|listed| purpose::canonical(listed))
            .collect();
        let fields = self.catalog.fields(kind);
        let consented = if consent_purposes.contains(&canonical) {
            mask_of(fields, |field| consent.fields.contains(field))
        } else {
            0
        };
        // First line of defence: a prohibited purpose never reaches Cedar.
        if purpose::is_prohibited_canonical(&canonical, self.catalog.prohibited_families()) {
            return FieldMask {
                released: 0,
                consented,
                prohibited: true,
            };
        }
        let Ok(purpose) = Purpose::parse(&canonical, &self.catalog) else {
            return FieldMask {
                released: 0,
                consented,
                prohibited: false,
            };
        };
        let prepared = self.asker.prepare(&Question {
            recipient,
            bank,
            kind,
            purpose: purpose.as_str(),
            family: purpose::family(purpose.as_str()),
            consent_fields: consent.fields,
            consent_purposes: &consent_purposes,
        });
        let mut released = 0;
        for (index, field) in fields.iter().enumerate() {
            if consented & bit(index) != 0 && self.asker.allows(&self.policies, &prepared, field) {
                released |= bit(index);
            }
        }
        FieldMask {
            released,
            consented,
            prohibited: false,
        }
    }

    /// Cedar's answer alone, for any purpose and family: lets tests check the second
    /// line of defence without the first.
    #[cfg(test)]
    pub(super) fn cedar_allows(&self, question: &Question<'_>, field: &str) -> bool {
        self.asker
            .allows(&self.policies, &self.asker.prepare(question), field)
    }

    #[cfg(test)]
    pub(super) fn cached_decisions(&self) -> usize {
        self.cache.len()
    }
}

impl fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// The mask with bit `i` set for each field `i` that satisfies `test`.
fn mask_of(fields: &[String], mut test: impl FnMut(&String) -> bool) -> u32 {
    fields
        .iter()
        .enumerate()
        .filter(|(_, field)| test(field))
        .fold(0, |mask, (index, _)| mask | bit(index))
}

/// The bit of field `index`; none past the mask (the catalog never has that many).
fn bit(index: usize) -> u32 {
    u32::try_from(index)
        .ok()
        .and_then(|index| 1u32.checked_shl(index))
        .unwrap_or(0)
}
