//! `notify letter …` (cancel a letter, record returned letters) and `notify letter-branding …` (the logos letters
//! print with).

use anyhow::Context;
use clap::Subcommand;
use notify_app::letter_admin;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{print, state};

#[derive(Subcommand)]
pub enum LetterCommand {
    /// Cancel a letter before it goes to print (17:30 London on its print day).
    Cancel {
        #[arg(long = "service-id", visible_alias = "service")]
        service_id: Uuid,
        #[arg(long = "notification-id", visible_alias = "notification")]
        notification_id: Uuid,
    },
    /// Record letters Royal Mail sent back, by their 16-character references.
    Returned {
        #[arg(required = true)]
        references: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum LetterBrandingCommand {
    /// Create a letter branding from a logo file (SVG or PNG, at most 1 MB).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// List every letter branding.
    List,
}

pub async fn run(command: LetterCommand, j: bool) -> anyhow::Result<()> {
    let state = state(false).await?;
    match command {
        LetterCommand::Cancel {
            service_id,
            notification_id,
        } => {
            let cancelled =
                letter_admin::cancel_letter(&state, service_id, notification_id).await?;
            print(j, cancelled, |v| {
                format!("letter {} cancelled", v["id"].as_str().unwrap_or_default())
            });
        }
        LetterCommand::Returned { references } => {
            let report = letter_admin::process_returned_letters(
                &state,
                &references,
                letter_admin::RETURNED_LETTERS_CHUNK,
            )
            .await?;
            print(
                j,
                json!({
                    "updated": report.updated + report.updated_history,
                    "unknown": report.unknown,
                    "callbacks": report.callbacks,
                }),
                |v| {
                    let mut text = format!(
                        "{} letters returned, {} callbacks due",
                        v["updated"], v["callbacks"]
                    );
                    for unknown in v["unknown"].as_array().into_iter().flatten() {
                        text.push_str(&format!(
                            "\nno letter has reference {}",
                            unknown.as_str().unwrap_or_default()
                        ));
                    }
                    text
                },
            );
        }
    }
    Ok(())
}

pub async fn branding(command: LetterBrandingCommand, j: bool) -> anyhow::Result<()> {
    let state = state(false).await?;
    match command {
        LetterBrandingCommand::Create { name, file } => {
            let logo =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let branding =
                letter_admin::create_letter_branding_with_logo(&state, &name, logo, None).await?;
            print(j, letter_admin::letter_branding_json(&branding), |v| {
                format!(
                    "created letter branding {} ({}, logo {})",
                    v["id"].as_str().unwrap_or_default(),
                    v["name"].as_str().unwrap_or_default(),
                    letter_admin::logo_key(v["filename"].as_str().unwrap_or_default())
                )
            });
        }
        LetterBrandingCommand::List => {
            let brandings: Vec<Value> = state
                .db
                .list_letter_branding()
                .await?
                .iter()
                .map(letter_admin::letter_branding_json)
                .collect();
            print(j, json!(brandings), |v| {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|b| {
                        format!(
                            "{}  {}  {}\n",
                            b["id"].as_str().unwrap_or_default(),
                            b["name"].as_str().unwrap_or_default(),
                            b["filename"].as_str().unwrap_or_default()
                        )
                    })
                    .collect()
            });
        }
    }
    Ok(())
}

/// `notify service set-letter-branding`: `None` takes the service's branding away.
pub async fn set_service_branding(
    service_id: Uuid,
    branding: Option<Uuid>,
    j: bool,
) -> anyhow::Result<()> {
    let state = state(false).await?;
    let service = letter_admin::set_service_letter_branding(&state, service_id, branding).await?;
    print(
        j,
        notify_app::admin::service_json(&service, &[]),
        |v| match v["letter_branding"].as_str() {
            Some(b) => format!("service {} prints with letter branding {b}", v["id"]),
            None => format!("service {} has no letter branding", v["id"]),
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
        letter: LetterCommand,
    }

    #[test]
    fn cancel_takes_the_service_and_notification_under_either_name() {
        let (s, n) = (Uuid::new_v4(), Uuid::new_v4());
        for args in [
            [
                "x",
                "cancel",
                "--service",
                &s.to_string(),
                "--notification",
                &n.to_string(),
            ],
            [
                "x",
                "cancel",
                "--service-id",
                &s.to_string(),
                "--notification-id",
                &n.to_string(),
            ],
        ] {
            let Cli {
                letter:
                    LetterCommand::Cancel {
                        service_id,
                        notification_id,
                    },
            } = Cli::try_parse_from(args).unwrap()
            else {
                panic!("not cancel")
            };
            assert_eq!((service_id, notification_id), (s, n));
        }
        assert!(Cli::try_parse_from(["x", "returned"]).is_err());
    }
}
