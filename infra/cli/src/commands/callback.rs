//! `notify callback`: a service's callback API, and `notify callback signing-secret …` its signing secret.

use anyhow::bail;
use clap::{Args, Subcommand};
use notify_app::{admin, callback_signing};
use notify_core::model::CallbackType;
use uuid::Uuid;

use super::{print, state};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CallbackArgs {
    #[command(subcommand)]
    command: Option<CallbackCommand>,
    #[arg(long, required = true)]
    service_id: Option<Uuid>,
    /// delivery_status, inbound_sms, complaint or returned_letter
    #[arg(long = "type", default_value = "delivery_status")]
    callback_type: String,
    #[arg(long, required = true)]
    url: Option<String>,
    #[arg(long, required = true)]
    bearer_token: Option<String>,
}

#[derive(Subcommand)]
enum CallbackCommand {
    /// The service's callback signing secret (Standard Webhooks `webhook-signature`).
    #[command(subcommand)]
    SigningSecret(SigningSecretCommand),
}

#[derive(Args)]
struct ServiceArg {
    #[arg(long, alias = "service-id")]
    service: Uuid,
}

#[derive(Subcommand)]
enum SigningSecretCommand {
    /// Make the service's first signing secret; it is shown this once.
    Create(ServiceArg),
    /// Make a new secret; the previous one also signs for 24 hours or until `finish-rotation`.
    Rotate(ServiceArg),
    /// End a rotation now: only the newest secret signs.
    FinishRotation(ServiceArg),
    /// The service's secrets, without the secrets.
    Show(ServiceArg),
    /// Stop signing the service's callbacks.
    Remove(ServiceArg),
}

pub async fn run(args: CallbackArgs, j: bool) -> anyhow::Result<()> {
    if let Some(CallbackCommand::SigningSecret(command)) = args.command {
        return signing_secret(command, j).await;
    }
    let CallbackArgs {
        service_id,
        callback_type,
        url,
        bearer_token,
        ..
    } = args;
    let (Some(service_id), Some(url), Some(bearer_token)) = (service_id, url, bearer_token) else {
        bail!("--service-id, --url and --bearer-token are required")
    };
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

async fn signing_secret(command: SigningSecretCommand, j: bool) -> anyhow::Result<()> {
    use SigningSecretCommand::*;
    let state = state(false).await?;
    match command {
        Create(ServiceArg { service }) => {
            show_new(j, &callback_signing::create(&state, service, None).await?)
        }
        Rotate(ServiceArg { service }) => {
            show_new(j, &callback_signing::rotate(&state, service, None).await?)
        }
        FinishRotation(ServiceArg { service }) => {
            let revoked = callback_signing::finish_rotation(&state, service).await?;
            print(j, serde_json::json!({"revoked": revoked}), |_| {
                format!("{revoked} previous signing secret(s) no longer sign")
            });
        }
        Show(ServiceArg { service }) => {
            let secrets = callback_signing::list(&state, service).await?;
            let value: Vec<_> = secrets.iter().map(callback_signing::secret_json).collect();
            print(j, serde_json::json!(value), |_| {
                if secrets.is_empty() {
                    return "no signing secrets: callbacks are not signed".into();
                }
                secrets
                    .iter()
                    .map(|s| {
                        let until = match s.expires_at {
                            None => "current".to_string(),
                            Some(at) if s.signing => {
                                format!("signing until {}", notify_core::time::format(at))
                            }
                            Some(at) => format!("stopped {}", notify_core::time::format(at)),
                        };
                        format!(
                            "{}  made {}  {until}",
                            s.id,
                            notify_core::time::format(s.created_at)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Remove(ServiceArg { service }) => {
            let removed = callback_signing::remove(&state, service).await?;
            print(j, serde_json::json!({"removed": removed}), |_| {
                format!("{removed} signing secret(s) removed: callbacks are no longer signed")
            });
        }
    }
    Ok(())
}

fn show_new(j: bool, new: &callback_signing::NewSigningSecret) {
    print(j, callback_signing::new_secret_json(new), |_| {
        format!(
            "signing secret {} made; it is not shown again:\n{}",
            new.record.id, new.secret
        )
    });
}
