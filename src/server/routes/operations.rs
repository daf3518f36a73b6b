//! Changing what a tenant has: install, upgrade and uninstall answer `202 Accepted` with
//! the plan, the batch and its `Location` once the plan holds, and run in the
//! background; `?dry_run=true` answers the plan with 200, and a request with nothing to
//! do answers 200 at once. Enable and disable are quick and answer when done. A tenant
//! another job holds is 409, or a wait of up to N seconds with `Prefer: wait=N`.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::domain::name::{ModuleName, TenantName};
use crate::domain::resolver::Request;
use crate::domain::{ErrorKind, Result};
use crate::ops::install::InstallOptions;
use crate::ops::planned::TenantPlan;
use crate::ops::uninstall::UninstallOptions;
use crate::ops::upgrade::UpgradeOptions;
use crate::ops::{Context, OperationReport, Silent, Summary, TenantSelection};
use crate::server::auth::Caller;
use crate::server::extract::{OptionalBody, Path, Query, preferred_wait};
use crate::server::problem::Problem;
use crate::server::routes::{Answer, location, module_name, tenant_name};
use crate::server::state::{AppState, BatchReport};
use crate::store::TenantLock;

/// A tenant and a module in the path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ModulePath {
    /// A tenant id.
    #[param(pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", example = "acme")]
    tenant: String,
    /// A module name.
    #[param(pattern = r"^[a-z][a-z0-9_]{0,62}$", example = "finance")]
    module: String,
}

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DryRun {
    /// Answer the plan and change nothing.
    dry_run: Option<bool>,
}

#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct InstallRequest {
    /// A cargo-style requirement (`^1.2`, `=1.2.0`, `>=1.0, <2`); the newest version
    /// that fits when left out.
    #[schema(
        pattern = r"^(\*|(=|\^|~|>=|<=|>|<)?(0|[1-9][0-9]{0,8})(\.(\*|(0|[1-9][0-9]{0,8})(\.(0|[1-9][0-9]{0,8}|\*))?))?(, ?(=|\^|~|>=|<=|>|<)?(0|[1-9][0-9]{0,8})(\.(\*|(0|[1-9][0-9]{0,8})(\.(0|[1-9][0-9]{0,8}|\*))?))?)*)$"
    )]
    pub version: Option<String>,
    /// Bring the module back from its latest uninstall archive.
    pub restore: bool,
}

#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UpgradeRequest {
    /// The version to move to; the newest that keeps every constraint when left out.
    #[schema(
        pattern = r"^=?(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})(-[A-Za-z-][0-9A-Za-z-]*(\.[A-Za-z-][0-9A-Za-z-]*)*)?$"
    )]
    pub to: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UninstallRequest {
    /// Drop the module's tables without an archive.
    pub purge: bool,
    /// Uninstall the modules that depend on it first.
    pub cascade: bool,
}

#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ToggleRequest {
    /// Disable: disable the enabled modules that depend on it too.
    pub cascade: bool,
}

/// One module for one tenant, planned as a dry run or for real, under the tenant's lock
/// when the caller holds it.
type Planner = Arc<dyn Fn(&Context, bool, Option<TenantLock>) -> Result<TenantPlan> + Send + Sync>;

/// Plans once and answers: the plan of a dry run, or nothing to do, with 200; else, with
/// the tenant claimed and locked (once, from planning to the end of the work), 202 with
/// the batch, and that same plan runs in the background.
async fn accept(
    state: Arc<AppState>,
    caller: Caller,
    tenant: TenantName,
    headers: &HeaderMap,
    dry_run: bool,
    planner: Planner,
) -> Result<Response, Problem> {
    match dry_run {
        true => caller.see(tenant.as_str())?,
        false => caller.change(tenant.as_str())?,
    }
    let batch = crate::ops::new_batch_id(state.base());
    let ctx = state.context(&caller, Some(batch.clone()));
    let dry = |planner: Planner, ctx: Context| {
        let state = state.clone();
        async move { state.blocking(move |_| planner(&ctx, true, None)?.report(&ctx)).await }
    };
    if dry_run {
        return Ok(Json(dry(planner, ctx).await?).into_response());
    }
    let mut claim = match state.claim(tenant.as_str(), preferred_wait(headers)).await {
        Ok(claim) => claim,
        // A request that asks for what the tenant already has is answered as ever, busy
        // or not, from what the landlord says (as a dry run: nothing is locked).
        Err(busy) if busy.kind == ErrorKind::Busy.as_str() => {
            let report = dry(planner, ctx).await?;
            return if report.plan.is_empty() { Ok(Json(report).into_response()) } else { Err(busy) };
        }
        Err(problem) => return Err(problem),
    };
    let lock = claim.take_lock();
    let planned = state.blocking(move |_| planner(&ctx, false, lock).map(|plan| (plan, ctx))).await?;
    let (plan, ctx) = planned;
    if !plan.has_work() {
        drop(claim);
        let report = state.blocking(move |_| plan.report(&ctx)).await?;
        return Ok(Json(report).into_response());
    }
    let rows = plan.rows().to_vec();
    debug_assert_eq!(plan.batch(), batch);
    state.spawn_batch(claim, batch.clone(), rows.clone(), move |_| plan.run(&ctx, &Silent));
    state.changed();
    let accepted = BatchReport {
        batch: batch.clone(),
        status: "running".into(),
        plan: rows,
        jobs: Vec::new(),
        summary: Summary::default(),
        error: None,
    };
    Ok((StatusCode::ACCEPTED, location(format!("/v1/batches/{batch}")), Json(accepted)).into_response())
}

fn names(tenant: &str, module: &str) -> std::result::Result<(TenantName, ModuleName), Problem> {
    Ok((tenant_name(tenant)?, module_name(module)?))
}

/// Installs a module (and what it needs) for a tenant.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/modules/{module}/install", tag = "operations",
    params(ModulePath, DryRun), request_body(content = Option<InstallRequest>, description = "Optional"),
    responses(
        (status = 202, body = BatchReport, description = "The plan runs in the background", headers(("Location" = String, description = "The batch"))),
        (status = 200, body = OperationReport, description = "The plan of a dry run, or nothing to do"),
    ))]
pub async fn install(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path((tenant, module)): Path<(String, String)>,
    Query(query): Query<DryRun>,
    OptionalBody(body): OptionalBody<InstallRequest>,
) -> Result<Response, Problem> {
    let (tenant, module) = names(&tenant, &module)?;
    let request = match &body.version {
        Some(req) => Request::parse(&format!("{module}@{req}"))?,
        None => Request::parse(module.as_str())?,
    };
    let selection = TenantSelection::Named(vec![tenant.clone()]);
    let restore = body.restore;
    let planner: Planner = Arc::new(move |ctx, dry_run, lock| {
        let options = InstallOptions { requests: vec![request.clone()], tenants: selection.clone(), dry_run, restore, fail_fast: false };
        crate::ops::install::plan(ctx, &options, lock, &Silent)
    });
    accept(state, caller, tenant, &headers, query.dry_run.unwrap_or(false), planner).await
}

/// Upgrades a tenant's module to the newest version that keeps every constraint (or `to`).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/modules/{module}/upgrade", tag = "operations",
    params(ModulePath, DryRun), request_body(content = Option<UpgradeRequest>, description = "Optional"),
    responses(
        (status = 202, body = BatchReport, description = "The plan runs in the background", headers(("Location" = String, description = "The batch"))),
        (status = 200, body = OperationReport, description = "The plan of a dry run, or nothing to do"),
    ))]
pub async fn upgrade(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path((tenant, module)): Path<(String, String)>,
    Query(query): Query<DryRun>,
    OptionalBody(body): OptionalBody<UpgradeRequest>,
) -> Result<Response, Problem> {
    let (tenant, module) = names(&tenant, &module)?;
    let to = body
        .to
        .as_deref()
        .map(|v| {
            semver::Version::parse(v.trim_start_matches('=')).map_err(|e| {
                crate::domain::Error::invalid(format!("`to` must be a version, not `{v}`: {e}")).with_hint("e.g. `\"to\": \"1.3.0\"`")
            })
        })
        .transpose()?;
    let selection = TenantSelection::Named(vec![tenant.clone()]);
    let planner: Planner = Arc::new(move |ctx, dry_run, lock| {
        let options =
            UpgradeOptions { modules: vec![module.clone()], tenants: selection.clone(), to: to.clone(), dry_run, fail_fast: false };
        crate::ops::upgrade::plan(ctx, &options, lock, &Silent)
    });
    accept(state, caller, tenant, &headers, query.dry_run.unwrap_or(false), planner).await
}

/// Uninstalls a tenant's module, archiving its data unless `purge`.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/modules/{module}/uninstall", tag = "operations",
    params(ModulePath, DryRun), request_body(content = Option<UninstallRequest>, description = "Optional"),
    responses(
        (status = 202, body = BatchReport, description = "The plan runs in the background", headers(("Location" = String, description = "The batch"))),
        (status = 200, body = OperationReport, description = "The plan of a dry run, or nothing to do"),
    ))]
pub async fn uninstall(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path((tenant, module)): Path<(String, String)>,
    Query(query): Query<DryRun>,
    OptionalBody(body): OptionalBody<UninstallRequest>,
) -> Result<Response, Problem> {
    let (tenant, module) = names(&tenant, &module)?;
    let selection = TenantSelection::Named(vec![tenant.clone()]);
    let planner: Planner = Arc::new(move |ctx, dry_run, lock| {
        let options = UninstallOptions {
            modules: vec![module.clone()],
            tenants: selection.clone(),
            purge: body.purge,
            cascade: body.cascade,
            dry_run,
            fail_fast: false,
        };
        crate::ops::uninstall::plan(ctx, &options, lock, &Silent)
    });
    accept(state, caller, tenant, &headers, query.dry_run.unwrap_or(false), planner).await
}

/// Enable and disable: claimed, run, answered when done.
async fn toggle(
    state: Arc<AppState>,
    caller: Caller,
    headers: &HeaderMap,
    tenant: TenantName,
    run: impl FnOnce(&Context) -> Result<OperationReport> + Send + 'static,
) -> Answer<OperationReport> {
    caller.change(tenant.as_str())?;
    state.change(&caller, tenant.as_str(), preferred_wait(headers), run).await.map(Json)
}

/// Turns an installed module on for a tenant; its dependencies must be enabled.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/modules/{module}/enable", tag = "operations",
    params(ModulePath), request_body(content = Option<ToggleRequest>, description = "Optional"),
    responses((status = 200, body = OperationReport)))]
pub async fn enable(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path((tenant, module)): Path<(String, String)>,
    OptionalBody(_body): OptionalBody<ToggleRequest>,
) -> Answer<OperationReport> {
    let (tenant, module) = names(&tenant, &module)?;
    let name = tenant.clone();
    toggle(state, caller, &headers, tenant, move |ctx| crate::ops::enable::enable(ctx, &name, &module, &Silent)).await
}

/// Turns a module off for a tenant, keeping its data; refused while enabled dependents
/// exist, unless `cascade`.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/modules/{module}/disable", tag = "operations",
    params(ModulePath), request_body(content = Option<ToggleRequest>, description = "Optional"),
    responses((status = 200, body = OperationReport)))]
pub async fn disable(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path((tenant, module)): Path<(String, String)>,
    OptionalBody(body): OptionalBody<ToggleRequest>,
) -> Answer<OperationReport> {
    let (tenant, module) = names(&tenant, &module)?;
    let name = tenant.clone();
    toggle(state, caller, &headers, tenant, move |ctx| crate::ops::disable::disable(ctx, &name, &module, body.cascade, &Silent)).await
}

/// A batch in the path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct BatchPath {
    /// A batch id, as a 202 answer gives it.
    batch: String,
}

/// A batch: `running`, `completed` or `failed`, with its plan, its jobs as they are now,
/// and why it failed.
#[utoipa::path(get, path = "/v1/batches/{batch}", tag = "operations", params(BatchPath), responses((status = 200, body = BatchReport)))]
pub async fn batch(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(batch): Path<String>,
) -> Answer<BatchReport> {
    state.blocking(move |state| state.batch(&caller, &batch)).await.map(Json)
}
