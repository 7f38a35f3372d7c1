//! The domain, with no I/O: the model, recipients and templates, the queue messages and callback bodies on the
//! wire, the v2 error envelope and the pure rules. Every other crate builds on this one; it depends on none.

pub mod callback_log;
pub mod callbacks;
pub mod crypto;
pub mod delivery;
pub mod documents;
pub mod email_branding;
pub mod errors;
pub mod idempotency;
pub mod jobs;
pub mod letters;
pub mod messages;
pub mod metrics;
pub mod model;
pub mod recipient_csv;
pub mod recipients;
pub mod retry;
pub mod schema;
pub mod sns;
pub mod templates;
pub mod time;
pub mod webhooks;
