//! Letters after they are sent, as the team and Notify's operators manage them: cancelling one before it goes to
//! print, the letters Royal Mail sent back, and the letter brandings (logos) services print with.

use chrono::{DateTime, NaiveDate, Utc};
use postgres_from_row::FromRow;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbResult, from_row};

/// A notification as the admin API shows it (upstream's `notification_with_template_schema`), with its template
/// version, key, creator and job. Personalisation is still encrypted.
#[derive(Clone, Debug, FromRow)]
pub struct AdminNotificationRecord {
    pub id: Uuid,
    pub to: String,
    pub normalised_to: Option<String>,
    pub job_id: Option<Uuid>,
    pub job_row_number: Option<i32>,
    pub job_original_file_name: Option<String>,
    pub service_id: Uuid,
    pub template_id: Uuid,
    pub template_version: i32,
    pub template_name: String,
    pub template_type: String,
    pub template_content: String,
    pub template_subject: Option<String>,
    pub template_hidden: bool,
    pub template_letter_languages: String,
    pub template_letter_welsh_subject: Option<String>,
    pub template_letter_welsh_content: Option<String>,
    pub template_has_unsubscribe_link: bool,
    pub api_key_id: Option<Uuid>,
    pub key_name: Option<String>,
    pub key_type: String,
    pub billable_units: i32,
    pub notification_type: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub sent_by: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    pub notification_status: String,
    pub reference: Option<String>,
    pub client_reference: Option<String>,
    pub personalisation: Option<String>,
    pub international: bool,
    pub phone_prefix: Option<String>,
    pub rate_multiplier: Option<f64>,
    pub created_by_id: Option<Uuid>,
    pub created_by_name: Option<String>,
    pub created_by_email_address: Option<String>,
    pub reply_to_text: Option<String>,
    pub postage: Option<String>,
    pub document_download_count: Option<i32>,
    /// The letter's pages, once its PDF is stored (rendered, or a precompiled one that passed its checks).
    pub page_count: Option<i32>,
    /// Why the letter failed validation, when it did: upstream's code (`letter-too-long`, …).
    pub validation_code: Option<String>,
    pub invalid_pages: Option<Vec<i32>>,
}

/// What an operator needs to know about one letter's PDF: where it is, what the scanner made of the upload (for a
/// precompiled letter) and why it failed validation, if it did.
#[derive(Clone, Debug, FromRow)]
pub struct LetterPdfStatusRecord {
    pub notification_id: Uuid,
    pub notification_status: String,
    /// Sent as a PDF (the service's hidden precompiled template), not rendered from a template.
    pub precompiled: bool,
    /// The file as uploaded, for a precompiled letter.
    pub upload_key: Option<String>,
    /// The file the printer gets.
    pub file_key: Option<String>,
    pub page_count: Option<i32>,
    pub scanner: Option<String>,
    pub scan_result: Option<String>,
    pub signature: Option<String>,
    pub scan_attempts: Option<i32>,
    pub last_scan_error: Option<String>,
    pub last_scan_at: Option<DateTime<Utc>>,
    pub scanned_at: Option<DateTime<Utc>>,
    pub checked_at: Option<DateTime<Utc>>,
    pub validation_code: Option<String>,
    pub invalid_pages: Option<Vec<i32>>,
}

/// What processing one chunk of a returned-letters list did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReturnedLettersChunk {
    /// Letters in `notifications` now `returned-letter`.
    pub updated: u64,
    /// Letters already purged to `notification_history`, updated there.
    pub updated_history: u64,
    /// References no letter has.
    pub unknown: Vec<String>,
    /// Returned-letter callbacks written to the outbox (first reports only, for services with that callback).
    pub outbox_ids: Vec<i64>,
}

#[derive(Clone, Debug, FromRow)]
pub struct LetterBrandingRecord {
    pub id: Uuid,
    pub name: String,
    /// The logo's file name; the file is at `letter-logos/{filename}` in the file store.
    pub filename: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub created_by_id: Option<Uuid>,
    pub updated_by_id: Option<Uuid>,
}

/// One letter rate: what a letter of `sheet_count` sheets costs in `post_class` from `start_date`.
#[derive(Clone, Debug, FromRow)]
pub struct LetterRateRecord {
    pub post_class: String,
    pub sheet_count: i32,
    pub rate: f64,
    pub start_date: DateTime<Utc>,
}

/// What [`AdminNotificationRecord`] reads, for every statement that answers notifications as the admin API
/// shows them (`n` is `notifications`); the caller adds its `WHERE`.
pub(crate) const ADMIN_NOTIFICATION_SELECT_SQL: &str = "SELECT n.id, n.\"to\" AS \"to\", n.normalised_to, n.job_id, n.job_row_number, \
                 j.original_file_name AS job_original_file_name, n.service_id, n.template_id, n.template_version, \
                 h.name AS template_name, h.template_type, h.content AS template_content, \
                 h.subject AS template_subject, h.hidden AS template_hidden, \
                 h.letter_languages AS template_letter_languages, \
                 h.letter_welsh_subject AS template_letter_welsh_subject, \
                 h.letter_welsh_content AS template_letter_welsh_content, \
                 h.has_unsubscribe_link AS template_has_unsubscribe_link, \
                 n.api_key_id, k.name AS key_name, n.key_type, n.billable_units, n.notification_type, n.created_at, \
                 n.sent_at, n.sent_by, n.updated_at, n.notification_status, n.reference, n.client_reference, \
                 n.personalisation, n.international, n.phone_prefix, n.rate_multiplier, n.created_by_id, \
                 u.name AS created_by_name, u.email_address AS created_by_email_address, n.reply_to_text, \
                 n.postage, n.document_download_count, f.page_count, v.message AS validation_code, \
                 v.invalid_pages \
             FROM notifications n \
             JOIN templates_history h ON h.id = n.template_id AND h.version = n.template_version \
             LEFT JOIN api_keys k ON k.id = n.api_key_id \
             LEFT JOIN users u ON u.id = n.created_by_id \
             LEFT JOIN jobs j ON j.id = n.job_id \
             LEFT JOIN letter_files f ON f.notification_id = n.id \
             LEFT JOIN letter_validation_results v ON v.notification_id = n.id";

const BRANDING_COLUMNS: &str =
    "id, name, filename, created_at, updated_at, created_by_id, updated_by_id";

impl Db {
    pub async fn admin_notification(
        &self,
        service_id: Uuid,
        id: Uuid,
    ) -> DbResult<Option<AdminNotificationRecord>> {
        self.query_opt(
            &format!("{ADMIN_NOTIFICATION_SELECT_SQL} WHERE n.id = $1 AND n.service_id = $2"),
            &[(&id, Type::UUID), (&service_id, Type::UUID)],
        )
        .await?
        .map(|r| from_row(&r))
        .transpose()
    }

    /// One letter's PDF status, in one read; `None` when the service has no such letter.
    pub async fn letter_pdf_status(
        &self,
        service_id: Uuid,
        id: Uuid,
    ) -> DbResult<Option<LetterPdfStatusRecord>> {
        self.query_opt(
            "SELECT n.id AS notification_id, n.notification_status, h.hidden AS precompiled, p.upload_key, \
                 f.file_key, f.page_count, p.scanner, p.scan_result, p.signature, p.scan_attempts, \
                 p.last_scan_error, p.last_scan_at, p.scanned_at, p.checked_at, v.message AS validation_code, \
                 v.invalid_pages \
             FROM notifications n \
             JOIN templates_history h ON h.id = n.template_id AND h.version = n.template_version \
             LEFT JOIN precompiled_letters p ON p.notification_id = n.id \
             LEFT JOIN letter_files f ON f.notification_id = n.id \
             LEFT JOIN letter_validation_results v ON v.notification_id = n.id \
             WHERE n.id = $1 AND n.service_id = $2 AND n.notification_type = 'letter'",
            &[(&id, Type::UUID), (&service_id, Type::UUID)],
        )
        .await?
        .map(|r| from_row(&r))
        .transpose()
    }

    /// `cancelled`, if the letter is still `created` or `pending-virus-check`: the status is checked by the same
    /// statement that changes it, so a letter the print run took meanwhile is not cancelled. `false` otherwise.
    pub async fn cancel_letter(
        &self,
        service_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> DbResult<bool> {
        let changed = self
            .execute(
                "UPDATE notifications SET notification_status = 'cancelled', updated_at = $3 \
                 WHERE id = $1 AND service_id = $2 AND notification_type = 'letter' \
                   AND notification_status IN ('created', 'pending-virus-check')",
                &[
                    (&id, Type::UUID),
                    (&service_id, Type::UUID),
                    (&at, Type::TIMESTAMPTZ),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    /// One chunk of a returned-letters list, in one statement: the letters with these references (live or
    /// purged to history) become `returned-letter`, each gets its `returned_letters` row (reported on
    /// `reported_at`), and, the first time it is reported, its returned-letter callback goes into the outbox when
    /// the service has one, committed together.
    pub async fn return_letters(
        &self,
        references: &[String],
        reported_at: NaiveDate,
        at: DateTime<Utc>,
    ) -> DbResult<ReturnedLettersChunk> {
        let row = self
            .query_opt(
                "WITH refs AS (SELECT DISTINCT unnest($1::text[]) AS reference), \
                 live AS ( \
                     UPDATE notifications n SET notification_status = 'returned-letter', updated_at = $3 \
                     FROM refs WHERE n.reference = refs.reference AND n.notification_type = 'letter' \
                     RETURNING n.id, n.service_id, n.reference), \
                 archived AS ( \
                     UPDATE notification_history h SET notification_status = 'returned-letter', updated_at = $3 \
                     FROM refs WHERE h.reference = refs.reference AND h.notification_type = 'letter' \
                       AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.id = h.id) \
                     RETURNING h.id, h.service_id, h.reference), \
                 matched AS (SELECT * FROM live UNION ALL SELECT * FROM archived), \
                 recorded AS ( \
                     INSERT INTO returned_letters (id, reported_at, service_id, notification_id) \
                     SELECT gen_random_uuid(), $2, service_id, id FROM matched \
                     ON CONFLICT (notification_id) DO NOTHING \
                     RETURNING notification_id, service_id), \
                 outboxed AS ( \
                     INSERT INTO callback_outbox (callback_type, subject_id) \
                     SELECT 'returned_letter', r.notification_id FROM recorded r \
                     WHERE EXISTS (SELECT 1 FROM service_callback_api a \
                         WHERE a.service_id = r.service_id AND a.callback_type = 'returned_letter') \
                     RETURNING id) \
                 SELECT (SELECT count(*) FROM live) AS updated, (SELECT count(*) FROM archived) AS updated_history, \
                     ARRAY(SELECT reference FROM refs WHERE reference NOT IN (SELECT reference FROM matched) \
                         ORDER BY reference) AS unknown, \
                     ARRAY(SELECT id FROM outboxed ORDER BY id) AS outbox_ids",
                &[
                    (&references, Type::TEXT_ARRAY),
                    (&reported_at, Type::DATE),
                    (&at, Type::TIMESTAMPTZ),
                ],
            )
            .await?
            .ok_or_else(|| crate::DbError::Data("no result".into()))?;
        Ok(ReturnedLettersChunk {
            updated: row.try_get::<_, i64>("updated")? as u64,
            updated_history: row.try_get::<_, i64>("updated_history")? as u64,
            unknown: row.try_get("unknown")?,
            outbox_ids: row.try_get("outbox_ids")?,
        })
    }

    /// The rates in force at `at`, as upstream lists them: crown rows only (crown and non-crown are the same), by
    /// sheets, rate and post class.
    pub async fn current_letter_rates(&self, at: DateTime<Utc>) -> DbResult<Vec<LetterRateRecord>> {
        self.query(
            "SELECT post_class, sheet_count, rate, start_date FROM letter_rates \
             WHERE crown AND start_date <= $1 AND (end_date IS NULL OR end_date > $1) \
             ORDER BY sheet_count, rate, post_class",
            &[(&at, Type::TIMESTAMPTZ)],
        )
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    pub async fn create_letter_branding(
        &self,
        id: Uuid,
        name: &str,
        filename: &str,
        created_by_id: Option<Uuid>,
    ) -> DbResult<LetterBrandingRecord> {
        let sql = format!(
            "INSERT INTO letter_branding (id, name, filename, created_by_id) VALUES ($1, $2, $3, $4) \
             RETURNING {BRANDING_COLUMNS}"
        );
        let row = self
            .query_opt(
                &sql,
                &[
                    (&id, Type::UUID),
                    (&name, Type::TEXT),
                    (&filename, Type::TEXT),
                    (&created_by_id, Type::UUID),
                ],
            )
            .await?
            .ok_or_else(|| crate::DbError::Data("no row returned".into()))?;
        from_row(&row)
    }

    pub async fn update_letter_branding(
        &self,
        id: Uuid,
        name: &str,
        filename: &str,
        updated_by_id: Option<Uuid>,
    ) -> DbResult<Option<LetterBrandingRecord>> {
        let sql = format!(
            "UPDATE letter_branding SET name = $2, filename = $3, updated_by_id = $4, updated_at = now() \
             WHERE id = $1 RETURNING {BRANDING_COLUMNS}"
        );
        self.query_opt(
            &sql,
            &[
                (&id, Type::UUID),
                (&name, Type::TEXT),
                (&filename, Type::TEXT),
                (&updated_by_id, Type::UUID),
            ],
        )
        .await?
        .map(|r| from_row(&r))
        .transpose()
    }

    pub async fn get_letter_branding(&self, id: Uuid) -> DbResult<Option<LetterBrandingRecord>> {
        let sql = format!("SELECT {BRANDING_COLUMNS} FROM letter_branding WHERE id = $1");
        self.query_opt(&sql, &[(&id, Type::UUID)])
            .await?
            .map(|r| from_row(&r))
            .transpose()
    }

    /// Every letter branding, by name, as upstream lists them.
    pub async fn list_letter_branding(&self) -> DbResult<Vec<LetterBrandingRecord>> {
        let sql = format!("SELECT {BRANDING_COLUMNS} FROM letter_branding ORDER BY name");
        self.query(&sql, &[]).await?.iter().map(from_row).collect()
    }

    /// The letter branding a service prints with, when it has one: what the render step reads.
    pub async fn service_letter_branding(
        &self,
        service_id: Uuid,
    ) -> DbResult<Option<LetterBrandingRecord>> {
        let sql = format!(
            "SELECT {} FROM letter_branding b JOIN services s ON s.letter_branding_id = b.id WHERE s.id = $1",
            BRANDING_COLUMNS
                .split(", ")
                .map(|c| format!("b.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.query_opt(&sql, &[(&service_id, Type::UUID)])
            .await?
            .map(|r| from_row(&r))
            .transpose()
    }
}
