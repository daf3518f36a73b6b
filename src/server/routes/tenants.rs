//! Tenants: list, add (201 with `Location`), show, remove, and what a tenant has
//! (`/v1/tenants/{tenant}/modules`, the status of SPEC §7), its history, and the check
//! applications ask ("may tenant X use module Y").

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::domain::Error;
use crate::ops::Silent;
use crate::ops::check::{CheckReport, CheckTarget};
use crate::ops::history::HistoryReport;
use crate::ops::status::{ModuleStatus, StatusReport};
use crate::ops::tenant::{TenantAddReport, TenantListReport, TenantRemoveReport};
use crate::server::auth::Caller;
use crate::server::extract::{Body, Path, Query, preferred_wait};
use crate::server::problem::Problem;
use crate::server::routes::{Answer, ModuleQuery, location, tenant_name};
use crate::server::state::AppState;

/// The tenants the caller may see, with when they were added and how many modules each has.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", responses((status = 200, body = TenantListReport)))]
pub async fn list(State(state): State<Arc<AppState>>, Extension(caller): Extension<Caller>) -> Answer<TenantListReport> {
    let mut report = state.blocking(|state| crate::ops::tenant::list(state.base())).await?;
    report.tenants.retain(|t| caller.sees(&t.name));
    Ok(Json(report))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// The tenant's id: `^[a-z0-9][a-z0-9_-]{0,62}$`.
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$")]
    pub name: String,
}

/// Registers a tenant and creates its database file: 201 with its `Location`, or 200 when
/// it was already registered (nothing changes).
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = NewTenant,
    responses(
        (status = 201, body = TenantAddReport, description = "Added", headers(("Location" = String, description = "The tenant"))),
        (status = 200, body = TenantAddReport, description = "Already registered: nothing changed"),
    ))]
pub async fn add(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Body(new): Body<NewTenant>,
) -> Result<Response, Problem> {
    let tenant = tenant_name(&new.name)?;
    caller.administer(tenant.as_str())?;
    let name = tenant.clone();
    let add = move |ctx: &_| crate::ops::tenant::add(ctx, &[name], &Silent);
    let report = state.change(&caller, tenant.as_str(), preferred_wait(&headers), add).await?;
    let path = format!("/v1/tenants/{tenant}");
    Ok(match report.added.is_empty() {
        true => (StatusCode::OK, location(path), Json(report)).into_response(),
        false => (StatusCode::CREATED, location(path), Json(report)).into_response(),
    })
}

/// One tenant: when it was added, its host, and what it has.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TenantView {
    pub name: String,
    pub created_at: String,
    /// The host whose data folder holds its file, when hosts share the landlord.
    pub host: Option<String>,
    pub modules: Vec<ModuleStatus>,
    /// Jobs left unfinished by a stopped process; the next job on the tenant recovers them.
    pub unfinished_jobs: usize,
}

/// One tenant, with what it has.
#[utoipa::path(get, path = "/v1/tenants/{tenant}", tag = "tenants", params(TenantPath), responses((status = 200, body = TenantView)))]
pub async fn show(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(tenant): Path<String>,
) -> Answer<TenantView> {
    let tenant = tenant_name(&tenant)?;
    caller.see(tenant.as_str())?;
    state
        .blocking(move |state| {
            let ctx = state.base();
            let status = crate::ops::status::status(ctx, Some(&tenant), &Silent)?;
            let record = ctx.landlord.tenant(tenant.as_str())?;
            let (Some(record), Some(status)) = (record, status.tenants.into_iter().next()) else {
                return Err(crate::domain::Error::not_found(format!("tenant `{tenant}` does not exist")));
            };
            Ok(TenantView {
                name: record.name,
                created_at: record.created_at,
                host: record.host,
                modules: status.modules,
                unfinished_jobs: status.unfinished_jobs,
            })
        })
        .await
        .map(Json)
}

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RemoveQuery {
    /// Delete the tenant's file instead of archiving it.
    purge: Option<bool>,
}

/// A tenant in the path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct TenantPath {
    /// A tenant id.
    #[param(pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", example = "acme")]
    tenant: String,
}

/// Unregisters a tenant; its file is archived unless `purge=true`.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}", tag = "tenants", params(TenantPath, RemoveQuery),
    responses((status = 200, body = TenantRemoveReport)))]
pub async fn remove(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    Query(query): Query<RemoveQuery>,
) -> Answer<TenantRemoveReport> {
    let tenant = tenant_name(&tenant)?;
    caller.administer(tenant.as_str())?;
    let purge = query.purge.unwrap_or(false);
    let name = tenant.clone();
    let remove = move |ctx: &_| crate::ops::tenant::remove(ctx, &[name], purge, &Silent);
    state.change(&caller, tenant.as_str(), preferred_wait(&headers), remove).await.map(Json)
}

/// What the tenant has: each module's version, state, whether it is enabled, the newest
/// version available, deprecation.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/modules", tag = "tenants", params(TenantPath), responses((status = 200, body = StatusReport)))]
pub async fn modules(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(tenant): Path<String>,
) -> Answer<StatusReport> {
    let tenant = tenant_name(&tenant)?;
    caller.see(tenant.as_str())?;
    state.blocking(move |state| crate::ops::status::status(state.base(), Some(&tenant), &Silent)).await.map(Json)
}

/// Every version the tenant had of its modules: when, which job, which actor. Not found
/// once the tenant is removed: its jobs stay listed at `/v1/jobs?tenant=…` (and the CLI's
/// `modreg history` still answers for it).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/history", tag = "tenants", params(TenantPath, ModuleQuery),
    responses((status = 200, body = HistoryReport)))]
pub async fn history(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(tenant): Path<String>,
    Query(query): Query<ModuleQuery>,
) -> Answer<HistoryReport> {
    let tenant = tenant_name(&tenant)?;
    caller.see(tenant.as_str())?;
    let module = query.module()?;
    state
        .blocking(move |state| {
            let report = crate::ops::history::history(state.base(), &tenant, module.as_ref())?;
            if state.base().landlord.tenant(tenant.as_str())?.is_none() {
                return Err(Error::not_found(format!("tenant `{tenant}` was removed")).with_hint(format!(
                    "its jobs are kept: `GET /v1/jobs?tenant={tenant}`; `modreg history --tenant {tenant}` shows the versions it had"
                )));
            }
            Ok(report)
        })
        .await
        .map(Json)
}

/// A tenant and a module (or `module.flag`) in the path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct CheckPath {
    /// A tenant id.
    #[param(pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", example = "acme")]
    tenant: String,
    /// `MODULE` or `MODULE.FLAG`.
    #[param(pattern = r"^[a-z][a-z0-9_]{0,62}(\.[a-z][a-z0-9_]{0,62})?$", example = "finance.invoicing")]
    target: String,
}

/// May the tenant use the module (installed and enabled), and is the flag on: `allowed`,
/// and `reason` when not. What `modreg check` answers with its exit code.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/check/{target}", tag = "tenants", params(CheckPath),
    responses((status = 200, body = CheckReport)))]
pub async fn check(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path((tenant, target)): Path<(String, String)>,
) -> Answer<CheckReport> {
    let tenant = tenant_name(&tenant)?;
    caller.see(tenant.as_str())?;
    let target = CheckTarget::parse(&target).map_err(Problem::from)?;
    state.blocking(move |state| crate::ops::check::check(state.base(), &tenant, &target)).await.map(Json)
}
