//! The callback log (`callback_attempts`): attempts written in batches by the status consumer, listed by the
//! admin API, read by the callback replay, purged after [`RETENTION`].

use chrono::{DateTime, Utc};
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use crate::{Db, DbError, DbResult, delivery_callback, outbox::DUE_STATUSES_SQL, text_enum};
use notify_core::callback_log::{AttemptOutcome, AttemptStatus, CallbackAttempt, RETENTION};
use notify_core::callbacks::{CallbackTarget, DeliveryStatusData};
use notify_core::model::{CallbackType, NotificationStatus};

/// A page of the log, newest first: the filters are all optional.
#[derive(Clone, Debug, Default)]
pub struct CallbackAttemptFilter {
    pub status: Option<AttemptStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub page: i64,
    pub page_size: i64,
}

/// One logged attempt with its row id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackAttemptRecord {
    pub id: i64,
    pub attempt: CallbackAttempt,
}

/// Which notifications a replay re-sends the delivery-status callback of.
#[derive(Clone, Debug)]
pub struct ReplaySelection {
    pub service_id: Uuid,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Only those whose latest logged delivery-status attempt failed.
    pub only_failed: bool,
}

impl Db {
    /// The attempts in one statement, however many.
    pub async fn record_callback_attempts(&self, attempts: &[CallbackAttempt]) -> DbResult<u64> {
        if attempts.is_empty() {
            return Ok(0);
        }
        let mut services = Vec::with_capacity(attempts.len());
        let mut types = Vec::with_capacity(attempts.len());
        let mut subjects = Vec::with_capacity(attempts.len());
        let mut urls = Vec::with_capacity(attempts.len());
        let mut ats = Vec::with_capacity(attempts.len());
        let mut codes: Vec<Option<i32>> = Vec::with_capacity(attempts.len());
        let mut errors = Vec::with_capacity(attempts.len());
        let mut durations = Vec::with_capacity(attempts.len());
        let mut numbers = Vec::with_capacity(attempts.len());
        let mut outcomes = Vec::with_capacity(attempts.len());
        for a in attempts {
            services.push(a.service_id);
            types.push(a.callback_type.as_str().to_string());
            subjects.push(a.subject_id);
            urls.push(a.url.clone());
            ats.push(a.at);
            codes.push(a.status_code.map(i32::from));
            errors.push(a.error.clone());
            durations.push(i32::try_from(a.duration_ms).unwrap_or(i32::MAX));
            numbers.push(i32::try_from(a.attempt).unwrap_or(i32::MAX));
            outcomes.push(a.outcome.as_str().to_string());
        }
        self.execute(
            "INSERT INTO callback_attempts (service_id, callback_type, subject_id, url, attempted_at, status_code, \
                 error, duration_ms, attempt, outcome) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::timestamptz[], $6::int4[], \
                 $7::text[], $8::int4[], $9::int4[], $10::text[])",
            &[
                (&services, Type::UUID_ARRAY),
                (&types, Type::TEXT_ARRAY),
                (&subjects, Type::UUID_ARRAY),
                (&urls, Type::TEXT_ARRAY),
                (&ats, Type::TIMESTAMPTZ_ARRAY),
                (&codes, Type::INT4_ARRAY),
                (&errors, Type::TEXT_ARRAY),
                (&durations, Type::INT4_ARRAY),
                (&numbers, Type::INT4_ARRAY),
                (&outcomes, Type::TEXT_ARRAY),
            ],
        )
        .await
    }

    /// A service's attempts, newest first, one page of them, with how many match in all.
    pub async fn list_callback_attempts(
        &self,
        service_id: Uuid,
        filter: &CallbackAttemptFilter,
    ) -> DbResult<(Vec<CallbackAttemptRecord>, i64)> {
        let failed: Option<bool> = filter.status.map(|s| s == AttemptStatus::Failed);
        let condition = "service_id = $1 AND ($2::bool IS NULL OR failed = $2) \
             AND ($3::timestamptz IS NULL OR attempted_at >= $3) \
             AND ($4::timestamptz IS NULL OR attempted_at <= $4)";
        let params: [(&(dyn ToSql + Sync), Type); 4] = [
            (&service_id, Type::UUID),
            (&failed, Type::BOOL),
            (&filter.from, Type::TIMESTAMPTZ),
            (&filter.to, Type::TIMESTAMPTZ),
        ];
        let total: i64 = self
            .query(
                &format!("SELECT count(*) AS total FROM callback_attempts WHERE {condition}"),
                &params,
            )
            .await?[0]
            .try_get("total")?;
        let offset = (filter.page.max(1) - 1) * filter.page_size;
        let mut page_params = params.to_vec();
        page_params.push((&filter.page_size, Type::INT8));
        page_params.push((&offset, Type::INT8));
        let rows = self
            .query(
                &format!(
                    "SELECT id, service_id, callback_type, subject_id, url, attempted_at, status_code, error, \
                         duration_ms, attempt, outcome \
                     FROM callback_attempts WHERE {condition} \
                     ORDER BY attempted_at DESC, id DESC LIMIT $5 OFFSET $6"
                ),
                &page_params,
            )
            .await?;
        let records = rows
            .iter()
            .map(|row| {
                let code: Option<i32> = row.try_get("status_code")?;
                Ok(CallbackAttemptRecord {
                    id: row.try_get("id")?,
                    attempt: CallbackAttempt {
                        at: row.try_get("attempted_at")?,
                        callback_type: text_enum(row, "callback_type", CallbackType::parse)?,
                        service_id: row.try_get("service_id")?,
                        subject_id: row.try_get("subject_id")?,
                        url: row.try_get("url")?,
                        status_code: code.and_then(|c| u16::try_from(c).ok()),
                        error: row.try_get("error")?,
                        duration_ms: u32::try_from(row.try_get::<_, i32>("duration_ms")?)
                            .unwrap_or(0),
                        attempt: u32::try_from(row.try_get::<_, i32>("attempt")?).unwrap_or(0),
                        outcome: text_enum(row, "outcome", AttemptOutcome::parse)?,
                    },
                })
            })
            .collect::<DbResult<Vec<_>>>()?;
        Ok((records, total))
    }

    /// Removes up to `limit` attempts older than [`RETENTION`].
    pub async fn purge_old_callback_attempts(&self, limit: i64) -> DbResult<u64> {
        let keep_secs = RETENTION.num_seconds() as f64;
        self.execute(
            "DELETE FROM callback_attempts WHERE id IN ( \
                 SELECT id FROM callback_attempts \
                 WHERE attempted_at < now() - make_interval(secs => $1) LIMIT $2)",
            &[(&keep_secs, Type::FLOAT8), (&limit, Type::INT8)],
        )
        .await
    }

    /// How many notifications a replay will re-send the callback of (for its progress bar).
    pub async fn count_replay_delivery_callbacks(
        &self,
        selection: &ReplaySelection,
    ) -> DbResult<i64> {
        let none: Option<Uuid> = None;
        let limit = i64::MAX;
        Ok(self
            .query(
                &format!("SELECT count(*) AS total {}", replay_from_where()),
                &replay_params(selection, &none, &limit),
            )
            .await?[0]
            .try_get("total")?)
    }

    /// The next `limit` notifications of a replay after `after` (by id, so the pages are stable while
    /// statuses change), each with what its current delivery-status callback needs: notifications created or
    /// updated in the window, in a status that calls back, with a callback URL of their own (`callback_url` on the
    /// send) or their service's delivery-status callback; signed as the outbox relay signs.
    pub async fn replay_delivery_callbacks(
        &self,
        selection: &ReplaySelection,
        after: Option<Uuid>,
        limit: i64,
    ) -> DbResult<Vec<(DeliveryStatusData, CallbackTarget)>> {
        let rows = self
            .query(
                &format!(
                    "SELECT n.id, n.notification_status, n.service_id, n.client_reference, n.\"to\", \
                         n.created_at, n.updated_at, n.sent_at, n.notification_type, n.template_id, \
                         n.template_version, coalesce(n.callback_url, a.url) AS callback_url, \
                         a.bearer_token AS callback_token, \
                         ARRAY(SELECT s.secret FROM service_callback_signing_secrets s \
                             WHERE s.service_id = n.service_id \
                               AND (s.expires_at IS NULL OR s.expires_at > now()) \
                             ORDER BY s.created_at DESC, s.id) AS signing_secrets \
                     {} ORDER BY n.id LIMIT $6",
                    replay_from_where()
                ),
                &replay_params(selection, &after, &limit),
            )
            .await?;
        let mut due = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: Uuid = row.try_get("id")?;
            let status = text_enum(row, "notification_status", NotificationStatus::parse)?;
            match delivery_callback(row, id, status)? {
                Some(callback) => due.push(callback),
                None => {
                    return Err(DbError::Data(format!(
                        "notification {id} selected for replay has no callback"
                    )));
                }
            }
        }
        Ok(due)
    }
}

/// The notifications of a replay: `$1` service, `$2`..`$3` the window, `$4` the last id already seen, `$5`
/// whether only those whose latest logged delivery-status attempt failed, `$6` the page size (named in the
/// condition too, so the count takes the same parameters as a page).
fn replay_from_where() -> String {
    format!(
        "FROM notifications n \
         LEFT JOIN service_callback_api a \
             ON a.service_id = n.service_id AND a.callback_type = 'delivery_status' \
         WHERE n.service_id = $1 \
           AND (n.callback_url IS NOT NULL OR a.url IS NOT NULL) \
           AND (n.created_at BETWEEN $2 AND $3 OR n.updated_at BETWEEN $2 AND $3) \
           AND n.notification_status IN {DUE_STATUSES_SQL} \
           AND ($4::uuid IS NULL OR n.id > $4) AND $6::int8 > 0 \
           AND (NOT $5 OR EXISTS ( \
               SELECT 1 FROM (SELECT failed FROM callback_attempts l \
                   WHERE l.subject_id = n.id AND l.callback_type = 'delivery_status' \
                   ORDER BY l.attempted_at DESC, l.id DESC LIMIT 1) latest \
               WHERE latest.failed))"
    )
}

fn replay_params<'a>(
    selection: &'a ReplaySelection,
    after: &'a Option<Uuid>,
    limit: &'a i64,
) -> [(&'a (dyn ToSql + Sync), Type); 6] {
    [
        (&selection.service_id, Type::UUID),
        (&selection.from, Type::TIMESTAMPTZ),
        (&selection.to, Type::TIMESTAMPTZ),
        (after, Type::UUID),
        (&selection.only_failed, Type::BOOL),
        (limit, Type::INT8),
    ]
}
