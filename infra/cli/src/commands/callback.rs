//! `notify callback`: a service's callback API.

use anyhow::bail;
use clap::Args;
use notify_app::admin;
use notify_core::model::CallbackType;
use uuid::Uuid;

use super::{print, state};

#[derive(Args)]
pub struct CallbackArgs {
    #[arg(long)]
    service_id: Uuid,
    /// delivery_status, inbound_sms, complaint or returned_letter
    #[arg(long = "type", default_value = "delivery_status")]
    callback_type: String,
    #[arg(long)]
    url: String,
    #[arg(long)]
    bearer_token: String,
}

pub async fn run(args: CallbackArgs, j: bool) -> anyhow::Result<()> {
    let CallbackArgs {
        service_id,
        callback_type,
        url,
        bearer_token,
    } = args;
    let state = state(false).await?;
    let Some(callback_type) = CallbackType::parse(&callback_type) else {
        bail!("--type must be delivery_status, inbound_sms, complaint or returned_letter")
    };
    let c = admin::set_callback_api(&state, service_id, callback_type, &url, &bearer_token, None)
        .await?;
    print(j, admin::callback_json(&c), |v| {
        format!("callback API {} set", v["id"])
    });
    Ok(())
}
