//! Precompiled letters after accept: what scanning and checking one reads, and the one statement that records
//! each outcome (with its delivery-status callback in the outbox when the status makes one due). Every method is
//! one statement on a short-lived connection, released before the caller reads the file store or asks the
//! scanner.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::outbox::{DELIVERY_CALLBACK_WANTED_SQL, DUE_STATUSES_SQL};
use crate::{AppliedReceipt, Db, DbResult, text_enum};
use notify_core::model::{KeyType, NotificationStatus, NotificationType, Postage};

/// A precompiled letter as the scan step needs it, read in one statement.
#[derive(Clone, Debug)]
pub struct PrecompiledToScan {
    pub id: Uuid,
    pub service_id: Uuid,
    pub status: NotificationStatus,
    pub key_type: KeyType,
    pub created_at: DateTime<Utc>,
    pub reference: Option<String>,
    pub postage: Option<Postage>,
    /// Where the upload is in the file store; `None` for letters accepted before uploads went there (their bytes
    /// are in `notification_letter_pdfs`).
    pub upload_key: Option<String>,
    /// Scans that ended in an error so far.
    pub scan_attempts: i32,
    /// The service may send letters abroad (`international_letters`).
    pub international_letters: bool,
}

/// What the scanner and the print checks made of a letter.
#[derive(Clone, Debug)]
pub enum PrecompiledOutcome {
    /// Clean and printable: `created` (a test key's `delivered`), the checked file stored at `file_key`.
    Checked(CheckedLetter),
    /// Clean, but a print check or the address failed: `validation-failed`, not billed.
    Invalid {
        message: String,
        invalid_pages: Vec<i32>,
    },
    /// The scanner found something: `virus-scan-failed`, not billed.
    Infected { signature: String },
}

#[derive(Clone, Debug)]
pub struct CheckedLetter {
    pub file_key: String,
    pub page_count: i32,
    pub sheets: i32,
    pub key_type: KeyType,
    /// The address lines joined with newlines, as upstream stores it.
    pub to: String,
    pub normalised_to: String,
    /// Encrypted already: the address lines as `address_line_1`… (postcode last for a UK address).
    pub encrypted_personalisation: String,
    /// Set for an international address only; a UK one keeps the postage it was sent with.
    pub international_postage: Option<Postage>,
}

/// A failed scan counted: how many there have been, and the technical failure it made when that was the last.
#[derive(Clone, Debug)]
pub struct ScanErrorCounted {
    pub scan_attempts: i32,
    pub failed: Option<AppliedReceipt>,
}

fn postage(row: &Row) -> DbResult<Option<Postage>> {
    let postage: Option<String> = row.try_get("postage")?;
    Ok(postage.as_deref().and_then(Postage::parse))
}

fn applied(row: &Row) -> DbResult<Option<AppliedReceipt>> {
    let id: Option<Uuid> = row.try_get("id")?;
    if id.is_none() {
        return Ok(None);
    }
    Ok(Some(AppliedReceipt {
        notification_id: row.try_get("id")?,
        reference: row
            .try_get::<_, Option<String>>("reference")?
            .unwrap_or_default(),
        status: text_enum(row, "notification_status", NotificationStatus::parse)?,
        notification_type: text_enum(row, "notification_type", NotificationType::parse)?,
        outbox_id: row.try_get("outbox_id")?,
    }))
}

/// The outbox row of a final status whose delivery-status callback is due, for the rows of `updated`.
fn outboxed() -> String {
    format!(
        "outboxed AS ( \
             INSERT INTO callback_outbox (callback_type, subject_id) \
             SELECT 'delivery_status', u.id FROM updated u \
             WHERE u.notification_status IN {DUE_STATUSES_SQL} AND {DELIVERY_CALLBACK_WANTED_SQL} \
             RETURNING id, subject_id)"
    )
}

impl Db {
    /// The precompiled letters of `ids` with what scanning them needs. Ids that are not letters are left out.
    pub async fn precompiled_to_scan(&self, ids: &[Uuid]) -> DbResult<Vec<PrecompiledToScan>> {
        self.query(
            "SELECT n.id, n.service_id, n.notification_status, n.key_type, n.created_at, n.reference, n.postage, \
                 p.upload_key, COALESCE(p.scan_attempts, 0) AS scan_attempts, \
                 EXISTS (SELECT 1 FROM service_permissions sp WHERE sp.service_id = n.service_id \
                     AND sp.permission = 'international_letters') AS international_letters \
             FROM notifications n LEFT JOIN precompiled_letters p ON p.notification_id = n.id \
             WHERE n.id = ANY($1) AND n.notification_type = 'letter'",
            &[(&ids, Type::UUID_ARRAY)],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(PrecompiledToScan {
                id: row.try_get("id")?,
                service_id: row.try_get("service_id")?,
                status: text_enum(row, "notification_status", NotificationStatus::parse)?,
                key_type: text_enum(row, "key_type", KeyType::parse)?,
                created_at: row.try_get("created_at")?,
                reference: row.try_get("reference")?,
                postage: postage(row)?,
                upload_key: row.try_get("upload_key")?,
                scan_attempts: row.try_get("scan_attempts")?,
                international_letters: row.try_get("international_letters")?,
            })
        })
        .collect()
    }

    /// Records a scan's verdict and the checks' outcome, only while the letter is `pending-virus-check` (a
    /// redelivered message changes nothing: `None`): the status, the billable sheets, the address for a checked
    /// letter, its `letter_files` row or its validation result, the verdict on the `precompiled_letters` row, and
    /// the delivery-status callback where one is due (a test key's `delivered`), all in one statement.
    pub async fn record_precompiled(
        &self,
        id: Uuid,
        upload_key: &str,
        scanner: &str,
        outcome: &PrecompiledOutcome,
    ) -> DbResult<Option<AppliedReceipt>> {
        let mut status = "validation-failed";
        let mut billable_units = 0i32;
        let (mut to, mut normalised_to, mut personalisation) = (None, None, None);
        let (mut postage, mut international) = (None, None);
        let (mut file_key, mut page_count) = (None, None);
        let (mut message, mut invalid_pages) = (None, None);
        let mut scan_result = "clean";
        let mut signature = None;
        match outcome {
            PrecompiledOutcome::Checked(checked) => {
                let test_key = checked.key_type == KeyType::Test;
                // As upstream: a test key's letter is never printed, and not billed.
                status = if test_key { "delivered" } else { "created" };
                billable_units = if test_key { 0 } else { checked.sheets };
                to = Some(checked.to.as_str());
                normalised_to = Some(checked.normalised_to.as_str());
                personalisation = Some(checked.encrypted_personalisation.as_str());
                postage = checked.international_postage.map(Postage::as_str);
                international = Some(checked.international_postage.is_some());
                file_key = Some(checked.file_key.as_str());
                page_count = Some(checked.page_count);
            }
            PrecompiledOutcome::Invalid {
                message: m,
                invalid_pages: pages,
            } => {
                message = Some(m.as_str());
                // As upstream: no pages named when the rule is about the whole file.
                invalid_pages = (!pages.is_empty()).then(|| pages.clone());
            }
            PrecompiledOutcome::Infected { signature: s } => {
                status = "virus-scan-failed";
                scan_result = "infected";
                signature = Some(s.as_str());
            }
        }
        let sql = format!(
            "WITH updated AS ( \
                 UPDATE notifications n SET notification_status = $2, billable_units = $3, \
                     \"to\" = COALESCE($4, n.\"to\"), normalised_to = COALESCE($5, n.normalised_to), \
                     personalisation = COALESCE($6, n.personalisation), postage = COALESCE($7, n.postage), \
                     international = COALESCE($8, n.international), updated_at = now() \
                 WHERE n.id = $1 AND n.notification_type = 'letter' \
                     AND n.notification_status = 'pending-virus-check' \
                 RETURNING n.id, n.reference, n.notification_status, n.service_id, n.notification_type, n.callback_url), \
             scanned AS ( \
                 INSERT INTO precompiled_letters (notification_id, upload_key, scanner, scan_result, signature, \
                     scanned_at, checked_at) \
                 SELECT u.id, $9, $10, $11, $12, now(), CASE WHEN $11 = 'clean' THEN now() END FROM updated u \
                 ON CONFLICT (notification_id) DO UPDATE SET scanner = EXCLUDED.scanner, \
                     scan_result = EXCLUDED.scan_result, signature = EXCLUDED.signature, \
                     scanned_at = EXCLUDED.scanned_at, checked_at = EXCLUDED.checked_at \
                 RETURNING 1), \
             filed AS ( \
                 INSERT INTO letter_files (notification_id, file_key, page_count) \
                 SELECT u.id, $13, $14 FROM updated u WHERE $13::text IS NOT NULL \
                 ON CONFLICT (notification_id) DO UPDATE SET file_key = EXCLUDED.file_key, \
                     page_count = EXCLUDED.page_count, stored_at = now() RETURNING 1), \
             reason AS ( \
                 INSERT INTO letter_validation_results (notification_id, message, invalid_pages) \
                 SELECT u.id, $15, $16 FROM updated u WHERE $15::text IS NOT NULL \
                 ON CONFLICT (notification_id) DO UPDATE SET message = EXCLUDED.message, \
                     invalid_pages = EXCLUDED.invalid_pages RETURNING 1), \
             {} \
             SELECT u.id, u.reference, u.notification_status, u.notification_type, o.id AS outbox_id \
             FROM updated u LEFT JOIN outboxed o ON o.subject_id = u.id",
            outboxed()
        );
        let row = self
            .query_opt(
                &sql,
                &[
                    (&id, Type::UUID),
                    (&status, Type::TEXT),
                    (&billable_units, Type::INT4),
                    (&to, Type::TEXT),
                    (&normalised_to, Type::TEXT),
                    (&personalisation, Type::TEXT),
                    (&postage, Type::TEXT),
                    (&international, Type::BOOL),
                    (&upload_key, Type::TEXT),
                    (&scanner, Type::TEXT),
                    (&scan_result, Type::TEXT),
                    (&signature, Type::TEXT),
                    (&file_key, Type::TEXT),
                    (&page_count, Type::INT4),
                    (&message, Type::TEXT),
                    (&invalid_pages, Type::INT4_ARRAY),
                ],
            )
            .await?;
        Ok(match row {
            Some(row) => applied(&row)?,
            None => None,
        })
    }

    /// Counts a scan that ended in an error (the scanner away, or unable to scan the file), only while the
    /// letter is `pending-virus-check`; the `max_attempts`-th makes it a `technical-failure` (not billed, its
    /// callback in the outbox) in the same statement. `None` when the letter had moved on.
    pub async fn record_precompiled_scan_error(
        &self,
        id: Uuid,
        upload_key: &str,
        error: &str,
        max_attempts: i32,
    ) -> DbResult<Option<ScanErrorCounted>> {
        let sql = format!(
            "WITH counted AS ( \
                 INSERT INTO precompiled_letters (notification_id, upload_key, scan_attempts, last_scan_error, \
                     last_scan_at) \
                 SELECT n.id, $2, 1, $3, now() FROM notifications n \
                 WHERE n.id = $1 AND n.notification_type = 'letter' \
                     AND n.notification_status = 'pending-virus-check' \
                 ON CONFLICT (notification_id) DO UPDATE SET \
                     scan_attempts = precompiled_letters.scan_attempts + 1, \
                     last_scan_error = EXCLUDED.last_scan_error, last_scan_at = EXCLUDED.last_scan_at \
                 RETURNING notification_id, scan_attempts), \
             updated AS ( \
                 UPDATE notifications n SET notification_status = 'technical-failure', billable_units = 0, \
                     updated_at = now() \
                 FROM counted c WHERE n.id = c.notification_id AND c.scan_attempts >= $4 \
                     AND n.notification_status = 'pending-virus-check' \
                 RETURNING n.id, n.reference, n.notification_status, n.service_id, n.notification_type, n.callback_url), \
             {} \
             SELECT c.scan_attempts, u.id, u.reference, u.notification_status, u.notification_type, \
                 o.id AS outbox_id \
             FROM counted c LEFT JOIN updated u ON u.id = c.notification_id \
                 LEFT JOIN outboxed o ON o.subject_id = u.id",
            outboxed()
        );
        let row = self
            .query_opt(
                &sql,
                &[
                    (&id, Type::UUID),
                    (&upload_key, Type::TEXT),
                    (&error, Type::TEXT),
                    (&max_attempts, Type::INT4),
                ],
            )
            .await?;
        row.map(|row| {
            Ok(ScanErrorCounted {
                scan_attempts: row.try_get("scan_attempts")?,
                failed: applied(&row)?,
            })
        })
        .transpose()
    }

    /// Letters still `pending-virus-check` created between `from` and `to` (upstream's window for scanning
    /// again), `limit` at a time after `cursor`, oldest first: their id, service and creation time.
    pub async fn letters_pending_virus_check(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        cursor: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> DbResult<Vec<(Uuid, Uuid, DateTime<Utc>)>> {
        let (from_at, from_id) = cursor.unzip();
        let rows = self
            .query(
                "SELECT id, service_id, created_at FROM notifications \
                 WHERE notification_type = 'letter' AND notification_status = 'pending-virus-check' \
                   AND created_at >= $1 AND created_at < $2 \
                   AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4)) \
                 ORDER BY created_at, id LIMIT $5",
                &[
                    (&from, Type::TIMESTAMPTZ),
                    (&to, Type::TIMESTAMPTZ),
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

    /// Where a precompiled letter's upload is in the file store (`None`: not a precompiled letter, or one
    /// accepted before uploads went there).
    pub async fn precompiled_upload_key(&self, id: Uuid) -> DbResult<Option<String>> {
        Ok(self
            .query_opt(
                "SELECT upload_key FROM precompiled_letters WHERE notification_id = $1",
                &[(&id, Type::UUID)],
            )
            .await?
            .map(|r| r.get(0)))
    }
}
