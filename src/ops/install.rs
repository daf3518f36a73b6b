//! `modreg install MODULE[@REQ]… --tenant T… [--dry-run] [--restore]` (SPEC §5.1):
//! resolve, check subscriptions, print the plan, then run it per tenant as one atomic
//! unit. Installing what is installed does nothing.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

use semver::{Version, VersionReq};

use crate::domain::change::FileKind;
use crate::domain::job::{Effect, JobKind};
use crate::domain::module::ModuleVersion;
use crate::domain::name::{ModuleName, TenantName};
use crate::domain::resolver::{Goal, PlanStep, Request, Resolution, resolve};
use crate::domain::{Error, Result};
use crate::ops::execute::{Action, Work, execute};
use crate::ops::fleet::{FleetState, TenantOutcome, into_report, prepare_tenant, run_tenants};
use crate::ops::{Context, LoadedCatalog, OperationReport, PlanRow, Reporter, TenantSelection, load_catalog, new_batch_id};

#[derive(Debug, Clone)]
pub struct InstallOptions {
    pub requests: Vec<Request>,
    pub tenants: TenantSelection,
    pub dry_run: bool,
    /// Bring each module back from its latest uninstall archive instead of installing it fresh.
    pub restore: bool,
    pub fail_fast: bool,
}

pub fn install(ctx: &Context, options: &InstallOptions, reporter: &dyn Reporter) -> Result<OperationReport> {
    let tenants = options.tenants.resolve(ctx)?;
    let loaded = load_catalog(ctx, reporter)?;
    if !options.restore {
        for request in &options.requests {
            if !loaded.catalog.contains(&request.name) {
                return Err(Error::not_found(format!("module `{}` is not in the catalog", request.name)).with_hint(not_found_hint(&loaded)));
            }
        }
    }
    let batch = new_batch_id(ctx);
    let state = FleetState::load(ctx)?;
    let outcomes = run_tenants(&tenants, ctx.settings.jobs, options.fail_fast, reporter, |tenant| {
        let done = !options.restore
            && state.settled(tenant, |have| {
                options.requests.iter().all(|r| have.and_then(|h| h.get(&r.name)).is_some_and(|v| r.req.matches(v)))
            });
        if done {
            return TenantOutcome { unchanged: options.requests.len(), ..TenantOutcome::new(tenant) };
        }
        install_tenant(ctx, &loaded, tenant, options, &batch, reporter).unwrap_or_else(|e| TenantOutcome::failed(tenant, e))
    });
    into_report(outcomes, options.tenants.is_single(), options.dry_run)
}

pub(crate) fn not_found_hint(loaded: &LoadedCatalog) -> String {
    if loaded.missing_folder {
        return "the modules folder does not exist: pass `--modules DIR` or set `MODREG_MODULES`".into();
    }
    let invalid = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
    if invalid > 0 {
        format!("{invalid} problem(s) in the modules folder kept some modules out; run `modreg validate`")
    } else {
        "run `modreg modules list` to see the catalog".into()
    }
}

fn install_tenant(
    ctx: &Context,
    loaded: &LoadedCatalog,
    tenant: &TenantName,
    options: &InstallOptions,
    batch: &str,
    reporter: &dyn Reporter,
) -> Result<TenantOutcome> {
    let _lock = prepare_tenant(ctx, tenant, options.dry_run, reporter)?;
    let installed = ctx.installed(tenant.as_str())?;
    let mut requests = options.requests.clone();
    let mut archives: BTreeMap<String, (PathBuf, BTreeMap<String, bool>)> = BTreeMap::new();
    let mut restored: Vec<(ModuleName, Version)> = Vec::new();
    if options.restore {
        for request in &mut requests {
            if installed.contains_key(&request.name) {
                continue;
            }
            let (path, summary) = latest_archive(ctx, tenant, request.name.as_str())?;
            let version =
                semver::Version::parse(&summary.version).map_err(|e| Error::internal(format!("archive `{}`: {e}", path.display())))?;
            if !request.req.matches(&version) {
                return Err(Error::not_found(format!(
                    "the latest archive of `{}` for `{tenant}` holds version {version}, which does not match `{}`",
                    request.name, request.req
                )));
            }
            request.req = VersionReq::parse(&format!("={version}")).unwrap_or(VersionReq::STAR);
            request.allow_stored = true;
            restored.push((request.name.clone(), version));
            archives.insert(request.name.to_string(), (path, summary.flags));
        }
    }
    let versions: Vec<(&ModuleName, &Version)> = installed.iter().chain(restored.iter().map(|(n, v)| (n, v))).collect();
    let catalog = planning_catalog(ctx, loaded, &versions)?;
    let resolution = resolve(&catalog, &installed, &Goal::Install(requests), ctx.today())?;
    let action = |s: &PlanStep| if archives.contains_key(s.module.name().as_str()) { "restore" } else { "install" };
    let mut outcome = match present_plan(ctx, loaded, tenant, &resolution, action, options.dry_run, reporter)? {
        ControlFlow::Continue(outcome) => outcome,
        ControlFlow::Break(outcome) => return Ok(outcome),
    };
    let actions = resolution
        .steps
        .iter()
        .map(|step| match archives.get(step.module.name().as_str()) {
            Some((archive, flags)) => Action {
                module: step.module.clone(),
                kind: JobKind::Install,
                from: None,
                work: Work::Restore { archive: archive.clone() },
                effect: Effect::Install {
                    version: step.module.version().to_string(),
                    flags: flags.clone(),
                    restored_from: Some(archive.display().to_string()),
                },
                flags: flags.clone(),
            },
            None => install_action(step),
        })
        .collect();
    let run = execute(ctx, tenant.as_str(), batch, actions, reporter);
    outcome.jobs = run.jobs;
    outcome.error = run.error;
    Ok(outcome)
}

/// The catalog for planning one tenant: the loaded one, plus the landlord's copies of
/// `versions` (what the tenant has, what it restores) that the disk no longer has.
pub(crate) fn planning_catalog<'a>(
    ctx: &Context,
    loaded: &'a LoadedCatalog,
    versions: &[(&ModuleName, &Version)],
) -> Result<std::borrow::Cow<'a, crate::domain::catalog::Catalog>> {
    let missing: Vec<&(&ModuleName, &Version)> = versions.iter().filter(|(n, v)| loaded.catalog.get(*n, v).is_none()).collect();
    if missing.is_empty() {
        return Ok(std::borrow::Cow::Borrowed(&loaded.catalog));
    }
    let mut catalog = loaded.catalog.clone();
    for (name, version) in missing {
        if let Some(copy) = crate::ops::stored_module(ctx.landlord.as_ref(), name.as_str(), &version.to_string())? {
            let _ = catalog.insert(Arc::new(copy));
        }
    }
    Ok(std::borrow::Cow::Owned(catalog))
}

fn latest_archive(ctx: &Context, tenant: &TenantName, module: &str) -> Result<(PathBuf, crate::store::ArchiveSummary)> {
    for record in ctx.landlord.archives(tenant.as_str(), Some(module), Some(FileKind::Uninstall))? {
        let path = PathBuf::from(&record.path);
        if path.is_file() {
            let summary = ctx.tenants.read_archive(&path)?;
            return Ok((path, summary));
        }
    }
    Err(Error::not_found(format!("there is no archive of `{module}` for tenant `{tenant}`"))
        .with_hint("archives are written by `modreg uninstall` without `--purge`"))
}

pub(crate) fn install_action(step: &PlanStep) -> Action {
    let flags: BTreeMap<String, bool> = step.module.manifest.features.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    Action {
        module: step.module.clone(),
        kind: JobKind::Install,
        from: None,
        work: Work::Install { seeds: true },
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
            deprecated: s.module.manifest.deprecation.as_ref().map(deprecation_note),
        })
        .collect()
}

pub(crate) fn deprecation_note(d: &crate::domain::manifest::Deprecation) -> String {
    let mut parts = Vec::new();
    if let Some(m) = &d.message {
        parts.push(m.clone());
    }
    if let Some(r) = &d.replacement {
        parts.push(format!("replacement: {r}"));
    }
    if let Some(s) = d.sunset {
        parts.push(format!("sunset {s}"));
    }
    if parts.is_empty() { "deprecated".into() } else { parts.join("; ") }
}

fn warn_deprecated(reporter: &dyn Reporter, steps: &[PlanStep]) {
    for step in steps {
        if let Some(d) = &step.module.manifest.deprecation {
            reporter.warning(&format!("`{}` is deprecated: {}", step.module.label(), deprecation_note(d)));
        }
    }
}
