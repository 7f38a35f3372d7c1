//! GOV.UK Notify, rebuilt: every piece of domain logic and I/O, shared by the Lambda functions and the CLI.
//!
//! Data flows one way: entry points → this crate → Postgres / queues. Only [`db`] touches tokio-postgres.

pub mod admin;
pub mod api;
pub mod auth;
pub mod aws;
pub mod cache;
pub mod callbacks;
pub mod config;
pub mod crypto;
pub mod db;
pub mod delivery;
pub mod inbound;
pub mod jobs;
pub mod lambda;
pub mod limits;
#[cfg(feature = "local-tls")]
pub mod local_tls;
pub mod metrics;
pub mod migrations;
pub mod model;
pub mod notifications;
pub mod outbound;
pub mod pollers;
pub mod providers;
pub mod queue;
pub mod rds_auth;
pub mod recipients;
pub mod rotation;
pub mod state;
pub mod status;
pub mod templates;
pub mod time;
pub mod workers;

pub use state::AppState;
