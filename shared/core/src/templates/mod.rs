//! Rendering templates with personalisation, for every channel.

pub mod email;
pub mod email_layout;
pub mod placeholders;
mod sanitise;
pub mod sms;

use serde_json::{Map, Value, json};

use crate::model::{NotificationType, Template};
pub use placeholders::{ListStyle, Values, placeholder_names};
pub use sanitise::sanitise_value;

pub const EMAIL_MAX_BYTES: usize = 2_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// SMS: the text without the service-name prefix. Email and letter: the template's markdown with values
    /// filled in, stripped, line endings as stored (upstream's `content_with_placeholders_filled_in`): what the
    /// API returns. Delivery makes the email's text part from it.
    pub body: String,
    pub subject: Option<String>,
    /// Email only: the body as HTML, which [`email_layout::html_document`] puts into the email's layout.
    pub html: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("Missing personalisation: {}", .0.join(", "))]
    MissingPersonalisation(Vec<String>),
}

fn identity(s: &str) -> String {
    s.to_string()
}

/// Python's `str.strip()`: its whitespace also takes the four separators U+001C to U+001F.
fn python_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Every placeholder the template needs, as `GET /v2/template` lists them.
pub fn template_placeholders(template: &Template) -> Vec<String> {
    let mut texts = vec![
        template.subject.as_deref().unwrap_or(""),
        template.content.as_str(),
    ];
    if template.template_type == NotificationType::Letter {
        texts.push(template.letter_contact_block.as_deref().unwrap_or(""));
    }
    placeholder_names(&texts)
}

pub fn render(
    template: &Template,
    personalisation: &Map<String, Value>,
) -> Result<Rendered, RenderError> {
    let values = Values::new(personalisation);
    let subject_text = template.subject.as_deref().unwrap_or("");
    let missing = match template.template_type {
        NotificationType::Sms => values.missing(&[&template.content]),
        _ => values.missing(&[subject_text, &template.content]),
    };
    if !missing.is_empty() {
        return Err(RenderError::MissingPersonalisation(missing));
    }
    Ok(render_unchecked(template, &values))
}

/// Renders what it can: for reading back stored notifications, where missing values cannot happen.
pub fn render_unchecked(template: &Template, values: &Values) -> Rendered {
    let subject_text = template.subject.as_deref().unwrap_or("");
    match template.template_type {
        NotificationType::Sms => Rendered {
            body: sms::normalise(&values.fill(&template.content, ListStyle::Prose, identity)),
            subject: None,
            html: None,
        },
        NotificationType::Email => {
            let markdown = values.fill(&template.content, ListStyle::Bullets, identity);
            // The unsubscribe footer needs the notification's own link: the delivery worker adds it.
            let html = email::html_body(&markdown);
            Rendered {
                body: python_strip(&markdown).to_string(),
                subject: Some(email::subject(&values.fill(
                    subject_text,
                    ListStyle::Prose,
                    identity,
                ))),
                html: Some(html),
            }
        }
        NotificationType::Letter => Rendered {
            body: python_strip(&values.fill(&template.content, ListStyle::Bullets, identity))
                .to_string(),
            subject: Some(escape_html(&email::subject(&values.fill(
                subject_text,
                ListStyle::Prose,
                identity,
            )))),
            html: None,
        },
    }
}

/// The v2 representation of a template (§3.8); the admin API adds to it.
pub fn template_json(template: &Template) -> Value {
    let personalisation: Map<String, Value> = template_placeholders(template)
        .into_iter()
        .map(|name| (name, json!({"required": true})))
        .collect();
    json!({
        "id": template.id,
        "type": template.template_type,
        "created_at": crate::time::format(template.created_at),
        "updated_at": crate::time::format_opt(template.updated_at),
        "created_by": template.created_by_email,
        "version": template.version,
        "body": template.content,
        "subject": if template.template_type == NotificationType::Sms { None } else { template.subject.clone() },
        "name": template.name,
        "personalisation": personalisation,
        "postage": template.postage,
        "letter_contact_block": template.letter_contact_block,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(kind: NotificationType, content: &str) -> Template {
        Template {
            id: uuid::Uuid::nil(),
            service_id: uuid::Uuid::nil(),
            version: 1,
            name: "t".into(),
            template_type: kind,
            content: content.into(),
            subject: Some("Subject".into()),
            archived: false,
            hidden: false,
            postage: None,
            letter_contact_block: None,
            has_unsubscribe_link: false,
            created_at: chrono::Utc::now(),
            updated_at: None,
            created_by_email: None,
            letter_languages: Default::default(),
            letter_welsh_subject: None,
            letter_welsh_content: None,
        }
    }

    /// Only delivery may change line endings: the body the API returns keeps the template's.
    #[test]
    fn email_and_letter_bodies_keep_their_line_endings() {
        let values = json!({"name": "Anne"}).as_object().unwrap().clone();
        let content = "\r\nHello ((name))\r\n\r\n\r\n\r\nBye\r\n \u{1f}";
        for kind in [NotificationType::Email, NotificationType::Letter] {
            let rendered = render(&template(kind, content), &values).unwrap();
            assert_eq!(rendered.body, "Hello Anne\r\n\r\n\r\n\r\nBye", "{kind:?}");
        }
        let text = email::plain_text_body(
            &render(&template(NotificationType::Email, content), &values)
                .unwrap()
                .body,
        );
        assert_eq!(text, "Hello Anne\n\nBye");
    }
}
