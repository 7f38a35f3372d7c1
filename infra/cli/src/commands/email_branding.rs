//! `notify email-branding …` (what a service's emails show above the body) and `notify service
//! set-email-branding`.

use anyhow::Context;
use clap::{Args, Subcommand};
use notify_app::email_branding::{self, BrandingChanges};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{print, state};

#[derive(Subcommand)]
pub enum EmailBrandingCommand {
    /// Create an email branding: `--type org` (logo, colour and text), `both` (the GOV.UK banner too),
    /// `org_banner` (the logo on a banner in the colour). `--type org` without `--logo` is "no branding": nothing
    /// above the body.
    Create {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        values: BrandingArgs,
    },
    /// Change an email branding: only what is given changes (`--no-logo`, `--no-colour` take them away).
    Update {
        branding_id: Uuid,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        values: BrandingArgs,
    },
    /// List every email branding.
    List,
}

#[derive(Args)]
pub struct BrandingArgs {
    /// `#` and six hex digits, like `#1d70b8`.
    #[arg(long, visible_alias = "color")]
    colour: Option<String>,
    #[arg(long, conflicts_with = "colour")]
    no_colour: bool,
    /// A PNG, JPEG or GIF file (at most 1 MB), shown 27 pixels high beside text, 54 without.
    #[arg(long)]
    logo: Option<std::path::PathBuf>,
    #[arg(long, conflicts_with = "logo")]
    no_logo: bool,
    /// Shown beside the logo (then the logo's alt text is empty).
    #[arg(long, conflicts_with = "alt_text")]
    text: Option<String>,
    /// The logo's alternative text, when there is no text beside it (default on create: the name).
    #[arg(long)]
    alt_text: Option<String>,
    /// org, both or org_banner.
    #[arg(long = "type", value_parser = ["org", "both", "org_banner"])]
    brand_type: Option<String>,
}

impl BrandingArgs {
    async fn changes(
        self,
        state: &notify_app::AppState,
        name: Option<String>,
    ) -> anyhow::Result<BrandingChanges> {
        let logo = match (self.logo, self.no_logo) {
            (Some(path), _) => {
                let bytes =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                Some(Some(email_branding::upload_email_logo(state, bytes).await?))
            }
            (None, true) => Some(None),
            (None, false) => None,
        };
        Ok(BrandingChanges {
            name,
            colour: if self.no_colour {
                Some(None)
            } else {
                self.colour.map(Some)
            },
            logo,
            // Text and alt text are one or the other: giving one clears the other.
            text: match (&self.text, &self.alt_text) {
                (Some(t), _) => Some(Some(t.clone())),
                (None, Some(_)) => Some(None),
                (None, None) => None,
            },
            alt_text: match (&self.text, &self.alt_text) {
                (_, Some(a)) => Some(Some(a.clone())),
                (Some(_), None) => Some(None),
                (None, None) => None,
            },
            brand_type: self.brand_type,
        })
    }
}

fn summary(v: &Value) -> String {
    format!(
        "{}  {}  {}  colour {}  logo {}",
        v["id"].as_str().unwrap_or_default(),
        v["name"].as_str().unwrap_or_default(),
        v["brand_type"].as_str().unwrap_or_default(),
        v["colour"].as_str().unwrap_or("none"),
        v["logo_url"].as_str().unwrap_or("none"),
    )
}

pub async fn run(command: EmailBrandingCommand, j: bool) -> anyhow::Result<()> {
    let state = state(false).await?;
    match command {
        EmailBrandingCommand::Create { name, values } => {
            let no_text = values.text.is_none() && values.alt_text.is_none();
            let mut changes = values.changes(&state, Some(name.clone())).await?;
            if no_text {
                changes.alt_text = Some(Some(name));
            }
            let branding = email_branding::create_email_branding(&state, changes, None).await?;
            print(
                j,
                email_branding::email_branding_json(&state, &branding),
                |v| format!("created email branding {}", summary(v)),
            );
        }
        EmailBrandingCommand::Update {
            branding_id,
            name,
            values,
        } => {
            let changes = values.changes(&state, name).await?;
            let branding =
                email_branding::update_email_branding(&state, branding_id, changes, None).await?;
            print(
                j,
                email_branding::email_branding_json(&state, &branding),
                |v| format!("updated email branding {}", summary(v)),
            );
        }
        EmailBrandingCommand::List => {
            let brandings: Vec<Value> = state
                .db
                .list_email_branding()
                .await?
                .iter()
                .map(|b| email_branding::email_branding_json(&state, b))
                .collect();
            print(j, json!(brandings), |v| {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|b| format!("{}\n", summary(b)))
                    .collect()
            });
        }
    }
    Ok(())
}

/// `notify service set-email-branding`: `None` gives the service the GOV.UK banner again.
pub async fn set_service_branding(
    service_id: Uuid,
    branding: Option<Uuid>,
    j: bool,
) -> anyhow::Result<()> {
    let state = state(false).await?;
    let service = email_branding::set_service_email_branding(&state, service_id, branding).await?;
    print(
        j,
        notify_app::admin::service_json(&service, &[]),
        |v| match v["email_branding"].as_str() {
            Some(b) => format!("service {} sends emails with email branding {b}", v["id"]),
            None => format!(
                "service {} has no email branding: its emails carry the GOV.UK banner",
                v["id"]
            ),
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: EmailBrandingCommand,
    }

    #[test]
    fn create_takes_the_upstream_types_only() {
        let ok = Cli::try_parse_from([
            "x",
            "create",
            "--name",
            "Org",
            "--colour",
            "#1d70b8",
            "--type",
            "org_banner",
            "--text",
            "Org",
        ]);
        assert!(ok.is_ok());
        assert!(Cli::try_parse_from(["x", "create", "--name", "Org", "--type", "govuk"]).is_err());
        assert!(
            Cli::try_parse_from([
                "x",
                "create",
                "--name",
                "O",
                "--text",
                "a",
                "--alt-text",
                "b"
            ])
            .is_err(),
            "text and alt text are one or the other"
        );
    }
}
