//! `POST /v2/notifications/bulk` (GC Notify's public bulk endpoint): authenticated as every v2 call, the body
//! handed to the one use case, errors in the v2 envelope.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::errors::ApiError;
use crate::v2::{IdempotencyKeyHeader, V2Auth, answered};
use notify_app::AppState;
use notify_app::bulk::endpoint;

/// A body of 100,000 rows is several megabytes, over axum's 2 MB default: the bulk route takes up to API Gateway's
/// 10 MB (on Lambda a synchronous invocation carries at most 6 MB, the smaller bound there).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

pub async fn post_bulk(
    State(state): State<AppState>,
    V2Auth(auth): V2Auth,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    body: Bytes,
) -> Result<Response, ApiError> {
    match key {
        None => {
            let job = endpoint::post_bulk(&state, &auth, &body).await?;
            Ok((StatusCode::CREATED, Json(job)).into_response())
        }
        Some(key) => Ok(answered(
            endpoint::post_bulk_with_key(&state, &auth, &body, &key).await?,
        )),
    }
}
