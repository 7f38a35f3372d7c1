//! `POST /notifications/letter/status?token=…`: DVLA's print-job callback. No API key: the token in the callback
//! URL we gave DVLA with the job is the proof, checked before the body is read.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::errors::ApiError;
use notify_app::AppState;
use notify_app::letters::{CallbackError, letter_callback};
use notify_core::errors::V2Error;
use notify_core::letters::dvla_callback::{INVALID_TOKEN_MESSAGE, MISMATCHED_ID_MESSAGE};

pub async fn letter_status(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned());
    let invalid_token = || V2Error::new(403, "InvalidRequest", INVALID_TOKEN_MESSAGE);
    // As upstream: the token is checked before the body, so an unsigned caller learns nothing from it.
    if token.as_deref().is_none_or(str::is_empty) {
        return Err(invalid_token().into());
    }
    // Upstream reads the body as JSON whatever its content type.
    let body: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| V2Error::bad_request(format!("Invalid JSON supplied in POST data: {e}")))?;
    match letter_callback(&state, token.as_deref(), &body).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(CallbackError::InvalidToken) => Err(invalid_token().into()),
        Err(CallbackError::Invalid(messages)) => Err(V2Error::validation(messages).into()),
        Err(CallbackError::Mismatch) => {
            Err(V2Error::new(400, "InvalidRequest", MISMATCHED_ID_MESSAGE).into())
        }
        Err(CallbackError::Db(e)) => Err(V2Error::unavailable(e).into()),
    }
}
