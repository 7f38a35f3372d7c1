//! The one module that speaks tokio-postgres. Everything else works in domain types.
//!
//! RDS Proxy rules kept here: every query goes through the `*_typed` methods (the unnamed statement, one round
//! trip, nothing left on the session), no session `SET`, no `LISTEN/NOTIFY`, no advisory locks.

mod delivery;
mod inbound;
mod jobs;
mod notifications;
mod services;
mod templates;

pub use delivery::*;
pub use inbound::*;
pub use jobs::*;
pub use notifications::*;
pub use services::*;
pub use templates::*;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{NoTls, Row};

mod embedded {
    refinery::embed_migrations!("../infra/migrations");
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("database pool: {0}")]
    Pool(String),
    #[error("migrations: {0}")]
    Migration(String),
    #[error("stored data: {0}")]
    Data(String),
}

impl DbError {
    /// The name of the violated unique constraint, so callers can answer 400 rather than 500.
    pub fn unique_violation(&self) -> Option<&str> {
        match self {
            DbError::Postgres(e) => e
                .as_db_error()
                .filter(|d| d.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
                .and_then(|d| d.constraint()),
            _ => None,
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

/// Short-lived connections from a small bounded pool. Handed out per unit of work and returned as soon as it
/// is done, so nothing downstream can hold one across an outbound HTTP call.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// Short-lived mode (workers, Lambda): each connection is closed when its unit of work ends, so none is
    /// open while the caller goes on to make an outbound HTTP call.
    keep_idle: bool,
}

/// A connection for one unit of work; in short-lived mode it is closed, not pooled, when dropped.
pub(crate) struct Conn {
    object: Option<deadpool_postgres::Object>,
    keep_idle: bool,
}

impl std::ops::Deref for Conn {
    type Target = deadpool_postgres::Object;
    fn deref(&self) -> &Self::Target {
        self.object.as_ref().expect("connection present until drop")
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.object.as_mut().expect("connection present until drop")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let (false, Some(object)) = (self.keep_idle, self.object.take()) {
            // Detached from the pool and dropped: the client goes, and with it the server connection.
            drop(deadpool_postgres::Object::take(object));
        }
    }
}

/// TLS verified against the webpki roots (RDS Proxy serves ACM certificates), used when the URL says
/// `sslmode=require`. Otherwise plain TCP: a local server's self-signed certificate would not verify.
fn tls() -> tokio_postgres_rustls::MakeRustlsConnect {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_postgres_rustls::MakeRustlsConnect::new(config)
}

static POOL_FAILURES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub(crate) type Param<'a> = (&'a (dyn ToSql + Sync), Type);

impl Db {
    pub fn connect(database_url: &str, pool_size: usize, application_name: &str) -> DbResult<Self> {
        if database_url.is_empty() {
            return Err(DbError::Pool("DATABASE_URL must be set".into()));
        }
        let mut pg: tokio_postgres::Config = database_url
            .parse()
            .map_err(|e: tokio_postgres::Error| DbError::Pool(e.to_string()))?;
        pg.application_name(application_name);
        pg.connect_timeout(Duration::from_secs(5));
        let recycling = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match pg.get_ssl_mode() {
            SslMode::Require => Manager::from_config(pg, tls(), recycling),
            _ => Manager::from_config(pg, NoTls, recycling),
        };
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(5)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| DbError::Pool(e.to_string()))?;
        Ok(Db {
            pool,
            keep_idle: true,
        })
    }

    /// Connections that live only as long as one unit of work: for code that goes on to call providers or
    /// callback receivers, and for Lambda, where an idle pooled connection would sit on an RDS Proxy slot.
    pub fn connect_short_lived(
        database_url: &str,
        max_at_once: usize,
        application_name: &str,
    ) -> DbResult<Self> {
        Ok(Db {
            keep_idle: false,
            ..Db::connect(database_url, max_at_once, application_name)?
        })
    }

    pub(crate) async fn conn(&self) -> DbResult<Conn> {
        let object = self.pool.get().await.map_err(|e| {
            POOL_FAILURES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            DbError::Pool(e.to_string())
        })?;
        Ok(Conn {
            object: Some(object),
            keep_idle: self.keep_idle,
        })
    }

    pub async fn migrate(&self) -> DbResult<usize> {
        let mut conn = self.conn().await?;
        let client: &mut tokio_postgres::Client = &mut conn;
        let report = embedded::migrations::runner()
            .run_async(client)
            .await
            .map_err(|e| DbError::Migration(e.to_string()))?;
        Ok(report.applied_migrations().len())
    }

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

    /// Connections this pool has open right now (idle or in use).
    pub fn open_connections(&self) -> usize {
        self.pool.status().size
    }

    pub(crate) async fn query(&self, sql: &str, params: &[Param<'_>]) -> DbResult<Vec<Row>> {
        Ok(self.conn().await?.query_typed(sql, params).await?)
    }

    pub(crate) async fn query_opt(&self, sql: &str, params: &[Param<'_>]) -> DbResult<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    pub(crate) async fn execute(&self, sql: &str, params: &[Param<'_>]) -> DbResult<u64> {
        Ok(self.conn().await?.execute_typed(sql, params).await?)
    }
}

pub(crate) fn text_enum<T>(row: &Row, column: &str, parse: fn(&str) -> Option<T>) -> DbResult<T> {
    let text: String = row.try_get(column)?;
    parse(&text).ok_or_else(|| DbError::Data(format!("unexpected {column} {text:?}")))
}

/// Creates `name` on the server behind `admin_url` unless it exists: the local stack's own database.
pub async fn ensure_database(admin_url: &str, name: &str) -> DbResult<()> {
    let (client, connection) = tokio_postgres::connect(admin_url, NoTls).await?;
    let task = tokio::spawn(connection);
    let exists = !client
        .query_typed(
            "SELECT 1 FROM pg_database WHERE datname = $1",
            &[(&name, Type::TEXT)],
        )
        .await?
        .is_empty();
    if !exists {
        let quoted = name.replace('"', "\"\"");
        if let Err(e) = client
            .batch_execute(&format!("CREATE DATABASE \"{quoted}\""))
            .await
        {
            // Another process created it between the check and now.
            if e.code() != Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) {
                return Err(e.into());
            }
        }
    }
    drop(client);
    let _ = task.await;
    Ok(())
}

/// Whether a Postgres server answers at `url` (within a second).
pub async fn answers(url: &str) -> bool {
    let Ok(mut config) = url.parse::<tokio_postgres::Config>() else {
        return false;
    };
    config.connect_timeout(Duration::from_secs(1));
    match config.connect(NoTls).await {
        Ok((client, connection)) => {
            let task = tokio::spawn(connection);
            drop(client);
            let _ = task.await;
            true
        }
        Err(_) => false,
    }
}

impl Db {
    /// Removes a service and everything it owns; for functional-test data only.
    pub async fn purge_service(&self, service_id: uuid::Uuid) -> DbResult<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        for sql in [
            "DELETE FROM notifications WHERE service_id = $1",
            "DELETE FROM notification_history WHERE service_id = $1",
            "DELETE FROM jobs WHERE service_id = $1",
            "UPDATE inbound_numbers SET service_id = NULL WHERE service_id = $1",
            "DELETE FROM service_sms_senders WHERE service_id = $1",
            "UPDATE templates SET service_letter_contact_id = NULL WHERE service_id = $1",
            "DELETE FROM services WHERE id = $1",
            "DELETE FROM services_history WHERE id = $1",
        ] {
            tx.execute_typed(sql, &[(&service_id, Type::UUID)]).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
