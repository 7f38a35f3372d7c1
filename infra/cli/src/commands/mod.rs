//! The commands, one module per group, each with its clap arguments and its `run`; and what they share: the local
//! configuration, the application state on it, and printing text or JSON.

pub mod admin_api;
pub mod bench;
pub mod callback;
pub mod callbacks;
pub mod check_template;
pub mod dev;
pub mod email_branding;
pub mod fixtures;
pub mod inbound;
pub mod job; // issue 14: job
pub mod keys;
pub mod letter;
pub mod migrate;
pub mod purge;
pub mod run_job;
pub mod secrets;
pub mod senders;
pub mod services;
pub mod templates;
pub mod users;

use std::collections::HashMap;

use notify_app::AppState;
use notify_config as config;
use notify_config::Config;
use serde_json::Value;

use crate::local_db;

/// The environment the local stack and the CLI run with: the process's, with development values where it has
/// none (`notify dev` passes its `port` for `API_HOST_NAME`). The loader then reads it as it reads any other.
fn local_environment(
    mut vars: HashMap<String, String>,
    port: Option<u16>,
) -> HashMap<String, String> {
    let mut fill = |name: &str, value: String| {
        if vars.get(name).is_none_or(|v| v.is_empty()) {
            vars.insert(name.into(), value);
        }
    };
    for (name, value) in config::DEVELOPMENT {
        fill(name, value.to_string());
    }
    if let Some(port) = port {
        fill("API_HOST_NAME", format!("http://127.0.0.1:{port}"));
    }
    vars
}

/// The local configuration, with a database found (or, if `may_start_db`, started) when `DATABASE_URL` is unset.
pub struct Local {
    pub config: Config,
    /// What the configuration was read from, the database included.
    pub vars: HashMap<String, String>,
    /// The private Postgres this process started: stopped when this is dropped, unless kept.
    pub private_db: Option<local_db::PrivateServer>,
}

/// The configuration of the CLI and of `notify dev` (given its `port`): the environment in `vars`, development
/// values where it has none, through the same loader as every function; and what it was read from. The database
/// is found or started afterwards when `DATABASE_URL` is unset.
async fn configure(
    vars: HashMap<String, String>,
    port: Option<u16>,
) -> anyhow::Result<(Config, HashMap<String, String>)> {
    let vars = local_environment(vars, port);
    Ok((Config::load_from(vars.clone()).await?, vars))
}

pub async fn local_config(may_start_db: bool, port: Option<u16>) -> anyhow::Result<Local> {
    let (mut config, mut vars) = configure(config::environment(), port).await?;
    let mut private_db = None;
    if config.database.url.is_empty() {
        let database = local_db::resolve(&config.local, may_start_db).await?;
        vars.insert("DATABASE_URL".into(), database.url.clone());
        config.database.url = database.url;
        private_db = database.started;
    }
    notify_core::metrics::init(config.metrics_namespace.as_deref());
    Ok(Local {
        config,
        vars,
        private_db,
    })
}

pub async fn state(may_start_db: bool) -> anyhow::Result<AppState> {
    let local = local_config(may_start_db, None).await?;
    let state = AppState::from_config(local.config, "notify-cli").await?;
    state.db.migrate().await?;
    state.check_secret_key().await?;
    Ok(state)
}

pub fn print(json_output: bool, value: Value, text: impl FnOnce(&Value) -> String) {
    use std::io::Write;
    let out = if json_output {
        serde_json::to_string_pretty(&value).expect("json")
    } else {
        text(&value)
    };
    // A reader that stops early (`| head`, `| grep -q`) closes the pipe: the command still did its work.
    if let Err(e) = writeln!(std::io::stdout().lock(), "{out}")
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: output not written: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify_config::ExposeSecret;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Measured before: with both secrets set `notify dev` switched loaders, lost SIMULATE_PROVIDERS' development
    /// value, and without them it ignored CALLBACK_ALLOW_PRIVATE_HOSTS.
    #[tokio::test]
    async fn notify_dev_reads_every_variable_with_or_without_its_own_secrets() {
        for secrets in [
            &[][..],
            &[
                ("SECRET_KEY", "my-key"),
                ("ADMIN_CLIENT_SECRET", "my-admin"),
            ][..],
        ] {
            let mut vars = env(secrets);
            vars.extend(env(&[
                ("CALLBACK_ALLOW_PRIVATE_HOSTS", "127.0.0.1"),
                ("CALLBACK_RETRY_SECONDS", "7"),
                ("DELIVERY_CONCURRENCY", "3"),
            ]));
            let (config, _) = configure(vars, Some(6102)).await.unwrap();
            assert!(config.providers.simulate, "{secrets:?}");
            assert_eq!(config.callbacks.allow_private_hosts, ["127.0.0.1"]);
            assert_eq!(config.callbacks.retry_delay.as_secs(), 7);
            assert_eq!(config.local.delivery_concurrency, 3);
            assert_eq!(config.api.host_name, "http://127.0.0.1:6102");
            let allow = notify_outbound::guard::AllowList::new(
                config.callbacks.allow_private_hosts.clone(),
            );
            let receiver = url::Url::parse("https://127.0.0.1:9443/callback").unwrap();
            notify_outbound::guard::check_url(&receiver, &allow).unwrap();
            if secrets.is_empty() {
                assert_eq!(config.secret_key.expose_secret(), config::DEV_SECRET_KEY);
                assert_eq!(
                    config.api.admin_client_secrets[0].expose_secret(),
                    config::DEV_ADMIN_CLIENT_SECRET
                );
            } else {
                assert_eq!(config.secret_key.expose_secret(), "my-key");
                assert_eq!(
                    config.api.admin_client_secrets[0].expose_secret(),
                    "my-admin"
                );
                assert_eq!(config.api.admin_client_secrets.len(), 1);
            }
        }
    }

    #[tokio::test]
    async fn what_the_environment_sets_wins_over_development_values() {
        let (config, vars) = configure(
            env(&[
                ("SIMULATE_PROVIDERS", "false"),
                ("API_HOST_NAME", "https://notify.example/"),
                ("SECRET_KEY", "my-key"),
            ]),
            Some(6102),
        )
        .await
        .unwrap();
        assert!(!config.providers.simulate);
        assert_eq!(config.api.host_name, "https://notify.example");
        let shown = config::differing_from_defaults(&vars);
        assert!(shown.contains(&("SECRET_KEY", "****".into())), "{shown:?}");
        assert!(shown.contains(&("API_HOST_NAME", "https://notify.example/".into())));
        assert!(!shown.iter().any(|(name, _)| *name == "SIMULATE_PROVIDERS"));
    }

    #[tokio::test]
    async fn other_commands_get_the_same_development_values_without_a_port() {
        let (config, _) = configure(env(&[]), None).await.unwrap();
        assert!(config.providers.simulate);
        assert_eq!(config.secret_key.expose_secret(), config::DEV_SECRET_KEY);
        assert_eq!(config.api.host_name, "http://127.0.0.1:6011");
    }
}
