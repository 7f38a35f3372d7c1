//! Signed callbacks: a service's Standard Webhooks signing secrets, made and rotated for the admin API and the
//! CLI alike. A secret is shown once, when it is made; after that only its id and dates are.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::admin::{AdminOpError, AdminResult};
use notify_core::webhooks;
use notify_db::SigningSecretRecord;

/// How long the previous secret keeps signing after a rotation unless the rotation is finished sooner: a day,
/// time for every receiver to move to the new secret.
pub const ROTATION_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// A new secret and its record: the only time the secret itself is seen.
pub struct NewSigningSecret {
    pub secret: String,
    pub record: SigningSecretRecord,
}

fn generate() -> String {
    let mut random = [0u8; webhooks::SECRET_BYTES];
    getrandom::fill(&mut random).expect("the operating system's random numbers");
    webhooks::new_secret(random)
}

async fn known_service(state: &AppState, service_id: Uuid) -> AdminResult<()> {
    match state.db.get_service(service_id).await? {
        Some(_) => Ok(()),
        None => Err(AdminOpError::NotFound),
    }
}

/// The service's first signing secret; refused when it has one (rotate it instead).
pub async fn create(
    state: &AppState,
    service_id: Uuid,
    created_by: Option<Uuid>,
) -> AdminResult<NewSigningSecret> {
    known_service(state, service_id).await?;
    let secret = generate();
    let record = state
        .db
        .create_signing_secret(service_id, &state.encryptor.encrypt(&secret), created_by)
        .await?
        .ok_or_else(|| {
            AdminOpError::Invalid(
                "Service already has a callback signing secret: rotate it instead".into(),
            )
        })?;
    Ok(NewSigningSecret { secret, record })
}

/// A new signing secret; the previous one signs too for [`ROTATION_WINDOW`], or until [`finish_rotation`].
pub async fn rotate(
    state: &AppState,
    service_id: Uuid,
    created_by: Option<Uuid>,
) -> AdminResult<NewSigningSecret> {
    known_service(state, service_id).await?;
    let secret = generate();
    let record = state
        .db
        .rotate_signing_secret(
            service_id,
            &state.encryptor.encrypt(&secret),
            created_by,
            ROTATION_WINDOW,
        )
        .await?
        .ok_or_else(|| {
            AdminOpError::Invalid(
                "Service has no callback signing secret to rotate: create one first".into(),
            )
        })?;
    Ok(NewSigningSecret { secret, record })
}

/// Ends a rotation now: only the newest secret signs. Returns how many secrets stopped signing.
pub async fn finish_rotation(state: &AppState, service_id: Uuid) -> AdminResult<u64> {
    known_service(state, service_id).await?;
    Ok(state.db.finish_signing_rotation(service_id).await?)
}

pub async fn list(state: &AppState, service_id: Uuid) -> AdminResult<Vec<SigningSecretRecord>> {
    known_service(state, service_id).await?;
    Ok(state.db.signing_secrets(service_id).await?)
}

/// Stops signing the service's callbacks.
pub async fn remove(state: &AppState, service_id: Uuid) -> AdminResult<u64> {
    known_service(state, service_id).await?;
    Ok(state.db.delete_signing_secrets(service_id).await?)
}

pub fn secret_json(record: &SigningSecretRecord) -> Value {
    json!({
        "id": record.id,
        "service_id": record.service_id,
        "created_at": notify_core::time::format(record.created_at),
        "created_by": record.created_by_id,
        "expires_at": notify_core::time::format_opt(record.expires_at),
        "signing": record.signing,
    })
}

/// The record with the secret, as shown once.
pub fn new_secret_json(new: &NewSigningSecret) -> Value {
    let mut value = secret_json(&new.record);
    value["secret"] = json!(new.secret);
    value
}
