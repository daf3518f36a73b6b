//! What every request shares: the stores (one landlord handle and its pool for the
//! whole server), the settings, the tenants this server is working on, the batches it
//! started, its metrics, and the signals that wake event streams and shutdown.
//!
//! The use-cases are synchronous; [`AppState::blocking`] runs them on tokio's blocking
//! threads, with a panic turned into a 500 instead of a dropped connection.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::domain::job::Job;
use crate::domain::{Error, ErrorKind, Result};
use crate::ops::{Context, OperationReport, PlanRow, Summary};
use crate::server::auth::Caller;
use crate::server::metrics::Metrics;
use crate::server::problem::{Problem, ProblemBody};
use crate::store::{JobFilter, TenantLock};

/// The batches whose reports this server keeps in memory (the landlord keeps their jobs
/// for ever).
const KEPT_BATCHES: usize = 1000;

/// A batch this server started, as `GET /v1/batches/{batch}` shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct BatchReport {
    pub batch: String,
    /// `running`, `completed` (every job completed) or `failed` (a job failed and was
    /// rolled back, or the work could not start).
    pub status: String,
    pub plan: Vec<PlanRow>,
    pub jobs: Vec<Job>,
    pub summary: Summary,
    /// Why it failed, as the error answer of a synchronous request would say it.
    pub error: Option<ProblemBody>,
}

#[derive(Debug, Clone)]
struct BatchEntry {
    tenant: String,
    plan: Vec<PlanRow>,
    finished: Option<(Summary, Option<ProblemBody>)>,
}

/// How long the server waits for a slow request, how large a body it takes, and how
/// long it lets running jobs finish when asked to stop.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub body: usize,
    pub request: Duration,
    pub shutdown: Duration,
}

pub struct AppState {
    base: Context,
    pub limits: Limits,
    pub metrics: Metrics,
    /// Tenants a job of this server holds or is about to hold.
    busy: Mutex<HashSet<String>>,
    batches: Mutex<(BTreeMap<String, BatchEntry>, VecDeque<String>)>,
    /// How many batches are running in the background.
    running: watch::Sender<usize>,
    /// Moves whenever this server changed something: wakes the event streams.
    pub changes: watch::Sender<u64>,
    /// Becomes true when the server is asked to stop: event streams end.
    pub stopping: watch::Sender<bool>,
}

impl AppState {
    pub fn new(base: Context, limits: Limits) -> AppState {
        AppState {
            base,
            limits,
            metrics: Metrics::default(),
            busy: Mutex::default(),
            batches: Mutex::default(),
            running: watch::Sender::new(0),
            changes: watch::Sender::new(0),
            stopping: watch::Sender::new(false),
        }
    }

    /// The stores with the server's own settings (reads, and token lookups).
    pub fn base(&self) -> &Context {
        &self.base
    }

    /// The stores with the caller as the actor on the jobs it starts, and `batch` as
    /// their batch id when given.
    pub fn context(&self, caller: &Caller, batch: Option<String>) -> Context {
        let mut settings = self.base.settings.clone();
        settings.actor = caller.name.clone();
        settings.batch = batch;
        self.base.with_settings(settings)
    }

    /// Runs synchronous work on a blocking thread; a panic is a 500.
    pub async fn blocking<T, F>(self: &Arc<Self>, work: F) -> std::result::Result<T, Problem>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> Result<T> + Send + 'static,
    {
        let state = self.clone();
        let joined = tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&state))).map_err(|panic| panic_message(&panic))
        })
        .await;
        match joined {
            Ok(Ok(result)) => result.map_err(Problem::from),
            Ok(Err(panic)) => Err(Problem::internal(format!("modreg hit a bug and stopped: {panic}"))),
            Err(e) => Err(Problem::internal(format!("the work could not finish: {e}"))),
        }
    }

    /// Says that something changed, for the event streams.
    pub fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Claims a tenant for a job of this server: 409 when a job of this server or
    /// another process holds it, after waiting up to `wait` (`Prefer: wait=N`). The
    /// claim is let go when the returned guard drops. The job itself takes the tenant's
    /// lock again; a process that slips in between makes it wait `--lock-timeout`.
    pub async fn claim(self: &Arc<Self>, tenant: &str, wait: Option<Duration>) -> std::result::Result<Claim, Problem> {
        let started = Instant::now();
        // A wait ends before the request's own time limit does, to answer 409, not 408.
        let wait = wait.map(|w| w.min(self.limits.request.saturating_sub(Duration::from_secs(1))));
        let deadline = started + wait.unwrap_or_default();
        let mut waited = false;
        loop {
            if self.busy.lock().unwrap_or_else(|p| p.into_inner()).insert(tenant.to_string()) {
                let mut claim = Claim { state: self.clone(), tenant: tenant.to_string(), lock: None };
                // Another process (a CLI command) may hold the tenant's lock.
                let name = tenant.to_string();
                let left = deadline.saturating_duration_since(Instant::now());
                let (lock, held_elsewhere) = self
                    .blocking(move |state| {
                        // A free tenant's lock is taken at once; only one that another
                        // process holds is waited for.
                        let take = |timeout| match state.base.tenants.lock(&name, timeout) {
                            Ok(lock) => Ok(Some(lock)),
                            Err(e) if e.kind == ErrorKind::Busy => Ok(None),
                            Err(e) => Err(e),
                        };
                        match take(Duration::ZERO)? {
                            Some(lock) => Ok((Some(lock), false)),
                            None => Ok((take(left)?, true)),
                        }
                    })
                    .await?;
                claim.lock = lock;
                if claim.lock.is_some() {
                    // Found busy at first (here, or by another process's lock).
                    if waited || held_elsewhere {
                        self.metrics.lock_wait(true, started.elapsed());
                    }
                    return Ok(claim);
                }
                drop(claim);
            }
            if Instant::now() >= deadline {
                self.metrics.lock_wait(false, started.elapsed());
                return Err(Problem::from(
                    Error::busy(format!("tenant `{tenant}` is busy: another job is working on it"))
                        .with_hint("try again when it is done, or send `Prefer: wait=N` to wait up to N seconds"),
                ));
            }
            waited = true;
            tokio::time::sleep(Duration::from_millis(20).min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }

    /// Runs quick work that changes a tenant (enable, flags, adding it…) as the caller,
    /// with the tenant claimed (409 when busy, see [`AppState::claim`]), and answers
    /// when it is done.
    pub async fn change<T, F>(
        self: &Arc<Self>,
        caller: &Caller,
        tenant: &str,
        wait: Option<Duration>,
        work: F,
    ) -> std::result::Result<T, Problem>
    where
        T: Send + 'static,
        F: FnOnce(&Context) -> Result<T> + Send + 'static,
    {
        let mut claim = self.claim(tenant, wait).await?;
        // The work takes the tenant's lock itself. Let go on a blocking thread: letting
        // go of a PostgreSQL tenant's lock is a query.
        let lock = claim.take_lock();
        let ctx = self.context(caller, None);
        let done = self
            .blocking(move |_| {
                drop(lock);
                work(&ctx)
            })
            .await;
        drop(claim);
        self.changed();
        done
    }

    /// Runs `work` (a batch's jobs) in the background, holding `claim` until it ends,
    /// and records how it ended for `GET /v1/batches/{batch}`.
    pub fn spawn_batch<F>(self: &Arc<Self>, claim: Claim, batch: String, plan: Vec<PlanRow>, work: F)
    where
        F: FnOnce(&AppState) -> Result<OperationReport> + Send + 'static,
    {
        self.remember(&batch, BatchEntry { tenant: claim.tenant.clone(), plan, finished: None });
        self.running.send_modify(|n| *n += 1);
        let state = self.clone();
        tokio::spawn(async move {
            let ended = state.blocking(work).await;
            drop(claim);
            let finished = match ended {
                Ok(report) => {
                    for job in &report.jobs {
                        state.metrics.job(job.kind.as_str(), job.status.as_str(), crate::ops::stats::job_duration(job));
                    }
                    (report.summary, None)
                }
                Err(problem) => {
                    if let Some(jobs) = problem.details.as_ref().and_then(|d| d.get("jobs")) {
                        for job in jobs.as_array().into_iter().flatten() {
                            let text = |k: &str| job.get(k).and_then(|v| v.as_str()).unwrap_or("unknown").to_string();
                            state.metrics.job(&text("kind"), &text("status"), None);
                        }
                    }
                    let summary = problem
                        .details
                        .as_ref()
                        .and_then(|d| d.get("summary"))
                        .and_then(|s| serde_json::from_value::<Summary>(s.clone()).ok())
                        .unwrap_or(Summary { failed: 1, ..Summary::default() });
                    (summary, Some(problem.body()))
                }
            };
            if let Some(entry) = state.batches.lock().unwrap_or_else(|p| p.into_inner()).0.get_mut(&batch) {
                entry.finished = Some(finished);
            }
            state.changed();
            state.running.send_modify(|n| *n -= 1);
        });
    }

    fn remember(&self, batch: &str, entry: BatchEntry) {
        let mut batches = self.batches.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *batches;
        map.insert(batch.to_string(), entry);
        order.push_back(batch.to_string());
        while order.len() > KEPT_BATCHES {
            // Only finished batches are forgotten; their jobs stay in the landlord.
            let Some(oldest) = order.pop_front() else { break };
            if map.get(&oldest).is_some_and(|e| e.finished.is_none()) {
                order.push_back(oldest);
                break;
            }
            map.remove(&oldest);
        }
    }

    /// A batch as the caller may see it: what this server remembers of it, with its jobs
    /// as the landlord has them now; not found for a batch of a tenant outside the
    /// caller's scope.
    pub fn batch(&self, caller: &Caller, batch: &str) -> Result<BatchReport> {
        let entry = self.batches.lock().unwrap_or_else(|p| p.into_inner()).0.get(batch).cloned();
        let jobs = self.base.landlord.jobs(&JobFilter { batch: Some(batch.to_string()), ..JobFilter::default() })?;
        let unknown =
            || Error::not_found(format!("batch `{batch}` does not exist")).with_hint("`GET /v1/jobs` lists recent jobs with their batches");
        let visible = match &entry {
            Some(entry) => caller.sees(&entry.tenant),
            None => !jobs.is_empty() && jobs.iter().all(|j| caller.sees(&j.tenant)),
        };
        if !visible {
            return Err(unknown());
        }
        let mut jobs = jobs;
        jobs.sort_by_key(|j| j.id);
        let counted = Summary {
            completed: jobs.iter().filter(|j| j.status == crate::domain::job::JobStatus::Completed).count(),
            failed: jobs.iter().filter(|j| j.status.is_finished() && j.status != crate::domain::job::JobStatus::Completed).count(),
            unchanged: 0,
        };
        let unfinished = jobs.iter().any(|j| !j.status.is_finished());
        let (status, summary, error, plan) = match entry {
            Some(BatchEntry { finished: None, plan, .. }) => ("running", counted, None, plan),
            Some(BatchEntry { finished: Some((summary, error)), plan, .. }) => {
                (if error.is_some() || summary.failed > 0 { "failed" } else { "completed" }, summary, error, plan)
            }
            None if unfinished => ("running", counted, None, Vec::new()),
            None => (if counted.failed > 0 { "failed" } else { "completed" }, counted, None, Vec::new()),
        };
        Ok(BatchReport { batch: batch.to_string(), status: status.to_string(), plan, jobs, summary, error })
    }

    /// Waits until no batch runs, or `timeout` passes; true when none runs.
    pub async fn idle(&self, timeout: Duration) -> bool {
        let mut running = self.running.subscribe();
        tokio::time::timeout(timeout, running.wait_for(|n| *n == 0)).await.is_ok_and(|r| r.is_ok())
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default()
}

/// A tenant this server is working on; let go when dropped.
pub struct Claim {
    state: Arc<AppState>,
    tenant: String,
    /// The tenant's lock, taken to be sure no other process works on it.
    lock: Option<TenantLock>,
}

impl Claim {
    /// The tenant's lock, for work that plans and runs under it.
    pub fn take_lock(&mut self) -> Option<TenantLock> {
        self.lock.take()
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.state.busy.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.tenant);
    }
}
