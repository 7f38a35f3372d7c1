//! Email brandings (upstream's `email_branding`): what a service's emails show above the body.

use chrono::{DateTime, Utc};
use postgres_from_row::FromRow;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbResult, from_row};
use notify_core::email_branding::{BrandColour, EmailBranding};
use notify_core::model::BrandType;

#[derive(Clone, Debug, FromRow)]
pub struct EmailBrandingRecord {
    pub id: Uuid,
    pub name: String,
    pub colour: Option<String>,
    /// The logo's file name; the file is at `email-logos/{logo}` in the file store.
    pub logo: Option<String>,
    pub text: Option<String>,
    pub alt_text: Option<String>,
    pub brand_type: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub updated_by: Option<Uuid>,
}

impl EmailBrandingRecord {
    /// The branding as the layout takes it; the table's checks keep the type and colour valid.
    pub fn branding(&self) -> EmailBranding {
        EmailBranding {
            name: self.name.clone(),
            brand_type: BrandType::parse(&self.brand_type).unwrap_or(BrandType::Org),
            colour: self
                .colour
                .as_deref()
                .and_then(|c| BrandColour::parse(c).ok()),
            logo: self.logo.clone(),
            text: self.text.clone(),
            alt_text: self.alt_text.clone(),
        }
    }
}

/// Every column of a branding, as written by a create or an update.
#[derive(Clone, Debug)]
pub struct EmailBrandingValues {
    pub name: String,
    pub colour: Option<BrandColour>,
    pub logo: Option<String>,
    pub text: Option<String>,
    pub alt_text: Option<String>,
    pub brand_type: BrandType,
}

const COLUMNS: &str = "id, name, colour, logo, text, alt_text, brand_type, created_at, updated_at, created_by, updated_by";

/// What the delivery claim reads of a service's branding (`eb` is `email_branding`, joined on the service),
/// under these names; [`branding_from_claim`] reads them back.
pub(crate) const CLAIM_COLUMNS_SQL: &str = "eb.name AS eb_name, eb.colour AS eb_colour, eb.logo AS eb_logo, \
    eb.text AS eb_text, eb.alt_text AS eb_alt_text, eb.brand_type AS eb_brand_type";

pub(crate) fn branding_from_claim(row: &tokio_postgres::Row) -> DbResult<Option<EmailBranding>> {
    let Some(name) = row.try_get::<_, Option<String>>("eb_name")? else {
        return Ok(None);
    };
    let brand_type: String = row.try_get("eb_brand_type")?;
    let colour: Option<String> = row.try_get("eb_colour")?;
    Ok(Some(EmailBranding {
        name,
        brand_type: BrandType::parse(&brand_type).unwrap_or(BrandType::Org),
        colour: colour.as_deref().and_then(|c| BrandColour::parse(c).ok()),
        logo: row.try_get("eb_logo")?,
        text: row.try_get("eb_text")?,
        alt_text: row.try_get("eb_alt_text")?,
    }))
}

impl Db {
    pub async fn create_email_branding(
        &self,
        id: Uuid,
        values: &EmailBrandingValues,
        created_by: Option<Uuid>,
    ) -> DbResult<EmailBrandingRecord> {
        let sql = format!(
            "INSERT INTO email_branding (id, name, colour, logo, text, alt_text, brand_type, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
        );
        let colour = values.colour.as_ref().map(BrandColour::as_str);
        let row = self
            .query_opt(
                &sql,
                &[
                    (&id, Type::UUID),
                    (&values.name, Type::TEXT),
                    (&colour, Type::TEXT),
                    (&values.logo, Type::TEXT),
                    (&values.text, Type::TEXT),
                    (&values.alt_text, Type::TEXT),
                    (&values.brand_type.as_str(), Type::TEXT),
                    (&created_by, Type::UUID),
                ],
            )
            .await?
            .ok_or_else(|| crate::DbError::Data("no row returned".into()))?;
        from_row(&row)
    }

    pub async fn update_email_branding(
        &self,
        id: Uuid,
        values: &EmailBrandingValues,
        updated_by: Option<Uuid>,
    ) -> DbResult<Option<EmailBrandingRecord>> {
        let sql = format!(
            "UPDATE email_branding SET name = $2, colour = $3, logo = $4, text = $5, alt_text = $6, \
                 brand_type = $7, updated_by = $8, updated_at = now() \
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        let colour = values.colour.as_ref().map(BrandColour::as_str);
        self.query_opt(
            &sql,
            &[
                (&id, Type::UUID),
                (&values.name, Type::TEXT),
                (&colour, Type::TEXT),
                (&values.logo, Type::TEXT),
                (&values.text, Type::TEXT),
                (&values.alt_text, Type::TEXT),
                (&values.brand_type.as_str(), Type::TEXT),
                (&updated_by, Type::UUID),
            ],
        )
        .await?
        .map(|r| from_row(&r))
        .transpose()
    }

    pub async fn get_email_branding(&self, id: Uuid) -> DbResult<Option<EmailBrandingRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM email_branding WHERE id = $1");
        self.query_opt(&sql, &[(&id, Type::UUID)])
            .await?
            .map(|r| from_row(&r))
            .transpose()
    }

    /// Every email branding, by name, as upstream lists the options.
    pub async fn list_email_branding(&self) -> DbResult<Vec<EmailBrandingRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM email_branding ORDER BY name");
        self.query(&sql, &[]).await?.iter().map(from_row).collect()
    }

    /// Whether any branding shows the logo stored as `logo`: what the static path serves.
    pub async fn email_logo_in_use(&self, logo: &str) -> DbResult<bool> {
        Ok(self
            .query_opt(
                "SELECT 1 FROM email_branding WHERE logo = $1 LIMIT 1",
                &[(&logo, Type::TEXT)],
            )
            .await?
            .is_some())
    }
}
