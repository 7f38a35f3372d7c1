//! The schema: migrations embedded in every binary that runs them, and the local stack's own database.

use std::time::Duration;

use tokio_postgres::NoTls;
use tokio_postgres::types::Type;

use crate::{Db, DbError, DbResult};

mod embedded {
    refinery::embed_migrations!("../../infra/migrations");
}

impl Db {
    pub async fn migrate(&self) -> DbResult<usize> {
        let mut conn = self.conn().await?;
        let client: &mut tokio_postgres::Client = &mut conn;
        let report = embedded::migrations::runner()
            .run_async(client)
            .await
            .map_err(|e| DbError::Migration(with_causes(&e)))?;
        Ok(report.applied_migrations().len())
    }
}

/// An error and each of its causes, so that "db error" comes with the server's own words.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Creates `name` on the server behind `admin_url` unless it exists: the local stack's own database.
pub async fn ensure_database(admin_url: &str, name: &str) -> DbResult<()> {
    let (client, connection) = tokio_postgres::connect(admin_url, NoTls).await?;
    let task = tokio::spawn(connection);
    let exists = !client
        .query_typed(
            "SELECT 1 FROM pg_database WHERE datname = $1",
            &[(&name, Type::TEXT)],
        )
        .await?
        .is_empty();
    if !exists {
        let quoted = name.replace('"', "\"\"");
        if let Err(e) = client
            .batch_execute(&format!("CREATE DATABASE \"{quoted}\""))
            .await
        {
            // Another process created it between the check and now.
            if e.code() != Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) {
                return Err(e.into());
            }
        }
    }
    drop(client);
    let _ = task.await;
    Ok(())
}

/// Whether a Postgres server answers at `url` (within a second).
pub async fn answers(url: &str) -> bool {
    let Ok(mut config) = url.parse::<tokio_postgres::Config>() else {
        return false;
    };
    config.connect_timeout(Duration::from_secs(1));
    match config.connect(NoTls).await {
        Ok((client, connection)) => {
            let task = tokio::spawn(connection);
            drop(client);
            let _ = task.await;
            true
        }
        Err(_) => false,
    }
}
