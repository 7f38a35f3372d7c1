//! The callback outbox (`callback_outbox`): callbacks made due by the same statement as the change behind them,
//! taken off by the relay once they are on the callbacks queue.

use std::time::Duration;

use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbResult, delivery_callback, text_enum};
use notify_core::callbacks::{
    CallbackTarget, ComplaintData, DeliveryStatusData, InboundSmsData, ReturnedLetterData,
};
use notify_core::model::NotificationStatus;

/// The statuses whose delivery-status callback is due, as SQL (kept equal to `delivery_callback_due`).
pub(crate) const DUE_STATUSES_SQL: &str =
    "('delivered', 'permanent-failure', 'temporary-failure', 'technical-failure')";

/// Whether a changed notification (a row `u` of an `updated` CTE returning `service_id` and `callback_url`) gets
/// a delivery-status callback: it has its own `callback_url`, or its service has a delivery-status callback.
pub(crate) const DELIVERY_CALLBACK_WANTED_SQL: &str = "(u.callback_url IS NOT NULL OR EXISTS ( \
    SELECT 1 FROM service_callback_api c WHERE c.service_id = u.service_id AND c.callback_type = 'delivery_status'))";

/// A callback claimed from the outbox, rebuilt from the rows it is about. Fields that are encrypted at rest are
/// still encrypted here: the relay decrypts them just before it queues the callback.
#[derive(Clone, Debug)]
pub enum OutboxCallback {
    DeliveryStatus(DeliveryStatusData, CallbackTarget),
    /// `to` is the notification's recipient; `encrypted_recipient` the address SES named, preferred when set.
    Complaint(ComplaintData, Option<String>, CallbackTarget),
    /// `message` holds the stored ciphertext of the text.
    InboundSms(InboundSmsData, CallbackTarget),
    ReturnedLetter(ReturnedLetterData, CallbackTarget),
}

/// Where a claimed callback goes: the notification's own `callback_url` (delivery status only, with the
/// service's bearer token when it has a delivery-status callback) or the service's callback; `None` when neither.
pub(crate) fn callback_target(row: &tokio_postgres::Row) -> DbResult<Option<CallbackTarget>> {
    let url: Option<String> = row.try_get("callback_url")?;
    let encrypted_token: Option<String> = row.try_get("callback_token")?;
    let signing_secrets: Vec<String> = row.try_get("signing_secrets")?;
    Ok(url.map(|url| CallbackTarget {
        url,
        encrypted_token,
        signing_secrets,
    }))
}

/// One claimed outbox row: `None` when what it is about is gone (purged, or the service removed its callback).
#[derive(Clone, Debug)]
pub struct ClaimedCallback {
    pub id: i64,
    pub callback: Option<OutboxCallback>,
}

impl Db {
    /// Claims up to `limit` outbox rows nobody is working on (only those in `ids` when given) for `lease`, and
    /// returns them with what their callbacks need, read in the same statement. The connection goes back to the
    /// pool before anything is sent.
    pub async fn claim_outbox(
        &self,
        ids: Option<&[i64]>,
        limit: i64,
        lease: Duration,
    ) -> DbResult<Vec<ClaimedCallback>> {
        let ids: Option<Vec<i64>> = ids.map(<[i64]>::to_vec);
        let lease = lease.as_secs_f64();
        let rows = self
            .query(
                "WITH claimed AS ( \
                     UPDATE callback_outbox o SET claimed_until = now() + make_interval(secs => $3) \
                     WHERE o.id IN (SELECT id FROM callback_outbox \
                         WHERE (claimed_until IS NULL OR claimed_until < now()) \
                           AND ($1::int8[] IS NULL OR id = ANY($1)) \
                         ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) \
                     RETURNING o.id, o.callback_type, o.subject_id, o.encrypted_recipient) \
                 SELECT c.id AS outbox_id, c.callback_type, c.subject_id, c.encrypted_recipient, \
                     n.notification_status, n.service_id, n.client_reference, n.\"to\", n.created_at, n.updated_at, \
                     n.sent_at, n.notification_type, n.template_id, n.template_version, \
                     k.notification_id AS complaint_notification_id, k.service_id AS complaint_service_id, \
                     k.complaint_date, coalesce(kn.client_reference, kh.client_reference) AS complaint_client_reference, \
                     kn.\"to\" AS complaint_to, \
                     i.service_id AS inbound_service_id, i.notify_number, i.user_number, i.content, \
                     coalesce(i.provider_date, i.created_at) AS date_received, \
                     rl.service_id AS returned_service_id, rn.client_reference AS returned_client_reference, \
                     rn.api_key_id AS returned_api_key_id, rn.created_at AS returned_created_at, \
                     ru.email_address AS returned_created_by_email, rt.name AS returned_template_name, \
                     rn.template_id AS returned_template_id, rn.template_version AS returned_template_version, \
                     rt.hidden AS returned_template_hidden, rj.original_file_name AS returned_file_name, \
                     rn.job_row_number AS returned_job_row_number, \
                     coalesce(n.callback_url, a.url) AS callback_url, a.bearer_token AS callback_token, \
                     ARRAY(SELECT s.secret FROM service_callback_signing_secrets s \
                         WHERE s.service_id = coalesce(n.service_id, k.service_id, i.service_id, rl.service_id) \
                           AND (s.expires_at IS NULL OR s.expires_at > now()) \
                         ORDER BY s.created_at DESC, s.id) AS signing_secrets \
                 FROM claimed c \
                 LEFT JOIN notifications n ON c.callback_type = 'delivery_status' AND n.id = c.subject_id \
                 LEFT JOIN complaints k ON c.callback_type = 'complaint' AND k.id = c.subject_id \
                 LEFT JOIN notifications kn ON kn.id = k.notification_id \
                 LEFT JOIN notification_history kh ON kn.id IS NULL AND kh.id = k.notification_id \
                 LEFT JOIN inbound_sms i ON c.callback_type = 'inbound_sms' AND i.id = c.subject_id \
                 LEFT JOIN returned_letters rl ON c.callback_type = 'returned_letter' AND rl.notification_id = c.subject_id \
                 LEFT JOIN LATERAL ( \
                     SELECT client_reference, api_key_id, created_at, created_by_id, template_id, template_version, \
                         job_id, job_row_number FROM notifications WHERE id = rl.notification_id \
                     UNION ALL SELECT client_reference, api_key_id, created_at, created_by_id, template_id, \
                         template_version, job_id, job_row_number FROM notification_history \
                     WHERE id = rl.notification_id LIMIT 1) rn ON true \
                 LEFT JOIN templates rt ON rt.id = rn.template_id \
                 LEFT JOIN users ru ON ru.id = rn.created_by_id \
                 LEFT JOIN jobs rj ON rj.id = rn.job_id \
                 LEFT JOIN service_callback_api a \
                     ON a.service_id = coalesce(n.service_id, k.service_id, i.service_id, rl.service_id) \
                     AND a.callback_type = c.callback_type \
                 ORDER BY c.id",
                &[
                    (&ids, Type::INT8_ARRAY),
                    (&limit, Type::INT8),
                    (&lease, Type::FLOAT8),
                ],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("outbox_id")?;
                let subject_id: Uuid = row.try_get("subject_id")?;
                let target = callback_target(row)?;
                let callback_type: String = row.try_get("callback_type")?;
                let callback = match (callback_type.as_str(), target) {
                    (_, None) => None,
                    ("delivery_status", Some(_)) => {
                        let status: Option<String> = row.try_get("notification_status")?;
                        match status {
                            None => None,
                            Some(_) => {
                                let status = text_enum(
                                    row,
                                    "notification_status",
                                    NotificationStatus::parse,
                                )?;
                                delivery_callback(row, subject_id, status)?.map(|(data, target)| {
                                    OutboxCallback::DeliveryStatus(data, target)
                                })
                            }
                        }
                    }
                    ("complaint", Some(target)) => {
                        match row.try_get::<_, Option<Uuid>>("complaint_notification_id")? {
                            None => None,
                            Some(notification_id) => Some(OutboxCallback::Complaint(
                                ComplaintData {
                                    complaint_id: subject_id,
                                    notification_id,
                                    service_id: row.try_get("complaint_service_id")?,
                                    client_reference: row.try_get("complaint_client_reference")?,
                                    to: row
                                        .try_get::<_, Option<String>>("complaint_to")?
                                        .unwrap_or_default(),
                                    complaint_date: row
                                        .try_get::<_, Option<_>>("complaint_date")?
                                        .unwrap_or_else(chrono::Utc::now),
                                },
                                row.try_get("encrypted_recipient")?,
                                target,
                            )),
                        }
                    }
                    ("inbound_sms", Some(target)) => {
                        match row.try_get::<_, Option<Uuid>>("inbound_service_id")? {
                            None => None,
                            Some(service_id) => Some(OutboxCallback::InboundSms(
                                InboundSmsData {
                                    id: subject_id,
                                    service_id,
                                    source_number: row.try_get("user_number")?,
                                    destination_number: row.try_get("notify_number")?,
                                    message: row.try_get("content")?,
                                    date_received: row.try_get("date_received")?,
                                },
                                target,
                            )),
                        }
                    }
                    ("returned_letter", Some(target)) => {
                        match row.try_get::<_, Option<Uuid>>("returned_template_id")? {
                            None => None,
                            Some(template_id) => Some(OutboxCallback::ReturnedLetter(
                                ReturnedLetterData {
                                    notification_id: subject_id,
                                    service_id: row.try_get("returned_service_id")?,
                                    client_reference: row.try_get("returned_client_reference")?,
                                    api_key_id: row.try_get("returned_api_key_id")?,
                                    created_at: row.try_get("returned_created_at")?,
                                    created_by_email: row.try_get("returned_created_by_email")?,
                                    template_name: row
                                        .try_get::<_, Option<String>>("returned_template_name")?
                                        .unwrap_or_default(),
                                    template_id,
                                    template_version: row.try_get("returned_template_version")?,
                                    template_hidden: row
                                        .try_get::<_, Option<bool>>("returned_template_hidden")?
                                        .unwrap_or(false),
                                    original_file_name: row.try_get("returned_file_name")?,
                                    job_row_number: row.try_get("returned_job_row_number")?,
                                },
                                target,
                            )),
                        }
                    }
                    _ => None,
                };
                Ok(ClaimedCallback { id, callback })
            })
            .collect()
    }

    /// Removes the rows whose callbacks are queued (or can never be) and frees the others for the next relay.
    pub async fn settle_outbox(&self, done: &[i64], failed: &[i64]) -> DbResult<()> {
        if done.is_empty() && failed.is_empty() {
            return Ok(());
        }
        self.execute(
            "WITH done AS (DELETE FROM callback_outbox WHERE id = ANY($1)) \
             UPDATE callback_outbox SET claimed_until = NULL WHERE id = ANY($2)",
            &[(&done, Type::INT8_ARRAY), (&failed, Type::INT8_ARRAY)],
        )
        .await?;
        Ok(())
    }

    /// Callbacks waiting in the outbox, claimed or not.
    pub async fn outbox_len(&self) -> DbResult<i64> {
        let rows = self
            .query("SELECT count(*) FROM callback_outbox", &[])
            .await?;
        Ok(rows[0].try_get(0)?)
    }
}
