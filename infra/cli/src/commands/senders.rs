//! `notify sender` and `notify reply-to`: a service's SMS senders and email reply-to addresses.

use clap::Args;
use notify_app::admin;
use notify_db::SenderKind;
use uuid::Uuid;

use super::{print, state};

#[derive(Args)]
pub struct SenderArgs {
    #[arg(long)]
    service_id: Uuid,
    #[arg(long)]
    sender: String,
    #[arg(long)]
    default: bool,
}

#[derive(Args)]
pub struct ReplyToArgs {
    #[arg(long)]
    service_id: Uuid,
    #[arg(long)]
    email: String,
    #[arg(long)]
    default: bool,
}

pub async fn sender(args: SenderArgs, j: bool) -> anyhow::Result<()> {
    let SenderArgs {
        service_id,
        sender,
        default,
    } = args;
    let state = state(false).await?;
    let s = state
        .db
        .add_sender(SenderKind::Sms, service_id, &sender, default, None)
        .await?;
    print(j, admin::sender_json(SenderKind::Sms, &s), |v| {
        format!("created SMS sender {}", v["id"])
    });
    Ok(())
}

pub async fn reply_to(args: ReplyToArgs, j: bool) -> anyhow::Result<()> {
    let ReplyToArgs {
        service_id,
        email,
        default,
    } = args;
    let state = state(false).await?;
    notify_core::recipients::EmailAddress::parse(&email)
        .map_err(|e| anyhow::anyhow!("{email}: {e}"))?;
    let s = state
        .db
        .add_sender(SenderKind::ReplyTo, service_id, &email, default, None)
        .await?;
    print(j, admin::sender_json(SenderKind::ReplyTo, &s), |v| {
        format!("created reply-to {}", v["id"])
    });
    Ok(())
}
