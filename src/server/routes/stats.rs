//! `GET /v1/stats[?since=YYYY-MM-DD]`: installs, success and rollback rates, durations,
//! failure reasons, modules by tenants. It covers every tenant, so a token scoped to
//! tenants may not see it.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;

use crate::ops::stats::StatsReport;
use crate::server::auth::Caller;
use crate::server::extract::Query;
use crate::server::routes::{Answer, date};
use crate::server::state::AppState;

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Only jobs started on or after this day (`YYYY-MM-DD`).
    #[param(format = Date)]
    since: Option<String>,
}

/// Statistics of every job and tenant.
#[utoipa::path(get, path = "/v1/stats", tag = "stats", params(StatsQuery), responses((status = 200, body = StatsReport)))]
pub async fn stats(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<StatsQuery>,
) -> Answer<StatsReport> {
    caller.see_everything()?;
    let since = query.since.as_deref().map(|d| date(d, "since")).transpose()?;
    state.blocking(move |state| crate::ops::stats::stats(state.base(), since)).await.map(Json)
}
