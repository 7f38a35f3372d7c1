//! JSON-schema-like parsing with Notify's message texts (contract §4.2): a body is read once into typed
//! values while every error is collected, property errors first (in schema order), then `required`, then
//! additional properties.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::templates::placeholders::python_repr;

/// Python's jsonschema type message, with quotes stripped as Notify does.
pub fn not_of_type(value: &Value, type_name: &str) -> String {
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

/// A rule reads one present property (null included) into `T`, or gives the whole message.
pub type RuleResult<T> = Result<T, String>;

/// A string, at most `max_length` characters when given.
pub fn string(max_length: Option<usize>) -> impl FnOnce(&str, &Value) -> RuleResult<String> {
    move |name, value| match value {
        Value::String(s) => match max_length {
            Some(max) if s.chars().count() > max => Err(format!("{name} {s} is too long")),
            // Postgres text cannot hold NUL: refused here, not a failed INSERT (a 500) later.
            _ if s.contains('\0') => Err(format!("{name} must not contain NUL characters")),
            _ => Ok(s.clone()),
        },
        other => Err(format!("{name} {}", not_of_type(other, "string"))),
    }
}

pub fn uuid(name: &str, value: &Value) -> RuleResult<Uuid> {
    value
        .as_str()
        .and_then(parse_uuid)
        .ok_or_else(|| format!("{name} is not a valid UUID"))
}

pub fn object(name: &str, value: &Value) -> RuleResult<Map<String, Value>> {
    value
        .as_object()
        .cloned()
        .ok_or_else(|| format!("{name} {}", not_of_type(value, "object")))
}

/// `array` or `null`.
pub fn array_or_null(name: &str, value: &Value) -> RuleResult<Option<Vec<Value>>> {
    match value {
        Value::Array(items) => Ok(Some(items.clone())),
        Value::Null => Ok(None),
        other => Err(format!("{name} {}", not_of_type(other, "array, null"))),
    }
}

pub fn https_url(name: &str, value: &Value) -> RuleResult<String> {
    match value {
        // A control character is not allowed in a URL (RFC 3986), and Postgres cannot store a NUL.
        Value::String(s)
            if HTTPS_URL.is_match(s)
                && !s.chars().any(char::is_control)
                && url::Url::parse(s).is_ok() =>
        {
            Ok(s.clone())
        }
        _ => Err(format!("{name} is not a valid https url")),
    }
}

/// One of `allowed`; otherwise `message` after the field name.
pub fn one_of(
    allowed: &'static [&'static str],
    message: &'static str,
) -> impl FnOnce(&str, &Value) -> RuleResult<String> {
    move |name, value| match value {
        Value::String(s) if allowed.contains(&s.as_str()) => Ok(s.clone()),
        _ => Err(format!("{name} {message}")),
    }
}

/// Reads the properties of one JSON object body in schema order, collecting every error.
pub struct Fields<'a> {
    body: &'a Map<String, Value>,
    known: Vec<&'static str>,
    errors: Vec<String>,
    missing: Vec<String>,
}

impl<'a> Fields<'a> {
    pub fn new(body: &'a Map<String, Value>) -> Self {
        Fields {
            body,
            known: Vec::new(),
            errors: Vec::new(),
            missing: Vec::new(),
        }
    }

    fn push(errors: &mut Vec<String>, message: String) {
        if !errors.contains(&message) {
            errors.push(message);
        }
    }

    /// A property read when present (a `null` too): `None` when absent or in error.
    pub fn optional<T>(
        &mut self,
        name: &'static str,
        rule: impl FnOnce(&str, &Value) -> RuleResult<T>,
    ) -> Option<T> {
        self.known.push(name);
        let value = self.body.get(name)?;
        match rule(name, value) {
            Ok(v) => Some(v),
            Err(message) => {
                Self::push(&mut self.errors, message);
                None
            }
        }
    }

    /// A property that must be there: its absence is reported after every property error.
    pub fn required<T>(
        &mut self,
        name: &'static str,
        rule: impl FnOnce(&str, &Value) -> RuleResult<T>,
    ) -> Option<T> {
        if !self.body.contains_key(name) {
            self.missing.push(format!("{name} is a required property"));
        }
        self.optional(name, rule)
    }

    /// Every error, in Notify's order; additional properties are never allowed in a send body.
    pub fn finish(self) -> Vec<String> {
        let Fields {
            body,
            known,
            mut errors,
            missing,
        } = self;
        for message in missing {
            Self::push(&mut errors, message);
        }
        let mut extra: Vec<&str> = body
            .keys()
            .map(String::as_str)
            .filter(|k| !known.contains(k))
            .collect();
        extra.sort_unstable();
        match extra.len() {
            0 => {}
            1 => Self::push(
                &mut errors,
                format!(
                    "Additional properties are not allowed ({} was unexpected)",
                    extra[0]
                ),
            ),
            _ => Self::push(
                &mut errors,
                format!(
                    "Additional properties are not allowed ({} were unexpected)",
                    extra.join(", ")
                ),
            ),
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_is_refused_before_it_reaches_postgres() {
        let body = json!({"reference": "a\u{0}b", "url": "https://example.gov.uk/\u{0}"});
        let mut fields = Fields::new(body.as_object().unwrap());
        assert_eq!(fields.optional("reference", string(Some(10))), None);
        assert_eq!(fields.optional("url", https_url), None);
        assert_eq!(
            fields.finish(),
            [
                "reference must not contain NUL characters",
                "url is not a valid https url"
            ]
        );
    }

    #[test]
    fn messages_in_notify_order() {
        let body = json!({"phone_number": 7700900001_i64, "reference": "abcd", "b": 1, "a": 2});
        let mut fields = Fields::new(body.as_object().unwrap());
        let phone = fields.required("phone_number", string(None));
        let template_id = fields.required("template_id", uuid);
        let reference = fields.optional("reference", string(Some(3)));
        assert_eq!((phone, template_id, reference), (None, None, None));
        assert_eq!(
            fields.finish(),
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
        let body = json!({"personalisation": "not_a_dict", "x": null});
        let mut fields = Fields::new(body.as_object().unwrap());
        fields.optional("personalisation", object);
        fields.optional("x", string(None));
        assert_eq!(
            fields.finish(),
            [
                "personalisation not_a_dict is not of type object",
                "x None is not of type string"
            ]
        );
    }

    #[test]
    fn values_come_out_typed() {
        let id = Uuid::new_v4();
        let body =
            json!({"template_id": id.simple().to_string(), "postage": "first", "list": null});
        let mut fields = Fields::new(body.as_object().unwrap());
        assert_eq!(fields.required("template_id", uuid), Some(id));
        assert_eq!(
            fields.optional("postage", one_of(&["first", "second"], "invalid")),
            Some("first".to_string())
        );
        assert_eq!(fields.optional("list", array_or_null), Some(None));
        assert_eq!(fields.optional("absent", array_or_null), None);
        assert!(fields.finish().is_empty());
    }
}
