//! A service's callback signing secrets (Standard Webhooks): made, rotated, listed without the secret, removed.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::{AdminAuth, AdminResponse, data, data_list, id};
use notify_app::{AppState, callback_signing};

/// `POST /service/{service_id}/callback-signing-secret`: the first secret, shown in this answer only.
pub async fn create_signing_secret(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
) -> AdminResponse {
    let new = callback_signing::create(&state, id(&service_id)?, None).await?;
    data(StatusCode::CREATED, callback_signing::new_secret_json(&new))
}

/// `POST /service/{service_id}/callback-signing-secret/rotate`: a new secret; the previous one signs too until
/// the rotation is finished or its window ends.
pub async fn rotate_signing_secret(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
) -> AdminResponse {
    let new = callback_signing::rotate(&state, id(&service_id)?, None).await?;
    data(StatusCode::CREATED, callback_signing::new_secret_json(&new))
}

/// `POST /service/{service_id}/callback-signing-secret/revoke-previous`: ends a rotation now.
pub async fn revoke_previous_signing_secrets(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
) -> AdminResponse {
    let service_id = id(&service_id)?;
    let revoked = callback_signing::finish_rotation(&state, service_id).await?;
    let secrets = callback_signing::list(&state, service_id).await?;
    data(
        StatusCode::OK,
        serde_json::json!({
            "revoked": revoked,
            "secrets": secrets.iter().map(callback_signing::secret_json).collect::<Vec<_>>(),
        }),
    )
}

/// `GET /service/{service_id}/callback-signing-secret`: every secret the service has had, newest first, never
/// the secret itself.
pub async fn list_signing_secrets(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
) -> AdminResponse {
    let secrets = callback_signing::list(&state, id(&service_id)?).await?;
    data_list(&secrets, callback_signing::secret_json)
}

/// `DELETE /service/{service_id}/callback-signing-secret`: stops signing the service's callbacks.
pub async fn delete_signing_secrets(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
) -> AdminResponse {
    let removed = callback_signing::remove(&state, id(&service_id)?).await?;
    data(StatusCode::OK, serde_json::json!({"removed": removed}))
}
