//! `modreg enable MODULE --tenant T` (SPEC §5.4): turns an installed module on; its
//! dependencies must be enabled. A job, which records the state in the tenant file too.

use crate::domain::name::{ModuleName, TenantName};
use crate::domain::{Error, Result};
use crate::ops::toggle::{TenantModules, prepare, run, unchanged};
use crate::ops::{Context, OperationReport, Reporter};

pub fn enable(ctx: &Context, tenant: &TenantName, module: &ModuleName, reporter: &dyn Reporter) -> Result<OperationReport> {
    let _lock = prepare(ctx, tenant, reporter)?;
    let state = TenantModules::load(ctx, tenant)?;
    if state.require(tenant, module)?.enabled {
        return Ok(unchanged(tenant));
    }
    if let Some(manifest) = state.manifests.get(module.as_str()) {
        for dep in manifest.manifest.dependencies.keys() {
            match state.records.get(dep.as_str()) {
                Some(record) if record.enabled => {}
                Some(_) => {
                    return Err(Error::dependency(format!("cannot enable `{module}` for `{tenant}`: its dependency `{dep}` is disabled"))
                        .with_hint(format!("enable it first: `modreg enable {dep} --tenant {tenant}`")));
                }
                None => {
                    return Err(Error::dependency(format!(
                        "cannot enable `{module}` for `{tenant}`: its dependency `{dep}` is not installed"
                    ))
                    .with_hint(format!("install it: `modreg install {dep} --tenant {tenant}`")));
                }
            }
        }
    }
    run(ctx, tenant, &[module.to_string()], true, &state, reporter)
}
