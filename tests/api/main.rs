//! Black-box tests of the public v2 API and the admin API: the real router, a fresh database per test.

mod admin;
mod auth;
// issue 14: bulk endpoint
mod bulk;
mod callback_log;
mod callbacks;
mod delivery;
// issue 16: files by email
mod documents;
mod documents_browser;
mod email_branding;
mod email_branding_browser;
mod firetext;
// issue 15: idem
mod idempotency;
mod jobs;
// issue 14: admin job API
mod jobs_admin;
// issue 14: job (the CLI)
mod jobs_cli;
// end issue 14: job
// issue 14: process
mod jobs_process;
// end issue 14: process
// issue 14: schedule
mod jobs_schedule;
mod lambda;
mod letters;
mod letters_admin;
mod letters_pipeline;
mod limits;
mod migrate;
// issue 15: OpenAPI
mod openapi;
mod outage;
mod outbox;
mod pipeline;
mod precompiled;
mod print;
mod queue;
mod reading;
mod secret_keys;
mod send;
mod signed_callbacks;
mod templates;

use serde_json::Value;

/// The v2 envelope's messages, for compact assertions.
pub fn messages(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

pub fn error_types(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["error"].as_str().unwrap().to_string())
        .collect()
}
