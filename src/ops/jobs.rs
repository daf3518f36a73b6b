//! `modreg jobs list [--tenant T] [--module M] [--status S] [--limit N]` and
//! `modreg jobs show ID`: the audit trail.

use crate::domain::job::{Job, Step};
use crate::domain::{Error, Result};
use crate::ops::Context;
use crate::store::JobFilter;

#[derive(Debug, Clone, serde::Serialize)]
pub struct JobsListReport {
    pub jobs: Vec<Job>,
}

pub fn list(ctx: &Context, filter: &JobFilter) -> Result<JobsListReport> {
    Ok(JobsListReport { jobs: ctx.landlord.jobs(filter)? })
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct JobDetail {
    #[serde(flatten)]
    pub job: Job,
    pub steps: Vec<Step>,
    pub effect: crate::domain::job::Effect,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct JobShowReport {
    pub job: JobDetail,
}

pub fn show(ctx: &Context, id: i64) -> Result<JobShowReport> {
    match ctx.landlord.job(id)? {
        Some((job, steps, effect)) => Ok(JobShowReport { job: JobDetail { job, steps, effect } }),
        None => Err(Error::not_found(format!("job {id} does not exist")).with_hint("run `modreg jobs list` to see recent jobs")),
    }
}
