//! The public v2 API handlers: thin, each one call into the domain.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::errors::ApiError;
use crate::openapi::schemas;
use notify_app::auth::AuthenticatedKey;
use notify_app::idempotency::Answer;
use notify_app::{AppState, auth, notifications};
use notify_core::errors::V2Error;
use notify_core::idempotency::{self, IdempotencyKey};
use notify_core::model::{NotificationStatus, NotificationType, Postage};
use notify_core::schema::parse_uuid;
use notify_core::templates;
use notify_core::templates::placeholders::python_repr;
use notify_db::NotificationFilter;

pub const PAGE_SIZE: i64 = 250;

/// A v2 caller, authenticated before anything else is looked at.
pub struct V2Auth(pub AuthenticatedKey);

impl FromRequestParts<AppState> for V2Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .map(|h| h.to_str().unwrap_or("\u{0}"));
        let key = auth::authenticate_service(state, header, state.now()).await?;
        Ok(V2Auth(key))
    }
}

/// A 201 with a body already serialised (as `Json` would write it, and as a replay answers it).
pub fn created(body: String) -> Response {
    (
        StatusCode::CREATED,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

/// The optional `Idempotency-Key` of a POST that creates, read after authentication (a caller not authenticated
/// learns nothing about keys). Sent more than once, or malformed, it is a 400: guessing which was meant could
/// replay the wrong response.
pub struct IdempotencyKeyHeader(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKeyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut values = parts.headers.get_all(idempotency::HEADER).iter();
        let Some(value) = values.next() else {
            return Ok(IdempotencyKeyHeader(None));
        };
        if values.next().is_some() {
            return Err(V2Error::bad_request("Idempotency-Key must be sent once").into());
        }
        Ok(IdempotencyKeyHeader(Some(IdempotencyKey::parse(
            value.as_bytes(),
        )?)))
    }
}

/// A POST that creates, answered: 201 with the new body, or the first response again, marked as a replay.
pub fn answered(answer: Answer) -> Response {
    match answer {
        Answer::Created(body) => created(body),
        Answer::Replayed { status, body } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED),
            [
                (CONTENT_TYPE, HeaderValue::from_static("application/json")),
                (
                    HeaderName::from_static(idempotency::REPLAYED_HEADER),
                    HeaderValue::from_static("true"),
                ),
            ],
            body,
        )
            .into_response(),
    }
}

/// `POST /v2/notifications/{sms,email,letter}`. Without an Idempotency-Key, exactly the send it always was.
async fn post_notification(
    channel: NotificationType,
    state: AppState,
    auth: AuthenticatedKey,
    key: Option<IdempotencyKey>,
    body: Bytes,
) -> Result<Response, ApiError> {
    match key {
        None => notifications::send(channel, &state, &auth, &body)
            .await
            .map(created)
            .map_err(ApiError),
        Some(key) => notifications::send_with_key(channel, &state, &auth, &body, &key)
            .await
            .map(answered)
            .map_err(ApiError),
    }
}

#[utoipa::path(
    post,
    path = "/v2/notifications/sms",
    tag = "notifications",
    description = "Send a text message.",
    request_body = schemas::SmsRequest,
    params(schemas::IdempotencyKeyParam),
    responses(
        (status = 201, description = "Accepted: the notification is stored and queued", body = schemas::SmsCreated,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`"))),
        schemas::IdempotencyErrors,
        schemas::V2Errors,
    )
)]
pub async fn post_sms(
    State(s): State<AppState>,
    V2Auth(a): V2Auth,
    IdempotencyKeyHeader(k): IdempotencyKeyHeader,
    b: Bytes,
) -> Result<Response, ApiError> {
    post_notification(NotificationType::Sms, s, a, k, b).await
}

#[utoipa::path(
    post,
    path = "/v2/notifications/email",
    tag = "notifications",
    description = "Send an email.",
    request_body = schemas::EmailRequest,
    params(schemas::IdempotencyKeyParam),
    responses(
        (status = 201, description = "Accepted: the notification is stored and queued", body = schemas::EmailCreated,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`"))),
        schemas::IdempotencyErrors,
        schemas::V2Errors,
    )
)]
pub async fn post_email(
    State(s): State<AppState>,
    V2Auth(a): V2Auth,
    IdempotencyKeyHeader(k): IdempotencyKeyHeader,
    b: Bytes,
) -> Result<Response, ApiError> {
    post_notification(NotificationType::Email, s, a, k, b).await
}

#[utoipa::path(
    post,
    path = "/v2/notifications/letter",
    tag = "notifications",
    description = "Send a letter: from a letter template, or a precompiled PDF.",
    request_body = schemas::LetterRequest,
    params(schemas::IdempotencyKeyParam),
    responses(
        (status = 201, description = "Accepted: the notification is stored and queued", body = schemas::LetterCreated,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`"))),
        schemas::IdempotencyErrors,
        schemas::V2Errors,
    )
)]
pub async fn post_letter(
    State(s): State<AppState>,
    V2Auth(a): V2Auth,
    IdempotencyKeyHeader(k): IdempotencyKeyHeader,
    b: Bytes,
) -> Result<Response, ApiError> {
    post_notification(NotificationType::Letter, s, a, k, b).await
}

fn path_uuid(raw: &str, name: &str) -> Result<Uuid, V2Error> {
    parse_uuid(raw).ok_or_else(|| V2Error::validation(vec![format!("{name} is not a valid UUID")]))
}

#[utoipa::path(
    get,
    path = "/v2/notifications/{notification_id}",
    tag = "notifications",
    description = "A notification and its status.",
    params(("notification_id" = String, Path, format = Uuid, description = "The notification")),
    responses((status = 200, body = schemas::Notification), schemas::V2Errors)
)]
pub async fn get_notification(
    State(state): State<AppState>,
    V2Auth(auth): V2Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = path_uuid(&id, "notification_id")?;
    let record = state
        .db
        .get_notification(auth.service.id, id)
        .await?
        .ok_or_else(V2Error::not_found)?;
    Ok(notifications::notification_json(&state, &record).map(Json)?)
}

#[utoipa::path(
    get,
    path = "/v2/notifications/{notification_id}/pdf",
    tag = "notifications",
    description = "A letter's PDF, once it has passed the virus scan (`PDFNotReadyError` until then).",
    params(("notification_id" = String, Path, format = Uuid, description = "The letter")),
    responses(
        (status = 200, description = "The PDF", content_type = "application/pdf", body = String),
        schemas::V2Errors,
    )
)]
pub async fn get_pdf(
    State(state): State<AppState>,
    V2Auth(auth): V2Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_uuid(&id, "notification_id")?;
    let pdf = notifications::get_letter_pdf(&state, &auth, id).await?;
    // Without a Content-Type lambda_http would treat the bytes as text and corrupt them.
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static("application/pdf"))],
        pdf,
    )
        .into_response())
}

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn additional_properties(keys: &[String]) -> Option<String> {
    let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    keys.sort_unstable();
    keys.dedup();
    match keys.len() {
        0 => None,
        1 => Some(format!(
            "Additional properties are not allowed ({} was unexpected)",
            keys[0]
        )),
        _ => Some(format!(
            "Additional properties are not allowed ({} were unexpected)",
            keys.join(", ")
        )),
    }
}

const STATUS_CHOICES: &str = "[cancelled, created, sending, sent, delivered, pending, failed, technical-failure, \
    temporary-failure, permanent-failure, pending-virus-check, validation-failed, virus-scan-failed, returned-letter, \
    accepted, received]";

/// Expands `failed`, `accepted` and `received`; a set that covers everything filters nothing.
fn expand_statuses(requested: &[String]) -> Vec<NotificationStatus> {
    use NotificationStatus::*;
    let mut out: Vec<NotificationStatus> = Vec::new();
    for s in requested {
        let expanded: Vec<NotificationStatus> = match s.as_str() {
            "failed" => vec![
                TechnicalFailure,
                TemporaryFailure,
                PermanentFailure,
                ValidationFailed,
                VirusScanFailed,
                ReturnedLetter,
            ],
            "accepted" => vec![Created, Sending],
            "received" => vec![Delivered],
            other => NotificationStatus::parse(other).into_iter().collect(),
        };
        for status in expanded {
            if !out.contains(&status) {
                out.push(status);
            }
        }
    }
    let all_current = NotificationStatus::ALL
        .iter()
        .filter(|s| **s != Failed)
        .all(|s| out.contains(s));
    if all_current { Vec::new() } else { out }
}

fn encode_query(pairs: &[(String, String)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        serializer.append_pair(k, v);
    }
    serializer.finish()
}

fn link(base: &str, pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", encode_query(pairs))
    }
}

#[utoipa::path(
    get,
    path = "/v2/notifications",
    tag = "notifications",
    description = "The service's notifications, newest first, 250 a page; the key's type decides which are seen \
        (a test key sees test sends only).",
    params(
        ("template_type" = Option<Vec<schemas::NotificationType>>, Query, explode),
        ("status" = Option<Vec<schemas::StatusFilter>>, Query, explode,
            description = "`failed` is every failure; letters' `accepted` and `received` too"),
        ("reference" = Option<String>, Query, description = "The service's reference"),
        ("older_than" = Option<String>, Query, format = Uuid, description = "The page after this notification"),
        ("include_jobs" = Option<schemas::IncludeJobs>, Query, description = "Also notifications sent in bulk"),
    ),
    responses((status = 200, body = schemas::NotificationList), schemas::V2Errors)
)]
pub async fn list_notifications(
    State(state): State<AppState>,
    V2Auth(auth): V2Auth,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let pairs = query_pairs(query.as_deref());
    let values = |name: &str| {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    let first = |name: &str| values(name).into_iter().next();
    let mut errors = Vec::new();
    let statuses = values("status");
    for s in &statuses {
        if NotificationStatus::parse(s).is_none() && !["accepted", "received"].contains(&s.as_str())
        {
            errors.push(format!("status {s} is not one of {STATUS_CHOICES}"));
        }
    }
    let types = values("template_type");
    for t in &types {
        if NotificationType::parse(t).is_none() {
            errors.push(format!(
                "template_type {t} is not one of [sms, email, letter]"
            ));
        }
    }
    let include_jobs = first("include_jobs");
    if let Some(v) = &include_jobs
        && v != "true"
        && v != "True"
    {
        errors.push(format!("include_jobs {v} is not one of [true, True]"));
    }
    let older_than = first("older_than");
    if let Some(v) = &older_than
        && parse_uuid(v).is_none()
    {
        errors.push("older_than is not a valid UUID".to_string());
    }
    let known = [
        "reference",
        "status",
        "template_type",
        "include_jobs",
        "older_than",
    ];
    let unknown: Vec<String> = pairs
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| !known.contains(&k.as_str()))
        .collect();
    if let Some(message) = additional_properties(&unknown) {
        errors.push(message);
    }
    errors.dedup();
    if !errors.is_empty() {
        return Err(V2Error::validation(errors).into());
    }
    let filter = NotificationFilter {
        statuses: expand_statuses(&statuses),
        template_types: types
            .iter()
            .filter_map(|t| NotificationType::parse(t))
            .collect(),
        client_reference: first("reference"),
        older_than: older_than.as_deref().and_then(parse_uuid),
        include_jobs: include_jobs.is_some(),
    };
    // Postgres text cannot hold NUL, so no stored reference has one: such a filter matches nothing (and sent
    // to the database it would fail the query).
    let records = if filter
        .client_reference
        .as_deref()
        .is_some_and(|r| r.contains('\0'))
    {
        Vec::new()
    } else {
        state
            .db
            .list_notifications(auth.service.id, auth.key_type, &filter, PAGE_SIZE)
            .await?
    };
    // A notification that cannot be shown (its personalisation unreadable, logged there) is left out of the
    // page rather than failing the whole list.
    let notifications: Vec<Value> = records
        .iter()
        .filter_map(|r| notifications::notification_json(&state, r).ok())
        .collect();
    let base = format!("{}/v2/notifications", state.config.api.host_name);
    let mut links = json!({"current": link(&base, &pairs)});
    if let Some(last) = records.last() {
        // `older_than` first: the Python client pages by the first UUID it finds in this URL.
        let mut next = vec![("older_than".to_string(), last.id.to_string())];
        next.extend(pairs.iter().filter(|(k, _)| k != "older_than").cloned());
        links["next"] = json!(link(&base, &next));
    }
    Ok(Json(
        json!({"notifications": notifications, "links": links}),
    ))
}

#[utoipa::path(
    get,
    path = "/v2/template/{id}",
    tag = "templates",
    description = "A template, latest version.",
    params(("id" = String, Path, format = Uuid, description = "The template")),
    responses((status = 200, body = schemas::Template), schemas::V2Errors)
)]
pub async fn get_template(
    State(state): State<AppState>,
    V2Auth(auth): V2Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = path_uuid(&id, "id")?;
    let template = state
        .db
        .get_template(auth.service.id, id, None)
        .await?
        .ok_or_else(V2Error::not_found)?;
    Ok(Json(notify_core::templates::template_json(&template)))
}

#[utoipa::path(
    get,
    path = "/v2/template/{id}/version/{version}",
    tag = "templates",
    description = "A template as it was at a version (0: the latest).",
    params(
        ("id" = String, Path, format = Uuid, description = "The template"),
        ("version" = i32, Path, minimum = 0),
    ),
    responses((status = 200, body = schemas::Template), schemas::V2Errors)
)]
pub async fn get_template_version(
    State(state): State<AppState>,
    V2Auth(auth): V2Auth,
    Path((id, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    // Flask's int converter: anything but digits is a routing 404.
    let Ok(version) = version.parse::<i32>() else {
        return Ok(super::not_found().await.into_response());
    };
    let id = path_uuid(&id, "id")?;
    // Upstream treats version 0 as "no version" and answers the latest.
    let version = (version > 0).then_some(version);
    let template = state
        .db
        .get_template(auth.service.id, id, version)
        .await?
        .ok_or_else(V2Error::not_found)?;
    Ok(Json(notify_core::templates::template_json(&template)).into_response())
}

#[utoipa::path(
    get,
    path = "/v2/templates",
    tag = "templates",
    description = "The service's templates.",
    params(("type" = Option<schemas::NotificationType>, Query)),
    responses((status = 200, body = schemas::TemplateList), schemas::V2Errors)
)]
pub async fn list_templates(
    State(state): State<AppState>,
    V2Auth(auth): V2Auth,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let pairs = query_pairs(query.as_deref());
    let mut errors = Vec::new();
    let mut template_type = None;
    if let Some((_, t)) = pairs.iter().find(|(k, _)| k == "type") {
        match NotificationType::parse(t) {
            Some(parsed) => template_type = Some(parsed),
            None => errors.push(format!("type {t} is not one of [sms, email, letter]")),
        }
    }
    let unknown: Vec<String> = pairs
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| k != "type")
        .collect();
    if let Some(message) = additional_properties(&unknown) {
        errors.push(message);
    }
    if !errors.is_empty() {
        return Err(V2Error::validation(errors).into());
    }
    let templates = state
        .db
        .list_templates(auth.service.id, template_type)
        .await?;
    Ok(Json(
        json!({"templates": templates.iter().map(notify_core::templates::template_json).collect::<Vec<_>>()}),
    ))
}

#[utoipa::path(
    post,
    path = "/v2/template/{id}/preview",
    tag = "templates",
    description = "A template rendered with the given personalisation.",
    params(("id" = String, Path, format = Uuid, description = "The template")),
    request_body(content = Option<schemas::PreviewRequest>),
    responses((status = 200, body = TemplatePreview), schemas::V2Errors)
)]
pub async fn preview_template(
    State(state): State<AppState>,
    V2Auth(auth): V2Auth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<TemplatePreview>, ApiError> {
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|_| V2Error::bad_request("Invalid JSON supplied in POST data"))?
    };
    let personalisation = match body.get("personalisation") {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(other) => {
            return Err(V2Error::validation(vec![format!(
                "personalisation {} is not of type object",
                python_repr(other).replace('\'', "")
            )])
            .into());
        }
    };
    let id = path_uuid(&id, "id")?;
    let template = state
        .db
        .get_template(auth.service.id, id, None)
        .await?
        .ok_or_else(V2Error::not_found)?;
    let rendered = templates::render(&template, &personalisation)
        .map_err(|e| V2Error::bad_request(e.to_string()))?;
    // The whole email as its recipient gets it, in the service's branding.
    let html = match &rendered.html {
        Some(body_html) => {
            let banner = notify_app::email_branding::service_banner(&state, &auth.service)
                .await
                .map_err(|e| match e {
                    notify_app::email_branding::BrandingError::Db(e) => ApiError::from(e),
                    other => ApiError(V2Error::internal(other)),
                })?;
            Some(templates::email_layout::html_document(
                rendered.subject.as_deref().unwrap_or_default(),
                &rendered.body,
                body_html,
                &banner,
            ))
        }
        None => None,
    };
    Ok(Json(TemplatePreview {
        id: template.id,
        template_type: template.template_type,
        version: template.version,
        body: rendered.body,
        subject: rendered.subject,
        html,
        postage: if template.template_type == NotificationType::Letter {
            template.postage
        } else {
            None
        },
    }))
}

/// The answer of `POST /v2/template/{id}/preview`. Fields in alphabetical order: the order this JSON has always
/// been written in.
#[derive(Serialize, ToSchema)]
pub struct TemplatePreview {
    pub body: String,
    /// Emails only: the whole email as its recipient gets it, in the service's branding.
    pub html: Option<String>,
    pub id: Uuid,
    /// Letters only.
    #[schema(value_type = Option<schemas::Postage>)]
    pub postage: Option<Postage>,
    pub subject: Option<String>,
    #[serde(rename = "type")]
    #[schema(value_type = schemas::NotificationType)]
    pub template_type: NotificationType,
    pub version: i32,
}

/// The answer of `GET /v2/received-text-messages`.
#[derive(Serialize, ToSchema)]
pub struct ReceivedTextMessages {
    pub links: schemas::PageLinks,
    pub received_text_messages: Vec<ReceivedTextMessage>,
}

#[derive(Serialize, ToSchema)]
pub struct ReceivedTextMessage {
    pub content: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub id: Uuid,
    /// The service's number the text was sent to, as stored.
    pub notify_number: String,
    pub service_id: Uuid,
    /// The sender, international format without `+`.
    pub user_number: String,
}

#[utoipa::path(
    get,
    path = "/v2/received-text-messages",
    tag = "inbound",
    description = "Text messages received by the service, newest first, 250 a page.",
    params(("older_than" = Option<String>, Query, format = Uuid, description = "The page after this message")),
    responses((status = 200, body = ReceivedTextMessages), schemas::V2Errors)
)]
pub async fn received_text_messages(
    State(state): State<AppState>,
    V2Auth(auth): V2Auth,
    RawQuery(query): RawQuery,
) -> Result<Json<ReceivedTextMessages>, ApiError> {
    let pairs = query_pairs(query.as_deref());
    let mut errors = Vec::new();
    let older_than = pairs
        .iter()
        .find(|(k, _)| k == "older_than")
        .map(|(_, v)| v.clone());
    if let Some(v) = &older_than
        && parse_uuid(v).is_none()
    {
        errors.push("older_than is not a valid UUID".to_string());
    }
    let unknown: Vec<String> = pairs
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| k != "older_than")
        .collect();
    if let Some(message) = additional_properties(&unknown) {
        errors.push(message);
    }
    if !errors.is_empty() {
        return Err(V2Error::validation(errors).into());
    }
    let records = state
        .db
        .list_inbound_sms(
            auth.service.id,
            older_than.as_deref().and_then(parse_uuid),
            PAGE_SIZE,
        )
        .await?;
    // A text whose content cannot be decrypted is left out (logged by id), not a 500 for the whole page.
    let messages: Vec<ReceivedTextMessage> = records
        .iter()
        .filter_map(|r| {
            let Ok(content) = state.encryptor.decrypt(&r.encrypted_content) else {
                notify_core::crypto::report_undecryptable(
                    "inbound_sms.content",
                    &r.id,
                    &r.service_id,
                );
                return None;
            };
            Some(ReceivedTextMessage {
                id: r.id,
                created_at: notify_core::time::format(r.created_at),
                service_id: r.service_id,
                notify_number: r.notify_number.clone(),
                user_number: r.user_number.clone(),
                content,
            })
        })
        .collect();
    let base = format!("{}/v2/received-text-messages", state.config.api.host_name);
    let next = records
        .last()
        .map(|last| format!("{base}?older_than={}", last.id));
    Ok(Json(ReceivedTextMessages {
        links: schemas::PageLinks {
            current: base,
            next,
        },
        received_text_messages: messages,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_aliases() {
        let expanded = expand_statuses(&["accepted".into(), "received".into()]);
        assert_eq!(
            expanded,
            [
                NotificationStatus::Created,
                NotificationStatus::Sending,
                NotificationStatus::Delivered
            ]
        );
        let everything: Vec<String> = NotificationStatus::ALL
            .iter()
            .map(|s| s.as_str().to_string())
            .collect();
        assert!(expand_statuses(&everything).is_empty());
    }
}
