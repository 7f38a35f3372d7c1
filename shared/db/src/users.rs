//! Users, their membership of services and their permissions there.

use chrono::{DateTime, Utc};
use postgres_from_row::FromRow;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{Db, DbError, DbResult, from_row};

#[derive(Clone, Debug, FromRow)]
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

const USER_COLUMNS: &str = "u.id, u.name, u.email_address, u.mobile_number, u.state, u.platform_admin, u.auth_type, \
    u.created_at, ARRAY(SELECT service_id FROM user_to_service x WHERE x.user_id = u.id) AS services";

impl Db {
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
            .map(|r| from_row(&r))
            .transpose()
    }

    pub async fn find_user_by_email(&self, email: &str) -> DbResult<Option<UserRecord>> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users u WHERE lower(u.email_address) = lower($1)");
        self.query_opt(&sql, &[(&email, Type::TEXT)])
            .await?
            .map(|r| from_row(&r))
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
            .map(from_row)
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
}
