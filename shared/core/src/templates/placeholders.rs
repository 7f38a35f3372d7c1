//! `((placeholders))`: names matched ignoring case, spaces, `_` and `-`; `((name??text))` conditionals; lists.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

static PLACEHOLDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\(\(([^()]+)\)\)").expect("valid regex"));

/// How a key is compared: `((First Name))` fills from `first_name`.
pub fn normalise_key(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-') && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

fn split_conditional(inner: &str) -> (&str, Option<&str>) {
    match inner.split_once("??") {
        Some((name, text)) => (name, Some(text)),
        None => (inner, None),
    }
}

/// Placeholder names as written in the template, first spelling of each, in order of appearance.
pub fn placeholder_names(texts: &[&str]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut names = Vec::new();
    for text in texts {
        for captures in PLACEHOLDER.captures_iter(text) {
            let (name, _) = split_conditional(&captures[1]);
            let name = name.trim();
            if seen.insert(normalise_key(name)) {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// How list values are joined: as markdown bullets for email and letters, as prose for texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListStyle {
    Bullets,
    Prose,
}

/// Personalisation with Notify's key matching. `null` counts as missing, as upstream.
#[derive(Clone, Debug, Default)]
pub struct Values {
    by_key: HashMap<String, Value>,
}

impl Values {
    pub fn new(personalisation: &Map<String, Value>) -> Self {
        let mut by_key = HashMap::new();
        for (key, value) in personalisation {
            if !value.is_null() {
                by_key
                    .entry(normalise_key(key))
                    .or_insert_with(|| value.clone());
            }
        }
        Values { by_key }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.by_key.get(&normalise_key(name))
    }

    /// Names (as written in `texts`) that have no value.
    pub fn missing(&self, texts: &[&str]) -> Vec<String> {
        placeholder_names(texts)
            .into_iter()
            .filter(|n| self.get(n).is_none())
            .collect()
    }

    /// Fills every placeholder that has a value; others are left as written.
    pub fn fill(&self, text: &str, lists: ListStyle, escape: fn(&str) -> String) -> String {
        PLACEHOLDER
            .replace_all(text, |captures: &regex::Captures<'_>| {
                let (name, conditional) = split_conditional(&captures[1]);
                match (self.get(name.trim()), conditional) {
                    (None, _) => captures[0].to_string(),
                    (Some(value), Some(text)) => {
                        if is_truthy(value) {
                            text.to_string()
                        } else {
                            String::new()
                        }
                    }
                    (Some(value), None) => escape(&value_to_text(value, lists)),
                }
            })
            .into_owned()
    }
}

/// Notify's idea of "yes" for conditional placeholders.
fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f == 1.0),
        Value::String(s) => {
            matches!(
                s.trim().to_lowercase().as_str(),
                "yes" | "y" | "true" | "t" | "1" | "include" | "show"
            )
        }
        _ => false,
    }
}

/// Values become text the way Python's `str()` would make them.
pub fn value_to_text(value: &Value, lists: ListStyle) -> String {
    match value {
        Value::Array(items) => {
            let items: Vec<String> = items
                .iter()
                .filter(|v| !v.is_null())
                .map(python_str)
                .filter(|s| !s.trim().is_empty())
                .collect();
            match lists {
                ListStyle::Bullets => {
                    let bullets: Vec<String> = items.iter().map(|i| format!("* {i}")).collect();
                    format!("\n\n{}\n", bullets.join("\n"))
                }
                ListStyle::Prose => match items.len() {
                    0 => String::new(),
                    1 => items[0].clone(),
                    n => format!("{} and {}", items[..n - 1].join(", "), items[n - 1]),
                },
            }
        }
        other => python_str(other),
    }
}

pub fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

/// Python's `repr()` of a JSON value, used by validation messages and `str()` of containers.
pub fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => {
            if n.is_f64() {
                let f = n.as_f64().unwrap_or_default();
                if f.fract() == 0.0 && f.abs() < 1e16 {
                    format!("{f:.1}")
                } else {
                    f.to_string()
                }
            } else {
                n.to_string()
            }
        }
        Value::String(s) => format!("'{s}'"),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("'{k}': {}", python_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(v: Value) -> Values {
        Values::new(v.as_object().unwrap())
    }

    #[test]
    fn names_match_loosely() {
        let v = values(json!({"first_name": "Amala", "DAY-OF-WEEK": "Monday"}));
        assert_eq!(
            v.fill(
                "Hi ((First Name)), ((day of week))",
                ListStyle::Prose,
                str::to_string
            ),
            "Hi Amala, Monday"
        );
    }

    #[test]
    fn missing_and_null_are_reported_as_written() {
        let v = values(json!({"name": null, "other": ""}));
        assert_eq!(
            v.missing(&["((Name)) ((date)) ((other)) ((name))"]),
            ["Name", "date"]
        );
    }

    #[test]
    fn conditionals_and_lists() {
        let v = values(json!({"show": "Yes", "hide": "no", "items": ["a", "b", null, "c"]}));
        assert_eq!(
            v.fill(
                "((show??shown))((hide??hidden))",
                ListStyle::Prose,
                str::to_string
            ),
            "shown"
        );
        assert_eq!(
            v.fill("((items))", ListStyle::Prose, str::to_string),
            "a, b and c"
        );
        assert_eq!(
            v.fill("((items))", ListStyle::Bullets, str::to_string),
            "\n\n* a\n* b\n* c\n"
        );
    }

    #[test]
    fn python_style_text() {
        assert_eq!(
            python_repr(&json!({"a": [1, true, null]})),
            "{'a': [1, True, None]}"
        );
        assert_eq!(python_str(&json!(2.0)), "2.0");
        assert_eq!(python_str(&json!(12)), "12");
    }
}
