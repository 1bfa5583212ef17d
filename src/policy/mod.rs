//! The policy layer (CONTRACT §6, DESIGN §4): the field catalog and purpose taxonomy, the
//! Cedar policy set, and the field decisions the gateway takes for every record.
//!
//! A [`PolicyEngine`] is one loaded, validated policy set (one [`PolicyEngine::version`]):
//! reloading builds a new engine. It answers "which fields of this record may this
//! recipient receive for this purpose under this consent?" as a [`FieldMask`], from a
//! cache keyed by everything the answer depends on, or from Cedar on a miss.
//!
//! Prohibited purposes are refused twice: by [`Purpose::parse`] in code (a [`Purpose`]
//! value is always a permitted purpose), and by a Cedar `forbid` that the loader insists
//! on. This module depends on no other module of the crate: fields are catalog names
//! (`transaction.amount_minor`), purposes are strings until parsed.

mod cache;
mod catalog;
mod decision;
mod diagnostic;
mod engine;
mod load;
mod purpose;
mod request;

#[cfg(test)]
mod tests;

pub use catalog::{Catalog, MAX_FIELDS_PER_KIND, RecordKind};
pub use decision::{ConsentView, FieldMask, WithholdReason};
pub use diagnostic::{PolicyDiagnostic, PolicyError};
pub use engine::PolicyEngine;
pub use purpose::{PROHIBITED_FAMILIES, Purpose, PurposeError, is_prohibited};
