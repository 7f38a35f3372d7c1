//! JSON-schema-like validation with Notify's message texts (contract §4.2): every error collected, property
//! errors first (in schema order), then `required`, then additional properties.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::templates::placeholders::python_repr;

pub enum Rule {
    String {
        max_length: Option<usize>,
    },
    Uuid,
    Object,
    /// `array` or `null`.
    ArrayOrNull,
    HttpsUrl,
    OneOf(&'static [&'static str], &'static str),
    /// A custom check returning the message after the field name.
    Custom(fn(&Value) -> Option<String>),
}

pub struct Field {
    pub name: &'static str,
    pub required: bool,
    pub rule: Rule,
}

pub const fn field(name: &'static str, required: bool, rule: Rule) -> Field {
    Field {
        name,
        required,
        rule,
    }
}

/// Python's jsonschema type message, with quotes stripped as Notify does.
fn not_of_type(value: &Value, type_name: &str) -> String {
    format!(
        "{} is not of type {type_name}",
        python_repr(value).replace('\'', "")
    )
}

static HTTPS_URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^https://[^\s/?#]+[^\s]*$").expect("valid regex"));

/// Notify's UUID check is Python's `UUID()`: hyphens optional, braces and `urn:uuid:` allowed.
pub fn parse_uuid(text: &str) -> Option<Uuid> {
    Uuid::parse_str(text.trim()).ok()
}

fn check(rule: &Rule, name: &str, value: &Value) -> Option<String> {
    match rule {
        Rule::String { max_length } => match value {
            Value::String(s) => match max_length {
                Some(max) if s.chars().count() > *max => Some(format!("{name} {s} is too long")),
                _ => None,
            },
            other => Some(format!("{name} {}", not_of_type(other, "string"))),
        },
        Rule::Uuid => match value {
            Value::String(s) if parse_uuid(s).is_some() => None,
            _ => Some(format!("{name} is not a valid UUID")),
        },
        Rule::Object => {
            (!value.is_object()).then(|| format!("{name} {}", not_of_type(value, "object")))
        }
        Rule::ArrayOrNull => (!value.is_array() && !value.is_null())
            .then(|| format!("{name} {}", not_of_type(value, "array, null"))),
        Rule::HttpsUrl => match value {
            Value::String(s) if HTTPS_URL.is_match(s) && url::Url::parse(s).is_ok() => None,
            _ => Some(format!("{name} is not a valid https url")),
        },
        Rule::OneOf(allowed, message) => match value {
            Value::String(s) if allowed.contains(&s.as_str()) => None,
            _ => Some(format!("{name} {message}")),
        },
        Rule::Custom(f) => f(value).map(|m| format!("{name} {m}")),
    }
}

/// Validates a JSON object body against `fields`; `allow_additional` is false for every send request.
pub fn validate(
    body: &Map<String, Value>,
    fields: &[Field],
    allow_additional: bool,
) -> Vec<String> {
    let mut errors: Vec<String> = Vec::new();
    let mut push = |message: String| {
        if !errors.contains(&message) {
            errors.push(message);
        }
    };
    for f in fields {
        if let Some(value) = body.get(f.name)
            && let Some(message) = check(&f.rule, f.name, value)
        {
            push(message);
        }
    }
    for f in fields.iter().filter(|f| f.required) {
        if !body.contains_key(f.name) {
            push(format!("{} is a required property", f.name));
        }
    }
    if !allow_additional {
        let mut extra: Vec<&str> = body
            .keys()
            .map(String::as_str)
            .filter(|k| !fields.iter().any(|f| f.name == *k))
            .collect();
        extra.sort_unstable();
        match extra.len() {
            0 => {}
            1 => push(format!(
                "Additional properties are not allowed ({} was unexpected)",
                extra[0]
            )),
            _ => push(format!(
                "Additional properties are not allowed ({} were unexpected)",
                extra.join(", ")
            )),
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_in_notify_order() {
        let fields = [
            field("phone_number", true, Rule::String { max_length: None }),
            field("template_id", true, Rule::Uuid),
            field(
                "reference",
                false,
                Rule::String {
                    max_length: Some(3),
                },
            ),
        ];
        let body = json!({"phone_number": 7700900001_i64, "reference": "abcd", "b": 1, "a": 2});
        assert_eq!(
            validate(body.as_object().unwrap(), &fields, false),
            [
                "phone_number 7700900001 is not of type string",
                "reference abcd is too long",
                "template_id is a required property",
                "Additional properties are not allowed (a, b were unexpected)",
            ]
        );
    }

    #[test]
    fn python_reprs_in_type_errors() {
        let fields = [
            field("personalisation", false, Rule::Object),
            field("x", false, Rule::String { max_length: None }),
        ];
        let body = json!({"personalisation": "not_a_dict", "x": null});
        assert_eq!(
            validate(body.as_object().unwrap(), &fields, true),
            [
                "personalisation not_a_dict is not of type object",
                "x None is not of type string"
            ]
        );
    }
}
