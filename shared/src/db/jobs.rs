//! What the scheduled housekeeping jobs read and change. Each call is one bounded statement, so a job works in
//! batches and resumes on its next run instead of holding one long transaction.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{Db, DbResult, delivery_callback, text_enum};
use crate::callbacks::{CallbackTarget, DeliveryStatusData};
use crate::model::{NotificationStatus, NotificationType};

/// Where the replay job has got to: created_at, then id.
pub type ReplayCursor = (DateTime<Utc>, Uuid);

impl Db {
    /// SMS and email still `created` more than `after` ago and less than 7 days ago, after `cursor`, oldest first.
    pub async fn created_for_replay(
        &self,
        after: std::time::Duration,
        cursor: Option<ReplayCursor>,
        limit: i64,
    ) -> DbResult<Vec<(Uuid, NotificationType, DateTime<Utc>)>> {
        let seconds = after.as_secs_f64();
        let (from_at, from_id) = cursor.unzip();
        let rows = self
            .query(
                "SELECT id, notification_type, created_at FROM notifications \
                 WHERE notification_status = 'created' AND notification_type IN ('sms', 'email') \
                   AND created_at < now() - make_interval(secs => $1) AND created_at > now() - interval '7 days' \
                   AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3)) \
                 ORDER BY created_at, id LIMIT $4",
                &[
                    (&seconds, Type::FLOAT8),
                    (&from_at, Type::TIMESTAMPTZ),
                    (&from_id, Type::UUID),
                    (&limit, Type::INT8),
                ],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    text_enum(r, "notification_type", NotificationType::parse)?,
                    r.try_get(2)?,
                ))
            })
            .collect()
    }

    /// Up to `limit` SMS and email still `sending`/`pending` 72 hours after creation become
    /// `temporary-failure`; returns the delivery-status callbacks that makes due.
    pub async fn time_out_sending(
        &self,
        limit: i64,
    ) -> DbResult<(u64, Vec<(DeliveryStatusData, CallbackTarget)>)> {
        let rows = self
            .query(
                "WITH doomed AS ( \
                     SELECT id FROM notifications WHERE notification_status IN ('sending', 'pending') \
                       AND notification_type IN ('sms', 'email') AND created_at < now() - interval '72 hours' \
                     ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED), \
                 updated AS ( \
                     UPDATE notifications n SET notification_status = 'temporary-failure', updated_at = now() \
                     FROM doomed d WHERE n.id = d.id \
                     RETURNING n.id, n.service_id, n.client_reference, n.\"to\", n.created_at, n.updated_at, \
                         n.sent_at, n.notification_type, n.template_id, n.template_version) \
                 SELECT u.*, c.url AS callback_url, c.bearer_token AS callback_token FROM updated u \
                 LEFT JOIN service_callback_api c ON c.service_id = u.service_id \
                     AND c.callback_type = 'delivery_status'",
                &[(&limit, Type::INT8)],
            )
            .await?;
        let mut due = Vec::new();
        for row in &rows {
            let id: Uuid = row.try_get("id")?;
            if let Some(callback) =
                delivery_callback(row, id, NotificationStatus::TemporaryFailure)?
            {
                due.push(callback);
            }
        }
        Ok((rows.len() as u64, due))
    }

    /// Up to `limit` notifications past their service's retention for their type (default 7 days; the cutoff is
    /// London midnight that many days ago) move to `notification_history` without recipient, personalisation,
    /// reply-to or unsubscribe link, and leave `notifications`. Test-key ones leave no history. Returns how
    /// many were removed.
    pub async fn purge_expired_notifications(&self, limit: i64) -> DbResult<u64> {
        let rows = self
            .query(
                "WITH doomed AS ( \
                     SELECT n.id FROM notifications n \
                     LEFT JOIN service_data_retention r ON r.service_id = n.service_id \
                         AND r.notification_type = n.notification_type \
                     WHERE n.created_at < (date_trunc('day', now() AT TIME ZONE 'Europe/London') \
                         - make_interval(days => COALESCE(r.days_of_retention, 7))) AT TIME ZONE 'Europe/London' \
                     ORDER BY n.created_at LIMIT $1 FOR UPDATE OF n SKIP LOCKED), \
                 kept AS ( \
                     INSERT INTO notification_history (id, job_id, job_row_number, service_id, template_id, \
                         template_version, api_key_id, key_type, billable_units, notification_type, created_at, \
                         sent_at, sent_by, updated_at, notification_status, reference, client_reference, \
                         international, phone_prefix, rate_multiplier, created_by_id, postage, \
                         document_download_count) \
                     SELECT n.id, n.job_id, n.job_row_number, n.service_id, n.template_id, n.template_version, \
                         n.api_key_id, n.key_type, n.billable_units, n.notification_type, n.created_at, n.sent_at, \
                         n.sent_by, n.updated_at, n.notification_status, n.reference, n.client_reference, \
                         n.international, n.phone_prefix, n.rate_multiplier, n.created_by_id, n.postage, \
                         n.document_download_count \
                     FROM notifications n JOIN doomed d ON d.id = n.id WHERE n.key_type <> 'test' \
                     ON CONFLICT (id) DO UPDATE SET notification_status = EXCLUDED.notification_status, \
                         updated_at = EXCLUDED.updated_at, sent_at = EXCLUDED.sent_at, sent_by = EXCLUDED.sent_by, \
                         billable_units = EXCLUDED.billable_units, reference = EXCLUDED.reference \
                     RETURNING id) \
                 DELETE FROM notifications n USING doomed d WHERE n.id = d.id RETURNING n.id",
                &[(&limit, Type::INT8)],
            )
            .await?;
        Ok(rows.len() as u64)
    }

    /// Up to `limit` inbound texts past their service's SMS retention, deleted.
    pub async fn purge_expired_inbound_sms(&self, limit: i64) -> DbResult<u64> {
        self.execute(
            "DELETE FROM inbound_sms WHERE id IN ( \
                 SELECT i.id FROM inbound_sms i \
                 LEFT JOIN service_data_retention r ON r.service_id = i.service_id AND r.notification_type = 'sms' \
                 WHERE i.created_at < (date_trunc('day', now() AT TIME ZONE 'Europe/London') \
                     - make_interval(days => COALESCE(r.days_of_retention, 7))) AT TIME ZONE 'Europe/London' \
                 LIMIT $1)",
            &[(&limit, Type::INT8)],
        )
        .await
    }

    /// Every SMS provider's weight moves up to `points` towards its resting weight; returns those that moved.
    pub async fn tend_sms_providers_to_resting(&self, points: i32) -> DbResult<Vec<(String, i32)>> {
        let rows = self
            .query(
                "WITH moved AS ( \
                     UPDATE provider_details SET \
                         priority = CASE WHEN priority > resting_priority \
                             THEN GREATEST(priority - $1, resting_priority) \
                             ELSE LEAST(priority + $1, resting_priority) END, \
                         updated_at = now(), version = version + 1 \
                     WHERE notification_type = 'sms' AND resting_priority IS NOT NULL \
                       AND priority <> resting_priority RETURNING *), \
                 history AS (INSERT INTO provider_details_history SELECT * FROM moved) \
                 SELECT identifier, priority FROM moved ORDER BY identifier",
                &[(&points, Type::INT4)],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// SMS providers slow in the last 15 minutes (GOV.UK's rule): of at least `minimum` texts they took, 15 % or
    /// more took over 5 minutes from sent to delivered, or are still waiting 5 minutes after sending.
    pub async fn slow_sms_providers(&self, minimum: i64) -> DbResult<Vec<String>> {
        let rows = self
            .query(
                "SELECT sent_by FROM notifications \
                 WHERE notification_type = 'sms' AND sent_at > now() - interval '15 minutes' AND sent_by IS NOT NULL \
                   AND key_type <> 'test' \
                 GROUP BY sent_by \
                 HAVING count(*) >= $1 AND count(*) FILTER (WHERE \
                     (notification_status = 'delivered' AND updated_at - sent_at > interval '5 minutes') \
                     OR (notification_status IN ('sending', 'pending') AND now() - sent_at > interval '5 minutes')) \
                     >= 0.15 * count(*)",
                &[(&minimum, Type::INT8)],
            )
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }
}
