//! The public v2 API's bodies as the OpenAPI description shows them. The parsers in `notify_app` read send bodies
//! by hand (every error in Notify's order and words), so the request shapes are stated here; responses the
//! handlers build from typed structs derive their schema where they are defined (`v2.rs`). A black-box test
//! (`tests/api/openapi.rs`) and schemathesis in the test command check both against what the API answers.

// Several structs exist only for their schema.
#![allow(dead_code)]

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

/// Notify's v2 error envelope, for every 4xx and 5xx of the v2 API.
#[derive(ToSchema)]
#[schema(example = json!({"status_code": 400, "errors": [{"error": "ValidationError", "message": "phone_number Not enough digits"}]}))]
pub struct ErrorResponse {
    /// The HTTP status, repeated.
    pub status_code: u16,
    #[schema(min_items = 1)]
    pub errors: Vec<ErrorItem>,
}

#[derive(ToSchema)]
pub struct ErrorItem {
    /// Notify's error class: `ValidationError`, `BadRequestError`, `AuthError`, `RateLimitError`,
    /// `TooManyRequestsError`, `NoResultFound`, `PDFNotReadyError`, `ServiceUnavailableError`, …
    pub error: String,
    /// Notify's words, unchanged.
    pub message: String,
}

/// What Notify (Flask) answers for a URL it has no route for, such as a template version that is not a number.
#[derive(ToSchema)]
pub struct RoutingError {
    #[schema(example = "error")]
    pub result: String,
    pub message: String,
}

/// `POST /v2/notifications/sms`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsRequest {
    /// A UK mobile number or, if the service may send abroad, an international one.
    #[schema(example = "07700900123")]
    pub phone_number: String,
    pub template_id: Uuid,
    /// Values for the template's placeholders: strings, numbers or lists (shown as bullets).
    #[schema(value_type = Option<Object>, nullable = false)]
    pub personalisation: Option<Map<String, Value>>,
    /// The service's own reference, shown back on the notification.
    #[schema(max_length = 1000, nullable = false)]
    pub reference: Option<String>,
    /// One of the service's text message senders; the default sender without it.
    #[schema(nullable = false)]
    pub sms_sender_id: Option<Uuid>,
    /// Send later: up to 96 hours ahead (ISO 8601; a time without an offset is UTC).
    #[schema(format = DateTime)]
    pub scheduled_for: Option<String>,
    /// Delivery-status callbacks of this notification go here instead of the service's callback URL (https only).
    #[schema(format = "uri", max_length = 255, nullable = false)]
    pub callback_url: Option<String>,
}

/// `POST /v2/notifications/email`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    #[schema(example = "someone@example.com")]
    pub email_address: String,
    pub template_id: Uuid,
    /// Values for the template's placeholders: strings, numbers or lists (shown as bullets).
    #[schema(value_type = Option<Object>, nullable = false)]
    pub personalisation: Option<Map<String, Value>>,
    #[schema(max_length = 1000, nullable = false)]
    pub reference: Option<String>,
    /// One of the service's reply-to addresses; the default without it.
    #[schema(nullable = false)]
    pub email_reply_to_id: Option<Uuid>,
    /// The service's one-click unsubscribe link (https), sent as `List-Unsubscribe`.
    #[schema(format = "uri", nullable = false)]
    pub one_click_unsubscribe_url: Option<String>,
    #[schema(format = DateTime)]
    pub scheduled_for: Option<String>,
    /// Personalisation keys whose values are escaped so they cannot add links or formatting.
    pub sanitise_content_for: Option<Vec<String>>,
    #[schema(format = "uri", max_length = 255, nullable = false)]
    pub callback_url: Option<String>,
}

/// `POST /v2/notifications/letter`: a letter template with the address in `personalisation`
/// (`address_line_1`…`address_line_7`, or up to 6 lines and `postcode`), or a precompiled letter: a PDF in `content`
/// (base64) with `reference` required.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LetterRequest {
    /// A templated letter's template.
    #[schema(nullable = false)]
    pub template_id: Option<Uuid>,
    /// Values for the template's placeholders: strings, numbers or lists (shown as bullets).
    #[schema(value_type = Option<Object>, nullable = false)]
    pub personalisation: Option<Map<String, Value>>,
    #[schema(max_length = 1000, nullable = false)]
    pub reference: Option<String>,
    /// A precompiled letter: the PDF, base64-encoded.
    #[schema(content_encoding = "base64", nullable = false)]
    pub content: Option<String>,
    /// A precompiled letter's postage.
    #[schema(nullable = false)]
    pub postage: Option<SendPostage>,
    #[schema(format = "uri", max_length = 255, nullable = false)]
    pub callback_url: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum SendPostage {
    First,
    Second,
    Economy,
}

#[derive(ToSchema)]
#[schema(rename_all = "kebab-case")]
pub enum Postage {
    First,
    Second,
    Economy,
    Europe,
    RestOfWorld,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum NotificationType {
    Sms,
    Email,
    Letter,
}

/// The template a notification was made from.
#[derive(ToSchema)]
pub struct TemplateReference {
    pub id: Uuid,
    pub version: i32,
    #[schema(format = "uri")]
    pub uri: String,
}

/// 201 for a text message.
#[derive(ToSchema)]
pub struct SmsCreated {
    pub id: Uuid,
    pub reference: Option<String>,
    pub content: SmsContent,
    #[schema(format = "uri")]
    pub uri: String,
    pub template: TemplateReference,
    #[schema(format = DateTime)]
    pub scheduled_for: Option<String>,
}

#[derive(ToSchema)]
pub struct SmsContent {
    pub body: String,
    /// The sender: digits-only international format for numbers, names unchanged.
    pub from_number: String,
}

/// 201 for an email.
#[derive(ToSchema)]
pub struct EmailCreated {
    pub id: Uuid,
    pub reference: Option<String>,
    pub content: EmailContent,
    #[schema(format = "uri")]
    pub uri: String,
    pub template: TemplateReference,
    #[schema(format = DateTime)]
    pub scheduled_for: Option<String>,
    /// For each key of `sanitise_content_for`: the value as sent and as put in the email.
    #[schema(value_type = Option<Object>, nullable = false)]
    pub sanitised_content: Option<Map<String, Value>>,
}

#[derive(ToSchema)]
pub struct EmailContent {
    pub from_email: String,
    pub body: String,
    pub subject: String,
    pub one_click_unsubscribe_url: Option<String>,
}

/// 201 for a letter: a templated letter's, or a precompiled letter's `{id, reference, postage}`.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum LetterCreated {
    Templated(TemplatedLetterCreated),
    Precompiled(PrecompiledLetterCreated),
}

#[derive(ToSchema)]
pub struct TemplatedLetterCreated {
    pub id: Uuid,
    pub reference: Option<String>,
    pub content: LetterContent,
    #[schema(format = "uri")]
    pub uri: String,
    pub template: TemplateReference,
    #[schema(format = DateTime)]
    pub scheduled_for: Option<String>,
}

#[derive(ToSchema)]
pub struct LetterContent {
    pub body: String,
    pub subject: String,
}

#[derive(ToSchema)]
pub struct PrecompiledLetterCreated {
    pub id: Uuid,
    pub reference: Option<String>,
    pub postage: Postage,
}

/// A notification as `GET /v2/notifications/{id}` shows it. `estimated_delivery` only for letters.
#[derive(ToSchema)]
pub struct Notification {
    pub id: Uuid,
    pub reference: Option<String>,
    pub email_address: Option<String>,
    pub phone_number: Option<String>,
    pub line_1: Option<String>,
    pub line_2: Option<String>,
    pub line_3: Option<String>,
    pub line_4: Option<String>,
    pub line_5: Option<String>,
    pub line_6: Option<String>,
    pub postcode: Option<String>,
    #[serde(rename = "type")]
    pub notification_type: NotificationType,
    /// The public status (`created`, `sending`, `delivered`, …; a letter's `accepted` and `received`).
    pub status: String,
    pub template: TemplateReference,
    pub body: String,
    pub subject: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub created_by_name: Option<String>,
    #[schema(format = DateTime)]
    pub sent_at: Option<String>,
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    #[schema(format = DateTime)]
    pub scheduled_for: Option<String>,
    pub postage: Option<Postage>,
    pub one_click_unsubscribe_url: Option<String>,
    pub is_cost_data_ready: bool,
    pub cost_in_pounds: Option<f64>,
    /// Text messages: `billable_sms_fragments`, `international_rate_multiplier`, `sms_rate`; letters:
    /// `billable_sheets_of_paper`, `postage`; empty until the cost is known.
    #[schema(value_type = Object)]
    pub cost_details: Map<String, Value>,
    #[schema(format = DateTime, nullable = false)]
    pub estimated_delivery: Option<String>,
}

#[derive(ToSchema)]
pub struct NotificationList {
    pub notifications: Vec<Notification>,
    pub links: PageLinks,
}

/// `next` (the same query, older than the last on this page) when the page is not empty.
#[derive(Serialize, ToSchema)]
pub struct PageLinks {
    #[schema(format = "uri")]
    pub current: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = "uri", nullable = false)]
    pub next: Option<String>,
}

/// A template as `GET /v2/template/{id}` shows it.
#[derive(ToSchema)]
pub struct Template {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub template_type: NotificationType,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: Option<String>,
    pub created_by: Option<String>,
    pub version: i32,
    pub body: String,
    pub subject: Option<String>,
    pub name: String,
    /// Each placeholder, `{"required": true}`.
    #[schema(value_type = Object)]
    pub personalisation: Map<String, Value>,
    pub postage: Option<Postage>,
    pub letter_contact_block: Option<String>,
}

#[derive(ToSchema)]
pub struct TemplateList {
    pub templates: Vec<Template>,
}

/// `POST /v2/template/{id}/preview`.
#[derive(ToSchema)]
pub struct PreviewRequest {
    /// Values for the template's placeholders: strings, numbers or lists (shown as bullets).
    #[schema(value_type = Option<Object>, nullable = false)]
    pub personalisation: Option<Map<String, Value>>,
}

/// `POST /v2/notifications/bulk`: a CSV as `rows` (header first) or as `csv`, exactly one of the two.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    pub template_id: Uuid,
    /// The job's file name.
    pub name: String,
    #[schema(nullable = false)]
    pub rows: Option<Vec<Vec<String>>>,
    #[schema(nullable = false)]
    pub csv: Option<String>,
    #[schema(nullable = false)]
    pub reference: Option<String>,
    /// Up to 96 hours ahead.
    #[schema(format = DateTime)]
    pub scheduled_for: Option<String>,
    /// The SMS sender or email reply-to every row is sent with.
    pub reply_to_id: Option<Uuid>,
}

/// 201 of the bulk endpoint: GC Notify's `{"data": job}`.
#[derive(ToSchema)]
pub struct BulkCreated {
    pub data: Job,
}

#[derive(ToSchema)]
pub struct Job {
    pub id: Uuid,
    #[schema(value_type = Option<Object>)]
    pub api_key: Option<Map<String, Value>>,
    pub archived: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(value_type = Option<Object>)]
    pub created_by: Option<Map<String, Value>>,
    /// `pending`, `scheduled`, `in progress`, `finished`, `cancelled`, …
    pub job_status: String,
    pub notification_count: i64,
    pub original_file_name: String,
    #[schema(format = DateTime)]
    pub processing_finished: Option<String>,
    #[schema(format = DateTime)]
    pub processing_started: Option<String>,
    #[schema(format = DateTime)]
    pub scheduled_for: Option<String>,
    pub sender_id: Option<Uuid>,
    pub service: Uuid,
    #[schema(value_type = Object)]
    pub service_name: Map<String, Value>,
    pub template: Uuid,
    pub template_type: NotificationType,
    pub template_version: i32,
    #[schema(format = DateTime)]
    pub updated_at: Option<String>,
}

/// A 404: Notify's v2 `NoResultFound`, or Flask's routing answer for a path that matches no route.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum NotFound {
    V2(ErrorResponse),
    Routing(RoutingError),
}

/// The errors every authenticated v2 call may answer, in the v2 envelope.
#[derive(utoipa::IntoResponses)]
pub enum V2Errors {
    /// The request is invalid (`ValidationError`, `BadRequestError`), every problem listed in Notify's words.
    #[response(status = 400)]
    BadRequest(ErrorResponse),
    /// No token, a token that is not valid, or a revoked key (`AuthError`).
    #[response(status = 403)]
    Forbidden(ErrorResponse),
    /// Nothing with that id for this service (`NoResultFound`), or no such route.
    #[response(status = 404)]
    NotFound(NotFound),
    /// The service's rate limit (`RateLimitError`) or daily limit (`TooManyRequestsError`).
    #[response(status = 429)]
    TooManyRequests(ErrorResponse),
    /// Something failed on our side.
    #[response(status = 500)]
    Internal(ErrorResponse),
    /// The database is away for a moment (`ServiceUnavailableError`, with `Retry-After`).
    #[response(status = 503, headers(("Retry-After" = u32, description = "Seconds to wait")))]
    Unavailable(ErrorResponse),
}

/// What a POST that creates answers besides its 201 and [`V2Errors`] when it carries an `Idempotency-Key`.
#[derive(utoipa::IntoResponses)]
pub enum IdempotencyErrors {
    /// A request with this `Idempotency-Key` is still being handled
    #[response(status = 409, headers(("Retry-After" = u32, description = "Seconds to wait")))]
    InFlight(ErrorResponse),
    /// This `Idempotency-Key` was used with a different request
    #[response(status = 422)]
    Reused(ErrorResponse),
}

/// The `Idempotency-Key` header of a POST that creates.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyParam {
    /// Makes the request safe to retry: a repeat within 24 hours answers the first response
    #[param(rename = "Idempotency-Key", max_length = 255, nullable = false)]
    pub idempotency_key: Option<String>,
}

/// A `status` filter: a notification status, or one of the aliases.
#[derive(ToSchema)]
#[schema(rename_all = "kebab-case")]
pub enum StatusFilter {
    Cancelled,
    Created,
    Sending,
    Sent,
    Delivered,
    Pending,
    Failed,
    TechnicalFailure,
    TemporaryFailure,
    PermanentFailure,
    PendingVirusCheck,
    ValidationFailed,
    VirusScanFailed,
    ReturnedLetter,
    Accepted,
    Received,
}

/// Notify's flag: `true` or `True`.
#[derive(ToSchema)]
pub enum IncludeJobs {
    #[schema(rename = "true")]
    True,
    #[schema(rename = "True")]
    TitleTrue,
}
