//! The built-in subscription store: `GET /v1/tenants/{tenant}/subscriptions`,
//! `PUT …/subscriptions/{module}` (grant, `{"until": "YYYY-MM-DD"}` or open-ended) and
//! `DELETE …/subscriptions/{module}` (revoke).

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;

use crate::ops::subscription::{SubscriptionListReport, SubscriptionReport};
use crate::server::auth::Caller;
use crate::server::extract::{OptionalBody, Path};
use crate::server::routes::operations::ModulePath;
use crate::server::routes::tenants::TenantPath;
use crate::server::routes::{Answer, date, module_name, tenant_name};
use crate::server::state::AppState;

/// The tenant's subscriptions, revoked and lapsed ones included, each with whether it is active.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/subscriptions", tag = "subscriptions", params(TenantPath),
    responses((status = 200, body = SubscriptionListReport)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(tenant): Path<String>,
) -> Answer<SubscriptionListReport> {
    let tenant = tenant_name(&tenant)?;
    caller.see(tenant.as_str())?;
    state.blocking(move |state| crate::ops::subscription::list(state.base(), &tenant, None)).await.map(Json)
}

#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Grant {
    /// The last day it covers (`YYYY-MM-DD`); open-ended when left out.
    #[schema(format = Date)]
    pub until: Option<String>,
}

/// Gives the tenant a subscription to the module.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/subscriptions/{module}", tag = "subscriptions", params(ModulePath),
    request_body(content = Option<Grant>, description = "Optional"), responses((status = 200, body = SubscriptionReport)))]
pub async fn grant(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path((tenant, module)): Path<(String, String)>,
    OptionalBody(body): OptionalBody<Grant>,
) -> Answer<SubscriptionReport> {
    let (tenant, module) = (tenant_name(&tenant)?, module_name(&module)?);
    caller.change(tenant.as_str())?;
    let until = body.until.as_deref().map(|d| date(d, "until")).transpose()?;
    let ctx = state.context(&caller, None);
    state.blocking(move |_| crate::ops::subscription::grant(&ctx, &tenant, &module, until)).await.map(Json)
}

/// Ends the tenant's subscription to the module.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/subscriptions/{module}", tag = "subscriptions", params(ModulePath),
    responses((status = 200, body = SubscriptionReport)))]
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path((tenant, module)): Path<(String, String)>,
) -> Answer<SubscriptionReport> {
    let (tenant, module) = (tenant_name(&tenant)?, module_name(&module)?);
    caller.change(tenant.as_str())?;
    let ctx = state.context(&caller, None);
    state.blocking(move |_| crate::ops::subscription::revoke(&ctx, &tenant, &module)).await.map(Json)
}
