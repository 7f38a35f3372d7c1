//! What the bulk housekeeping jobs change: scheduled jobs released, stuck jobs marked `error`, processed jobs
//! finished, scheduled single sends stored, released and cancelled.
//!
//! Two schedulers may run the same job at once (an EventBridge retry, the local scheduler beside `notify run-job`):
//! every claim is one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING` statement, so each row
//! is taken by exactly one of them. The row lock ends with the statement; no advisory lock (RDS Proxy pins a
//! session that takes one), no transaction held while the caller queues.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbResult, NewNotification, text_enum};
use notify_core::model::NotificationType;

/// A job a scheduler took: queue its `ProcessJob` in the service's group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TakenJob {
    pub id: Uuid,
    pub service_id: Uuid,
}

/// A scheduled send released for delivery: queue it on its channel's queue, in its service's group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReleasedNotification {
    pub id: Uuid,
    pub notification_type: NotificationType,
    pub service_id: Uuid,
}

/// What cancelling a scheduled single send did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduledCancel {
    /// It was still waiting: now `cancelled`, and never released.
    Cancelled,
    /// It has no `scheduled_notifications` row: it was never scheduled.
    NotScheduled,
    /// Released (or cancelled) already, at or after this time.
    AlreadyReleased { scheduled_for: DateTime<Utc> },
}

fn taken(rows: &[tokio_postgres::Row]) -> DbResult<Vec<TakenJob>> {
    rows.iter()
        .map(|r| {
            Ok(TakenJob {
                id: r.try_get("id")?,
                service_id: r.try_get("service_id")?,
            })
        })
        .collect()
}

impl Db {
    /// Up to `limit` `scheduled` jobs due at `now` become `pending`; returns them, each taken by one caller only.
    pub async fn release_scheduled_jobs(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> DbResult<Vec<TakenJob>> {
        let rows = self
            .query(
                "UPDATE jobs SET job_status = 'pending', updated_at = $1 \
                 WHERE job_status = 'scheduled' AND id IN ( \
                   SELECT id FROM jobs WHERE job_status = 'scheduled' AND scheduled_for <= $1 \
                   ORDER BY scheduled_for LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, service_id",
                &[(&now, Type::TIMESTAMPTZ), (&limit, Type::INT8)],
            )
            .await?;
        taken(&rows)
    }

    /// Upstream's `check-job-status`: up to `limit` jobs `in progress` whose last heartbeat (or start) is
    /// `stuck_after` old, and `pending` jobs `stuck_after` past their time (scheduled or created), become `error`;
    /// returns them for their `ProcessJob` (the worker claims `error` jobs and resumes from `rows_processed`).
    pub async fn error_stuck_jobs(
        &self,
        now: DateTime<Utc>,
        stuck_after: std::time::Duration,
        limit: i64,
    ) -> DbResult<Vec<TakenJob>> {
        let cutoff = now - chrono::Duration::from_std(stuck_after).unwrap_or_default();
        let rows = self
            .query(
                "UPDATE jobs SET job_status = 'error', updated_at = $1 \
                 WHERE job_status IN ('in progress', 'pending') AND id IN ( \
                   SELECT id FROM jobs WHERE \
                     (job_status = 'in progress' \
                        AND COALESCE(processing_heartbeat, processing_started, created_at) < $2) \
                     OR (job_status = 'pending' AND COALESCE(scheduled_for, created_at) < $2) \
                   ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, service_id",
                &[
                    (&now, Type::TIMESTAMPTZ),
                    (&cutoff, Type::TIMESTAMPTZ),
                    (&limit, Type::INT8),
                ],
            )
            .await?;
        taken(&rows)
    }

    /// Upstream's `update-status-of-fully-processed-jobs`: `finished` jobs whose processing finished between 1
    /// and 20 minutes before `now` and whose notifications number `notification_count` become `finished all
    /// notifications created`; returns how many.
    pub async fn finish_fully_processed_jobs(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> DbResult<u64> {
        self.execute(
            "UPDATE jobs SET job_status = 'finished all notifications created', updated_at = $1 \
             WHERE job_status = 'finished' AND id IN ( \
               SELECT j.id FROM jobs j WHERE j.job_status = 'finished' \
                 AND j.processing_finished < $1 - interval '1 minute' \
                 AND j.processing_finished > $1 - interval '20 minutes' \
                 AND (SELECT count(*) FROM notifications n WHERE n.job_id = j.id) = j.notification_count \
               LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[(&now, Type::TIMESTAMPTZ), (&limit, Type::INT8)],
        )
        .await
    }

    /// A single send for later: the notification (`created`) and its `scheduled_notifications` row, committed
    /// together, so there is never a scheduled send the release job cannot see, nor a row the replay job would
    /// queue early.
    pub async fn insert_scheduled_notification(
        &self,
        new: &NewNotification,
        scheduled_for: DateTime<Utc>,
    ) -> DbResult<()> {
        self.insert_notification_scheduled(new, None, Some(scheduled_for))
            .await
    }

    /// Up to `limit` scheduled sends due at `now`, still `created`, stop being pending; returns them, each to
    /// one caller only. A cancelled one is no longer pending and is never returned.
    pub async fn release_scheduled_notifications(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> DbResult<Vec<ReleasedNotification>> {
        let rows = self
            .query(
                "WITH released AS ( \
                   UPDATE scheduled_notifications SET pending = false \
                   WHERE pending AND notification_id IN ( \
                     SELECT notification_id FROM scheduled_notifications \
                     WHERE pending AND scheduled_for <= $1 \
                     ORDER BY scheduled_for LIMIT $2 FOR UPDATE SKIP LOCKED) \
                   RETURNING notification_id) \
                 SELECT n.id, n.notification_type, n.service_id FROM released r \
                 JOIN notifications n ON n.id = r.notification_id \
                 WHERE n.notification_status = 'created'",
                &[(&now, Type::TIMESTAMPTZ), (&limit, Type::INT8)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ReleasedNotification {
                    id: r.try_get("id")?,
                    notification_type: text_enum(r, "notification_type", NotificationType::parse)?,
                    service_id: r.try_get("service_id")?,
                })
            })
            .collect()
    }

    /// When a single send is scheduled for, if it was.
    pub async fn notification_scheduled_for(
        &self,
        notification_id: Uuid,
    ) -> DbResult<Option<DateTime<Utc>>> {
        Ok(self
            .query_opt(
                "SELECT scheduled_for FROM scheduled_notifications WHERE notification_id = $1",
                &[(&notification_id, Type::UUID)],
            )
            .await?
            .map(|r| r.get(0)))
    }

    /// A scheduled SMS or email still waiting becomes `cancelled` and stops being pending, in one statement: the
    /// release job's `SKIP LOCKED` skips the row this locks, and this one, waiting for the release's lock, finds
    /// it no longer pending.
    pub async fn cancel_scheduled_notification(
        &self,
        service_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> DbResult<ScheduledCancel> {
        let row = self
            .query_opt(
                "WITH stopped AS ( \
                   UPDATE scheduled_notifications s SET pending = false \
                   FROM notifications n \
                   WHERE s.notification_id = $1 AND s.pending AND n.id = s.notification_id \
                     AND n.service_id = $2 AND n.notification_status = 'created' \
                   RETURNING s.notification_id), \
                 cancelled AS ( \
                   UPDATE notifications SET notification_status = 'cancelled', updated_at = $3 \
                   WHERE id IN (SELECT notification_id FROM stopped) RETURNING id) \
                 SELECT (SELECT count(*) FROM cancelled) AS cancelled, \
                   (SELECT scheduled_for FROM scheduled_notifications WHERE notification_id = $1) AS scheduled_for",
                &[
                    (&id, Type::UUID),
                    (&service_id, Type::UUID),
                    (&at, Type::TIMESTAMPTZ),
                ],
            )
            .await?;
        let Some(row) = row else {
            return Ok(ScheduledCancel::NotScheduled);
        };
        let cancelled: i64 = row.try_get("cancelled")?;
        let scheduled_for: Option<DateTime<Utc>> = row.try_get("scheduled_for")?;
        Ok(match (cancelled, scheduled_for) {
            (1.., _) => ScheduledCancel::Cancelled,
            (_, None) => ScheduledCancel::NotScheduled,
            (_, Some(scheduled_for)) => ScheduledCancel::AlreadyReleased { scheduled_for },
        })
    }
}
