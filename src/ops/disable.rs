//! `modreg disable MODULE --tenant T [--cascade]` (SPEC §5.4): turns a module off,
//! keeping all its data; refused while enabled modules depend on it, unless `--cascade`
//! disables them too (dependents first).

use std::collections::BTreeSet;

use crate::domain::name::{ModuleName, TenantName};
use crate::domain::{Error, Result};
use crate::ops::toggle::{TenantModules, prepare, run, unchanged};
use crate::ops::{Context, OperationReport, Reporter};

pub fn disable(ctx: &Context, tenant: &TenantName, module: &ModuleName, cascade: bool, reporter: &dyn Reporter) -> Result<OperationReport> {
    let _lock = prepare(ctx, tenant, reporter)?;
    let state = TenantModules::load(ctx, tenant)?;
    if !state.require(tenant, module)?.enabled {
        return Ok(unchanged(tenant));
    }
    let direct = state.enabled_dependents(module.as_str());
    if !direct.is_empty() && !cascade {
        let names: Vec<String> = direct.iter().map(|d| format!("`{d}`")).collect();
        return Err(Error::dependency(format!(
            "cannot disable `{module}` for `{tenant}`: enabled modules depend on it: {}",
            names.join(", ")
        ))
        .with_hint("disable them first, or pass `--cascade` to disable them too"));
    }
    let mut all: BTreeSet<String> = BTreeSet::from([module.to_string()]);
    let mut frontier = vec![module.to_string()];
    while let Some(next) = frontier.pop() {
        for dependent in state.enabled_dependents(&next) {
            if all.insert(dependent.clone()) {
                frontier.push(dependent);
            }
        }
    }
    let mut order = state.in_dependency_order(&all.into_iter().collect::<Vec<_>>())?;
    order.reverse();
    run(ctx, tenant, &order, false, &state, reporter)
}
