//! `notify check-template [PATH]`: template.yaml's SAM-level mistakes that cfn-lint lets through.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::json;

use super::print;
use crate::template_check;

#[derive(Args)]
pub struct CheckTemplateArgs {
    #[arg(default_value = "template.yaml")]
    path: PathBuf,
}

pub fn run(args: CheckTemplateArgs, j: bool) -> anyhow::Result<()> {
    let CheckTemplateArgs { path } = args;
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let problems = template_check::problems(&template_check::load(&text)?);
    print(j, json!({"problems": problems}), |v| {
        let problems = v["problems"].as_array().map(Vec::len).unwrap_or(0);
        if problems == 0 {
            "no known SAM mistakes".into()
        } else {
            format!(
                "{problems} problem(s):\n{}",
                v["problems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        }
    });
    if !problems.is_empty() {
        bail!("{} has {} known mistake(s)", path.display(), problems.len());
    }
    Ok(())
}
