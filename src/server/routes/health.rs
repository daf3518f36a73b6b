//! `GET /healthz` (no token: for load balancers) and `GET /metrics` (Prometheus text).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::server::problem::Problem;
use crate::server::state::AppState;

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` when the landlord answers.
    pub status: String,
    pub version: String,
}

/// Whether the server and its landlord answer.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, body = Health), (status = 503, body = crate::server::problem::ProblemBody, content_type = "application/problem+json", description = "The landlord does not answer")))]
pub async fn healthz(State(state): State<Arc<AppState>>) -> Result<Json<Health>, Problem> {
    state.blocking(|state| state.base().landlord.data_version().map_err(|e| e.context("the landlord does not answer"))).await.map_err(
        |mut p| {
            p.status = axum::http::StatusCode::SERVICE_UNAVAILABLE;
            p
        },
    )?;
    Ok(Json(Health { status: "ok".into(), version: env!("CARGO_PKG_VERSION").into() }))
}

/// Requests, jobs, lock waits and events delivered, in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}
