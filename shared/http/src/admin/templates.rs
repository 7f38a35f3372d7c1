//! A service's templates and their versions.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::bodies::{CreateTemplateBody, UpdateTemplateBody, required};
use super::{AdminAuth, AdminJson, AdminResponse, data, data_list, id};
use crate::errors::AdminError;
use notify_app::{AppState, admin};
use notify_core::model::{NotificationType, Postage};
use notify_db::TemplateUpdate;

fn parse_type(template_type: Option<String>) -> Result<NotificationType, AdminError> {
    let t = required(template_type, "template_type")?;
    NotificationType::parse(&t).ok_or_else(|| {
        AdminError::fields(vec![(
            "template_type",
            format!("{t} is not one of [sms, email, letter]"),
        )])
    })
}

pub async fn create_template(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
    AdminJson(body): AdminJson<CreateTemplateBody>,
) -> AdminResponse {
    let service_id = id(&service_id)?;
    state
        .db
        .get_service(service_id)
        .await?
        .ok_or_else(AdminError::not_found)?;
    let languages = admin::LetterLanguagesRequest {
        letter_languages: body.letter_languages,
        letter_welsh_subject: body.letter_welsh_subject,
        letter_welsh_content: body.letter_welsh_content,
    };
    let template = admin::create_template_in(
        &state,
        admin::CreateTemplate {
            service_id,
            name: required(body.name, "name")?,
            template_type: parse_type(body.template_type)?,
            content: required(body.content, "content")?,
            subject: body.subject,
            postage: body.postage.as_deref().and_then(Postage::parse),
            created_by: body.created_by.get("created_by")?,
            letter_contact_id: body.reply_to.get("reply_to")?,
            has_unsubscribe_link: body.has_unsubscribe_link.unwrap_or(false),
        },
        languages,
    )
    .await?;
    data(StatusCode::CREATED, admin::template_admin_json(&template))
}

pub async fn update_template(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((service_id, template_id)): Path<(String, String)>,
    AdminJson(body): AdminJson<UpdateTemplateBody>,
) -> AdminResponse {
    let service_id = id(&service_id)?;
    let template_id = id(&template_id)?;
    let languages = admin::LetterLanguagesRequest {
        letter_languages: body.letter_languages,
        letter_welsh_subject: body.letter_welsh_subject,
        letter_welsh_content: body.letter_welsh_content,
    };
    let letter_languages = if languages.is_given() {
        let current = state
            .db
            .get_template(service_id, template_id, None)
            .await?
            .ok_or_else(AdminError::not_found)?;
        Some(languages.check(current.template_type)?)
    } else {
        None
    };
    let update = TemplateUpdate {
        letter_languages,
        name: body.name,
        content: body.content,
        subject: body.subject,
        postage: body.postage.as_deref().and_then(Postage::parse),
        archived: body.archived,
        service_letter_contact_id: if body.reply_to.is_present() {
            Some(body.reply_to.get("reply_to")?)
        } else {
            None
        },
        has_unsubscribe_link: body.has_unsubscribe_link,
        created_by_id: body.created_by.get("created_by")?,
    };
    let template = state
        .db
        .update_template(service_id, template_id, &update)
        .await?
        .ok_or_else(AdminError::not_found)?;
    data(StatusCode::OK, admin::template_admin_json(&template))
}

pub async fn get_template(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((service_id, template_id)): Path<(String, String)>,
) -> AdminResponse {
    let template = state
        .db
        .get_template(id(&service_id)?, id(&template_id)?, None)
        .await?
        .ok_or_else(AdminError::not_found)?;
    data(StatusCode::OK, admin::template_admin_json(&template))
}

pub async fn template_versions(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((service_id, template_id)): Path<(String, String)>,
) -> AdminResponse {
    let versions = state
        .db
        .template_versions(id(&service_id)?, id(&template_id)?)
        .await?;
    if versions.is_empty() {
        return Err(AdminError::not_found());
    }
    data_list(&versions, admin::template_admin_json)
}

pub async fn list_templates(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
) -> AdminResponse {
    let templates = state.db.list_templates(id(&service_id)?, None).await?;
    data_list(&templates, admin::template_admin_json)
}
