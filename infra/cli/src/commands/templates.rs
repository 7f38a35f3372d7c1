//! `notify template …`: create templates, publish versions, list them.

use anyhow::{Context, bail};
use clap::Subcommand;
use notify_app::admin;
use notify_app::admin::CreateTemplate;
use notify_core::model::{NotificationType, Postage};
use notify_db::TemplateUpdate;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{print, state};

#[derive(Subcommand)]
pub enum TemplateCommand {
    Create {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long)]
        name: String,
        /// sms, email or letter
        #[arg(long = "type")]
        template_type: String,
        #[arg(long)]
        content: String,
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        postage: Option<String>,
    },
    /// Publish a new version of a template.
    Update {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long)]
        template_id: Uuid,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        content: Option<String>,
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        archived: Option<bool>,
    },
    /// Every version of a template, newest first.
    Versions {
        #[arg(long)]
        service_id: Uuid,
        #[arg(long)]
        template_id: Uuid,
    },
}

pub async fn run(command: TemplateCommand, j: bool) -> anyhow::Result<()> {
    match command {
        TemplateCommand::Update {
            service_id,
            template_id,
            name,
            content,
            subject,
            archived,
        } => {
            let state = state(false).await?;
            let update = TemplateUpdate {
                name,
                content,
                subject,
                archived,
                ..Default::default()
            };
            let t = state
                .db
                .update_template(service_id, template_id, &update)
                .await?
                .context("no such template")?;
            print(j, admin::template_admin_json(&t), |v| {
                format!("template {} is now version {}", v["id"], v["version"])
            });
        }
        TemplateCommand::Versions {
            service_id,
            template_id,
        } => {
            let state = state(false).await?;
            let versions: Vec<Value> = state
                .db
                .template_versions(service_id, template_id)
                .await?
                .iter()
                .map(admin::template_admin_json)
                .collect();
            print(j, json!(versions), |v| {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        format!(
                            "v{}  {}\n",
                            t["version"],
                            t["name"].as_str().unwrap_or_default()
                        )
                    })
                    .collect()
            });
        }
        TemplateCommand::Create {
            service_id,
            name,
            template_type,
            content,
            subject,
            postage,
        } => {
            let state = state(false).await?;
            let Some(template_type) = NotificationType::parse(&template_type) else {
                bail!("--type must be sms, email or letter")
            };
            let template = admin::create_template(
                &state,
                CreateTemplate {
                    service_id,
                    name,
                    template_type,
                    content,
                    subject,
                    postage: postage.as_deref().and_then(Postage::parse),
                    created_by: None,
                    letter_contact_id: None,
                    has_unsubscribe_link: false,
                },
            )
            .await?;
            print(j, admin::template_admin_json(&template), |v| {
                format!("created template {}", v["id"])
            });
        }
    }
    Ok(())
}
