//! `modreg stats [--since DATE]`

use clap::Args;

use crate::cli::render::{table, text};
use crate::cli::{Done, Env};
use crate::domain::manifest::parse_date;
use crate::domain::{Error, Result};
use crate::ops::stats::stats;

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only jobs started on or after this day (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".into(), |r| format!("{:.1}%", r * 100.0))
}

pub fn run(args: StatsArgs, env: &Env) -> Result<Done> {
    let since = args
        .since
        .as_deref()
        .map(|d| parse_date(d).ok_or_else(|| Error::invalid(format!("`--since {d}` is not a date")).with_hint("write it as YYYY-MM-DD")))
        .transpose()?;
    let report = stats(&env.context()?, since)?;
    env.output.data(&report, || {
        let mut out = format!(
            "{} jobs; success rate {}; rollback rate {}\n",
            report.jobs,
            percent(report.success_rate),
            percent(report.rollback_rate)
        );
        let mut days = table(["day", "installs", "upgrades", "uninstalls", "other"]);
        for d in &report.per_day {
            days.add_row([d.day.clone(), d.installs.to_string(), d.upgrades.to_string(), d.uninstalls.to_string(), d.other.to_string()]);
        }
        out.push_str(&text(days));
        let mut kinds = table(["kind", "jobs", "completed", "rolled back", "failed", "p50 ms", "p95 ms"]);
        let ms = |v: Option<u64>| v.map_or_else(|| "-".into(), |v| v.to_string());
        for k in &report.per_kind {
            kinds.add_row([
                k.kind.clone(),
                k.jobs.to_string(),
                k.completed.to_string(),
                k.rolled_back.to_string(),
                k.failed.to_string(),
                ms(k.p50_ms),
                ms(k.p95_ms),
            ]);
        }
        out.push_str(&text(kinds));
        if !report.failure_reasons.is_empty() {
            let mut reasons = table(["failures", "reason"]);
            for r in &report.failure_reasons {
                reasons.add_row([r.count.to_string(), r.reason.clone()]);
            }
            out.push_str(&text(reasons));
        }
        let mut modules = table(["module", "tenants", "enabled"]);
        for m in &report.modules {
            modules.add_row([m.module.clone(), m.tenants.to_string(), m.enabled.to_string()]);
        }
        out.push_str(&text(modules));
        out
    });
    Ok(Done::Success)
}
