//! `notify letter …` (show a letter and why it failed validation, its PDF's status, cancel a letter, record
//! returned letters) and `notify letter-branding …` (the logos letters print with).

use anyhow::Context;
use clap::Subcommand;
use notify_app::letter_admin;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{print, state};

#[derive(Subcommand)]
pub enum LetterCommand {
    /// Show a notification as the admin API does: a letter with its pages and why it failed validation.
    Show {
        notification_id: Uuid,
        #[arg(long = "service-id", visible_alias = "service")]
        service_id: Uuid,
    },
    /// A letter's PDF: its files, the virus scan of a precompiled upload, the print checks.
    PdfStatus {
        notification_id: Uuid,
        #[arg(long = "service-id", visible_alias = "service")]
        service_id: Uuid,
    },
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
        LetterCommand::Show {
            notification_id,
            service_id,
        } => {
            let notification =
                letter_admin::admin_notification(&state, service_id, notification_id).await?;
            print(j, notification, notification_text);
        }
        LetterCommand::PdfStatus {
            notification_id,
            service_id,
        } => {
            let status =
                letter_admin::letter_pdf_status(&state, service_id, notification_id).await?;
            print(j, status, pdf_status_text);
        }
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

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The validation result's lines, when there is one.
fn validation_text(v: &Value) -> String {
    if v.is_null() {
        return String::new();
    }
    let mut out = format!("validation: {} ({})\n", text(&v["title"]), text(&v["code"]));
    if let Some(message) = v["message"].as_str().filter(|m| !m.is_empty()) {
        out.push_str(&format!("  {message}\n"));
    }
    if let Some(pages) = v["invalid_pages"].as_array().filter(|p| !p.is_empty()) {
        let pages: Vec<String> = pages.iter().map(text).collect();
        out.push_str(&format!("  invalid pages: {}\n", pages.join(", ")));
    }
    out
}

fn notification_text(v: &Value) -> String {
    let mut out = String::new();
    for (label, value) in [
        ("notification", &v["id"]),
        ("type", &v["notification_type"]),
        ("status", &v["status"]),
        ("to", &v["to"]),
        ("reference", &v["reference"]),
        ("client reference", &v["client_reference"]),
        ("key type", &v["key_type"]),
        ("created at", &v["created_at"]),
        ("sent at", &v["sent_at"]),
        ("billable units", &v["billable_units"]),
    ] {
        out.push_str(&format!("{label}: {}\n", text(value)));
    }
    out.push_str(&format!(
        "template: {} ({} v{})\n",
        text(&v["template"]["name"]),
        text(&v["template"]["id"]),
        text(&v["template"]["version"])
    ));
    if v.get("page_count").is_some() {
        out.push_str(&format!("postage: {}\n", text(&v["postage"])));
        out.push_str(&format!("pages: {}\n", text(&v["page_count"])));
        out.push_str(&validation_text(&v["validation"]));
    }
    out.trim_end().to_string()
}

fn pdf_status_text(v: &Value) -> String {
    let mut out = format!(
        "letter {}: {}{}\n",
        text(&v["notification_id"]),
        text(&v["status"]),
        if v["precompiled"] == true {
            " (precompiled)"
        } else {
            ""
        }
    );
    for (label, value) in [
        ("upload", &v["upload_key"]),
        ("file", &v["file_key"]),
        ("pages", &v["page_count"]),
        ("checked at", &v["checked_at"]),
    ] {
        out.push_str(&format!("{label}: {}\n", text(value)));
    }
    let scan = &v["scan"];
    if !scan.is_null() {
        let verdict = match scan["result"].as_str() {
            Some(result) => format!(
                "{result} by {} at {}{}",
                text(&scan["scanner"]),
                text(&scan["scanned_at"]),
                scan["signature"]
                    .as_str()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            ),
            None => "not yet".into(),
        };
        out.push_str(&format!("scan: {verdict}\n"));
        out.push_str(&format!(
            "failed scans: {}{}\n",
            text(&scan["attempts"]),
            scan["last_error"]
                .as_str()
                .map(|e| format!(", last at {}: {e}", text(&scan["last_scan_at"])))
                .unwrap_or_default()
        ));
    }
    out.push_str(&validation_text(&v["validation"]));
    out.trim_end().to_string()
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

    #[test]
    fn show_and_pdf_status_take_the_notification_and_its_service() {
        let (s, n) = (Uuid::new_v4(), Uuid::new_v4());
        let (s_arg, n_arg) = (s.to_string(), n.to_string());
        for flag in ["--service", "--service-id"] {
            let Cli {
                letter:
                    LetterCommand::Show {
                        service_id,
                        notification_id,
                    },
            } = Cli::try_parse_from(["x", "show", &n_arg, flag, &s_arg]).unwrap()
            else {
                panic!("not show")
            };
            assert_eq!((service_id, notification_id), (s, n));
            let Cli {
                letter:
                    LetterCommand::PdfStatus {
                        service_id,
                        notification_id,
                    },
            } = Cli::try_parse_from(["x", "pdf-status", flag, &s_arg, &n_arg]).unwrap()
            else {
                panic!("not pdf-status")
            };
            assert_eq!((service_id, notification_id), (s, n));
        }
        // Both are needed, and both are ids.
        assert!(Cli::try_parse_from(["x", "show", &n_arg]).is_err());
        assert!(Cli::try_parse_from(["x", "pdf-status", "--service", &s_arg]).is_err());
        assert!(Cli::try_parse_from(["x", "show", "abc", "--service", &s_arg]).is_err());
    }

    #[test]
    fn a_failed_letter_is_shown_with_its_reason_and_pages() {
        let validation = json!({
            "code": "content-outside-printable-area",
            "title": "Your content is outside the printable area",
            "message": "You need to edit pages 2 and 3. Files must meet our letter specification.",
            "invalid_pages": [2, 3],
        });
        let shown = notification_text(&json!({
            "id": "n1", "notification_type": "letter", "status": "validation-failed", "to": "Provided as PDF",
            "reference": "ABC", "client_reference": null, "key_type": "normal", "created_at": "t",
            "sent_at": null, "billable_units": 0, "postage": "second", "page_count": null,
            "template": {"id": "t1", "name": "Pre-compiled PDF", "version": 1},
            "validation": validation,
        }));
        assert!(shown.contains("status: validation-failed\n"), "{shown}");
        assert!(shown.contains("client reference: -\n"), "{shown}");
        assert!(
            shown.ends_with(
                "validation: Your content is outside the printable area (content-outside-printable-area)\n  \
                 You need to edit pages 2 and 3. Files must meet our letter specification.\n  invalid pages: 2, 3"
            ),
            "{shown}"
        );
        let status = pdf_status_text(&json!({
            "notification_id": "n1", "status": "virus-scan-failed", "precompiled": true,
            "upload_key": "precompiled/n1.pdf", "file_key": null, "page_count": null, "checked_at": null,
            "scan": {"scanner": "clamd", "result": "infected", "signature": "Notify.Test.EICAR.UNOFFICIAL",
                     "attempts": 2, "last_error": "timed out", "last_scan_at": "t0", "scanned_at": "t1"},
            "validation": null,
        }));
        assert_eq!(
            status,
            "letter n1: virus-scan-failed (precompiled)\nupload: precompiled/n1.pdf\nfile: -\npages: -\n\
             checked at: -\nscan: infected by clamd at t1 (Notify.Test.EICAR.UNOFFICIAL)\n\
             failed scans: 2, last at t0: timed out"
        );
    }
}
