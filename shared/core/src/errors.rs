//! The v2 error envelope as a value: `{"status_code", "errors": [{"error", "message"}]}` and the admin
//! API's `{"result": "error", "message"}`. The HTTP layer turns them into responses; the use cases return them,
//! so the words and the order of every message are decided once, where the rule is.

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Error {
    pub status: u16,
    pub error: &'static str,
    pub messages: Vec<String>,
    /// Extra fields of the first error object (the QR code error's `data`, `num_bytes`, `max_bytes`).
    pub details: Option<serde_json::Map<String, Value>>,
}

impl V2Error {
    pub fn new(status: u16, error: &'static str, message: impl Into<String>) -> Self {
        V2Error {
            status,
            error,
            messages: vec![message.into()],
            details: None,
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
            details: None,
        }
    }

    /// The same error with extra fields in its error object.
    pub fn with_details(mut self, details: serde_json::Map<String, Value>) -> Self {
        self.details = Some(details);
        self
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
        let mut errors: Vec<Value> = self
            .messages
            .iter()
            .map(|m| json!({"error": self.error, "message": m}))
            .collect();
        if let (Some(details), Some(Value::Object(first))) = (&self.details, errors.first_mut()) {
            first.extend(details.clone());
        }
        json!({"status_code": self.status, "errors": errors})
    }
}

/// The message of every 503 answered while the database is away, v2 and admin alike.
pub const UNAVAILABLE_MESSAGE: &str = "Service temporarily unavailable, try again later";

/// Every 503 is logged and counted once, so an outage shows on the `DatabaseUnavailable` metric.
pub fn note_unavailable(error: &dyn std::fmt::Display) {
    tracing::error!(error = %error, "database unavailable");
    crate::metrics::count("DatabaseUnavailable", 1, &[]);
}

/// What a 503 asks clients to wait: long enough for a database failover to finish.
pub const RETRY_AFTER_SECONDS: u32 = 5;
