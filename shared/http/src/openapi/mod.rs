//! The public v2 API's OpenAPI 3.1 description, generated from the handlers' `#[utoipa::path]` annotations and
//! the body types, served at `GET /openapi.json` and rendered for people at `GET /docs` (a page shipped in the
//! binary that draws the description with plain JavaScript: nothing is loaded from elsewhere).

pub mod schemas;

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::v2;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "GOV.UK Notify API (v2)",
        description = "Send emails, text messages and letters, and read them back. Authenticate with a JWT \
            signed with HS256 by your API key's secret: `iss` is your service id, `iat` the current time in \
            seconds (within 30 seconds of ours), sent as `Authorization: Bearer <token>`.",
        license(name = "MIT", identifier = "MIT")
    ),
    paths(
        v2::post_sms,
        v2::post_email,
        v2::post_letter,
        crate::bulk::post_bulk,
        v2::list_notifications,
        v2::get_notification,
        v2::get_pdf,
        v2::get_template,
        v2::get_template_version,
        v2::list_templates,
        v2::preview_template,
        v2::received_text_messages,
    ),
    // The error envelopes (named by `V2Errors`) and the query parameters' types: utoipa registers the schemas of
    // bodies it is given, not these.
    components(schemas(
        schemas::ErrorResponse,
        schemas::ErrorItem,
        schemas::NotFound,
        schemas::RoutingError,
        schemas::StatusFilter,
        schemas::IncludeJobs,
        schemas::NotificationType
    )),
    modifiers(&BearerJwt),
    security(("bearer" = [])),
    tags(
        (name = "notifications", description = "Sending and reading notifications"),
        (name = "templates", description = "The service's templates"),
        (name = "inbound", description = "Text messages sent to the service"),
    )
)]
pub struct ApiDoc;

struct BearerJwt;

impl Modify for BearerJwt {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "HS256, `iss` = service id, `iat` = now (seconds), signed with the API key's secret",
                    ))
                    .build(),
            ),
        );
    }
}

/// The description as served, built once.
pub static SPEC_JSON: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI description serialises")
});

pub async fn openapi_json() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        SPEC_JSON.as_str(),
    )
        .into_response()
}

const DOCS_HTML: &str = include_str!("docs.html");

pub async fn docs() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            // Only our own script and styles: the page must work where nothing else is reachable.
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
                ),
            ),
        ],
        DOCS_HTML,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_public_api_in_openapi_3_1() {
        let spec: serde_json::Value = serde_json::from_str(&SPEC_JSON).unwrap();
        assert_eq!(spec["openapi"], "3.1.0");
        let paths: Vec<&str> = spec["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            paths,
            [
                "/v2/notifications",
                "/v2/notifications/bulk",
                "/v2/notifications/email",
                "/v2/notifications/letter",
                "/v2/notifications/sms",
                "/v2/notifications/{notification_id}",
                "/v2/notifications/{notification_id}/pdf",
                "/v2/received-text-messages",
                "/v2/template/{id}",
                "/v2/template/{id}/preview",
                "/v2/template/{id}/version/{version}",
                "/v2/templates",
            ]
        );
        assert_eq!(
            spec["components"]["securitySchemes"]["bearer"]["bearerFormat"],
            "JWT"
        );
        let mut refs = Vec::new();
        references(&spec, &mut refs);
        assert!(refs.len() > 20, "{refs:?}");
        for r in refs {
            let pointer = r.strip_prefix('#').expect("a local reference");
            assert!(spec.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    fn references(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| references(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| references(v, out)),
            _ => {}
        }
    }
}
