//! The gateway's domain types, parsed from bank bodies ("parse, don't validate").
//!
//! A value of one of these types is valid by construction: the only ways in are the
//! `parse`/`from_json` functions, which refuse bad input with a client-facing detail
//! message. The HTTP layer turns [`BatchError`] into the `422` problem of CONTRACT §4, and the
//! rest of the gateway works with [`Transaction`] and [`Balance`] without re-checking them.
//!
//! Nothing here does I/O, so everything here is tested with plain unit tests.

mod balance;
mod batch;
mod card;
mod catalog;
mod content;
mod country;
mod field_error;
mod ids;
mod members;
mod merchant;
mod money;
mod timestamp;
mod transaction;

pub use balance::Balance;
pub use batch::{
    BatchError, MAX_BATCH_ITEMS, MAX_REPORTED_ERRORS, parse_balance_batch, parse_transaction_batch,
};
pub use card::CardLast4;
pub use catalog::{BalanceField, TransactionField};
pub use country::{CountryCode, ISO_3166_1_ALPHA_2};
pub use field_error::{FieldError, JsonPointer, MAX_ECHO_CHARS, echo};
pub use ids::{AccountRef, BankId, MAX_ID_CHARS, RecipientId, TxnId, UserId};
pub use merchant::{Mcc, MerchantCity, MerchantName};
pub use money::{AmountMinor, Currency, ISO_4217_CODES};
pub use timestamp::{parse_timestamp, utc_key};
pub use transaction::{Channel, Transaction, TxnStatus};
