//! `modreg upgrade MODULE… (--tenant T… | --all-tenants) [--to VERSION]` (SPEC §5.2): the
//! newest version that keeps every constraint true, installing or upgrading what it
//! needs, applying only the migrations the tenant lacks, keeping a pre-upgrade copy of
//! the module for `revert`. Downgrades are refused; what is current is left alone.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use semver::Version;

use crate::domain::change::{Change, FileKind};
use crate::domain::job::{Effect, JobKind};
use crate::domain::name::{ModuleName, TenantName};
use crate::domain::resolver::{Goal, Installed, PlanStep, resolve};
use crate::domain::{Error, Result};
use crate::ops::catalog::{LoadedCatalog, load_catalog};
use crate::ops::execute::{Action, Work};
use crate::ops::fleet::{FleetState, TenantOutcome, prepare_tenant};
use crate::ops::plan::{install_action, planning_catalog, present_plan, writable_dependencies};
use crate::ops::planned::{Fleet, Planned, TenantPlan, plan_and_run};
use crate::ops::{Context, OperationReport, Reporter, TenantSelection, flag_map, new_batch_id};
use crate::store::{KeepFor, Kept, TenantLock};

#[derive(Debug, Clone)]
pub struct UpgradeOptions {
    pub modules: Vec<ModuleName>,
    pub tenants: TenantSelection,
    pub to: Option<Version>,
    pub dry_run: bool,
    pub fail_fast: bool,
}

pub fn upgrade(ctx: &Context, options: &UpgradeOptions, reporter: &dyn Reporter) -> Result<OperationReport> {
    let tenants = options.tenants.resolve(ctx)?;
    let prepared = Prepared::new(ctx, options, &tenants, reporter)?;
    let fleet = Fleet { fail_fast: options.fail_fast, single: options.tenants.is_single(), dry_run: options.dry_run };
    plan_and_run(ctx, &tenants, &prepared.batch, fleet, reporter, |tenant| prepared.plan(ctx, tenant, None, reporter))
}

/// Plans the upgrade for its one tenant, under `held` (the tenant's lock, which the
/// caller took) or a lock of its own, to be run later as planned.
pub fn plan(ctx: &Context, options: &UpgradeOptions, held: Option<TenantLock>, reporter: &dyn Reporter) -> Result<TenantPlan> {
    let tenants = options.tenants.resolve(ctx)?;
    let prepared = Prepared::new(ctx, options, &tenants, reporter)?;
    TenantPlan::single(&tenants, &prepared.batch, options.dry_run, |tenant| prepared.plan(ctx, tenant, held, reporter))
}

/// What every tenant's plan of one upgrade command shares.
struct Prepared<'a> {
    options: &'a UpgradeOptions,
    loaded: LoadedCatalog,
    batch: String,
    state: FleetState,
    targets: Vec<(ModuleName, Option<Version>)>,
}

impl<'a> Prepared<'a> {
    fn new(ctx: &Context, options: &'a UpgradeOptions, tenants: &[TenantName], reporter: &dyn Reporter) -> Result<Prepared<'a>> {
        if options.to.is_some() && options.modules.len() != 1 {
            return Err(Error::invalid("`--to` needs exactly one module").with_hint("upgrade the others in a separate command"));
        }
        let loaded = load_catalog(ctx, reporter)?;
        for module in &options.modules {
            loaded.require(module)?;
        }
        let targets = options.modules.iter().map(|m| (m.clone(), target_version(&loaded, m, options.to.as_ref(), ctx.today()))).collect();
        Ok(Prepared { options, loaded, batch: new_batch_id(ctx), state: FleetState::load(ctx, tenants)?, targets })
    }

    fn plan(&self, ctx: &Context, tenant: &TenantName, held: Option<TenantLock>, reporter: &dyn Reporter) -> Planned {
        let options = self.options;
        let have = self.state.installed(tenant);
        // Across every tenant, those without the module have nothing to upgrade.
        let every_tenant = matches!(options.tenants, TenantSelection::All);
        let relevant: Vec<ModuleName> =
            options.modules.iter().filter(|m| !every_tenant || have.is_some_and(|h| h.contains_key(*m))).cloned().collect();
        let at_target = |have: Option<&Installed>| {
            self.targets
                .iter()
                .all(|(m, target)| !relevant.contains(m) || target.as_ref().is_some_and(|t| have.and_then(|h| h.get(m)) == Some(t)))
        };
        if relevant.is_empty() || self.state.settled(tenant, at_target) {
            return Planned::done(TenantOutcome { unchanged: options.modules.len(), ..TenantOutcome::new(tenant) });
        }
        self.plan_tenant(ctx, tenant, &relevant, held, reporter).unwrap_or_else(|e| Planned::failed(tenant, e))
    }

    fn plan_tenant(
        &self,
        ctx: &Context,
        tenant: &TenantName,
        modules: &[ModuleName],
        held: Option<TenantLock>,
        reporter: &dyn Reporter,
    ) -> Result<Planned> {
        let (options, loaded) = (self.options, &self.loaded);
        let lock = prepare_tenant(ctx, tenant, options.dry_run, held, reporter)?;
        let installed = ctx.installed(tenant.as_str())?;
        let catalog = planning_catalog(ctx, loaded, &installed.iter().collect::<Vec<_>>())?;
        let goal = Goal::Upgrade { modules: modules.to_vec(), to: options.to.clone() };
        let resolution = resolve(&catalog, &installed, &goal, ctx.today())?;
        let outcome = match present_plan(ctx, loaded, tenant, &resolution, |_| "install", options.dry_run, reporter)? {
            ControlFlow::Continue(outcome) => outcome,
            ControlFlow::Break(outcome) => return Ok(Planned::done(outcome)),
        };
        let writable = writable_dependencies(&catalog, &installed, &resolution.steps);
        let mut actions = Vec::with_capacity(resolution.steps.len());
        for (step, writable) in resolution.steps.iter().zip(writable) {
            actions.push(match &step.from {
                None => install_action(step, writable),
                Some(from) => upgrade_action(ctx, tenant, step, from, &self.batch, writable)?,
            });
        }
        let upgraded: Vec<String> = resolution.steps.iter().filter(|s| s.from.is_some()).map(|s| s.module.name().to_string()).collect();
        let tenant = tenant.clone();
        let after = Box::new(move |ctx: &Context, reporter: &dyn Reporter| {
            for module in &upgraded {
                prune_copies(ctx, &tenant, module, reporter);
            }
        });
        Ok(Planned { outcome, actions, lock, after: Some(after) })
    }
}

/// The version a tenant ends at when nothing stands in the way: `--to`, or the newest
/// installable release that is not retired.
fn target_version(loaded: &LoadedCatalog, module: &ModuleName, to: Option<&Version>, today: time::Date) -> Option<Version> {
    if let Some(to) = to {
        return Some(to.clone());
    }
    loaded
        .catalog
        .versions(module)
        .iter()
        .find(|m| {
            m.is_installable() && m.version().pre.is_empty() && !m.manifest.deprecation.as_ref().is_some_and(|d| d.is_past_sunset(today))
        })
        .map(|m| m.version().clone())
}

fn upgrade_action(
    ctx: &Context,
    tenant: &TenantName,
    step: &PlanStep,
    from: &Version,
    batch: &str,
    writable: BTreeSet<ModuleName>,
) -> Result<Action> {
    let name = step.module.name();
    let from_text = from.to_string();
    let copy = (ctx.settings.keep_upgrade_copies > 0)
        .then(|| ctx.tenants.place(tenant.as_str(), KeepFor::UpgradeCopy { module: name.as_str(), from: &from_text, batch }));
    let flags = flag_map(&ctx.landlord.flags(tenant.as_str(), Some(name.as_str()))?);
    let features = step.module.manifest.features.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    Ok(Action {
        module: step.module.clone(),
        kind: JobKind::Upgrade,
        from: Some(from.clone()),
        work: Work::Upgrade { copy: copy.clone(), writable },
        effect: Effect::Upgrade { version: step.module.version().to_string(), features, copy: copy.map(|c| c.reference().to_string()) },
        flags,
    })
}

/// Keeps the newest `keep_upgrade_copies` pre-upgrade copies of a module.
fn prune_copies(ctx: &Context, tenant: &TenantName, module: &str, reporter: &dyn Reporter) {
    let Ok(copies) = ctx.landlord.archives(tenant.as_str(), Some(module), Some(FileKind::UpgradeCopy)) else { return };
    let old: Vec<_> = copies.into_iter().skip(ctx.settings.keep_upgrade_copies).collect();
    if old.is_empty() {
        return;
    }
    for record in &old {
        let _ = ctx.tenants.discard_kept(&Kept::new(&record.path));
    }
    let ids: Vec<i64> = old.iter().map(|r| r.id).collect();
    if let Err(e) = ctx.landlord.commit(&[Change::ForgetFiles { ids, at: ctx.now() }]) {
        reporter.warning(&format!("could not record pruned upgrade copies: {}", e.message));
    }
}
