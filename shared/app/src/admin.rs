//! What the admin API and the CLI both do: one implementation behind two front doors.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use notify_core::model::{
    CallbackType, KeyType, LetterLanguages, NotificationType, Postage, Service, ServicePermission,
    Template,
};
use notify_db::{
    ApiKeyRecord, CallbackApiRecord, DbError, MessageLimits, NewService, NewTemplate, SenderKind,
    SenderRecord, UserRecord,
};

#[derive(Debug, thiserror::Error)]
pub enum AdminOpError {
    #[error("{0}")]
    Invalid(String),
    #[error("No result found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
}

pub type AdminResult<T> = Result<T, AdminOpError>;

pub const DEFAULT_PERMISSIONS: [ServicePermission; 5] = [
    ServicePermission::Sms,
    ServicePermission::Email,
    ServicePermission::Letter,
    ServicePermission::InternationalSms,
    ServicePermission::InternationalLetters,
];

#[derive(Clone, Debug)]
pub struct CreateService {
    pub name: String,
    pub created_by: Option<Uuid>,
    pub restricted: bool,
    pub email_from: Option<String>,
    pub permissions: Option<Vec<ServicePermission>>,
    pub rate_limit: Option<i32>,
    pub message_limit: Option<i64>,
}

/// A new service with Notify's defaults: trial mode, the standard permissions, `GOVUK` as its text sender.
pub async fn create_service(state: &AppState, request: CreateService) -> AdminResult<Service> {
    if request.name.trim().is_empty() {
        return Err(AdminOpError::Invalid(
            "name: Missing data for required field.".into(),
        ));
    }
    let limit = request
        .message_limit
        .unwrap_or(if request.restricted { 50 } else { 250_000 });
    let email_from = request.email_from.unwrap_or_else(|| {
        request
            .name
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(".")
    });
    let service = state
        .db
        .create_service(&NewService {
            id: Uuid::new_v4(),
            name: request.name.trim().to_string(),
            email_sender_local_part: email_from,
            created_by_id: request.created_by,
            restricted: request.restricted,
            active: true,
            prefix_sms: true,
            rate_limit: request.rate_limit.unwrap_or(3000),
            contact_link: None,
            message_limits: MessageLimits {
                email: limit,
                sms: limit,
                letter: if request.restricted { 50 } else { 20_000 },
                international_sms: 100,
            },
            permissions: request
                .permissions
                .unwrap_or_else(|| DEFAULT_PERMISSIONS.to_vec()),
        })
        .await?;
    state
        .db
        .add_sender(SenderKind::Sms, service.id, "GOVUK", true, None)
        .await?;
    Ok(service)
}

/// A new key: the secret is returned once, in the combined form the clients take, and stored encrypted.
pub async fn create_api_key(
    state: &AppState,
    service_id: Uuid,
    name: &str,
    key_type: KeyType,
    created_by: Option<Uuid>,
) -> AdminResult<(ApiKeyRecord, String)> {
    if state.db.get_service(service_id).await?.is_none() {
        return Err(AdminOpError::NotFound);
    }
    let secret = Uuid::new_v4().to_string();
    let record = state
        .db
        .create_api_key(
            Uuid::new_v4(),
            service_id,
            name,
            key_type,
            &state.encryptor.encrypt(&secret),
            created_by,
        )
        .await
        .map_err(|e| match e.unique_violation() {
            Some(_) => AdminOpError::Invalid(format!("Duplicate key name: {name}")),
            None => e.into(),
        })?;
    Ok((record, format!("{name}-{service_id}-{secret}")))
}

#[derive(Clone, Debug)]
pub struct CreateTemplate {
    pub service_id: Uuid,
    pub name: String,
    pub template_type: NotificationType,
    pub content: String,
    pub subject: Option<String>,
    pub postage: Option<Postage>,
    pub created_by: Option<Uuid>,
    pub letter_contact_id: Option<Uuid>,
    pub has_unsubscribe_link: bool,
}

/// A letter template's languages as the admin API gives them (upstream's names); all absent means English only.
#[derive(Clone, Debug, Default)]
pub struct LetterLanguagesRequest {
    pub letter_languages: Option<String>,
    pub letter_welsh_subject: Option<String>,
    pub letter_welsh_content: Option<String>,
}

impl LetterLanguagesRequest {
    pub fn is_given(&self) -> bool {
        self.letter_languages.is_some()
            || self.letter_welsh_subject.is_some()
            || self.letter_welsh_content.is_some()
    }

    /// The languages to store with the Welsh subject and content: a Welsh-then-English letter needs both, an
    /// English one has neither.
    pub fn check(
        &self,
        template_type: NotificationType,
    ) -> AdminResult<(LetterLanguages, Option<String>, Option<String>)> {
        let languages = match self.letter_languages.as_deref() {
            None => LetterLanguages::English,
            Some(text) => LetterLanguages::parse(text).ok_or_else(|| {
                AdminOpError::Invalid(format!(
                    "letter_languages: {text} is not one of [english, welsh_then_english]"
                ))
            })?,
        };
        let present = |v: &Option<String>| v.as_deref().is_some_and(|t| !t.trim().is_empty());
        match languages {
            LetterLanguages::WelshThenEnglish if template_type != NotificationType::Letter => Err(
                AdminOpError::Invalid("letter_languages: only letter templates can be in Welsh".into()),
            ),
            LetterLanguages::WelshThenEnglish
                if !present(&self.letter_welsh_subject) || !present(&self.letter_welsh_content) =>
            {
                Err(AdminOpError::Invalid(
                    "letter_welsh_subject and letter_welsh_content are required when letter_languages is welsh_then_english"
                        .into(),
                ))
            }
            LetterLanguages::WelshThenEnglish => Ok((
                languages,
                self.letter_welsh_subject.clone(),
                self.letter_welsh_content.clone(),
            )),
            LetterLanguages::English
                if self.letter_welsh_subject.is_some() || self.letter_welsh_content.is_some() =>
            {
                Err(AdminOpError::Invalid(
                    "letter_welsh_subject and letter_welsh_content must be null when letter_languages is english"
                        .into(),
                ))
            }
            LetterLanguages::English => Ok((languages, None, None)),
        }
    }
}

pub async fn create_template(state: &AppState, request: CreateTemplate) -> AdminResult<Template> {
    create_template_in(state, request, LetterLanguagesRequest::default()).await
}

/// [`create_template`] with the letter's languages (a Welsh-then-English letter).
pub async fn create_template_in(
    state: &AppState,
    request: CreateTemplate,
    languages: LetterLanguagesRequest,
) -> AdminResult<Template> {
    if request.template_type != NotificationType::Sms
        && request.subject.as_deref().is_none_or(str::is_empty)
    {
        return Err(AdminOpError::Invalid(
            "subject: Missing data for required field.".into(),
        ));
    }
    if request.content.trim().is_empty() {
        return Err(AdminOpError::Invalid("content: Can’t be empty".into()));
    }
    let postage = match request.template_type {
        NotificationType::Letter => Some(request.postage.unwrap_or(Postage::Second)),
        _ => None,
    };
    let (letter_languages, letter_welsh_subject, letter_welsh_content) =
        languages.check(request.template_type)?;
    Ok(state
        .db
        .create_template(&NewTemplate {
            id: Uuid::new_v4(),
            service_id: request.service_id,
            name: request.name,
            template_type: request.template_type,
            content: request.content,
            subject: if request.template_type == NotificationType::Sms {
                None
            } else {
                request.subject
            },
            postage,
            hidden: false,
            created_by_id: request.created_by,
            service_letter_contact_id: request.letter_contact_id,
            has_unsubscribe_link: request.has_unsubscribe_link,
            letter_languages,
            letter_welsh_subject,
            letter_welsh_content,
        })
        .await?)
}

/// Callback URLs must be https and tokens at least 10 characters; the token is stored encrypted.
pub async fn set_callback_api(
    state: &AppState,
    service_id: Uuid,
    callback_type: CallbackType,
    url: &str,
    bearer_token: &str,
    updated_by: Option<Uuid>,
) -> AdminResult<CallbackApiRecord> {
    let mut problems = Vec::new();
    if !(url.starts_with("https://") && url::Url::parse(url).is_ok()) {
        problems.push(format!("url {url} is not a valid https url"));
    }
    if bearer_token.chars().count() < 10 {
        problems.push(format!("bearer_token {bearer_token} is too short"));
    }
    if !problems.is_empty() {
        return Err(AdminOpError::Invalid(problems.join(", ")));
    }
    Ok(state
        .db
        .upsert_callback_api(
            service_id,
            callback_type,
            url,
            &state.encryptor.encrypt(bearer_token),
            updated_by,
        )
        .await?)
}

pub fn service_json(service: &Service, callbacks: &[CallbackApiRecord]) -> Value {
    json!({
        "id": service.id,
        "name": service.name,
        "active": service.active,
        "restricted": service.restricted,
        "prefix_sms": service.prefix_sms,
        "rate_limit": service.rate_limit,
        "email_from": service.email_sender_local_part,
        "contact_link": service.contact_link,
        "email_message_limit": service.email_message_limit,
        "sms_message_limit": service.sms_message_limit,
        "letter_message_limit": service.letter_message_limit,
        "international_sms_message_limit": service.international_sms_message_limit,
        "permissions": service.permissions,
        "crown": service.crown,
        "created_at": notify_core::time::format(service.created_at),
        "service_callback_api": callbacks.iter().map(|c| c.id).collect::<Vec<_>>(),
        "letter_branding": service.letter_branding_id,
        "email_branding": service.email_branding_id,
    })
}

pub fn user_json(user: &UserRecord) -> Value {
    json!({
        "id": user.id,
        "name": user.name,
        "email_address": user.email_address,
        "mobile_number": user.mobile_number,
        "state": user.state,
        "platform_admin": user.platform_admin,
        "auth_type": user.auth_type,
        "created_at": notify_core::time::format(user.created_at),
        "services": user.services,
    })
}

pub fn api_key_json(key: &ApiKeyRecord, service_id: Uuid) -> Value {
    json!({
        "id": key.id,
        "name": key.name,
        "key_type": key.key_type,
        "service_id": service_id,
        "expiry_date": notify_core::time::format_opt(key.expiry_date),
        "created_at": notify_core::time::format(key.created_at),
        "created_by": key.created_by_id,
        "updated_at": notify_core::time::format_opt(key.updated_at),
        "version": key.version,
    })
}

pub fn template_admin_json(template: &Template) -> Value {
    let mut out = notify_core::templates::template_json(template);
    out["service"] = json!(template.service_id);
    out["template_type"] = json!(template.template_type);
    out["content"] = json!(template.content);
    out["archived"] = json!(template.archived);
    out["hidden"] = json!(template.hidden);
    out["has_unsubscribe_link"] = json!(template.has_unsubscribe_link);
    out["letter_languages"] = json!(
        (template.template_type == NotificationType::Letter).then_some(template.letter_languages)
    );
    out["letter_welsh_subject"] = json!(template.letter_welsh_subject);
    out["letter_welsh_content"] = json!(template.letter_welsh_content);
    out
}

pub fn sender_json(kind: SenderKind, sender: &SenderRecord) -> Value {
    let field = match kind {
        SenderKind::Sms => "sms_sender",
        SenderKind::ReplyTo => "email_address",
        SenderKind::LetterContact => "contact_block",
    };
    let mut out = json!({
        "id": sender.id,
        "service_id": sender.service_id,
        "is_default": sender.is_default,
        "archived": sender.archived,
        "created_at": notify_core::time::format(sender.created_at),
        "updated_at": notify_core::time::format_opt(sender.updated_at),
    });
    out[field] = json!(sender.value);
    if kind == SenderKind::Sms {
        out["inbound_number_id"] = json!(sender.inbound_number_id);
    }
    out
}

pub fn callback_json(callback: &CallbackApiRecord) -> Value {
    json!({
        "id": callback.id,
        "service_id": callback.service_id,
        "url": callback.url,
        "callback_type": callback.callback_type,
        "created_at": notify_core::time::format(callback.created_at),
        "updated_at": notify_core::time::format_opt(callback.updated_at),
        "updated_by_id": callback.updated_by_id,
    })
}

/// Records a text received on the service's inbound number, as a provider's webhook would.
pub async fn receive_inbound_sms(
    state: &AppState,
    service_id: Uuid,
    from: &str,
    content: &str,
) -> AdminResult<Uuid> {
    let number = state
        .db
        .inbound_number_for_service(service_id)
        .await?
        .ok_or_else(|| {
            AdminOpError::Invalid("service has no inbound number: assign one first".into())
        })?;
    let text = notify_outbound::providers::aws_sms::InboundText {
        from: from.to_string(),
        to: number.number,
        content: content.to_string(),
        provider_reference: None,
        received_at: None,
    };
    crate::inbound::receive(state, &number.provider, &text)
        .await?
        .ok_or_else(|| AdminOpError::Invalid("the service's inbound number is not active".into()))
}
