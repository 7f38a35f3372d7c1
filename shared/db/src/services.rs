use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{Db, DbError, DbResult, text_enum};
use notify_core::model::{
    CallbackType, KeyType, NotificationType, Service, ServicePermission, StoredApiKey,
};

const SERVICE_COLUMNS: &str = "s.id, s.name, s.active, s.restricted, s.prefix_sms, s.rate_limit, \
    s.email_sender_local_part, s.contact_link, s.email_message_limit, s.sms_message_limit, s.letter_message_limit, \
    s.international_sms_message_limit, s.crown, s.created_at, \
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
}

#[derive(Clone, Debug)]
pub struct ApiKeyRecord {
    pub id: Uuid,
    pub name: String,
    pub key_type: KeyType,
    pub expiry_date: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub created_by_id: Option<Uuid>,
    pub updated_at: Option<DateTime<Utc>>,
    pub version: i32,
}

#[derive(Clone, Debug)]
pub struct UserRecord {
    pub id: Uuid,
    pub name: String,
    pub email_address: String,
    pub mobile_number: Option<String>,
    pub state: String,
    pub platform_admin: bool,
    pub auth_type: String,
    pub created_at: DateTime<Utc>,
    pub services: Vec<Uuid>,
}

#[derive(Clone, Debug)]
pub struct SenderRecord {
    pub id: Uuid,
    pub service_id: Uuid,
    pub value: String,
    pub is_default: bool,
    pub archived: bool,
    pub inbound_number_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// SMS senders, email reply-to addresses and letter contact blocks share one shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SenderKind {
    Sms,
    ReplyTo,
    LetterContact,
}

impl SenderKind {
    fn table(self) -> &'static str {
        match self {
            SenderKind::Sms => "service_sms_senders",
            SenderKind::ReplyTo => "service_email_reply_to",
            SenderKind::LetterContact => "service_letter_contacts",
        }
    }
    fn column(self) -> &'static str {
        match self {
            SenderKind::Sms => "sms_sender",
            SenderKind::ReplyTo => "email_address",
            SenderKind::LetterContact => "contact_block",
        }
    }
}

#[derive(Clone, Debug)]
pub struct GuestListEntry {
    pub id: Uuid,
    pub recipient_type: String,
    pub recipient: String,
}

#[derive(Clone, Debug)]
pub struct CallbackApiRecord {
    pub id: Uuid,
    pub service_id: Uuid,
    pub url: String,
    pub callback_type: CallbackType,
    pub encrypted_bearer_token: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by_id: Option<Uuid>,
}

#[derive(Clone, Debug)]
pub struct DataRetentionRecord {
    pub id: Uuid,
    pub service_id: Uuid,
    pub notification_type: NotificationType,
    pub days_of_retention: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug)]
pub struct InboundNumberRecord {
    pub id: Uuid,
    pub number: String,
    pub provider: String,
    pub service_id: Option<Uuid>,
    pub active: bool,
}

fn api_key_from_row(row: &Row) -> DbResult<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        key_type: text_enum(row, "key_type", KeyType::parse)?,
        expiry_date: row.try_get("expiry_date")?,
        created_at: row.try_get("created_at")?,
        created_by_id: row.try_get("created_by_id")?,
        updated_at: row.try_get("updated_at")?,
        version: row.try_get("version")?,
    })
}

fn user_from_row(row: &Row) -> DbResult<UserRecord> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        email_address: row.try_get("email_address")?,
        mobile_number: row.try_get("mobile_number")?,
        state: row.try_get("state")?,
        platform_admin: row.try_get("platform_admin")?,
        auth_type: row.try_get("auth_type")?,
        created_at: row.try_get("created_at")?,
        services: row.try_get("services")?,
    })
}

fn callback_from_row(row: &Row) -> DbResult<CallbackApiRecord> {
    Ok(CallbackApiRecord {
        id: row.try_get("id")?,
        service_id: row.try_get("service_id")?,
        url: row.try_get("url")?,
        callback_type: text_enum(row, "callback_type", CallbackType::parse)?,
        encrypted_bearer_token: row.try_get("bearer_token")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        updated_by_id: row.try_get("updated_by_id")?,
    })
}

const USER_COLUMNS: &str = "u.id, u.name, u.email_address, u.mobile_number, u.state, u.platform_admin, u.auth_type, \
    u.created_at, ARRAY(SELECT service_id FROM user_to_service x WHERE x.user_id = u.id) AS services";

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

    /// Team members' phone numbers and email addresses, plus the guest list: who a team key may send to.
    pub async fn team_and_guest_list(&self, service_id: Uuid) -> DbResult<Vec<(String, String)>> {
        let rows = self
            .query(
                "SELECT 'email' AS kind, u.email_address AS recipient FROM users u \
                     JOIN user_to_service x ON x.user_id = u.id WHERE x.service_id = $1 \
                 UNION ALL SELECT 'mobile', u.mobile_number FROM users u \
                     JOIN user_to_service x ON x.user_id = u.id WHERE x.service_id = $1 AND u.mobile_number IS NOT NULL \
                 UNION ALL SELECT recipient_type, recipient FROM service_whitelist WHERE service_id = $1",
                &[(&service_id, Type::UUID)],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    pub async fn create_api_key(
        &self,
        id: Uuid,
        service_id: Uuid,
        name: &str,
        key_type: KeyType,
        encrypted_secret: &str,
        created_by_id: Option<Uuid>,
    ) -> DbResult<ApiKeyRecord> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let row = tx
            .query_typed(
                "INSERT INTO api_keys (id, service_id, name, key_type, secret, created_by_id) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                &[
                    (&id, Type::UUID),
                    (&service_id, Type::UUID),
                    (&name, Type::TEXT),
                    (&key_type.as_str(), Type::TEXT),
                    (&encrypted_secret, Type::TEXT),
                    (&created_by_id, Type::UUID),
                ],
            )
            .await?;
        tx.execute_typed(
            "INSERT INTO api_keys_history SELECT * FROM api_keys WHERE id = $1",
            &[(&id, Type::UUID)],
        )
        .await?;
        tx.commit().await?;
        api_key_from_row(&row[0])
    }

    pub async fn revoke_api_key(&self, service_id: Uuid, key_id: Uuid) -> DbResult<bool> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let n = tx
            .execute_typed(
                "UPDATE api_keys SET expiry_date = now(), updated_at = now(), version = version + 1 \
                 WHERE id = $1 AND service_id = $2 AND expiry_date IS NULL",
                &[(&key_id, Type::UUID), (&service_id, Type::UUID)],
            )
            .await?;
        if n > 0 {
            tx.execute_typed(
                "INSERT INTO api_keys_history SELECT * FROM api_keys WHERE id = $1",
                &[(&key_id, Type::UUID)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Backdates a revocation; operators use it to retire a key that leaked long ago.
    pub async fn set_api_key_expiry(&self, key_id: Uuid, at: DateTime<Utc>) -> DbResult<()> {
        self.execute(
            "UPDATE api_keys SET expiry_date = $2, updated_at = now() WHERE id = $1",
            &[(&key_id, Type::UUID), (&at, Type::TIMESTAMPTZ)],
        )
        .await?;
        Ok(())
    }

    pub async fn list_api_keys(&self, service_id: Uuid) -> DbResult<Vec<ApiKeyRecord>> {
        self.query(
            "SELECT * FROM api_keys WHERE service_id = $1 ORDER BY created_at",
            &[(&service_id, Type::UUID)],
        )
        .await?
        .iter()
        .map(api_key_from_row)
        .collect()
    }

    pub async fn create_user(
        &self,
        id: Uuid,
        name: &str,
        email_address: &str,
        mobile_number: Option<&str>,
        platform_admin: bool,
    ) -> DbResult<UserRecord> {
        self.execute(
            "INSERT INTO users (id, name, email_address, mobile_number, platform_admin) VALUES ($1, $2, $3, $4, $5)",
            &[
                (&id, Type::UUID),
                (&name, Type::TEXT),
                (&email_address, Type::TEXT),
                (&mobile_number, Type::TEXT),
                (&platform_admin, Type::BOOL),
            ],
        )
        .await?;
        self.get_user(id)
            .await?
            .ok_or_else(|| DbError::Data("user vanished".into()))
    }

    pub async fn get_user(&self, id: Uuid) -> DbResult<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1");
        self.query_opt(&sql, &[(&id, Type::UUID)])
            .await?
            .map(|r| user_from_row(&r))
            .transpose()
    }

    pub async fn find_user_by_email(&self, email: &str) -> DbResult<Option<UserRecord>> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users u WHERE lower(u.email_address) = lower($1)");
        self.query_opt(&sql, &[(&email, Type::TEXT)])
            .await?
            .map(|r| user_from_row(&r))
            .transpose()
    }

    pub async fn add_user_to_service(
        &self,
        user_id: Uuid,
        service_id: Uuid,
        permissions: &[String],
    ) -> DbResult<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        tx.execute_typed(
            "INSERT INTO user_to_service (user_id, service_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[(&user_id, Type::UUID), (&service_id, Type::UUID)],
        )
        .await?;
        tx.execute_typed(
            "INSERT INTO permissions (id, user_id, service_id, permission) \
             SELECT gen_random_uuid(), $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING",
            &[
                (&user_id, Type::UUID),
                (&service_id, Type::UUID),
                (&permissions, Type::TEXT_ARRAY),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn service_users(&self, service_id: Uuid) -> DbResult<Vec<UserRecord>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u JOIN user_to_service t ON t.user_id = u.id \
             WHERE t.service_id = $1 ORDER BY u.created_at"
        );
        self.query(&sql, &[(&service_id, Type::UUID)])
            .await?
            .iter()
            .map(user_from_row)
            .collect()
    }

    pub async fn user_permissions(&self, user_id: Uuid) -> DbResult<Vec<(Uuid, String)>> {
        let rows = self
            .query(
                "SELECT service_id, permission FROM permissions WHERE user_id = $1 AND service_id IS NOT NULL \
                 ORDER BY permission",
                &[(&user_id, Type::UUID)],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Adds a sender, reply-to address or letter contact; a new default demotes the old one.
    pub async fn add_sender(
        &self,
        kind: SenderKind,
        service_id: Uuid,
        value: &str,
        is_default: bool,
        inbound_number_id: Option<Uuid>,
    ) -> DbResult<SenderRecord> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let table = kind.table();
        let column = kind.column();
        let existing: i64 = tx
            .query_typed(
                &format!("SELECT count(*) FROM {table} WHERE service_id = $1 AND NOT archived"),
                &[(&service_id, Type::UUID)],
            )
            .await?[0]
            .get(0);
        // The first one is always the default: a service cannot be left without one.
        let is_default = is_default || existing == 0;
        if is_default {
            tx.execute_typed(
                &format!("UPDATE {table} SET is_default = false, updated_at = now() WHERE service_id = $1"),
                &[(&service_id, Type::UUID)],
            )
            .await?;
        }
        let id = Uuid::new_v4();
        if kind == SenderKind::Sms {
            tx.execute_typed(
                "INSERT INTO service_sms_senders (id, service_id, sms_sender, is_default, inbound_number_id) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    (&id, Type::UUID),
                    (&service_id, Type::UUID),
                    (&value, Type::TEXT),
                    (&is_default, Type::BOOL),
                    (&inbound_number_id, Type::UUID),
                ],
            )
            .await?;
        } else {
            tx.execute_typed(
                &format!("INSERT INTO {table} (id, service_id, {column}, is_default) VALUES ($1, $2, $3, $4)"),
                &[(&id, Type::UUID), (&service_id, Type::UUID), (&value, Type::TEXT), (&is_default, Type::BOOL)],
            )
            .await?;
        }
        tx.commit().await?;
        drop(conn);
        self.get_sender(kind, service_id, Some(id))
            .await?
            .ok_or_else(|| DbError::Data("sender vanished".into()))
    }

    /// One sender by id, or the service's default when `id` is `None`. Archived ones are never returned.
    pub async fn get_sender(
        &self,
        kind: SenderKind,
        service_id: Uuid,
        id: Option<Uuid>,
    ) -> DbResult<Option<SenderRecord>> {
        let inbound = if kind == SenderKind::Sms {
            "inbound_number_id"
        } else {
            "NULL::uuid AS inbound_number_id"
        };
        let sql = format!(
            "SELECT id, service_id, {column} AS value, is_default, archived, {inbound}, created_at, updated_at \
             FROM {table} WHERE service_id = $1 AND NOT archived AND (CASE WHEN $2::uuid IS NULL THEN is_default \
             ELSE id = $2 END) ORDER BY created_at LIMIT 1",
            table = kind.table(),
            column = kind.column()
        );
        self.query_opt(&sql, &[(&service_id, Type::UUID), (&id, Type::UUID)])
            .await?
            .map(|r| sender_from_row(&r))
            .transpose()
    }

    pub async fn list_senders(
        &self,
        kind: SenderKind,
        service_id: Uuid,
    ) -> DbResult<Vec<SenderRecord>> {
        let inbound = if kind == SenderKind::Sms {
            "inbound_number_id"
        } else {
            "NULL::uuid AS inbound_number_id"
        };
        let sql = format!(
            "SELECT id, service_id, {column} AS value, is_default, archived, {inbound}, created_at, updated_at \
             FROM {table} WHERE service_id = $1 AND NOT archived ORDER BY is_default DESC, created_at",
            table = kind.table(),
            column = kind.column()
        );
        self.query(&sql, &[(&service_id, Type::UUID)])
            .await?
            .iter()
            .map(sender_from_row)
            .collect()
    }

    pub async fn add_guest_list_entry(
        &self,
        service_id: Uuid,
        recipient_type: &str,
        recipient: &str,
    ) -> DbResult<Uuid> {
        let id = Uuid::new_v4();
        self.execute(
            "INSERT INTO service_whitelist (id, service_id, recipient_type, recipient) VALUES ($1, $2, $3, $4)",
            &[(&id, Type::UUID), (&service_id, Type::UUID), (&recipient_type, Type::TEXT), (&recipient, Type::TEXT)],
        )
        .await?;
        Ok(id)
    }

    /// Replaces the whole guest list, as the admin app does.
    pub async fn replace_guest_list(
        &self,
        service_id: Uuid,
        entries: &[(String, String)],
    ) -> DbResult<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        tx.execute_typed(
            "DELETE FROM service_whitelist WHERE service_id = $1",
            &[(&service_id, Type::UUID)],
        )
        .await?;
        let kinds: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        let values: Vec<&str> = entries.iter().map(|(_, v)| v.as_str()).collect();
        tx.execute_typed(
            "INSERT INTO service_whitelist (id, service_id, recipient_type, recipient) \
             SELECT gen_random_uuid(), $1, k, v FROM unnest($2::text[], $3::text[]) AS t (k, v)",
            &[
                (&service_id, Type::UUID),
                (&kinds, Type::TEXT_ARRAY),
                (&values, Type::TEXT_ARRAY),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn guest_list(&self, service_id: Uuid) -> DbResult<Vec<GuestListEntry>> {
        let rows = self
            .query(
                "SELECT id, recipient_type, recipient FROM service_whitelist WHERE service_id = $1 ORDER BY created_at",
                &[(&service_id, Type::UUID)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(GuestListEntry {
                    id: r.try_get(0)?,
                    recipient_type: r.try_get(1)?,
                    recipient: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Creates or replaces the service's callback API of that type (one per type, as upstream).
    pub async fn upsert_callback_api(
        &self,
        service_id: Uuid,
        callback_type: CallbackType,
        url: &str,
        encrypted_bearer_token: &str,
        updated_by_id: Option<Uuid>,
    ) -> DbResult<CallbackApiRecord> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let rows = tx
            .query_typed(
                "INSERT INTO service_callback_api (id, service_id, callback_type, url, bearer_token, updated_by_id) \
                 VALUES (gen_random_uuid(), $1, $2, $3, $4, $5) \
                 ON CONFLICT (service_id, callback_type) DO UPDATE SET url = EXCLUDED.url, \
                     bearer_token = EXCLUDED.bearer_token, updated_by_id = EXCLUDED.updated_by_id, \
                     updated_at = now(), version = service_callback_api.version + 1 \
                 RETURNING *",
                &[
                    (&service_id, Type::UUID),
                    (&callback_type.as_str(), Type::TEXT),
                    (&url, Type::TEXT),
                    (&encrypted_bearer_token, Type::TEXT),
                    (&updated_by_id, Type::UUID),
                ],
            )
            .await?;
        let record = callback_from_row(&rows[0])?;
        tx.execute_typed(
            "INSERT INTO service_callback_api_history SELECT * FROM service_callback_api WHERE id = $1",
            &[(&record.id, Type::UUID)],
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    pub async fn callback_apis(&self, service_id: Uuid) -> DbResult<Vec<CallbackApiRecord>> {
        self.query(
            "SELECT * FROM service_callback_api WHERE service_id = $1 ORDER BY callback_type",
            &[(&service_id, Type::UUID)],
        )
        .await?
        .iter()
        .map(callback_from_row)
        .collect()
    }

    pub async fn delete_callback_api(&self, service_id: Uuid, callback_id: Uuid) -> DbResult<bool> {
        let n = self
            .execute(
                "DELETE FROM service_callback_api WHERE service_id = $1 AND id = $2",
                &[(&service_id, Type::UUID), (&callback_id, Type::UUID)],
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn upsert_data_retention(
        &self,
        service_id: Uuid,
        notification_type: NotificationType,
        days: i32,
    ) -> DbResult<DataRetentionRecord> {
        let rows = self
            .query(
                "INSERT INTO service_data_retention (id, service_id, notification_type, days_of_retention) \
                 VALUES (gen_random_uuid(), $1, $2, $3) \
                 ON CONFLICT (service_id, notification_type) DO UPDATE \
                     SET days_of_retention = EXCLUDED.days_of_retention, updated_at = now() \
                 RETURNING *",
                &[(&service_id, Type::UUID), (&notification_type.as_str(), Type::TEXT), (&days, Type::INT4)],
            )
            .await?;
        retention_from_row(&rows[0])
    }

    pub async fn data_retention(&self, service_id: Uuid) -> DbResult<Vec<DataRetentionRecord>> {
        self.query(
            "SELECT * FROM service_data_retention WHERE service_id = $1 ORDER BY notification_type",
            &[(&service_id, Type::UUID)],
        )
        .await?
        .iter()
        .map(retention_from_row)
        .collect()
    }

    /// Gives the service an inbound number (creating it if new) and makes it the service's default SMS sender.
    pub async fn assign_inbound_number(
        &self,
        service_id: Uuid,
        number: &str,
        provider: &str,
    ) -> DbResult<InboundNumberRecord> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let rows = tx
            .query_typed(
                "INSERT INTO inbound_numbers (id, number, provider, service_id, active) \
                 VALUES (gen_random_uuid(), $1, $2, $3, true) \
                 ON CONFLICT (number) DO UPDATE SET service_id = EXCLUDED.service_id, updated_at = now() \
                 RETURNING id, number, provider, service_id, active",
                &[(&number, Type::TEXT), (&provider, Type::TEXT), (&service_id, Type::UUID)],
            )
            .await?;
        let record = inbound_number_from_row(&rows[0])?;
        let already: i64 = tx
            .query_typed(
                "SELECT count(*) FROM service_sms_senders WHERE inbound_number_id = $1",
                &[(&record.id, Type::UUID)],
            )
            .await?[0]
            .get(0);
        if already == 0 {
            tx.execute_typed(
                "UPDATE service_sms_senders SET is_default = false, updated_at = now() WHERE service_id = $1",
                &[(&service_id, Type::UUID)],
            )
            .await?;
            tx.execute_typed(
                "INSERT INTO service_sms_senders (id, service_id, sms_sender, is_default, inbound_number_id) \
                 VALUES (gen_random_uuid(), $1, $2, true, $3)",
                &[(&service_id, Type::UUID), (&number, Type::TEXT), (&record.id, Type::UUID)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(record)
    }

    pub async fn inbound_number_for_service(
        &self,
        service_id: Uuid,
    ) -> DbResult<Option<InboundNumberRecord>> {
        self.query_opt(
            "SELECT id, number, provider, service_id, active FROM inbound_numbers WHERE service_id = $1",
            &[(&service_id, Type::UUID)],
        )
        .await?
        .map(|r| inbound_number_from_row(&r))
        .transpose()
    }
}

fn sender_from_row(row: &Row) -> DbResult<SenderRecord> {
    Ok(SenderRecord {
        id: row.try_get("id")?,
        service_id: row.try_get("service_id")?,
        value: row.try_get("value")?,
        is_default: row.try_get("is_default")?,
        archived: row.try_get("archived")?,
        inbound_number_id: row.try_get("inbound_number_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn retention_from_row(row: &Row) -> DbResult<DataRetentionRecord> {
    Ok(DataRetentionRecord {
        id: row.try_get("id")?,
        service_id: row.try_get("service_id")?,
        notification_type: text_enum(row, "notification_type", NotificationType::parse)?,
        days_of_retention: row.try_get("days_of_retention")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn inbound_number_from_row(row: &Row) -> DbResult<InboundNumberRecord> {
    Ok(InboundNumberRecord {
        id: row.try_get("id")?,
        number: row.try_get("number")?,
        provider: row.try_get("provider")?,
        service_id: row.try_get("service_id")?,
        active: row.try_get("active")?,
    })
}
