//! Email branding: what an email's layout shows above the body, as upstream models it (`email_branding`), and
//! the rules its values must keep before they go near markup.

use std::fmt;

use crate::model::BrandType;

/// Where the API serves email logos; an email's `<img src>` is this path on the API's public base URL.
pub const EMAIL_LOGO_PATH: &str = "/static/email-logos";

/// Where an email logo is in the file store.
pub fn logo_key(logo: &str) -> String {
    format!("email-logos/{logo}")
}

/// The absolute address a mail client loads `logo` from: `base` is the API's public URL (`API_HOST_NAME`).
pub fn logo_url(base: &str, logo: &str) -> String {
    format!("{}{EMAIL_LOGO_PATH}/{logo}", base.trim_end_matches('/'))
}

/// The name a logo is stored under: the first 128 bits of its SHA-256, so a changed logo is a new URL and the
/// static path may tell caches to keep one for ever.
pub fn logo_file_name(bytes: &[u8], extension: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(bytes);
    let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.{extension}")
}

/// A logo's stored name is a plain file name: what the static path serves and nothing that climbs out of it.
pub fn is_logo_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// A brand colour: `#` and six hex digits, kept in lower case. Only this ever reaches a `style` or `bgcolor`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BrandColour(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a colour: give # and six hex digits, like #1d70b8")]
pub struct InvalidColour(pub String);

impl BrandColour {
    pub fn parse(text: &str) -> Result<Self, InvalidColour> {
        let trimmed = text.trim();
        match trimmed.strip_prefix('#') {
            Some(hex) if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(BrandColour(trimmed.to_ascii_lowercase()))
            }
            _ => Err(InvalidColour(text.to_string())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BrandColour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One email branding as the layout needs it (the row's bookkeeping stays in `notify-db`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailBranding {
    pub name: String,
    pub brand_type: BrandType,
    pub colour: Option<BrandColour>,
    /// The logo's stored file name (see [`logo_url`]).
    pub logo: Option<String>,
    /// Shown beside the logo; when it is there the logo is decoration and its alt text empty.
    pub text: Option<String>,
    /// The logo's alternative text when there is no text beside it.
    pub alt_text: Option<String>,
}

/// What the layout draws, worked out from a service's branding the way upstream's `get_html_email_options`
/// does: no branding at all is the GOV.UK banner; an `org` branding without a logo (upstream's "no branding")
/// draws nothing above the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Banner {
    pub govuk_banner: bool,
    /// The logo (and text) on a full-width banner in the brand colour.
    pub brand_banner: bool,
    pub brand_colour: Option<BrandColour>,
    /// Absolute URL of the logo.
    pub brand_logo: Option<String>,
    pub brand_text: Option<String>,
    pub brand_alt_text: Option<String>,
}

impl Banner {
    /// The layout for `branding` (`None`: the service has none), logos served from `base_url`.
    pub fn for_branding(branding: Option<&EmailBranding>, base_url: &str) -> Banner {
        let Some(branding) = branding else {
            return Banner::govuk();
        };
        Banner {
            govuk_banner: matches!(branding.brand_type, BrandType::Govuk | BrandType::Both),
            brand_banner: branding.brand_type == BrandType::OrgBanner,
            brand_colour: branding.colour.clone(),
            brand_logo: branding.logo.as_deref().map(|l| logo_url(base_url, l)),
            brand_text: branding.text.clone().filter(|t| !t.trim().is_empty()),
            brand_alt_text: branding.alt_text.clone(),
        }
    }

    pub fn govuk() -> Banner {
        Banner {
            govuk_banner: true,
            brand_banner: false,
            brand_colour: None,
            brand_logo: None,
            brand_text: None,
            brand_alt_text: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branding(brand_type: BrandType) -> EmailBranding {
        EmailBranding {
            name: "Org".into(),
            brand_type,
            colour: Some(BrandColour::parse("#AA0000").unwrap()),
            logo: Some("abc.png".into()),
            text: Some("Org".into()),
            alt_text: None,
        }
    }

    #[test]
    fn colours_are_hash_and_six_hex_digits() {
        assert_eq!(BrandColour::parse(" #1D70b8 ").unwrap().as_str(), "#1d70b8");
        for bad in [
            "1d70b8",
            "#1d70b",
            "#1d70b8a",
            "#ggg000",
            "red",
            "#1d70b8\" onload=\"x",
            "",
        ] {
            assert!(BrandColour::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn brand_types_choose_the_banners() {
        let base = "https://api.example/";
        assert_eq!(Banner::for_branding(None, base), Banner::govuk());
        let org = Banner::for_branding(Some(&branding(BrandType::Org)), base);
        assert!(!org.govuk_banner && !org.brand_banner);
        assert_eq!(
            org.brand_logo.as_deref(),
            Some("https://api.example/static/email-logos/abc.png")
        );
        let both = Banner::for_branding(Some(&branding(BrandType::Both)), base);
        assert!(both.govuk_banner && !both.brand_banner);
        let banner = Banner::for_branding(Some(&branding(BrandType::OrgBanner)), base);
        assert!(!banner.govuk_banner && banner.brand_banner);
        let govuk = Banner::for_branding(Some(&branding(BrandType::Govuk)), base);
        assert!(govuk.govuk_banner && !govuk.brand_banner);
    }

    #[test]
    fn logo_names_are_plain() {
        assert!(is_logo_name("3f2a-logo_1.png"));
        for bad in ["", ".png", "../x.png", "a/b.png", "a b.png", "a%2f.png"] {
            assert!(!is_logo_name(bad), "{bad:?}");
        }
    }
}
