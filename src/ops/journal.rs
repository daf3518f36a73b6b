//! Writing to the landlord what the domain says an event means: the change set of jobs
//! that completed or ended otherwise (`domain::change`), stored in one transaction. A
//! job another process ended first is an error, never a silent skip. A landlord server
//! that cannot be reached for a moment (a restart) is waited for, for part of the lease:
//! the host that did a job's work records its end itself, before another host could
//! take the job for abandoned.

use std::time::{Duration, Instant};

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

/// How long to wait between tries to reach the landlord: doubling from the first, to at
/// most the last.
const RETRY_PAUSES: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));

/// Gives up on running jobs of other hosts whose leases ran out (each with its stored
/// steps and why), in one transaction: marked failed, without an outcome event.
pub(crate) fn abandon_jobs(ctx: &Context, jobs: Vec<(Job, Vec<Step>, String)>) -> Result<()> {
    let at = ctx.now();
    let changes: Vec<Change> =
        jobs.into_iter().flat_map(|(job, steps, error)| change::abandon_job(&job, steps, &ctx.settings.host, &error, &at)).collect();
    commit_jobs(ctx, &changes)
}

fn commit_jobs(ctx: &Context, changes: &[Change]) -> Result<()> {
    // Half the lease: the lease thread fails to renew meanwhile, so past its end another
    // host may take the jobs for abandoned.
    let patience = ctx.settings.lease / 2;
    let started = Instant::now();
    let mut pause = RETRY_PAUSES.0;
    let mut tried = false;
    loop {
        match ctx.landlord.commit(changes) {
            Ok(Commit::Done) => return Ok(()),
            // A try whose commit was lost on the way may have stored the set after all.
            Ok(Commit::Conflict(_)) if tried && stored_already(ctx, changes) => return Ok(()),
            Ok(Commit::Conflict(i)) => return Err(conflict(changes, i)),
            Err(e) if e.storage_unreachable() && started.elapsed() + pause < patience => {
                tried = true;
                std::thread::sleep(pause);
                pause = (pause * 2).min(RETRY_PAUSES.1);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether every job the set ends already has the status it gives it.
fn stored_already(ctx: &Context, changes: &[Change]) -> bool {
    changes.iter().all(|change| match change {
        Change::EndJob { id, status, .. } => ctx.landlord.job(*id).ok().flatten().is_some_and(|(job, _, _)| job.status == *status),
        _ => true,
    })
}

fn conflict(changes: &[Change], i: usize) -> Error {
    let job = match changes.get(i) {
        Some(Change::EndJob { id, .. }) => format!("job {id}"),
        _ => "a job".to_string(),
    };
    Error::busy(format!("{job} was ended by another process first; nothing was recorded"))
        .with_hint("run `modreg jobs show` on it to see how it ended")
}
