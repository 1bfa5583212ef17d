//! The configured parties a request may name: banks and recipients.

use std::collections::BTreeSet;

use crate::config::Config;

/// Ids of the configured banks and recipients (a consent may only name these).
#[derive(Debug, Clone, Default)]
pub struct Directory {
    banks: BTreeSet<String>,
    recipients: BTreeSet<String>,
}

impl Directory {
    /// Reads the ids from the configuration.
    pub fn new(config: &Config) -> Self {
        Self {
            banks: config.banks.iter().map(|b| b.id.clone()).collect(),
            recipients: config.recipients.iter().map(|r| r.id.clone()).collect(),
        }
    }

    /// Whether `id` is a configured bank.
    pub fn has_bank(&self, id: &str) -> bool {
        self.banks.contains(id)
    }

    /// Whether `id` is a configured recipient.
    pub fn has_recipient(&self, id: &str) -> bool {
        self.recipients.contains(id)
    }
}
