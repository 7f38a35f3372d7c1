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
mod data_retention;
mod delivery;
mod guest_list;
mod inbound;
mod inbound_numbers;
mod jobs;
mod notifications;
mod outbox;
mod secrets;
mod senders;
mod services;
mod templates;
mod users;

pub use api_keys::*;
pub use callback_apis::*;
pub use data_retention::*;
pub use delivery::*;
pub use error::*;
pub use guest_list::*;
pub use inbound::*;
pub use inbound_numbers::*;
pub use jobs::*;
pub use migrations::{answers, ensure_database};
pub use notifications::*;
pub use outbox::*;
pub use pool::{DatabasePassword, Db, PasswordSource};
pub use secrets::*;
pub use senders::*;
pub use services::*;
pub use templates::*;
pub use users::*;

pub(crate) use conn::{Param, text_enum};

static POOL_FAILURES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Db {
    /// Connections that could not be had in this process so far (acquire timeouts, refused connects).
    pub fn pool_failures() -> u64 {
        POOL_FAILURES.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The design this project exists to avoid, kept for the callback benchmark's comparator only: a pooled
    /// connection taken (and used once) before `work` and held until it ends, as Notify's inbound-SMS callback
    /// task holds its session across the HTTP call. Waits for a connection as long as it takes, counting each
    /// acquire timeout.
    pub async fn hold_connection_during<T>(
        &self,
        work: impl std::future::Future<Output = T>,
        acquire_timeouts: &std::sync::atomic::AtomicU64,
    ) -> DbResult<T> {
        let conn = loop {
            match self.conn().await {
                Ok(conn) => break conn,
                Err(DbError::Pool(_)) => {
                    acquire_timeouts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        };
        conn.query_typed("SELECT 1", &[]).await?;
        let result = work.await;
        drop(conn);
        Ok(result)
    }

    /// What autovacuum would do for `notifications` after a purge, throttled as autovacuum is (2 ms cost delay):
    /// for benchmarks on a server without it. Only on a short-lived `Db`: the setting stays on its connection.
    pub async fn vacuum_notifications(&self) -> DbResult<()> {
        let conn = self.conn().await?;
        conn.batch_execute("SET vacuum_cost_delay = 2").await?;
        Ok(conn.batch_execute("VACUUM notifications").await?)
    }
}
