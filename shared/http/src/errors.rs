//! The two error envelopes as responses: v2's (the use cases' [`V2Error`], made in `notify_core`) and the admin
//! API's `{"result": "error", "message"}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use notify_app::auth::AuthError;
use notify_core::errors::{RETRY_AFTER_SECONDS, UNAVAILABLE_MESSAGE, V2Error, note_unavailable};
use notify_db::DbError;

/// A v2 error on its way out: the use cases' [`V2Error`] with its status, body and `Retry-After`.
#[derive(Debug)]
pub struct ApiError(pub V2Error);

impl<E: Into<V2Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError(error) = self;
        let status =
            StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(error.body())).into_response();
        // Both say "send it again shortly": the database is away, or an Idempotency-Key's first request is still
        // in flight (the draft's 409); the same few seconds suit both.
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::CONFLICT {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

#[derive(Debug, Clone)]
pub struct AdminError {
    pub status: u16,
    pub message: Value,
}

impl AdminError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        AdminError {
            status,
            message: Value::String(message.into()),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        AdminError::new(400, message)
    }

    /// Field errors, as the admin app reads them: `{"field": ["message"]}`.
    pub fn fields(errors: Vec<(&str, String)>) -> Self {
        let mut map = serde_json::Map::new();
        for (field, message) in errors {
            map.entry(field.to_string())
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .expect("array")
                .push(json!(message));
        }
        AdminError {
            status: 400,
            message: Value::Object(map),
        }
    }

    pub fn not_found() -> Self {
        AdminError::new(404, "No result found")
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (
            status,
            Json(json!({"result": "error", "message": self.message})),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

impl From<DbError> for AdminError {
    fn from(e: DbError) -> Self {
        if let Some(constraint) = e.unique_violation() {
            return AdminError::bad_request(format!("Duplicate value violates {constraint}"));
        }
        if e.is_unavailable() {
            // As the v2 API does: the admin app (and `notify admin-api`) can retry once the database is back.
            note_unavailable(&e);
            return AdminError::new(503, UNAVAILABLE_MESSAGE);
        }
        tracing::error!(error = %e, "admin request failed");
        AdminError::new(500, "Internal server error")
    }
}

impl From<AuthError> for AdminError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Rejected { status, message } => AdminError {
                status,
                message: json!({"token": [message]}),
            },
            AuthError::Db(e) => e.into(),
        }
    }
}
