//! `notify user …`: create users, add them to services.

use clap::Subcommand;
use notify_app::admin;
use serde_json::json;
use uuid::Uuid;

use super::{print, state};

#[derive(Subcommand)]
pub enum UserCommand {
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        mobile: Option<String>,
    },
    /// Make a user a member of a service's team.
    AddToService {
        #[arg(long)]
        user_id: Uuid,
        #[arg(long)]
        service_id: Uuid,
    },
}

pub async fn run(command: UserCommand, j: bool) -> anyhow::Result<()> {
    match command {
        UserCommand::Create {
            name,
            email,
            mobile,
        } => {
            let state = state(false).await?;
            let user = state
                .db
                .create_user(Uuid::new_v4(), &name, &email, mobile.as_deref(), false)
                .await?;
            print(j, admin::user_json(&user), |v| {
                format!("created user {}", v["id"])
            });
        }
        UserCommand::AddToService {
            user_id,
            service_id,
        } => {
            let state = state(false).await?;
            state
                .db
                .add_user_to_service(user_id, service_id, &[])
                .await?;
            print(
                j,
                json!({"user_id": user_id, "service_id": service_id}),
                |_| "added".into(),
            );
        }
    }
    Ok(())
}
