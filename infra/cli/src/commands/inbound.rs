//! `notify inbound …`: inbound numbers and received texts.

use clap::Subcommand;
use notify_app::admin;
use serde_json::json;
use uuid::Uuid;

use super::{print, state};

#[derive(Subcommand)]
pub enum InboundCommand {
    /// Give a service an inbound number (it becomes its default sender).
    AssignNumber {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long)]
        number: String,
    },
    /// Record a text as received on the service's inbound number.
    Receive {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long)]
        from: String,
        #[arg(long)]
        content: String,
    },
}

pub async fn run(command: InboundCommand, j: bool) -> anyhow::Result<()> {
    match command {
        InboundCommand::AssignNumber { service_id, number } => {
            let state = state(false).await?;
            let n = state
                .db
                .assign_inbound_number(service_id, &number, "mmg")
                .await?;
            print(j, json!({"id": n.id, "number": n.number}), |v| {
                format!("inbound number {} assigned", v["number"])
            });
        }
        InboundCommand::Receive {
            service_id,
            from,
            content,
        } => {
            let state = state(false).await?;
            let id = admin::receive_inbound_sms(&state, service_id, &from, &content).await?;
            print(j, json!({"id": id}), |v| {
                format!("received text {}", v["id"])
            });
        }
    }
    Ok(())
}
