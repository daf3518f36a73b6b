//! `modreg jobs list [--tenant T] [--module M] [--status S] [--limit N]` and
//! `modreg jobs show ID`: the audit trail.

use crate::domain::job::{Job, Step};
use crate::domain::{Error, Result};
use crate::ops::Context;
use crate::store::JobFilter;

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct JobsListReport {
    pub jobs: Vec<Job>,
}

pub fn list(ctx: &Context, filter: &JobFilter) -> Result<JobsListReport> {
    Ok(JobsListReport { jobs: ctx.landlord.jobs(filter)? })
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct JobDetail {
    #[serde(flatten)]
    pub job: Job,
    pub steps: Vec<Step>,
    /// What the job changes in the landlord when it ends (its kind's own fields).
    #[schema(value_type = Object)]
    pub effect: crate::domain::job::Effect,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct JobShowReport {
    pub job: JobDetail,
}

pub fn show(ctx: &Context, id: i64) -> Result<JobShowReport> {
    match ctx.landlord.job(id)? {
        Some((job, steps, effect)) => Ok(JobShowReport { job: JobDetail { job, steps, effect } }),
        None => Err(unknown_job(ctx, id, "run `modreg jobs list` to see recent jobs")?),
    }
}

/// Not found, for a job id the landlord does not have. Ids are numbers, where a near
/// miss is another job rather than a typo, so the hint names the newest id there is
/// instead, then `hint`.
pub(crate) fn unknown_job(ctx: &Context, id: i64, hint: &str) -> Result<Error> {
    let newest = ctx.landlord.jobs(&JobFilter { limit: Some(1), ..JobFilter::default() })?.first().map(|j| j.id);
    let hint = match newest {
        Some(newest) => format!("the newest job is {newest}; {hint}"),
        None => "no job has run yet".to_string(),
    };
    Ok(Error::not_found(format!("job {id} does not exist")).with_hint(hint))
}
