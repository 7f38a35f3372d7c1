//! `notify fixtures …`: the functional tests' service, keys and templates.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use super::{print, state};
use crate::fixtures;

#[derive(Subcommand)]
pub enum FixturesCommand {
    /// Create the functional-test service, keys and templates and write them as `export` lines.
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
            let f = fixtures::functional_tests(&state, &api_url).await?;
            fixtures::write_env_file(&env_file, &f.lines)?;
            print(
                j,
                json!({"service_id": f.service_id, "env_file": env_file}),
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
