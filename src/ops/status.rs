//! `modreg status [--tenant T]`: what each tenant has, with the newest version available
//! and whether the installed version is deprecated (SPEC §7 `status`).

use crate::domain::Result;
use crate::domain::manifest::Deprecation;
use crate::domain::name::TenantName;
use crate::ops::catalog::{load_catalog, module_version};
use crate::ops::{Context, Reporter};

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ModuleStatus {
    pub name: String,
    pub version: String,
    pub state: String,
    pub enabled: bool,
    /// The newest installable release in the catalog.
    pub latest: Option<String>,
    /// A newer version than the installed one exists.
    pub update_available: bool,
    pub deprecated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecation: Option<String>,
    /// The installed version is past its sunset: it can be upgraded or uninstalled, not reinstalled.
    pub past_sunset: bool,
    pub updated_at: String,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TenantStatus {
    pub name: String,
    pub modules: Vec<ModuleStatus>,
    /// Jobs left unfinished by a stopped process; the next command on the tenant recovers them.
    pub unfinished_jobs: usize,
}

#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct StatusReport {
    pub tenants: Vec<TenantStatus>,
}

pub fn status(ctx: &Context, tenant: Option<&TenantName>, reporter: &dyn Reporter) -> Result<StatusReport> {
    let tenants: Vec<String> = match tenant {
        Some(t) => {
            ctx.require_tenant(t)?;
            vec![t.to_string()]
        }
        None => ctx.landlord.tenants()?.into_iter().map(|t| t.name).collect(),
    };
    let loaded = load_catalog(ctx, reporter)?;
    let today = ctx.today();
    // One tenant's rows, not the whole fleet's: `GET /v1/tenants/{t}/modules` asks this
    // on every request, and reading every tenant's rows made it cost O(fleet).
    let installed = match tenant {
        Some(t) => ctx.landlord.installed(t.as_str())?,
        None => ctx.landlord.installed_everywhere()?,
    };
    let unfinished = ctx.landlord.tenants_with_unfinished_jobs()?;
    let mut report = StatusReport::default();
    for name in tenants {
        let mut modules = Vec::new();
        for m in installed.iter().filter(|m| m.tenant == name) {
            let latest = loaded.catalog.latest(m.module.as_str()).map(|l| l.version().clone());
            let current = semver::Version::parse(&m.version).ok();
            let module = module_version(ctx, &loaded.catalog, &m.module, &m.version)?;
            let deprecation = module.as_ref().and_then(|x| x.manifest.deprecation.clone());
            modules.push(ModuleStatus {
                name: m.module.clone(),
                version: m.version.clone(),
                state: "installed".into(),
                enabled: m.enabled,
                update_available: matches!((&latest, &current), (Some(l), Some(c)) if l > c),
                latest: latest.map(|l| l.to_string()),
                deprecated: deprecation.is_some(),
                past_sunset: deprecation.as_ref().is_some_and(|d| d.is_past_sunset(today)),
                deprecation: deprecation.as_ref().map(Deprecation::note),
                updated_at: m.updated_at.clone(),
            });
        }
        let unfinished_jobs = if unfinished.contains(&name) { ctx.landlord.unfinished_jobs(&name)?.len() } else { 0 };
        report.tenants.push(TenantStatus { name, modules, unfinished_jobs });
    }
    Ok(report)
}
