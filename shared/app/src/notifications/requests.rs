//! Send bodies read once into typed requests, every error collected in Notify's order and words.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use notify_core::callbacks::CallbackUrl;
use notify_core::errors::V2Error;
use notify_core::model::Postage;
use notify_core::recipients::{EmailAddress, PhoneNumber};
use notify_core::schema::{self, Fields, RuleResult, not_of_type};
use notify_core::templates;
use notify_core::templates::Values;
use notify_core::templates::placeholders::python_str;

/// A POST's body read as JSON once: an Idempotency-Key's fingerprint and the endpoint's request both take it.
pub struct JsonBody<'a> {
    raw: &'a [u8],
    json: Option<Value>,
}

impl<'a> JsonBody<'a> {
    pub fn read(raw: &'a [u8]) -> Self {
        JsonBody {
            raw,
            json: serde_json::from_slice(raw).ok(),
        }
    }

    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// `None` when the body is not JSON.
    pub fn value(&self) -> Option<&Value> {
        self.json.as_ref()
    }

    /// A send body is a JSON object; anything else is refused before its properties are looked at.
    pub fn into_object(self) -> Result<Map<String, Value>, V2Error> {
        match self.json {
            Some(Value::Object(map)) => Ok(map),
            Some(other) => Err(V2Error::validation(vec![format!(
                "{} is not of type object",
                templates::placeholders::python_repr(&other).replace('\'', "")
            )])),
            None => Err(V2Error::bad_request("Invalid JSON supplied in POST data")),
        }
    }
}

fn phone_number(name: &str, value: &Value) -> RuleResult<PhoneNumber> {
    match value {
        Value::String(s) => {
            PhoneNumber::parse(s).map_err(|e| format!("{name} {}", e.legacy_message()))
        }
        other => Err(format!("{name} {}", not_of_type(other, "string"))),
    }
}

fn email_address(name: &str, value: &Value) -> RuleResult<EmailAddress> {
    match value {
        Value::String(s) => EmailAddress::parse(s).map_err(|e| format!("{name} {e}")),
        other => Err(format!("{name} {}", not_of_type(other, "string"))),
    }
}

/// GC Notify's limit on how far ahead a single send may be scheduled (its `JOBS_MAX_SCHEDULE_HOURS_AHEAD`).
pub const MAX_SCHEDULE_HOURS_AHEAD: i64 = 96;

/// `null`, or a time from `now` to [`MAX_SCHEDULE_HOURS_AHEAD`] hours ahead, in GC Notify's words. A time without
/// an offset is UTC.
fn scheduled_for(now: DateTime<Utc>) -> impl Fn(&str, &Value) -> RuleResult<Option<DateTime<Utc>>> {
    move |name, value| {
        let text = match value {
            Value::Null => return Ok(None),
            Value::String(s) => s,
            other => return Err(format!("{name} {}", not_of_type(other, "string, null"))),
        };
        let parsed = DateTime::parse_from_rfc3339(text)
            .map(|d| d.with_timezone(&Utc))
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").map(|d| d.and_utc())
            })
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                    .map(|d| d.and_utc())
            })
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").map(|d| d.and_utc())
            });
        // Microseconds, as Postgres keeps it: the 201 shows the time the GET will.
        let Ok(at) = parsed.map(|at| chrono::SubsecRound::trunc_subsecs(at, 6)) else {
            return Err(format!(
                "{name} datetime format is invalid. It must be a valid ISO8601 date time format, https://en.wikipedia.org/wiki/ISO_8601"
            ));
        };
        if at < now {
            Err(format!("{name} datetime cannot be in the past"))
        } else if at > now + Duration::hours(MAX_SCHEDULE_HOURS_AHEAD) {
            Err(format!(
                "{name} datetime can only be up to {MAX_SCHEDULE_HOURS_AHEAD} hours in the future"
            ))
        } else {
            Ok(Some(at))
        }
    }
}

/// This notification's own delivery-status callback address: not in Notify's schema (the official clients
/// never send it), accepted as one more property.
fn callback_url(name: &str, value: &Value) -> RuleResult<CallbackUrl> {
    match value {
        Value::String(s) => CallbackUrl::parse(s).map_err(|e| format!("{name} {e}")),
        _ => Err(format!("{name} is not a valid https url")),
    }
}

fn letter_postage(name: &str, value: &Value) -> RuleResult<Postage> {
    match value.as_str() {
        Some("first") => Ok(Postage::First),
        Some("second") => Ok(Postage::Second),
        Some("economy") => Ok(Postage::Economy),
        _ => Err(format!(
            "{name} invalid. It must be either first, second or economy."
        )),
    }
}

/// The errors, or nothing when the required values are all there.
fn outcome<T>(errors: Vec<String>, complete: Option<T>) -> Result<T, V2Error> {
    match complete {
        Some(request) if errors.is_empty() => Ok(request),
        _ => Err(V2Error::validation(errors)),
    }
}

/// `POST /v2/notifications/sms`.
#[derive(Clone, Debug)]
pub struct SmsRequest {
    pub phone_number: PhoneNumber,
    pub template_id: Uuid,
    pub personalisation: Map<String, Value>,
    pub reference: Option<String>,
    pub sms_sender_id: Option<Uuid>,
    /// Stored with the send and released at that time (GC Notify's scheduled sends).
    pub scheduled_for: Option<DateTime<Utc>>,
    pub callback_url: Option<CallbackUrl>,
}

impl SmsRequest {
    /// `now` is the time the send is accepted at, which `scheduled_for` is checked against.
    pub fn parse(body: &Map<String, Value>, now: DateTime<Utc>) -> Result<Self, V2Error> {
        let mut f = Fields::new(body);
        let phone_number = f.required("phone_number", phone_number);
        let template_id = f.required("template_id", schema::uuid);
        let personalisation = f.optional("personalisation", schema::object);
        let reference = f.optional("reference", schema::string(Some(1000)));
        let sms_sender_id = f.optional("sms_sender_id", schema::uuid);
        let scheduled_for = f.optional("scheduled_for", scheduled_for(now)).flatten();
        let callback_url = f.optional("callback_url", callback_url);
        let complete = phone_number
            .zip(template_id)
            .map(|(phone_number, template_id)| SmsRequest {
                phone_number,
                template_id,
                personalisation: personalisation.unwrap_or_default(),
                reference,
                sms_sender_id,
                scheduled_for,
                callback_url,
            });
        outcome(f.finish(), complete)
    }
}

/// `POST /v2/notifications/email`.
#[derive(Clone, Debug)]
pub struct EmailRequest {
    pub email_address: EmailAddress,
    pub template_id: Uuid,
    pub personalisation: Map<String, Value>,
    pub reference: Option<String>,
    pub email_reply_to_id: Option<Uuid>,
    pub one_click_unsubscribe_url: Option<String>,
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Personalisation keys whose values are sanitised, normalised as placeholders are.
    pub sanitise_content_for: Vec<String>,
    pub callback_url: Option<CallbackUrl>,
}

impl EmailRequest {
    pub fn parse(body: &Map<String, Value>, now: DateTime<Utc>) -> Result<Self, V2Error> {
        let mut f = Fields::new(body);
        let email_address = f.required("email_address", email_address);
        let template_id = f.required("template_id", schema::uuid);
        let personalisation = f.optional("personalisation", schema::object);
        let reference = f.optional("reference", schema::string(Some(1000)));
        let email_reply_to_id = f.optional("email_reply_to_id", schema::uuid);
        let one_click_unsubscribe_url = f.optional("one_click_unsubscribe_url", schema::https_url);
        let scheduled_for = f.optional("scheduled_for", scheduled_for(now)).flatten();
        let sanitise_content_for: Vec<String> = f
            .optional("sanitise_content_for", schema::array_or_null)
            .flatten()
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
            .map(templates::placeholders::normalise_key)
            .collect();
        let callback_url = f.optional("callback_url", callback_url);
        let complete = email_address
            .zip(template_id)
            .map(|(email_address, template_id)| EmailRequest {
                email_address,
                template_id,
                personalisation: personalisation.unwrap_or_default(),
                reference,
                email_reply_to_id,
                one_click_unsubscribe_url,
                scheduled_for,
                sanitise_content_for,
                callback_url,
            });
        outcome(f.finish(), complete)
    }
}

/// `POST /v2/notifications/letter` with a template.
#[derive(Clone, Debug)]
pub struct LetterRequest {
    pub template_id: Uuid,
    pub personalisation: Map<String, Value>,
    pub reference: Option<String>,
    /// `address_line_1`…`address_line_6`, then `address_line_7` or else `postcode`, as submitted: made a
    /// [`notify_core::recipients::PostalAddress`] once the template checks have passed, as upstream orders its
    /// errors, with the service's international permission.
    pub address_lines: Vec<String>,
    pub callback_url: Option<CallbackUrl>,
}

fn address_lines(personalisation: &Map<String, Value>) -> Vec<String> {
    let values = Values::new(personalisation);
    let mut lines: Vec<String> = (1..=6)
        .filter_map(|n| values.get(&format!("address_line_{n}")).map(python_str))
        .collect();
    if let Some(last) = values
        .get("address_line_7")
        .or_else(|| values.get("postcode"))
    {
        lines.push(python_str(last));
    }
    lines
}

impl LetterRequest {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, V2Error> {
        let mut f = Fields::new(body);
        let template_id = f.required("template_id", schema::uuid);
        let personalisation = f.required("personalisation", schema::object);
        let reference = f.optional("reference", schema::string(Some(1000)));
        let callback_url = f.optional("callback_url", callback_url);
        let complete = template_id
            .zip(personalisation)
            .map(|(template_id, personalisation)| LetterRequest {
                template_id,
                address_lines: address_lines(&personalisation),
                personalisation,
                reference,
                callback_url,
            });
        outcome(f.finish(), complete)
    }
}

/// `POST /v2/notifications/letter` with the letter as a base64 PDF.
#[derive(Clone, Debug)]
pub struct PrecompiledLetterRequest {
    pub reference: String,
    /// Base64 as sent: decoding errors come after the permission checks.
    pub content: String,
    pub postage: Postage,
    pub callback_url: Option<CallbackUrl>,
}

impl PrecompiledLetterRequest {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, V2Error> {
        let mut f = Fields::new(body);
        let reference = f.required("reference", schema::string(None));
        let content = f.required("content", schema::string(None));
        let postage = f.optional("postage", letter_postage);
        let callback_url = f.optional("callback_url", callback_url);
        let complete =
            reference
                .zip(content)
                .map(|(reference, content)| PrecompiledLetterRequest {
                    reference,
                    content,
                    postage: postage.unwrap_or(Postage::Second),
                    callback_url,
                });
        outcome(f.finish(), complete)
    }
}

/// A letter body is precompiled when it has `content`.
#[derive(Clone, Debug)]
pub enum LetterBody {
    Templated(LetterRequest),
    Precompiled(PrecompiledLetterRequest),
}

impl LetterBody {
    pub fn is_precompiled(body: &Map<String, Value>) -> bool {
        body.contains_key("content")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors<T: std::fmt::Debug>(result: Result<T, V2Error>) -> Vec<String> {
        let body = result.unwrap_err().body();
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn sms_reads_typed_values() {
        let id = Uuid::new_v4();
        let body = json!({"phone_number": "07700 900123", "template_id": id, "reference": "r"});
        let request = SmsRequest::parse(body.as_object().unwrap(), Utc::now()).unwrap();
        assert_eq!(request.phone_number.normalised(), "447700900123");
        assert_eq!(request.template_id, id);
        assert_eq!(request.reference.as_deref(), Some("r"));
        assert!(request.personalisation.is_empty());
    }

    #[test]
    fn sms_errors_in_schema_order() {
        let body = json!({"phone_number": 7700900001_i64, "sms_sender_id": null, "x": 1});
        assert_eq!(
            errors(SmsRequest::parse(body.as_object().unwrap(), Utc::now())),
            [
                "phone_number 7700900001 is not of type string",
                "sms_sender_id is not a valid UUID",
                "template_id is a required property",
                "Additional properties are not allowed (x was unexpected)",
            ]
        );
    }

    #[test]
    fn callback_url_is_one_more_property_and_must_be_a_short_https_url() {
        let id = Uuid::new_v4();
        let body = json!({"phone_number": "07700900123", "template_id": id,
            "callback_url": "https://staging.example.gov.uk/notify"});
        let request = SmsRequest::parse(body.as_object().unwrap(), Utc::now()).unwrap();
        assert_eq!(
            request.callback_url.unwrap().as_str(),
            "https://staging.example.gov.uk/notify"
        );
        let long = format!("https://example.com/{}", "a".repeat(240));
        let body =
            json!({"email_address": "a@example.com", "template_id": id, "callback_url": long});
        assert_eq!(
            errors(EmailRequest::parse(body.as_object().unwrap(), Utc::now())),
            [format!("callback_url {long} is too long")]
        );
        for bad in [json!("http://example.com/cb"), json!(12), json!("https://")] {
            let body = json!({"template_id": id, "personalisation": {}, "callback_url": bad});
            assert_eq!(
                errors(LetterRequest::parse(body.as_object().unwrap())),
                ["callback_url is not a valid https url"]
            );
        }
    }

    #[test]
    fn letters_take_their_address_and_postage() {
        let body = json!({"template_id": Uuid::new_v4(), "personalisation": {
            "address_line_1": "A", "address_line_2": "B", "postcode": "SW1A 1AA"}});
        let request = LetterRequest::parse(body.as_object().unwrap()).unwrap();
        assert_eq!(request.address_lines, ["A", "B", "SW1A 1AA"]);
        let body = json!({"reference": "r", "content": "x", "postage": "air"});
        assert_eq!(
            errors(PrecompiledLetterRequest::parse(body.as_object().unwrap())),
            ["postage invalid. It must be either first, second or economy."]
        );
    }
}
