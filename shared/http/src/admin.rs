//! The admin API on Notify's internal paths, with `{"data": …}` bodies and `{"result": "error"}` errors.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use super::errors::AdminError;
use notify_app::admin::AdminOpError;
use notify_app::{AppState, admin, auth};
use notify_core::model::{CallbackType, KeyType, NotificationType, Postage, ServicePermission};
use notify_db::{SenderKind, ServiceUpdate, TemplateUpdate};

pub struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AdminError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .map(|h| h.to_str().unwrap_or("\u{0}"));
        auth::authenticate_admin(
            header,
            &state.config.api.admin_client_id,
            &state.config.api.admin_client_secrets,
            state.now(),
        )?;
        Ok(AdminAuth)
    }
}

impl From<AdminOpError> for AdminError {
    fn from(e: AdminOpError) -> Self {
        match e {
            AdminOpError::Invalid(message) => AdminError::bad_request(message),
            AdminOpError::NotFound => AdminError::not_found(),
            AdminOpError::Db(e) => e.into(),
        }
    }
}

type AdminResponse = Result<Response, AdminError>;

fn data(status: StatusCode, value: Value) -> AdminResponse {
    Ok((status, Json(json!({"data": value}))).into_response())
}

fn body(bytes: &[u8]) -> Result<Value, AdminError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(AdminError::bad_request(
            "Invalid JSON supplied in POST data",
        )),
    }
}

fn id(raw: &str) -> Result<Uuid, AdminError> {
    Uuid::parse_str(raw).map_err(|_| AdminError::not_found())
}

fn opt_str(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_string)
}

fn req_str(v: &Value, name: &str) -> Result<String, AdminError> {
    opt_str(v, name)
        .ok_or_else(|| AdminError::fields(vec![(name, "Missing data for required field.".into())]))
}

fn opt_uuid(v: &Value, name: &str) -> Result<Option<Uuid>, AdminError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Uuid::parse_str(s)
            .map(Some)
            .map_err(|_| AdminError::fields(vec![(name, "Not a valid UUID.".into())])),
        Some(_) => Err(AdminError::fields(vec![(name, "Not a valid UUID.".into())])),
    }
}

fn permissions(v: &Value) -> Result<Option<Vec<ServicePermission>>, AdminError> {
    let Some(list) = v.get("permissions") else {
        return Ok(None);
    };
    let list = list
        .as_array()
        .ok_or_else(|| AdminError::bad_request("permissions must be a list"))?;
    list.iter()
        .map(|p| {
            p.as_str()
                .and_then(ServicePermission::parse)
                .ok_or_else(|| {
                    AdminError::bad_request(format!("Invalid Service Permission: '{p}'"))
                })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

async fn service_response(state: &AppState, service_id: Uuid, status: StatusCode) -> AdminResponse {
    let service = state
        .db
        .get_service(service_id)
        .await?
        .ok_or_else(AdminError::not_found)?;
    let callbacks = state.db.callback_apis(service_id).await?;
    data(status, admin::service_json(&service, &callbacks))
}

pub async fn create_service(
    State(state): State<AppState>,
    _: AdminAuth,
    bytes: Bytes,
) -> AdminResponse {
    let v = body(&bytes)?;
    let request = admin::CreateService {
        name: req_str(&v, "name")?,
        created_by: opt_uuid(&v, "user_id")?.or(opt_uuid(&v, "created_by")?),
        restricted: v.get("restricted").and_then(Value::as_bool).unwrap_or(true),
        email_from: opt_str(&v, "email_from"),
        permissions: permissions(&v)?,
        rate_limit: v
            .get("rate_limit")
            .and_then(Value::as_i64)
            .map(|n| n as i32),
        message_limit: v.get("message_limit").and_then(Value::as_i64),
    };
    let service = admin::create_service(&state, request).await?;
    service_response(&state, service.id, StatusCode::CREATED).await
}

pub async fn list_services(State(state): State<AppState>, _: AdminAuth) -> AdminResponse {
    let services = state.db.list_services().await?;
    data(
        StatusCode::OK,
        json!(
            services
                .iter()
                .map(|s| admin::service_json(s, &[]))
                .collect::<Vec<_>>()
        ),
    )
}

pub async fn get_service(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
) -> AdminResponse {
    service_response(&state, id(&service_id)?, StatusCode::OK).await
}

pub async fn update_service(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
    bytes: Bytes,
) -> AdminResponse {
    let v = body(&bytes)?;
    let service_id = id(&service_id)?;
    let int = |name: &str| v.get(name).and_then(Value::as_i64);
    let update = ServiceUpdate {
        name: opt_str(&v, "name"),
        active: v.get("active").and_then(Value::as_bool),
        restricted: v.get("restricted").and_then(Value::as_bool),
        prefix_sms: v.get("prefix_sms").and_then(Value::as_bool),
        rate_limit: int("rate_limit").map(|n| n as i32),
        contact_link: v
            .get("contact_link")
            .map(|c| c.as_str().map(str::to_string)),
        email_sender_local_part: opt_str(&v, "email_from"),
        email_message_limit: int("email_message_limit"),
        sms_message_limit: int("sms_message_limit"),
        letter_message_limit: int("letter_message_limit"),
        international_sms_message_limit: int("international_sms_message_limit"),
        permissions: permissions(&v)?,
    };
    state
        .db
        .update_service(service_id, &update)
        .await?
        .ok_or_else(AdminError::not_found)?;
    service_response(&state, service_id, StatusCode::OK).await
}

pub async fn create_user(
    State(state): State<AppState>,
    _: AdminAuth,
    bytes: Bytes,
) -> AdminResponse {
    let v = body(&bytes)?;
    let email = req_str(&v, "email_address")?;
    notify_core::recipients::EmailAddress::parse(&email).map_err(|_| {
        AdminError::fields(vec![("email_address", "Not a valid email address".into())])
    })?;
    let user = state
        .db
        .create_user(
            Uuid::new_v4(),
            &req_str(&v, "name")?,
            &email,
            opt_str(&v, "mobile_number").as_deref(),
            v.get("platform_admin")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        )
        .await?;
    data(StatusCode::CREATED, admin::user_json(&user))
}

pub async fn get_user(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(user_id): Path<String>,
) -> AdminResponse {
    let user = state
        .db
        .get_user(id(&user_id)?)
        .await?
        .ok_or_else(AdminError::not_found)?;
    data(StatusCode::OK, admin::user_json(&user))
}

pub async fn add_user_to_service(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((service_id, user_id)): Path<(String, String)>,
    bytes: Bytes,
) -> AdminResponse {
    let v = body(&bytes)?;
    let (service_id, user_id) = (id(&service_id)?, id(&user_id)?);
    state
        .db
        .get_user(user_id)
        .await?
        .ok_or_else(AdminError::not_found)?;
    state
        .db
        .get_service(service_id)
        .await?
        .ok_or_else(AdminError::not_found)?;
    let permissions: Vec<String> = v
        .get("permissions")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("permission").or(Some(p)).and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    state
        .db
        .add_user_to_service(user_id, service_id, &permissions)
        .await?;
    service_response(&state, service_id, StatusCode::CREATED).await
}

pub async fn service_users(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
) -> AdminResponse {
    let users = state.db.service_users(id(&service_id)?).await?;
    data(
        StatusCode::OK,
        json!(users.iter().map(admin::user_json).collect::<Vec<_>>()),
    )
}

pub async fn create_api_key(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
    bytes: Bytes,
) -> AdminResponse {
    let v = body(&bytes)?;
    let service_id = id(&service_id)?;
    let key_type = req_str(&v, "key_type")?;
    let key_type = KeyType::parse(&key_type).ok_or_else(|| {
        AdminError::fields(vec![("key_type", format!("Invalid key type: {key_type}"))])
    })?;
    let name = req_str(&v, "name")?;
    let (record, combined) = admin::create_api_key(
        &state,
        service_id,
        &name,
        key_type,
        opt_uuid(&v, "created_by")?,
    )
    .await?;
    let secret = combined[combined.len() - 36..].to_string();
    data(
        StatusCode::CREATED,
        json!({"key": secret, "key_name": name, "id": record.id, "combined_key": combined}),
    )
}

pub async fn revoke_api_key(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((service_id, key_id)): Path<(String, String)>,
) -> AdminResponse {
    if !state
        .db
        .revoke_api_key(id(&service_id)?, id(&key_id)?)
        .await?
    {
        return Err(AdminError::not_found());
    }
    Ok((StatusCode::ACCEPTED, Json(json!({}))).into_response())
}

pub async fn list_api_keys(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
) -> AdminResponse {
    let service_id = id(&service_id)?;
    let keys = state.db.list_api_keys(service_id).await?;
    Ok(Json(json!({"apiKeys": keys.iter().map(|k| admin::api_key_json(k, service_id)).collect::<Vec<_>>()})).into_response())
}

fn parse_type(v: &Value) -> Result<NotificationType, AdminError> {
    let t = req_str(v, "template_type")?;
    NotificationType::parse(&t).ok_or_else(|| {
        AdminError::fields(vec![(
            "template_type",
            format!("{t} is not one of [sms, email, letter]"),
        )])
    })
}

pub async fn create_template(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
    bytes: Bytes,
) -> AdminResponse {
    let v = body(&bytes)?;
    let service_id = id(&service_id)?;
    state
        .db
        .get_service(service_id)
        .await?
        .ok_or_else(AdminError::not_found)?;
    let template = admin::create_template(
        &state,
        admin::CreateTemplate {
            service_id,
            name: req_str(&v, "name")?,
            template_type: parse_type(&v)?,
            content: req_str(&v, "content")?,
            subject: opt_str(&v, "subject"),
            postage: opt_str(&v, "postage").as_deref().and_then(Postage::parse),
            created_by: opt_uuid(&v, "created_by")?,
            letter_contact_id: opt_uuid(&v, "reply_to")?,
            has_unsubscribe_link: v
                .get("has_unsubscribe_link")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        },
    )
    .await?;
    data(StatusCode::CREATED, admin::template_admin_json(&template))
}

pub async fn update_template(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((service_id, template_id)): Path<(String, String)>,
    bytes: Bytes,
) -> AdminResponse {
    let v = body(&bytes)?;
    let update = TemplateUpdate {
        name: opt_str(&v, "name"),
        content: opt_str(&v, "content"),
        subject: opt_str(&v, "subject"),
        postage: opt_str(&v, "postage").as_deref().and_then(Postage::parse),
        archived: v.get("archived").and_then(Value::as_bool),
        service_letter_contact_id: if v.get("reply_to").is_some() {
            Some(opt_uuid(&v, "reply_to")?)
        } else {
            None
        },
        has_unsubscribe_link: v.get("has_unsubscribe_link").and_then(Value::as_bool),
        created_by_id: opt_uuid(&v, "created_by")?,
    };
    let template = state
        .db
        .update_template(id(&service_id)?, id(&template_id)?, &update)
        .await?
        .ok_or_else(AdminError::not_found)?;
    data(StatusCode::OK, admin::template_admin_json(&template))
}

pub async fn get_template(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((service_id, template_id)): Path<(String, String)>,
) -> AdminResponse {
    let template = state
        .db
        .get_template(id(&service_id)?, id(&template_id)?, None)
        .await?
        .ok_or_else(AdminError::not_found)?;
    data(StatusCode::OK, admin::template_admin_json(&template))
}

pub async fn template_versions(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((service_id, template_id)): Path<(String, String)>,
) -> AdminResponse {
    let versions = state
        .db
        .template_versions(id(&service_id)?, id(&template_id)?)
        .await?;
    if versions.is_empty() {
        return Err(AdminError::not_found());
    }
    data(
        StatusCode::OK,
        json!(
            versions
                .iter()
                .map(admin::template_admin_json)
                .collect::<Vec<_>>()
        ),
    )
}

pub async fn list_templates(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
) -> AdminResponse {
    let templates = state.db.list_templates(id(&service_id)?, None).await?;
    data(
        StatusCode::OK,
        json!(
            templates
                .iter()
                .map(admin::template_admin_json)
                .collect::<Vec<_>>()
        ),
    )
}

async fn add_sender(
    state: &AppState,
    kind: SenderKind,
    service_id: &str,
    bytes: &[u8],
    field: &str,
) -> AdminResponse {
    let v = body(bytes)?;
    let service_id = id(service_id)?;
    let value = req_str(&v, field)?;
    if kind == SenderKind::Sms && value.chars().count() > 11 {
        return Err(AdminError::fields(vec![(
            field,
            "Longer than maximum length 11.".into(),
        )]));
    }
    if kind == SenderKind::ReplyTo {
        notify_core::recipients::EmailAddress::parse(&value)
            .map_err(|_| AdminError::fields(vec![(field, "Not a valid email address".into())]))?;
    }
    state
        .db
        .get_service(service_id)
        .await?
        .ok_or_else(AdminError::not_found)?;
    let is_default = v
        .get("is_default")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let sender = state
        .db
        .add_sender(kind, service_id, &value, is_default, None)
        .await?;
    data(StatusCode::CREATED, admin::sender_json(kind, &sender))
}

async fn list_senders(state: &AppState, kind: SenderKind, service_id: &str) -> AdminResponse {
    let senders = state.db.list_senders(kind, id(service_id)?).await?;
    Ok(Json(json!(
        senders
            .iter()
            .map(|s| admin::sender_json(kind, s))
            .collect::<Vec<_>>()
    ))
    .into_response())
}

pub async fn add_sms_sender(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(s): Path<String>,
    b: Bytes,
) -> AdminResponse {
    add_sender(&state, SenderKind::Sms, &s, &b, "sms_sender").await
}
pub async fn list_sms_senders(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(s): Path<String>,
) -> AdminResponse {
    list_senders(&state, SenderKind::Sms, &s).await
}
pub async fn add_reply_to(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(s): Path<String>,
    b: Bytes,
) -> AdminResponse {
    add_sender(&state, SenderKind::ReplyTo, &s, &b, "email_address").await
}
pub async fn list_reply_to(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(s): Path<String>,
) -> AdminResponse {
    list_senders(&state, SenderKind::ReplyTo, &s).await
}
pub async fn add_letter_contact(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(s): Path<String>,
    b: Bytes,
) -> AdminResponse {
    add_sender(&state, SenderKind::LetterContact, &s, &b, "contact_block").await
}
pub async fn list_letter_contacts(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(s): Path<String>,
) -> AdminResponse {
    list_senders(&state, SenderKind::LetterContact, &s).await
}

pub async fn get_guest_list(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
) -> AdminResponse {
    let entries = state.db.guest_list(id(&service_id)?).await?;
    let of = |kind: &str| {
        entries
            .iter()
            .filter(|e| e.recipient_type == kind)
            .map(|e| e.recipient.clone())
            .collect::<Vec<_>>()
    };
    Ok(
        Json(json!({"email_addresses": of("email"), "phone_numbers": of("mobile")}))
            .into_response(),
    )
}

pub async fn update_guest_list(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
    bytes: Bytes,
) -> AdminResponse {
    let v = body(&bytes)?;
    let mut entries = Vec::new();
    for (field, kind) in [("email_addresses", "email"), ("phone_numbers", "mobile")] {
        for item in v.get(field).and_then(Value::as_array).into_iter().flatten() {
            let text = item.as_str().unwrap_or_default().trim().to_string();
            if text.is_empty() {
                continue;
            }
            let valid = match kind {
                "email" => notify_core::recipients::EmailAddress::parse(&text).is_ok(),
                _ => notify_core::recipients::PhoneNumber::parse(&text).is_ok(),
            };
            if !valid {
                return Err(AdminError::bad_request(format!(
                    "Invalid guest list: \"{text}\" is not a valid email address or phone number"
                )));
            }
            entries.push((kind.to_string(), text));
        }
    }
    state
        .db
        .replace_guest_list(id(&service_id)?, &entries)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn create_callback_api(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
    bytes: Bytes,
) -> AdminResponse {
    let v = body(&bytes)?;
    let service_id = id(&service_id)?;
    state
        .db
        .get_service(service_id)
        .await?
        .ok_or_else(AdminError::not_found)?;
    let callback_type = opt_str(&v, "callback_type").unwrap_or_else(|| "delivery_status".into());
    let callback_type = CallbackType::parse(&callback_type)
        .filter(|t| *t != CallbackType::ReturnedLetter)
        .ok_or_else(|| AdminError::bad_request(format!("callback_type {callback_type} is not one of [delivery_status, inbound_sms, complaint]")))?;
    let callback = admin::set_callback_api(
        &state,
        service_id,
        callback_type,
        &req_str(&v, "url")?,
        &req_str(&v, "bearer_token")?,
        opt_uuid(&v, "updated_by_id")?,
    )
    .await?;
    data(StatusCode::CREATED, admin::callback_json(&callback))
}

pub async fn list_callback_apis(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
) -> AdminResponse {
    let callbacks = state.db.callback_apis(id(&service_id)?).await?;
    data(
        StatusCode::OK,
        json!(
            callbacks
                .iter()
                .map(admin::callback_json)
                .collect::<Vec<_>>()
        ),
    )
}

pub async fn delete_callback_api(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((service_id, callback_id)): Path<(String, String)>,
) -> AdminResponse {
    if !state
        .db
        .delete_callback_api(id(&service_id)?, id(&callback_id)?)
        .await?
    {
        return Err(AdminError::not_found());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn set_data_retention(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
    bytes: Bytes,
) -> AdminResponse {
    let v = body(&bytes)?;
    let notification_type = req_str(&v, "notification_type")?;
    let notification_type = NotificationType::parse(&notification_type).ok_or_else(|| {
        AdminError::bad_request(format!(
            "notification_type {notification_type} is not one of [sms, letter, email]"
        ))
    })?;
    let days = v
        .get("days_of_retention")
        .and_then(Value::as_i64)
        .filter(|d| (3..=90).contains(d))
        .ok_or_else(|| {
            AdminError::bad_request("days_of_retention must be a whole number of days from 3 to 90")
        })?;
    let record = state
        .db
        .upsert_data_retention(id(&service_id)?, notification_type, days as i32)
        .await?;
    data(
        StatusCode::CREATED,
        json!({"id": record.id, "service_id": record.service_id, "notification_type": record.notification_type,
               "days_of_retention": record.days_of_retention, "created_at": notify_core::time::format(record.created_at),
               "updated_at": notify_core::time::format_opt(record.updated_at)}),
    )
}

pub async fn get_data_retention(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
) -> AdminResponse {
    let records = state.db.data_retention(id(&service_id)?).await?;
    Ok(Json(json!(records
        .iter()
        .map(|r| json!({"id": r.id, "service_id": r.service_id, "notification_type": r.notification_type,
                        "days_of_retention": r.days_of_retention}))
        .collect::<Vec<_>>()))
    .into_response())
}

pub async fn assign_inbound_number(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
    bytes: Bytes,
) -> AdminResponse {
    let v = body(&bytes)?;
    let record = state
        .db
        .assign_inbound_number(
            id(&service_id)?,
            &req_str(&v, "number")?,
            &opt_str(&v, "provider").unwrap_or_else(|| "mmg".into()),
        )
        .await?;
    data(
        StatusCode::CREATED,
        json!({"id": record.id, "number": record.number, "provider": record.provider,
        "service": record.service_id, "active": record.active}),
    )
}

#[derive(serde::Deserialize)]
pub struct StatisticsQuery {
    limit_days: Option<String>,
}

/// Requested, delivered and failed per channel over the last `limit_days` (default 7) London days, today
/// included: earlier days from the nightly `ft_notification_status`, today live. Test keys are left out.
pub async fn service_statistics(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
    Query(query): Query<StatisticsQuery>,
) -> AdminResponse {
    let days = match query.limit_days.as_deref() {
        None => 7,
        Some(raw) => raw
            .parse::<i32>()
            .ok()
            .filter(|d| (1..=366).contains(d))
            .ok_or_else(|| {
                AdminError::bad_request("limit_days must be a whole number from 1 to 366")
            })?,
    };
    let counts = state.db.service_statistics(id(&service_id)?, days).await?;
    let mut data = serde_json::Map::new();
    for channel in ["sms", "email", "letter"] {
        let stats = counts
            .iter()
            .find(|(c, _)| c == channel)
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        data.insert(channel.into(), json!(stats));
    }
    Ok(Json(json!({"data": data})).into_response())
}

#[derive(serde::Deserialize)]
pub struct YearQuery {
    year: Option<String>,
}

/// A calendar year's usage per channel, from the nightly `ft_billing`.
pub async fn yearly_usage_summary(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
    Query(query): Query<YearQuery>,
) -> AdminResponse {
    let year = query
        .year
        .as_deref()
        .and_then(|y| y.parse::<i32>().ok())
        .filter(|y| (2016..=2100).contains(y))
        .ok_or_else(|| AdminError::bad_request("year must be given, e.g. ?year=2026"))?;
    let summary = state.db.usage_summary(id(&service_id)?, year).await?;
    Ok(Json(json!(summary)).into_response())
}
