//! CSV jobs on upstream's admin paths (`/service/{id}/job…`): creating one from an upload, reading one and the
//! list, a job's notifications and their count, cancelling a scheduled job or a letter job, and the
//! scheduled-jobs summary. The use cases are `notify_app::bulk::{create, admin}`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::bodies::UuidField;
use super::{AdminAuth, AdminJson, AdminResponse, data, id};
use crate::errors::AdminError;
use notify_app::AppState;
use notify_app::bulk::admin::{self, JobAdminError, ListJobs, PAGE_SIZE};
use notify_app::bulk::create::{self, CreateJob, JobRefused, parse_scheduled_for};

const MISSING: &str = "Missing data for required field.";

impl From<JobRefused> for AdminError {
    fn from(e: JobRefused) -> Self {
        let message = e.to_string();
        match e {
            JobRefused::ServiceInactive | JobRefused::TrialLetters => AdminError::new(403, message),
            JobRefused::FileNotValid => AdminError::bad_request(message),
            JobRefused::ScheduledInPast | JobRefused::ScheduledTooFar => {
                AdminError::fields(vec![("scheduled_for", message)])
            }
            JobRefused::TemplateArchived => AdminError::fields(vec![("template", message)]),
            JobRefused::MissingMetadata(names) => AdminError::fields(
                names
                    .into_iter()
                    .map(|n| (n, MISSING.to_string()))
                    .collect(),
            ),
            JobRefused::NotFound => AdminError::not_found(),
            JobRefused::FilesUnavailable(e) => {
                tracing::error!(error = %e, "file store unavailable");
                AdminError::new(503, notify_core::errors::UNAVAILABLE_MESSAGE)
            }
            JobRefused::Db(e) => e.into(),
        }
    }
}

impl From<JobAdminError> for AdminError {
    fn from(e: JobAdminError) -> Self {
        match e {
            JobAdminError::NotFound => AdminError::not_found(),
            // Upstream's cancel-letter-job answers this one without `"result"`; see `cancel_letter_job`.
            JobAdminError::NotCancellable(message) => AdminError::bad_request(message),
            JobAdminError::Db(e) => e.into(),
            JobAdminError::Internal(e) => {
                tracing::error!(error = %e, "job admin request failed");
                AdminError::new(500, "Internal server error")
            }
        }
    }
}

/// `POST /service/{id}/job`: the upload's id; who creates it; optionally when to send.
#[derive(Debug, Default, Deserialize)]
pub struct CreateJobBody {
    #[serde(default)]
    pub id: UuidField,
    #[serde(default)]
    pub created_by: UuidField,
    #[serde(default)]
    pub scheduled_for: Option<Value>,
}

/// `POST /service/{service_id}/job`: 201 `{"data": job}` with empty `statistics`.
pub async fn create_job(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
    AdminJson(body): AdminJson<CreateJobBody>,
) -> AdminResponse {
    let service_id = id(&service_id)?;
    // Upstream checks the service before it reads the body.
    let service = state
        .db
        .get_service(service_id)
        .await?
        .ok_or_else(AdminError::not_found)?;
    if !service.active {
        return Err(JobRefused::ServiceInactive.into());
    }
    let upload_id = match body.id {
        UuidField::Valid(id) => id,
        UuidField::Absent | UuidField::Null => {
            return Err(AdminError::fields(vec![("id", MISSING.into())]));
        }
        UuidField::Invalid => {
            return Err(AdminError::fields(vec![("id", "Not a valid UUID.".into())]));
        }
    };
    let created_by = match body.created_by {
        UuidField::Valid(id) => id,
        UuidField::Absent | UuidField::Null => {
            return Err(AdminError::fields(vec![("created_by", MISSING.into())]));
        }
        UuidField::Invalid => {
            return Err(AdminError::fields(vec![(
                "created_by",
                "Not a valid UUID.".into(),
            )]));
        }
    };
    let scheduled_for = match body.scheduled_for {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(parse_scheduled_for(&text).ok_or_else(|| {
            AdminError::fields(vec![("scheduled_for", "Not a valid datetime.".into())])
        })?),
        Some(_) => {
            return Err(AdminError::fields(vec![(
                "scheduled_for",
                "Not a valid datetime.".into(),
            )]));
        }
    };
    let job = create::create_job(
        &state,
        CreateJob {
            id: upload_id,
            service_id,
            created_by: Some(created_by),
            api_key_id: None,
            scheduled_for,
        },
    )
    .await?;
    data(StatusCode::CREATED, admin::job_json(&job, &[]))
}

/// `GET /service/{service_id}/job/{job_id}`: the job with per-status `statistics`.
pub async fn get_job(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((service_id, job_id)): Path<(String, String)>,
) -> AdminResponse {
    let job = admin::get_job(&state, id(&service_id)?, id(&job_id)?).await?;
    data(StatusCode::OK, job)
}

/// The query string's pairs, in order (repeated names kept).
pub(super) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

pub(super) fn last<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// A positive integer query parameter (`page`, `page_size`); absent: `default`.
pub(super) fn positive(
    pairs: &[(String, String)],
    name: &str,
    default: i64,
) -> Result<i64, AdminError> {
    match last(pairs, name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| AdminError::fields(vec![(name, "Not a valid integer.".into())])),
    }
}

/// Upstream's `pagination_links`: `prev` when there is a page before, `next` and `last` when there is one
/// after; each the same path with the other parameters kept and `page` replaced.
pub(super) fn pagination_links(
    path: &str,
    pairs: &[(String, String)],
    page: i64,
    page_size: i64,
    total: i64,
) -> Value {
    let pages = (total + page_size - 1) / page_size;
    let link = |page: i64| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.iter().filter(|(k, _)| k != "page") {
            query.append_pair(k, v);
        }
        query.append_pair("page", &page.to_string());
        format!("{path}?{}", query.finish())
    };
    let mut links = serde_json::Map::new();
    if page > 1 {
        links.insert("prev".into(), json!(link(page - 1)));
    }
    if page < pages {
        links.insert("next".into(), json!(link(page + 1)));
        links.insert("last".into(), json!(link(pages)));
    }
    Value::Object(links)
}

/// `GET /service/{service_id}/job`: `limit_days`, `statuses` (a comma list), `page`, `page_size` (ours; upstream
/// always pages by 50).
pub async fn list_jobs(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
    RawQuery(query): RawQuery,
) -> AdminResponse {
    let service_id = id(&service_id)?;
    let pairs = query_pairs(query.as_deref());
    let limit_days = match last(&pairs, "limit_days") {
        None => None,
        Some(v) => Some(v.trim().parse::<i64>().map_err(|_| {
            AdminError::fields(vec![("limit_days", format!("{v} is not an integer"))])
        })?),
    };
    let statuses = last(&pairs, "statuses")
        .map(|s| {
            s.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let page = positive(&pairs, "page", 1)?;
    let page_size = positive(&pairs, "page_size", PAGE_SIZE)?;
    let request = ListJobs {
        limit_days,
        statuses,
        page,
        page_size,
    };
    let result = admin::list_jobs(&state, service_id, &request).await?;
    let links = pagination_links(
        &format!("/service/{service_id}/job"),
        &pairs,
        page,
        page_size,
        result.total,
    );
    Ok(Json(json!({
        "data": result.jobs,
        "page_size": page_size,
        "total": result.total,
        "links": links,
    }))
    .into_response())
}

/// `GET /service/{service_id}/job/{job_id}/notifications`: `status` (repeatable), `page`, `page_size`;
/// upstream's `{"notifications", "page_size", "total", "links"}`.
pub async fn job_notifications(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((service_id, job_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> AdminResponse {
    let (service_id, job_id) = (id(&service_id)?, id(&job_id)?);
    let pairs = query_pairs(query.as_deref());
    let statuses: Vec<String> = pairs
        .iter()
        .filter(|(k, v)| k == "status" && !v.is_empty())
        .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()))
        .filter(|s| !s.is_empty())
        .collect();
    let page = positive(&pairs, "page", 1)?;
    let page_size = positive(&pairs, "page_size", PAGE_SIZE)?;
    let result =
        admin::job_notifications(&state, service_id, job_id, &statuses, page, page_size).await?;
    let links = pagination_links(
        &format!("/service/{service_id}/job/{job_id}/notifications"),
        &pairs,
        page,
        page_size,
        result.total,
    );
    Ok(Json(json!({
        "notifications": result.notifications,
        "page_size": page_size,
        "total": result.total,
        "links": links,
    }))
    .into_response())
}

/// `GET /service/{service_id}/job/{job_id}/notification_count`: `{"count": n}`.
pub async fn job_notification_count(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((service_id, job_id)): Path<(String, String)>,
) -> AdminResponse {
    let count = admin::notification_count(&state, id(&service_id)?, id(&job_id)?).await?;
    Ok(Json(json!({"count": count})).into_response())
}

/// `POST /service/{service_id}/job/{job_id}/cancel`: a scheduled job becomes `cancelled`; `{"data": job}`.
pub async fn cancel_job(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((service_id, job_id)): Path<(String, String)>,
) -> AdminResponse {
    let job = admin::cancel_job(&state, id(&service_id)?, id(&job_id)?).await?;
    data(StatusCode::OK, job)
}

/// `POST /service/{service_id}/job/{job_id}/cancel-letter-job`: 200 with the number of letters cancelled; a
/// refusal is 400 `{"message": …}` (upstream's `jsonify(message=errors)`, without `"result"`).
pub async fn cancel_letter_job(
    State(state): State<AppState>,
    _: AdminAuth,
    Path((service_id, job_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    match admin::cancel_letter_job(&state, id(&service_id)?, id(&job_id)?).await {
        Ok(cancelled) => Ok(Json(json!(cancelled)).into_response()),
        Err(JobAdminError::NotCancellable(message)) => {
            Ok((StatusCode::BAD_REQUEST, Json(json!({"message": message}))).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /service/{service_id}/job/scheduled-job-stats`: `{"count", "soonest_scheduled_for"}`.
pub async fn scheduled_job_stats(
    State(state): State<AppState>,
    _: AdminAuth,
    Path(service_id): Path<String>,
) -> AdminResponse {
    let stats = admin::scheduled_job_stats(&state, id(&service_id)?).await?;
    Ok(Json(stats).into_response())
}
