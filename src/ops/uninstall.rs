//! `modreg uninstall MODULE… --tenant T… [--purge] [--cascade] [--dry-run]` (SPEC §5.3):
//! refuses while installed modules depend on it unless `--cascade`; archives the module's
//! tables and rows unless `--purge`; removes exactly what the module created. Works when
//! the module's folder is gone, from the landlord's copy of its manifest.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::domain::job::{Effect, JobKind};
use crate::domain::module::ModuleVersion;
use crate::domain::name::{ModuleName, TenantName};
use crate::domain::resolver::{dependency_order, dependents_closure};
use crate::domain::{Error, Result};
use crate::ops::catalog::{LoadedCatalog, load_catalog};
use crate::ops::execute::{Action, Work, execute};
use crate::ops::fleet::{FleetState, TenantOutcome, into_report, prepare_tenant, run_tenants};
use crate::ops::plan::planning_catalog;
use crate::ops::{Context, OperationReport, PlanRow, Reporter, TenantSelection, flag_map, new_batch_id};
use crate::store::KeepFor;

#[derive(Debug, Clone)]
pub struct UninstallOptions {
    pub modules: Vec<ModuleName>,
    pub tenants: TenantSelection,
    pub purge: bool,
    pub cascade: bool,
    pub dry_run: bool,
    pub fail_fast: bool,
}

pub fn uninstall(ctx: &Context, options: &UninstallOptions, reporter: &dyn Reporter) -> Result<OperationReport> {
    let tenants = options.tenants.resolve(ctx)?;
    let loaded = load_catalog(ctx, reporter)?;
    let batch = new_batch_id(ctx);
    let state = FleetState::load(ctx)?;
    let outcomes = run_tenants(ctx, &tenants, options.fail_fast, reporter, |tenant| {
        if state.settled(tenant, |have| options.modules.iter().all(|m| !have.is_some_and(|h| h.contains_key(m)))) {
            return TenantOutcome { unchanged: options.modules.len(), ..TenantOutcome::new(tenant) };
        }
        uninstall_tenant(ctx, &loaded, tenant, options, &batch, reporter).unwrap_or_else(|e| TenantOutcome::failed(tenant, e))
    });
    into_report(ctx, outcomes, options.tenants.is_single(), options.dry_run)
}

fn uninstall_tenant(
    ctx: &Context,
    loaded: &LoadedCatalog,
    tenant: &TenantName,
    options: &UninstallOptions,
    batch: &str,
    reporter: &dyn Reporter,
) -> Result<TenantOutcome> {
    let _lock = prepare_tenant(ctx, tenant, options.dry_run, reporter)?;
    let installed = ctx.installed(tenant.as_str())?;
    let catalog = planning_catalog(ctx, loaded, &installed.iter().collect::<Vec<_>>())?;
    let targets: BTreeSet<ModuleName> = options.modules.iter().filter(|m| installed.contains_key(*m)).cloned().collect();
    let mut outcome = TenantOutcome { unchanged: options.modules.len() - targets.len(), ..TenantOutcome::new(tenant) };
    if targets.is_empty() {
        return Ok(outcome);
    }
    let dependents = dependents_closure(&catalog, &installed, &targets, false);
    if !dependents.is_empty() && !options.cascade {
        let names: Vec<String> = dependents.iter().map(|d| format!("`{d}`")).collect();
        let targets: Vec<String> = targets.iter().map(|t| format!("`{t}`")).collect();
        return Err(Error::dependency(format!(
            "cannot uninstall {} from `{tenant}`: {} depend{} on it",
            targets.join(", "),
            names.join(", "),
            if names.len() == 1 { "s" } else { "" }
        ))
        .with_hint("uninstall the dependents first, or pass `--cascade` to uninstall them too"));
    }
    let mut modules: Vec<Arc<ModuleVersion>> = Vec::new();
    for name in targets.iter().chain(dependents.iter()) {
        let version = &installed[name];
        let module = catalog
            .get(name, version)
            .cloned()
            .ok_or_else(|| Error::internal(format!("the landlord has no record of `{name} {version}`, which tenant `{tenant}` has")))?;
        modules.push(module);
    }
    let mut order = dependency_order(&modules)?;
    order.reverse();
    let plan: Vec<PlanRow> = order
        .iter()
        .map(|m| PlanRow {
            tenant: tenant.to_string(),
            module: m.name().to_string(),
            action: if options.purge { "uninstall (purge)".into() } else { "uninstall".into() },
            from_version: Some(m.version().to_string()),
            to_version: None,
            reason: if targets.contains(m.name()) { "requested".into() } else { "depends on it (--cascade)".into() },
            deprecated: None,
        })
        .collect();
    reporter.plan(&plan);
    outcome.plan = plan;
    if options.dry_run {
        return Ok(outcome);
    }
    let mut actions = Vec::with_capacity(order.len());
    for module in order {
        let name = module.name();
        let version = module.version().to_string();
        let archive = (!options.purge)
            .then(|| ctx.tenants.place(tenant.as_str(), KeepFor::Archive { module: name.as_str(), version: &version, batch }));
        let flags = flag_map(&ctx.landlord.flags(tenant.as_str(), Some(name.as_str()))?);
        actions.push(Action {
            from: Some(module.version().clone()),
            kind: JobKind::Uninstall,
            work: Work::Uninstall { archive: archive.clone() },
            effect: Effect::Uninstall { archive: archive.map(|a| a.reference().to_string()) },
            flags,
            module,
        });
    }
    let run = execute(ctx, tenant.as_str(), batch, actions, reporter);
    outcome.jobs = run.jobs;
    outcome.error = run.error;
    Ok(outcome)
}
