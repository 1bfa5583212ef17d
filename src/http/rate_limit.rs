//! Per-bank request rate limits (`[[banks]] max_requests_per_second`): a token bucket per
//! bank, refilled continuously, with a burst of twice the rate. Per node: with several
//! nodes the limit applies on each.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use super::problem::ApiError;
use crate::config::BankConfig;

struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

/// The buckets of the banks that have a limit.
pub struct RateLimits {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimits {
    /// One bucket per bank with `max_requests_per_second`.
    pub fn new(banks: &[BankConfig]) -> Self {
        let now = Instant::now();
        let buckets = banks
            .iter()
            .filter_map(|bank| {
                let rate = f64::from(bank.max_requests_per_second?.max(1));
                Some((
                    bank.id.clone(),
                    Bucket {
                        rate,
                        burst: rate * 2.0,
                        tokens: rate * 2.0,
                        refilled: now,
                    },
                ))
            })
            .collect();
        Self {
            buckets: Mutex::new(buckets),
        }
    }

    /// Takes one request from `bank`'s bucket, or says how long to wait.
    pub fn admit(&self, bank: &str) -> Result<(), ApiError> {
        // A poisoned lock only means another request panicked mid-update; the numbers are
        // still usable, and refusing every bank forever would be worse.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(bucket) = buckets.get_mut(bank) else {
            return Ok(());
        };
        let now = Instant::now();
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * bucket.rate).min(bucket.burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - bucket.tokens) / bucket.rate).ceil().max(1.0);
            Err(ApiError::TooManyRequests {
                retry_after: wait as u64,
            })
        }
    }
}
