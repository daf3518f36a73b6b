//! Writing to the landlord what the domain says an event means: the change set of jobs
//! that completed or ended otherwise (`domain::change`), stored in one transaction. A
//! job another process ended first is an error, never a silent skip.

use crate::domain::change::{self, Change, Commit};
use crate::domain::job::{Effect, Job, JobStatus, Step};
use crate::domain::{Error, Result};
use crate::ops::Context;

/// A job that did not complete, and how it ended.
pub(crate) struct Ended {
    pub job: Job,
    pub status: JobStatus,
    pub error: String,
    pub steps: Vec<Step>,
}

/// Completes jobs (each started with its effect) with their final steps, their effects
/// and events, in one transaction.
pub(crate) fn complete_jobs<'a>(ctx: &Context, jobs: impl IntoIterator<Item = (&'a Job, &'a Effect, Vec<Step>)>) -> Result<()> {
    let at = ctx.now();
    let changes: Vec<Change> = jobs.into_iter().flat_map(|(job, effect, steps)| change::complete_job(job, effect, steps, &at)).collect();
    commit_jobs(ctx, &changes)
}

/// Completes, in recovery, jobs whose tenant work is found committed: also those another
/// host marked failed when their lease ran out.
pub(crate) fn complete_recovered_jobs<'a>(ctx: &Context, jobs: impl IntoIterator<Item = (&'a Job, &'a Effect, Vec<Step>)>) -> Result<()> {
    let at = ctx.now();
    let changes: Vec<Change> =
        jobs.into_iter().flat_map(|(job, effect, steps)| change::complete_recovered_job(job, effect, steps, &at)).collect();
    commit_jobs(ctx, &changes)
}

/// Ends jobs that did not complete, with their events, in one transaction.
pub(crate) fn end_jobs(ctx: &Context, jobs: Vec<Ended>) -> Result<()> {
    let at = ctx.now();
    let changes: Vec<Change> = jobs.into_iter().flat_map(|e| change::end_job(&e.job, e.status, &e.error, e.steps, &at)).collect();
    commit_jobs(ctx, &changes)
}

fn commit_jobs(ctx: &Context, changes: &[Change]) -> Result<()> {
    match ctx.landlord.commit(changes)? {
        Commit::Done => Ok(()),
        Commit::Conflict(i) => {
            let job = match changes.get(i) {
                Some(Change::EndJob { id, .. }) => format!("job {id}"),
                _ => "a job".to_string(),
            };
            Err(Error::busy(format!("{job} was ended by another process first; nothing was recorded"))
                .with_hint("run `modreg jobs show` on it to see how it ended"))
        }
    }
}
