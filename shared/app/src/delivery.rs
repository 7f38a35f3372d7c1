//! Handing notifications to providers, in three steps that never hold a database connection during the middle
//! one: *claim* (one statement: `created → sending`, read what the send needs), *send* (plain values only),
//! *record* (a new short statement).

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::AppState;
use notify_core::delivery::{SendOutcome, SentRecord};
use notify_core::email_branding::Banner;
use notify_core::model::{KeyType, NotificationStatus, NotificationType, Template};
use notify_core::templates;
use notify_core::templates::{Values, email_layout, sms};
use notify_db::{DbError, DeliveryJob};
use notify_outbound::providers::failover::{self, Outgoing};
use notify_outbound::providers::{
    EmailMessage, PRIORITY_SHIFT_POINTS, ProviderError, Providers, SmsMessage,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        provider: String,
        reference: String,
    },
    /// Not `created` any more: a duplicate message, or already handled. Nothing was sent.
    AlreadyHandled,
    /// Every provider failed in a way worth retrying; the notification is `created` again.
    Retry(String),
    /// `technical-failure`: a permanent provider error or an inactive service.
    Failed(String),
    /// What the send came to, which the database could not take even after a few tries: the caller keeps it
    /// (on a new delivery message) until it is recorded.
    Unrecorded(SendOutcome),
}

fn personalisation(state: &AppState, job: &DeliveryJob) -> Result<Map<String, Value>, DbError> {
    match &job.encrypted_personalisation {
        None => Ok(Map::new()),
        Some(sealed) => {
            let plain = state.encryptor.decrypt(sealed).map_err(|e| {
                notify_core::crypto::report_undecryptable(
                    "notifications.personalisation",
                    &job.id,
                    &job.service_id,
                );
                DbError::Data(e.to_string())
            })?;
            serde_json::from_str(&plain).map_err(|e| DbError::Data(e.to_string()))
        }
    }
}

fn template_of(job: &DeliveryJob) -> Template {
    Template {
        id: job.template_id,
        service_id: job.service_id,
        version: job.template_version,
        name: String::new(),
        template_type: job.notification_type,
        content: job.template_content.clone(),
        subject: job.template_subject.clone(),
        archived: false,
        hidden: false,
        postage: None,
        letter_contact_block: None,
        has_unsubscribe_link: job.unsubscribe_link.is_some(),
        created_at: job.created_at,
        updated_at: None,
        created_by_email: None,
        letter_languages: Default::default(),
        letter_welsh_subject: None,
        letter_welsh_content: None,
    }
}

/// Plain values for the send step, rendered from the claimed row.
/// A claimed notification rendered for its provider, with what the send will be billed.
struct Prepared {
    message: Outgoing,
    billable_units: i32,
}

fn prepare(state: &AppState, job: &DeliveryJob) -> Result<Prepared, DbError> {
    let values = Values::new(&personalisation(state, job)?);
    let rendered = templates::render_unchecked(&template_of(job), &values);
    Ok(match job.notification_type {
        NotificationType::Sms => {
            let content = if job.prefix_sms {
                format!("{}: {}", job.service_name, rendered.body)
            } else {
                rendered.body
            };
            let fragments = sms::fragment_count(&content);
            let multiplier = job.rate_multiplier.unwrap_or(1.0);
            let message = SmsMessage {
                notification_id: job.id,
                to: job.normalised_to.clone().unwrap_or_else(|| job.to.clone()),
                sender: job.reply_to_text.clone().unwrap_or_else(|| "GOVUK".into()),
                content,
                international: job.international,
            };
            Prepared {
                message: Outgoing::Sms(message),
                billable_units: (fragments as f64 * multiplier).round() as i32,
            }
        }
        _ => {
            let mut body_html = rendered.html.unwrap_or_default();
            // The API returns the body as the template has it; the text part is made from it here.
            let mut text = templates::email::plain_text_body(&rendered.body);
            if let Some(url) = &job.unsubscribe_link {
                body_html.push_str(&templates::email::unsubscribe_footer_html(url));
                text.push_str(&format!("\n\n---\n\nUnsubscribe from these emails: {url}"));
            }
            let subject = rendered.subject.unwrap_or_default();
            let banner =
                Banner::for_branding(job.email_branding.as_ref(), &state.config.api.host_name);
            let html = email_layout::html_document(&subject, &rendered.body, &body_html, &banner);
            Prepared {
                message: Outgoing::Email(EmailMessage {
                    notification_id: job.id,
                    to: job.to.clone(),
                    from: format!(
                        "{}@{}",
                        job.email_sender_local_part, state.config.api.notify_email_domain
                    ),
                    reply_to: job.reply_to_text.clone(),
                    subject,
                    text_body: text,
                    html_body: html,
                    unsubscribe_url: job.unsubscribe_link.clone(),
                }),
                billable_units: 0,
            }
        }
    })
}

/// A notification to hand to a provider, and whether this is its last attempt (a send that would be retried
/// is then `technical-failure` instead). With `unrecorded`, the notification was claimed and handed over (or
/// given up on) already: only that outcome is recorded, nothing is sent.
#[derive(Clone, Debug)]
pub struct DeliveryRequest {
    pub notification_id: Uuid,
    pub final_attempt: bool,
    pub unrecorded: Option<SendOutcome>,
}

/// One delivery message: claim, send with plain values, record. Idempotent: a duplicate finds nothing to claim.
pub async fn deliver(
    state: &AppState,
    providers: &Providers,
    notification_id: Uuid,
) -> Result<Outcome, DbError> {
    let request = DeliveryRequest {
        notification_id,
        final_attempt: false,
        unrecorded: None,
    };
    Ok(deliver_many(state, providers, &[request])
        .await?
        .pop()
        .expect("one outcome per request"))
}

/// A batch of delivery messages in three steps: *claim* all in one statement (the connection is closed when it
/// returns), *send* them concurrently with plain values (no connection open anywhere in the batch), *record*
/// every outcome in one statement, with those of earlier batches that the database could not take then. Outcomes
/// come back in request order; an error means nothing was sent.
pub async fn deliver_many(
    state: &AppState,
    providers: &Providers,
    requests: &[DeliveryRequest],
) -> Result<Vec<Outcome>, DbError> {
    let ids: Vec<Uuid> = requests.iter().map(|r| r.notification_id).collect();
    let to_claim: Vec<Uuid> = requests
        .iter()
        .filter(|r| r.unrecorded.is_none())
        .map(|r| r.notification_id)
        .collect();
    // A row claimed before stays `sending`, so the claim never takes it again: its send happened (or was given
    // up on) and only its record step is left.
    let jobs = if to_claim.is_empty() {
        Vec::new()
    } else {
        state.db.claim_many_for_delivery(&to_claim).await?
    };
    let final_attempt = |id: Uuid| {
        requests
            .iter()
            .any(|r| r.notification_id == id && r.final_attempt)
    };
    let mut outcomes: std::collections::HashMap<Uuid, Outcome> = Default::default();
    let mut records = Vec::new();
    let mut ready = Vec::new();
    for job in &jobs {
        if !job.service_active {
            records.push((job.id, SendOutcome::Failed));
            outcomes.insert(job.id, Outcome::Failed("service is inactive".into()));
            continue;
        }
        match prepare(state, job) {
            Ok(prepared) => ready.push((job, prepared)),
            Err(e) => {
                records.push((job.id, SendOutcome::Failed));
                outcomes.insert(job.id, Outcome::Failed(e.to_string()));
            }
        }
    }
    let rounds = futures::future::join_all(ready.iter().map(|(job, prepared)| {
        failover::send(
            providers,
            &prepared.message,
            &job.provider_weights,
            job.key_type == KeyType::Test,
        )
    }))
    .await;
    let sent_at = state.now();
    let mut shift_away = Vec::new();
    for ((job, prepared), round) in ready.iter().zip(rounds) {
        let billable_units = prepared.billable_units;
        shift_away.extend(round.shift_away);
        let (record, outcome) = match round.result {
            Ok((provider, accepted)) => (
                SendOutcome::Sent(SentRecord {
                    provider: provider.clone(),
                    reference: accepted.reference.clone(),
                    billable_units,
                    // Notify's rule: an international text is `sent`; carriers that give receipts move it on.
                    status: if job.international && accepted.status == NotificationStatus::Sending {
                        NotificationStatus::Sent
                    } else {
                        accepted.status
                    },
                    sent_at,
                }),
                Outcome::Sent {
                    provider,
                    reference: accepted.reference,
                },
            ),
            Err(ProviderError::Retryable(reason)) if final_attempt(job.id) => (
                SendOutcome::Failed,
                Outcome::Failed(format!("retries exhausted: {reason}")),
            ),
            Err(ProviderError::Retryable(reason)) => (SendOutcome::Retry, Outcome::Retry(reason)),
            Err(ProviderError::Permanent(reason)) => (SendOutcome::Failed, Outcome::Failed(reason)),
        };
        records.push((job.id, record));
        outcomes.insert(job.id, outcome);
    }
    for request in requests {
        if let Some(unrecorded) = &request.unrecorded {
            records.push((request.notification_id, unrecorded.clone()));
            outcomes.insert(
                request.notification_id,
                match unrecorded {
                    SendOutcome::Sent(sent) => Outcome::Sent {
                        provider: sent.provider.clone(),
                        reference: sent.reference.clone(),
                    },
                    SendOutcome::Retry => {
                        Outcome::Retry("recorded for a retry after a database fault".into())
                    }
                    SendOutcome::Failed => {
                        Outcome::Failed("recorded after a database fault".into())
                    }
                },
            );
        }
    }
    if let Err(e) = record(state, &records).await {
        // The provider has the message: sending again would duplicate it, and dropping the answer would strand
        // the notification in `sending` with receipts that match nothing. The caller keeps each outcome.
        tracing::error!(error = %e, count = records.len(), "send outcomes kept for recording later");
        notify_core::metrics::count("SendOutcomesUnrecorded", records.len() as u64, &[]);
        for (id, unrecorded) in records {
            outcomes.insert(id, Outcome::Unrecorded(unrecorded));
        }
    }
    for job in &jobs {
        let kind = job.notification_type.as_str();
        // Counted in the batch that sent: a send recorded later is counted here once.
        match outcomes.get(&job.id) {
            Some(
                Outcome::Sent { provider, .. }
                | Outcome::Unrecorded(SendOutcome::Sent(SentRecord { provider, .. })),
            ) => {
                notify_core::metrics::count(
                    "NotificationsSent",
                    1,
                    &[("NotificationType", kind), ("Provider", provider)],
                );
                let waited = (sent_at - job.created_at).num_milliseconds().max(0);
                notify_core::metrics::milliseconds(
                    "CreatedToSent",
                    waited as f64,
                    &[("NotificationType", kind)],
                );
            }
            Some(Outcome::Failed(_) | Outcome::Unrecorded(SendOutcome::Failed)) => {
                notify_core::metrics::count(
                    "NotificationsFailed",
                    1,
                    &[("NotificationType", kind), ("Status", "technical-failure")],
                )
            }
            _ => {}
        }
    }
    shift_away.sort();
    shift_away.dedup();
    for provider in &shift_away {
        match state
            .db
            .shift_sms_priority_away(provider, PRIORITY_SHIFT_POINTS)
            .await
        {
            Ok(true) => tracing::warn!(
                provider,
                "provider keeps failing: weight moved away from it"
            ),
            Ok(false) => {}
            Err(e) => tracing::error!(provider, error = %e, "provider weight not shifted"),
        }
    }
    Ok(ids
        .iter()
        .map(|id| outcomes.remove(id).unwrap_or(Outcome::AlreadyHandled))
        .collect())
}

/// The record step, tried a few times: once a provider has accepted a message, losing its reference to a
/// passing database fault would leave the notification `sending` with receipts that match nothing.
async fn record(state: &AppState, records: &[(Uuid, SendOutcome)]) -> Result<(), DbError> {
    if records.is_empty() {
        return Ok(());
    }
    let mut delay = std::time::Duration::from_millis(200);
    for attempt in 1.. {
        match state.db.record_send_outcomes(records).await {
            Ok(_) => return Ok(()),
            Err(e) if attempt < 4 => {
                tracing::warn!(error = %e, attempt, "send outcomes not recorded; trying again");
                tokio::time::sleep(delay).await;
                delay *= 3;
            }
            Err(e) => {
                tracing::error!(error = %e, "send outcomes not recorded");
                return Err(e);
            }
        }
    }
    unreachable!("the loop returns")
}
