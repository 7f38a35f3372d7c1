//! Notify's JWT authentication: service API keys on the v2 API (contract §1.3), client ids on the admin API.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use notify_config::ExposeSecret;
use serde_json::Value;
use uuid::Uuid;

use crate::AppState;
use notify_core::model::{KeyType, Service, StoredApiKey};
use notify_db::DbError;

pub const GENERAL_TOKEN_ERROR_MESSAGE: &str = "Invalid token: make sure your API token matches the example at \
    https://docs.notifications.service.gov.uk/rest-api.html#authorisation-header";
const CLOCK_MESSAGE: &str = "Error: Your system clock must be accurate to within 30 seconds";
const IAT_WINDOW_SECONDS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// 401 or 403 with Notify's exact message.
    #[error("{message}")]
    Rejected { status: u16, message: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

fn unauthorized(message: &str) -> AuthError {
    AuthError::Rejected {
        status: 401,
        message: message.to_string(),
    }
}

fn forbidden(message: &str) -> AuthError {
    AuthError::Rejected {
        status: 403,
        message: message.to_string(),
    }
}

/// Who is calling: attached to every v2 request once the token checks out.
#[derive(Clone, Debug)]
pub struct AuthenticatedKey {
    pub service: Service,
    pub api_key_id: Uuid,
    pub key_type: KeyType,
}

/// The token from an `Authorization` header: `Bearer` in any case, exactly one space, nothing trimmed.
pub fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    let header = header
        .filter(|h| !h.is_empty())
        .ok_or_else(|| unauthorized("Unauthorized: authentication token must be provided"))?;
    match header.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => Ok(&header[7..]),
        _ => Err(unauthorized(
            "Unauthorized: authentication bearer scheme must be used",
        )),
    }
}

/// Header and claims read without checking the signature: `iss` says which secrets to try.
fn read_unverified(token: &str) -> Option<(Value, Value)> {
    let mut parts = token.split('.');
    let (header, claims, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let decode = |part: &str| -> Option<Value> {
        let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(Value::is_object)
    };
    Some((decode(header)?, decode(claims)?))
}

enum KeyCheck {
    /// Signature matched and `iat` is within the window.
    Accepted,
    /// Not this key's signature: try the next one.
    NoMatch,
    Rejected(AuthError),
}

fn check_with_secret(token: &str, secret: &str, now: DateTime<Utc>) -> KeyCheck {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = IAT_WINDOW_SECONDS as u64;
    validation.required_spec_claims.clear();
    validation.validate_aud = false;
    let claims = match jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    ) {
        Ok(data) => data.claims,
        Err(e) => {
            return match e.kind() {
                ErrorKind::InvalidSignature => KeyCheck::NoMatch,
                _ => KeyCheck::Rejected(forbidden(GENERAL_TOKEN_ERROR_MESSAGE)),
            };
        }
    };
    let Some(iat) = claims.get("iat") else {
        return KeyCheck::NoMatch;
    };
    match iat.as_i64() {
        Some(iat)
            if (now.timestamp() - IAT_WINDOW_SECONDS..=now.timestamp() + IAT_WINDOW_SECONDS)
                .contains(&iat) =>
        {
            KeyCheck::Accepted
        }
        _ => KeyCheck::Rejected(forbidden(CLOCK_MESSAGE)),
    }
}

/// Authenticates a v2 request, step by step as Notify does, with Notify's messages.
pub async fn authenticate_service(
    state: &AppState,
    authorization: Option<&str>,
    now: DateTime<Utc>,
) -> Result<AuthenticatedKey, AuthError> {
    let encryptor = &state.encryptor;
    let token = bearer_token(authorization)?;
    let (header, claims) =
        read_unverified(token).ok_or_else(|| forbidden(GENERAL_TOKEN_ERROR_MESSAGE))?;
    let iss = claims
        .get("iss")
        .filter(|v| !v.is_null())
        .ok_or_else(|| forbidden("Invalid token: iss field not provided"))?;
    let service_id = iss
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| forbidden("Invalid token: service id is not the right data type"))?;
    let (service, keys) = state
        .lookups
        .service_with_keys(&state.db, service_id)
        .await?
        .ok_or_else(|| forbidden("Invalid token: service not found"))?;
    if keys.is_empty() {
        return Err(forbidden("Invalid token: service has no API keys"));
    }
    if !service.active {
        return Err(forbidden("Invalid token: service is archived"));
    }
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(forbidden("Invalid token: algorithm used is not HS256"));
    }
    let recently_revoked = now - Duration::days(7);
    let candidates = keys
        .into_iter()
        .filter(|k| k.expiry_date.is_none_or(|expiry| expiry > recently_revoked));
    for key in candidates {
        let StoredApiKey {
            id,
            encrypted_secret,
            key_type,
            expiry_date,
        } = key;
        // One key sealed with another SECRET_KEY must not lock the service out with its other keys.
        let Ok(secret) = encryptor.decrypt(&encrypted_secret) else {
            notify_core::crypto::report_undecryptable("api_keys.secret", &id, &service.id);
            continue;
        };
        match check_with_secret(token, &secret, now) {
            KeyCheck::NoMatch => continue,
            KeyCheck::Rejected(e) => return Err(e),
            KeyCheck::Accepted if expiry_date.is_some() => {
                return Err(forbidden("Invalid token: API key revoked"));
            }
            KeyCheck::Accepted => {
                return Ok(AuthenticatedKey {
                    service,
                    api_key_id: id,
                    key_type,
                });
            }
        }
    }
    Err(forbidden("Invalid token: API key not found"))
}

/// Admin requests: `iss` must be the configured client id and the token signed with one of its secrets.
pub fn authenticate_admin(
    authorization: Option<&str>,
    client_id: &str,
    secrets: &[notify_config::SecretString],
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    let token = bearer_token(authorization)?;
    let (header, claims) =
        read_unverified(token).ok_or_else(|| forbidden(GENERAL_TOKEN_ERROR_MESSAGE))?;
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(|| forbidden("Invalid token: iss field not provided"))?;
    if iss != client_id {
        return Err(unauthorized(
            "Unauthorized: not allowed to perform this action",
        ));
    }
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(forbidden("Invalid token: algorithm used is not HS256"));
    }
    for secret in secrets {
        match check_with_secret(token, secret.expose_secret(), now) {
            KeyCheck::NoMatch => continue,
            KeyCheck::Rejected(e) => return Err(e),
            KeyCheck::Accepted => return Ok(()),
        }
    }
    Err(forbidden(
        "Invalid token: signature, api token is not valid",
    ))
}

/// A token as the official clients make them; used by the CLI, tests and benchmarks.
pub fn create_token(issuer: &str, secret: &str, iat: i64) -> String {
    let claims = serde_json::json!({"iss": issuer, "iat": iat});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing with an in-memory key cannot fail")
}

/// Splits a combined key `{name}-{service_id}-{secret}` the way the clients do: from the end.
pub fn split_api_key(combined: &str) -> Option<(Uuid, &str)> {
    let len = combined.len();
    if len < 73 || !combined.is_char_boundary(len - 73) {
        return None;
    }
    let service_id = Uuid::parse_str(&combined[len - 73..len - 37]).ok()?;
    Some((service_id, &combined[len - 36..]))
}

impl From<AuthError> for notify_core::errors::V2Error {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Rejected { status, message } => {
                notify_core::errors::V2Error::new(status, "AuthError", message)
            }
            AuthError::Db(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_but_exact() {
        assert_eq!(bearer_token(Some("bEaReR abc")).unwrap(), "abc");
        assert!(matches!(
            bearer_token(Some("Token abc")),
            Err(AuthError::Rejected { status: 401, .. })
        ));
        assert!(matches!(
            bearer_token(None),
            Err(AuthError::Rejected { status: 401, .. })
        ));
    }

    #[test]
    fn iat_window_is_thirty_seconds_either_way() {
        let now = Utc::now();
        let check = |iat: i64| check_with_secret(&create_token("x", "s", iat), "s", now);
        assert!(matches!(check(now.timestamp() - 30), KeyCheck::Accepted));
        assert!(matches!(check(now.timestamp() + 30), KeyCheck::Accepted));
        assert!(matches!(check(now.timestamp() - 31), KeyCheck::Rejected(_)));
        assert!(matches!(check(now.timestamp() + 31), KeyCheck::Rejected(_)));
        assert!(matches!(
            check_with_secret(&create_token("x", "s", now.timestamp()), "other", now),
            KeyCheck::NoMatch
        ));
    }

    #[test]
    fn key_strings_split_from_the_end() {
        let key =
            "my-test-key-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0";
        let (service, secret) = split_api_key(key).unwrap();
        assert_eq!(service.to_string(), "26785a09-ab16-4eb0-8407-a37497a57506");
        assert_eq!(secret, "3d844edf-8d35-48ac-975b-e847b4f122b0");
    }
}
