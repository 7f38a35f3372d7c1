//! Services: the account every key, template and notification belongs to.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbError, DbResult};
use notify_core::model::{KeyType, Service, ServicePermission, StoredApiKey};

const SERVICE_COLUMNS: &str = "s.id, s.name, s.active, s.restricted, s.prefix_sms, s.rate_limit, \
    s.email_sender_local_part, s.contact_link, s.email_message_limit, s.sms_message_limit, s.letter_message_limit, \
    s.international_sms_message_limit, s.crown, s.created_at, s.letter_branding_id, s.email_branding_id, \
    ARRAY(SELECT permission FROM service_permissions p WHERE p.service_id = s.id ORDER BY permission) AS permissions";

fn service_from_row(row: &Row) -> DbResult<Service> {
    let permissions: Vec<String> = row.try_get("permissions")?;
    Ok(Service {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        active: row.try_get("active")?,
        restricted: row.try_get("restricted")?,
        prefix_sms: row.try_get("prefix_sms")?,
        rate_limit: row.try_get("rate_limit")?,
        email_sender_local_part: row.try_get("email_sender_local_part")?,
        contact_link: row.try_get("contact_link")?,
        email_message_limit: row.try_get("email_message_limit")?,
        sms_message_limit: row.try_get("sms_message_limit")?,
        letter_message_limit: row.try_get("letter_message_limit")?,
        international_sms_message_limit: row.try_get("international_sms_message_limit")?,
        crown: row.try_get("crown")?,
        created_at: row.try_get("created_at")?,
        letter_branding_id: row.try_get("letter_branding_id")?,
        email_branding_id: row.try_get("email_branding_id")?,
        permissions: permissions
            .iter()
            .filter_map(|p| ServicePermission::parse(p))
            .collect(),
    })
}

/// What a new service starts with.
#[derive(Clone, Debug)]
pub struct NewService {
    pub id: Uuid,
    pub name: String,
    pub email_sender_local_part: String,
    pub created_by_id: Option<Uuid>,
    pub restricted: bool,
    pub active: bool,
    pub prefix_sms: bool,
    pub rate_limit: i32,
    pub contact_link: Option<String>,
    pub message_limits: MessageLimits,
    pub permissions: Vec<ServicePermission>,
}

#[derive(Clone, Copy, Debug)]
pub struct MessageLimits {
    pub email: i64,
    pub sms: i64,
    pub letter: i64,
    pub international_sms: i64,
}

/// Fields an admin may change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ServiceUpdate {
    pub name: Option<String>,
    pub active: Option<bool>,
    pub restricted: Option<bool>,
    pub prefix_sms: Option<bool>,
    pub rate_limit: Option<i32>,
    pub contact_link: Option<Option<String>>,
    pub email_sender_local_part: Option<String>,
    pub email_message_limit: Option<i64>,
    pub sms_message_limit: Option<i64>,
    pub letter_message_limit: Option<i64>,
    pub international_sms_message_limit: Option<i64>,
    pub permissions: Option<Vec<ServicePermission>>,
    /// `Some(None)` takes the service's letter branding away.
    pub letter_branding_id: Option<Option<Uuid>>,
    /// `Some(None)` takes the service's email branding away (back to the GOV.UK banner).
    pub email_branding_id: Option<Option<Uuid>>,
}

impl Db {
    /// The service and every one of its keys, in one round trip: authentication needs both on every request.
    pub async fn service_with_keys(
        &self,
        service_id: Uuid,
    ) -> DbResult<Option<(Service, Vec<StoredApiKey>)>> {
        let sql = format!(
            "SELECT {SERVICE_COLUMNS}, \
             COALESCE((SELECT json_agg(json_build_object('id', k.id, 'secret', k.secret, 'key_type', k.key_type, \
                 'expiry_date', k.expiry_date) ORDER BY k.created_at) FROM api_keys k WHERE k.service_id = s.id), '[]') \
                 AS keys \
             FROM services s WHERE s.id = $1"
        );
        let Some(row) = self.query_opt(&sql, &[(&service_id, Type::UUID)]).await? else {
            return Ok(None);
        };
        let service = service_from_row(&row)?;
        let keys: serde_json::Value = row.try_get("keys")?;
        let keys = keys
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| {
                let bad = || DbError::Data("api key row".into());
                Ok(StoredApiKey {
                    id: k["id"]
                        .as_str()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(bad)?,
                    encrypted_secret: k["secret"].as_str().ok_or_else(bad)?.to_string(),
                    key_type: k["key_type"]
                        .as_str()
                        .and_then(KeyType::parse)
                        .ok_or_else(bad)?,
                    expiry_date: match k["expiry_date"].as_str() {
                        Some(s) => Some(
                            DateTime::parse_from_rfc3339(s)
                                .map_err(|_| bad())?
                                .with_timezone(&Utc),
                        ),
                        None => None,
                    },
                })
            })
            .collect::<DbResult<Vec<_>>>()?;
        Ok(Some((service, keys)))
    }

    pub async fn get_service(&self, service_id: Uuid) -> DbResult<Option<Service>> {
        let sql = format!("SELECT {SERVICE_COLUMNS} FROM services s WHERE s.id = $1");
        self.query_opt(&sql, &[(&service_id, Type::UUID)])
            .await?
            .map(|r| service_from_row(&r))
            .transpose()
    }

    pub async fn list_services(&self) -> DbResult<Vec<Service>> {
        let sql = format!("SELECT {SERVICE_COLUMNS} FROM services s ORDER BY s.created_at");
        self.query(&sql, &[])
            .await?
            .iter()
            .map(service_from_row)
            .collect()
    }

    pub async fn find_service_by_name(&self, name: &str) -> DbResult<Option<Service>> {
        let sql = format!("SELECT {SERVICE_COLUMNS} FROM services s WHERE s.name = $1");
        self.query_opt(&sql, &[(&name, Type::TEXT)])
            .await?
            .map(|r| service_from_row(&r))
            .transpose()
    }

    /// Creates the service, its permissions and its history row in one transaction; the creating user joins it.
    pub async fn create_service(&self, new: &NewService) -> DbResult<Service> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let normalised = new
            .name
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(".");
        tx.execute_typed(
            "INSERT INTO services (id, name, normalised_service_name, email_sender_local_part, created_by_id, \
                 restricted, active, prefix_sms, rate_limit, contact_link, email_message_limit, sms_message_limit, \
                 letter_message_limit, international_sms_message_limit) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            &[
                (&new.id, Type::UUID),
                (&new.name, Type::TEXT),
                (&normalised, Type::TEXT),
                (&new.email_sender_local_part, Type::TEXT),
                (&new.created_by_id, Type::UUID),
                (&new.restricted, Type::BOOL),
                (&new.active, Type::BOOL),
                (&new.prefix_sms, Type::BOOL),
                (&new.rate_limit, Type::INT4),
                (&new.contact_link, Type::TEXT),
                (&new.message_limits.email, Type::INT8),
                (&new.message_limits.sms, Type::INT8),
                (&new.message_limits.letter, Type::INT8),
                (&new.message_limits.international_sms, Type::INT8),
            ],
        )
        .await?;
        let permissions: Vec<&str> = new.permissions.iter().map(|p| p.as_str()).collect();
        tx.execute_typed(
            "INSERT INTO service_permissions (service_id, permission) SELECT $1, unnest($2::text[])",
            &[(&new.id, Type::UUID), (&permissions, Type::TEXT_ARRAY)],
        )
        .await?;
        if let Some(user) = new.created_by_id {
            tx.execute_typed(
                "INSERT INTO user_to_service (user_id, service_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[(&user, Type::UUID), (&new.id, Type::UUID)],
            )
            .await?;
        }
        tx.execute_typed(
            "INSERT INTO services_history SELECT * FROM services WHERE id = $1",
            &[(&new.id, Type::UUID)],
        )
        .await?;
        tx.commit().await?;
        drop(conn);
        self.get_service(new.id)
            .await?
            .ok_or_else(|| DbError::Data("service vanished".into()))
    }

    pub async fn update_service(
        &self,
        service_id: Uuid,
        update: &ServiceUpdate,
    ) -> DbResult<Option<Service>> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let contact_link_given = update.contact_link.is_some();
        let contact_link = update.contact_link.clone().flatten();
        let letter_branding_given = update.letter_branding_id.is_some();
        let letter_branding_id = update.letter_branding_id.flatten();
        let email_branding_given = update.email_branding_id.is_some();
        let email_branding_id = update.email_branding_id.flatten();
        let changed = tx
            .execute_typed(
                "UPDATE services SET name = COALESCE($2, name), active = COALESCE($3, active), \
                     restricted = COALESCE($4, restricted), prefix_sms = COALESCE($5, prefix_sms), \
                     rate_limit = COALESCE($6, rate_limit), \
                     contact_link = CASE WHEN $7 THEN $8 ELSE contact_link END, \
                     email_sender_local_part = COALESCE($9, email_sender_local_part), \
                     email_message_limit = COALESCE($10, email_message_limit), \
                     sms_message_limit = COALESCE($11, sms_message_limit), \
                     letter_message_limit = COALESCE($12, letter_message_limit), \
                     international_sms_message_limit = COALESCE($13, international_sms_message_limit), \
                     letter_branding_id = CASE WHEN $14 THEN $15 ELSE letter_branding_id END, \
                     email_branding_id = CASE WHEN $16 THEN $17 ELSE email_branding_id END, \
                     normalised_service_name = CASE WHEN $2 IS NULL THEN normalised_service_name \
                         ELSE lower(regexp_replace($2, '\\s+', '.', 'g')) END, \
                     updated_at = now(), version = version + 1 \
                 WHERE id = $1",
                &[
                    (&service_id, Type::UUID),
                    (&update.name, Type::TEXT),
                    (&update.active, Type::BOOL),
                    (&update.restricted, Type::BOOL),
                    (&update.prefix_sms, Type::BOOL),
                    (&update.rate_limit, Type::INT4),
                    (&contact_link_given, Type::BOOL),
                    (&contact_link, Type::TEXT),
                    (&update.email_sender_local_part, Type::TEXT),
                    (&update.email_message_limit, Type::INT8),
                    (&update.sms_message_limit, Type::INT8),
                    (&update.letter_message_limit, Type::INT8),
                    (&update.international_sms_message_limit, Type::INT8),
                    (&letter_branding_given, Type::BOOL),
                    (&letter_branding_id, Type::UUID),
                    (&email_branding_given, Type::BOOL),
                    (&email_branding_id, Type::UUID),
                ],
            )
            .await?;
        if changed == 0 {
            return Ok(None);
        }
        if let Some(permissions) = &update.permissions {
            let permissions: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
            tx.execute_typed(
                "DELETE FROM service_permissions WHERE service_id = $1",
                &[(&service_id, Type::UUID)],
            )
            .await?;
            tx.execute_typed(
                "INSERT INTO service_permissions (service_id, permission) SELECT $1, unnest($2::text[])",
                &[(&service_id, Type::UUID), (&permissions, Type::TEXT_ARRAY)],
            )
            .await?;
        }
        tx.execute_typed(
            "INSERT INTO services_history SELECT * FROM services WHERE id = $1",
            &[(&service_id, Type::UUID)],
        )
        .await?;
        tx.commit().await?;
        drop(conn);
        self.get_service(service_id).await
    }

    /// Removes a service and everything it owns; for functional-test data only.
    pub async fn purge_service(&self, service_id: Uuid) -> DbResult<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        for sql in [
            "DELETE FROM notifications WHERE service_id = $1",
            "DELETE FROM notification_history WHERE service_id = $1",
            "DELETE FROM jobs WHERE service_id = $1",
            "UPDATE inbound_numbers SET service_id = NULL WHERE service_id = $1",
            "DELETE FROM service_sms_senders WHERE service_id = $1",
            "UPDATE templates SET service_letter_contact_id = NULL WHERE service_id = $1",
            "DELETE FROM services WHERE id = $1",
            "DELETE FROM services_history WHERE id = $1",
        ] {
            tx.execute_typed(sql, &[(&service_id, Type::UUID)]).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
