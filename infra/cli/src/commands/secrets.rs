//! `notify secrets …`: operators' tasks on SECRET_KEY.

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use notify_app::AppState;

use super::{print, state};

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Rewrite every encrypted column (API key secrets, callback tokens, personalisation, inbound texts) and the
    /// key check with SECRET_KEY's first key. Run with SECRET_KEY=new,old; safe to stop and run again.
    ReEncrypt {
        /// Rows read and rewritten per statement.
        #[arg(long, default_value_t = 500)]
        batch_size: i64,
    },
}

async fn report(state: &AppState, command: SecretsCommand) -> anyhow::Result<serde_json::Value> {
    match command {
        SecretsCommand::ReEncrypt { batch_size } => {
            anyhow::ensure!(batch_size > 0, "--batch-size must be positive");
            let encryptor = &state.encryptor;
            let total = notify_app::rotation::pending(&state.db, encryptor).await?;
            let bar = ProgressBar::new(total).with_style(
                ProgressStyle::with_template("{msg:40} [{bar:30}] {pos}/{len} ({eta})")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            let report =
                notify_app::rotation::re_encrypt(&state.db, encryptor, batch_size, &|col, n| {
                    bar.set_message(format!("{}.{}", col.table, col.column));
                    bar.inc(n);
                })
                .await?;
            bar.finish_and_clear();
            if report.unreadable > 0 {
                anyhow::bail!(
                    "{} values re-encrypted; {} could not be decrypted with any key of SECRET_KEY and were left \
                     (see the error log for their ids): do not remove the old key yet",
                    report.rewritten,
                    report.unreadable
                );
            }
            Ok(serde_json::to_value(report)?)
        }
    }
}

pub async fn run(command: SecretsCommand, j: bool) -> anyhow::Result<()> {
    let report = report(&state(false).await?, command).await?;
    print(j, report, |v| {
        format!("re-encrypted {} values", v["rewritten"])
    });
    Ok(())
}
