//! `modreg stats [--since DATE]`: installs, upgrades and uninstalls per day, success and
//! rollback rates, durations (p50/p95) per kind, failure reasons grouped, and modules by
//! number of tenants.

use std::collections::BTreeMap;

use time::Date;

use crate::domain::Result;
use crate::domain::job::{Job, JobKind, JobStatus};
use crate::ops::Context;
use crate::store::{JobFilter, clock};

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct DayCounts {
    pub day: String,
    pub installs: usize,
    pub upgrades: usize,
    pub uninstalls: usize,
    pub other: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct KindStats {
    pub kind: String,
    pub jobs: usize,
    pub completed: usize,
    pub rolled_back: usize,
    pub failed: usize,
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FailureReason {
    pub reason: String,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ModuleTenants {
    pub module: String,
    pub tenants: usize,
    pub enabled: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct StatsReport {
    pub since: Option<String>,
    pub jobs: usize,
    /// Completed among finished jobs.
    pub success_rate: Option<f64>,
    /// Rolled back among finished jobs.
    pub rollback_rate: Option<f64>,
    pub per_day: Vec<DayCounts>,
    pub per_kind: Vec<KindStats>,
    pub failure_reasons: Vec<FailureReason>,
    pub modules: Vec<ModuleTenants>,
}

pub fn stats(ctx: &Context, since: Option<Date>) -> Result<StatsReport> {
    let since_text = since.map(|d| format!("{d}T00:00:00Z"));
    let jobs = ctx.landlord.jobs(&JobFilter { since: since_text.clone(), ..JobFilter::default() })?;
    let installed = ctx.landlord.installed_everywhere()?;
    Ok(compute(&jobs, &installed, since.map(|d| d.to_string())))
}

fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// How long a finished job took, from its start to its end (none when it has not both);
/// zero when clocks made the end come first.
pub fn job_duration(job: &Job) -> Option<std::time::Duration> {
    let start = clock::parse_time(job.started_at.as_deref()?)?;
    let end = clock::parse_time(job.finished_at.as_deref()?)?;
    Some(std::time::Duration::try_from(end - start).unwrap_or_default())
}

fn duration_ms(job: &Job) -> Option<u64> {
    job_duration(job).map(|d| d.as_millis() as u64)
}

/// Groups failure messages: the first line, with digits blurred so that job ids and
/// counts do not split a reason.
fn reason_key(error: &str) -> String {
    let first = error.lines().next().unwrap_or_default();
    let blurred: String = first.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
    blurred.chars().take(160).collect()
}

pub(crate) fn compute(jobs: &[Job], installed: &[crate::store::InstalledModule], since: Option<String>) -> StatsReport {
    let finished: Vec<&Job> = jobs.iter().filter(|j| j.status.is_finished() || j.status == JobStatus::Failed).collect();
    let rate = |n: usize| (!finished.is_empty()).then(|| n as f64 / finished.len() as f64);
    let completed = finished.iter().filter(|j| j.status == JobStatus::Completed).count();
    let rolled_back = finished.iter().filter(|j| j.status == JobStatus::RolledBack).count();

    let mut days: BTreeMap<String, DayCounts> = BTreeMap::new();
    for job in jobs {
        let day = job.started_at.as_deref().and_then(|s| s.get(..10)).unwrap_or("unknown").to_string();
        let counts = days.entry(day.clone()).or_insert_with(|| DayCounts { day, ..DayCounts::default() });
        match job.kind {
            JobKind::Install => counts.installs += 1,
            JobKind::Upgrade => counts.upgrades += 1,
            JobKind::Uninstall => counts.uninstalls += 1,
            _ => counts.other += 1,
        }
    }

    let per_kind = JobKind::ALL
        .iter()
        .filter_map(|kind| {
            let of_kind: Vec<&Job> = jobs.iter().filter(|j| j.kind == *kind).collect();
            if of_kind.is_empty() {
                return None;
            }
            let mut durations: Vec<u64> =
                of_kind.iter().filter(|j| j.status == JobStatus::Completed).filter_map(|j| duration_ms(j)).collect();
            durations.sort_unstable();
            Some(KindStats {
                kind: kind.to_string(),
                jobs: of_kind.len(),
                completed: of_kind.iter().filter(|j| j.status == JobStatus::Completed).count(),
                rolled_back: of_kind.iter().filter(|j| j.status == JobStatus::RolledBack).count(),
                failed: of_kind.iter().filter(|j| j.status == JobStatus::Failed).count(),
                p50_ms: percentile(&durations, 50.0),
                p95_ms: percentile(&durations, 95.0),
            })
        })
        .collect();

    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for job in jobs.iter().filter(|j| j.status != JobStatus::Completed) {
        if let Some(error) = &job.error {
            *reasons.entry(reason_key(error)).or_default() += 1;
        }
    }
    let mut failure_reasons: Vec<FailureReason> = reasons.into_iter().map(|(reason, count)| FailureReason { reason, count }).collect();
    failure_reasons.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));

    let mut by_module: BTreeMap<String, ModuleTenants> = BTreeMap::new();
    for m in installed {
        let entry = by_module.entry(m.module.clone()).or_insert_with(|| ModuleTenants { module: m.module.clone(), tenants: 0, enabled: 0 });
        entry.tenants += 1;
        entry.enabled += usize::from(m.enabled);
    }
    let mut modules: Vec<ModuleTenants> = by_module.into_values().collect();
    modules.sort_by(|a, b| b.tenants.cmp(&a.tenants).then(a.module.cmp(&b.module)));

    StatsReport {
        since,
        jobs: jobs.len(),
        success_rate: rate(completed),
        rollback_rate: rate(rolled_back),
        per_day: days.into_values().collect(),
        per_kind,
        failure_reasons,
        modules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: i64, kind: JobKind, status: JobStatus, start: &str, end: &str, error: Option<&str>) -> Job {
        Job {
            id,
            batch: "b".into(),
            tenant: "t".into(),
            module: "m".into(),
            kind,
            status,
            from_version: None,
            to_version: None,
            actor: "a".into(),
            host: None,
            started_at: Some(start.into()),
            finished_at: Some(end.into()),
            error: error.map(Into::into),
            lease_until: None,
            lease_expired: false,
        }
    }

    #[test]
    fn rates_percentiles_and_reasons() {
        let jobs = vec![
            job(1, JobKind::Install, JobStatus::Completed, "2026-11-20T10:00:00Z", "2026-11-20T10:00:00.100Z", None),
            job(2, JobKind::Install, JobStatus::Completed, "2026-11-20T10:00:00Z", "2026-11-20T10:00:00.300Z", None),
            job(
                3,
                JobKind::Install,
                JobStatus::RolledBack,
                "2026-11-21T10:00:00Z",
                "2026-11-21T10:00:01Z",
                Some("migration `V3__x` failed: no such table: t1"),
            ),
            job(
                4,
                JobKind::Upgrade,
                JobStatus::RolledBack,
                "2026-11-21T10:00:00Z",
                "2026-11-21T10:00:01Z",
                Some("migration `V3__x` failed: no such table: t2"),
            ),
        ];
        let r = compute(&jobs, &[], None);
        assert_eq!(r.success_rate, Some(0.5));
        assert_eq!(r.rollback_rate, Some(0.5));
        assert_eq!(r.per_day.len(), 2);
        assert_eq!(r.per_day[1], DayCounts { day: "2026-11-21".into(), installs: 1, upgrades: 1, uninstalls: 0, other: 0 });
        let install = &r.per_kind[0];
        assert_eq!((install.p50_ms, install.p95_ms), (Some(100), Some(300)));
        assert_eq!(r.failure_reasons, vec![FailureReason { reason: "migration `V#__x` failed: no such table: t#".into(), count: 2 }]);
    }
}
