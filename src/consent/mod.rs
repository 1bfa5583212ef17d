//! Users' consents (CONTRACT §7): grant, preview, list, read, revoke; and the lookup ingest
//! uses to find the consents a record falls under.

mod model;
mod request;
mod routes;
mod store;

pub use model::{Consent, ConsentStatus, ConsentView};
pub use request::{DEFAULT_LIFETIME_DAYS, GrantRequest, MAX_LIFETIME_DAYS};
pub use routes::{Withheld, get, grant, list, preview, revoke};
pub use store::{GrantConsent, Lock, RevokeConsent, RevokeOutcome, active_for_users};
