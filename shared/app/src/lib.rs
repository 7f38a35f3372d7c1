//! The use cases: accept a send, deliver it (claim with the database, send with `notify-outbound` on plain
//! values, record with the database), apply receipts, receive texts, relay callbacks, run the housekeeping
//! jobs, and the admin operations the admin API and the CLI share.

pub mod admin;
pub mod auth;
pub mod bulk;
pub mod cache;
pub mod callback_log;
pub mod callback_signing;
pub mod callbacks;
pub mod delivery;
pub mod documents;
pub mod email_branding;
pub mod idempotency;
pub mod inbound;
pub mod jobs;
pub mod letter_admin;
pub mod letters;
pub mod limits;
pub mod notifications;
pub mod precompiled;
pub mod rotation;
pub mod state;
pub mod status;
pub mod workers;

pub use state::AppState;
