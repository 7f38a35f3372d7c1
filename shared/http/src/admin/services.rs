//! Services, their users and their API keys.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;
use uuid::Uuid;

use super::bodies::{
    AddUserBody, CreateApiKeyBody, CreateServiceBody, CreateUserBody, UpdateServiceBody, required,
};
use super::{AdminAuth, AdminJson, AdminResponse, data, id, permissions, service_response};
use crate::errors::AdminError;
use notify_app::{AppState, admin};
use notify_core::model::KeyType;
use notify_db::ServiceUpdate;

pub async fn create_service(
    State(state): State<AppState>,
    _: AdminAuth,
    AdminJson(body): AdminJson<CreateServiceBody>,
) -> AdminResponse {
    let request = admin::CreateService {
        name: required(body.name, "name")?,
        created_by: body
            .user_id
            .get("user_id")?
            .or(body.created_by.get("created_by")?),
        restricted: body.restricted.unwrap_or(true),
        email_from: body.email_from,
        permissions: permissions(body.permissions.as_ref())?,
        rate_limit: body.rate_limit.map(|n| n as i32),
        message_limit: body.message_limit,
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
    AdminJson(body): AdminJson<UpdateServiceBody>,
) -> AdminResponse {
    let service_id = id(&service_id)?;
    let update = ServiceUpdate {
        name: body.name,
        active: body.active,
        restricted: body.restricted,
        prefix_sms: body.prefix_sms,
        rate_limit: body.rate_limit.map(|n| n as i32),
        contact_link: body.contact_link.map(|c| c.as_str().map(str::to_string)),
        email_sender_local_part: body.email_from,
        email_message_limit: body.email_message_limit,
        sms_message_limit: body.sms_message_limit,
        letter_message_limit: body.letter_message_limit,
        international_sms_message_limit: body.international_sms_message_limit,
        permissions: permissions(body.permissions.as_ref())?,
        letter_branding_id: body
            .letter_branding
            .is_present()
            .then(|| body.letter_branding.get("letter_branding"))
            .transpose()?,
        email_branding_id: body
            .email_branding
            .is_present()
            .then(|| body.email_branding.get("email_branding"))
            .transpose()?,
    };
    if let Some(branding) = update.letter_branding_id {
        notify_app::letter_admin::check_letter_branding(&state, branding).await?;
    }
    if let Some(branding) = update.email_branding_id {
        notify_app::email_branding::check_email_branding(&state, branding).await?;
    }
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
    AdminJson(body): AdminJson<CreateUserBody>,
) -> AdminResponse {
    let email = required(body.email_address, "email_address")?;
    notify_core::recipients::EmailAddress::parse(&email).map_err(|_| {
        AdminError::fields(vec![("email_address", "Not a valid email address".into())])
    })?;
    let user = state
        .db
        .create_user(
            Uuid::new_v4(),
            &required(body.name, "name")?,
            &email,
            body.mobile_number.as_deref(),
            body.platform_admin.unwrap_or(false),
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
    AdminJson(body): AdminJson<AddUserBody>,
) -> AdminResponse {
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
    state
        .db
        .add_user_to_service(user_id, service_id, &body.permission_names())
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
    AdminJson(body): AdminJson<CreateApiKeyBody>,
) -> AdminResponse {
    let service_id = id(&service_id)?;
    let key_type = required(body.key_type, "key_type")?;
    let key_type = KeyType::parse(&key_type).ok_or_else(|| {
        AdminError::fields(vec![("key_type", format!("Invalid key type: {key_type}"))])
    })?;
    let name = required(body.name, "name")?;
    let (record, combined) = admin::create_api_key(
        &state,
        service_id,
        &name,
        key_type,
        body.created_by.get("created_by")?,
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
