//! `modreg recover`, and the recovery every command runs on a tenant before it works on
//! it: jobs that a killed process left unfinished are completed when their tenant-side
//! work committed (its marker is in the tenant file) and rolled back otherwise (the
//! whole-file copy is put back when there is one). Locks need no release: they are the
//! operating system's and died with the process. A tenant file that an older modreg
//! wrote also gets, from the landlord, what it did not record (`tenant_records::fill`).

use std::time::Duration;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::domain::Result;
use crate::domain::catalog::Catalog;
use crate::domain::job::{Effect, Job, JobKind, JobStatus, Step, StepStatus};
use crate::domain::module::ModuleVersion;
use crate::domain::name::TenantName;
use crate::ops::catalog::module_version;
use crate::ops::execute::recover_rollback_hook;
use crate::ops::journal::{self, Ended};
use crate::ops::{Context, Reporter, tenant_records};
use crate::store::{Checkpoint, Kept, TenantRecord};

/// What recovery did for one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TenantRecovery {
    pub tenant: String,
    /// Jobs whose work had committed, now completed.
    pub completed: Vec<i64>,
    /// Jobs undone.
    pub rolled_back: Vec<i64>,
    /// Whether the whole-file rollback copy was put back.
    pub restored_copy: bool,
    /// Leftover rollback copies removed.
    pub discarded_copies: usize,
    /// Archives and pre-upgrade copies that jobs rolled back here had written, removed.
    pub discarded_files: Vec<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RecoverReport {
    pub tenants: Vec<TenantRecovery>,
    /// Jobs of tenants that live on other hosts whose leases ran out, marked failed:
    /// their home host finishes them from the tenant file.
    pub abandoned: Vec<i64>,
    /// Tenants whose files an older modreg wrote, which now record from the landlord
    /// when the tenant was added and their modules' enabled state and flags.
    pub recorded: Vec<String>,
}

pub const INTERRUPTED: &str = "interrupted: the process running this job stopped before it finished; rolled back by recovery";

/// Recovers every tenant of this host that needs it, and gives up on the jobs of other
/// hosts whose leases ran out. A live job of another host is never touched.
pub fn recover(ctx: &Context, reporter: &dyn Reporter) -> Result<RecoverReport> {
    let tenants: BTreeMap<String, TenantRecord> = ctx.landlord.tenants()?.into_iter().map(|t| (t.name.clone(), t)).collect();
    let at_home = |name: &str| tenants.get(name).is_none_or(|t| ctx.require_home(t).is_ok());
    let mut names: Vec<String> = ctx.landlord.tenants_with_unfinished_jobs()?.into_iter().filter(|n| at_home(n)).collect();
    for tenant in tenants.values().filter(|t| at_home(&t.name)) {
        if ctx.tenants.checkpoint(&tenant.name) != Checkpoint::None && !names.contains(&tenant.name) {
            names.push(tenant.name.clone());
        }
    }
    let mut report = RecoverReport::default();
    for name in &names {
        let tenant = TenantName::parse(name)?;
        let _lock = ctx.lock_tenant(tenant.as_str(), reporter)?;
        let (done, recorded) = recover_jobs_and_fill(ctx, tenant.as_str(), reporter)?;
        report.tenants.extend(done);
        if recorded {
            report.recorded.push(name.clone());
        }
    }
    // The others only if no process works on them: one that does fills them itself.
    for tenant in tenants.values().filter(|t| at_home(&t.name) && !names.contains(&t.name)) {
        let Ok(_lock) = ctx.tenants.lock(&tenant.name, Duration::ZERO) else { continue };
        // A file that cannot be read is `doctor`'s to report; recovery goes on.
        if tenant_records::fill(ctx, &tenant.name).unwrap_or(false) {
            report.recorded.push(tenant.name.clone());
        }
    }
    if !report.recorded.is_empty() {
        reporter.status(
            "Recorded",
            &format!("enabled state and flags from the landlord in {} tenant file(s) an older modreg wrote", report.recorded.len()),
        );
    }
    let mut abandoned = Vec::new();
    for job in ctx.landlord.expired_jobs()?.into_iter().filter(|job| !at_home(&job.tenant)) {
        let host = job.host.clone().unwrap_or_else(|| "unknown".into());
        let home = tenants.get(&job.tenant).and_then(|t| t.host.clone()).unwrap_or_else(|| host.clone());
        let error = format!(
            "host `{host}` stopped renewing this job's lease (its process died or lost the landlord); marked failed by host `{}`. \
             Host `{home}`, which holds the tenant's file, completes or rolls it back when it next works on the tenant (`modreg recover` there)",
            ctx.settings.host
        );
        let steps = ctx.landlord.job(job.id)?.map(|(_, steps, _)| steps).unwrap_or_default();
        abandoned.push((job, steps, error));
    }
    if !abandoned.is_empty() {
        report.abandoned = abandoned.iter().map(|(job, _, _)| job.id).collect();
        reporter.status("Abandoned", &format!("{} job(s) of other hosts whose leases ran out, marked failed", abandoned.len()));
        journal::abandon_jobs(ctx, abandoned)?;
    }
    Ok(report)
}

/// Recovers one tenant; the caller holds its lock, so no other process of this host is
/// working on it, and every unfinished job of it that this host ran belongs to a
/// process that is gone. So does one of another host whose lease ran out, or that
/// another host marked failed; a running job of another host with a live lease is left
/// alone. Then fills in what the tenant's file lacks if an older modreg wrote it.
pub(crate) fn recover_tenant(ctx: &Context, tenant: &str, reporter: &dyn Reporter) -> Result<Option<TenantRecovery>> {
    Ok(recover_jobs_and_fill(ctx, tenant, reporter)?.0)
}

/// [`recover_tenant`], also saying whether the file got what it lacked.
fn recover_jobs_and_fill(ctx: &Context, tenant: &str, reporter: &dyn Reporter) -> Result<(Option<TenantRecovery>, bool)> {
    let done = recover_jobs(ctx, tenant, reporter)?;
    // A file that cannot be opened or written fails the command's own work on it, which
    // says why (and records its job as rolled back): no reason to fail before that.
    Ok((done, tenant_records::fill(ctx, tenant).unwrap_or(false)))
}

fn recover_jobs(ctx: &Context, tenant: &str, reporter: &dyn Reporter) -> Result<Option<TenantRecovery>> {
    let copy = ctx.tenants.checkpoint(tenant);
    let this_host = Some(ctx.settings.host.as_str());
    let jobs: Vec<Job> = ctx
        .landlord
        .unfinished_jobs(tenant)?
        .into_iter()
        .filter(|j| j.host.is_none() || j.host.as_deref() == this_host || j.lease_expired || j.status == JobStatus::Failed)
        .collect();
    if jobs.is_empty() && copy == Checkpoint::None {
        return Ok(None);
    }
    let mut done = TenantRecovery { tenant: tenant.to_string(), ..TenantRecovery::default() };
    if copy == Checkpoint::Partial {
        // The copy is written before the tenant file is touched: nothing to undo.
        ctx.tenants.discard_partial_checkpoint(tenant)?;
        done.discarded_copies += 1;
    }
    if !ctx.tenants.exists(tenant) {
        done.rolled_back = jobs.iter().map(|j| j.id).collect();
        let mut ended = Vec::with_capacity(jobs.len());
        for job in jobs {
            let steps = match ctx.landlord.job(job.id)? {
                Some((_, steps, effect)) => {
                    discard_kept_file(ctx, &effect, &mut done)?;
                    steps
                }
                None => Vec::new(),
            };
            ended.push(Ended { job, status: JobStatus::RolledBack, error: format!("{INTERRUPTED} (the tenant file is gone)"), steps });
        }
        journal::end_jobs(ctx, ended)?;
        return Ok(Some(done));
    }
    let mut db = ctx.tenants.open(tenant)?;
    let mut batches: BTreeMap<&str, Vec<&Job>> = BTreeMap::new();
    for job in &jobs {
        batches.entry(job.batch.as_str()).or_default().push(job);
    }
    for (_, batch) in batches {
        let mut committed = false;
        for job in &batch {
            committed |= db.job_marked(job.id)?;
        }
        if committed {
            let mut stored = Vec::with_capacity(batch.len());
            for job in &batch {
                let Some((job, mut steps, effect)) = ctx.landlord.job(job.id)? else { continue };
                steps.push(Step {
                    name: "recover".into(),
                    status: StepStatus::Ok,
                    duration_ms: 0,
                    detail: Some("the tenant's work had committed; completed by recovery".into()),
                    output: None,
                });
                stored.push((job, steps, effect));
            }
            journal::complete_recovered_jobs(ctx, stored.iter_mut().map(|(job, steps, effect)| (&*job, &*effect, std::mem::take(steps))))?;
            done.completed.extend(batch.iter().map(|j| j.id));
            continue;
        }
        if ctx.tenants.checkpoint(tenant) == Checkpoint::Complete {
            done.restored_copy |= db.restore_checkpoint()?;
        }
        let mut failed = Vec::new();
        for job in batch.iter().rev() {
            let mut steps = match ctx.landlord.job(job.id)? {
                Some((_, steps, effect)) => {
                    discard_kept_file(ctx, &effect, &mut done)?;
                    steps
                }
                None => Vec::new(),
            };
            let ran_hook = steps.iter().any(|s| s.name.ends_with(" hook"));
            if ran_hook
                && let Some(module) = job_module(ctx, job)
                && let Some(step) = recover_rollback_hook(ctx, tenant, job, module)
            {
                steps.push(step);
            }
            steps.push(Step {
                name: "recover".into(),
                status: StepStatus::Ok,
                duration_ms: 0,
                detail: Some("rolled back by recovery".into()),
                output: None,
            });
            let error = match (&job.error, job.status) {
                (Some(e), JobStatus::Failed) => format!("{e}; {INTERRUPTED}"),
                _ => INTERRUPTED.to_string(),
            };
            failed.push(Ended { job: (*job).clone(), status: JobStatus::RolledBack, error, steps });
        }
        journal::end_jobs(ctx, failed)?;
        done.rolled_back.extend(batch.iter().map(|j| j.id));
    }
    if ctx.tenants.checkpoint(tenant) == Checkpoint::Complete {
        db.discard_checkpoint()?;
        done.discarded_copies += 1;
    }
    let summary = match (done.completed.len(), done.rolled_back.len()) {
        (0, 0) => "removed a leftover rollback copy".to_string(),
        (c, r) => format!("{c} interrupted job(s) completed, {r} rolled back"),
    };
    reporter.status("Recovered", &format!("tenant {tenant}: {summary}"));
    Ok(Some(done))
}

/// Removes the archive or pre-upgrade copy that a job being rolled back (of `effect`)
/// wrote, or half wrote, before its process died: no record will ever refer to it.
fn discard_kept_file(ctx: &Context, effect: &Effect, done: &mut TenantRecovery) -> Result<()> {
    if let Some(file) = effect.kept_file()
        && ctx.tenants.discard_kept(&Kept::new(file))?
    {
        done.discarded_files.push(file.to_string());
    }
    Ok(())
}

/// The module version a job worked on, from disk or the landlord's copy.
fn job_module(ctx: &Context, job: &Job) -> Option<Arc<ModuleVersion>> {
    let version = match job.kind {
        JobKind::Uninstall => job.from_version.as_deref(),
        _ => job.to_version.as_deref(),
    }?;
    let catalog = Catalog::new(ctx.modules.discover().versions).0;
    module_version(ctx, &catalog, &job.module, version).ok().flatten()
}
