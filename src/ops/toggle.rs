//! What `enable` and `disable` share: a tenant's installed modules with their manifests
//! (from the landlord's copies: no modules folder needed), and their jobs, which write
//! the tenant file (the enabled state, for a rebuilt landlord) before the landlord.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::domain::Result;
use crate::domain::catalog::Catalog;
use crate::domain::change::{self, Change};
use crate::domain::job::{Effect, Job, JobKind, JobStatus, Step, StepStatus};
use crate::domain::module::ModuleVersion;
use crate::domain::name::{ModuleName, TenantName};
use crate::domain::resolver::dependency_order;
use crate::ops::catalog::module_version;
use crate::ops::journal::{self, Ended};
use crate::ops::{Context, OperationReport, PlanRow, Reporter, Summary, TenantResult, fault, new_batch_id, not_installed, tenant_records};
use crate::store::{InstalledModule, NewJob};

pub(crate) struct TenantModules {
    pub records: BTreeMap<String, InstalledModule>,
    pub manifests: BTreeMap<String, Arc<ModuleVersion>>,
}

impl TenantModules {
    pub fn load(ctx: &Context, tenant: &TenantName) -> Result<TenantModules> {
        let mut records = BTreeMap::new();
        let mut manifests = BTreeMap::new();
        for record in ctx.landlord.installed(tenant.as_str())? {
            if let Some(module) = module_version(ctx, &Catalog::default(), &record.module, &record.version)? {
                manifests.insert(record.module.clone(), module);
            }
            records.insert(record.module.clone(), record);
        }
        Ok(TenantModules { records, manifests })
    }

    pub fn require(&self, tenant: &TenantName, module: &ModuleName) -> Result<&InstalledModule> {
        self.records.get(module.as_str()).ok_or_else(|| not_installed(tenant, module, self.records.keys().map(String::as_str)))
    }

    /// Installed modules that depend (required) on `module` and are enabled.
    pub fn enabled_dependents(&self, module: &str) -> Vec<String> {
        self.manifests
            .iter()
            .filter(|(name, m)| {
                self.records.get(*name).is_some_and(|r| r.enabled) && m.manifest.dependencies.keys().any(|d| d.as_str() == module)
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Orders module names dependencies first.
    pub fn in_dependency_order(&self, names: &[String]) -> Result<Vec<String>> {
        let modules: Vec<Arc<ModuleVersion>> = names.iter().filter_map(|n| self.manifests.get(n).cloned()).collect();
        Ok(dependency_order(&modules)?.iter().map(|m| m.name().to_string()).collect())
    }
}

/// Runs enable or disable jobs for `modules` (in that order) and reports them.
pub(crate) fn run(
    ctx: &Context,
    tenant: &TenantName,
    modules: &[String],
    enable: bool,
    state: &TenantModules,
    reporter: &dyn Reporter,
) -> Result<OperationReport> {
    let mut report = OperationReport::default();
    let kind = if enable { JobKind::Enable } else { JobKind::Disable };
    let batch = new_batch_id(ctx);
    let jobs: Vec<NewJob> = modules
        .iter()
        .map(|m| {
            let version = state.records.get(m).map(|r| r.version.clone());
            report.plan.push(PlanRow {
                tenant: tenant.to_string(),
                module: m.clone(),
                action: kind.to_string(),
                from_version: version.clone(),
                to_version: version.clone(),
                reason: "requested".into(),
                deprecated: None,
            });
            NewJob {
                batch: batch.clone(),
                tenant: tenant.to_string(),
                module: m.clone(),
                kind,
                from_version: version.clone(),
                to_version: version,
                actor: ctx.settings.actor.clone(),
                effect: Effect::SetEnabled { enabled: enable },
                host: ctx.settings.host.clone(),
                lease: ctx.settings.lease,
            }
        })
        .collect();
    let now = ctx.now();
    let ids = ctx.start_jobs(&jobs, &now)?;
    fault::point("jobs-started");
    let step = Step { name: format!("set enabled={enable}"), status: StepStatus::Ok, duration_ms: 0, detail: None, output: None };
    let started: Vec<Job> = ids.iter().zip(&jobs).map(|(&id, new)| new.started(id, &now)).collect();
    // The tenant file first, with the jobs' markers (as `execute` does): a crash before
    // the landlord completes them leaves jobs that `recover` finds done and completes.
    let kept: Vec<Change> = started.iter().zip(&jobs).flat_map(|(job, new)| change::tenant_file_part(job, &new.effect, &now)).collect();
    if let Err(error) = tenant_records::write(ctx, tenant.as_str(), &kept, &ids, &batch) {
        let ended = started
            .into_iter()
            .map(|job| Ended { job, status: JobStatus::RolledBack, error: error.message.clone(), steps: Vec::new() })
            .collect();
        if let Err(e) = journal::end_jobs(ctx, ended) {
            reporter.warning(&format!("could not record the rollback in the landlord: {}; `modreg recover` will", e.message));
        }
        return Err(error);
    }
    fault::point("tenant-committed");
    journal::complete_jobs(ctx, started.iter().zip(&jobs).map(|(job, new)| (job, &new.effect, vec![step.clone()]))).map_err(|e| {
        e.context(format!("tenant `{tenant}`'s file records it, but the landlord could not"))
            .with_hint("`modreg recover` completes the jobs")
    })?;
    let verb = if enable { "Enabled" } else { "Disabled" };
    for module in modules {
        reporter.status(verb, &format!("{module} for {tenant}"));
    }
    for id in ids {
        if let Some((job, _, _)) = ctx.landlord.job(id)? {
            report.jobs.push(job);
        }
    }
    report.summary = Summary { completed: report.jobs.len(), failed: 0, unchanged: 0 };
    report.tenants.push(TenantResult {
        tenant: tenant.to_string(),
        outcome: "completed".into(),
        jobs: report.jobs.len(),
        error: None,
        error_kind: None,
    });
    Ok(report)
}

/// A report for nothing to do.
pub(crate) fn unchanged(tenant: &TenantName) -> OperationReport {
    OperationReport {
        summary: Summary { completed: 0, failed: 0, unchanged: 1 },
        tenants: vec![TenantResult { tenant: tenant.to_string(), outcome: "unchanged".into(), jobs: 0, error: None, error_kind: None }],
        ..OperationReport::default()
    }
}

/// Locks the tenant and recovers it; the guard is held while the caller works.
pub(crate) fn prepare(ctx: &Context, tenant: &TenantName, reporter: &dyn Reporter) -> Result<Option<crate::store::TenantLock>> {
    ctx.require_tenant(tenant)?;
    crate::ops::fleet::prepare_tenant(ctx, tenant, false, None, reporter)
}
