//! A service's text senders, reply-to addresses and letter contact blocks, and its guest list.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::bodies::{AddSenderBody, GuestListBody, required};
use super::{AdminAuth, AdminJson, AdminResponse, data, id};
use crate::errors::AdminError;
use notify_app::{AppState, admin};
use notify_core::model::RecipientKind;
use notify_core::recipients::{EmailAddress, PhoneNumber};
use notify_db::SenderKind;

/// The body property a kind of sender is given under.
fn sender_field(kind: SenderKind) -> &'static str {
    match kind {
        SenderKind::Sms => "sms_sender",
        SenderKind::ReplyTo => "email_address",
        SenderKind::LetterContact => "contact_block",
    }
}

async fn add_sender(
    state: &AppState,
    kind: SenderKind,
    service_id: &str,
    body: AddSenderBody,
) -> AdminResponse {
    let service_id = id(service_id)?;
    let field = sender_field(kind);
    let value = match kind {
        SenderKind::Sms => body.sms_sender,
        SenderKind::ReplyTo => body.email_address,
        SenderKind::LetterContact => body.contact_block,
    };
    let value = required(value, field)?;
    if kind == SenderKind::Sms && value.chars().count() > 11 {
        return Err(AdminError::fields(vec![(
            field,
            "Longer than maximum length 11.".into(),
        )]));
    }
    if kind == SenderKind::ReplyTo {
        EmailAddress::parse(&value)
            .map_err(|_| AdminError::fields(vec![(field, "Not a valid email address".into())]))?;
    }
    state
        .db
        .get_service(service_id)
        .await?
        .ok_or_else(AdminError::not_found)?;
    let sender = state
        .db
        .add_sender(
            kind,
            service_id,
            &value,
            body.is_default.unwrap_or(false),
            None,
        )
        .await?;
    data(StatusCode::CREATED, admin::sender_json(kind, &sender))
}

async fn list_senders(state: &AppState, kind: SenderKind, service_id: &str) -> AdminResponse {
    let senders = state.db.list_senders(kind, id(service_id)?).await?;
    Ok(Json(json!(
        senders
            .iter()
            .map(|s| admin::sender_json(kind, s))
            .collect::<Vec<_>>()
    ))
    .into_response())
}

pub async fn add_sms_sender(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(s): Path<String>,
    AdminJson(b): AdminJson<AddSenderBody>,
) -> AdminResponse {
    add_sender(&state, SenderKind::Sms, &s, b).await
}
pub async fn list_sms_senders(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(s): Path<String>,
) -> AdminResponse {
    list_senders(&state, SenderKind::Sms, &s).await
}
pub async fn add_reply_to(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(s): Path<String>,
    AdminJson(b): AdminJson<AddSenderBody>,
) -> AdminResponse {
    add_sender(&state, SenderKind::ReplyTo, &s, b).await
}
pub async fn list_reply_to(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(s): Path<String>,
) -> AdminResponse {
    list_senders(&state, SenderKind::ReplyTo, &s).await
}
pub async fn add_letter_contact(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(s): Path<String>,
    AdminJson(b): AdminJson<AddSenderBody>,
) -> AdminResponse {
    add_sender(&state, SenderKind::LetterContact, &s, b).await
}
pub async fn list_letter_contacts(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(s): Path<String>,
) -> AdminResponse {
    list_senders(&state, SenderKind::LetterContact, &s).await
}

pub async fn get_guest_list(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
) -> AdminResponse {
    let entries = state.db.guest_list(id(&service_id)?).await?;
    let of = |kind: RecipientKind| {
        entries
            .iter()
            .filter(|e| RecipientKind::parse(&e.recipient_type) == Some(kind))
            .map(|e| e.recipient.clone())
            .collect::<Vec<_>>()
    };
    Ok(Json(json!({
        "email_addresses": of(RecipientKind::Email),
        "phone_numbers": of(RecipientKind::Mobile),
    }))
    .into_response())
}

pub async fn update_guest_list(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
    AdminJson(body): AdminJson<GuestListBody>,
) -> AdminResponse {
    let mut entries = Vec::new();
    for (items, kind) in [
        (&body.email_addresses, RecipientKind::Email),
        (&body.phone_numbers, RecipientKind::Mobile),
    ] {
        for item in items.iter().flatten() {
            let text = item.as_str().unwrap_or_default().trim().to_string();
            if text.is_empty() {
                continue;
            }
            let valid = match kind {
                RecipientKind::Email => EmailAddress::parse(&text).is_ok(),
                RecipientKind::Mobile => PhoneNumber::parse(&text).is_ok(),
            };
            if !valid {
                return Err(AdminError::bad_request(format!(
                    "Invalid guest list: \"{text}\" is not a valid email address or phone number"
                )));
            }
            entries.push((kind.as_str().to_string(), text));
        }
    }
    state
        .db
        .replace_guest_list(id(&service_id)?, &entries)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
