//! `POST /v2/notifications/bulk` (GC Notify's public bulk endpoint): authenticated as every v2 call, the body
//! handed to the one use case, errors in the v2 envelope.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;

use crate::errors::ApiError;
use crate::openapi::schemas;
use crate::v2::{IdempotencyKeyHeader, V2Auth, answered, created};
use notify_app::AppState;
use notify_app::bulk::endpoint;

/// A body of 100,000 rows is several megabytes, over axum's 2 MB default: the bulk route takes up to API Gateway's
/// 10 MB (on Lambda a synchronous invocation carries at most 6 MB, the smaller bound there).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

#[utoipa::path(
    post,
    path = "/v2/notifications/bulk",
    tag = "notifications",
    description = "Send to every row of a CSV (GC Notify's bulk endpoint): the file is checked whole, then a job \
        makes one notification per row.",
    request_body = schemas::BulkRequest,
    params(schemas::IdempotencyKeyParam),
    responses(
        (status = 201, description = "The job, created", body = schemas::BulkCreated,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`"))),
        schemas::IdempotencyErrors,
        (status = 413, description = "The body is over 10 MB"),
        schemas::V2Errors,
    )
)]
pub async fn post_bulk(
    State(state): State<AppState>,
    V2Auth(auth): V2Auth,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    body: Bytes,
) -> Result<Response, ApiError> {
    match key {
        None => Ok(created(endpoint::post_bulk(&state, &auth, &body).await?)),
        Some(key) => Ok(answered(
            endpoint::post_bulk_with_key(&state, &auth, &body, &key).await?,
        )),
    }
}
