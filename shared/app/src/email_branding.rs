//! Email brandings behind the admin API and the CLI alike: creating and changing them (with upstream's rules and
//! words), their logos in the file store under names that carry the content's hash (so the static path can tell
//! caches to keep them for ever), giving one to a service, and the layout a service's emails get.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use notify_core::email_branding::{self, Banner, BrandColour, EmailBranding};
use notify_core::model::{BrandType, Service};
use notify_db::{DbError, EmailBrandingRecord, EmailBrandingValues, ServiceUpdate};
use notify_files::FileError;

#[derive(Debug, thiserror::Error)]
pub enum BrandingError {
    /// 400 with this message.
    #[error("{0}")]
    Invalid(String),
    /// 400 naming the field at fault, as `{"field": [message]}`.
    #[error("{0}: {1}")]
    Field(&'static str, String),
    /// 404 with upstream's "No result found".
    #[error("No result found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Files(#[from] FileError),
}

pub type BrandingResult<T> = Result<T, BrandingError>;

/// The largest logo file taken: logos are small images at 54 pixels high.
pub const MAX_LOGO_BYTES: usize = 1024 * 1024;

/// Upstream's API makes only these (its `govuk` type survives in old rows; no branding at all is GOV.UK).
const BRAND_TYPES: [BrandType; 3] = [BrandType::Org, BrandType::Both, BrandType::OrgBanner];

/// The image types mail clients show, told from the content: the stored name's extension and the static path's
/// `Content-Type`.
fn image_type(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if bytes.len() > 16 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR" {
        Some(("png", "image/png"))
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some(("jpg", "image/jpeg"))
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(("gif", "image/gif"))
    } else {
        None
    }
}

/// The `Content-Type` the static path serves a stored logo with, from its name.
pub fn logo_content_type(logo: &str) -> Option<&'static str> {
    match logo.rsplit_once('.')?.1 {
        "png" => Some("image/png"),
        "jpg" => Some("image/jpeg"),
        "gif" => Some("image/gif"),
        _ => None,
    }
}

/// Stores a logo (PNG, JPEG or GIF, at most 1 MB) as `{sha256}.{ext}` and returns that name, what a branding's
/// `logo` is. The same file uploaded again gets the same name; a changed file, a new one.
pub async fn upload_email_logo(state: &AppState, bytes: Vec<u8>) -> BrandingResult<String> {
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(BrandingError::Invalid(
            "The logo must be 1 MB or smaller".into(),
        ));
    }
    let (extension, content_type) = image_type(&bytes).ok_or_else(|| {
        BrandingError::Invalid("The logo must be a PNG, JPEG or GIF image".into())
    })?;
    let name = email_branding::logo_file_name(&bytes, extension);
    state
        .files
        .put(&email_branding::logo_key(&name), bytes, content_type)
        .await?;
    Ok(name)
}

/// A stored logo as the static path serves it: the bytes and their type; `None` when there is no such logo.
pub async fn email_logo(
    state: &AppState,
    logo: &str,
) -> BrandingResult<Option<(Vec<u8>, &'static str)>> {
    let Some(content_type) = logo_content_type(logo).filter(|_| email_branding::is_logo_name(logo))
    else {
        return Ok(None);
    };
    Ok(state
        .files
        .get(&email_branding::logo_key(logo))
        .await?
        .map(|bytes| (bytes, content_type)))
}

/// What a create or an update asks for: `None` leaves a value as it is (an update) or unset (a create);
/// `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct BrandingChanges {
    pub name: Option<String>,
    pub colour: Option<Option<String>>,
    pub logo: Option<Option<String>>,
    pub text: Option<Option<String>>,
    pub alt_text: Option<Option<String>>,
    pub brand_type: Option<String>,
}

fn blank_to_none(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

async fn apply(
    state: &AppState,
    mut values: EmailBrandingValues,
    changes: BrandingChanges,
) -> BrandingResult<EmailBrandingValues> {
    if let Some(name) = changes.name {
        if name.trim().is_empty() {
            return Err(BrandingError::Field(
                "name",
                "Missing data for required field.".into(),
            ));
        }
        values.name = name.trim().to_string();
    }
    if let Some(brand_type) = changes.brand_type {
        values.brand_type = BrandType::parse(&brand_type)
            .filter(|t| BRAND_TYPES.contains(t))
            .ok_or_else(|| {
                BrandingError::Invalid(format!(
                    "brand_type {brand_type} is not one of [org, both, org_banner]"
                ))
            })?;
    }
    if let Some(colour) = changes.colour {
        values.colour = blank_to_none(colour)
            .map(|c| BrandColour::parse(&c))
            .transpose()
            .map_err(|e| BrandingError::Field("colour", e.to_string()))?;
    }
    if let Some(logo) = changes.logo {
        let logo = blank_to_none(logo);
        if let Some(name) = &logo {
            check_logo(state, name).await?;
        }
        values.logo = logo;
    }
    if let Some(text) = changes.text {
        values.text = blank_to_none(text);
    }
    if let Some(alt_text) = changes.alt_text {
        values.alt_text = blank_to_none(alt_text);
    }
    if values.text.is_some() == values.alt_text.is_some() {
        return Err(BrandingError::Invalid(
            "Email branding must have exactly one of alt_text and text.".into(),
        ));
    }
    Ok(values)
}

/// A branding's logo must be a stored logo, so an email never names an image that is not there.
async fn check_logo(state: &AppState, logo: &str) -> BrandingResult<()> {
    if !email_branding::is_logo_name(logo) || logo_content_type(logo).is_none() {
        return Err(BrandingError::Field(
            "logo",
            format!("{logo} is not a valid logo file name"),
        ));
    }
    if state
        .files
        .get(&email_branding::logo_key(logo))
        .await?
        .is_none()
    {
        return Err(BrandingError::Field(
            "logo",
            format!(
                "No logo file {}: upload it first",
                email_branding::logo_key(logo)
            ),
        ));
    }
    Ok(())
}

/// Upstream's answer to a name already taken.
fn name_taken(e: DbError) -> BrandingError {
    match e.unique_violation() {
        Some("uq_email_branding_name") => BrandingError::Field(
            "name",
            "An email branding with that name already exists.".into(),
        ),
        _ => e.into(),
    }
}

pub async fn create_email_branding(
    state: &AppState,
    changes: BrandingChanges,
    created_by: Option<Uuid>,
) -> BrandingResult<EmailBrandingRecord> {
    if changes.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(BrandingError::Field(
            "name",
            "Missing data for required field.".into(),
        ));
    }
    let empty = EmailBrandingValues {
        name: String::new(),
        colour: None,
        logo: None,
        text: None,
        alt_text: None,
        brand_type: BrandType::Org,
    };
    let values = apply(state, empty, changes).await?;
    state
        .db
        .create_email_branding(Uuid::new_v4(), &values, created_by)
        .await
        .map_err(name_taken)
}

/// Changes what `changes` names and keeps the rest, as upstream's update does.
pub async fn update_email_branding(
    state: &AppState,
    id: Uuid,
    changes: BrandingChanges,
    updated_by: Option<Uuid>,
) -> BrandingResult<EmailBrandingRecord> {
    let current = state
        .db
        .get_email_branding(id)
        .await?
        .ok_or(BrandingError::NotFound)?;
    let branding = current.branding();
    let values = EmailBrandingValues {
        name: current.name,
        colour: branding.colour,
        logo: branding.logo,
        text: branding.text,
        alt_text: branding.alt_text,
        brand_type: branding.brand_type,
    };
    let values = apply(state, values, changes).await?;
    state
        .db
        .update_email_branding(id, &values, updated_by)
        .await
        .map_err(name_taken)?
        .ok_or(BrandingError::NotFound)
}

/// An email branding a service is to be given must exist (`None`, back to GOV.UK, always may).
pub async fn check_email_branding(state: &AppState, branding: Option<Uuid>) -> BrandingResult<()> {
    if let Some(id) = branding
        && state.db.get_email_branding(id).await?.is_none()
    {
        return Err(BrandingError::Field(
            "email_branding",
            format!("No email branding with id {id}"),
        ));
    }
    Ok(())
}

/// Gives a service an email branding (`None`: the GOV.UK banner again).
pub async fn set_service_email_branding(
    state: &AppState,
    service_id: Uuid,
    branding: Option<Uuid>,
) -> BrandingResult<Service> {
    check_email_branding(state, branding).await?;
    state
        .db
        .update_service(
            service_id,
            &ServiceUpdate {
                email_branding_id: Some(branding),
                ..Default::default()
            },
        )
        .await?
        .ok_or(BrandingError::NotFound)
}

/// The banner a service's emails carry, for the preview (delivery reads the branding in its claim instead).
pub async fn service_banner(state: &AppState, service: &Service) -> BrandingResult<Banner> {
    let branding: Option<EmailBranding> = match service.email_branding_id {
        None => None,
        Some(id) => state.db.get_email_branding(id).await?.map(|r| r.branding()),
    };
    Ok(Banner::for_branding(
        branding.as_ref(),
        &state.config.api.host_name,
    ))
}

/// An email branding as upstream serialises one, with where its logo is served.
pub fn email_branding_json(state: &AppState, branding: &EmailBrandingRecord) -> Value {
    json!({
        "id": branding.id,
        "name": branding.name,
        "colour": branding.colour,
        "logo": branding.logo,
        "logo_url": branding.logo.as_deref().map(|l| email_branding::logo_url(&state.config.api.host_name, l)),
        "text": branding.text,
        "alt_text": branding.alt_text,
        "brand_type": branding.brand_type,
        "created_by": branding.created_by,
        "created_at": notify_core::time::format(branding.created_at),
        "updated_at": notify_core::time::format_opt(branding.updated_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logos_are_told_from_their_content() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend([0; 8]);
        assert_eq!(image_type(&png), Some(("png", "image/png")));
        assert_eq!(
            image_type(&[0xff, 0xd8, 0xff, 0xe0]),
            Some(("jpg", "image/jpeg"))
        );
        assert_eq!(image_type(b"GIF89a...."), Some(("gif", "image/gif")));
        assert_eq!(
            image_type(b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            None
        );
        assert_eq!(logo_content_type("ab.png"), Some("image/png"));
        assert_eq!(logo_content_type("ab.svg"), None);
    }
}
