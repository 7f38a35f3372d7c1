//! `notify service …`: create, list and change services.

use anyhow::{Context, bail};
use clap::Subcommand;
use notify_app::admin;
use notify_app::admin::CreateService;
use notify_core::model::{NotificationType, ServicePermission};
use notify_db::{SenderKind, ServiceUpdate};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{print, state};

#[derive(Subcommand)]
pub enum ServiceCommand {
    /// Create a service (in trial mode unless --live).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        live: bool,
        #[arg(long)]
        email_from: Option<String>,
        #[arg(long)]
        user_id: Option<Uuid>,
    },
    /// List every service.
    List,
    /// Change a service: go live, limits, permissions, contact link.
    Update {
        #[arg(long)]
        service_id: Uuid,
        /// Take the service out of trial mode.
        #[arg(long, conflicts_with = "trial")]
        live: bool,
        /// Put the service back in trial mode.
        #[arg(long)]
        trial: bool,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        active: Option<bool>,
        #[arg(long)]
        rate_limit: Option<i32>,
        #[arg(long)]
        sms_limit: Option<i64>,
        #[arg(long)]
        email_limit: Option<i64>,
        #[arg(long)]
        letter_limit: Option<i64>,
        #[arg(long)]
        international_sms_limit: Option<i64>,
        /// Comma-separated, replacing the current set (e.g. sms,email,letter,international_sms).
        #[arg(long, value_delimiter = ',')]
        permissions: Option<Vec<String>>,
        #[arg(long)]
        contact_link: Option<String>,
    },
    /// Replace the guest list (team keys and trial services may send to these).
    GuestList {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long, value_delimiter = ',')]
        emails: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        phones: Vec<String>,
    },
    /// Keep a channel's notifications for this many days (3 to 90).
    Retention {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long = "type")]
        notification_type: String,
        #[arg(long)]
        days: i32,
    },
    /// Give a service a letter branding (its letters' logo); --none takes it away.
    SetLetterBranding {
        #[arg(long = "service-id", visible_alias = "service")]
        service_id: Uuid,
        #[arg(long, required_unless_present = "none")]
        branding: Option<Uuid>,
        #[arg(long, conflicts_with = "branding")]
        none: bool,
    },
    /// Give a service an email branding; --none takes it away (its emails get the GOV.UK banner).
    SetEmailBranding {
        #[arg(long = "service-id", visible_alias = "service")]
        service_id: Uuid,
        #[arg(long, required_unless_present = "none")]
        branding: Option<Uuid>,
        #[arg(long, conflicts_with = "branding")]
        none: bool,
    },
    /// Add a letter contact block.
    LetterContact {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long)]
        contact_block: String,
        #[arg(long)]
        default: bool,
    },
}

pub async fn run(command: ServiceCommand, j: bool) -> anyhow::Result<()> {
    match command {
        ServiceCommand::Create {
            name,
            live,
            email_from,
            user_id,
        } => {
            let state = state(false).await?;
            let service = admin::create_service(
                &state,
                CreateService {
                    name,
                    created_by: user_id,
                    restricted: !live,
                    email_from,
                    permissions: None,
                    rate_limit: None,
                    message_limit: None,
                },
            )
            .await?;
            print(j, admin::service_json(&service, &[]), |v| {
                format!("created service {} ({})", v["id"], v["name"])
            });
        }
        ServiceCommand::List => {
            let state = state(false).await?;
            let services: Vec<Value> = state
                .db
                .list_services()
                .await?
                .iter()
                .map(|s| admin::service_json(s, &[]))
                .collect();
            print(j, json!(services), |v| {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| format!("{}  {}\n", s["id"], s["name"]))
                    .collect()
            });
        }
        ServiceCommand::Update {
            service_id,
            live,
            trial,
            name,
            active,
            rate_limit,
            sms_limit,
            email_limit,
            letter_limit,
            international_sms_limit,
            permissions,
            contact_link,
        } => {
            let state = state(false).await?;
            let permissions = permissions
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            ServicePermission::parse(p.trim())
                                .with_context(|| format!("unknown permission {p:?}"))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()
                })
                .transpose()?;
            let update = ServiceUpdate {
                name,
                active,
                restricted: if live {
                    Some(false)
                } else if trial {
                    Some(true)
                } else {
                    None
                },
                rate_limit,
                contact_link: contact_link.map(Some),
                sms_message_limit: sms_limit,
                email_message_limit: email_limit,
                letter_message_limit: letter_limit,
                international_sms_message_limit: international_sms_limit,
                permissions,
                ..Default::default()
            };
            let service = state
                .db
                .update_service(service_id, &update)
                .await?
                .context("no such service")?;
            print(j, admin::service_json(&service, &[]), |v| {
                format!("updated service {}", v["id"])
            });
        }
        ServiceCommand::GuestList {
            service_id,
            emails,
            phones,
        } => {
            let state = state(false).await?;
            let mut entries = Vec::new();
            for email in emails.iter().filter(|e| !e.trim().is_empty()) {
                notify_core::recipients::EmailAddress::parse(email)
                    .map_err(|e| anyhow::anyhow!("{email}: {e}"))?;
                entries.push(("email".to_string(), email.trim().to_string()));
            }
            for phone in phones.iter().filter(|p| !p.trim().is_empty()) {
                notify_core::recipients::PhoneNumber::parse(phone)
                    .map_err(|e| anyhow::anyhow!("{phone}: {e}"))?;
                entries.push(("mobile".to_string(), phone.trim().to_string()));
            }
            state.db.replace_guest_list(service_id, &entries).await?;
            print(j, json!({"entries": entries.len()}), |v| {
                format!("guest list set ({} entries)", v["entries"])
            });
        }
        ServiceCommand::Retention {
            service_id,
            notification_type,
            days,
        } => {
            let state = state(false).await?;
            let Some(t) = NotificationType::parse(&notification_type) else {
                bail!("--type must be sms, email or letter")
            };
            if !(3..=90).contains(&days) {
                bail!("--days must be from 3 to 90");
            }
            let r = state.db.upsert_data_retention(service_id, t, days).await?;
            print(
                j,
                json!({"id": r.id, "days_of_retention": r.days_of_retention}),
                |v| format!("retention set to {} days", v["days_of_retention"]),
            );
        }
        ServiceCommand::SetLetterBranding {
            service_id,
            branding,
            none: _,
        } => {
            super::letter::set_service_branding(service_id, branding, j).await?;
        }
        ServiceCommand::SetEmailBranding {
            service_id,
            branding,
            none: _,
        } => {
            super::email_branding::set_service_branding(service_id, branding, j).await?;
        }
        ServiceCommand::LetterContact {
            service_id,
            contact_block,
            default,
        } => {
            let state = state(false).await?;
            let c = state
                .db
                .add_sender(
                    SenderKind::LetterContact,
                    service_id,
                    &contact_block,
                    default,
                    None,
                )
                .await?;
            print(j, admin::sender_json(SenderKind::LetterContact, &c), |v| {
                format!("created letter contact {}", v["id"])
            });
        }
    }
    Ok(())
}
