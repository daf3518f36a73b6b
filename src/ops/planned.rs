//! A tenant's work as a value (uv's `Plan`): planned with the tenant's lock held (after
//! recovery), shown, then run exactly as planned under that same lock. The CLI plans and
//! runs each tenant of a fleet in one go; the server plans its one tenant, answers the
//! plan, and runs that same value in the background, so that the plan a client was shown
//! is the plan that runs, and the tenant is locked once.

use crate::domain::name::TenantName;
use crate::domain::{Error, Result};
use crate::ops::execute::{Action, execute};
use crate::ops::fleet::{TenantOutcome, into_report, run_tenants};
use crate::ops::{Context, OperationReport, PlanRow, Reporter};
use crate::store::TenantLock;

/// One tenant's part of a command, planned: what the plan shows, and the actions that
/// carry out exactly that. Nothing to run when `actions` is empty (already in place, a
/// dry run, or planning failed: `outcome` says).
pub(crate) struct Planned {
    pub outcome: TenantOutcome,
    pub actions: Vec<Action>,
    /// Held from planning until the work is done.
    pub lock: Option<TenantLock>,
    /// Run once the work succeeded (an upgrade prunes its old copies).
    pub after: Option<AfterWork>,
}

/// What a plan does once its work succeeded.
pub(crate) type AfterWork = Box<dyn FnOnce(&Context, &dyn Reporter) + Send>;

impl Planned {
    /// Nothing to run: the outcome is all there is.
    pub fn done(outcome: TenantOutcome) -> Planned {
        Planned { outcome, actions: Vec::new(), lock: None, after: None }
    }

    /// A tenant whose planning failed.
    pub fn failed(tenant: &TenantName, error: Error) -> Planned {
        Planned::done(TenantOutcome::failed(tenant, error))
    }

    /// Runs the planned actions as one unit of the tenant, then lets go of its lock.
    pub fn run(self, ctx: &Context, batch: &str, reporter: &dyn Reporter) -> TenantOutcome {
        let Planned { mut outcome, actions, lock, after } = self;
        if actions.is_empty() {
            return outcome;
        }
        let run = execute(ctx, &outcome.tenant, batch, actions, reporter);
        if run.error.is_none()
            && let Some(after) = after
        {
            after(ctx, reporter);
        }
        drop(lock);
        outcome.jobs = run.jobs;
        outcome.error = run.error;
        outcome
    }
}

/// Plans and runs `plan`'s work for every tenant of a fleet, and folds the outcomes into
/// the command's report.
pub(crate) fn plan_and_run<F>(
    ctx: &Context,
    tenants: &[TenantName],
    batch: &str,
    how: Fleet,
    reporter: &dyn Reporter,
    plan: F,
) -> Result<OperationReport>
where
    F: Fn(&TenantName) -> Planned + Sync,
{
    let outcomes = run_tenants(ctx, tenants, how.fail_fast, reporter, |tenant| plan(tenant).run(ctx, batch, reporter));
    into_report(ctx, outcomes, how.single, how.dry_run)
}

/// How a command runs across its tenants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fleet {
    pub fail_fast: bool,
    /// One named tenant: its error is the command's.
    pub single: bool,
    pub dry_run: bool,
}

/// One tenant's install, upgrade or uninstall, planned and not yet run: for the server,
/// which answers the plan and runs it in the background.
pub struct TenantPlan {
    planned: Planned,
    batch: String,
    dry_run: bool,
}

impl TenantPlan {
    /// The one tenant of `tenants`, planned by `plan`; its planning error is this one's.
    pub(crate) fn single(
        tenants: &[TenantName],
        batch: &str,
        dry_run: bool,
        plan: impl FnOnce(&TenantName) -> Planned,
    ) -> Result<TenantPlan> {
        let [tenant] = tenants else {
            return Err(Error::internal(format!("one tenant's plan asked for {} tenants", tenants.len())));
        };
        let mut planned = plan(tenant);
        if let Some(error) = planned.outcome.error.take() {
            let details = serde_json::json!({ "plan": planned.outcome.plan, "jobs": planned.outcome.jobs });
            return Err(error.with_details(details));
        }
        Ok(TenantPlan { planned, batch: batch.to_string(), dry_run })
    }

    /// The batch its jobs will be part of.
    pub fn batch(&self) -> &str {
        &self.batch
    }

    pub fn rows(&self) -> &[PlanRow] {
        &self.planned.outcome.plan
    }

    /// Whether there is work to run (no dry run, something to do).
    pub fn has_work(&self) -> bool {
        !self.planned.actions.is_empty()
    }

    /// The plan as a report, with nothing run: what a dry run, or a request with nothing
    /// to do, answers.
    pub fn report(self, ctx: &Context) -> Result<OperationReport> {
        into_report(ctx, vec![self.planned.outcome], true, self.dry_run)
    }

    /// Runs the plan, as planned, under the lock it was planned with.
    pub fn run(self, ctx: &Context, reporter: &dyn Reporter) -> Result<OperationReport> {
        let outcome = self.planned.run(ctx, &self.batch, reporter);
        into_report(ctx, vec![outcome], true, false)
    }
}
