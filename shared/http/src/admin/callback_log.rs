//! `GET /service/{id}/callbacks`: the service's callback log, newest first, paged as the job list is. The use
//! case is `notify_app::callback_log::list`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::IntoResponse;
use serde_json::json;

use super::jobs::{last, pagination_links, positive, query_pairs};
use super::{AdminAuth, AdminResponse, id};
use crate::errors::AdminError;
use notify_app::AppState;
use notify_app::callback_log::{self, PAGE_SIZE};
use notify_core::callback_log::{AttemptStatus, parse_time};
use notify_db::CallbackAttemptFilter;

/// `status` (`delivered`: a 2xx or 3xx answer; `failed`: anything else), `from` and `to` (ISO 8601, inclusive),
/// `page`, `page_size`; `{"data": [attempt…], "page_size", "total", "links"}`.
pub async fn list_callbacks(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
    RawQuery(query): RawQuery,
) -> AdminResponse {
    let service_id = id(&service_id)?;
    let pairs = query_pairs(query.as_deref());
    let status = match last(&pairs, "status") {
        None => None,
        Some(text) => Some(AttemptStatus::parse(text.trim()).ok_or_else(|| {
            AdminError::fields(vec![(
                "status",
                format!("{text} is not one of [delivered, failed]"),
            )])
        })?),
    };
    let time = |name: &'static str| match last(&pairs, name) {
        None => Ok(None),
        Some(text) => parse_time(text)
            .map(Some)
            .ok_or_else(|| AdminError::fields(vec![(name, "Not a valid datetime.".into())])),
    };
    let filter = CallbackAttemptFilter {
        status,
        from: time("from")?,
        to: time("to")?,
        page: positive(&pairs, "page", 1)?,
        page_size: positive(&pairs, "page_size", PAGE_SIZE)?,
    };
    state
        .db
        .get_service(service_id)
        .await?
        .ok_or_else(AdminError::not_found)?;
    let (attempts, total) = callback_log::list(&state, service_id, &filter).await?;
    let links = pagination_links(
        &format!("/service/{service_id}/callbacks"),
        &pairs,
        filter.page,
        filter.page_size,
        total,
    );
    Ok(Json(json!({
        "data": attempts,
        "page_size": filter.page_size,
        "total": total,
        "links": links,
    }))
    .into_response())
}
