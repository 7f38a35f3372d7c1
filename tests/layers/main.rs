//! The house rules, checked against the dependency graph `cargo metadata` resolves (normal dependencies,
//! followed transitively), so a forbidden dependency fails the test command, not a review:
//! - `functions/callbacks` and `notify-outbound` reach no Postgres crate and not `notify-db`: a provider or
//!   callback call cannot name a database connection;
//! - `notify-core`, `notify-letters` (the renderer) and `notify-precompiled` (the print checks) reach no I/O crate:
//!   a letter is rendered, or an uploaded PDF checked, from plain values and bytes;
//! - `notify-files` reaches no Postgres crate and not `notify-db` or `notify-app`: a file is stored or read with no
//!   database connection held;
//! - no crate under `shared/` depends on `notify-http` or `notify-runtime`: only the functions, the CLI and the
//!   benchmarks (the entry points) sit on top.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// Crates that open sockets, files of the outside world, or run an event loop.
const IO_CRATES: &[&str] = &[
    "tokio",
    "mio",
    "socket2",
    "hyper",
    "reqwest",
    "axum",
    "tokio-postgres",
    "postgres-protocol",
    "deadpool",
    "deadpool-postgres",
    "redis",
    "aws-config",
    "aws-smithy-runtime",
    "aws-sdk-sqs",
    "aws-sdk-sesv2",
    "aws-sdk-secretsmanager",
    "aws-sdk-pinpointsmsvoicev2",
    "aws-sdk-s3",
    "lambda_runtime",
    "lambda_http",
    "notify-db",
    "notify-config",
    "notify-files",
    "notify-queue",
    "notify-outbound",
    "notify-app",
    "notify-http",
    "notify-runtime",
];

const POSTGRES_CRATES: &[&str] = &[
    "notify-db",
    "tokio-postgres",
    "postgres-protocol",
    "postgres-types",
    "deadpool",
    "deadpool-postgres",
    "tokio-postgres-rustls",
    "refinery",
];

/// The workspace's packages by name, each with the names of its normal dependencies.
struct Graph {
    deps: BTreeMap<String, BTreeSet<String>>,
    /// Workspace members by name → manifest directory relative to the workspace root.
    members: BTreeMap<String, String>,
}

impl Graph {
    /// This workspace's graph; `NOTIFY_LAYERS_MANIFEST` names another workspace's `Cargo.toml` (a copy of this
    /// one with a forbidden dependency added, to see the test fail on it).
    fn load() -> Graph {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let manifest = std::env::var("NOTIFY_LAYERS_MANIFEST")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml").into());
        let output = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--locked"])
            .arg("--manifest-path")
            .arg(manifest)
            .output()
            .expect("cargo metadata runs");
        assert!(
            output.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Graph::from_metadata(&serde_json::from_slice(&output.stdout).expect("metadata is JSON"))
    }

    fn from_metadata(metadata: &Value) -> Graph {
        let workspace_root = metadata["workspace_root"].as_str().unwrap_or_default();
        let mut names = BTreeMap::new();
        let mut members = BTreeMap::new();
        let member_ids: BTreeSet<&str> = metadata["workspace_members"]
            .as_array()
            .expect("workspace_members")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for package in metadata["packages"].as_array().expect("packages") {
            let id = package["id"].as_str().expect("id");
            let name = package["name"].as_str().expect("name").to_string();
            if member_ids.contains(id) {
                let manifest = package["manifest_path"].as_str().unwrap_or_default();
                let dir = manifest
                    .trim_start_matches(workspace_root)
                    .trim_start_matches('/')
                    .trim_end_matches("Cargo.toml")
                    .trim_end_matches('/')
                    .to_string();
                members.insert(name.clone(), dir);
            }
            names.insert(id.to_string(), name);
        }
        let mut deps = BTreeMap::new();
        for node in metadata["resolve"]["nodes"].as_array().expect("resolve") {
            let name = names[node["id"].as_str().expect("id")].clone();
            let normal: BTreeSet<String> = node["deps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|dep| {
                    dep["dep_kinds"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|kind| kind["kind"].is_null())
                })
                .map(|dep| names[dep["pkg"].as_str().expect("pkg")].clone())
                .collect();
            deps.entry(name)
                .or_insert_with(BTreeSet::new)
                .extend(normal);
        }
        Graph { deps, members }
    }

    /// Every crate `package` reaches through normal dependencies, with one path to each, for the message.
    fn reach(&self, package: &str) -> BTreeMap<String, Vec<String>> {
        let mut paths: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut stack = vec![vec![package.to_string()]];
        while let Some(path) = stack.pop() {
            let last = path.last().expect("non-empty").clone();
            for dep in self.deps.get(&last).into_iter().flatten() {
                if paths.contains_key(dep) {
                    continue;
                }
                let mut next = path.clone();
                next.push(dep.clone());
                paths.insert(dep.clone(), next.clone());
                stack.push(next);
            }
        }
        paths
    }

    /// The forbidden crates `package` reaches, each with the path that reaches it.
    fn forbidden(&self, package: &str, forbidden: &[&str]) -> Vec<String> {
        self.reach(package)
            .into_iter()
            .filter(|(dep, _)| forbidden.contains(&dep.as_str()))
            .map(|(_, path)| path.join(" → "))
            .collect()
    }
}

fn violations(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for package in ["callbacks", "notify-outbound"] {
        assert!(graph.members.contains_key(package), "{package} is a member");
        for path in graph.forbidden(package, POSTGRES_CRATES) {
            found.push(format!("{package} must not reach Postgres: {path}"));
        }
    }
    for package in ["notify-core", "notify-letters", "notify-precompiled"] {
        assert!(graph.members.contains_key(package), "{package} is a member");
        for path in graph.forbidden(package, IO_CRATES) {
            found.push(format!("{package} must have no I/O dependency: {path}"));
        }
    }
    assert!(
        graph.members.contains_key("notify-files"),
        "notify-files is a member"
    );
    for path in graph.forbidden("notify-files", &[POSTGRES_CRATES, &["notify-app"]].concat()) {
        found.push(format!("notify-files must not reach the database: {path}"));
    }
    for (package, dir) in &graph.members {
        if !dir.starts_with("shared/") {
            continue;
        }
        for top in ["notify-http", "notify-runtime"] {
            if package != top && graph.deps.get(package).is_some_and(|d| d.contains(top)) {
                found.push(format!(
                    "{package} ({dir}) depends on {top}: only the functions, the CLI and the benchmarks may"
                ));
            }
        }
    }
    found
}

#[test]
fn the_layers_hold() {
    let graph = Graph::load();
    let found = violations(&graph);
    assert!(
        found.is_empty(),
        "layer rules broken:\n{}",
        found.join("\n")
    );
}

/// The checks themselves: a graph with each forbidden edge added is refused, naming the path.
#[test]
fn each_forbidden_dependency_is_caught() {
    let graph = Graph::load();
    let with = |from: &str, to: &str| {
        let mut deps = graph.deps.clone();
        deps.get_mut(from).expect("known crate").insert(to.into());
        Graph {
            deps,
            members: graph.members.clone(),
        }
    };
    let cases = [
        (
            "notify-outbound",
            "notify-db",
            "notify-outbound must not reach Postgres",
        ),
        (
            "notify-queue",
            "tokio-postgres",
            "callbacks must not reach Postgres",
        ),
        (
            "notify-core",
            "tokio",
            "notify-core must have no I/O dependency",
        ),
        (
            "notify-letters",
            "tokio",
            "notify-letters must have no I/O dependency",
        ),
        (
            "notify-letters",
            "aws-sdk-s3",
            "notify-letters must have no I/O dependency",
        ),
        (
            "notify-precompiled",
            "tokio",
            "notify-precompiled must have no I/O dependency",
        ),
        (
            "notify-files",
            "notify-db",
            "notify-files must not reach the database",
        ),
        (
            "notify-files",
            "notify-app",
            "notify-files must not reach the database",
        ),
        (
            "notify-app",
            "notify-http",
            "notify-app (shared/app) depends on notify-http",
        ),
        (
            "notify-db",
            "notify-runtime",
            "notify-db (shared/db) depends on notify-runtime",
        ),
    ];
    for (from, to, expected) in cases {
        let found = violations(&with(from, to));
        assert!(
            found.iter().any(|v| v.starts_with(expected)),
            "{from} → {to} not caught: {found:?}"
        );
    }
}
