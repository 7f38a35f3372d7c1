//! The admin API's request bodies as types, read by [`AdminJson`](super::AdminJson).
//!
//! Fields are read as leniently as Notify's admin API reads them: a value of the wrong type counts as absent
//! (`Option`), except where the handler answers for it (required strings, UUIDs, permission lists), which
//! keep enough of what was sent for the handler to answer in the order it checks.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use uuid::Uuid;

use crate::errors::AdminError;

/// The value when it is of type `T`; `None` when it is absent, `null` or of another type.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

/// The value as sent when present, `null` included.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// An optional UUID property: absent, `null`, a UUID, or something else (answered "Not a valid UUID.").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UuidField {
    #[default]
    Absent,
    Null,
    Valid(Uuid),
    Invalid,
}

impl<'de> Deserialize<'de> for UuidField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => UuidField::Null,
            Value::String(s) => Uuid::parse_str(&s).map_or(UuidField::Invalid, UuidField::Valid),
            _ => UuidField::Invalid,
        })
    }
}

impl UuidField {
    pub fn get(self, name: &str) -> Result<Option<Uuid>, AdminError> {
        match self {
            UuidField::Absent | UuidField::Null => Ok(None),
            UuidField::Valid(id) => Ok(Some(id)),
            UuidField::Invalid => Err(AdminError::fields(vec![(name, "Not a valid UUID.".into())])),
        }
    }

    pub fn is_present(self) -> bool {
        self != UuidField::Absent
    }
}

/// A string the handler requires: absent or not a string is "Missing data for required field.".
pub fn required(value: Option<String>, name: &str) -> Result<String, AdminError> {
    value.ok_or_else(|| AdminError::fields(vec![(name, "Missing data for required field.".into())]))
}

/// `POST /service`.
#[derive(Debug, Default, Deserialize)]
pub struct CreateServiceBody {
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(default)]
    pub user_id: UuidField,
    #[serde(default)]
    pub created_by: UuidField,
    #[serde(default, deserialize_with = "lenient")]
    pub restricted: Option<bool>,
    #[serde(default, deserialize_with = "lenient")]
    pub email_from: Option<String>,
    /// Checked by [`super::permissions`]: a list of known permission names.
    #[serde(default, deserialize_with = "present")]
    pub permissions: Option<Value>,
    #[serde(default, deserialize_with = "lenient")]
    pub rate_limit: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    pub message_limit: Option<i64>,
}

/// `POST /service/{service_id}`: only what is given changes.
#[derive(Debug, Default, Deserialize)]
pub struct UpdateServiceBody {
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "lenient")]
    pub restricted: Option<bool>,
    #[serde(default, deserialize_with = "lenient")]
    pub prefix_sms: Option<bool>,
    #[serde(default, deserialize_with = "lenient")]
    pub rate_limit: Option<i64>,
    /// Present and not a string (`null` too) clears it.
    #[serde(default, deserialize_with = "present")]
    pub contact_link: Option<Value>,
    #[serde(default, deserialize_with = "lenient")]
    pub email_from: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub email_message_limit: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    pub sms_message_limit: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    pub letter_message_limit: Option<i64>,
    #[serde(default, deserialize_with = "lenient")]
    pub international_sms_message_limit: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    pub permissions: Option<Value>,
    /// A letter branding's id; `null` takes the service's away.
    #[serde(default)]
    pub letter_branding: UuidField,
    /// An email branding's id; `null` takes the service's away (its emails get the GOV.UK banner).
    #[serde(default)]
    pub email_branding: UuidField,
}

/// `POST /user`.
#[derive(Debug, Default, Deserialize)]
pub struct CreateUserBody {
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub email_address: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub mobile_number: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub platform_admin: Option<bool>,
}

/// `POST /service/{service_id}/users/{user_id}`: permissions as names or `{"permission": name}` objects;
/// anything else in the list is skipped.
#[derive(Debug, Default, Deserialize)]
pub struct AddUserBody {
    #[serde(default, deserialize_with = "lenient")]
    pub permissions: Option<Vec<Value>>,
}

impl AddUserBody {
    pub fn permission_names(&self) -> Vec<String> {
        self.permissions
            .iter()
            .flatten()
            .filter_map(|p| p.get("permission").or(Some(p)).and_then(Value::as_str))
            .map(str::to_string)
            .collect()
    }
}

/// `POST /service/{service_id}/api-key`.
#[derive(Debug, Default, Deserialize)]
pub struct CreateApiKeyBody {
    #[serde(default, deserialize_with = "lenient")]
    pub key_type: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(default)]
    pub created_by: UuidField,
}

/// `POST /service/{service_id}/template`.
#[derive(Debug, Default, Deserialize)]
pub struct CreateTemplateBody {
    #[serde(default, deserialize_with = "lenient")]
    pub letter_languages: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub letter_welsh_subject: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub letter_welsh_content: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub template_type: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub postage: Option<String>,
    #[serde(default)]
    pub created_by: UuidField,
    #[serde(default)]
    pub reply_to: UuidField,
    #[serde(default, deserialize_with = "lenient")]
    pub has_unsubscribe_link: Option<bool>,
}

/// `POST /service/{service_id}/template/{template_id}`: only what is given changes.
#[derive(Debug, Default, Deserialize)]
pub struct UpdateTemplateBody {
    #[serde(default, deserialize_with = "lenient")]
    pub letter_languages: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub letter_welsh_subject: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub letter_welsh_content: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub postage: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub archived: Option<bool>,
    #[serde(default)]
    pub reply_to: UuidField,
    #[serde(default, deserialize_with = "lenient")]
    pub has_unsubscribe_link: Option<bool>,
    #[serde(default)]
    pub created_by: UuidField,
}

/// `POST` of a text sender, reply-to address or letter contact block: the value under its own name.
#[derive(Debug, Default, Deserialize)]
pub struct AddSenderBody {
    #[serde(default, deserialize_with = "lenient")]
    pub sms_sender: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub email_address: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub contact_block: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub is_default: Option<bool>,
}

/// `PUT /service/{service_id}/guest-list`: entries that are not strings count as empty and are skipped.
#[derive(Debug, Default, Deserialize)]
pub struct GuestListBody {
    #[serde(default, deserialize_with = "lenient")]
    pub email_addresses: Option<Vec<Value>>,
    #[serde(default, deserialize_with = "lenient")]
    pub phone_numbers: Option<Vec<Value>>,
}

/// `POST /service/{service_id}/callback-api`.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackApiBody {
    #[serde(default, deserialize_with = "lenient")]
    pub callback_type: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub bearer_token: Option<String>,
    #[serde(default)]
    pub updated_by_id: UuidField,
}

/// `POST /service/{service_id}/data-retention`.
#[derive(Debug, Default, Deserialize)]
pub struct DataRetentionBody {
    #[serde(default, deserialize_with = "lenient")]
    pub notification_type: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub days_of_retention: Option<i64>,
}

/// `POST /service/{service_id}/inbound-number`.
#[derive(Debug, Default, Deserialize)]
pub struct InboundNumberBody {
    #[serde(default, deserialize_with = "lenient")]
    pub number: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub provider: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrong_types_count_as_absent_and_uuids_answer() {
        let body: CreateServiceBody = serde_json::from_value(json!({
            "name": 3, "restricted": "yes", "user_id": "nope", "created_by": null, "permissions": null
        }))
        .unwrap();
        assert_eq!(body.name, None);
        assert_eq!(body.restricted, None);
        assert_eq!(body.user_id, UuidField::Invalid);
        assert_eq!(body.created_by, UuidField::Null);
        assert_eq!(body.permissions, Some(Value::Null));
        assert!(body.user_id.get("user_id").is_err());
        assert_eq!(body.created_by.get("created_by").unwrap(), None);
        assert!(!UuidField::default().is_present());
    }
}
