//! Runs one tenant's planned actions as one atomic unit, with the jobs that record them.
//!
//! The protocol, which `recover` relies on:
//! 1. the landlord gets the jobs as `running`, each with the effect completing it will
//!    have on the landlord;
//! 2. the tenant file gets all module work and, in the same transaction, a marker row
//!    per job. Unless a hook that writes the tenant database takes part, this is one
//!    SQLite transaction, so a failure or a kill leaves the file as it was at no cost,
//!    whatever its size; hooks that only read run inside it, as other processes that see
//!    the file as it was before the command. When a hook that writes takes part
//!    (`[hooks] writes_tenant_db`), a whole-file copy is taken first (a reflink where
//!    the file system can) and each module's work commits on its own so the hooks see
//!    it and may change it; the markers commit last. Where the engine lends hooks its
//!    transaction (PostgreSQL tenants: `TenantDb::lend`), every hook works inside the
//!    one transaction instead, and nothing is copied;
//! 3. the landlord completes the jobs, applying their stored effects.
//!
//! On failure the tenant file goes back (transaction rollback or the copy), rollback
//! hooks run for jobs that ran a hook, and the jobs end `rolled_back`. An interruption
//! (SIGINT, SIGTERM) is such a failure: module SQL and hooks running when it comes are
//! stopped, nothing further starts, and the jobs' reasons begin with `interrupted`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use semver::Version;

use crate::domain::change;
use crate::domain::job::{Effect, Job, JobKind, JobStatus, Step, StepStatus, truncate_output};
use crate::domain::manifest::HookKind;
use crate::domain::module::ModuleVersion;
use crate::domain::name::ModuleName;
use crate::domain::{Error, ErrorKind};
use crate::ops::journal::{self, Ended};
use crate::ops::{Context, Reporter, fault};
use crate::store::{HookCall, HookOutcome, HookStatus, JobFilter, Kept, NewJob, SchemaItem, TenantDb, WorkError, WorkStep};

/// What to do to the tenant file for one module.
#[derive(Debug, Clone)]
pub(crate) enum Work {
    /// `writable`: the other modules whose tables the module's SQL may write.
    Install {
        seeds: bool,
        writable: BTreeSet<ModuleName>,
    },
    Restore {
        archive: Kept,
    },
    Upgrade {
        copy: Option<Kept>,
        writable: BTreeSet<ModuleName>,
    },
    Uninstall {
        archive: Option<Kept>,
    },
    /// Replace the module's objects with those of a pre-upgrade copy.
    Revert {
        copy: Kept,
    },
}

/// One module's part of the plan.
#[derive(Debug, Clone)]
pub(crate) struct Action {
    pub module: Arc<ModuleVersion>,
    pub kind: JobKind,
    pub from: Option<Version>,
    pub work: Work,
    pub effect: Effect,
    /// Flag values to keep with an archive or copy.
    pub flags: BTreeMap<String, bool>,
}

impl Action {
    /// The hooks that run before and after the work, if the kind of job has any.
    fn hooks(&self) -> Option<(HookKind, HookKind)> {
        match self.kind {
            JobKind::Install => Some((HookKind::PreInstall, HookKind::PostInstall)),
            JobKind::Upgrade => Some((HookKind::PreUpgrade, HookKind::PostUpgrade)),
            JobKind::Uninstall => Some((HookKind::PreUninstall, HookKind::PostUninstall)),
            _ => None,
        }
    }

    /// A hook that writes the tenant database will run around the work: the work must
    /// commit before it, so it needs the whole-file copy to be undone.
    fn has_writing_hooks(&self) -> bool {
        self.hooks().is_some_and(|(pre, post)| [pre, post].into_iter().any(|k| self.module.manifest.hook_writes_tenant_db(k)))
    }

    fn verb(&self) -> &'static str {
        match (&self.work, self.kind) {
            (Work::Restore { .. }, _) => "Restoring",
            (_, JobKind::Upgrade) => "Upgrading",
            (_, JobKind::Uninstall) => "Uninstalling",
            (_, JobKind::Revert) => "Reverting",
            _ => "Installing",
        }
    }

    /// What this action brings back from, which an engine that moves it back uses up.
    fn restored_from(&self) -> Option<&Kept> {
        match &self.work {
            Work::Restore { archive } => Some(archive),
            Work::Revert { copy } => Some(copy),
            _ => None,
        }
    }

    /// What this action keeps aside of the tenant, removed if it rolls back.
    fn written_files(&self) -> Option<&Kept> {
        match &self.work {
            Work::Upgrade { copy: Some(kept), .. } | Work::Uninstall { archive: Some(kept) } => Some(kept),
            _ => None,
        }
    }
}

/// How one tenant's run ended.
pub(crate) struct TenantRun {
    pub jobs: Vec<Job>,
    pub error: Option<Error>,
}

struct JobRun {
    job: Job,
    steps: Vec<Step>,
    ran_hook: bool,
}

impl JobRun {
    fn push(&mut self, name: impl Into<String>, status: StepStatus, started: Instant, detail: Option<String>, output: Option<String>) {
        self.steps.push(Step { name: name.into(), status, duration_ms: started.elapsed().as_millis() as u64, detail, output });
    }

    fn push_work(&mut self, steps: Vec<WorkStep>) {
        for s in steps {
            self.steps.push(Step {
                name: s.name,
                status: StepStatus::Ok,
                duration_ms: s.duration.as_millis() as u64,
                detail: s.detail,
                output: None,
            });
        }
    }
}

struct Runner<'a> {
    ctx: &'a Context,
    tenant: &'a str,
    batch: &'a str,
    reporter: &'a dyn Reporter,
    /// Hooks that write the tenant database take part: work commits per module and a
    /// whole-file copy covers it. Otherwise one transaction covers everything.
    snapshot: bool,
}

pub(crate) fn execute(ctx: &Context, tenant: &str, batch: &str, actions: Vec<Action>, reporter: &dyn Reporter) -> TenantRun {
    if let Err(error) = ctx.stop_if_interrupted(|| format!("the work on tenant `{tenant}` was not started; nothing was changed")) {
        return TenantRun { jobs: Vec::new(), error: Some(error) };
    }
    let now = ctx.now();
    let new_jobs: Vec<NewJob> = actions
        .iter()
        .map(|a| NewJob {
            batch: batch.to_string(),
            tenant: tenant.to_string(),
            module: a.module.name().to_string(),
            kind: a.kind,
            from_version: a.from.as_ref().map(Version::to_string),
            to_version: match a.kind {
                JobKind::Uninstall => None,
                _ => Some(a.module.version().to_string()),
            },
            actor: ctx.settings.actor.clone(),
            effect: a.effect.clone(),
            host: ctx.settings.host.clone(),
            lease: ctx.settings.lease,
        })
        .collect();
    let ids = match ctx.start_jobs(&new_jobs, &now) {
        Ok(ids) => ids,
        Err(error) => return TenantRun { jobs: Vec::new(), error: Some(error) },
    };
    fault::point("jobs-started");
    let mut runs: Vec<JobRun> =
        ids.iter().zip(&new_jobs).map(|(&id, new)| JobRun { job: new.started(id, &now), steps: Vec::new(), ran_hook: false }).collect();
    // Where hooks join the job's transaction, the work need not commit before them.
    let snapshot = actions.iter().any(Action::has_writing_hooks) && !ctx.tenants.hooks_join_transaction();
    let runner = Runner { ctx, tenant, batch, reporter, snapshot };

    let mut db = match ctx.tenants.open(tenant) {
        Ok(db) => db,
        Err(error) => {
            let ended = runs
                .into_iter()
                .map(|r| Ended { job: r.job, status: JobStatus::RolledBack, error: error.message.clone(), steps: Vec::new() })
                .collect();
            let _ = journal::end_jobs(ctx, ended);
            return TenantRun { jobs: load_jobs(ctx, tenant, batch, &ids), error: Some(error) };
        }
    };
    match runner.run_all(db.as_mut(), &actions, &mut runs, &ids) {
        Ok(()) => {
            let completed = runs.iter_mut().zip(&actions).map(|(r, a)| (&r.job, &a.effect, std::mem::take(&mut r.steps)));
            let error = journal::complete_jobs(ctx, completed).err().map(|e| {
                e.context(format!("the work on tenant `{tenant}` is committed but the landlord could not record it"))
                    .with_hint("`modreg recover` completes the jobs")
            });
            fault::point("landlord-completed");
            if error.is_none() && runner.snapshot {
                let _ = db.discard_checkpoint();
            }
            if error.is_none() {
                forget_used_up(ctx, tenant, &actions, reporter);
            }
            TenantRun { jobs: load_jobs(ctx, tenant, batch, &ids), error }
        }
        Err((failed_at, error)) => {
            let error = runner.roll_back(db.as_mut(), &actions, &mut runs, failed_at, error);
            TenantRun { jobs: load_jobs(ctx, tenant, batch, &ids), error: Some(error) }
        }
    }
}

/// Forgets the archives and copies that the run's restores and reverts used up (an
/// engine that moves a module back, PostgreSQL's): the landlord would list them as
/// missing. What the run committed stands whatever happens here.
fn forget_used_up(ctx: &Context, tenant: &str, actions: &[Action], reporter: &dyn Reporter) {
    for action in actions {
        let Some(kept) = action.restored_from().filter(|kept| ctx.tenants.kept_size(kept).is_none()) else { continue };
        let Ok(records) = ctx.landlord.archives(tenant, Some(action.module.name().as_str()), None) else { continue };
        let ids: Vec<i64> = records.iter().filter(|r| r.path == kept.reference()).map(|r| r.id).collect();
        if ids.is_empty() {
            continue;
        }
        if let Err(e) = ctx.landlord.commit(&[change::Change::ForgetFiles { ids, at: ctx.now() }]) {
            reporter.warning(&format!("could not record that `{kept}` was used up: {}", e.message));
        }
    }
}

/// The run's jobs as the landlord now has them, in one query that reads only them.
fn load_jobs(ctx: &Context, tenant: &str, batch: &str, ids: &[i64]) -> Vec<Job> {
    let filter = JobFilter {
        tenant: Some(tenant.to_string()),
        batch: Some(batch.to_string()),
        from_id: ids.iter().min().copied(),
        ..JobFilter::default()
    };
    let mut jobs = ctx.landlord.jobs(&filter).unwrap_or_default();
    jobs.reverse();
    jobs
}

impl Runner<'_> {
    fn run_all(&self, db: &mut dyn TenantDb, actions: &[Action], runs: &mut [JobRun], ids: &[i64]) -> Result<(), (usize, Error)> {
        let at_start = |e: Error| (0, e);
        if self.snapshot {
            let started = Instant::now();
            let method = db.save_checkpoint().map_err(at_start)?;
            if let Some(first) = runs.first_mut() {
                first.push("rollback copy", StepStatus::Ok, started, method.map(|m| m.to_string()), None);
            }
        } else {
            db.begin().map_err(at_start)?;
        }
        for (i, (action, run)) in actions.iter().zip(runs.iter_mut()).enumerate() {
            self.ctx.stop_if_interrupted(|| format!("`{}` was not started", action.module.label())).map_err(|e| (i, e))?;
            self.reporter.status(action.verb(), &format!("{} for {}", action.module.label(), self.tenant));
            self.run_action(db, action, run).map_err(|e| (i, e))?;
            fault::point("module-applied");
        }
        let last = actions.len().saturating_sub(1);
        self.ctx.stop_if_interrupted(|| format!("the work on tenant `{}` was not committed", self.tenant)).map_err(|e| (last, e))?;
        if self.snapshot {
            db.begin().map_err(|e| (last, e))?;
        }
        db.mark_jobs(ids, self.batch).map_err(|e| (last, e))?;
        db.commit().map_err(|e| (last, e))?;
        fault::point("tenant-committed");
        Ok(())
    }

    fn log(&self, run: &JobRun, action: &Action, step: &str, message: &str) {
        self.reporter.log(run.job.id, self.tenant, action.module.name().as_str(), step, message);
    }

    fn run_action(&self, db: &mut dyn TenantDb, action: &Action, run: &mut JobRun) -> Result<(), Error> {
        let hooks = action.hooks();
        if let Some((pre, _)) = hooks {
            self.run_hook(db, action, run, pre)?;
        }
        if self.snapshot {
            let started = Instant::now();
            db.begin()?;
            run.push("begin", StepStatus::Ok, started, None, None);
        }
        let name = action.module.name().as_str();
        let result: Result<(), WorkError> = (|| {
            match &action.work {
                Work::Install { seeds, writable } => {
                    let report = db.apply(&action.module, *seeds, writable)?;
                    run.push_work(report.steps);
                    let detail = (!report.objects_created.is_empty()).then(|| SchemaItem::names(&report.objects_created));
                    run.steps.push(Step { name: "record objects".into(), status: StepStatus::Ok, duration_ms: 0, detail, output: None });
                }
                Work::Restore { archive } => {
                    let started = Instant::now();
                    let summary = db.restore_module(archive)?;
                    let detail = format!("{} tables, {} rows from {}", summary.tables, summary.rows, archive);
                    run.push("restore", StepStatus::Ok, started, Some(detail), None);
                }
                Work::Upgrade { copy, writable } => {
                    if let Some(copy) = copy {
                        let started = Instant::now();
                        let summary = db.save_module(name, &action.flags, copy).map_err(|e| WorkError::new("save pre-upgrade copy", e))?;
                        let detail = format!("{} tables, {} rows to {}", summary.tables, summary.rows, copy);
                        run.push("save pre-upgrade copy", StepStatus::Ok, started, Some(detail), None);
                    }
                    let report = db.apply(&action.module, false, writable)?;
                    if report.steps.is_empty() {
                        run.steps.push(Step {
                            name: "migrate".into(),
                            status: StepStatus::Skipped,
                            duration_ms: 0,
                            detail: Some("no new migrations".into()),
                            output: None,
                        });
                    }
                    run.push_work(report.steps);
                    let mut changes = Vec::new();
                    if !report.objects_created.is_empty() {
                        changes.push(format!("created: {}", SchemaItem::names(&report.objects_created)));
                    }
                    if !report.objects_dropped.is_empty() {
                        changes.push(format!("dropped: {}", report.objects_dropped.join(", ")));
                    }
                    let detail = (!changes.is_empty()).then(|| changes.join("; "));
                    run.steps.push(Step { name: "record objects".into(), status: StepStatus::Ok, duration_ms: 0, detail, output: None });
                }
                Work::Uninstall { archive } => {
                    if let Some(archive) = archive {
                        let started = Instant::now();
                        let summary = db.save_module(name, &action.flags, archive).map_err(|e| WorkError::new("archive", e))?;
                        let detail = format!("{} tables, {} rows to {}", summary.tables, summary.rows, archive);
                        run.push("archive", StepStatus::Ok, started, Some(detail), None);
                    }
                    let started = Instant::now();
                    let removed = db.remove_module(name)?;
                    run.push("remove objects", StepStatus::Ok, started, Some(removed.join(", ")), None);
                }
                Work::Revert { copy } => {
                    let started = Instant::now();
                    let removed = db.remove_module(name)?;
                    run.push("remove objects", StepStatus::Ok, started, Some(removed.join(", ")), None);
                    let started = Instant::now();
                    let summary = db.restore_module(copy)?;
                    let detail = format!("{} tables, {} rows from {}", summary.tables, summary.rows, copy);
                    run.push("restore pre-upgrade copy", StepStatus::Ok, started, Some(detail), None);
                }
            }
            // The enabled state and flags the job leaves, in the same transaction as its
            // work: what a landlord rebuilt from the tenant file has.
            let kept = change::tenant_file_part(&run.job, &action.effect, &self.ctx.now());
            db.record(&kept).map_err(|e| WorkError::new("record flags", e))
        })();
        if let Err(mut failure) = result {
            // The work ran and failed, and is rolled back: that is exit 1, whatever the cause.
            if failure.error.kind == ErrorKind::Internal {
                failure.error.kind = ErrorKind::Failed;
            }
            run.push_work(failure.done);
            run.steps.push(Step {
                name: failure.step.clone(),
                status: StepStatus::Failed,
                duration_ms: failure.duration.as_millis() as u64,
                detail: Some(failure.error.message.clone()),
                output: None,
            });
            self.log(run, action, &failure.step, &failure.error.message);
            return Err(failure.error);
        }
        if let Some(step) = run.steps.last() {
            self.log(run, action, &step.name, step.detail.as_deref().unwrap_or("ok"));
        }
        if let Effect::Install { flags, .. } | Effect::Revert { flags, .. } = &action.effect
            && !flags.is_empty()
        {
            let detail = flags.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
            run.steps.push(Step { name: "flags".into(), status: StepStatus::Ok, duration_ms: 0, detail: Some(detail), output: None });
        }
        if self.snapshot {
            let started = Instant::now();
            db.commit()?;
            run.push("commit", StepStatus::Ok, started, None, None);
        }
        match hooks {
            Some((_, post)) => self.run_hook(db, action, run, post),
            None => Ok(()),
        }
    }

    /// Runs a hook if the manifest names one. The step is recorded in the landlord before
    /// it starts, so that `recover` knows a hook ran even if this process is killed.
    fn run_hook(&self, db: &mut dyn TenantDb, action: &Action, run: &mut JobRun, kind: HookKind) -> Result<(), Error> {
        if action.module.manifest.hook(kind).is_none() {
            return Ok(());
        }
        let step = format!("{kind} hook");
        let started = Instant::now();
        let (Some(program), Some(dir)) = (action.module.hook_path(kind), action.module.folder()) else {
            run.push(&step, StepStatus::Skipped, started, Some("the module's folder is gone from the modules folder".into()), None);
            return Ok(());
        };
        self.ctx.stop_if_interrupted(|| format!("the {kind} hook of `{}` was not started", action.module.label()))?;
        self.ctx.landlord.record_step(
            run.job.id,
            &Step { name: step.clone(), status: StepStatus::Started, duration_ms: 0, detail: None, output: None },
        )?;
        run.ran_hook = true;
        self.log(run, action, &step, "started");
        let call = hook_call(self.ctx, self.tenant, action, run.job.id, kind, program, dir.to_path_buf());
        // Where the engine lends the transaction, the hook gets its connection instead of
        // the tenant database's own.
        let lent = db.lend(action.module.manifest.hook_writes_tenant_db(kind), &mut |lent_env| {
            let mut call = call.clone();
            call.env.retain(|(name, _)| !lent_env.iter().any(|(lent, _)| lent == name));
            call.env.extend(lent_env);
            self.ctx.hooks.run(&call)
        });
        let outcome = match lent {
            Ok(Some(outcome)) => outcome,
            Ok(None) => self.ctx.hooks.run(&call),
            Err(e) => HookOutcome { status: HookStatus::CouldNotStart(e.message), output: String::new(), duration: started.elapsed() },
        };
        let output = (!outcome.output.is_empty()).then(|| truncate_output(&outcome.output));
        let failed = |why: String| {
            let last_line =
                outcome.output.lines().rev().find(|l| !l.trim().is_empty()).map(|l| format!(": {}", l.trim())).unwrap_or_default();
            Error::failed(format!("{kind} hook of `{}` {why}{last_line}", action.module.label()))
        };
        let error = match outcome.status {
            HookStatus::Succeeded => {
                run.push(&step, StepStatus::Ok, started, None, output);
                self.log(run, action, &step, "ok");
                return Ok(());
            }
            HookStatus::Interrupted(interruption) => {
                Error::interrupted(interruption, format!("{kind} hook of `{}` was killed", action.module.label()))
            }
            HookStatus::Exited(code) => failed(format!("exited with status {code}")),
            HookStatus::Signalled(signal) => failed(format!("was killed by signal {signal}")),
            HookStatus::TimedOut => failed(format!("ran longer than {} s and was killed", self.ctx.settings.hook_timeout.as_secs())),
            HookStatus::CouldNotStart(why) => failed(format!("could not start: {why}")),
        };
        run.push(&step, StepStatus::Failed, started, Some(error.message.clone()), output);
        self.log(run, action, &step, &error.message);
        Err(error)
    }

    fn roll_back(&self, db: &mut dyn TenantDb, actions: &[Action], runs: &mut [JobRun], failed_at: usize, error: Error) -> Error {
        let started = Instant::now();
        let restored = if self.snapshot { db.restore_checkpoint().map(|_| ()) } else { db.rollback() };
        if error.kind == crate::domain::ErrorKind::Storage && restored.is_ok() {
            let _ = db.release_space();
        }
        for (action, run) in actions.iter().zip(runs.iter_mut()).rev() {
            if run.ran_hook {
                run_rollback_hook(self.ctx, self.tenant, action, run);
            }
        }
        for action in actions {
            if let Some(path) = action.written_files() {
                let _ = self.ctx.tenants.discard_kept(path);
            }
        }
        let failing_module = actions.get(failed_at).map(|a| a.module.name().to_string()).unwrap_or_default();
        let (status, suffix) = match &restored {
            Ok(()) => (JobStatus::RolledBack, String::new()),
            Err(e) => (JobStatus::Failed, format!("; undoing it failed too ({}): run `modreg recover`", e.message)),
        };
        let (earlier, later) = match (error.kind, self.ctx.interrupted()) {
            (ErrorKind::Interrupted, Some(interruption)) => {
                let why = interruption.reason();
                (format!("{why}: rolled back with the rest of the tenant's work"), format!("{why}: not started"))
            }
            _ => (format!("rolled back because `{failing_module}` failed"), format!("not run because `{failing_module}` failed")),
        };
        let ended: Vec<Ended> = runs
            .iter_mut()
            .enumerate()
            .map(|(i, run)| {
                let reason = match i.cmp(&failed_at) {
                    std::cmp::Ordering::Equal => format!("{}{suffix}", error.message),
                    std::cmp::Ordering::Less => format!("{earlier}{suffix}"),
                    std::cmp::Ordering::Greater => format!("{later}{suffix}"),
                };
                if i == failed_at {
                    run.push("roll back", if restored.is_ok() { StepStatus::Ok } else { StepStatus::Failed }, started, None, None);
                }
                Ended { job: run.job.clone(), status, error: reason, steps: std::mem::take(&mut run.steps) }
            })
            .collect();
        let count = ended.len();
        let unrecorded = journal::end_jobs(self.ctx, ended).err().map(|e| {
            let waiting = crate::ops::waiting_for_recover(count);
            self.reporter.warning(&format!("could not record the rollback in the landlord: {}; {waiting}", e.message));
            waiting
        });
        let error = match unrecorded {
            Some(waiting) => {
                let hint = error.hint.clone().map(|h| format!("{h}; ")).unwrap_or_default();
                error.with_hint(format!("{hint}the tenant is as it was, but {waiting}"))
            }
            None => error,
        };
        match restored {
            Ok(()) if error.kind == ErrorKind::Interrupted => {
                error.with_hint(format!("tenant `{}` is as it was before the command; run the command again to do the work", self.tenant))
            }
            Ok(()) => error,
            Err(e) => Error::failed(format!("{}; undoing it failed too: {}", error.message, e.message))
                .with_hint("run `modreg recover` to finish undoing it"),
        }
    }
}

/// The variables a hook gets (SPEC §2).
fn hook_call(ctx: &Context, tenant: &str, action: &Action, job: i64, kind: HookKind, program: PathBuf, dir: PathBuf) -> HookCall {
    let mut env = vec![("MODREG_TENANT".to_string(), tenant.to_string())];
    let writes = kind == HookKind::Rollback || action.module.manifest.hook_writes_tenant_db(kind);
    env.extend(ctx.tenants.hook_env(tenant, writes));
    env.extend([
        ("MODREG_MODULE".to_string(), action.module.name().to_string()),
        ("MODREG_VERSION".to_string(), action.module.version().to_string()),
        ("MODREG_JOB_ID".to_string(), job.to_string()),
        ("MODREG_STEP".to_string(), kind.to_string()),
        ("MODREG_DATA".to_string(), absolute(ctx.settings.data_dir.clone()).display().to_string()),
    ]);
    if let Some(from) = &action.from {
        env.push(("MODREG_FROM_VERSION".to_string(), from.to_string()));
    }
    // A rollback hook undoes work: an interruption must not stop it.
    let interruptible = kind != HookKind::Rollback;
    HookCall {
        program: absolute(program),
        args: Vec::new(),
        dir,
        env,
        timeout: ctx.settings.hook_timeout,
        stdin: None,
        interruptible,
        confined: true,
    }
}

fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

/// Calls the module's `rollback` hook for a job that already ran a hook. Its failure is
/// recorded but does not change the outcome: the tenant file is already back.
fn run_rollback_hook(ctx: &Context, tenant: &str, action: &Action, run: &mut JobRun) {
    let (Some(program), Some(dir)) = (action.module.hook_path(HookKind::Rollback), action.module.folder()) else { return };
    let started = Instant::now();
    let outcome = ctx.hooks.run(&hook_call(ctx, tenant, action, run.job.id, HookKind::Rollback, program, dir.to_path_buf()));
    let status = if outcome.status == HookStatus::Succeeded { StepStatus::Ok } else { StepStatus::Failed };
    let output = (!outcome.output.is_empty()).then(|| truncate_output(&outcome.output));
    run.push("rollback hook", status, started, None, output);
}

/// A rollback hook call for a job being rolled back by `recover`.
pub(crate) fn recover_rollback_hook(ctx: &Context, tenant: &str, job: &Job, module: Arc<ModuleVersion>) -> Option<Step> {
    let action = Action {
        module,
        kind: job.kind,
        from: job.from_version.as_deref().and_then(|v| Version::parse(v).ok()),
        work: Work::Install { seeds: false, writable: BTreeSet::new() },
        effect: Effect::Uninstall { archive: None },
        flags: BTreeMap::new(),
    };
    let mut run = JobRun { job: job.clone(), steps: Vec::new(), ran_hook: true };
    run_rollback_hook(ctx, tenant, &action, &mut run);
    run.steps.pop()
}
