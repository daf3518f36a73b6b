//! `modreg flags list --tenant T [MODULE]` and `modreg flags set --tenant T MODULE.FLAG=true|false`.
//! Flags live in the landlord, and in the tenant's file for a landlord rebuilt from it.

use crate::domain::change::{self, Commit};
use crate::domain::name::{FlagName, ModuleName, TenantName};
use crate::domain::suggest::similar;
use crate::domain::{Error, Result};
use crate::ops::toggle::prepare;
use crate::ops::{Context, Reporter, fault, not_installed, tenant_records};
use crate::store::FlagRecord;

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FlagsListReport {
    pub flags: Vec<FlagRecord>,
}

pub fn list(ctx: &Context, tenant: &TenantName, module: Option<&ModuleName>) -> Result<FlagsListReport> {
    ctx.require_tenant(tenant)?;
    if let Some(module) = module {
        require_installed(ctx, tenant, module)?;
    }
    Ok(FlagsListReport { flags: ctx.landlord.flags(tenant.as_str(), module.map(ModuleName::as_str))? })
}

/// `MODULE.FLAG=true|false`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagAssignment {
    pub module: ModuleName,
    pub flag: FlagName,
    pub value: bool,
}

impl FlagAssignment {
    pub fn parse(text: &str) -> Result<FlagAssignment> {
        let invalid = || Error::invalid(format!("`{text}` is not `MODULE.FLAG=true|false`")).with_hint("e.g. `finance.invoicing=false`");
        let (target, value) = text.split_once('=').ok_or_else(invalid)?;
        let (module, flag) = target.split_once('.').ok_or_else(invalid)?;
        let value = match value.trim() {
            "true" | "on" | "1" => true,
            "false" | "off" | "0" => false,
            _ => return Err(invalid()),
        };
        Ok(FlagAssignment { module: ModuleName::parse(module)?, flag: FlagName::parse(flag)?, value })
    }
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FlagSetReport {
    pub tenant: String,
    pub module: String,
    pub flag: String,
    pub value: bool,
    pub previous: bool,
    pub changed: bool,
}

fn require_installed(ctx: &Context, tenant: &TenantName, module: &ModuleName) -> Result<()> {
    let installed = ctx.landlord.installed(tenant.as_str())?;
    if installed.iter().any(|m| m.module == module.as_str()) {
        Ok(())
    } else {
        Err(not_installed(tenant, module, installed.iter().map(|m| m.module.as_str())))
    }
}

/// Not found, for a flag the module does not have (`flags` are those it has): the hint
/// names a flag with a similar name, or where to see them.
pub(crate) fn unknown_flag(tenant: &TenantName, module: &ModuleName, flag: &FlagName, flags: &[FlagRecord]) -> Error {
    let hint = similar("flag", flag.as_str(), flags.iter().map(|f| f.flag.as_str()))
        .unwrap_or_else(|| format!("run `modreg flags list --tenant {tenant} {module}` to see its flags"));
    Error::not_found(format!("module `{module}` has no flag `{flag}` for tenant `{tenant}`")).with_hint(hint)
}

/// How many times a flag is read again when another process changes it meanwhile.
const SET_ATTEMPTS: usize = 5;

/// Sets a flag under the tenant's lock: in the tenant's file first (always, so that
/// setting a flag also mends a file that disagrees), then in the landlord. A crash in
/// between leaves the two apart, which `doctor` reports with this command as the fix.
pub fn set(ctx: &Context, tenant: &TenantName, assignment: &FlagAssignment, reporter: &dyn Reporter) -> Result<FlagSetReport> {
    let _lock = prepare(ctx, tenant, reporter)?;
    require_installed(ctx, tenant, &assignment.module)?;
    let FlagAssignment { module, flag, value } = assignment;
    for _ in 0..SET_ATTEMPTS {
        let flags = ctx.landlord.flags(tenant.as_str(), Some(module.as_str()))?;
        let Some(previous) = flags.iter().find(|f| f.flag == flag.as_str()).map(|f| f.value) else {
            return Err(unknown_flag(tenant, module, flag, &flags));
        };
        let now = ctx.now();
        let kept = change::set_flag_in_tenant_file(tenant.as_str(), module.as_str(), flag.as_str(), *value, previous, &now);
        tenant_records::write(ctx, tenant.as_str(), &kept, &[], "")?;
        fault::point("flag-written");
        let changes = change::set_flag(tenant.as_str(), module.as_str(), flag.as_str(), *value, previous, &now);
        // Another process that sets flags without the tenant's lock (an older modreg)
        // may have changed it since it was read: read it again.
        if changes.is_empty() || ctx.landlord.commit(&changes)? == Commit::Done {
            return Ok(FlagSetReport {
                tenant: tenant.to_string(),
                module: module.to_string(),
                flag: flag.to_string(),
                value: *value,
                previous,
                changed: previous != *value,
            });
        }
    }
    Err(Error::busy(format!("flag `{module}.{flag}` of `{tenant}` kept changing while it was being set"))
        .with_hint("other processes are setting it at the same time; try again"))
}
