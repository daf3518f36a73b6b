//! `modreg revert JOB [--yes]`: undoes a completed upgrade from its kept pre-upgrade copy:
//! the module's tables and rows as they were before it, and its version and flags. Data
//! written since the upgrade is lost, which is why the CLI asks for `--yes`.

use std::sync::Arc;

use semver::Version;

use crate::domain::catalog::Catalog;
use crate::domain::change::FileKind;
use crate::domain::job::{Effect, JobKind, JobStatus};
use crate::domain::module::ModuleVersion;
use crate::domain::name::{ModuleName, TenantName};
use crate::domain::{Error, Result};
use crate::ops::catalog::module_version;
use crate::ops::execute::{Action, Work, execute};
use crate::ops::fleet::{TenantOutcome, into_report};
use crate::ops::jobs::unknown_job;
use crate::ops::{Context, OperationReport, PlanRow, Reporter, new_batch_id, recover};
use crate::store::Kept;

/// What reverting a job would do, checked without changing anything.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RevertPlan {
    pub job: i64,
    pub tenant: String,
    pub module: String,
    pub from_version: String,
    pub to_version: String,
    pub copy: String,
}

/// Checks that job `id` can be reverted and says what reverting it means.
pub fn plan(ctx: &Context, id: i64) -> Result<RevertPlan> {
    let Some((job, _, effect)) = ctx.landlord.job(id)? else {
        return Err(unknown_job(ctx, id, "run `modreg jobs list --status completed` to find it")?);
    };
    if job.kind != JobKind::Upgrade || job.status != JobStatus::Completed {
        return Err(Error::invalid(format!(
            "job {id} is a {} job that is {}; only completed upgrades can be reverted",
            job.kind, job.status
        )));
    }
    let (Effect::Upgrade { copy: Some(copy), .. }, Some(from), Some(to)) = (&effect, &job.from_version, &job.to_version) else {
        return Err(Error::not_found(format!("job {id} kept no pre-upgrade copy"))
            .with_hint("copies are kept when `MODREG_KEEP_UPGRADE_COPIES` is above 0"));
    };
    let kept = ctx.landlord.archives(&job.tenant, Some(&job.module), Some(FileKind::UpgradeCopy))?.iter().any(|a| &a.path == copy);
    if !kept || ctx.tenants.kept_size(&Kept::new(copy)).is_none() {
        return Err(Error::not_found(format!("the pre-upgrade copy of job {id} is no longer kept, so it cannot be reverted")).with_hint(
            format!(
                "modreg keeps the newest {} copies per tenant and module (`MODREG_KEEP_UPGRADE_COPIES`), \
                 and `modreg archives prune` deletes old ones",
                ctx.settings.keep_upgrade_copies
            ),
        ));
    }
    Ok(RevertPlan {
        job: id,
        tenant: job.tenant,
        module: job.module,
        from_version: to.clone(),
        to_version: from.clone(),
        copy: copy.clone(),
    })
}

pub fn revert(ctx: &Context, id: i64, reporter: &dyn Reporter) -> Result<OperationReport> {
    let planned = plan(ctx, id)?;
    let tenant = TenantName::parse(&planned.tenant)?;
    let module_name = ModuleName::parse(&planned.module)?;
    let _lock = ctx.lock_tenant(tenant.as_str(), reporter)?;
    recover::recover_tenant(ctx, tenant.as_str(), reporter)?;
    let installed = ctx.installed(tenant.as_str())?;
    let current = installed.get(&module_name).map(Version::to_string);
    if current.as_deref() != Some(planned.from_version.as_str()) {
        return Err(Error::invalid(format!(
            "`{}` of `{tenant}` is at {} now, not {}: a later job changed it",
            planned.module,
            current.unwrap_or_else(|| "nothing (uninstalled)".into()),
            planned.from_version
        ))
        .with_hint("revert the later upgrade first"));
    }
    let catalog = Catalog::new(ctx.modules.discover().versions).0;
    let old = known_version(ctx, &catalog, &planned.module, &planned.to_version)?;
    let old_version = old.version().clone();
    // Everything installed must accept the old version, and it must accept them.
    for (name, version) in &installed {
        if name == &module_name {
            continue;
        }
        if let Some(other) = known_version(ctx, &catalog, name.as_str(), &version.to_string()).ok()
            && let Some((_, req, _)) = other.manifest.all_dependencies().find(|(d, _, _)| *d == &module_name)
            && !req.matches(&old_version)
        {
            return Err(Error::dependency(format!(
                "cannot revert `{module_name}` to {old_version}: `{name} {version}` requires `{module_name} {req}`"
            )));
        }
    }
    for (dep, req, optional) in old.manifest.all_dependencies() {
        match installed.get(dep) {
            Some(v) if !req.matches(v) => {
                return Err(Error::dependency(format!(
                    "cannot revert `{module_name}` to {old_version}: it requires `{dep} {req}`, and `{dep} {v}` is installed"
                )));
            }
            None if !optional => {
                return Err(Error::dependency(format!(
                    "cannot revert `{module_name}` to {old_version}: its dependency `{dep}` is not installed"
                )));
            }
            _ => {}
        }
    }
    let copy = Kept::new(&planned.copy);
    let flags = ctx.tenants.read_archive(&copy)?.flags;
    let row = PlanRow {
        tenant: tenant.to_string(),
        module: planned.module.clone(),
        action: "revert".into(),
        from_version: Some(planned.from_version.clone()),
        to_version: Some(planned.to_version.clone()),
        reason: format!("revert job {id}"),
        deprecated: None,
    };
    reporter.plan(std::slice::from_ref(&row));
    let action = Action {
        module: old,
        kind: JobKind::Revert,
        from: Version::parse(&planned.from_version).ok(),
        work: Work::Revert { copy: copy.clone() },
        effect: Effect::Revert { version: planned.to_version.clone(), flags: flags.clone() },
        flags,
    };
    let run = execute(ctx, tenant.as_str(), &new_batch_id(ctx), vec![action], reporter);
    let outcome = TenantOutcome { plan: vec![row], jobs: run.jobs, error: run.error, ..TenantOutcome::new(&tenant) };
    into_report(ctx, vec![outcome], true, false)
}

/// A version the tenant has or had, which the landlord always recorded.
fn known_version(ctx: &Context, catalog: &Catalog, module: &str, version: &str) -> Result<Arc<ModuleVersion>> {
    module_version(ctx, catalog, module, version)?
        .ok_or_else(|| Error::internal(format!("the landlord has no record of `{module} {version}`")))
}
