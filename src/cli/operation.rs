//! What `install`, `upgrade`, `uninstall`, `enable`, `disable` and `revert` print when
//! they finish, and their exit code: 1 when a fleet had a tenant fail.

use crate::cli::render::{self, cut, table};
use crate::cli::{Done, Env};
use crate::ops::OperationReport;

pub fn finish(env: &Env, report: &OperationReport, what: &str) -> Done {
    let fleet = report.tenants.len() > 1;
    env.output.data(report, || {
        let mut text = String::new();
        if report.dry_run && fleet {
            text.push_str(&render::plan(&report.plan));
        }
        if fleet {
            let shown: Vec<_> = report.tenants.iter().filter(|t| t.outcome != "unchanged").collect();
            if !shown.is_empty() {
                let mut t = table(["tenant", "outcome", "jobs", "error"]);
                for row in shown {
                    t.add_row([
                        row.tenant.clone(),
                        row.outcome.clone(),
                        row.jobs.to_string(),
                        cut(row.error.as_deref().unwrap_or(""), 100),
                    ]);
                }
                text.push_str(&render::text(t));
            }
        }
        text
    });
    let s = &report.summary;
    let tenants = |outcome: &str| report.tenants.iter().filter(|t| t.outcome == outcome).count();
    if report.dry_run {
        env.output.status("Planned", &format!("{} change(s); nothing was done (--dry-run)", report.plan.len()));
    } else if s.completed == 0 && s.failed == 0 {
        env.output.status("Unchanged", &format!("nothing to {what}: everything asked for is already in place"));
    } else if fleet {
        env.output.status(
            if s.failed > 0 { "Failed" } else { "Finished" },
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
    if crate::ops::fleet_failed(report) { Done::Exit(1) } else { Done::Success }
}
