//! The OpenAPI 3.1 document, generated from the handlers' annotations
//! (`GET /v1/openapi.json`). [`finish`] adds what every route shares: the bearer token,
//! and the problem answers of every status code the API gives.

use std::sync::Arc;

use axum::Extension;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

use crate::server::problem::{PROBLEM_JSON, ProblemBody};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "modreg",
        description = "Install, upgrade and uninstall modules per tenant of a multi-tenant SaaS platform: \
        the HTTP API of `modreg serve`. Bodies and answers have the shapes of the CLI's `--json`; errors are \
        `application/problem+json` with the CLI's `kind`, `message` and `hint`."
    ),
    components(schemas(ProblemBody))
)]
struct Base;

/// The document's fixed parts, before the routes add theirs.
pub fn base() -> utoipa::openapi::OpenApi {
    let mut doc = Base::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

/// The error answers every authenticated route may give, with what each means.
const ERRORS: [(&str, &str); 11] = [
    ("400", "Malformed: the JSON body, the query or the path cannot be read"),
    ("401", "No bearer token, or one the landlord does not know"),
    ("402", "A module of the plan requires a subscription the tenant does not have"),
    ("403", "The token may not do this: read-only, or scoped to other tenants"),
    ("404", "Not found: module, version, tenant, job, flag or batch"),
    ("409", "Dependencies conflict, dependents block the change, or the tenant is busy"),
    ("413", "The body is larger than the server takes"),
    ("415", "The body is not of a type the route takes"),
    ("422", "Invalid names, versions or manifests"),
    ("500", "The work failed and was rolled back, or an internal error"),
    ("503", "The landlord or a tenant file cannot be used (storage), or the server is stopping"),
];

/// Adds the bearer scheme, and to every operation its security and error answers.
pub fn finish(doc: &mut utoipa::openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    let problem = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(PROBLEM_JSON, ContentBuilder::new().schema(Some(Ref::from_schema_name("ProblemBody"))).build())
                .build(),
        )
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let public = path == "/healthz";
        for operation in [&mut item.get, &mut item.put, &mut item.post, &mut item.delete].into_iter().flatten() {
            if public {
                operation.security = Some(vec![SecurityRequirement::default()]);
                continue;
            }
            operation.security = Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
            for (status, description) in ERRORS {
                operation.responses.responses.entry(status.to_string()).or_insert_with(|| problem(description));
            }
        }
    }
}

/// The document as served: written once, when the server starts.
#[derive(Debug, Clone)]
pub struct Document(pub Arc<String>);

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "health", responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
pub async fn document(Extension(doc): Extension<Document>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], doc.0.as_str().to_owned())
}
