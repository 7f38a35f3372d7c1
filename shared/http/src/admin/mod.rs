//! The admin API on Notify's internal paths, with `{"data": …}` bodies and `{"result": "error"}` errors.
//!
//! Request bodies are typed ([`bodies`]) and read by one extractor, [`AdminJson`]; handlers by what they
//! manage: [`services`] (services, users, API keys), [`templates`], [`senders`] (senders and the guest list),
//! [`settings`] (callbacks, data retention, inbound numbers, statistics), [`letters`] (a notification with its
//! validation result, a letter's PDF status, cancelling, returned letters, letter branding), [`email_branding`]
//! (email brandings, their logos and the static path that serves them).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

use super::errors::AdminError;
use notify_app::admin::AdminOpError;
use notify_app::{AppState, admin, auth};
use notify_core::model::ServicePermission;

pub mod bodies;
pub mod callback_log;
pub mod email_branding;
// issue 14: admin (CSV jobs)
pub mod jobs;
pub mod letters;
pub mod senders;
pub mod services;
pub mod settings;
pub mod signing;
pub mod templates;

pub use email_branding::*;
pub use letters::*;
pub use senders::*;
pub use services::*;
pub use settings::*;
pub use signing::*;
pub use templates::*;

pub struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AdminError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .map(|h| h.to_str().unwrap_or("\u{0}"));
        auth::authenticate_admin(
            header,
            &state.config.api.admin_client_id,
            &state.config.api.admin_client_secrets,
            state.now(),
        )?;
        Ok(AdminAuth)
    }
}

/// An admin request body read into `T`: an empty body is `{}`; anything but a JSON object is answered in
/// the admin error shape, `{"result": "error", "message": "Invalid JSON supplied in POST data"}`.
pub struct AdminJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for AdminJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let invalid =
            || AdminError::bad_request("Invalid JSON supplied in POST data").into_response();
        let value = if bytes.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(v @ Value::Object(_)) => v,
                _ => return Err(invalid()),
            }
        };
        T::deserialize(value).map(AdminJson).map_err(|_| invalid())
    }
}

impl From<AdminOpError> for AdminError {
    fn from(e: AdminOpError) -> Self {
        match e {
            AdminOpError::Invalid(message) => AdminError::bad_request(message),
            AdminOpError::NotFound => AdminError::not_found(),
            AdminOpError::Db(e) => e.into(),
        }
    }
}

type AdminResponse = Result<Response, AdminError>;

fn data(status: StatusCode, value: Value) -> AdminResponse {
    Ok((status, Json(json!({"data": value}))).into_response())
}

/// `{"data": [...]}` with each item as `json` shows it.
fn data_list<T>(items: &[T], json: impl Fn(&T) -> Value) -> AdminResponse {
    data(StatusCode::OK, items.iter().map(json).collect())
}

fn id(raw: &str) -> Result<Uuid, AdminError> {
    Uuid::parse_str(raw).map_err(|_| AdminError::not_found())
}

/// A `permissions` property: a list of known permission names.
fn permissions(value: Option<&Value>) -> Result<Option<Vec<ServicePermission>>, AdminError> {
    let Some(list) = value else {
        return Ok(None);
    };
    let list = list
        .as_array()
        .ok_or_else(|| AdminError::bad_request("permissions must be a list"))?;
    list.iter()
        .map(|p| {
            p.as_str()
                .and_then(ServicePermission::parse)
                .ok_or_else(|| {
                    AdminError::bad_request(format!("Invalid Service Permission: '{p}'"))
                })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

async fn service_response(state: &AppState, service_id: Uuid, status: StatusCode) -> AdminResponse {
    let service = state
        .db
        .get_service(service_id)
        .await?
        .ok_or_else(AdminError::not_found)?;
    let callbacks = state.db.callback_apis(service_id).await?;
    data(status, admin::service_json(&service, &callbacks))
}
