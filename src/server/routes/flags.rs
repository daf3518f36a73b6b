//! A tenant's feature flags: `GET /v1/tenants/{tenant}/flags[?module=M]` and
//! `PUT /v1/tenants/{tenant}/flags/{module}/{flag}` with `{"value": true|false}`.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;

use crate::domain::name::FlagName;
use crate::ops::Silent;
use crate::ops::flags::{FlagAssignment, FlagSetReport, FlagsListReport};
use crate::server::auth::Caller;
use crate::server::extract::{Body, Path, Query, preferred_wait};
use crate::server::problem::Problem;
use crate::server::routes::tenants::TenantPath;
use crate::server::routes::{Answer, ModuleQuery, module_name, tenant_name};
use crate::server::state::AppState;

/// The tenant's flags, with their values.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/flags", tag = "flags", params(TenantPath, ModuleQuery),
    responses((status = 200, body = FlagsListReport)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(tenant): Path<String>,
    Query(query): Query<ModuleQuery>,
) -> Answer<FlagsListReport> {
    let tenant = tenant_name(&tenant)?;
    caller.see(tenant.as_str())?;
    let module = query.module()?;
    state.blocking(move |state| crate::ops::flags::list(state.base(), &tenant, module.as_ref())).await.map(Json)
}

/// A tenant, a module and one of its flags in the path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct FlagPath {
    /// A tenant id.
    #[param(pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$", example = "acme")]
    tenant: String,
    /// A module name.
    #[param(pattern = r"^[a-z][a-z0-9_]{0,62}$", example = "finance")]
    module: String,
    /// A flag of the module.
    #[param(pattern = r"^[a-z][a-z0-9_]{0,62}$", example = "invoicing")]
    flag: String,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagValue {
    pub value: bool,
}

/// Sets a flag for a tenant.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/flags/{module}/{flag}", tag = "flags", params(FlagPath), request_body = FlagValue,
    responses((status = 200, body = FlagSetReport)))]
pub async fn set(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Path((tenant, module, flag)): Path<(String, String, String)>,
    Body(body): Body<FlagValue>,
) -> Answer<FlagSetReport> {
    let tenant = tenant_name(&tenant)?;
    let module = module_name(&module)?;
    let flag = FlagName::parse(&flag).map_err(|e| Problem::from(crate::domain::Error::from(e)))?;
    caller.change(tenant.as_str())?;
    let assignment = FlagAssignment { module, flag, value: body.value };
    let name = tenant.clone();
    let work = move |ctx: &_| crate::ops::flags::set(ctx, &name, &assignment, &Silent);
    state.change(&caller, tenant.as_str(), preferred_wait(&headers), work).await.map(Json)
}
