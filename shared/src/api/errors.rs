//! The two error envelopes: v2's `{"status_code", "errors": [{"error", "message"}]}` and the admin API's
//! `{"result": "error", "message"}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::auth::AuthError;
use crate::db::DbError;
use crate::limits::LimitError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Error {
    pub status: u16,
    pub error: &'static str,
    pub messages: Vec<String>,
}

impl V2Error {
    pub fn new(status: u16, error: &'static str, message: impl Into<String>) -> Self {
        V2Error {
            status,
            error,
            messages: vec![message.into()],
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        V2Error::new(400, "BadRequestError", message)
    }

    pub fn validation(messages: Vec<String>) -> Self {
        V2Error {
            status: 400,
            error: "ValidationError",
            messages,
        }
    }

    pub fn not_found() -> Self {
        V2Error::new(404, "NoResultFound", "No result found")
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "internal error");
        V2Error::new(500, "InternalServerError", "Internal server error")
    }

    /// The database is away: clients should try again shortly (`Retry-After`), not report a fault of ours.
    pub fn unavailable(error: impl std::fmt::Display) -> Self {
        note_unavailable(&error);
        V2Error::new(503, "ServiceUnavailableError", UNAVAILABLE_MESSAGE)
    }

    pub fn body(&self) -> Value {
        let errors: Vec<Value> = self
            .messages
            .iter()
            .map(|m| json!({"error": self.error, "message": m}))
            .collect();
        json!({"status_code": self.status, "errors": errors})
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.body())).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

/// The message of every 503 answered while the database is away, v2 and admin alike.
const UNAVAILABLE_MESSAGE: &str = "Service temporarily unavailable, try again later";

/// Every 503 is logged and counted once, so an outage shows on the `DatabaseUnavailable` metric.
fn note_unavailable(error: &dyn std::fmt::Display) {
    tracing::error!(error = %error, "database unavailable");
    crate::metrics::count("DatabaseUnavailable", 1, &[]);
}

/// What a 503 asks clients to wait: long enough for a database failover to finish.
pub const RETRY_AFTER_SECONDS: u32 = 5;

impl From<DbError> for V2Error {
    fn from(e: DbError) -> Self {
        if e.is_unavailable() {
            V2Error::unavailable(e)
        } else {
            V2Error::internal(e)
        }
    }
}

impl From<AuthError> for V2Error {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Rejected { status, message } => V2Error::new(status, "AuthError", message),
            AuthError::Db(e) => e.into(),
        }
    }
}

impl From<LimitError> for V2Error {
    fn from(e: LimitError) -> Self {
        let error = match e {
            LimitError::RateLimit { .. } => "RateLimitError",
            LimitError::DailyLimit { .. } => "TooManyRequestsError",
        };
        V2Error::new(429, error, e.to_string())
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
