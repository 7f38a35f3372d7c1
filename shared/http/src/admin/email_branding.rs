//! Email brandings on upstream's paths (`/email-branding`), their logos, and the static path mail clients load
//! the logos from.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::bodies::UuidField;
use super::{AdminAuth, AdminJson, AdminResponse, id};
use crate::errors::AdminError;
use notify_app::AppState;
use notify_app::email_branding::{self, BrandingChanges, BrandingError};

impl From<BrandingError> for AdminError {
    fn from(e: BrandingError) -> Self {
        match e {
            BrandingError::Invalid(message) => AdminError::bad_request(message),
            BrandingError::Field(field, message) => AdminError::fields(vec![(field, message)]),
            BrandingError::NotFound => AdminError::not_found(),
            BrandingError::Db(e) => e.into(),
            BrandingError::Files(e) => {
                tracing::error!(error = %e, "file store failed");
                AdminError::new(500, "Internal server error")
            }
        }
    }
}

/// A property that may be absent (leave it), `null` (clear it) or a value.
#[derive(Debug, Default)]
pub enum Nullable {
    #[default]
    Absent,
    Null,
    Value(Value),
}

impl<'de> Deserialize<'de> for Nullable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => Nullable::Null,
            v => Nullable::Value(v),
        })
    }
}

/// `POST /email-branding` and `POST /email-branding/{id}`: upstream's schema, every property a string or `null`.
#[derive(Debug, Default, Deserialize)]
pub struct EmailBrandingBody {
    #[serde(default)]
    pub name: Nullable,
    #[serde(default)]
    pub colour: Nullable,
    #[serde(default)]
    pub logo: Nullable,
    #[serde(default)]
    pub text: Nullable,
    #[serde(default)]
    pub alt_text: Nullable,
    #[serde(default)]
    pub brand_type: Nullable,
    #[serde(default)]
    pub created_by: UuidField,
    #[serde(default)]
    pub updated_by: UuidField,
}

/// Upstream's schema error for a property of the wrong type.
fn not_a(field: &str, value: &Value, kind: &str) -> AdminError {
    AdminError::bad_request(format!("{field} {value} is not of type {kind}"))
}

fn nullable_text(field: &str, value: &Nullable) -> Result<Option<Option<String>>, AdminError> {
    match value {
        Nullable::Absent => Ok(None),
        Nullable::Null => Ok(Some(None)),
        Nullable::Value(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Nullable::Value(other) => Err(not_a(field, other, "string, null")),
    }
}

fn text(field: &str, value: &Nullable) -> Result<Option<String>, AdminError> {
    match value {
        Nullable::Absent => Ok(None),
        Nullable::Value(Value::String(s)) => Ok(Some(s.clone())),
        Nullable::Null => Err(not_a(field, &Value::Null, "string")),
        Nullable::Value(other) => Err(not_a(field, other, "string")),
    }
}

impl EmailBrandingBody {
    fn changes(&self) -> Result<BrandingChanges, AdminError> {
        Ok(BrandingChanges {
            name: text("name", &self.name)?,
            colour: nullable_text("colour", &self.colour)?,
            logo: nullable_text("logo", &self.logo)?,
            text: nullable_text("text", &self.text)?,
            alt_text: nullable_text("alt_text", &self.alt_text)?,
            brand_type: match &self.brand_type {
                Nullable::Absent => None,
                Nullable::Value(Value::String(s)) => Some(s.clone()),
                Nullable::Null => Some("None".into()),
                Nullable::Value(other) => Some(other.to_string()),
            },
        })
    }
}

/// `GET /email-branding`: `{"email_branding": [...]}`, as upstream answers the options.
pub async fn list_email_branding(State(state): State<AppState>, _: AdminAuth) -> AdminResponse {
    let brandings = state.db.list_email_branding().await?;
    let list: Vec<Value> = brandings
        .iter()
        .map(|b| email_branding::email_branding_json(&state, b))
        .collect();
    Ok(Json(json!({"email_branding": list})).into_response())
}

/// `GET /email-branding/{id}`: `{"email_branding": {...}}`.
pub async fn get_email_branding(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(branding_id): Path<String>,
) -> AdminResponse {
    let branding = state
        .db
        .get_email_branding(id(&branding_id)?)
        .await?
        .ok_or_else(AdminError::not_found)?;
    Ok(
        Json(json!({"email_branding": email_branding::email_branding_json(&state, &branding)}))
            .into_response(),
    )
}

/// `POST /email-branding`: 201 `{"data": {...}}`.
pub async fn create_email_branding(
    State(state): State<AppState>,
    _: AdminAuth,
    AdminJson(body): AdminJson<EmailBrandingBody>,
) -> AdminResponse {
    let changes = body.changes()?;
    let created_by = body.created_by.get("created_by")?;
    let branding = email_branding::create_email_branding(&state, changes, created_by).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"data": email_branding::email_branding_json(&state, &branding)})),
    )
        .into_response())
}

/// `POST /email-branding/{id}`: changes what the body names; 200 `{"data": {...}}`.
pub async fn update_email_branding(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(branding_id): Path<String>,
    AdminJson(body): AdminJson<EmailBrandingBody>,
) -> AdminResponse {
    let branding_id = id(&branding_id)?;
    let changes = body.changes()?;
    let updated_by = body.updated_by.get("updated_by")?;
    let branding =
        email_branding::update_email_branding(&state, branding_id, changes, updated_by).await?;
    Ok(
        Json(json!({"data": email_branding::email_branding_json(&state, &branding)}))
            .into_response(),
    )
}

/// `POST /email-branding/logo` (ours: upstream's admin app writes to its logos bucket itself): the body is the
/// PNG, JPEG or GIF file; answers the `logo` to create the branding with and where it is served.
pub async fn upload_email_logo(
    State(state): State<AppState>,
    _: AdminAuth,
    body: Bytes,
) -> AdminResponse {
    let logo = email_branding::upload_email_logo(&state, body.to_vec()).await?;
    let url = notify_core::email_branding::logo_url(&state.config.api.host_name, &logo);
    Ok((
        StatusCode::CREATED,
        Json(json!({"logo": logo, "logo_url": url})),
    )
        .into_response())
}

/// `GET /static/email-logos/{file}`: a logo as mail clients load it. A stored name never changes its content
/// (it is the content's hash), so caches may keep it for a year without asking again.
pub async fn email_logo(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    match email_branding::email_logo(&state, &file).await {
        Ok(Some((bytes, content_type))) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) => crate::not_found().await,
        Err(e) => AdminError::from(e).into_response(),
    }
}
