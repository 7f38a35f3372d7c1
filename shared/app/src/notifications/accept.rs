//! The one accept pipeline every channel goes through (contract §4.4, in that order): the caller is
//! authenticated by the handler's extractor, then limits → the body read into the channel's request →
//! permission → the channel's template, recipient and length checks → persist → queue → the 201 body.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::present;
use super::requests::{EmailRequest, JsonBody, LetterBody, SmsRequest};
use crate::AppState;
use crate::auth::AuthenticatedKey;
use crate::idempotency::{self, Answer, Begun};
use crate::limits::limit_for;
use notify_core::errors::V2Error;
use notify_core::idempotency::IdempotencyKey;
use notify_core::messages::Message;
use notify_core::model::{
    KeyType, LimitName, NotificationStatus, NotificationType, Postage, RecipientKind, Service,
    Template,
};
use notify_core::recipients::PhoneNumber;
use notify_core::templates::{self, Rendered};
use notify_db::{IdempotentRequest, KeyCompletion, NewNotification};

/// One send being accepted: who sends it, and the time it is accepted at.
pub(super) struct Ctx<'a> {
    pub state: &'a AppState,
    pub auth: &'a AuthenticatedKey,
    pub now: DateTime<Utc>,
}

impl Ctx<'_> {
    pub fn service(&self) -> &Service {
        &self.auth.service
    }
}

/// A channel's send request: how its body is read and what is checked before it is stored.
pub(super) trait SendRequest: Sized {
    const CHANNEL: NotificationType;

    /// Read from the body's JSON object, every error at once. (A templated letter takes its second
    /// rate-limit token here, before its properties are checked, as upstream does.)
    async fn parse(ctx: &Ctx<'_>, body: Map<String, Value>) -> Result<Self, V2Error>;

    /// The channel's checks after the permission one, in Notify's order, and what they make.
    async fn accept(self, ctx: &Ctx<'_>) -> Result<Accepted, V2Error>;
}

/// What the response shows of the content, per channel.
pub(super) enum Content {
    Sms {
        body: String,
        from_number: String,
    },
    Email {
        from_email: String,
        rendered: Rendered,
        one_click_unsubscribe_url: Option<String>,
        sanitised: Map<String, Value>,
    },
    Letter {
        rendered: Rendered,
    },
    Precompiled {
        postage: Postage,
    },
}

/// A send that passed every check, ready to be stored.
pub(super) struct Accepted {
    pub new: NewNotification,
    pub letter_pdf: Option<Vec<u8>>,
    /// Simulated recipients get a normal answer and nothing else.
    pub simulated: bool,
    /// An SMS or email to be sent at this time (GC Notify's scheduled sends): stored with its
    /// `scheduled_notifications` row and not queued; `send-scheduled-notifications` releases it.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Daily counters to bump once stored.
    pub counters: Vec<LimitName>,
    pub template: Template,
    pub content: Content,
}

/// The 201 body, serialised once (with a key it is stored as the key's response), or `None` when, with a key, the
/// key was held by another notification when this one came to be stored (nothing stored).
async fn accept<R: SendRequest>(
    state: &AppState,
    auth: &AuthenticatedKey,
    body: JsonBody<'_>,
    key: Option<&IdempotentRequest>,
) -> Result<Option<String>, V2Error> {
    let ctx = Ctx {
        state,
        auth,
        now: state.now(),
    };
    check_limits(&ctx, LimitName::of(R::CHANNEL)).await?;
    let request = R::parse(&ctx, body.into_object()?).await?;
    check_permission(ctx.service(), R::CHANNEL)?;
    let accepted = request.accept(&ctx).await?;
    // Made before it is stored: with an Idempotency-Key it is stored with the notification, to be replayed.
    // serde_json's writer, not `Value`'s `Display` (which goes through `fmt` and costs more).
    let created = serde_json::to_string(&present::created(state, &accepted))
        .expect("a JSON value serialises");
    let stored = persist_and_queue(state, &accepted, key.map(|k| (k, created.as_str()))).await?;
    Ok(stored.then_some(created))
}

/// `POST /v2/notifications/{sms,email,letter}`: `channel`'s request through the one pipeline.
pub async fn send(
    channel: NotificationType,
    state: &AppState,
    auth: &AuthenticatedKey,
    body: &[u8],
) -> Result<String, V2Error> {
    accept_channel(channel, state, auth, JsonBody::read(body), None)
        .await?
        .ok_or_else(|| V2Error::internal("a send without an Idempotency-Key was not stored"))
}

async fn accept_channel(
    channel: NotificationType,
    state: &AppState,
    auth: &AuthenticatedKey,
    body: JsonBody<'_>,
    key: Option<&IdempotentRequest>,
) -> Result<Option<String>, V2Error> {
    match channel {
        NotificationType::Sms => accept::<SmsRequest>(state, auth, body, key).await,
        NotificationType::Email => accept::<EmailRequest>(state, auth, body, key).await,
        NotificationType::Letter => accept::<LetterBody>(state, auth, body, key).await,
    }
}

/// [`send`] with an `Idempotency-Key`: the key is claimed before anything else (a replay takes no rate-limit
/// token), the send runs through the same pipeline, and its notification is stored with the key's response.
pub async fn send_with_key(
    channel: NotificationType,
    state: &AppState,
    auth: &AuthenticatedKey,
    body: &[u8],
    key: &IdempotencyKey,
) -> Result<Answer, V2Error> {
    let operation = format!("POST /v2/notifications/{}", channel.as_str());
    let body = JsonBody::read(body);
    let keyed = match idempotency::begin(state, auth.service.id, key, &operation, &body).await? {
        Begun::Go(keyed) => keyed,
        Begun::Replay { status, body } => return Ok(Answer::Replayed { status, body }),
    };
    let outcome = accept_channel(channel, state, auth, body, Some(&keyed.request)).await;
    idempotency::settle(state, &keyed, outcome).await
}

/// The rate limit's token, then the channel's daily limit.
async fn check_limits(ctx: &Ctx<'_>, limit_name: LimitName) -> Result<(), V2Error> {
    let service = ctx.service();
    ctx.state
        .limiter
        .check_rate_limit(service.id, ctx.auth.key_type, service.rate_limit, ctx.now)
        .await?;
    check_daily_limit(ctx, limit_name).await
}

pub(super) async fn check_daily_limit(ctx: &Ctx<'_>, limit_name: LimitName) -> Result<(), V2Error> {
    let service = ctx.service();
    let limit = limit_for(service, ctx.auth.key_type, limit_name);
    ctx.state
        .limiter
        .check_daily_limit(service.id, limit_name, limit, ctx.auth.key_type, ctx.now)
        .await?;
    Ok(())
}

fn check_permission(service: &Service, notification_type: NotificationType) -> Result<(), V2Error> {
    if service.has_permission(notification_type.permission()) {
        Ok(())
    } else {
        Err(V2Error::bad_request(format!(
            "Service is not allowed to send {}",
            notification_type.plural_noun()
        )))
    }
}

pub(super) async fn usable_template(
    ctx: &Ctx<'_>,
    template_id: Uuid,
    notification_type: NotificationType,
) -> Result<Template, V2Error> {
    let state = ctx.state;
    let template = state
        .lookups
        .template(&state.db, ctx.service().id, template_id)
        .await?
        .ok_or_else(|| V2Error::bad_request("Template not found"))?;
    if template.template_type != notification_type {
        return Err(V2Error::bad_request(format!(
            "{} template is not suitable for {} notification",
            template.template_type, notification_type
        )));
    }
    if template.archived {
        return Err(V2Error::bad_request("Template has been deleted"));
    }
    Ok(template)
}

pub(super) fn render(
    template: &Template,
    personalisation: &Map<String, Value>,
) -> Result<Rendered, V2Error> {
    templates::render(template, personalisation).map_err(|e| V2Error::bad_request(e.to_string()))
}

/// Trial services and team keys may only send to the team and the guest list.
pub(super) async fn check_recipient_allowed(
    ctx: &Ctx<'_>,
    kind: RecipientKind,
    normalised: &str,
) -> Result<(), V2Error> {
    let auth = ctx.auth;
    let restricted_key = match auth.key_type {
        KeyType::Test => false,
        KeyType::Team => true,
        KeyType::Normal => auth.service.restricted,
    };
    if !restricted_key {
        return Ok(());
    }
    let allowed =
        ctx.state
            .db
            .team_and_guest_list(auth.service.id)
            .await?
            .into_iter()
            .any(|(k, recipient)| {
                RecipientKind::parse(&k) == Some(kind)
                    && match kind {
                        RecipientKind::Mobile => PhoneNumber::parse(&recipient)
                            .is_ok_and(|p| p.normalised() == normalised),
                        RecipientKind::Email => recipient.trim().to_lowercase() == normalised,
                    }
            });
    if allowed {
        Ok(())
    } else if auth.key_type == KeyType::Team {
        Err(V2Error::bad_request(
            "Can’t send to this recipient using a team-only API key",
        ))
    } else {
        Err(V2Error::bad_request(
            "Can’t send to this recipient when service is in trial mode – see https://www.notifications.service.gov.uk/trial-mode",
        ))
    }
}

/// The row to store, before the channel adds what is its own.
pub(super) fn new_notification(
    ctx: &Ctx<'_>,
    template: &Template,
    to: String,
    normalised_to: Option<String>,
    client_reference: Option<String>,
    personalisation: &Map<String, Value>,
) -> NewNotification {
    let auth = ctx.auth;
    NewNotification {
        id: Uuid::new_v4(),
        to,
        normalised_to,
        service_id: auth.service.id,
        template_id: template.id,
        template_version: template.version,
        api_key_id: Some(auth.api_key_id),
        key_type: auth.key_type,
        notification_type: template.template_type,
        created_at: ctx.now,
        status: NotificationStatus::Created,
        client_reference,
        encrypted_personalisation: (!personalisation.is_empty()).then(|| {
            ctx.state
                .encryptor
                .encrypt(&Value::Object(personalisation.clone()).to_string())
        }),
        international: false,
        phone_prefix: None,
        rate_multiplier: None,
        reply_to_text: None,
        postage: None,
        unsubscribe_link: None,
        billable_units: 0,
        created_by_id: None,
        job_id: None,
        job_row_number: None,
        reference: None,
        callback_url: None,
        document_download_count: None,
    }
}

/// Stores, then queues. A 201 means the row is committed; if queueing fails the row stays `created` for the
/// replay job (a precompiled letter `pending-virus-check` for the re-scan job) and the failure is logged, so an
/// accepted notification is never lost. A precompiled letter's upload is in the file store before its row is
/// written: there is never a row without its file.
///
/// With an Idempotency-Key, the `created` body is written with the row (or, for a simulated recipient, alone) as
/// the key's response; false when the key was answered first, and nothing was stored.
async fn persist_and_queue(
    state: &AppState,
    accepted: &Accepted,
    key: Option<(&IdempotentRequest, &str)>,
) -> Result<bool, V2Error> {
    let new = &accepted.new;
    let completion = key.map(|(request, body)| KeyCompletion {
        request,
        created_at: new.created_at,
        status_code: 201,
        response_body: body,
        resource_id: Some(new.id),
    });
    if accepted.simulated {
        return match &completion {
            Some(completion) => Ok(state.db.complete_idempotency_key(completion).await?),
            None => Ok(true),
        };
    }
    let upload_key = match &accepted.letter_pdf {
        Some(pdf) => {
            let key = notify_core::letters::precompiled_upload_key(new.id);
            state
                .files
                .put(&key, pdf.clone(), "application/pdf")
                .await
                .map_err(|e| {
                    tracing::error!(notification_id = %new.id, error = %e, "precompiled letter not stored; not accepted");
                    V2Error::unavailable(e)
                })?;
            Some(key)
        }
        None => None,
    };
    match (&completion, accepted.scheduled_for) {
        (None, Some(at)) => state.db.insert_scheduled_notification(new, at).await?,
        (None, None) => {
            state
                .db
                .insert_notification(new, upload_key.as_deref())
                .await?
        }
        (Some(completion), scheduled_for) => {
            if !state
                .db
                .insert_notification_completing_key(
                    new,
                    upload_key.as_deref(),
                    scheduled_for,
                    Some(completion),
                )
                .await?
            {
                return Ok(false);
            }
        }
    }
    tracing::info!(
        notification_id = %new.id,
        service_id = %new.service_id,
        notification_type = new.notification_type.as_str(),
        key_type = new.key_type.as_str(),
        "notification created"
    );
    notify_core::metrics::count(
        "NotificationsCreated",
        1,
        &[("NotificationType", new.notification_type.as_str())],
    );
    if new.key_type != KeyType::Test {
        for counter in &accepted.counters {
            state
                .limiter
                .count_sent(new.service_id, *counter, new.created_at)
                .await;
        }
    }
    if new.status == NotificationStatus::PendingVirusCheck {
        queue_scan(state, new).await;
    }
    if new.status == NotificationStatus::Created && accepted.scheduled_for.is_none() {
        let queue = match new.notification_type {
            NotificationType::Sms => &state.config.queues.deliver_sms,
            NotificationType::Email => &state.config.queues.deliver_email,
            NotificationType::Letter => &state.config.queues.deliver_letter,
        };
        if let Err(e) = state
            .queue
            .send(
                queue,
                &new.service_id.to_string(),
                &Message::deliver(new.id),
            )
            .await
        {
            tracing::error!(
                notification_id = %new.id,
                error = %e,
                "stored but not queued; the replay job will queue it"
            );
            notify_core::metrics::count(
                "NotificationsNotQueued",
                1,
                &[("NotificationType", new.notification_type.as_str())],
            );
        }
    }
    Ok(true)
}

/// clamd is asked as soon as the letter is stored; GuardDuty scans the upload by itself and its event arrives on
/// the letters queue. A scan that cannot be queued is queued by the re-scan job after 10 minutes.
async fn queue_scan(state: &AppState, new: &NewNotification) {
    if state.config.scan.scanner != notify_config::ScannerKind::Clamd {
        return;
    }
    let message = Message::ScanLetter {
        v: 1,
        notification_id: new.id,
    };
    if let Err(e) = state
        .queue
        .send(
            &state.config.queues.deliver_letter,
            &new.service_id.to_string(),
            &message,
        )
        .await
    {
        tracing::error!(
            notification_id = %new.id,
            error = %e,
            "precompiled letter stored but its scan not queued; the re-scan job will queue it"
        );
        notify_core::metrics::count(
            "NotificationsNotQueued",
            1,
            &[("NotificationType", new.notification_type.as_str())],
        );
    }
}
