use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbResult, KeyCompletion, text_enum};
use notify_core::model::{KeyType, NotificationStatus, NotificationType, Postage};

/// A notification as the send path creates it: everything the delivery worker will need later.
#[derive(Clone, Debug)]
pub struct NewNotification {
    pub id: Uuid,
    pub to: String,
    pub normalised_to: Option<String>,
    pub service_id: Uuid,
    pub template_id: Uuid,
    pub template_version: i32,
    pub api_key_id: Option<Uuid>,
    pub key_type: KeyType,
    pub notification_type: NotificationType,
    pub created_at: DateTime<Utc>,
    pub status: NotificationStatus,
    pub client_reference: Option<String>,
    pub encrypted_personalisation: Option<String>,
    pub international: bool,
    pub phone_prefix: Option<String>,
    pub rate_multiplier: Option<f64>,
    pub reply_to_text: Option<String>,
    pub postage: Option<Postage>,
    pub unsubscribe_link: Option<String>,
    pub billable_units: i32,
    pub created_by_id: Option<Uuid>,
    pub job_id: Option<Uuid>,
    pub job_row_number: Option<i32>,
    /// A letter's 16-character reference (upstream sets it as the letter is stored); `None` for the others,
    /// whose provider gives them one.
    pub reference: Option<String>,
    /// Where this notification's delivery-status callbacks go instead of the service's callback URL.
    pub callback_url: Option<notify_core::callbacks::CallbackUrl>,
    /// How many files sent by email the notification links to (upstream's column); `None` without any.
    pub document_download_count: Option<i32>,
}

/// A stored notification joined with what reading it needs: its template version, prices and creator.
#[derive(Clone, Debug)]
pub struct NotificationRecord {
    pub id: Uuid,
    pub to: String,
    pub normalised_to: Option<String>,
    pub service_id: Uuid,
    pub template_id: Uuid,
    pub template_version: i32,
    pub key_type: KeyType,
    pub notification_type: NotificationType,
    pub status: NotificationStatus,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub billable_units: i32,
    pub client_reference: Option<String>,
    pub encrypted_personalisation: Option<String>,
    pub rate_multiplier: Option<f64>,
    pub postage: Option<Postage>,
    pub unsubscribe_link: Option<String>,
    pub created_by_name: Option<String>,
    pub template_content: String,
    pub template_subject: Option<String>,
    pub template_hidden: bool,
    pub sms_rate: Option<f64>,
    pub letter_rate: Option<f64>,
    /// A single send scheduled for later (issue 14): when.
    pub scheduled_for: Option<DateTime<Utc>>,
}

/// `GET /v2/notifications` filters, already expanded and validated.
#[derive(Clone, Debug, Default)]
pub struct NotificationFilter {
    pub statuses: Vec<NotificationStatus>,
    pub template_types: Vec<NotificationType>,
    pub client_reference: Option<String>,
    pub older_than: Option<Uuid>,
    pub include_jobs: bool,
}

const RECORD_COLUMNS: &str = "n.id, n.\"to\", n.normalised_to, n.service_id, n.template_id, n.template_version, \
    n.key_type, n.notification_type, n.notification_status, n.created_at, n.sent_at, n.updated_at, n.billable_units, \
    n.client_reference, n.personalisation, n.rate_multiplier, n.postage, n.unsubscribe_link, \
    u.name AS created_by_name, h.content AS template_content, h.subject AS template_subject, h.hidden AS template_hidden, \
    (SELECT r.rate FROM rates r WHERE r.notification_type = 'sms' AND r.valid_from <= n.created_at \
        ORDER BY r.valid_from DESC LIMIT 1) AS sms_rate, \
    (SELECT l.rate FROM letter_rates l WHERE l.post_class = n.postage AND l.sheet_count = n.billable_units \
        AND l.crown = COALESCE(s.crown, true) AND l.start_date <= n.created_at \
        AND (l.end_date IS NULL OR l.end_date > n.created_at) ORDER BY l.start_date DESC LIMIT 1) AS letter_rate, \
    (SELECT sn.scheduled_for FROM scheduled_notifications sn WHERE sn.notification_id = n.id) AS scheduled_for";

const RECORD_FROM: &str = "notifications n JOIN templates_history h ON h.id = n.template_id AND h.version = n.template_version \
    JOIN services s ON s.id = n.service_id LEFT JOIN users u ON u.id = n.created_by_id";

fn record_from_row(row: &Row) -> DbResult<NotificationRecord> {
    let postage: Option<String> = row.try_get("postage")?;
    Ok(NotificationRecord {
        id: row.try_get("id")?,
        to: row.try_get("to")?,
        normalised_to: row.try_get("normalised_to")?,
        service_id: row.try_get("service_id")?,
        template_id: row.try_get("template_id")?,
        template_version: row.try_get("template_version")?,
        key_type: text_enum(row, "key_type", KeyType::parse)?,
        notification_type: text_enum(row, "notification_type", NotificationType::parse)?,
        status: text_enum(row, "notification_status", NotificationStatus::parse)?,
        created_at: row.try_get("created_at")?,
        sent_at: row.try_get("sent_at")?,
        updated_at: row.try_get("updated_at")?,
        billable_units: row.try_get("billable_units")?,
        client_reference: row.try_get("client_reference")?,
        encrypted_personalisation: row.try_get("personalisation")?,
        rate_multiplier: row.try_get("rate_multiplier")?,
        postage: postage.as_deref().and_then(Postage::parse),
        unsubscribe_link: row.try_get("unsubscribe_link")?,
        created_by_name: row.try_get("created_by_name")?,
        template_content: row.try_get("template_content")?,
        template_subject: row.try_get("template_subject")?,
        template_hidden: row.try_get("template_hidden")?,
        sms_rate: row.try_get("sms_rate")?,
        letter_rate: row.try_get("letter_rate")?,
        scheduled_for: row.try_get("scheduled_for")?,
    })
}

impl Db {
    /// One INSERT (plus, for a precompiled letter, its `precompiled_letters` row naming the upload already in the
    /// file store, in the same transaction): after it returns the notification is durably stored.
    pub async fn insert_notification(
        &self,
        new: &NewNotification,
        precompiled_upload_key: Option<&str>,
    ) -> DbResult<()> {
        self.insert_notification_scheduled(new, precompiled_upload_key, None)
            .await
    }

    /// [`Db::insert_notification`], and for a single send scheduled for later (issue 14) its
    /// `scheduled_notifications` row in the same statement (`Db::insert_scheduled_notification`).
    pub(crate) async fn insert_notification_scheduled(
        &self,
        new: &NewNotification,
        precompiled_upload_key: Option<&str>,
        scheduled_for: Option<DateTime<Utc>>,
    ) -> DbResult<()> {
        self.insert_notification_completing_key(new, precompiled_upload_key, scheduled_for, None)
            .await
            .map(|_| ())
    }

    /// The one insert of a send: the notification, its precompiled letter's upload or its schedule, and (with an
    /// Idempotency-Key) the key, fingerprint and response on the notification's own row, all in one statement or
    /// one transaction (see `idempotency`). False when another notification of the service holds the key within
    /// its retention: nothing stored.
    pub async fn insert_notification_completing_key(
        &self,
        new: &NewNotification,
        precompiled_upload_key: Option<&str>,
        scheduled_for: Option<DateTime<Utc>>,
        key: Option<&KeyCompletion<'_>>,
    ) -> DbResult<bool> {
        const COLUMNS: &str = "INSERT INTO notifications (id, \"to\", normalised_to, service_id, template_id, \
                 template_version, api_key_id, key_type, notification_type, created_at, notification_status, \
                 client_reference, personalisation, international, phone_prefix, rate_multiplier, reply_to_text, \
                 postage, unsubscribe_link, billable_units, created_by_id, job_id, job_row_number, reference, \
                 callback_url, document_download_count)";
        const VALUES: &str = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
                 $19, $20, $21, $22, $23, $24, $25, $26";
        let key_type = new.key_type.as_str();
        let notification_type = new.notification_type.as_str();
        let status = new.status.as_str();
        let postage = new.postage.map(Postage::as_str);
        let callback_url = new.callback_url.as_ref().map(|u| u.as_str());
        let mut params: Vec<crate::Param<'_>> = vec![
            (&new.id, Type::UUID),
            (&new.to, Type::TEXT),
            (&new.normalised_to, Type::TEXT),
            (&new.service_id, Type::UUID),
            (&new.template_id, Type::UUID),
            (&new.template_version, Type::INT4),
            (&new.api_key_id, Type::UUID),
            (&key_type, Type::TEXT),
            (&notification_type, Type::TEXT),
            (&new.created_at, Type::TIMESTAMPTZ),
            (&status, Type::TEXT),
            (&new.client_reference, Type::TEXT),
            (&new.encrypted_personalisation, Type::TEXT),
            (&new.international, Type::BOOL),
            (&new.phone_prefix, Type::TEXT),
            (&new.rate_multiplier, Type::FLOAT8),
            (&new.reply_to_text, Type::TEXT),
            (&postage, Type::TEXT),
            (&new.unsubscribe_link, Type::TEXT),
            (&new.billable_units, Type::INT4),
            (&new.created_by_id, Type::UUID),
            (&new.job_id, Type::UUID),
            (&new.job_row_number, Type::INT4),
            (&new.reference, Type::TEXT),
            (&callback_url, Type::TEXT),
            (&new.document_download_count, Type::INT4),
        ];
        // With a key, its three columns join the same single-row INSERT (see `idempotency`): no second row, no
        // CTE, no ON CONFLICT, which measured as a quarter to a third of the statement's cost.
        let bound = key.map(KeyCompletion::bind);
        let key_params = bound.as_ref().map(|b| b.on_notification());
        let (columns, values) = match &key_params {
            None => (COLUMNS.to_string(), VALUES.to_string()),
            Some(extra) => {
                params.extend_from_slice(extra);
                (
                    format!(
                        "{}, idempotency_key, idempotency_fingerprint, idempotency_response)",
                        COLUMNS.trim_end_matches(')')
                    ),
                    format!("{VALUES}, $27, $28, $29"),
                )
            }
        };
        let insert = format!("{columns} VALUES ({values})");
        let scheduled = scheduled_for.map(|at| {
            let at_param = params.len() + 1;
            // One statement, so one round trip and one commit: the send and its schedule are stored together.
            let sql = format!(
                "WITH n AS ({insert} RETURNING id) \
                 INSERT INTO scheduled_notifications (notification_id, scheduled_for) SELECT id, ${at_param} FROM n"
            );
            (sql, at)
        });
        if let Some((_, at)) = &scheduled {
            params.push((at, Type::TIMESTAMPTZ));
        }
        let sql = scheduled.as_ref().map_or(insert.as_str(), |(sql, _)| sql);
        // A key still on a notification past its retention (the hourly purge not yet run) is forgotten, and the
        // insert tried once more.
        for _ in 0..2 {
            match self
                .insert_once(sql, &params, new, precompiled_upload_key)
                .await
            {
                Err(e)
                    if e.unique_violation() == Some(crate::idempotency::NOTIFICATION_KEY_INDEX) =>
                {
                    match &bound {
                        Some(b) if self.forget_stale_key_on_notification(b).await? => continue,
                        _ => return Ok(false),
                    }
                }
                other => return other,
            }
        }
        Ok(false)
    }

    async fn insert_once(
        &self,
        sql: &str,
        params: &[crate::Param<'_>],
        new: &NewNotification,
        precompiled_upload_key: Option<&str>,
    ) -> DbResult<bool> {
        let mut conn = self.conn().await?;
        match precompiled_upload_key {
            None => Ok(conn.execute_typed(sql, params).await? == 1),
            Some(upload_key) => {
                let tx = conn.transaction().await?;
                if tx.execute_typed(sql, params).await? != 1 {
                    return Ok(false);
                }
                tx.execute_typed(
                    "INSERT INTO precompiled_letters (notification_id, upload_key) VALUES ($1, $2)",
                    &[(&new.id, Type::UUID), (&upload_key, Type::TEXT)],
                )
                .await?;
                tx.commit().await?;
                Ok(true)
            }
        }
    }

    pub async fn get_notification(
        &self,
        service_id: Uuid,
        id: Uuid,
    ) -> DbResult<Option<NotificationRecord>> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM {RECORD_FROM} WHERE n.id = $1 AND n.service_id = $2"
        );
        self.query_opt(&sql, &[(&id, Type::UUID), (&service_id, Type::UUID)])
            .await?
            .map(|r| record_from_row(&r))
            .transpose()
    }

    /// A precompiled letter's upload as letters accepted before uploads went to the file store kept it.
    pub async fn letter_pdf(&self, notification_id: Uuid) -> DbResult<Option<Vec<u8>>> {
        Ok(self
            .query_opt(
                "SELECT pdf FROM notification_letter_pdfs WHERE notification_id = $1",
                &[(&notification_id, Type::UUID)],
            )
            .await?
            .map(|r| r.get(0)))
    }

    /// Newest first, only the caller's key type, as `GET /v2/notifications` lists them.
    pub async fn list_notifications(
        &self,
        service_id: Uuid,
        key_type: KeyType,
        filter: &NotificationFilter,
        limit: i64,
    ) -> DbResult<Vec<NotificationRecord>> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM {RECORD_FROM} \
             WHERE n.service_id = $1 AND n.key_type = $2 \
               AND (cardinality($3::text[]) = 0 OR n.notification_status = ANY($3)) \
               AND (cardinality($4::text[]) = 0 OR n.notification_type = ANY($4)) \
               AND ($5::text IS NULL OR n.client_reference = $5) \
               AND ($6 OR n.job_id IS NULL) \
               AND ($7::uuid IS NULL OR n.created_at < \
                   (SELECT o.created_at FROM notifications o WHERE o.id = $7 AND o.service_id = $1)) \
             ORDER BY n.created_at DESC, n.id DESC LIMIT $8"
        );
        let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        let types: Vec<&str> = filter.template_types.iter().map(|t| t.as_str()).collect();
        let key_type = key_type.as_str();
        self.query(
            &sql,
            &[
                (&service_id, Type::UUID),
                (&key_type, Type::TEXT),
                (&statuses, Type::TEXT_ARRAY),
                (&types, Type::TEXT_ARRAY),
                (&filter.client_reference, Type::TEXT),
                (&filter.include_jobs, Type::BOOL),
                (&filter.older_than, Type::UUID),
                (&limit, Type::INT8),
            ],
        )
        .await?
        .iter()
        .map(record_from_row)
        .collect()
    }

    /// Notifications the send path stored but could not queue; the replay job picks them up.
    pub async fn created_notifications_older_than(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> DbResult<Vec<(Uuid, NotificationType)>> {
        let rows = self
            .query(
                "SELECT id, notification_type FROM notifications WHERE notification_status = 'created' \
                   AND notification_type IN ('sms', 'email') AND created_at < $1 \
                   AND created_at > now() - interval '7 days' ORDER BY created_at LIMIT $2",
                &[(&cutoff, Type::TIMESTAMPTZ), (&limit, Type::INT8)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    text_enum(r, "notification_type", NotificationType::parse)?,
                ))
            })
            .collect()
    }
}
