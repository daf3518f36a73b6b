//! What `install`, `upgrade`, `uninstall`, `enable`, `disable` and `revert` print when
//! they finish, and their exit code: 1 when a fleet had a tenant fail.
//!
//! One tenant's plan was printed before it ran. A fleet's output stays a few lines
//! whatever its size: the plan with a row per distinct change and its tenant count, then
//! only the tenants that failed or were skipped, with why; the status line counts the
//! rest. `-v` prints every row instead (every tenant's plan and outcome), as `--json` has.
//! An interrupted fleet prints the same, then ends with its `interrupted` error, which
//! carries the report with `--json`.

use crate::cli::render;
use crate::cli::{Done, Env};
use crate::domain::{Error, Result};
use crate::ops::OperationReport;

pub fn finish(env: &Env, report: &OperationReport, what: &str) -> Result<Done> {
    let fleet = report.tenants.len() > 1;
    let human = || {
        if !fleet {
            String::new()
        } else if env.output.verbose > 0 {
            render::plan(&report.plan) + &render::fleet_tenants(&report.tenants)
        } else {
            render::plan_by_change(&report.plan) + &render::fleet_problems(&report.tenants)
        }
    };
    match &report.interrupted {
        // The JSON document is the error's, with the report in it.
        Some(_) if env.output.json => {}
        _ => env.output.data(report, human),
    }
    let s = &report.summary;
    let tenants = |outcome: &str| report.tenants.iter().filter(|t| t.outcome == outcome).count();
    if report.dry_run {
        let on = match (fleet, tenants("planned"), tenants("failed")) {
            (false, ..) | (true, 0, 0) => String::new(),
            (true, planned, 0) => format!(" for {planned} tenant(s)"),
            (true, planned, failed) => format!(" for {planned} tenant(s), {failed} failed"),
        };
        env.output.status("Planned", &format!("{} change(s){on}; nothing was done (--dry-run)", report.plan.len()));
    } else if s.completed == 0 && s.failed == 0 {
        env.output.status("Unchanged", &format!("nothing to {what}: everything asked for is already in place"));
    } else if fleet {
        env.output.status(
            if report.interrupted.is_some() {
                "Interrupted"
            } else if s.failed > 0 {
                "Failed"
            } else {
                "Finished"
            },
            &format!(
                "{what}: {} job(s) completed, {} failed; tenants: {} completed, {} failed, {} unchanged, {} skipped",
                s.completed,
                s.failed,
                tenants("completed"),
                tenants("failed"),
                tenants("unchanged"),
                tenants("skipped")
            ),
        );
    } else {
        let batch = report.jobs.first().map(|j| j.batch.as_str()).unwrap_or("-");
        env.output.status("Finished", &format!("{what}: {} job(s) completed (batch {batch})", s.completed));
    }
    let unrecorded = report.jobs.iter().filter(|j| !j.status.is_finished()).count();
    if unrecorded > 0 && !report.dry_run {
        env.output.warning(&format!("the landlord could not record how the run ended: {}", crate::ops::waiting_for_recover(unrecorded)));
    }
    if let Some(interrupted) = &report.interrupted {
        let details = serde_json::to_value(report).map_err(|e| Error::internal(format!("cannot encode the report: {e}")))?;
        return Err(interrupted.clone().with_details(details));
    }
    Ok(if crate::ops::fleet_failed(report) { Done::Exit(1) } else { Done::Success })
}
