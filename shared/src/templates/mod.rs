//! Rendering templates with personalisation, for every channel.

pub mod email;
pub mod placeholders;
pub mod sms;

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::model::{NotificationType, Template};
pub use placeholders::{ListStyle, Values, placeholder_names};

pub const EMAIL_MAX_BYTES: usize = 2_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// SMS: the text without the service-name prefix. Email and letter: markdown with values filled in.
    pub body: String,
    pub subject: Option<String>,
    /// Email only.
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
                body: email::plain_text_body(&markdown),
                subject: Some(email::subject(&values.fill(
                    subject_text,
                    ListStyle::Prose,
                    identity,
                ))),
                html: Some(html),
            }
        }
        NotificationType::Letter => Rendered {
            body: values
                .fill(&template.content, ListStyle::Bullets, identity)
                .trim()
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

static URL_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:[a-z][a-z0-9+.-]*://\S+|(?:[a-z0-9-]+\.)+[a-z]{2,}(?:/\S*)?)")
        .expect("valid regex")
});

/// Takes links and markdown out of a value so that a recipient cannot be shown a link they did not expect.
pub fn sanitise_value(value: &str) -> String {
    let without_links = URL_LIKE.replace_all(value, |c: &regex::Captures<'_>| {
        let m = &c[0];
        if m.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '.' || ch == '-')
        {
            m.replace('.', ". ")
        } else {
            String::new()
        }
    });
    let mut out = String::with_capacity(without_links.len());
    for c in without_links.chars() {
        if "`*_(){}[]<>#+-.!|\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitising_values() {
        assert_eq!(
            sanitise_value("see example.com now"),
            "see example\\. com now"
        );
        assert_eq!(sanitise_value("go https://evil.test/x"), "go ");
        assert_eq!(sanitise_value("*bold* (x)"), "\\*bold\\* \\(x\\)");
    }
}
