//! Running one tenant-level operation across many tenants: in parallel (`--jobs`), each
//! tenant its own atomic unit, going on past failures unless told to stop, with progress
//! reported per tenant and one summary at the end. An interruption (SIGINT, SIGTERM)
//! starts no new tenant: those in flight roll back, those not reached are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::domain::job::{Job, JobStatus};
use crate::domain::name::{ModuleName, TenantName};
use crate::domain::resolver::Installed;
use crate::domain::{Error, ErrorKind, Interruption, Result};
use crate::ops::{Context, OperationReport, PlanRow, Reporter, Summary, TenantResult, recover};
use crate::store::TenantLock;

/// Up to how many tenants [`FleetState::load`] reads tenant by tenant.
const FEW_TENANTS: usize = 16;

/// What the landlord says about every tenant, read once per command, so that tenants
/// already where they should be are left alone without opening their files.
pub(crate) struct FleetState {
    installed: BTreeMap<String, Installed>,
    unfinished: BTreeSet<String>,
}

impl FleetState {
    /// What the landlord has of `tenants`: of a few, their own rows alone; of more, the
    /// whole fleet's in two queries.
    pub fn load(ctx: &Context, tenants: &[TenantName]) -> Result<FleetState> {
        let few = tenants.len() <= FEW_TENANTS;
        let rows = match few {
            true => tenants.iter().map(|t| ctx.landlord.installed(t.as_str())).collect::<Result<Vec<_>>>()?.into_iter().flatten().collect(),
            false => ctx.landlord.installed_everywhere()?,
        };
        let mut installed: BTreeMap<String, Installed> = BTreeMap::new();
        for m in rows {
            let (Ok(name), Ok(version)) = (ModuleName::parse(&m.module), semver::Version::parse(&m.version)) else { continue };
            installed.entry(m.tenant).or_default().insert(name, version);
        }
        let unfinished = match few {
            true => {
                let mut unfinished = BTreeSet::new();
                for tenant in tenants {
                    if !ctx.landlord.unfinished_jobs(tenant.as_str())?.is_empty() {
                        unfinished.insert(tenant.to_string());
                    }
                }
                unfinished
            }
            false => ctx.landlord.tenants_with_unfinished_jobs()?.into_iter().collect(),
        };
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

/// Takes the tenant's lock (a dry run takes none), unless the caller holds it already
/// (`held`), and finishes what a killed process left on it, before anything is planned.
pub(crate) fn prepare_tenant(
    ctx: &Context,
    tenant: &TenantName,
    dry_run: bool,
    held: Option<TenantLock>,
    reporter: &dyn Reporter,
) -> Result<Option<TenantLock>> {
    if dry_run {
        return Ok(None);
    }
    let lock = match held {
        Some(lock) => lock,
        None => ctx.lock_tenant(tenant.as_str(), reporter)?,
    };
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
    /// Not run: an earlier tenant failed under `--fail-fast`, or the command was
    /// interrupted before the tenant's work started (then `error` says so).
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

/// Runs `work` for every tenant, `--jobs` at a time, until an interruption.
pub(crate) fn run_tenants<F>(ctx: &Context, tenants: &[TenantName], fail_fast: bool, reporter: &dyn Reporter, work: F) -> Vec<TenantOutcome>
where
    F: Fn(&TenantName) -> TenantOutcome + Sync,
{
    let interrupted = || ctx.interrupted().is_some();
    let work = |tenant: &TenantName| {
        let mut outcome = work(tenant);
        // Interrupted before its work started: nothing of this command touched it.
        outcome.skipped |= outcome.jobs.is_empty() && outcome.error.as_ref().is_some_and(|e| e.kind == ErrorKind::Interrupted);
        outcome
    };
    let results = each_tenant(tenants, ctx.settings.jobs, reporter, work, |outcome| (outcome.error.is_none(), fail_fast), interrupted);
    let interruption = ctx.interrupted();
    results
        .into_iter()
        .zip(tenants)
        .map(|(outcome, tenant)| {
            outcome.unwrap_or_else(|| TenantOutcome {
                skipped: true,
                error: interruption.map(|i| Error::interrupted(i, "not started")),
                ..TenantOutcome::new(tenant)
            })
        })
        .collect()
}

/// Runs `work` for every tenant on `jobs` threads, with progress when there are several
/// tenants: `judge` says whether a tenant's result is a success, and whether a failure
/// stops the tenants not yet started; once `halted` says so, no tenant starts. Results
/// in the tenants' order; none for those that did not run.
pub(crate) fn each_tenant<T, F, J, H>(
    tenants: &[TenantName],
    jobs: usize,
    reporter: &dyn Reporter,
    work: F,
    judge: J,
    halted: H,
) -> Vec<Option<T>>
where
    T: Send,
    F: Fn(&TenantName) -> T + Sync,
    J: Fn(&T) -> (bool, bool) + Sync,
    H: Fn() -> bool + Sync,
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
                    if stop.load(Ordering::Relaxed) || halted() {
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
/// the summary and the caller exits 1, or, when the fleet was interrupted, ends with
/// the report's `interrupted` error.
pub(crate) fn into_report(ctx: &Context, outcomes: Vec<TenantOutcome>, single: bool, dry_run: bool) -> Result<OperationReport> {
    let mut report = OperationReport { dry_run, ..OperationReport::default() };
    let mut summary = Summary::default();
    for outcome in outcomes.iter().filter(|o| !o.skipped) {
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
    report.interrupted = ctx.interrupted().and_then(|i| interruption_of(i, &outcomes));
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

/// The error of a fleet that an interruption stopped (SIGINT, SIGTERM): how many
/// tenants it rolled back and how many it never started; none when it came too late to
/// change anything.
fn interruption_of(interruption: Interruption, outcomes: &[TenantOutcome]) -> Option<Error> {
    let interrupted = |o: &&TenantOutcome| o.error.as_ref().is_some_and(|e| e.kind == ErrorKind::Interrupted);
    let (skipped, rolled_back): (Vec<&TenantOutcome>, Vec<&TenantOutcome>) = outcomes.iter().filter(interrupted).partition(|o| o.skipped);
    if skipped.is_empty() && rolled_back.is_empty() {
        return None;
    }
    let completed = outcomes.iter().filter(|o| !o.skipped && o.error.is_none() && !o.jobs.is_empty()).count();
    let what =
        format!("the work in flight on {} tenant(s) was rolled back, {} tenant(s) were not started", rolled_back.len(), skipped.len());
    Some(
        Error::interrupted(interruption, what)
            .with_hint(format!("{completed} tenant(s) completed and keep their changes; run the same command again to do what is left")),
    )
}

/// True when a fleet run had a tenant fail.
pub fn any_failed(report: &OperationReport) -> bool {
    report.tenants.iter().any(|t| t.outcome == "failed")
}
