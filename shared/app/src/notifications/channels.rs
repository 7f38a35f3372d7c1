//! Each channel's own checks in the accept pipeline, in Notify's order.

use base64::Engine;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::accept::{
    Accepted, Content, Ctx, SendRequest, check_daily_limit, check_recipient_allowed,
    new_notification, render, usable_template,
};
use super::files::{files_only_by_email, prepare_files};
use super::present::uri;
use super::requests::{
    EmailRequest, LetterBody, LetterRequest, PrecompiledLetterRequest, SmsRequest,
};
use notify_core::errors::V2Error;
use notify_core::model::{
    KeyType, LimitName, NotificationStatus, NotificationType, RecipientKind, ServicePermission,
};
use notify_core::recipients::{PhoneError, PostalAddress, PostalZone};
use notify_core::templates::{self, EMAIL_MAX_BYTES, sms};
use notify_db::SenderKind;

const SIMULATED_SMS: [&str; 3] = ["447700900000", "447700900111", "447700900222"];
const SIMULATED_EMAIL: [&str; 3] = [
    "simulate-delivered@notifications.service.gov.uk",
    "simulate-delivered-2@notifications.service.gov.uk",
    "simulate-delivered-3@notifications.service.gov.uk",
];

impl SendRequest for SmsRequest {
    const CHANNEL: NotificationType = NotificationType::Sms;

    async fn parse(ctx: &Ctx<'_>, body: Map<String, Value>) -> Result<Self, V2Error> {
        SmsRequest::parse(&body, ctx.now)
    }

    async fn accept(self, ctx: &Ctx<'_>) -> Result<Accepted, V2Error> {
        let (state, service) = (ctx.state, ctx.service());
        let template = usable_template(ctx, self.template_id, NotificationType::Sms).await?;
        let rendered = render(&template, &self.personalisation)?;
        if rendered.body.is_empty() {
            return Err(V2Error::bad_request("Your message is empty."));
        }
        files_only_by_email(&self.personalisation, NotificationType::Sms)?;
        let sender = state
            .lookups
            .sender(&state.db, SenderKind::Sms, service.id, self.sms_sender_id)
            .await?;
        if let (Some(id), None) = (self.sms_sender_id, &sender) {
            return Err(V2Error::bad_request(format!(
                "sms_sender_id {id} does not exist in database for service id {}",
                service.id
            )));
        }
        let sender = sender.map(|s| s.value).unwrap_or_else(|| "GOVUK".into());
        let phone = &self.phone_number;
        check_recipient_allowed(ctx, RecipientKind::Mobile, phone.normalised()).await?;
        if let Err(e) = phone.check_allowed(
            service.has_permission(ServicePermission::InternationalSms),
            service.has_permission(ServicePermission::SmsToUkLandlines),
        ) {
            return Err(
                if e == PhoneError::NotAUkMobile && !phone.is_uk_for_permissions() {
                    V2Error::bad_request("Cannot send to international mobile numbers")
                } else {
                    V2Error::new(400, "InvalidPhoneError", e.legacy_message())
                },
            );
        }
        let mut counters = vec![LimitName::Sms];
        if phone.is_international() && !phone.is_uk_for_permissions() {
            check_daily_limit(ctx, LimitName::InternationalSms).await?;
            counters.push(LimitName::InternationalSms);
        }
        let simulated = SIMULATED_SMS.contains(&phone.normalised());
        let length = sms::character_count(&rendered.body);
        if length > sms::SMS_CHAR_COUNT_LIMIT {
            return Err(V2Error::bad_request(format!(
                "Your message is too long. Text messages cannot be longer than {} characters. Your message is {length} characters long.",
                sms::SMS_CHAR_COUNT_LIMIT
            )));
        }
        let mut new = new_notification(
            ctx,
            &template,
            phone.as_submitted().to_string(),
            Some(phone.normalised().to_string()),
            self.reference,
            &self.personalisation,
        );
        new.international = phone.is_international();
        new.phone_prefix = Some(phone.phone_prefix());
        new.rate_multiplier = Some(phone.rate_multiplier());
        new.reply_to_text = Some(sender.clone());
        new.callback_url = self.callback_url;
        Ok(Accepted {
            new,
            letter_pdf: None,
            simulated,
            scheduled_for: self.scheduled_for,
            counters,
            template,
            content: Content::Sms {
                body: rendered.body,
                from_number: sender,
            },
        })
    }
}

/// Values named in `sanitise_content_for` are cleaned; what changed is reported back.
fn sanitise(personalisation: &mut Map<String, Value>, keys: &[String]) -> Map<String, Value> {
    let mut sanitised = Map::new();
    for (key, value) in personalisation.iter_mut() {
        if !keys.contains(&templates::placeholders::normalise_key(key)) {
            continue;
        }
        if let Value::String(original) = value {
            let clean = templates::sanitise_value(original);
            if &clean != original {
                sanitised.insert(
                    key.clone(),
                    json!({"unsanitised": original.clone(), "sanitised": clean.clone()}),
                );
                *value = Value::String(clean);
            }
        }
    }
    sanitised
}

impl SendRequest for EmailRequest {
    const CHANNEL: NotificationType = NotificationType::Email;

    async fn parse(ctx: &Ctx<'_>, body: Map<String, Value>) -> Result<Self, V2Error> {
        EmailRequest::parse(&body, ctx.now)
    }

    async fn accept(mut self, ctx: &Ctx<'_>) -> Result<Accepted, V2Error> {
        let (state, service) = (ctx.state, ctx.service());
        let sanitised = sanitise(&mut self.personalisation, &self.sanitise_content_for);
        let template = usable_template(ctx, self.template_id, NotificationType::Email).await?;
        let rendered = render(&template, &self.personalisation)?;
        if rendered.body.is_empty() {
            return Err(V2Error::bad_request("Your message is empty."));
        }
        let reply_to = state
            .lookups
            .sender(
                &state.db,
                SenderKind::ReplyTo,
                service.id,
                self.email_reply_to_id,
            )
            .await?;
        if let (Some(id), None) = (self.email_reply_to_id, &reply_to) {
            return Err(V2Error::bad_request(format!(
                "email_reply_to_id {id} does not exist in database for service id {}",
                service.id
            )));
        }
        let email = &self.email_address;
        check_recipient_allowed(ctx, RecipientKind::Email, &email.normalised()).await?;
        let simulated = SIMULATED_EMAIL.contains(&email.as_submitted());
        let document_download_count = prepare_files(
            state,
            service,
            &mut self.personalisation,
            &email.normalised(),
            ctx.now,
        )
        .await?;
        // Lengths are checked on what the recipient gets: the download link, not the file.
        let rendered = if document_download_count.is_some() {
            render(&template, &self.personalisation)?
        } else {
            rendered
        };
        let size = rendered.body.len();
        if size > EMAIL_MAX_BYTES {
            return Err(V2Error::bad_request(format!(
                "Your message is too long. Emails cannot be longer than {EMAIL_MAX_BYTES} bytes. Your message is {size} bytes."
            )));
        }
        let unsubscribe_url = self.one_click_unsubscribe_url;
        let mut new = new_notification(
            ctx,
            &template,
            email.as_submitted().to_string(),
            Some(email.normalised()),
            self.reference,
            &self.personalisation,
        );
        new.reply_to_text = reply_to.map(|r| r.value);
        new.callback_url = self.callback_url;
        new.document_download_count = document_download_count;
        // A template with an unsubscribe link gets a Notify-made one when the service gave none.
        new.unsubscribe_link = unsubscribe_url.clone().or_else(|| {
            template.has_unsubscribe_link.then(|| {
                uri(
                    state,
                    &format!("unsubscribe/{}/{}", new.id, Uuid::new_v4().simple()),
                )
            })
        });
        Ok(Accepted {
            new,
            letter_pdf: None,
            simulated,
            scheduled_for: self.scheduled_for,
            counters: vec![LimitName::Email],
            template,
            content: Content::Email {
                from_email: format!(
                    "{}@{}",
                    service.email_sender_local_part, state.config.api.notify_email_domain
                ),
                rendered,
                one_click_unsubscribe_url: unsubscribe_url,
                sanitised,
            },
        })
    }
}

fn check_letter_key(ctx: &Ctx<'_>) -> Result<(), V2Error> {
    let auth = ctx.auth;
    if auth.key_type == KeyType::Team {
        return Err(V2Error::new(
            403,
            "BadRequestError",
            "Cannot send letters with a team api key",
        ));
    }
    if auth.service.restricted && auth.key_type != KeyType::Test {
        return Err(V2Error::new(
            403,
            "BadRequestError",
            "Cannot send letters when service is in trial mode",
        ));
    }
    Ok(())
}

impl SendRequest for LetterBody {
    const CHANNEL: NotificationType = NotificationType::Letter;

    async fn parse(ctx: &Ctx<'_>, body: Map<String, Value>) -> Result<Self, V2Error> {
        if LetterBody::is_precompiled(&body) {
            return PrecompiledLetterRequest::parse(&body).map(LetterBody::Precompiled);
        }
        // Upstream takes a second token for templated letters; kept so limits behave the same.
        let service = ctx.service();
        ctx.state
            .limiter
            .check_rate_limit(service.id, ctx.auth.key_type, service.rate_limit, ctx.now)
            .await?;
        LetterRequest::parse(&body).map(LetterBody::Templated)
    }

    async fn accept(self, ctx: &Ctx<'_>) -> Result<Accepted, V2Error> {
        check_letter_key(ctx)?;
        match self {
            LetterBody::Templated(request) => accept_letter(ctx, request).await,
            LetterBody::Precompiled(request) => accept_precompiled(ctx, request).await,
        }
    }
}

async fn accept_letter(ctx: &Ctx<'_>, request: LetterRequest) -> Result<Accepted, V2Error> {
    let service = ctx.service();
    let template = usable_template(ctx, request.template_id, NotificationType::Letter).await?;
    let rendered = render(&template, &request.personalisation)?;
    check_qr_codes(&rendered.body)?;
    files_only_by_email(&request.personalisation, NotificationType::Letter)?;
    let address = PostalAddress::parse(
        &request.address_lines,
        service.has_permission(ServicePermission::InternationalLetters),
    )
    .map_err(|e| V2Error::validation(vec![e.to_string()]))?;
    let mut new = new_notification(
        ctx,
        &template,
        address.lines().join("\n"),
        None,
        request.reference,
        &request.personalisation,
    );
    new.postage = Some(address.postage(template.postage));
    new.reference = Some(notify_core::letters::letter_reference(Uuid::new_v4()));
    new.international = address.zone() != PostalZone::Uk;
    new.reply_to_text = template.letter_contact_block.clone();
    new.callback_url = request.callback_url;
    Ok(Accepted {
        new,
        letter_pdf: None,
        simulated: false,
        scheduled_for: None,
        counters: vec![LimitName::Letter],
        template,
        content: Content::Letter { rendered },
    })
}

/// Upstream's QR code error (400 `ValidationError`, with the data, its size and the limit), checked on the letter's
/// body as it will be printed, so a letter that could not be rendered is refused at once.
fn check_qr_codes(body: &str) -> Result<(), V2Error> {
    let Some(data) = body
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("qr:"))
        .map(str::trim)
        .find(|data| data.len() > notify_letters::MAX_QR_BYTES)
    else {
        return Ok(());
    };
    debug_assert!(notify_letters::check_qr_codes(body).is_err());
    let details: Map<String, Value> = [
        ("data".to_string(), json!(data)),
        ("num_bytes".to_string(), json!(data.len())),
        ("max_bytes".to_string(), json!(notify_letters::MAX_QR_BYTES)),
    ]
    .into_iter()
    .collect();
    Err(
        V2Error::validation(vec![notify_letters::RenderError::QrCodeTooLong.to_string()])
            .with_details(details),
    )
}

async fn accept_precompiled(
    ctx: &Ctx<'_>,
    request: PrecompiledLetterRequest,
) -> Result<Accepted, V2Error> {
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(request.content.trim())
        .map_err(|_| {
            V2Error::bad_request("Cannot decode letter content (invalid base64 encoding)")
        })?;
    if !pdf.starts_with(b"%PDF-") {
        return Err(V2Error::bad_request("Letter content is not a PDF"));
    }
    let template = ctx
        .state
        .db
        .precompiled_letter_template(ctx.service().id)
        .await?;
    let personalisation: Map<String, Value> =
        [("address_line_1".to_string(), json!("Provided as PDF"))]
            .into_iter()
            .collect();
    let mut new = new_notification(
        ctx,
        &template,
        "Provided as PDF".into(),
        None,
        Some(request.reference),
        &personalisation,
    );
    new.status = NotificationStatus::PendingVirusCheck;
    new.reference = Some(notify_core::letters::letter_reference(Uuid::new_v4()));
    new.postage = Some(request.postage);
    new.callback_url = request.callback_url;
    Ok(Accepted {
        new,
        letter_pdf: Some(pdf),
        simulated: false,
        scheduled_for: None,
        counters: vec![LimitName::Letter],
        template,
        content: Content::Precompiled {
            postage: request.postage,
        },
    })
}
