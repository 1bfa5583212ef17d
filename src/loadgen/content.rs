//! Realistic bank batches: card transactions of a population of users at merchants of
//! several countries, currencies and categories, with the mix of channels and statuses a
//! card issuer sees, and the optional members sometimes absent (CONTRACT §5).

use chrono::{Duration as ChronoDuration, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;

/// A merchant: name, MCC, city, country, currency, the amounts its customers typically pay
/// there (minor units, inclusive range), and whether it sells online.
type Merchant = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    (i64, i64),
    bool,
);

#[rustfmt::skip]
const MERCHANTS: [Merchant; 28] = [
    ("Blue Bottle Coffee", "5814", "Oakland", "US", "USD", (350, 1_200), false),
    ("Whole Foods Market", "5411", "San Francisco", "US", "USD", (1_500, 18_000), false),
    ("Shell", "5541", "Sacramento", "US", "USD", (2_500, 9_000), false),
    ("Target", "5310", "Minneapolis", "US", "USD", (900, 25_000), false),
    ("CVS Pharmacy", "5912", "Boston", "US", "USD", (400, 6_000), false),
    ("Chipotle Mexican Grill", "5814", "Denver", "US", "USD", (900, 3_500), false),
    ("Uber Trip", "4121", "San Francisco", "US", "USD", (900, 6_500), true),
    ("Netflix.com", "4899", "Los Gatos", "US", "USD", (699, 2_299), true),
    ("Amazon Marketplace", "5999", "Seattle", "US", "USD", (799, 30_000), true),
    ("Apple.com/bill", "5818", "Cupertino", "US", "USD", (99, 2_999), true),
    ("Delta Air Lines", "3058", "Atlanta", "US", "USD", (12_000, 95_000), true),
    ("Marriott Hotels", "3509", "Chicago", "US", "USD", (14_000, 60_000), false),
    ("Tim Hortons", "5814", "Toronto", "CA", "CAD", (250, 1_800), false),
    ("Tesco", "5411", "London", "GB", "GBP", (300, 12_000), false),
    ("Pret A Manger", "5812", "London", "GB", "GBP", (350, 1_500), false),
    ("Transport for London", "4111", "London", "GB", "GBP", (175, 850), false),
    ("Carrefour", "5411", "Paris", "FR", "EUR", (500, 15_000), false),
    ("SNCF Connect", "4112", "Paris", "FR", "EUR", (1_900, 14_000), true),
    ("Lidl", "5411", "Berlin", "DE", "EUR", (400, 9_000), false),
    ("Deutsche Bahn", "4112", "Frankfurt am Main", "DE", "EUR", (1_790, 15_000), true),
    ("IKEA", "5712", "Delft", "NL", "EUR", (500, 40_000), false),
    ("Albert Heijn", "5411", "Amsterdam", "NL", "EUR", (300, 8_000), false),
    ("Mercadona", "5411", "Valencia", "ES", "EUR", (400, 9_000), false),
    ("Spotify", "5815", "Stockholm", "SE", "SEK", (5_900, 17_900), true),
    ("Steam Purchase", "5816", "Bellevue", "US", "USD", (199, 6_999), true),
    ("Seven-Eleven", "5499", "Tokyo", "JP", "JPY", (150, 2_500), false),
    ("Booking.com", "4722", "Amsterdam", "NL", "EUR", (6_000, 80_000), true),
    ("Café de Flore", "5812", "Paris", "FR", "EUR", (600, 4_500), false),
];

/// Cash withdrawals: channel `atm`, MCC 6011.
const ATMS: [(&str, &str, &str); 3] = [
    ("Chase ATM", "New York", "US"),
    ("Wells Fargo ATM", "Los Angeles", "US"),
    ("Barclays ATM", "Manchester", "GB"),
];

/// One transaction as a bank sends it.
#[derive(Serialize)]
struct Transaction<'a> {
    txn_id: String,
    user_id: String,
    amount_minor: i64,
    currency: &'a str,
    merchant_name: &'a str,
    merchant_category_code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    merchant_city: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    merchant_country: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    card_last4: Option<String>,
    channel: &'a str,
    status: &'a str,
    occurred_at: String,
}

#[derive(Serialize)]
struct Batch<'a> {
    transactions: Vec<Transaction<'a>>,
}

/// The id of the `index`-th user of the population.
pub fn user_id(index: usize) -> String {
    format!("u-{index:07}")
}

/// Makes request bodies for one connection: every `txn_id` is unique in the run (it holds the
/// run's tag, the connection and a counter), users are drawn uniformly from the population.
pub struct BatchFactory {
    rng: StdRng,
    prefix: String,
    next: u64,
    users: usize,
}

impl BatchFactory {
    /// A factory for connection `connection` of the run tagged `run_tag`.
    pub fn new(run_tag: &str, connection: usize, users: usize, seed: u64) -> Self {
        let mixed = seed ^ (connection as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Self {
            rng: StdRng::seed_from_u64(mixed),
            prefix: format!("t-{run_tag}-{connection}-"),
            next: 0,
            users: users.max(1),
        }
    }

    /// The JSON body of `POST /v1/transactions` with `size` new transactions.
    pub fn body(&mut self, size: usize) -> Vec<u8> {
        let now = Utc::now();
        let transactions = (0..size).map(|_| self.transaction(now)).collect();
        // Serialising plain strings and integers cannot fail; an empty body would show up
        // as 400 responses in the report rather than pass unnoticed.
        serde_json::to_vec(&Batch { transactions }).unwrap_or_default()
    }

    fn transaction(&mut self, now: chrono::DateTime<Utc>) -> Transaction<'static> {
        let txn_id = format!("{}{}", self.prefix, self.next);
        self.next += 1;
        let user = self.rng.gen_range(0..self.users);
        let roll: u32 = self.rng.gen_range(0..100);
        let merchant = if roll < 4 {
            None
        } else {
            MERCHANTS.get(self.rng.gen_range(0..MERCHANTS.len()))
        };
        let (merchant_name, mcc, city, country, currency, amounts, channel) = match merchant {
            Some(&(name, mcc, city, country, currency, amounts, online)) => {
                let channel = if online { "online" } else { "in_store" };
                (name, mcc, city, country, currency, amounts, channel)
            }
            None => {
                let (name, city, country) = ATMS
                    .get(self.rng.gen_range(0..ATMS.len()))
                    .copied()
                    .unwrap_or(("Chase ATM", "New York", "US"));
                let currency = if country == "GB" { "GBP" } else { "USD" };
                (
                    name,
                    "6011",
                    city,
                    country,
                    currency,
                    (2_000, 40_000),
                    "atm",
                )
            }
        };
        let mut amount = self.rng.gen_range(amounts.0..=amounts.1);
        let status = match self.rng.gen_range(0..100) {
            0..=69 => "authorized",
            70..=94 => "settled",
            95..=97 => {
                amount = -amount;
                "refunded"
            }
            _ => "declined",
        };
        // Online merchants often omit the city; a few issuers never send the card digits.
        let merchant_city = (channel != "online" || self.rng.gen_bool(0.4)).then_some(city);
        let merchant_country = self.rng.gen_bool(0.97).then_some(country);
        let card_last4 = self
            .rng
            .gen_bool(0.9)
            .then(|| format!("{:04}", (user * 7_919 + 1_234) % 10_000));
        let age = ChronoDuration::seconds(self.rng.gen_range(0..3 * 24 * 3_600));
        Transaction {
            txn_id,
            user_id: user_id(user),
            amount_minor: amount,
            currency,
            merchant_name,
            merchant_category_code: mcc,
            merchant_city,
            merchant_country,
            card_last4,
            channel,
            status,
            occurred_at: (now - age).to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{JsonPointer, Transaction as Parsed};

    #[test]
    fn generated_transactions_are_valid_for_the_gateway() {
        let mut factory = BatchFactory::new("abcd", 3, 50, 7);
        let body: serde_json::Value =
            serde_json::from_slice(&factory.body(500)).expect("a JSON body");
        let transactions = body["transactions"].as_array().expect("a list");
        assert_eq!(transactions.len(), 500);
        for (i, value) in transactions.iter().enumerate() {
            let at = JsonPointer::root().member("transactions").index(i);
            assert!(Parsed::from_json(value, &at).is_ok(), "invalid: {value}");
        }
    }

    #[test]
    fn transaction_ids_are_unique_across_batches_and_connections() {
        let mut ids = std::collections::HashSet::new();
        for connection in 0..3 {
            let mut factory = BatchFactory::new("abcd", connection, 10, 1);
            for _ in 0..4 {
                let body: serde_json::Value =
                    serde_json::from_slice(&factory.body(25)).expect("a JSON body");
                for t in body["transactions"].as_array().expect("a list") {
                    assert!(ids.insert(t["txn_id"].as_str().expect("an id").to_string()));
                }
            }
        }
        assert_eq!(ids.len(), 300);
    }
}
