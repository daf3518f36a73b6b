//! `modreg recover`, and the recovery every command runs on a tenant before it works on
//! it: jobs that a killed process left unfinished are completed when their tenant-side
//! work committed (its marker is in the tenant file) and rolled back otherwise (the
//! whole-file copy is put back when there is one). Locks need no release: they are the
//! operating system's and died with the process.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::domain::Result;
use crate::domain::catalog::Catalog;
use crate::domain::job::{Job, JobKind, JobStatus, Step, StepStatus};
use crate::domain::module::ModuleVersion;
use crate::domain::name::TenantName;
use crate::ops::catalog::module_version;
use crate::ops::execute::recover_rollback_hook;
use crate::ops::journal::{self, Ended};
use crate::ops::{Context, Reporter};
use crate::store::RollbackCopy;

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
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RecoverReport {
    pub tenants: Vec<TenantRecovery>,
}

pub const INTERRUPTED: &str = "interrupted: the process running this job stopped before it finished; rolled back by recovery";

/// Recovers every tenant that needs it.
pub fn recover(ctx: &Context, reporter: &dyn Reporter) -> Result<RecoverReport> {
    let mut names: Vec<String> = ctx.landlord.tenants_with_unfinished_jobs()?;
    for tenant in ctx.landlord.tenants()? {
        if ctx.tenants.rollback_copy(&tenant.name) != RollbackCopy::None && !names.contains(&tenant.name) {
            names.push(tenant.name);
        }
    }
    let mut report = RecoverReport::default();
    for name in names {
        let tenant = TenantName::parse(&name)?;
        let _lock = ctx.lock_tenant(tenant.as_str(), reporter)?;
        if let Some(done) = recover_tenant(ctx, tenant.as_str(), reporter)? {
            report.tenants.push(done);
        }
    }
    Ok(report)
}

/// Recovers one tenant; the caller holds its lock, so no other process is working on it
/// and every unfinished job of it belongs to a process that is gone.
pub(crate) fn recover_tenant(ctx: &Context, tenant: &str, reporter: &dyn Reporter) -> Result<Option<TenantRecovery>> {
    let copy = ctx.tenants.rollback_copy(tenant);
    let jobs = ctx.landlord.unfinished_jobs(tenant)?;
    if jobs.is_empty() && copy == RollbackCopy::None {
        return Ok(None);
    }
    let mut done = TenantRecovery { tenant: tenant.to_string(), ..TenantRecovery::default() };
    if copy == RollbackCopy::Partial {
        // The copy is written before the tenant file is touched: nothing to undo.
        ctx.tenants.discard_partial_copy(tenant)?;
        done.discarded_copies += 1;
    }
    if !ctx.tenants.exists(tenant) {
        done.rolled_back = jobs.iter().map(|j| j.id).collect();
        let ended = jobs
            .into_iter()
            .map(|job| Ended {
                job,
                status: JobStatus::RolledBack,
                error: format!("{INTERRUPTED} (the tenant file is gone)"),
                steps: Vec::new(),
            })
            .collect();
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
            journal::complete_jobs(ctx, stored.iter_mut().map(|(job, steps, effect)| (&*job, &*effect, std::mem::take(steps))))?;
            done.completed.extend(batch.iter().map(|j| j.id));
            continue;
        }
        if ctx.tenants.rollback_copy(tenant) == RollbackCopy::Complete {
            done.restored_copy |= db.restore_rollback_copy()?;
        }
        let mut failed = Vec::new();
        for job in batch.iter().rev() {
            let mut steps = ctx.landlord.job(job.id)?.map(|(_, steps, _)| steps).unwrap_or_default();
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
    if ctx.tenants.rollback_copy(tenant) == RollbackCopy::Complete {
        db.discard_rollback_copy()?;
        done.discarded_copies += 1;
    }
    let summary = match (done.completed.len(), done.rolled_back.len()) {
        (0, 0) => "removed a leftover rollback copy".to_string(),
        (c, r) => format!("{c} interrupted job(s) completed, {r} rolled back"),
    };
    reporter.status("Recovered", &format!("tenant {tenant}: {summary}"));
    Ok(Some(done))
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
