//! `POST /v2/notifications/bulk` (GC Notify's public bulk endpoint): authenticated as every v2 call, the body
//! handed to the one use case, errors in the v2 envelope.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::errors::ApiError;
use crate::v2::V2Auth;
use notify_app::AppState;
use notify_app::bulk::endpoint;

pub async fn post_bulk(
    State(state): State<AppState>,
    V2Auth(auth): V2Auth,
    body: Bytes,
) -> Result<Response, ApiError> {
    let job = endpoint::post_bulk(&state, &auth, &body).await?;
    Ok((StatusCode::CREATED, Json(job)).into_response())
}
