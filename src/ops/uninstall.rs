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
use crate::ops::execute::{Action, Work};
use crate::ops::fleet::{FleetState, TenantOutcome, prepare_tenant};
use crate::ops::plan::planning_catalog;
use crate::ops::planned::{Fleet, Planned, TenantPlan, plan_and_run};
use crate::ops::{Context, OperationReport, PlanRow, Reporter, TenantSelection, flag_map, new_batch_id};
use crate::store::{KeepFor, TenantLock};

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
    let prepared = Prepared::new(ctx, options, &tenants, reporter)?;
    let fleet = Fleet { fail_fast: options.fail_fast, single: options.tenants.is_single(), dry_run: options.dry_run };
    plan_and_run(ctx, &tenants, &prepared.batch, fleet, reporter, |tenant| prepared.plan(ctx, tenant, None, reporter))
}

/// Plans the uninstall for its one tenant, under `held` (the tenant's lock, which the
/// caller took) or a lock of its own, to be run later as planned.
pub fn plan(ctx: &Context, options: &UninstallOptions, held: Option<TenantLock>, reporter: &dyn Reporter) -> Result<TenantPlan> {
    let tenants = options.tenants.resolve(ctx)?;
    let prepared = Prepared::new(ctx, options, &tenants, reporter)?;
    TenantPlan::single(&tenants, &prepared.batch, options.dry_run, |tenant| prepared.plan(ctx, tenant, held, reporter))
}

/// What every tenant's plan of one uninstall command shares.
struct Prepared<'a> {
    options: &'a UninstallOptions,
    loaded: LoadedCatalog,
    batch: String,
    state: FleetState,
}

impl<'a> Prepared<'a> {
    fn new(ctx: &Context, options: &'a UninstallOptions, tenants: &[TenantName], reporter: &dyn Reporter) -> Result<Prepared<'a>> {
        let loaded = load_catalog(ctx, reporter)?;
        Ok(Prepared { options, loaded, batch: new_batch_id(ctx), state: FleetState::load(ctx, tenants)? })
    }

    fn plan(&self, ctx: &Context, tenant: &TenantName, held: Option<TenantLock>, reporter: &dyn Reporter) -> Planned {
        let modules = &self.options.modules;
        if self.state.settled(tenant, |have| modules.iter().all(|m| !have.is_some_and(|h| h.contains_key(m)))) {
            return Planned::done(TenantOutcome { unchanged: modules.len(), ..TenantOutcome::new(tenant) });
        }
        self.plan_tenant(ctx, tenant, held, reporter).unwrap_or_else(|e| Planned::failed(tenant, e))
    }

    fn plan_tenant(&self, ctx: &Context, tenant: &TenantName, held: Option<TenantLock>, reporter: &dyn Reporter) -> Result<Planned> {
        let (options, loaded) = (self.options, &self.loaded);
        let lock = prepare_tenant(ctx, tenant, options.dry_run, held, reporter)?;
        let installed = ctx.installed(tenant.as_str())?;
        let catalog = planning_catalog(ctx, loaded, &installed.iter().collect::<Vec<_>>())?;
        let targets: BTreeSet<ModuleName> = options.modules.iter().filter(|m| installed.contains_key(*m)).cloned().collect();
        let mut outcome = TenantOutcome { unchanged: options.modules.len() - targets.len(), ..TenantOutcome::new(tenant) };
        if targets.is_empty() {
            return Ok(Planned::done(outcome));
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
            return Ok(Planned::done(outcome));
        }
        let mut actions = Vec::with_capacity(order.len());
        for module in order {
            let name = module.name();
            let version = module.version().to_string();
            let archive = (!options.purge).then(|| {
                ctx.tenants.place(tenant.as_str(), KeepFor::Archive { module: name.as_str(), version: &version, batch: &self.batch })
            });
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
        Ok(Planned { outcome, actions, lock, after: None })
    }
}
