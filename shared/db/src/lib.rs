//! The one crate that speaks tokio-postgres. Everything else works in domain types: no connection, pool or
//! driver type can be named through this crate's API.
//!
//! RDS Proxy rules kept here: every query goes through the `*_typed` methods (the unnamed statement, one round
//! trip, nothing left on the session), no session `SET`, no `LISTEN/NOTIFY`, no advisory locks.
//!
//! One repository module per aggregate, each adding its methods to [`Db`]; the pool and connection machinery
//! in `pool` and `conn`.

mod conn;
mod error;
mod migrations;
mod pool;

pub mod credentials;
pub mod rds_auth;

mod api_keys;
mod callback_apis;
mod callback_log;
mod csv_jobs;
mod data_retention;
mod delivery;
mod documents;
mod email_branding;
mod guest_list;
mod inbound;
mod inbound_numbers;
mod jobs;
mod letter_admin;
mod letters;
mod notifications;
mod outbox;
mod precompiled;
mod secrets;
mod senders;
mod services;
mod signing_secrets;
mod templates;
mod users;
// issue 14: process
mod job_rows;
pub use job_rows::*;
// end issue 14: process

pub use api_keys::*;
pub use callback_apis::*;
pub use callback_log::*;
pub use csv_jobs::*;
pub use data_retention::*;
pub use delivery::*;
pub use documents::*;
pub use email_branding::*;
pub use error::*;
pub use guest_list::*;
pub use inbound::*;
pub use inbound_numbers::*;
pub use jobs::*;
pub use letter_admin::*;
pub use letters::*;
pub use migrations::{answers, ensure_database};
pub use notifications::*;
pub use outbox::*;
pub use pool::{DatabasePassword, Db, PasswordSource};
pub use precompiled::*;
pub use secrets::*;
pub use senders::*;
pub use services::*;
pub use signing_secrets::*;
pub use templates::*;
pub use users::*;

// issue 14: schedule (the housekeeping jobs' and scheduled sends' statements)
mod job_schedule;
pub use job_schedule::*;

pub(crate) use conn::{Param, from_row, text_enum};

// issue 15: idem (Idempotency-Key)
mod idempotency;
pub use idempotency::*;
