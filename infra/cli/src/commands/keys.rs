//! `notify key …`: API keys.

use anyhow::bail;
use clap::Subcommand;
use notify_app::admin;
use notify_core::model::KeyType;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{print, state};

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create a key; its secret is shown this once.
    Create {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long)]
        name: String,
        /// normal (live), team or test
        #[arg(long = "type", default_value = "normal")]
        key_type: String,
    },
    Revoke {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long)]
        key_id: Uuid,
    },
    List {
        #[arg(long)]
        service_id: Uuid,
    },
}

pub async fn run(command: KeyCommand, j: bool) -> anyhow::Result<()> {
    match command {
        KeyCommand::Create {
            service_id,
            name,
            key_type,
        } => {
            let state = state(false).await?;
            let Some(key_type) = KeyType::parse(&key_type) else {
                bail!("--type must be normal, team or test")
            };
            let (record, key) =
                admin::create_api_key(&state, service_id, &name, key_type, None).await?;
            print(j, json!({"id": record.id, "key": key}), |v| {
                format!(
                    "API key (shown once): {}",
                    v["key"].as_str().unwrap_or_default()
                )
            });
        }
        KeyCommand::Revoke { service_id, key_id } => {
            let state = state(false).await?;
            let revoked = state.db.revoke_api_key(service_id, key_id).await?;
            print(j, json!({"revoked": revoked}), |v| {
                format!("revoked: {}", v["revoked"])
            });
        }
        KeyCommand::List { service_id } => {
            let state = state(false).await?;
            let keys: Vec<Value> = state
                .db
                .list_api_keys(service_id)
                .await?
                .iter()
                .map(|k| admin::api_key_json(k, service_id))
                .collect();
            print(j, json!(keys), |v| {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|k| {
                        format!(
                            "{}  {}  {}  revoked: {}\n",
                            k["id"], k["name"], k["key_type"], k["expiry_date"]
                        )
                    })
                    .collect()
            });
        }
    }
    Ok(())
}
