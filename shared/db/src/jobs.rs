//! What the scheduled housekeeping jobs read and change. Each call is one bounded statement, so a job works in
//! batches and resumes on its next run instead of holding one long transaction.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::outbox::DELIVERY_CALLBACK_WANTED_SQL;
use crate::{Db, DbResult, text_enum};
use notify_core::model::NotificationType;

/// Where the replay job has got to: created_at, then id.
pub type ReplayCursor = (DateTime<Utc>, Uuid);

impl Db {
    /// SMS, email and letters still `created` more than `after` ago and less than 7 days ago, after `cursor`, oldest
    /// first, each with its service (the queue's fairness group). A letter whose PDF is stored is waiting for the
    /// collation, not for rendering: it is left out. So is a scheduled send still waiting for its time, or released
    /// less than `after` ago (its age is counted from its time, not from when it was accepted).
    pub async fn created_for_replay(
        &self,
        after: std::time::Duration,
        cursor: Option<ReplayCursor>,
        limit: i64,
    ) -> DbResult<Vec<(Uuid, NotificationType, DateTime<Utc>, Uuid)>> {
        let seconds = after.as_secs_f64();
        let (from_at, from_id) = cursor.unzip();
        let rows = self
            .query(
                "SELECT id, notification_type, created_at, service_id FROM notifications \
                 WHERE notification_status = 'created' AND notification_type IN ('sms', 'email', 'letter') \
                   AND created_at < now() - make_interval(secs => $1) AND created_at > now() - interval '7 days' \
                   AND NOT EXISTS (SELECT 1 FROM letter_files f WHERE f.notification_id = notifications.id) \
                   AND NOT EXISTS (SELECT 1 FROM scheduled_notifications s WHERE s.notification_id = notifications.id \
                     AND (s.pending OR s.scheduled_for > now() - make_interval(secs => $1))) \
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
                    r.try_get(3)?,
                ))
            })
            .collect()
    }

    /// Up to `limit` SMS and email still `sending`/`pending` 72 hours after creation become
    /// `temporary-failure`, their delivery-status callbacks written to the outbox in the same statement; returns
    /// how many timed out and the outbox rows.
    pub async fn time_out_sending(&self, limit: i64) -> DbResult<(u64, Vec<i64>)> {
        let rows = self
            .query(
                &format!("WITH doomed AS ( \
                     SELECT id FROM notifications WHERE notification_status IN ('sending', 'pending') \
                       AND notification_type IN ('sms', 'email') AND created_at < now() - interval '72 hours' \
                     ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED), \
                 updated AS ( \
                     UPDATE notifications n SET notification_status = 'temporary-failure', updated_at = now() \
                     FROM doomed d WHERE n.id = d.id RETURNING n.id, n.service_id, n.callback_url), \
                 outboxed AS ( \
                     INSERT INTO callback_outbox (callback_type, subject_id) \
                     SELECT 'delivery_status', u.id FROM updated u WHERE {DELIVERY_CALLBACK_WANTED_SQL} \
                     RETURNING id) \
                 SELECT (SELECT count(*) FROM updated), (SELECT coalesce(array_agg(id), '{{}}') FROM outboxed)"),
                &[(&limit, Type::INT8)],
            )
            .await?;
        let timed_out: i64 = rows[0].try_get(0)?;
        Ok((timed_out as u64, rows[0].try_get(1)?))
    }

    /// Up to `limit` notifications past their service's retention for their type (default 7 days; the cutoff is
    /// London midnight that many days ago) move to `notification_history` without recipient, personalisation,
    /// reply-to or unsubscribe link, and leave `notifications`. Test-key ones leave no history. Returns how
    /// many were removed.
    /// One channel at a time, through `(notification_type, created_at)` up to the shortest retention allowed
    /// (3 days). No ORDER BY: every row found goes, and sorting the whole expired range for each batch of 1,000
    /// made a batch take 1.3 s on a million expired rows.
    pub async fn purge_expired_notifications(
        &self,
        notification_type: NotificationType,
        limit: i64,
    ) -> DbResult<u64> {
        let kind = notification_type.as_str();
        let rows = self
            .query(
                "WITH doomed AS ( \
                     SELECT n.id FROM notifications n \
                     LEFT JOIN service_data_retention r ON r.service_id = n.service_id \
                         AND r.notification_type = n.notification_type \
                     WHERE n.notification_type = $2 \
                       AND n.created_at < (date_trunc('day', now() AT TIME ZONE 'Europe/London') \
                           - interval '3 days') AT TIME ZONE 'Europe/London' \
                       AND n.created_at < (date_trunc('day', now() AT TIME ZONE 'Europe/London') \
                         - make_interval(days => COALESCE(r.days_of_retention, 7))) AT TIME ZONE 'Europe/London' \
                     LIMIT $1 FOR UPDATE OF n SKIP LOCKED), \
                 kept AS ( \
                     INSERT INTO notification_history (id, job_id, job_row_number, service_id, template_id, \
                         template_version, api_key_id, key_type, billable_units, notification_type, created_at, \
                         sent_at, sent_by, updated_at, notification_status, reference, client_reference, \
                         international, phone_prefix, rate_multiplier, created_by_id, postage, \
                         document_download_count, callback_url) \
                     SELECT n.id, n.job_id, n.job_row_number, n.service_id, n.template_id, n.template_version, \
                         n.api_key_id, n.key_type, n.billable_units, n.notification_type, n.created_at, n.sent_at, \
                         n.sent_by, n.updated_at, n.notification_status, n.reference, n.client_reference, \
                         n.international, n.phone_prefix, n.rate_multiplier, n.created_by_id, n.postage, \
                         n.document_download_count, n.callback_url \
                     FROM notifications n JOIN doomed d ON d.id = n.id WHERE n.key_type <> 'test' \
                     ON CONFLICT (id) DO UPDATE SET notification_status = EXCLUDED.notification_status, \
                         updated_at = EXCLUDED.updated_at, sent_at = EXCLUDED.sent_at, sent_by = EXCLUDED.sent_by, \
                         billable_units = EXCLUDED.billable_units, reference = EXCLUDED.reference \
                     RETURNING id) \
                 DELETE FROM notifications n USING doomed d WHERE n.id = d.id RETURNING n.id",
                &[(&limit, Type::INT8), (&kind, Type::TEXT)],
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

/// What was sent, by channel, as the statistics show it.
#[derive(Clone, Debug, Default, serde::Serialize, PartialEq, Eq)]
pub struct ChannelStatistics {
    pub requested: i64,
    pub delivered: i64,
    pub failed: i64,
}

/// A year's usage per channel, from `ft_billing`.
#[derive(Clone, Debug, serde::Serialize, PartialEq)]
pub struct UsageSummary {
    pub notification_type: String,
    pub notifications_sent: i64,
    pub chargeable_units: i64,
    pub rate: f64,
    pub cost: f64,
}

/// Live rows and archived ones, alike, for the fact tables.
const ALL_NOTIFICATIONS: &str = "(SELECT id, template_id, service_id, job_id, notification_type, key_type, \
     notification_status, created_at, sent_by, rate_multiplier, international, billable_units, postage \
     FROM notifications \
     UNION ALL SELECT id, template_id, service_id, job_id, notification_type, key_type, notification_status, \
     created_at, sent_by, rate_multiplier, international, billable_units, postage FROM notification_history)";

impl Db {
    /// The London date `days_ago` days before today.
    pub async fn london_day(&self, days_ago: i32) -> DbResult<chrono::NaiveDate> {
        let row = self
            .query_opt(
                "SELECT (now() AT TIME ZONE 'Europe/London')::date - $1",
                &[(&days_ago, Type::INT4)],
            )
            .await?
            .ok_or_else(|| crate::DbError::Data("no date".into()))?;
        Ok(row.try_get(0)?)
    }

    /// Rebuilds `ft_notification_status` for one London day, in one statement: upserts today's facts, removes
    /// those that no longer hold. Returns how many facts the day has.
    pub async fn rebuild_notification_status_facts(&self, day: chrono::NaiveDate) -> DbResult<u64> {
        let sql = format!(
            "WITH facts AS ( \
                 SELECT template_id, service_id, COALESCE(job_id, '00000000-0000-0000-0000-000000000000') AS job_id, \
                     notification_type, key_type, notification_status, count(*)::int AS n \
                 FROM {ALL_NOTIFICATIONS} a \
                 WHERE created_at >= ($1::date)::timestamp AT TIME ZONE 'Europe/London' \
                   AND created_at < ($1::date + 1)::timestamp AT TIME ZONE 'Europe/London' \
                 GROUP BY 1, 2, 3, 4, 5, 6), \
             upserted AS ( \
                 INSERT INTO ft_notification_status (bst_date, template_id, service_id, job_id, notification_type, \
                     key_type, notification_status, notification_count) \
                 SELECT $1, template_id, service_id, job_id, notification_type, key_type, notification_status, n \
                 FROM facts \
                 ON CONFLICT (bst_date, template_id, service_id, job_id, notification_type, key_type, \
                     notification_status) DO UPDATE SET notification_count = EXCLUDED.notification_count, \
                     created_at = now() \
                 RETURNING 1), \
             removed AS ( \
                 DELETE FROM ft_notification_status f WHERE f.bst_date = $1 AND NOT EXISTS (SELECT 1 FROM facts x \
                     WHERE x.template_id = f.template_id AND x.service_id = f.service_id AND x.job_id = f.job_id \
                       AND x.notification_type = f.notification_type AND x.key_type = f.key_type \
                       AND x.notification_status = f.notification_status) RETURNING 1) \
             SELECT (SELECT count(*) FROM upserted), (SELECT count(*) FROM removed)"
        );
        let rows = self.query(&sql, &[(&day, Type::DATE)]).await?;
        Ok(rows
            .first()
            .map(|r| r.try_get::<_, i64>(0))
            .transpose()?
            .unwrap_or(0) as u64)
    }

    /// Rebuilds `ft_billing` for one London day, the same way, live and team keys only, each channel's billable
    /// statuses as upstream's: texts at the SMS rate in force on the day; letters (sending, delivered, returned)
    /// by DVLA at the letter rate of their post class and sheet count (`billable_units`) in force at the day's
    /// London midnight, for the service's crown status. Returns how many facts the day has.
    pub async fn rebuild_billing_facts(&self, day: chrono::NaiveDate) -> DbResult<u64> {
        let sql = format!(
            "WITH grouped AS ( \
                 SELECT a.template_id, a.service_id, a.notification_type, \
                     CASE WHEN a.notification_type = 'letter' THEN 'dvla' ELSE COALESCE(a.sent_by, 'unknown') END \
                         AS provider, \
                     COALESCE(a.rate_multiplier, 1) AS rate_multiplier, a.international, \
                     COALESCE(a.postage, 'none') AS postage, \
                     CASE WHEN a.notification_type = 'letter' THEN a.billable_units END AS sheets, \
                     COALESCE(s.crown, true) AS crown, \
                     sum(a.billable_units)::int AS units, count(*)::int AS sent \
                 FROM {ALL_NOTIFICATIONS} a LEFT JOIN services s ON s.id = a.service_id \
                 WHERE a.created_at >= ($1::date)::timestamp AT TIME ZONE 'Europe/London' \
                   AND a.created_at < ($1::date + 1)::timestamp AT TIME ZONE 'Europe/London' \
                   AND a.key_type <> 'test' \
                   AND CASE WHEN a.notification_type = 'letter' \
                       THEN a.notification_status IN ('sending', 'delivered', 'returned-letter') \
                       ELSE a.notification_status IN ('sending', 'sent', 'delivered', 'pending', \
                           'temporary-failure', 'permanent-failure') END \
                 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9), \
             priced AS ( \
                 SELECT g.*, CASE \
                     WHEN g.notification_type = 'sms' THEN COALESCE((SELECT r.rate FROM rates r \
                         WHERE r.notification_type = 'sms' AND r.valid_from <= ($1::date)::timestamp \
                         ORDER BY r.valid_from DESC LIMIT 1), 0) \
                     WHEN g.notification_type = 'letter' THEN COALESCE((SELECT l.rate FROM letter_rates l \
                         WHERE l.post_class = g.postage AND l.sheet_count = g.sheets AND l.crown = g.crown \
                           AND l.start_date <= ($1::date)::timestamp AT TIME ZONE 'Europe/London' \
                         ORDER BY l.start_date DESC LIMIT 1), 0) \
                     ELSE 0 END AS rate \
                 FROM grouped g), \
             facts AS ( \
                 SELECT template_id, service_id, notification_type, provider, rate_multiplier, international, rate, \
                     postage, sum(units)::int AS units, sum(sent)::int AS sent \
                 FROM priced GROUP BY 1, 2, 3, 4, 5, 6, 7, 8), \
             upserted AS ( \
                 INSERT INTO ft_billing (bst_date, template_id, service_id, notification_type, provider, \
                     rate_multiplier, international, rate, postage, billable_units, notifications_sent) \
                 SELECT $1, template_id, service_id, notification_type, provider, rate_multiplier, international, \
                     rate, postage, units, sent FROM facts \
                 ON CONFLICT (bst_date, template_id, service_id, notification_type, provider, rate_multiplier, \
                     international, rate, postage) DO UPDATE SET billable_units = EXCLUDED.billable_units, \
                     notifications_sent = EXCLUDED.notifications_sent, created_at = now() \
                 RETURNING 1), \
             removed AS ( \
                 DELETE FROM ft_billing f WHERE f.bst_date = $1 AND NOT EXISTS (SELECT 1 FROM facts x \
                     WHERE x.template_id = f.template_id AND x.service_id = f.service_id \
                       AND x.notification_type = f.notification_type AND x.provider = f.provider \
                       AND x.rate_multiplier = f.rate_multiplier AND x.international = f.international \
                       AND x.rate = f.rate AND x.postage = f.postage) RETURNING 1) \
             SELECT (SELECT count(*) FROM upserted), (SELECT count(*) FROM removed)"
        );
        let rows = self.query(&sql, &[(&day, Type::DATE)]).await?;
        Ok(rows
            .first()
            .map(|r| r.try_get::<_, i64>(0))
            .transpose()?
            .unwrap_or(0) as u64)
    }

    /// Today (London) from `notifications`, earlier days of the last `days` from `ft_notification_status`,
    /// live and team keys only, per channel.
    pub async fn service_statistics(
        &self,
        service_id: Uuid,
        days: i32,
    ) -> DbResult<Vec<(String, ChannelStatistics)>> {
        let rows = self
            .query(
                "WITH today AS (SELECT (now() AT TIME ZONE 'Europe/London')::date AS d), \
                 counts AS ( \
                     SELECT notification_type, notification_status, notification_count::bigint AS n \
                     FROM ft_notification_status, today WHERE service_id = $1 AND key_type <> 'test' \
                       AND bst_date >= today.d - ($2 - 1) AND bst_date < today.d \
                     UNION ALL \
                     SELECT notification_type, notification_status, count(*) FROM notifications, today \
                     WHERE service_id = $1 AND key_type <> 'test' \
                       AND created_at >= (today.d)::timestamp AT TIME ZONE 'Europe/London' \
                     GROUP BY 1, 2) \
                 SELECT notification_type, sum(n)::bigint, \
                     (sum(n) FILTER (WHERE notification_status IN ('delivered', 'sent')))::bigint, \
                     (sum(n) FILTER (WHERE notification_status IN ('technical-failure', 'temporary-failure', \
                         'permanent-failure', 'validation-failed', 'virus-scan-failed', 'failed')))::bigint \
                 FROM counts GROUP BY 1",
                &[(&service_id, Type::UUID), (&days, Type::INT4)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    ChannelStatistics {
                        requested: r.try_get::<_, Option<i64>>(1)?.unwrap_or(0),
                        delivered: r.try_get::<_, Option<i64>>(2)?.unwrap_or(0),
                        failed: r.try_get::<_, Option<i64>>(3)?.unwrap_or(0),
                    },
                ))
            })
            .collect()
    }

    /// A calendar year's usage per channel, from `ft_billing`. Letters are charged per letter: their rate already
    /// counts the sheets (`billable_units`).
    pub async fn usage_summary(&self, service_id: Uuid, year: i32) -> DbResult<Vec<UsageSummary>> {
        let rows = self
            .query(
                "SELECT notification_type, sum(notifications_sent)::bigint, \
                     sum(CASE WHEN notification_type = 'letter' THEN notifications_sent \
                         ELSE billable_units * rate_multiplier END)::bigint, max(rate), \
                     sum(CASE WHEN notification_type = 'letter' THEN notifications_sent * rate \
                         ELSE billable_units * rate_multiplier * rate END) \
                 FROM ft_billing WHERE service_id = $1 \
                   AND bst_date >= make_date($2, 1, 1) AND bst_date < make_date($2 + 1, 1, 1) \
                 GROUP BY notification_type ORDER BY notification_type",
                &[(&service_id, Type::UUID), (&year, Type::INT4)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(UsageSummary {
                    notification_type: r.try_get(0)?,
                    notifications_sent: r.try_get(1)?,
                    chargeable_units: r.try_get(2)?,
                    rate: r.try_get(3)?,
                    cost: r.try_get(4)?,
                })
            })
            .collect()
    }
}
