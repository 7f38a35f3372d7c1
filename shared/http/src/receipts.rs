//! What SMS aggregators post to us. Receipts are put on the status queue untouched, so the API answers fast and
//! the status worker does the work; inbound texts are stored at once (one lookup, one INSERT).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use secrecy::ExposeSecret;
use serde_json::json;

use notify_app::AppState;
use notify_core::messages::Message;

/// SMS aggregators whose receipt format the status worker understands.
const SMS_RECEIPT_PROVIDERS: [&str; 1] = ["firetext"];

/// When credentials are configured, the provider must present one of them with HTTP Basic: none is 401, a wrong
/// one 403 (Notify answers its inbound endpoints the same way).
fn refused(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let allowed = &state.config.api.provider_callback_credentials;
    if allowed.is_empty() {
        return None;
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok());
    let (status, message) = match presented {
        None => (StatusCode::UNAUTHORIZED, "Unauthorized"),
        Some(p)
            if allowed
                .iter()
                .any(|a| constant_time_eq(a.expose_secret().as_bytes(), p.as_bytes())) =>
        {
            return None;
        }
        Some(_) => (StatusCode::FORBIDDEN, "Forbidden"),
    };
    Some((status, Json(json!({"result": "error", "message": message}))).into_response())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn sms_receipt(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !SMS_RECEIPT_PROVIDERS.contains(&provider.as_str()) {
        return super::not_found().await;
    }
    if let Some(refusal) = refused(&state, &headers) {
        return refusal;
    }
    let message = Message::RawReceipt {
        v: 1,
        provider: provider.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: state.now(),
    };
    match state
        .queue
        .send(&state.config.queues.status, &provider, &message)
        .await
    {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"result": "success", "message": format!("{provider} callback succeeded")})),
        )
            .into_response(),
        Err(e) => {
            // The provider retries on a 5xx, so nothing is lost.
            tracing::error!(provider, error = %e, "receipt not queued");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"result": "error", "message": "Internal server error"})),
            )
                .into_response()
        }
    }
}

/// A text a user sent to a service's inbound number. Answered 200 whenever the body was understood, even for a
/// number nobody owns (the provider would otherwise retry a text nobody can take); a database fault answers
/// 500 so that the provider retries it.
pub async fn inbound_sms(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !notify_app::inbound::formats::PROVIDERS.contains(&provider.as_str()) {
        return super::not_found().await;
    }
    if let Some(refusal) = refused(&state, &headers) {
        return refusal;
    }
    let Some(text) = notify_app::inbound::formats::parse(&provider, &body) else {
        tracing::warn!(provider, "inbound text not understood");
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"result": "error", "message": format!("{provider} inbound message not understood")})),
        )
            .into_response();
    };
    match notify_app::inbound::receive(&state, &provider, &text).await {
        // MMG expects this exact text; Firetext a JSON acknowledgement.
        Ok(_) if provider == "mmg" => (StatusCode::OK, "RECEIVED").into_response(),
        Ok(_) => (StatusCode::OK, Json(json!({"status": "ok"}))).into_response(),
        Err(e) => {
            tracing::error!(provider, error = %e, "inbound text not stored");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"result": "error", "message": "Internal server error"})),
            )
                .into_response()
        }
    }
}
