//! The HTTP router: the public v2 API and the admin API. The same `Router` serves Lambda and the local stack.

pub mod admin;
// issue 14: bulk endpoint
pub mod bulk;
// issue 16: files by email
pub mod documents;
pub mod errors;
pub mod letters;
// issue 15: OpenAPI
pub mod openapi;
pub mod receipts;
pub mod v2;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use notify_app::AppState;

pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"result": "error", "message": "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again."})),
    )
        .into_response()
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({"result": "error", "message": "The method is not allowed for the requested URL."})),
    )
        .into_response()
}

async fn status() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Notify's response headers, on everything.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    // A response that says how it may be cached (the static logos) keeps that.
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static(
            "no-store, no-cache, private, must-revalidate",
        ));
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    response
}

pub fn router(state: AppState) -> Router {
    let v2 = Router::new()
        .route("/v2/notifications/sms", post(v2::post_sms))
        // issue 16: files by email. A 2 MiB file is about 2.8 MB of base64, over axum's 2 MB default; the email
        // route takes what the bulk route does (on Lambda a request carries at most 6 MB, the bound there).
        .route(
            "/v2/notifications/email",
            post(v2::post_email).layer(axum::extract::DefaultBodyLimit::max(bulk::MAX_BODY_BYTES)),
        )
        .route("/v2/notifications/letter", post(v2::post_letter))
        .route("/v2/notifications", get(v2::list_notifications))
        // issue 14: bulk endpoint (GC Notify's POST /v2/notifications/bulk), before `{id}` so it is not an id
        .route(
            "/v2/notifications/bulk",
            post(bulk::post_bulk).layer(axum::extract::DefaultBodyLimit::max(bulk::MAX_BODY_BYTES)),
        )
        .route(
            "/v2/notifications/{id}",
            get(v2::get_notification).post(not_found),
        )
        .route("/v2/notifications/{id}/pdf", get(v2::get_pdf))
        .route("/v2/template/{id}", get(v2::get_template))
        .route(
            "/v2/template/{id}/version/{version}",
            get(v2::get_template_version),
        )
        .route("/v2/template/{id}/preview", post(v2::preview_template))
        .route("/v2/templates", get(v2::list_templates))
        .route(
            "/v2/received-text-messages",
            get(v2::received_text_messages),
        );
    let admin = Router::new()
        .route(
            "/service",
            post(admin::create_service).get(admin::list_services),
        )
        .route(
            "/service/{service_id}",
            get(admin::get_service).post(admin::update_service),
        )
        .route("/service/{service_id}/users", get(admin::service_users))
        .route(
            "/service/{service_id}/users/{user_id}",
            post(admin::add_user_to_service),
        )
        .route("/service/{service_id}/api-key", post(admin::create_api_key))
        .route("/service/{service_id}/api-keys", get(admin::list_api_keys))
        .route(
            "/service/{service_id}/api-key/revoke/{key_id}",
            post(admin::revoke_api_key),
        )
        .route(
            "/service/{service_id}/template",
            post(admin::create_template).get(admin::list_templates),
        )
        .route(
            "/service/{service_id}/template/{template_id}",
            get(admin::get_template).post(admin::update_template),
        )
        .route(
            "/service/{service_id}/template/{template_id}/versions",
            get(admin::template_versions),
        )
        .route(
            "/service/{service_id}/sms-sender",
            post(admin::add_sms_sender).get(admin::list_sms_senders),
        )
        .route(
            "/service/{service_id}/email-reply-to",
            post(admin::add_reply_to).get(admin::list_reply_to),
        )
        .route(
            "/service/{service_id}/letter-contact",
            post(admin::add_letter_contact).get(admin::list_letter_contacts),
        )
        .route(
            "/service/{service_id}/guest-list",
            get(admin::get_guest_list).put(admin::update_guest_list),
        )
        .route(
            "/service/{service_id}/callback-api",
            post(admin::create_callback_api).get(admin::list_callback_apis),
        )
        .route(
            "/service/{service_id}/callback-api/{callback_id}",
            axum::routing::delete(admin::delete_callback_api),
        )
        .route(
            "/service/{service_id}/callback-signing-secret",
            post(admin::create_signing_secret)
                .get(admin::list_signing_secrets)
                .delete(admin::delete_signing_secrets),
        )
        .route(
            "/service/{service_id}/callback-signing-secret/rotate",
            post(admin::rotate_signing_secret),
        )
        .route(
            "/service/{service_id}/callback-signing-secret/revoke-previous",
            post(admin::revoke_previous_signing_secrets),
        )
        .route(
            "/service/{service_id}/data-retention",
            post(admin::set_data_retention).get(admin::get_data_retention),
        )
        .route(
            "/service/{service_id}/inbound-number",
            post(admin::assign_inbound_number),
        )
        .route(
            "/service/{service_id}/statistics",
            get(admin::service_statistics),
        )
        .route(
            "/service/{service_id}/billing/yearly-usage-summary",
            get(admin::yearly_usage_summary),
        )
        .route(
            "/service/{service_id}/notifications/{notification_id}",
            get(admin::get_service_notification),
        )
        .route(
            "/service/{service_id}/letters/{notification_id}/pdf-status",
            get(admin::letter_pdf_status),
        )
        .route(
            "/service/{service_id}/notifications/{notification_id}/cancel",
            post(admin::cancel_notification),
        )
        .route("/letters/returned", post(admin::returned_letters))
        .route("/letter-rates", get(admin::letter_rates))
        .route("/letter-rates/", get(admin::letter_rates))
        .route(
            "/letter-branding",
            get(admin::list_letter_branding).post(admin::create_letter_branding),
        )
        .route("/letter-branding/logo", post(admin::upload_letter_logo))
        .route(
            "/letter-branding/{branding_id}",
            get(admin::get_letter_branding).post(admin::update_letter_branding),
        )
        .route(
            "/email-branding",
            get(admin::list_email_branding).post(admin::create_email_branding),
        )
        .route("/email-branding/logo", post(admin::upload_email_logo))
        .route(
            "/email-branding/{branding_id}",
            get(admin::get_email_branding).post(admin::update_email_branding),
        )
        // issue 14: admin (CSV jobs on upstream's paths)
        .route(
            "/service/{service_id}/job",
            post(admin::jobs::create_job).get(admin::jobs::list_jobs),
        )
        .route(
            "/service/{service_id}/job/scheduled-job-stats",
            get(admin::jobs::scheduled_job_stats),
        )
        .route(
            "/service/{service_id}/job/{job_id}",
            get(admin::jobs::get_job),
        )
        .route(
            "/service/{service_id}/job/{job_id}/notifications",
            get(admin::jobs::job_notifications),
        )
        .route(
            "/service/{service_id}/job/{job_id}/notification_count",
            get(admin::jobs::job_notification_count),
        )
        .route(
            "/service/{service_id}/job/{job_id}/cancel",
            post(admin::jobs::cancel_job),
        )
        .route(
            "/service/{service_id}/job/{job_id}/cancel-letter-job",
            post(admin::jobs::cancel_letter_job),
        )
        // end issue 14: admin
        .route(
            "/service/{service_id}/callbacks",
            get(admin::callback_log::list_callbacks),
        )
        .route("/user", post(admin::create_user))
        .route("/user/{user_id}", get(admin::get_user));
    Router::new()
        .merge(v2)
        .merge(admin)
        .route("/_status", get(status))
        .route("/static/email-logos/{file}", get(admin::email_logo))
        // issue 15: OpenAPI
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/docs", get(openapi::docs))
        .route("/notifications/sms/{provider}", post(receipts::sms_receipt))
        .route("/inbound/sms/{provider}", post(receipts::inbound_sms))
        .route("/notifications/letter/status", post(letters::letter_status))
        // issue 16: files by email (the download page)
        .route(
            "/d/{service_id}/{document_id}",
            get(documents::page).post(documents::confirm),
        )
        .route(
            "/d/{service_id}/{document_id}/download",
            get(documents::download),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}
