use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{Db, DbResult, text_enum};
use crate::model::{KeyType, NotificationStatus, NotificationType};

/// Everything a provider send needs, read in the claim transaction so the send itself needs no database.
#[derive(Clone, Debug)]
pub struct DeliveryJob {
    pub id: Uuid,
    pub service_id: Uuid,
    pub notification_type: NotificationType,
    pub to: String,
    pub normalised_to: Option<String>,
    pub key_type: KeyType,
    pub encrypted_personalisation: Option<String>,
    pub reply_to_text: Option<String>,
    pub international: bool,
    pub rate_multiplier: Option<f64>,
    pub unsubscribe_link: Option<String>,
    pub template_content: String,
    pub template_subject: Option<String>,
    pub template_version: i32,
    pub template_id: Uuid,
    pub service_name: String,
    pub service_active: bool,
    pub prefix_sms: bool,
    pub email_sender_local_part: String,
    pub created_at: DateTime<Utc>,
}

/// What the provider's answer means for the notification.
#[derive(Clone, Debug)]
pub struct SentRecord {
    pub provider: String,
    pub reference: String,
    pub billable_units: i32,
    pub status: NotificationStatus,
    pub sent_at: DateTime<Utc>,
}

fn job_from_row(row: &Row) -> DbResult<DeliveryJob> {
    Ok(DeliveryJob {
        id: row.try_get("id")?,
        service_id: row.try_get("service_id")?,
        notification_type: text_enum(row, "notification_type", NotificationType::parse)?,
        to: row.try_get("to")?,
        normalised_to: row.try_get("normalised_to")?,
        key_type: text_enum(row, "key_type", KeyType::parse)?,
        encrypted_personalisation: row.try_get("personalisation")?,
        reply_to_text: row.try_get("reply_to_text")?,
        international: row.try_get("international")?,
        rate_multiplier: row.try_get("rate_multiplier")?,
        unsubscribe_link: row.try_get("unsubscribe_link")?,
        template_content: row.try_get("content")?,
        template_subject: row.try_get("subject")?,
        template_version: row.try_get("template_version")?,
        template_id: row.try_get("template_id")?,
        service_name: row.try_get("service_name")?,
        service_active: row.try_get("active")?,
        prefix_sms: row.try_get("prefix_sms")?,
        email_sender_local_part: row.try_get("email_sender_local_part")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Db {
    /// Moves the notification `created → sending` and reads what the send needs, in one statement. `None` when
    /// it is no longer `created`: a duplicate message, or one another worker already took.
    pub async fn claim_for_delivery(&self, id: Uuid) -> DbResult<Option<DeliveryJob>> {
        self.query_opt(
            "WITH claimed AS ( \
                 UPDATE notifications SET notification_status = 'sending', updated_at = now() \
                 WHERE id = $1 AND notification_status = 'created' RETURNING * ) \
             SELECT c.id, c.service_id, c.notification_type, c.\"to\", c.normalised_to, c.key_type, c.personalisation, \
                 c.reply_to_text, c.international, c.rate_multiplier, c.unsubscribe_link, c.template_id, \
                 c.template_version, c.created_at, h.content, h.subject, s.name AS service_name, s.active, \
                 s.prefix_sms, s.email_sender_local_part \
             FROM claimed c JOIN templates_history h ON h.id = c.template_id AND h.version = c.template_version \
             JOIN services s ON s.id = c.service_id",
            &[(&id, Type::UUID)],
        )
        .await?
        .map(|r| job_from_row(&r))
        .transpose()
    }

    /// Records the provider's answer, only over `sending` (a receipt may already have moved it on).
    pub async fn record_sent(&self, id: Uuid, sent: &SentRecord) -> DbResult<bool> {
        let status = sent.status.as_str();
        let n = self
            .execute(
                "UPDATE notifications SET sent_by = $2, reference = $3, billable_units = $4, sent_at = $5, \
                     notification_status = CASE WHEN notification_status = 'sending' THEN $6 ELSE notification_status END, \
                     updated_at = now() \
                 WHERE id = $1 AND notification_status IN ('sending', 'pending', 'delivered', 'permanent-failure', \
                     'temporary-failure')",
                &[
                    (&id, Type::UUID),
                    (&sent.provider, Type::TEXT),
                    (&sent.reference, Type::TEXT),
                    (&sent.billable_units, Type::INT4),
                    (&sent.sent_at, Type::TIMESTAMPTZ),
                    (&status, Type::TEXT),
                ],
            )
            .await?;
        Ok(n > 0)
    }

    /// Gives a claimed notification back for a retry after a provider error.
    pub async fn release_for_retry(&self, id: Uuid) -> DbResult<()> {
        self.execute(
            "UPDATE notifications SET notification_status = 'created', updated_at = now() \
             WHERE id = $1 AND notification_status = 'sending'",
            &[(&id, Type::UUID)],
        )
        .await?;
        Ok(())
    }

    pub async fn mark_technical_failure(&self, id: Uuid) -> DbResult<()> {
        self.execute(
            "UPDATE notifications SET notification_status = 'technical-failure', updated_at = now() \
             WHERE id = $1 AND notification_status IN ('created', 'sending')",
            &[(&id, Type::UUID)],
        )
        .await?;
        Ok(())
    }
}

/// A receipt applied to its notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedReceipt {
    pub notification_id: Uuid,
    pub reference: String,
    pub status: NotificationStatus,
}

impl Db {
    /// Applies a batch of receipts in one statement. Statuses only move forward: a final status is never
    /// overwritten and a late `pending` never replaces `delivered`. Returns what changed and, separately, the
    /// references nothing matched yet (the receipt came before the send was recorded).
    pub async fn apply_receipts(
        &self,
        receipts: &[(String, NotificationStatus)],
    ) -> DbResult<(Vec<AppliedReceipt>, Vec<String>)> {
        let references: Vec<&str> = receipts.iter().map(|(r, _)| r.as_str()).collect();
        let statuses: Vec<&str> = receipts.iter().map(|(_, s)| s.as_str()).collect();
        let rows = self
            .query(
                "WITH r AS (SELECT DISTINCT ON (reference) reference, status \
                     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t (reference, status, n) \
                     ORDER BY reference, n DESC), \
                 updated AS ( \
                     UPDATE notifications n SET notification_status = r.status, updated_at = now() FROM r \
                     WHERE n.reference = r.reference \
                       AND n.notification_status IN ('sending', 'pending', 'sent') \
                       AND NOT (r.status = 'pending' AND n.notification_status = 'pending') \
                     RETURNING n.id, n.reference, n.notification_status) \
                 SELECT r.reference, u.id, u.notification_status, \
                     EXISTS (SELECT 1 FROM notifications x WHERE x.reference = r.reference) AS known \
                 FROM r LEFT JOIN updated u ON u.reference = r.reference",
                &[(&references, Type::TEXT_ARRAY), (&statuses, Type::TEXT_ARRAY)],
            )
            .await?;
        let mut applied = Vec::new();
        let mut unmatched = Vec::new();
        for row in rows {
            let reference: String = row.try_get(0)?;
            let id: Option<Uuid> = row.try_get(1)?;
            let known: bool = row.try_get(3)?;
            match id {
                Some(notification_id) => applied.push(AppliedReceipt {
                    notification_id,
                    reference,
                    status: text_enum(&row, "notification_status", NotificationStatus::parse)?,
                }),
                None if !known => unmatched.push(reference),
                None => {}
            }
        }
        Ok((applied, unmatched))
    }
}
