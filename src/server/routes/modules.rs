//! The catalog: `GET /v1/modules`, `GET /v1/modules/{module}`, and the dependency graph
//! `GET /v1/graph` (of the catalog, or of what a tenant has) as JSON, dot or mermaid.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::domain::graph::{Graph, GraphFormat};
use crate::ops::modules::{ModuleShowReport, ModulesListReport};
use crate::server::auth::Caller;
use crate::server::extract::{Path, Query};
use crate::server::problem::Problem;
use crate::server::routes::{Answer, module_name, tenant_name};
use crate::server::state::AppState;

/// The catalog: every module with its versions, dependencies, subscription and deprecation.
#[utoipa::path(get, path = "/v1/modules", tag = "modules", responses((status = 200, body = ModulesListReport)))]
pub async fn list(State(state): State<Arc<AppState>>) -> Answer<ModulesListReport> {
    state
        .blocking(|state| {
            let ctx = state.base();
            Ok(crate::ops::modules::list(ctx).relative_to(&ctx.settings.modules_dir))
        })
        .await
        .map(Json)
}

/// One module: every version with its details, and the modules that depend on it.
#[utoipa::path(get, path = "/v1/modules/{module}", tag = "modules",
    params(("module" = String, Path, description = "A module name", pattern = r"^[a-z][a-z0-9_]{0,62}$", example = "finance")),
    responses((status = 200, body = ModuleShowReport)))]
pub async fn show(State(state): State<Arc<AppState>>, Path(module): Path<String>) -> Answer<ModuleShowReport> {
    let module = module_name(&module)?;
    state
        .blocking(move |state| {
            let ctx = state.base();
            Ok(crate::ops::modules::show(ctx, module.as_str())?.relative_to(&ctx.settings.modules_dir))
        })
        .await
        .map(Json)
}

#[derive(Debug, Clone, Copy, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Json,
    Dot,
    Mermaid,
    Text,
}

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GraphQuery {
    /// `json` (default), `dot`, `mermaid` or `text`.
    #[param(inline)]
    format: Option<Format>,
    /// The graph of what this tenant has, instead of the catalog's.
    #[param(pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$")]
    tenant: Option<String>,
}

/// The dependency graph: nodes and edges as JSON, or rendered as dot, mermaid or text.
#[utoipa::path(get, path = "/v1/graph", tag = "modules", params(GraphQuery),
    responses((status = 200, description = "The graph", content(
        (Graph = "application/json"),
        (String = "text/plain"),
    ))))]
pub async fn graph(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<GraphQuery>,
) -> Result<Response, Problem> {
    let tenant = query.tenant.as_deref().map(tenant_name).transpose()?;
    if let Some(tenant) = &tenant {
        caller.see(tenant.as_str())?;
    }
    let graph = state
        .blocking(move |state| match &tenant {
            Some(tenant) => crate::ops::graph::tenant_graph(state.base(), tenant),
            None => Ok(crate::ops::graph::catalog_graph(state.base())),
        })
        .await?;
    let text = |format| ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], graph.render(format)).into_response();
    Ok(match query.format.unwrap_or_default() {
        Format::Json => Json(graph).into_response(),
        Format::Dot => text(GraphFormat::Dot),
        Format::Mermaid => text(GraphFormat::Mermaid),
        Format::Text => text(GraphFormat::Text),
    })
}
