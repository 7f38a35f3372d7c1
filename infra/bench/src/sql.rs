//! The benchmarks' own SQL, on their own connections: how quickly a service's notifications went out, how many
//! connections an application holds, copies of a notification, a throttled vacuum, and the connection-holding
//! comparator of `notify bench callbacks`. None of it is anything a function does.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use notify_core::model::NotificationStatus;
use tokio_postgres::NoTls;
use tokio_postgres::types::Type;
use uuid::Uuid;

/// How quickly a service's SMS and email went out and came back: Notify's processing-time KPI (share handed to a
/// provider within 10 seconds of creation).
#[derive(Clone, Debug, serde::Serialize)]
pub struct SendTimings {
    pub notifications: i64,
    pub sent: i64,
    pub delivered: i64,
    pub sent_within_10s: i64,
    pub created_to_sent_p50_ms: Option<f64>,
    pub created_to_sent_p99_ms: Option<f64>,
    pub created_to_sent_max_ms: Option<f64>,
    /// From the first creation to the last status change.
    pub first_created_to_last_update_ms: Option<f64>,
}

/// A pool of the benchmarks' own, sized and timed out as `notify_db::Db`'s are (a 5 s wait for a connection, 5 s
/// to open one), under an application name of its own. Plain TCP: the benchmarks run against a local server.
#[derive(Clone)]
pub struct BenchDb {
    pool: Pool,
}

impl BenchDb {
    pub fn connect(
        database_url: &str,
        pool_size: usize,
        application_name: &str,
    ) -> anyhow::Result<Self> {
        let mut pg: tokio_postgres::Config = database_url.parse()?;
        pg.application_name(application_name);
        pg.connect_timeout(Duration::from_secs(5));
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(5)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()?;
        Ok(BenchDb { pool })
    }

    async fn conn(&self) -> anyhow::Result<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    pub async fn send_timings(&self, service_id: Uuid) -> anyhow::Result<SendTimings> {
        let row = self
            .conn()
            .await?
            .query_typed_one(
                "SELECT count(*), count(sent_at), \
                     count(*) FILTER (WHERE notification_status = 'delivered'), \
                     count(*) FILTER (WHERE sent_at - created_at <= interval '10 seconds'), \
                     percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)) * 1000, \
                     percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)) * 1000, \
                     max(extract(epoch FROM sent_at - created_at))::float8 * 1000, \
                     extract(epoch FROM max(updated_at) - min(created_at))::float8 * 1000 \
                 FROM notifications WHERE service_id = $1 AND notification_type IN ('sms', 'email')",
                &[(&service_id, Type::UUID)],
            )
            .await?;
        Ok(SendTimings {
            notifications: row.try_get(0)?,
            sent: row.try_get(1)?,
            delivered: row.try_get(2)?,
            sent_within_10s: row.try_get(3)?,
            created_to_sent_p50_ms: row.try_get(4)?,
            created_to_sent_p99_ms: row.try_get(5)?,
            created_to_sent_max_ms: row.try_get(6)?,
            first_created_to_last_update_ms: row.try_get(7)?,
        })
    }

    /// Server connections open under `application_name` right now.
    pub async fn connections_of(&self, application_name: &str) -> anyhow::Result<i64> {
        let row = self
            .conn()
            .await?
            .query_typed_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[(&application_name, Type::TEXT)],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    /// `count` copies of notification `like`, each in `status` with reference `{prefix}{n}`, created at
    /// `created_at` (or when `like` was).
    pub async fn copy_notification(
        &self,
        like: Uuid,
        count: i64,
        prefix: &str,
        status: NotificationStatus,
        created_at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<u64> {
        let status = status.as_str();
        Ok(self
            .conn()
            .await?
            .execute_typed(
                "INSERT INTO notifications SELECT (jsonb_populate_record(n, jsonb_build_object( \
                     'id', gen_random_uuid(), 'reference', $3 || g, 'notification_status', $4::text, \
                     'client_reference', NULL, 'created_at', COALESCE($5, n.created_at)))).* \
                 FROM notifications n, generate_series(1, $2) g WHERE n.id = $1",
                &[
                    (&like, Type::UUID),
                    (&count, Type::INT8),
                    (&prefix, Type::TEXT),
                    (&status, Type::TEXT),
                    (&created_at, Type::TIMESTAMPTZ),
                ],
            )
            .await?)
    }

    /// Whether the server vacuums by itself; RDS always does, a development server may not.
    pub async fn autovacuum_enabled(&self) -> anyhow::Result<bool> {
        let row = self
            .conn()
            .await?
            .query_typed_one("SELECT current_setting('autovacuum') = 'on'", &[])
            .await?;
        Ok(row.try_get(0)?)
    }

    /// What autovacuum would do for `notifications` after a purge, throttled as autovacuum is (2 ms cost delay):
    /// for a server without it. The setting stays on the connection, so give this a pool of its own.
    pub async fn vacuum_notifications(&self) -> anyhow::Result<()> {
        let conn = self.conn().await?;
        conn.batch_execute("SET vacuum_cost_delay = 2").await?;
        Ok(conn.batch_execute("VACUUM notifications").await?)
    }

    /// The design this project exists to avoid, for the callback benchmark's comparator only: a connection from
    /// this pool taken (and used once) before `work` and held until it ends, as Notify's inbound-SMS callback task
    /// holds its session across the HTTP call. Waits for a connection as long as it takes, counting each acquire
    /// that fails (mostly the 5 s wait timeout, as `notify_db::Db`'s pools have) in `acquire_timeouts`. What it measures
    /// is what it measured when it lived on `notify_db::Db`: a pool of the same size and timeouts, one
    /// `SELECT 1` on the connection, and the connection back in the pool only once `work` is done.
    pub async fn hold_connection_during<T>(
        &self,
        work: impl Future<Output = T>,
        acquire_timeouts: &AtomicU64,
    ) -> anyhow::Result<T> {
        let conn = loop {
            match self.pool.get().await {
                Ok(conn) => break conn,
                Err(_) => {
                    acquire_timeouts.fetch_add(1, Ordering::Relaxed);
                }
            }
        };
        conn.query_typed("SELECT 1", &[]).await?;
        let result = work.await;
        drop(conn);
        Ok(result)
    }
}
