//! The table against the README and the loader, and each section read alone.

use std::collections::BTreeSet;

use super::*;
use crate::secrets::AwsSources;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn read<T>(
    pairs: &[(&str, &str)],
    read: impl FnOnce(&Vars, DatabaseCredentials) -> Result<T, ConfigError>,
) -> Result<T, ConfigError> {
    let vars = vars(pairs);
    let lookup = |name: &str| vars.get(name).cloned();
    read(&Vars::new(&lookup), DatabaseCredentials::InUrl)
}

/// The whole configuration `pairs` describe, with a `SECRET_KEY` unless they give one.
fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut pairs = pairs.to_vec();
    if !pairs.iter().any(|(k, _)| *k == "SECRET_KEY") {
        pairs.push(("SECRET_KEY", "k"));
    }
    read(&pairs, Config::read)
}

fn exposed(secrets: &[SecretString]) -> Vec<&str> {
    secrets.iter().map(|s| s.expose_secret()).collect()
}

/// The variables named in the first column of README.md's configuration table.
fn readme_variables() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .expect("a Configuration section")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    let mut names = BTreeSet::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let first = row.split('|').nth(1).unwrap_or_default();
        for (i, part) in first.split('`').enumerate() {
            if i % 2 == 1 {
                names.insert(part.to_string());
            }
        }
    }
    names
}

#[test]
fn the_readme_table_lists_exactly_the_variables_the_loader_reads() {
    let vars = vars(&[("SECRET_KEY", "k")]);
    let lookup = |name: &str| vars.get(name).cloned();
    let reader = Vars::new(&lookup);
    AwsSources::read(&reader).unwrap();
    Config::read(&reader, DatabaseCredentials::InUrl).unwrap();
    let read: BTreeSet<String> = reader.read.take().into_iter().map(String::from).collect();
    let table: BTreeSet<String> = VARIABLES.iter().map(|v| v.name.to_string()).collect();
    assert_eq!(read, table, "the loader reads exactly config::VARIABLES");
    let readme = readme_variables();
    let undocumented: Vec<_> = table.difference(&readme).collect();
    let unread: Vec<_> = readme.difference(&table).collect();
    assert!(
        undocumented.is_empty() && unread.is_empty(),
        "read but not in README's table: {undocumented:?}; in the table but never read: {unread:?}"
    );
}

/// Only the loader reads the environment; PATH (to find Postgres' tools) and the Lambda runtime's own
/// variable are not configuration.
#[test]
fn nothing_else_reads_the_environment() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut offenders = Vec::new();
    let mut dirs: Vec<std::path::PathBuf> = vec![
        format!("{root}/shared").into(),
        format!("{root}/infra/cli/src").into(),
    ];
    for entry in std::fs::read_dir(format!("{root}/functions")).unwrap() {
        dirs.push(entry.unwrap().path().join("src"));
    }
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.starts_with(format!("{root}/shared/config/src"))
                || path.extension() != Some("rs".as_ref())
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                let reads = ["env::var(", "env::var_os(", "env::vars(", "env = \""]
                    .iter()
                    .any(|p| line.contains(p));
                let allowed = [
                    "\"PATH\"",
                    "\"AWS_LAMBDA_FUNCTION_NAME\"",
                    "\"NOTIFY_API_URL\"",
                ]
                .iter()
                .any(|a| line.contains(a));
                // The test suites' own clamd (infra/scripts/clamd), never read by the product.
                let test_setup = line.contains("\"CLAMD_ADDRESS\"")
                    && path.components().any(|c| c.as_os_str() == "tests");
                if reads && !allowed && !test_setup {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "read outside config.rs: {offenders:#?}"
    );
}

#[test]
fn defaults_come_from_the_table() {
    let c = load(&[]).unwrap();
    assert_eq!(c.database.pool_size, 10);
    assert_eq!(c.api.admin_client_id, "notify-admin");
    assert!(c.api.admin_client_secrets.is_empty());
    assert_eq!(c.queues.callbacks_dlq, "service-callbacks-dlq");
    assert_eq!(
        c.providers.firetext_url,
        "https://www.firetext.co.uk/api/sendsms/json"
    );
    assert_eq!(c.delivery.max_attempts, 48);
    assert_eq!(c.delivery.retry_delay.as_secs(), 300);
    assert_eq!(c.api.lookup_cache_ttl.as_millis(), 2000);
    assert!(!c.providers.simulate && !c.providers.ses_enabled && !c.providers.aws_sms_enabled);
    assert_eq!(c.local.delivery_concurrency, 200);
    assert_eq!(c.local.private_postgres_port, 55432);
    assert!(c.metrics_namespace.is_none());
}

#[test]
fn values_are_parsed_and_bad_ones_named() {
    let c = load(&[
        ("CALLBACK_ALLOW_PRIVATE_HOSTS", " 127.0.0.1, localhost ,"),
        ("SIMULATE_PROVIDERS", "1"),
        ("API_HOST_NAME", "https://api.example/"),
        ("CALLBACK_TIMEOUT_MS", "250"),
        ("ADMIN_CLIENT_SECRET", "new,old"),
        ("METRICS_NAMESPACE", "Notify"),
    ])
    .unwrap();
    assert_eq!(c.callbacks.allow_private_hosts, ["127.0.0.1", "localhost"]);
    assert!(c.providers.simulate);
    assert_eq!(c.api.host_name, "https://api.example");
    assert_eq!(c.callbacks.timeout.as_millis(), 250);
    assert_eq!(exposed(&c.api.admin_client_secrets), ["new", "old"]);
    assert_eq!(c.metrics_namespace.as_deref(), Some("Notify"));
    for (name, value) in [
        ("DATABASE_POOL_SIZE", "ten"),
        ("SIMULATE_PROVIDERS", "yes"),
        ("NOTIFY_DEV_POSTGRES", "public"),
        ("CALLBACK_MAX_RETRIES", "-1"),
    ] {
        let e = load(&[(name, value)]).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains(value), "{e}");
    }
}

#[test]
fn settings_that_differ_from_defaults_are_shown_with_secrets_masked() {
    let vars: HashMap<String, String> = [
        ("SECRET_KEY", "s3cret"),
        ("DATABASE_URL", "postgres://u:pw@db/notify"),
        ("DATABASE_POOL_SIZE", "10"),
        ("SIMULATE_PROVIDERS", "true"),
        ("REDIS_URL", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        differing_from_defaults(&vars),
        [
            ("DATABASE_URL", "postgres://u:****@db/notify".to_string()),
            ("SECRET_KEY", "****".to_string()),
            ("SIMULATE_PROVIDERS", "true".to_string()),
        ]
    );
}

#[test]
fn the_development_configuration_simulates_providers_with_development_secrets() {
    let c = Config::for_development("postgres://db/x");
    assert_eq!(c.database.url, "postgres://db/x");
    assert_eq!(c.secret_key.expose_secret(), DEV_SECRET_KEY);
    assert_eq!(
        exposed(&c.api.admin_client_secrets),
        [DEV_ADMIN_CLIENT_SECRET]
    );
    assert!(c.providers.simulate);
}

/// Each function builds only its sections: the callbacks worker and migrate need nothing of the others, and what
/// one needs cannot be built without it.
#[tokio::test]
async fn each_section_loads_alone_and_required_values_are_types() {
    let none = vars(&[]);
    let missing = |e: ConfigError| e.to_string();
    assert_eq!(
        missing(Config::load_from(none.clone()).await.unwrap_err()),
        "configuration: SECRET_KEY must be set"
    );
    assert_eq!(
        missing(
            CallbackWorkerConfig::load_from(none.clone())
                .await
                .unwrap_err()
        ),
        "configuration: SECRET_KEY must be set"
    );
    assert_eq!(
        missing(
            ApiFunctionConfig::load_from(vars(&[("SECRET_KEY", "k")]))
                .await
                .unwrap_err()
        ),
        "configuration: ADMIN_CLIENT_SECRET must be set"
    );
    let api =
        ApiFunctionConfig::load_from(vars(&[("SECRET_KEY", "k"), ("ADMIN_CLIENT_SECRET", "a")]))
            .await
            .unwrap()
            .into_config();
    assert_eq!(exposed(&api.api.admin_client_secrets), ["a"]);
    let db = DatabaseConfig::load_from(vars(&[("DATABASE_URL", "postgres://db/x")]))
        .await
        .unwrap();
    assert_eq!((db.url.as_str(), db.pool_size), ("postgres://db/x", 10));
    assert!(
        ApiConfig::load_from(none.clone())
            .await
            .unwrap()
            .admin_client_secrets
            .is_empty()
    );
    let worker = CallbackWorkerConfig::load_from(vars(&[
        ("SECRET_KEY", "k"),
        ("CALLBACK_MAX_RETRIES", "2"),
        ("SQS_ENDPOINT_URL", "http://127.0.0.1:5000"),
    ]))
    .await
    .unwrap();
    assert_eq!(worker.callbacks.max_retries, 2);
    assert_eq!(
        worker.queues.endpoint_url.as_deref(),
        Some("http://127.0.0.1:5000")
    );
    assert_eq!(worker.secret_key.expose_secret(), "k");
    let e = read(
        &[("SECRET_KEY", "k"), ("CALLBACK_TIMEOUT_MS", "soon")],
        |v, _| CallbackWorkerConfig::read(v),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("CALLBACK_TIMEOUT_MS") && e.contains("soon"),
        "{e}"
    );
}

#[test]
fn secrets_are_not_shown_by_debug() {
    let c = load(&[
        ("SECRET_KEY", "s3cret"),
        ("FIRETEXT_API_KEY", "f1re"),
        ("ADMIN_CLIENT_SECRET", "adm1n"),
    ])
    .unwrap();
    let shown = format!("{c:?}");
    for secret in ["s3cret", "f1re", "adm1n"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn letters_print_simulated_unless_dvla_is_configured_with_its_credentials() {
    let c = load(&[]).unwrap();
    assert!(c.print.dvla_api_url.is_none());
    assert_eq!(c.print.simulated_despatch_after.as_secs(), 5);

    let e = load(&[
        ("DVLA_API_URL", "https://dvla.example"),
        ("DVLA_USERNAME", "notify"),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("DVLA_PASSWORD, DVLA_API_KEY") && !e.contains("DVLA_USERNAME,"),
        "{e}"
    );

    let c = load(&[
        ("DVLA_API_URL", "https://dvla.example/"),
        ("DVLA_USERNAME", "notify"),
        ("DVLA_PASSWORD", "pa55word"),
        ("DVLA_API_KEY", "k3y"),
        ("DVLA_CREDENTIALS_SECRET", "notify/dvla"),
        ("SIMULATED_PRINTER_DESPATCH_SECONDS", "0"),
    ])
    .unwrap();
    assert_eq!(
        c.print.dvla_api_url.as_deref(),
        Some("https://dvla.example")
    );
    assert_eq!(c.print.dvla_username.as_deref(), Some("notify"));
    assert_eq!(
        c.print.dvla_password.as_ref().map(|s| s.expose_secret()),
        Some("pa55word")
    );
    assert_eq!(
        c.print.dvla_credentials_secret.as_deref(),
        Some("notify/dvla")
    );
    assert!(c.print.simulated_despatch_after.is_zero());
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("pa55word") && !debug.contains("k3y"),
        "{debug}"
    );
    assert_eq!(shown("DVLA_API_KEY", "k3y"), "****");
    assert_eq!(shown("DVLA_PASSWORD", "pa55word"), "****");
}
