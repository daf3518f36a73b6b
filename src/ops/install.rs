//! `modreg install MODULE[@REQ]… --tenant T… [--dry-run] [--restore]` (SPEC §5.1):
//! resolve, check subscriptions, print the plan, then run it per tenant as one atomic
//! unit. Installing what is installed does nothing.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use semver::{Version, VersionReq};

use crate::domain::change::FileKind;
use crate::domain::job::{Effect, JobKind};
use crate::domain::name::{ModuleName, TenantName};
use crate::domain::resolver::{Goal, PlanStep, Request, resolve};
use crate::domain::{Error, Result};
use crate::ops::catalog::{LoadedCatalog, load_catalog};
use crate::ops::execute::{Action, Work};
use crate::ops::fleet::{FleetState, TenantOutcome, prepare_tenant};
use crate::ops::plan::{install_action, planning_catalog, present_plan, writable_dependencies};
use crate::ops::planned::{Fleet, Planned, TenantPlan, plan_and_run};
use crate::ops::{Context, OperationReport, Reporter, TenantSelection, new_batch_id};
use crate::store::{Kept, TenantLock};

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
    let prepared = Prepared::new(ctx, options, &tenants, reporter)?;
    let fleet = Fleet { fail_fast: options.fail_fast, single: options.tenants.is_single(), dry_run: options.dry_run };
    plan_and_run(ctx, &tenants, &prepared.batch, fleet, reporter, |tenant| prepared.plan(ctx, tenant, None, reporter))
}

/// Plans the install for its one tenant, under `held` (the tenant's lock, which the
/// caller took) or a lock of its own, to be run later as planned.
pub fn plan(ctx: &Context, options: &InstallOptions, held: Option<TenantLock>, reporter: &dyn Reporter) -> Result<TenantPlan> {
    let tenants = options.tenants.resolve(ctx)?;
    let prepared = Prepared::new(ctx, options, &tenants, reporter)?;
    TenantPlan::single(&tenants, &prepared.batch, options.dry_run, |tenant| prepared.plan(ctx, tenant, held, reporter))
}

/// What every tenant's plan of one install command shares.
struct Prepared<'a> {
    options: &'a InstallOptions,
    loaded: LoadedCatalog,
    batch: String,
    state: FleetState,
}

impl<'a> Prepared<'a> {
    fn new(ctx: &Context, options: &'a InstallOptions, tenants: &[TenantName], reporter: &dyn Reporter) -> Result<Prepared<'a>> {
        let loaded = load_catalog(ctx, reporter)?;
        if !options.restore {
            for request in &options.requests {
                loaded.require(&request.name)?;
            }
        }
        Ok(Prepared { options, loaded, batch: new_batch_id(ctx), state: FleetState::load(ctx, tenants)? })
    }

    fn plan(&self, ctx: &Context, tenant: &TenantName, held: Option<TenantLock>, reporter: &dyn Reporter) -> Planned {
        let options = self.options;
        let done = !options.restore
            && self.state.settled(tenant, |have| {
                options.requests.iter().all(|r| have.and_then(|h| h.get(&r.name)).is_some_and(|v| r.req.matches(v)))
            });
        if done {
            return Planned::done(TenantOutcome { unchanged: options.requests.len(), ..TenantOutcome::new(tenant) });
        }
        self.plan_tenant(ctx, tenant, held, reporter).unwrap_or_else(|e| Planned::failed(tenant, e))
    }

    fn plan_tenant(&self, ctx: &Context, tenant: &TenantName, held: Option<TenantLock>, reporter: &dyn Reporter) -> Result<Planned> {
        let (options, loaded) = (self.options, &self.loaded);
        let lock = prepare_tenant(ctx, tenant, options.dry_run, held, reporter)?;
        let installed = ctx.installed(tenant.as_str())?;
        let mut requests = options.requests.clone();
        let mut archives: BTreeMap<String, (Kept, BTreeMap<String, bool>)> = BTreeMap::new();
        let mut restored: Vec<(ModuleName, Version)> = Vec::new();
        if options.restore {
            for request in &mut requests {
                if installed.contains_key(&request.name) {
                    continue;
                }
                let (path, summary) = latest_archive(ctx, tenant, request.name.as_str())?;
                let version = semver::Version::parse(&summary.version).map_err(|e| Error::internal(format!("archive `{path}`: {e}")))?;
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
        let outcome = match present_plan(ctx, loaded, tenant, &resolution, action, options.dry_run, reporter)? {
            ControlFlow::Continue(outcome) => outcome,
            ControlFlow::Break(outcome) => return Ok(Planned::done(outcome)),
        };
        let writable = writable_dependencies(&catalog, &installed, &resolution.steps);
        let actions = resolution
            .steps
            .iter()
            .zip(writable)
            .map(|(step, writable)| match archives.get(step.module.name().as_str()) {
                Some((archive, flags)) => Action {
                    module: step.module.clone(),
                    kind: JobKind::Install,
                    from: None,
                    work: Work::Restore { archive: archive.clone() },
                    effect: Effect::Install {
                        version: step.module.version().to_string(),
                        flags: flags.clone(),
                        restored_from: Some(archive.reference().to_string()),
                    },
                    flags: flags.clone(),
                },
                None => install_action(step, writable),
            })
            .collect();
        Ok(Planned { outcome, actions, lock, after: None })
    }
}

fn latest_archive(ctx: &Context, tenant: &TenantName, module: &str) -> Result<(Kept, crate::store::ArchiveSummary)> {
    for record in ctx.landlord.archives(tenant.as_str(), Some(module), Some(FileKind::Uninstall))? {
        let kept = Kept::new(&record.path);
        if ctx.tenants.kept_size(&kept).is_some() {
            let summary = ctx.tenants.read_archive(&kept)?;
            return Ok((kept, summary));
        }
    }
    Err(Error::not_found(format!("there is nothing to restore: no archive of `{module}` for tenant `{tenant}` is kept")).with_hint(
        format!(
            "archives are written by `modreg uninstall` without `--purge`, and deleted by `modreg archives prune`; \
         `modreg archives list --tenant {tenant}` shows what is kept"
        ),
    ))
}
