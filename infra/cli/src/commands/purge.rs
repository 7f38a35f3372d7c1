//! `notify purge …`: remove test data.

use clap::Subcommand;
use serde_json::json;

use super::{print, state};
use crate::fixtures;

#[derive(Subcommand)]
pub enum PurgeCommand {
    /// Delete the functional-test service and everything it sent.
    FunctionalTestData,
}

pub async fn run(command: PurgeCommand, j: bool) -> anyhow::Result<()> {
    match command {
        PurgeCommand::FunctionalTestData => {
            let state = state(false).await?;
            let purged = fixtures::purge(&state).await?;
            print(j, json!({"purged": purged}), |v| {
                format!("purged: {}", v["purged"])
            });
        }
    }
    Ok(())
}
