//! Templated letters through the pipeline: what rendering reads and records, the collation, what printing
//! reads and records, and DVLA's despatch callbacks. Every method is one statement on a short-lived connection,
//! released before the caller renders, stores a file or calls the printer.

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::outbox::{DELIVERY_CALLBACK_WANTED_SQL, DUE_STATUSES_SQL};
use crate::{AppliedReceipt, Db, DbResult, text_enum};
use notify_core::model::{KeyType, LetterLanguages, NotificationStatus, NotificationType, Postage};

/// Everything rendering one letter needs, read in one statement.
#[derive(Clone, Debug)]
pub struct LetterToRender {
    pub id: Uuid,
    pub service_id: Uuid,
    pub status: NotificationStatus,
    pub key_type: KeyType,
    pub created_at: DateTime<Utc>,
    pub reference: Option<String>,
    pub postage: Option<Postage>,
    /// The address as accept normalised it: one line per entry, postcode or country last.
    pub address_lines: Vec<String>,
    /// Still encrypted: the use case decrypts it with no connection held.
    pub encrypted_personalisation: Option<String>,
    /// The letter contact block as it was when the letter was sent.
    pub contact_block: Option<String>,
    pub template_content: String,
    pub template_subject: Option<String>,
    pub letter_languages: LetterLanguages,
    pub letter_welsh_subject: Option<String>,
    pub letter_welsh_content: Option<String>,
    /// The service's letter logo: its key in the file store.
    pub logo_filename: Option<String>,
    /// Set when the PDF is already in the store (a redelivered message).
    pub file_key: Option<String>,
}

/// A rendered letter to record.
#[derive(Clone, Debug)]
pub struct RenderedRecord {
    pub id: Uuid,
    pub reference: String,
    pub file_key: String,
    pub page_count: i32,
    pub sheets: i32,
    pub key_type: KeyType,
}

/// Everything a print job needs, read in one statement.
#[derive(Clone, Debug)]
pub struct LetterToPrint {
    pub id: Uuid,
    pub service_id: Uuid,
    pub organisation_id: Option<Uuid>,
    pub status: NotificationStatus,
    pub key_type: KeyType,
    pub reference: Option<String>,
    pub address_lines: Vec<String>,
    pub postage: Option<Postage>,
    pub billable_units: i32,
    pub file_key: Option<String>,
}

/// What became of a print job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrintRecord {
    /// The printer has it: `sending`.
    Sent {
        provider: String,
        sent_at: DateTime<Utc>,
    },
    /// The printer refused it, or it could not be sent in time: `technical-failure`.
    Failed,
}

fn address_lines(to: &str) -> Vec<String> {
    to.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn postage(row: &Row) -> DbResult<Option<Postage>> {
    let postage: Option<String> = row.try_get("postage")?;
    Ok(postage.as_deref().and_then(Postage::parse))
}

fn to_render_from_row(row: &Row) -> DbResult<LetterToRender> {
    let to: String = row.try_get("to")?;
    Ok(LetterToRender {
        id: row.try_get("id")?,
        service_id: row.try_get("service_id")?,
        status: text_enum(row, "notification_status", NotificationStatus::parse)?,
        key_type: text_enum(row, "key_type", KeyType::parse)?,
        created_at: row.try_get("created_at")?,
        reference: row.try_get("reference")?,
        postage: postage(row)?,
        address_lines: address_lines(&to),
        encrypted_personalisation: row.try_get("personalisation")?,
        contact_block: row.try_get("reply_to_text")?,
        template_content: row.try_get("content")?,
        template_subject: row.try_get("subject")?,
        letter_languages: text_enum(row, "letter_languages", LetterLanguages::parse)?,
        letter_welsh_subject: row.try_get("letter_welsh_subject")?,
        letter_welsh_content: row.try_get("letter_welsh_content")?,
        logo_filename: row.try_get("logo_filename")?,
        file_key: row.try_get("file_key")?,
    })
}

impl Db {
    /// The letters of `ids` with what rendering them needs: their template version, the service's logo and
    /// whether their PDF is stored already. Ids that are not letters are left out.
    pub async fn letters_to_render(&self, ids: &[Uuid]) -> DbResult<Vec<LetterToRender>> {
        self.query(
            "SELECT n.id, n.service_id, n.notification_status, n.key_type, n.created_at, n.reference, n.postage, \
                 n.\"to\", n.personalisation, n.reply_to_text, h.content, h.subject, h.letter_languages, \
                 h.letter_welsh_subject, h.letter_welsh_content, b.filename AS logo_filename, f.file_key \
             FROM notifications n \
             JOIN templates_history h ON h.id = n.template_id AND h.version = n.template_version \
             JOIN services s ON s.id = n.service_id \
             LEFT JOIN letter_branding b ON b.id = s.letter_branding_id \
             LEFT JOIN letter_files f ON f.notification_id = n.id \
             WHERE n.id = ANY($1) AND n.notification_type = 'letter'",
            &[(&ids, Type::UUID_ARRAY)],
        )
        .await?
        .iter()
        .map(to_render_from_row)
        .collect()
    }

    /// Records a stored PDF: its `letter_files` row and the letter's sheets (`billable_units`), only while it is
    /// `created` (a cancelled letter stays cancelled). A test key's letter is never printed: it becomes
    /// `delivered` here and, as upstream, is not billed. Returns whether the letter was still `created`.
    pub async fn record_rendered(&self, rendered: &RenderedRecord) -> DbResult<bool> {
        let test_key = rendered.key_type == KeyType::Test;
        let rows = self
            .query(
                "WITH updated AS ( \
                     UPDATE notifications SET \
                         billable_units = CASE WHEN $6 THEN 0 ELSE $5 END, \
                         reference = COALESCE(reference, $2), \
                         notification_status = CASE WHEN $6 THEN 'delivered' ELSE notification_status END, \
                         updated_at = now() \
                     WHERE id = $1 AND notification_status = 'created' RETURNING id), \
                 filed AS ( \
                     INSERT INTO letter_files (notification_id, file_key, page_count) \
                     SELECT id, $3, $4 FROM updated \
                     ON CONFLICT (notification_id) DO UPDATE SET file_key = EXCLUDED.file_key, \
                         page_count = EXCLUDED.page_count, stored_at = now() RETURNING notification_id) \
                 SELECT count(*) FROM filed",
                &[
                    (&rendered.id, Type::UUID),
                    (&rendered.reference, Type::TEXT),
                    (&rendered.file_key, Type::TEXT),
                    (&rendered.page_count, Type::INT4),
                    (&rendered.sheets, Type::INT4),
                    (&test_key, Type::BOOL),
                ],
            )
            .await?;
        let n: i64 = rows[0].try_get(0)?;
        Ok(n > 0)
    }

    /// A letter longer than the printer takes: `validation-failed`, not billed, with its reason (upstream's
    /// `letter-too-long`) and its PDF kept for the service to see. Returns whether the letter was still `created`.
    pub async fn record_validation_failed(
        &self,
        id: Uuid,
        reference: &str,
        message: &str,
        file_key: Option<&str>,
        page_count: i32,
    ) -> DbResult<bool> {
        let rows = self
            .query(
                "WITH updated AS ( \
                     UPDATE notifications SET notification_status = 'validation-failed', billable_units = 0, \
                         reference = COALESCE(reference, $2), updated_at = now() \
                     WHERE id = $1 AND notification_status = 'created' RETURNING id), \
                 reason AS ( \
                     INSERT INTO letter_validation_results (notification_id, message) SELECT id, $3 FROM updated \
                     ON CONFLICT (notification_id) DO UPDATE SET message = EXCLUDED.message RETURNING 1), \
                 filed AS ( \
                     INSERT INTO letter_files (notification_id, file_key, page_count) \
                     SELECT id, $4, $5 FROM updated WHERE $4::text IS NOT NULL \
                     ON CONFLICT (notification_id) DO NOTHING RETURNING 1) \
                 SELECT (SELECT count(*) FROM updated), (SELECT count(*) FROM reason), (SELECT count(*) FROM filed)",
                &[
                    (&id, Type::UUID),
                    (&reference, Type::TEXT),
                    (&message, Type::TEXT),
                    (&file_key, Type::TEXT),
                    (&page_count, Type::INT4),
                ],
            )
            .await?;
        let n: i64 = rows[0].try_get(0)?;
        Ok(n > 0)
    }

    /// Why a letter failed validation, if it did.
    pub async fn letter_validation_message(&self, id: Uuid) -> DbResult<Option<String>> {
        Ok(self
            .query_opt(
                "SELECT message FROM letter_validation_results WHERE notification_id = $1",
                &[(&id, Type::UUID)],
            )
            .await?
            .map(|r| r.get(0)))
    }

    /// Where a letter's PDF is in the file store, once it is there.
    pub async fn letter_file_key(&self, id: Uuid) -> DbResult<Option<String>> {
        Ok(self
            .query_opt(
                "SELECT file_key FROM letter_files WHERE notification_id = $1",
                &[(&id, Type::UUID)],
            )
            .await?
            .map(|r| r.get(0)))
    }

    /// Live-key letters for the print run of `deadline`: still `created`, created before it, their PDF stored;
    /// `limit` at a time after `cursor`, oldest first.
    pub async fn letters_to_collate(
        &self,
        deadline: DateTime<Utc>,
        cursor: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> DbResult<Vec<(Uuid, Uuid, DateTime<Utc>)>> {
        let (from_at, from_id) = cursor.unzip();
        let rows = self
            .query(
                "SELECT n.id, n.service_id, n.created_at FROM notifications n \
                 JOIN letter_files f ON f.notification_id = n.id \
                 WHERE n.notification_type = 'letter' AND n.notification_status = 'created' \
                   AND n.key_type = 'normal' AND n.created_at < $1 AND n.billable_units > 0 \
                   AND ($2::timestamptz IS NULL OR (n.created_at, n.id) > ($2, $3)) \
                 ORDER BY n.created_at, n.id LIMIT $4",
                &[
                    (&deadline, Type::TIMESTAMPTZ),
                    (&from_at, Type::TIMESTAMPTZ),
                    (&from_id, Type::UUID),
                    (&limit, Type::INT8),
                ],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// The letters of `ids` with what printing them needs.
    pub async fn letters_to_print(&self, ids: &[Uuid]) -> DbResult<Vec<LetterToPrint>> {
        self.query(
            "SELECT n.id, n.service_id, n.notification_status, n.key_type, n.reference, n.\"to\", n.postage, \
                 n.billable_units, f.file_key \
             FROM notifications n LEFT JOIN letter_files f ON f.notification_id = n.id \
             WHERE n.id = ANY($1) AND n.notification_type = 'letter'",
            &[(&ids, Type::UUID_ARRAY)],
        )
        .await?
        .iter()
        .map(|row| {
            let to: String = row.try_get("to")?;
            Ok(LetterToPrint {
                id: row.try_get("id")?,
                service_id: row.try_get("service_id")?,
                // Services have no organisation in this schema yet; DVLA's field is optional.
                organisation_id: None,
                status: text_enum(row, "notification_status", NotificationStatus::parse)?,
                key_type: text_enum(row, "key_type", KeyType::parse)?,
                reference: row.try_get("reference")?,
                address_lines: address_lines(&to),
                postage: postage(row)?,
                billable_units: row.try_get("billable_units")?,
                file_key: row.try_get("file_key")?,
            })
        })
        .collect()
    }

    /// Records a print job's outcome: `sending` (from `created`) with the printer and the time, or
    /// `technical-failure` (from `created` or `sending`) with its delivery-status callback in the outbox, in the
    /// same statement. Returns the applied change (`None` when the letter had moved on).
    pub async fn record_print_outcome(
        &self,
        id: Uuid,
        outcome: &PrintRecord,
    ) -> DbResult<Option<AppliedReceipt>> {
        let (status, provider, sent_at, from): (
            &str,
            Option<&str>,
            Option<DateTime<Utc>>,
            Vec<&str>,
        ) = match outcome {
            PrintRecord::Sent { provider, sent_at } => {
                ("sending", Some(provider), Some(*sent_at), vec!["created"])
            }
            PrintRecord::Failed => ("technical-failure", None, None, vec!["created", "sending"]),
        };
        self.apply_letter_status(id, status, &from, provider, sent_at, None)
            .await
    }

    /// DVLA's word on a letter: DESPATCHED → `delivered` with its `letter_despatch` row, REJECTED →
    /// `technical-failure`; each with its delivery-status callback in the outbox in the same statement, as
    /// receipts are applied. Only from `created` or `sending`: a final status is never overwritten, so a repeated
    /// callback changes nothing (`None`).
    pub async fn apply_letter_despatch(
        &self,
        id: Uuid,
        despatched: Option<(NaiveDate, &str)>,
    ) -> DbResult<Option<AppliedReceipt>> {
        let status = if despatched.is_some() {
            "delivered"
        } else {
            "technical-failure"
        };
        self.apply_letter_status(id, status, &["created", "sending"], None, None, despatched)
            .await
    }

    async fn apply_letter_status(
        &self,
        id: Uuid,
        status: &str,
        from: &[&str],
        provider: Option<&str>,
        sent_at: Option<DateTime<Utc>>,
        despatched: Option<(NaiveDate, &str)>,
    ) -> DbResult<Option<AppliedReceipt>> {
        let (despatched_on, cost_threshold) = despatched.unzip();
        let sql = format!(
            "WITH updated AS ( \
                 UPDATE notifications n SET notification_status = $2, sent_by = COALESCE($4, n.sent_by), \
                     sent_at = COALESCE($5, n.sent_at), updated_at = now() \
                 WHERE n.id = $1 AND n.notification_type = 'letter' AND n.notification_status = ANY($3) \
                 RETURNING n.id, n.reference, n.notification_status, n.service_id, n.notification_type, \
                     n.callback_url), \
             despatch AS ( \
                 INSERT INTO letter_despatch (notification_id, despatched_on, cost_threshold) \
                 SELECT u.id, $6, $7 FROM updated u WHERE $6::date IS NOT NULL \
                 ON CONFLICT (notification_id) DO NOTHING RETURNING 1), \
             outboxed AS ( \
                 INSERT INTO callback_outbox (callback_type, subject_id) \
                 SELECT 'delivery_status', u.id FROM updated u \
                 WHERE u.notification_status IN {DUE_STATUSES_SQL} AND {DELIVERY_CALLBACK_WANTED_SQL} \
                 RETURNING id, subject_id) \
             SELECT u.id, u.reference, u.notification_status, u.notification_type, o.id AS outbox_id, \
                 (SELECT count(*) FROM despatch) AS despatch_rows \
             FROM updated u LEFT JOIN outboxed o ON o.subject_id = u.id"
        );
        let from: Vec<&str> = from.to_vec();
        let row = self
            .query_opt(
                &sql,
                &[
                    (&id, Type::UUID),
                    (&status, Type::TEXT),
                    (&from, Type::TEXT_ARRAY),
                    (&provider, Type::TEXT),
                    (&sent_at, Type::TIMESTAMPTZ),
                    (&despatched_on, Type::DATE),
                    (&cost_threshold, Type::TEXT),
                ],
            )
            .await?;
        row.map(|row| {
            Ok(AppliedReceipt {
                notification_id: row.try_get("id")?,
                reference: row
                    .try_get::<_, Option<String>>("reference")?
                    .unwrap_or_default(),
                status: text_enum(&row, "notification_status", NotificationStatus::parse)?,
                notification_type: text_enum(&row, "notification_type", NotificationType::parse)?,
                outbox_id: row.try_get("outbox_id")?,
            })
        })
        .transpose()
    }

    /// A letter's despatch as recorded: the date and the cost threshold.
    pub async fn letter_despatch(&self, id: Uuid) -> DbResult<Option<(NaiveDate, String)>> {
        self.query_opt(
            "SELECT despatched_on, cost_threshold FROM letter_despatch WHERE notification_id = $1",
            &[(&id, Type::UUID)],
        )
        .await?
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .transpose()
    }
}
