use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::email_branding::{CLAIM_COLUMNS_SQL, branding_from_claim};
use crate::outbox::{DELIVERY_CALLBACK_WANTED_SQL, DUE_STATUSES_SQL};
use crate::{Db, DbResult, text_enum};
use notify_core::callbacks::{CallbackTarget, DeliveryStatusData, delivery_callback_due};
use notify_core::delivery::{ProviderWeight, SendOutcome, SentRecord};
use notify_core::email_branding::EmailBranding;
use notify_core::model::{KeyType, NotificationStatus, NotificationType};

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
    /// The service's email branding, read in the claim; `None`: the GOV.UK banner.
    pub email_branding: Option<EmailBranding>,
    pub created_at: DateTime<Utc>,
    /// `provider_details` for the channel, read in the same statement: the weights the send is chosen by.
    pub provider_weights: Vec<ProviderWeight>,
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
        email_branding: branding_from_claim(row)?,
        created_at: row.try_get("created_at")?,
        provider_weights: {
            let ids: Option<Vec<String>> = row.try_get("provider_ids")?;
            let priorities: Option<Vec<i32>> = row.try_get("provider_priorities")?;
            let active: Option<Vec<bool>> = row.try_get("provider_active")?;
            ids.unwrap_or_default()
                .into_iter()
                .zip(priorities.unwrap_or_default())
                .zip(active.unwrap_or_default())
                .map(|((identifier, priority), active)| ProviderWeight {
                    identifier,
                    priority,
                    active,
                })
                .collect()
        },
    })
}

impl Db {
    /// Moves the notification `created → sending` and reads what the send needs, in one statement. `None` when
    /// it is no longer `created`: a duplicate message, or one another worker already took.
    pub async fn claim_for_delivery(&self, id: Uuid) -> DbResult<Option<DeliveryJob>> {
        Ok(self
            .claim_many_for_delivery(&[id])
            .await?
            .into_iter()
            .next())
    }

    /// [`claim_for_delivery`](Self::claim_for_delivery) for a whole batch in one statement: only the ones still
    /// `created` come back.
    pub async fn claim_many_for_delivery(&self, ids: &[Uuid]) -> DbResult<Vec<DeliveryJob>> {
        let sql = format!(
            "WITH claimed AS ( \
                 UPDATE notifications SET notification_status = 'sending', updated_at = now() \
                 WHERE id = ANY($1) AND notification_status = 'created' RETURNING * ) \
             SELECT c.id, c.service_id, c.notification_type, c.\"to\", c.normalised_to, c.key_type, c.personalisation, \
                 c.reply_to_text, c.international, c.rate_multiplier, c.unsubscribe_link, c.template_id, \
                 c.template_version, c.created_at, h.content, h.subject, s.name AS service_name, s.active, \
                 s.prefix_sms, s.email_sender_local_part, {CLAIM_COLUMNS_SQL}, \
                 p.provider_ids, p.provider_priorities, p.provider_active \
             FROM claimed c JOIN templates_history h ON h.id = c.template_id AND h.version = c.template_version \
             JOIN services s ON s.id = c.service_id \
             LEFT JOIN email_branding eb ON eb.id = s.email_branding_id AND c.notification_type = 'email' \
             LEFT JOIN LATERAL (SELECT array_agg(d.identifier) AS provider_ids, \
                 array_agg(d.priority) AS provider_priorities, array_agg(d.active) AS provider_active \
                 FROM provider_details d WHERE d.notification_type = c.notification_type) p ON true"
        );
        self.query(&sql, &[(&ids, Type::UUID_ARRAY)])
            .await?
            .iter()
            .map(job_from_row)
            .collect()
    }

    /// Records the provider's answer, only over `sending` or later (a receipt may already have moved it on).
    pub async fn record_sent(&self, id: Uuid, sent: &SentRecord) -> DbResult<bool> {
        let outcome = SendOutcome::Sent(sent.clone());
        Ok(self.record_send_outcomes(&[(id, outcome)]).await? > 0)
    }

    /// What each send of a batch came to, in one statement: the provider's answer (over `sending` or later), back
    /// to `created` for a retry (over `sending` only), or `technical-failure` (over `created`/`sending`).
    pub async fn record_send_outcomes(&self, outcomes: &[(Uuid, SendOutcome)]) -> DbResult<u64> {
        let mut ids = Vec::new();
        let mut kinds = Vec::new();
        let mut providers: Vec<Option<&str>> = Vec::new();
        let mut references: Vec<Option<&str>> = Vec::new();
        let mut units: Vec<Option<i32>> = Vec::new();
        let mut statuses: Vec<Option<&str>> = Vec::new();
        let mut sent_ats: Vec<Option<DateTime<Utc>>> = Vec::new();
        for (id, outcome) in outcomes {
            ids.push(*id);
            match outcome {
                SendOutcome::Sent(sent) => {
                    kinds.push("sent");
                    providers.push(Some(&sent.provider));
                    references.push(Some(&sent.reference));
                    units.push(Some(sent.billable_units));
                    statuses.push(Some(sent.status.as_str()));
                    sent_ats.push(Some(sent.sent_at));
                }
                other => {
                    kinds.push(if matches!(other, SendOutcome::Retry) {
                        "retry"
                    } else {
                        "failed"
                    });
                    providers.push(None);
                    references.push(None);
                    units.push(None);
                    statuses.push(None);
                    sent_ats.push(None);
                }
            }
        }
        self.execute(
            "UPDATE notifications n SET \
                 sent_by = CASE WHEN r.kind = 'sent' THEN r.provider ELSE n.sent_by END, \
                 reference = CASE WHEN r.kind = 'sent' THEN r.reference ELSE n.reference END, \
                 billable_units = CASE WHEN r.kind = 'sent' THEN r.units ELSE n.billable_units END, \
                 sent_at = CASE WHEN r.kind = 'sent' THEN r.sent_at ELSE n.sent_at END, \
                 notification_status = CASE r.kind \
                     WHEN 'sent' THEN CASE WHEN n.notification_status = 'sending' THEN r.status \
                         ELSE n.notification_status END \
                     WHEN 'retry' THEN 'created' ELSE 'technical-failure' END, \
                 updated_at = now() \
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int4[], $6::text[], $7::timestamptz[]) \
                 AS r (id, kind, provider, reference, units, status, sent_at) \
             WHERE n.id = r.id AND ( \
                 (r.kind = 'sent' AND n.notification_status IN ('sending', 'pending', 'delivered', \
                     'permanent-failure', 'temporary-failure')) \
                 OR (r.kind = 'retry' AND n.notification_status = 'sending') \
                 OR (r.kind = 'failed' AND n.notification_status IN ('created', 'sending')))",
            &[
                (&ids, Type::UUID_ARRAY),
                (&kinds, Type::TEXT_ARRAY),
                (&providers, Type::TEXT_ARRAY),
                (&references, Type::TEXT_ARRAY),
                (&units, Type::INT4_ARRAY),
                (&statuses, Type::TEXT_ARRAY),
                (&sent_ats, Type::TIMESTAMPTZ_ARRAY),
            ],
        )
        .await
    }

    /// GOV.UK's automatic shift: moves up to `points` of weight from a failing SMS provider to the heaviest other
    /// active one, in one statement with its history rows. Skipped when the provider's weight changed in the last
    /// minute, so a burst seen by many workers at once shifts it only once.
    pub async fn shift_sms_priority_away(&self, identifier: &str, points: i32) -> DbResult<bool> {
        let rows = self
            .query(
                "WITH failing AS ( \
                     SELECT id, LEAST(priority, $2) AS delta FROM provider_details \
                     WHERE identifier = $1 AND notification_type = 'sms' AND priority > 0 \
                       AND (updated_at IS NULL OR updated_at < now() - interval '60 seconds') FOR UPDATE), \
                 other AS ( \
                     SELECT d.id FROM provider_details d, failing f WHERE d.notification_type = 'sms' AND d.active \
                       AND d.id <> f.id ORDER BY d.priority DESC, d.identifier LIMIT 1 FOR UPDATE OF d), \
                 lowered AS ( \
                     UPDATE provider_details d SET priority = d.priority - f.delta, updated_at = now(), \
                         version = d.version + 1 FROM failing f, other o WHERE d.id = f.id RETURNING d.*), \
                 raised AS ( \
                     UPDATE provider_details d SET priority = LEAST(d.priority + f.delta, 100), updated_at = now(), \
                         version = d.version + 1 FROM failing f, other o WHERE d.id = o.id RETURNING d.*), \
                 history AS ( \
                     INSERT INTO provider_details_history SELECT * FROM lowered UNION ALL SELECT * FROM raised \
                     RETURNING id) \
                 SELECT count(*) FROM history",
                &[(&identifier, Type::TEXT), (&points, Type::INT4)],
            )
            .await?;
        let changed: i64 = rows.first().map(|r| r.try_get(0)).transpose()?.unwrap_or(0);
        Ok(changed > 0)
    }
}

/// The delivery-status callback a changed row makes due, from a row carrying the notification's columns and
/// `callback_url` / `callback_token` / `signing_secrets` (see [`crate::outbox::callback_target`]).
pub(crate) fn delivery_callback(
    row: &Row,
    notification_id: Uuid,
    status: NotificationStatus,
) -> DbResult<Option<(DeliveryStatusData, CallbackTarget)>> {
    Ok(match crate::outbox::callback_target(row)? {
        Some(target) if delivery_callback_due(status) => Some((
            DeliveryStatusData {
                notification_id,
                service_id: row.try_get("service_id")?,
                client_reference: row.try_get("client_reference")?,
                to: row.try_get("to")?,
                status,
                created_at: row.try_get("created_at")?,
                completed_at: row.try_get("updated_at")?,
                sent_at: row.try_get("sent_at")?,
                notification_type: text_enum(row, "notification_type", NotificationType::parse)?,
                template_id: row.try_get("template_id")?,
                template_version: row.try_get("template_version")?,
            },
            target,
        )),
        _ => None,
    })
}

/// A receipt applied to its notification, with the outbox row of its delivery-status callback when one is now due.
#[derive(Clone, Debug)]
pub struct AppliedReceipt {
    pub notification_id: Uuid,
    pub reference: String,
    pub status: NotificationStatus,
    pub notification_type: NotificationType,
    pub outbox_id: Option<i64>,
}

impl Db {
    /// Applies a batch of receipts in one statement. Statuses only move forward: a final status is never
    /// overwritten and a late `pending` never replaces `delivered`. Returns what changed (with the outbox row of
    /// each callback it made due) and, separately, the references nothing matched yet (the receipt came
    /// before the send was recorded).
    pub async fn apply_receipts(
        &self,
        receipts: &[(String, NotificationStatus)],
    ) -> DbResult<(Vec<AppliedReceipt>, Vec<String>)> {
        let references: Vec<&str> = receipts.iter().map(|(r, _)| r.as_str()).collect();
        let statuses: Vec<&str> = receipts.iter().map(|(_, s)| s.as_str()).collect();
        // The callback each final status makes due goes into the outbox in the same statement: committed with
        // the status, or not at all.
        let sql = format!(
            "WITH r AS (SELECT DISTINCT ON (reference) reference, status \
                     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t (reference, status, n) \
                     ORDER BY reference, n DESC), \
                 updated AS ( \
                     UPDATE notifications n SET notification_status = r.status, updated_at = now() FROM r \
                     WHERE n.reference = r.reference \
                       AND n.notification_status IN ('sending', 'pending', 'sent') \
                       AND NOT (r.status = 'pending' AND n.notification_status = 'pending') \
                     RETURNING n.id, n.reference, n.notification_status, n.service_id, n.client_reference, n.\"to\", \
                         n.created_at, n.updated_at, n.sent_at, n.notification_type, n.template_id, n.template_version, \
                         n.callback_url), \
                 outboxed AS ( \
                     INSERT INTO callback_outbox (callback_type, subject_id) \
                     SELECT 'delivery_status', u.id FROM updated u \
                     WHERE u.notification_status IN {DUE_STATUSES_SQL} AND {DELIVERY_CALLBACK_WANTED_SQL} \
                     RETURNING id, subject_id) \
                 SELECT r.reference, u.id, u.notification_status, u.notification_type, o.id AS outbox_id, \
                     EXISTS (SELECT 1 FROM notifications x WHERE x.reference = r.reference) AS known \
                 FROM r LEFT JOIN updated u ON u.reference = r.reference \
                 LEFT JOIN outboxed o ON o.subject_id = u.id"
        );
        let rows = self
            .query(
                &sql,
                &[
                    (&references, Type::TEXT_ARRAY),
                    (&statuses, Type::TEXT_ARRAY),
                ],
            )
            .await?;
        let mut applied = Vec::new();
        let mut unmatched = Vec::new();
        for row in rows {
            let reference: String = row.try_get(0)?;
            let id: Option<Uuid> = row.try_get(1)?;
            let known: bool = row.try_get("known")?;
            let Some(notification_id) = id else {
                if !known {
                    unmatched.push(reference);
                }
                continue;
            };
            let status = text_enum(&row, "notification_status", NotificationStatus::parse)?;
            let notification_type = text_enum(&row, "notification_type", NotificationType::parse)?;
            applied.push(AppliedReceipt {
                notification_id,
                reference,
                status,
                notification_type,
                outbox_id: row.try_get("outbox_id")?,
            });
        }
        Ok((applied, unmatched))
    }

    /// Records an SES complaint against the email it is about, once per SES feedback id, and in the same
    /// statement its complaint callback in the outbox when the service has one (with the complainant's address
    /// as SES gave it, encrypted). Returns the notification complained about and the outbox row, or `None` when
    /// the reference is unknown or the complaint was already recorded.
    pub async fn record_complaint(
        &self,
        reference: &str,
        feedback_id: Option<&str>,
        complaint_type: Option<&str>,
        complained_at: DateTime<Utc>,
        encrypted_recipient: Option<&str>,
    ) -> DbResult<Option<(Uuid, Option<i64>)>> {
        let id = Uuid::new_v4();
        let row = self
            .query_opt(
                "WITH n AS ( \
                     SELECT id, service_id FROM notifications WHERE reference = $2 \
                     UNION ALL \
                     SELECT id, service_id FROM notification_history WHERE reference = $2 \
                     LIMIT 1), \
                 inserted AS ( \
                     INSERT INTO complaints (id, notification_id, service_id, ses_feedback_id, complaint_type, \
                         complaint_date) SELECT $1, n.id, n.service_id, $3, $4, $5 FROM n \
                     ON CONFLICT (ses_feedback_id) DO NOTHING RETURNING id, notification_id, service_id), \
                 outboxed AS ( \
                     INSERT INTO callback_outbox (callback_type, subject_id, encrypted_recipient) \
                     SELECT 'complaint', i.id, $6 FROM inserted i JOIN service_callback_api c \
                         ON c.service_id = i.service_id AND c.callback_type = 'complaint' \
                     RETURNING id) \
                 SELECT i.notification_id, (SELECT id FROM outboxed) FROM inserted i",
                &[
                    (&id, Type::UUID),
                    (&reference, Type::TEXT),
                    (&feedback_id, Type::TEXT),
                    (&complaint_type, Type::TEXT),
                    (&complained_at, Type::TIMESTAMPTZ),
                    (&encrypted_recipient, Type::TEXT),
                ],
            )
            .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }
}

impl Db {
    /// Whether any notification, current or archived, carries this provider reference.
    pub async fn reference_known(&self, reference: &str) -> DbResult<bool> {
        Ok(self
            .query_opt(
                "SELECT 1 FROM notifications WHERE reference = $1 \
                 UNION ALL SELECT 1 FROM notification_history WHERE reference = $1 LIMIT 1",
                &[(&reference, Type::TEXT)],
            )
            .await?
            .is_some())
    }
}
