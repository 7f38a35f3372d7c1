//! A service's callback APIs, data retention and inbound number, and what it has sent.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::bodies::{CallbackApiBody, DataRetentionBody, InboundNumberBody, required};
use super::{AdminAuth, AdminJson, AdminResponse, data, data_list, id};
use crate::errors::AdminError;
use notify_app::{AppState, admin};
use notify_core::model::{CallbackType, NotificationType};

pub async fn create_callback_api(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
    AdminJson(body): AdminJson<CallbackApiBody>,
) -> AdminResponse {
    let service_id = id(&service_id)?;
    state
        .db
        .get_service(service_id)
        .await?
        .ok_or_else(AdminError::not_found)?;
    let callback_type = body
        .callback_type
        .unwrap_or_else(|| "delivery_status".into());
    let callback_type = CallbackType::parse(&callback_type)
        .ok_or_else(|| AdminError::bad_request(format!("callback_type {callback_type} is not one of [delivery_status, inbound_sms, complaint, returned_letter]")))?;
    let callback = admin::set_callback_api(
        &state,
        service_id,
        callback_type,
        &required(body.url, "url")?,
        &required(body.bearer_token, "bearer_token")?,
        body.updated_by_id.get("updated_by_id")?,
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
    data_list(&callbacks, admin::callback_json)
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
    AdminJson(body): AdminJson<DataRetentionBody>,
) -> AdminResponse {
    let notification_type = required(body.notification_type, "notification_type")?;
    let notification_type = NotificationType::parse(&notification_type).ok_or_else(|| {
        AdminError::bad_request(format!(
            "notification_type {notification_type} is not one of [sms, letter, email]"
        ))
    })?;
    let days = body
        .days_of_retention
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
    AdminJson(body): AdminJson<InboundNumberBody>,
) -> AdminResponse {
    let record = state
        .db
        .assign_inbound_number(
            id(&service_id)?,
            &required(body.number, "number")?,
            &body.provider.unwrap_or_else(|| "mmg".into()),
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
