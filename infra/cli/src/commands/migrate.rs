//! `notify migrate`: pending database migrations.

use notify_db::Db;
use serde_json::json;

use super::{local_config, print};

pub async fn run(j: bool) -> anyhow::Result<()> {
    let config = local_config(false, None).await?.config;
    let db = Db::connect(&config.database.url, 1, "notify-migrate")?;
    let applied = db.migrate().await?;
    print(j, json!({"applied": applied}), |v| {
        format!("applied {} migration(s)", v["applied"])
    });
    Ok(())
}
