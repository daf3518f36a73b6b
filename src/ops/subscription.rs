//! `modreg subscription grant|revoke|list --tenant T [MODULE] [--until DATE]`: the
//! built-in subscription store.

use time::Date;

use crate::domain::name::{ModuleName, TenantName};
use crate::domain::suggest::similar;
use crate::domain::{Error, Result};
use crate::ops::Context;
use crate::store::SubscriptionRecord;

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SubscriptionReport {
    pub tenant: String,
    pub module: String,
    pub action: String,
    pub until: Option<String>,
    pub changed: bool,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    #[serde(flatten)]
    pub record: SubscriptionRecord,
    pub active: bool,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SubscriptionListReport {
    pub subscriptions: Vec<SubscriptionView>,
}

fn require_module(ctx: &Context, module: &ModuleName) -> Result<()> {
    if ctx.landlord.known_module(module.as_str())? {
        return Ok(());
    }
    let discovered = ctx.modules.discover().versions;
    if discovered.iter().any(|v| v.name() == module) {
        return Ok(());
    }
    let recorded = ctx.landlord.catalog_entries()?;
    let known = recorded.iter().map(|e| e.module.as_str()).chain(discovered.iter().map(|v| v.name().as_str()));
    let hint = similar("module", module.as_str(), known).unwrap_or_else(|| "run `modreg modules list` to see the catalog".into());
    Err(Error::not_found(format!("module `{module}` is not in the catalog")).with_hint(hint))
}

pub fn grant(ctx: &Context, tenant: &TenantName, module: &ModuleName, until: Option<Date>) -> Result<SubscriptionReport> {
    ctx.require_tenant(tenant)?;
    require_module(ctx, module)?;
    let until = until.map(|d| d.to_string());
    ctx.landlord.grant(tenant.as_str(), module.as_str(), until.as_deref(), &ctx.now())?;
    Ok(SubscriptionReport { tenant: tenant.to_string(), module: module.to_string(), action: "grant".into(), until, changed: true })
}

pub fn revoke(ctx: &Context, tenant: &TenantName, module: &ModuleName) -> Result<SubscriptionReport> {
    ctx.require_tenant(tenant)?;
    let changed = ctx.landlord.revoke(tenant.as_str(), module.as_str(), &ctx.now())?;
    Ok(SubscriptionReport { tenant: tenant.to_string(), module: module.to_string(), action: "revoke".into(), until: None, changed })
}

pub fn list(ctx: &Context, tenant: &TenantName, module: Option<&ModuleName>) -> Result<SubscriptionListReport> {
    ctx.require_tenant(tenant)?;
    let today = ctx.today().to_string();
    let subscriptions = ctx
        .landlord
        .subscriptions(tenant.as_str())?
        .into_iter()
        .filter(|s| module.is_none_or(|m| m.as_str() == s.module))
        .map(|record| {
            let active = record.is_active(&today);
            SubscriptionView { record, active }
        })
        .collect();
    Ok(SubscriptionListReport { subscriptions })
}
