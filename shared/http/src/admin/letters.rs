//! Letters after they are sent: a notification as the team sees it (with its validation result), a letter's PDF
//! status, cancelling one, the returned-letters list, letter brandings with their logos, and the letter rates.
//! Upstream answers these without the `{"data": …}` wrapper, and so do we.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::bodies::{UuidField, required};
use super::{AdminAuth, AdminJson, AdminResponse, id};
use crate::errors::AdminError;
use notify_app::AppState;
use notify_app::letter_admin::{self, LetterAdminError};

impl From<LetterAdminError> for AdminError {
    fn from(e: LetterAdminError) -> Self {
        match e {
            LetterAdminError::Invalid(message) => AdminError::bad_request(message),
            LetterAdminError::Field(field, message) => AdminError::fields(vec![(field, message)]),
            LetterAdminError::NotFound(message) => AdminError::new(404, message),
            LetterAdminError::Db(e) => e.into(),
            LetterAdminError::Files(e) => {
                tracing::error!(error = %e, "file store failed");
                AdminError::new(500, "Internal server error")
            }
            LetterAdminError::Internal(e) => {
                tracing::error!(error = %e, "letter admin request failed");
                AdminError::new(500, "Internal server error")
            }
        }
    }
}

fn bare(status: StatusCode, value: Value) -> AdminResponse {
    Ok((status, Json(value)).into_response())
}

/// `GET /service/{service_id}/notifications/{notification_id}`: upstream's `notification_with_template_schema`,
/// and for a letter its `page_count` and `validation`.
pub async fn get_service_notification(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((service_id, notification_id)): Path<(String, String)>,
) -> AdminResponse {
    let notification =
        letter_admin::admin_notification(&state, id(&service_id)?, id(&notification_id)?).await?;
    bare(StatusCode::OK, notification)
}

/// `GET /service/{service_id}/letters/{notification_id}/pdf-status` (ours): the files, the scan and the checks.
pub async fn letter_pdf_status(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((service_id, notification_id)): Path<(String, String)>,
) -> AdminResponse {
    let status =
        letter_admin::letter_pdf_status(&state, id(&service_id)?, id(&notification_id)?).await?;
    bare(StatusCode::OK, status)
}

/// `POST /service/{service_id}/notifications/{notification_id}/cancel`.
pub async fn cancel_notification(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((service_id, notification_id)): Path<(String, String)>,
) -> AdminResponse {
    let cancelled =
        letter_admin::cancel_letter(&state, id(&service_id)?, id(&notification_id)?).await?;
    bare(StatusCode::OK, cancelled)
}

/// `{"references": [...]}`: each a string; what they must look like is the use case's to say.
fn references(body: &Value) -> Result<Vec<String>, AdminError> {
    let field = |message: &str| AdminError::fields(vec![("references", message.to_string())]);
    let list = match body.get("references") {
        None | Some(Value::Null) => return Err(field("Missing data for required field.")),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(field("Not a valid list.")),
    };
    list.iter()
        .map(|r| {
            r.as_str()
                .map(str::to_string)
                .ok_or_else(|| field(&format!("{r} is not a string")))
        })
        .collect()
}

/// `POST /letters/returned`: processed now, a chunk at a time; answers the references, as upstream does.
pub async fn returned_letters(
    State(state): State<AppState>,
    _: AdminAuth,
    AdminJson(body): AdminJson<Value>,
) -> AdminResponse {
    let references = references(&body)?;
    letter_admin::process_returned_letters(
        &state,
        &references,
        letter_admin::RETURNED_LETTERS_CHUNK,
    )
    .await?;
    bare(StatusCode::OK, json!({"references": references}))
}

/// `POST /letter-branding` and `POST /letter-branding/{id}`.
#[derive(Debug, Default, Deserialize)]
pub struct LetterBrandingBody {
    #[serde(default)]
    pub name: Option<Value>,
    #[serde(default)]
    pub filename: Option<Value>,
    #[serde(default)]
    pub created_by_id: UuidField,
    #[serde(default)]
    pub updated_by_id: UuidField,
}

fn text(value: &Option<Value>) -> Option<String> {
    value.as_ref().and_then(Value::as_str).map(str::to_string)
}

pub async fn list_letter_branding(State(state): State<AppState>, _: AdminAuth) -> AdminResponse {
    let brandings = state.db.list_letter_branding().await?;
    bare(
        StatusCode::OK,
        brandings
            .iter()
            .map(letter_admin::letter_branding_json)
            .collect(),
    )
}

pub async fn get_letter_branding(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(branding_id): Path<String>,
) -> AdminResponse {
    let branding = state
        .db
        .get_letter_branding(id(&branding_id)?)
        .await?
        .ok_or_else(AdminError::not_found)?;
    bare(
        StatusCode::OK,
        letter_admin::letter_branding_json(&branding),
    )
}

pub async fn create_letter_branding(
    State(state): State<AppState>,
    _: AdminAuth,
    AdminJson(body): AdminJson<LetterBrandingBody>,
) -> AdminResponse {
    let name = required(text(&body.name), "name")?;
    let filename = required(text(&body.filename), "filename")?;
    let created_by = body.created_by_id.get("created_by_id")?;
    let branding =
        letter_admin::create_letter_branding(&state, &name, &filename, created_by).await?;
    bare(
        StatusCode::CREATED,
        letter_admin::letter_branding_json(&branding),
    )
}

/// Upstream answers an update with 201 too.
pub async fn update_letter_branding(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(branding_id): Path<String>,
    AdminJson(body): AdminJson<LetterBrandingBody>,
) -> AdminResponse {
    let branding_id = id(&branding_id)?;
    let name = required(text(&body.name), "name")?;
    let filename = required(text(&body.filename), "filename")?;
    let updated_by = body.updated_by_id.get("updated_by_id")?;
    let branding =
        letter_admin::update_letter_branding(&state, branding_id, &name, &filename, updated_by)
            .await?;
    bare(
        StatusCode::CREATED,
        letter_admin::letter_branding_json(&branding),
    )
}

/// `POST /letter-branding/logo` (ours: upstream's admin app writes to the logos bucket itself): the request body is
/// the SVG or PNG file; answers the `filename` to create the branding with.
pub async fn upload_letter_logo(
    State(state): State<AppState>,
    _: AdminAuth,
    body: Bytes,
) -> Result<Response, AdminError> {
    let filename = letter_admin::upload_letter_logo(&state, body.to_vec()).await?;
    bare(StatusCode::CREATED, json!({"filename": filename}))
}

/// `GET /letter-rates`: the rates in force now, each as upstream serialises one (the start date in its naive
/// UTC ISO form).
pub async fn letter_rates(State(state): State<AppState>, _: AdminAuth) -> AdminResponse {
    let rates = state.db.current_letter_rates(state.now()).await?;
    bare(
        StatusCode::OK,
        rates
            .iter()
            .map(|r| {
                json!({
                    "sheet_count": r.sheet_count,
                    "start_date": r.start_date.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string(),
                    "rate": r.rate,
                    "post_class": r.post_class,
                })
            })
            .collect(),
    )
}
