//! `notify fixtures …`: the functional tests' service, keys and templates, and the letter PDF they send as a
//! precompiled letter.

use std::path::{Path, PathBuf};

use anyhow::Context;

use clap::Subcommand;
use serde_json::json;

use super::{print, state};
use crate::fixtures;

#[derive(Subcommand)]
pub enum FixturesCommand {
    /// Create the functional-test service, keys and templates and write them as `export` lines; the precompiled
    /// letter the clients send is written next to the env file, its path as `PRECOMPILED_LETTER_PDF`.
    FunctionalTests {
        #[arg(long)]
        env_file: PathBuf,
        /// The API base URL the clients should use.
        #[arg(long, default_value = "http://127.0.0.1:6011")]
        api_url: String,
    },
}

pub async fn run(command: FixturesCommand, j: bool) -> anyhow::Result<()> {
    match command {
        FixturesCommand::FunctionalTests { env_file, api_url } => {
            let state = state(false).await?;
            let mut f = fixtures::functional_tests(&state, &api_url).await?;
            let letter = write_precompiled_letter(&env_file)?;
            f.lines.push((
                "PRECOMPILED_LETTER_PDF".into(),
                letter.to_string_lossy().into_owned(),
            ));
            fixtures::write_env_file(&env_file, &f.lines)?;
            print(
                j,
                json!({"service_id": f.service_id, "env_file": env_file, "precompiled_letter_pdf": letter}),
                |v| {
                    format!(
                        "functional test fixtures for service {} written to {}",
                        v["service_id"], v["env_file"]
                    )
                },
            );
        }
    }
    Ok(())
}

/// The address the clients' precompiled letter carries in its window (what the API must read back from it).
pub const PRECOMPILED_LETTER_ADDRESS: [&str; 4] =
    ["Ms A Smith", "1 High Street", "London", "SW1A 1AA"];

/// Where the precompiled letter goes: beside the env file, under one fixed name, so repeated runs overwrite it
/// rather than leave a file each (the env file itself is deleted once read; the PDF must outlive it).
pub fn precompiled_letter_path(env_file: &Path) -> PathBuf {
    let dir = match env_file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    dir.join("notify-precompiled-letter.pdf")
}

/// A clean one-page A4 letter, written whole or not at all (two runs at once each rename their own copy in).
fn write_precompiled_letter(env_file: &Path) -> anyhow::Result<PathBuf> {
    let path = std::path::absolute(precompiled_letter_path(env_file))?;
    let pdf = notify_precompiled::samples::letter(&PRECOMPILED_LETTER_ADDRESS, 1);
    let partial = path.with_extension(format!("pdf.{}", std::process::id()));
    std::fs::write(&partial, pdf).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_letter_goes_beside_the_env_file() {
        assert_eq!(
            precompiled_letter_path(Path::new("/tmp/tmp.abc")),
            Path::new("/tmp/notify-precompiled-letter.pdf")
        );
        assert_eq!(
            precompiled_letter_path(Path::new("env")),
            Path::new("./notify-precompiled-letter.pdf")
        );
    }

    #[test]
    fn the_letter_is_written_whole() {
        let dir = std::env::temp_dir().join(format!("notify-fixtures-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = write_precompiled_letter(&dir.join("env")).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            notify_precompiled::samples::letter(&PRECOMPILED_LETTER_ADDRESS, 1)
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
