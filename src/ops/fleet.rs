//! Running one tenant-level operation across many tenants: in parallel (`--jobs`), each
//! tenant its own atomic unit, going on past failures unless told to stop, with progress
//! reported per tenant and one summary at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::domain::job::{Job, JobStatus};
use crate::domain::name::{ModuleName, TenantName};
use crate::domain::resolver::Installed;
use crate::domain::{Error, Result};
use crate::ops::{Context, OperationReport, PlanRow, Reporter, Summary, TenantResult, recover};
use crate::store::TenantLock;

/// What the landlord says about every tenant, read once per command, so that tenants
/// already where they should be are left alone without opening their files.
pub(crate) struct FleetState {
    installed: BTreeMap<String, Installed>,
    unfinished: BTreeSet<String>,
}

impl FleetState {
    pub fn load(ctx: &Context) -> Result<FleetState> {
        let mut installed: BTreeMap<String, Installed> = BTreeMap::new();
        for m in ctx.landlord.installed_everywhere()? {
            let (Ok(name), Ok(version)) = (ModuleName::parse(&m.module), semver::Version::parse(&m.version)) else { continue };
            installed.entry(m.tenant).or_default().insert(name, version);
        }
        let unfinished = ctx.landlord.tenants_with_unfinished_jobs()?.into_iter().collect();
        Ok(FleetState { installed, unfinished })
    }

    pub fn installed(&self, tenant: &TenantName) -> Option<&Installed> {
        self.installed.get(tenant.as_str())
    }

    /// True when no interrupted work waits on the tenant and `done` holds for what it has.
    pub fn settled(&self, tenant: &TenantName, done: impl FnOnce(Option<&Installed>) -> bool) -> bool {
        !self.unfinished.contains(tenant.as_str()) && done(self.installed(tenant))
    }
}

/// Takes the tenant's lock (a dry run takes none) and finishes what a killed process
/// left on it, before anything is planned.
pub(crate) fn prepare_tenant(ctx: &Context, tenant: &TenantName, dry_run: bool, reporter: &dyn Reporter) -> Result<Option<TenantLock>> {
    if dry_run {
        return Ok(None);
    }
    let lock = ctx.lock_tenant(tenant.as_str(), reporter)?;
    recover::recover_tenant(ctx, tenant.as_str(), reporter)?;
    Ok(Some(lock))
}

/// How one tenant's part of a command ended.
#[derive(Debug, Default)]
pub(crate) struct TenantOutcome {
    pub tenant: String,
    pub plan: Vec<PlanRow>,
    pub jobs: Vec<Job>,
    /// Requested changes that were already in place.
    pub unchanged: usize,
    pub error: Option<Error>,
    /// Not run: an earlier tenant failed under `--fail-fast`.
    pub skipped: bool,
}

impl TenantOutcome {
    pub fn new(tenant: &TenantName) -> Self {
        TenantOutcome { tenant: tenant.to_string(), ..TenantOutcome::default() }
    }

    pub fn failed(tenant: &TenantName, error: Error) -> Self {
        TenantOutcome { error: Some(error), ..TenantOutcome::new(tenant) }
    }
}

/// Runs `work` for every tenant, `jobs` at a time.
pub(crate) fn run_tenants<F>(tenants: &[TenantName], jobs: usize, fail_fast: bool, reporter: &dyn Reporter, work: F) -> Vec<TenantOutcome>
where
    F: Fn(&TenantName) -> TenantOutcome + Sync,
{
    let results = each_tenant(tenants, jobs, reporter, work, |outcome| (outcome.error.is_none(), fail_fast));
    results
        .into_iter()
        .zip(tenants)
        .map(|(outcome, tenant)| outcome.unwrap_or_else(|| TenantOutcome { skipped: true, ..TenantOutcome::new(tenant) }))
        .collect()
}

/// Runs `work` for every tenant on `jobs` threads, with progress when there are several
/// tenants: `judge` says whether a tenant's result is a success, and whether a failure
/// stops the tenants not yet started. Results in the tenants' order; none for those
/// that did not run.
pub(crate) fn each_tenant<T, F, J>(tenants: &[TenantName], jobs: usize, reporter: &dyn Reporter, work: F, judge: J) -> Vec<Option<T>>
where
    T: Send,
    F: Fn(&TenantName) -> T + Sync,
    J: Fn(&T) -> (bool, bool) + Sync,
{
    let fleet = tenants.len() > 1;
    if fleet {
        reporter.progress_start(tenants.len());
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..tenants.len()).map(|_| None).collect());
    let workers = jobs.clamp(1, tenants.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(tenant) = tenants.get(i) else { break };
                    let result = work(tenant);
                    let (ok, stops) = judge(&result);
                    if !ok && stops {
                        stop.store(true, Ordering::Relaxed);
                    }
                    if fleet {
                        reporter.progress_tenant_done(tenant.as_str(), ok);
                    }
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(result);
                }
            });
        }
    });
    if fleet {
        reporter.progress_finish();
    }
    results.into_inner().unwrap_or_else(|p| p.into_inner())
}

/// Folds the tenants' outcomes into the command's report. With one named tenant, its
/// error is the command's error (keeping its exit code); with a fleet, failures are in
/// the summary and the caller exits 1.
pub(crate) fn into_report(outcomes: Vec<TenantOutcome>, single: bool, dry_run: bool) -> Result<OperationReport> {
    let mut report = OperationReport { dry_run, ..OperationReport::default() };
    let mut summary = Summary::default();
    for outcome in &outcomes {
        summary.completed += outcome.jobs.iter().filter(|j| j.status == JobStatus::Completed).count();
        let failed_jobs = outcome.jobs.iter().filter(|j| j.status != JobStatus::Completed).count();
        summary.failed += if outcome.error.is_some() { failed_jobs.max(1) } else { failed_jobs };
        summary.unchanged += outcome.unchanged;
    }
    if single
        && let Some(outcome) = outcomes.first()
        && let Some(error) = &outcome.error
    {
        let details = serde_json::json!({ "plan": outcome.plan, "jobs": outcome.jobs, "summary": summary });
        return Err(error.clone().with_details(details));
    }
    for outcome in outcomes {
        let state = match (&outcome.error, dry_run) {
            _ if outcome.skipped => "skipped",
            (Some(_), _) => "failed",
            (None, true) if !outcome.plan.is_empty() => "planned",
            (None, _) if outcome.jobs.is_empty() && outcome.plan.is_empty() => "unchanged",
            (None, _) => "completed",
        };
        report.tenants.push(TenantResult {
            tenant: outcome.tenant.clone(),
            outcome: state.to_string(),
            jobs: outcome.jobs.len(),
            error: outcome.error.as_ref().map(|e| e.message.clone()),
            error_kind: outcome.error.as_ref().map(|e| e.kind.as_str().to_string()),
        });
        report.plan.extend(outcome.plan);
        report.jobs.extend(outcome.jobs);
    }
    report.summary = summary;
    Ok(report)
}

/// True when a fleet run had a tenant fail.
pub fn any_failed(report: &OperationReport) -> bool {
    report.tenants.iter().any(|t| t.outcome == "failed")
}
