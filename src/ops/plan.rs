//! What install, upgrade and uninstall share between resolving and running: the catalog
//! a tenant's plan is made from, the checks a plan passes before it runs (published
//! versions unchanged, subscriptions held), its rows and warnings, and the action that
//! installs a module.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::sync::Arc;

use semver::Version;

use crate::domain::catalog::Catalog;
use crate::domain::job::{Effect, JobKind};
use crate::domain::manifest::Deprecation;
use crate::domain::module::ModuleVersion;
use crate::domain::name::{ModuleName, TenantName};
use crate::domain::resolver::{Installed, PlanStep, Resolution, dependency_closure};
use crate::domain::{Error, Result};
use crate::ops::catalog::{LoadedCatalog, module_version};
use crate::ops::execute::{Action, Work};
use crate::ops::fleet::TenantOutcome;
use crate::ops::{Context, PlanRow, Reporter};

/// The catalog for planning one tenant: the loaded one, plus the landlord's copies of
/// `versions` (what the tenant has, what it restores) that the disk no longer has.
pub(crate) fn planning_catalog<'a>(
    ctx: &Context,
    loaded: &'a LoadedCatalog,
    versions: &[(&ModuleName, &Version)],
) -> Result<Cow<'a, Catalog>> {
    let missing: Vec<&(&ModuleName, &Version)> = versions.iter().filter(|(n, v)| loaded.catalog.get(*n, v).is_none()).collect();
    if missing.is_empty() {
        return Ok(Cow::Borrowed(&loaded.catalog));
    }
    let mut catalog = loaded.catalog.clone();
    for (name, version) in missing {
        if let Some(copy) = module_version(ctx, &loaded.catalog, name.as_str(), &version.to_string())? {
            let _ = catalog.insert(copy);
        }
    }
    Ok(Cow::Owned(catalog))
}

/// For each step of a plan, the other modules whose tables its SQL may write: its
/// dependencies as the tenant has them when the step runs, the plan's versions taking
/// the place of the installed ones (dependencies run first).
pub(crate) fn writable_dependencies(catalog: &Catalog, installed: &Installed, steps: &[PlanStep]) -> Vec<BTreeSet<ModuleName>> {
    let planned: BTreeMap<&ModuleName, &ModuleVersion> = steps.iter().map(|s| (s.module.name(), s.module.as_ref())).collect();
    let present = |name: &ModuleName| {
        planned.get(name).copied().or_else(|| installed.get(name).and_then(|version| catalog.get(name, version)).map(Arc::as_ref))
    };
    steps.iter().map(|step| dependency_closure(&step.module, present)).collect()
}

/// The action that installs a plan's module, which may write to the tables of `writable`
/// besides its own.
pub(crate) fn install_action(step: &PlanStep, writable: BTreeSet<ModuleName>) -> Action {
    let flags: BTreeMap<String, bool> = step.module.manifest.features.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    Action {
        module: step.module.clone(),
        kind: JobKind::Install,
        from: None,
        work: Work::Install { seeds: true, writable },
        effect: Effect::Install { version: step.module.version().to_string(), flags, restored_from: None },
        flags: BTreeMap::new(),
    }
}

/// Refuses (exit 5) when a module of the plan needs a subscription the tenant lacks.
fn check_subscriptions<'a>(ctx: &Context, tenant: &TenantName, modules: impl IntoIterator<Item = &'a Arc<ModuleVersion>>) -> Result<()> {
    let today = ctx.today().to_string();
    for module in modules {
        if !module.manifest.requires_subscription {
            continue;
        }
        if !ctx.subscriptions.allows(tenant.as_str(), module.name().as_str(), &today)? {
            let hint = if ctx.settings.subscription_command.is_some() {
                format!("{} denied it", ctx.subscriptions.describe())
            } else {
                format!("grant one with `modreg subscription grant --tenant {tenant} {}`", module.name())
            };
            return Err(Error::subscription(format!(
                "`{}` requires a subscription, and tenant `{tenant}` has no active one",
                module.name()
            ))
            .with_hint(hint));
        }
    }
    Ok(())
}

/// What install and upgrade do between resolving and running: refuse changed published
/// versions and missing subscriptions, warn of deprecations and show the plan. `Break`
/// when nothing is left to run (nothing to change, or a dry run), with the outcome to
/// report; `Continue` with the outcome the run fills in.
pub(crate) fn present_plan(
    ctx: &Context,
    loaded: &LoadedCatalog,
    tenant: &TenantName,
    resolution: &Resolution,
    action: impl Fn(&PlanStep) -> &'static str,
    dry_run: bool,
    reporter: &dyn Reporter,
) -> Result<ControlFlow<TenantOutcome, TenantOutcome>> {
    loaded.check_unchanged(resolution.steps.iter().map(|s| s.module.as_ref()))?;
    // What is restored from an archive runs no migrations.
    for step in resolution.steps.iter().filter(|s| action(s) != "restore") {
        step.module.require_sql(ctx.tenants.engine())?;
    }
    check_subscriptions(ctx, tenant, resolution.steps.iter().map(|s| &s.module))?;
    let plan = plan_rows(tenant, &resolution.steps, action);
    warn_deprecated(reporter, &resolution.steps);
    let mut outcome = TenantOutcome { unchanged: resolution.unchanged.len(), ..TenantOutcome::new(tenant) };
    if plan.is_empty() {
        return Ok(ControlFlow::Break(outcome));
    }
    reporter.plan(&plan);
    outcome.plan = plan;
    Ok(if dry_run { ControlFlow::Break(outcome) } else { ControlFlow::Continue(outcome) })
}

fn plan_rows(tenant: &TenantName, steps: &[PlanStep], action: impl Fn(&PlanStep) -> &'static str) -> Vec<PlanRow> {
    steps
        .iter()
        .map(|s| PlanRow {
            tenant: tenant.to_string(),
            module: s.module.name().to_string(),
            action: match &s.from {
                Some(_) => "upgrade".to_string(),
                None => action(s).to_string(),
            },
            from_version: s.from.as_ref().map(ToString::to_string),
            to_version: Some(s.module.version().to_string()),
            reason: s.reason.to_string(),
            deprecated: s.module.manifest.deprecation.as_ref().map(Deprecation::note),
        })
        .collect()
}

fn warn_deprecated(reporter: &dyn Reporter, steps: &[PlanStep]) {
    for step in steps {
        if let Some(d) = &step.module.manifest.deprecation {
            reporter.warning(&format!("`{}` is deprecated: {}", step.module.label(), d.note()));
        }
    }
}
