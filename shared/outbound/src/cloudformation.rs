//! Migrations on every deploy: the template's `Custom::DatabaseMigrations` resource invokes `functions/migrate`,
//! which runs the pending migrations and answers CloudFormation on the pre-signed URL it was given. An answer is
//! always sent, FAILED with the error when the migrations fail or run out of time: without one, CloudFormation waits
//! an hour and the deploy hangs instead of failing and rolling back.

use std::future::Future;
use std::time::Duration;

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceRequest as Request,
    CloudFormationCustomResourceResponse as Response,
    CloudFormationCustomResourceResponseStatus as Status,
};

/// The same id on every answer: a new one would make CloudFormation delete the "old" resource after an update.
pub const PHYSICAL_RESOURCE_ID: &str = "notify-database-migrations";

/// CloudFormation refuses answers over 4 KB; the reason is the only part that can grow.
const MAX_REASON: usize = 1_000;

/// What CloudFormation should hear, before it is sent.
pub async fn answer<F, Fut>(request: &Request, migrate: F, time_left: Duration) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<usize>>,
{
    let (stack_id, request_id, logical_id, physical_id) = match request {
        Request::Create(r) => (&r.stack_id, &r.request_id, &r.logical_resource_id, None),
        Request::Update(r) => (
            &r.stack_id,
            &r.request_id,
            &r.logical_resource_id,
            Some(&r.physical_resource_id),
        ),
        Request::Delete(r) => (
            &r.stack_id,
            &r.request_id,
            &r.logical_resource_id,
            Some(&r.physical_resource_id),
        ),
        _ => unreachable!("CloudFormation sends Create, Update or Delete"),
    };
    let outcome = match request {
        // The schema outlives the stack: deleting it would delete every service's data.
        Request::Delete(_) => Ok(None),
        _ => match tokio::time::timeout(time_left, migrate()).await {
            Ok(Ok(applied)) => Ok(Some(applied)),
            Ok(Err(e)) => Err(format!("migrations failed: {e:#}")),
            Err(_) => Err(format!(
                "migrations did not finish within {} s (a lock held by a running function?)",
                time_left.as_secs()
            )),
        },
    };
    let mut response = Response::default();
    response.stack_id = stack_id.clone();
    response.request_id = request_id.clone();
    response.logical_resource_id = logical_id.clone();
    response.physical_resource_id = physical_id
        .cloned()
        .unwrap_or_else(|| PHYSICAL_RESOURCE_ID.into());
    match outcome {
        Ok(applied) => {
            response.status = Status::Success;
            if let Some(applied) = applied {
                response.data.insert("Applied".into(), applied.to_string());
            }
        }
        Err(reason) => {
            tracing::error!(reason, "database migrations failed");
            response.status = Status::Failed;
            response.reason = Some(reason.chars().take(MAX_REASON).collect());
        }
    }
    response
}

/// The request's pre-signed URL, for sending the answer to.
pub fn response_url(request: &Request) -> &str {
    match request {
        Request::Create(r) => &r.response_url,
        Request::Update(r) => &r.response_url,
        Request::Delete(r) => &r.response_url,
        _ => unreachable!("CloudFormation sends Create, Update or Delete"),
    }
}

/// PUTs the answer. The URL is pre-signed for an empty content type, so none is sent; retried, since a lost
/// answer costs the operator an hour.
pub async fn send(
    http: &reqwest::Client,
    url: &str,
    response: &Response,
) -> Result<(), reqwest::Error> {
    let body = serde_json::to_vec(response).expect("the answer serialises");
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sent = http
            .put(url)
            .header(http::header::CONTENT_TYPE, "")
            .body(body.clone())
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .and_then(|r| r.error_for_status());
        match sent {
            Ok(_) => return Ok(()),
            Err(e) if attempt >= 3 => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, attempt, "answering CloudFormation failed; trying again");
                tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
            }
        }
    }
}

/// The whole invocation: decide, then answer. Nothing here holds a database connection while it calls out: the
/// migration's connection is closed when `migrate` returns.
pub async fn handle<F, Fut>(
    http: &reqwest::Client,
    request: Request,
    migrate: F,
    time_left: Duration,
) -> Result<Response, reqwest::Error>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<usize>>,
{
    let response = answer(&request, migrate, time_left).await;
    send(http, response_url(&request), &response).await?;
    Ok(response)
}
