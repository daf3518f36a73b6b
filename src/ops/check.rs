//! `modreg check --tenant T MODULE[.FLAG]`: exit 0 when the module is installed and
//! enabled (and the flag on), 1 when not, 3 for an unknown tenant, module or flag. It
//! reads only the landlord.

use crate::domain::name::{FlagName, ModuleName, TenantName};
use crate::domain::suggest::similar;
use crate::domain::{Error, Result};
use crate::ops::Context;
use crate::ops::flags::unknown_flag;

/// `MODULE` or `MODULE.FLAG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckTarget {
    pub module: ModuleName,
    pub flag: Option<FlagName>,
}

impl CheckTarget {
    pub fn parse(text: &str) -> Result<CheckTarget> {
        match text.split_once('.') {
            Some((module, flag)) => Ok(CheckTarget { module: ModuleName::parse(module)?, flag: Some(FlagName::parse(flag)?) }),
            None => Ok(CheckTarget { module: ModuleName::parse(text)?, flag: None }),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CheckReport {
    pub tenant: String,
    pub module: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    pub allowed: bool,
    /// Why not, when not: `not installed`, `disabled`, `flag off`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub fn check(ctx: &Context, tenant: &TenantName, target: &CheckTarget) -> Result<CheckReport> {
    ctx.require_tenant(tenant)?;
    let module = target.module.as_str();
    let mut report = CheckReport {
        tenant: tenant.to_string(),
        module: module.to_string(),
        flag: target.flag.as_ref().map(ToString::to_string),
        allowed: false,
        reason: None,
    };
    let installed = ctx.landlord.installed(tenant.as_str())?;
    let Some(record) = installed.iter().find(|m| m.module == module) else {
        if !ctx.landlord.known_module(module)? {
            let known = ctx.landlord.catalog_entries()?;
            let hint = similar("module", module, known.iter().map(|e| e.module.as_str()))
                .unwrap_or_else(|| "run `modreg modules list` to see the catalog".into());
            return Err(Error::not_found(format!("module `{module}` is unknown")).with_hint(hint));
        }
        report.reason = Some("not installed".into());
        return Ok(report);
    };
    if let Some(flag) = &target.flag {
        let flags = ctx.landlord.flags(tenant.as_str(), Some(module))?;
        let Some(value) = flags.iter().find(|f| f.flag == flag.as_str()).map(|f| f.value) else {
            return Err(unknown_flag(tenant, &target.module, flag, &flags));
        };
        if !record.enabled {
            report.reason = Some("disabled".into());
        } else if !value {
            report.reason = Some("flag off".into());
        }
    } else if !record.enabled {
        report.reason = Some("disabled".into());
    }
    report.allowed = report.reason.is_none();
    Ok(report)
}
