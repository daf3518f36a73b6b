//! `modreg restore-landlord FILE`: puts a landlord backup (`DEST/landlord.db` of
//! `modreg backup`) back, after checking that it is an undamaged landlord of a schema
//! version this binary reads, keeping the landlord it replaces beside it. Refused while
//! any tenant is being worked on or any job runs: every tenant's lock is held while it
//! puts the backup back, so that no job starts against the landlord it replaces.
//! Everything recorded since the backup was taken is replaced with it; jobs the backup
//! has as running are the stopped jobs of a landlord that went back in time, which
//! `recover` completes or rolls back from the tenant files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::domain::job::JobStatus;
use crate::domain::{Error, ErrorKind, Result};
use crate::ops::backup::postgres_refusal;
use crate::ops::{Context, Reporter, Settings};
use crate::store::clock::{Clock, SystemClock};
use crate::store::{self, JobFilter, LandlordAccess, TenantFiles, TenantLock};

#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreReport {
    pub restored_from: String,
    pub schema_version: i32,
    /// Where the replaced landlord was kept; none when there was none.
    pub replaced_kept_at: Option<String>,
    /// What the restored landlord holds, when it could be read.
    pub tenants: Option<usize>,
    /// Jobs it has as unfinished: `modreg recover` ends them.
    pub unfinished_jobs: Option<usize>,
}

pub fn restore_landlord(settings: &Settings, file: &Path, reporter: &dyn Reporter) -> Result<RestoreReport> {
    let config = settings.store_config(LandlordAccess::ReadOnly);
    let Some(landlord) = store::landlord_file(&config) else {
        return Err(postgres_refusal(
            "`modreg restore-landlord` puts back only a landlord that is a file",
            "restore a `pg_dump` of it with `pg_restore` (into an empty database), then point `--landlord` at it",
        ));
    };
    let schema_version = landlord.check_backup(file)?;
    let tenant_files =
        store::tenant_files(&config, std::sync::Arc::new(SystemClock), std::sync::Arc::new(store::interrupt::ProcessSignals))?;
    let current = Context::open_existing(settings).ok();
    let _locks = lock_every_tenant(tenant_files.as_ref(), current.as_ref())?;
    if let Some(ctx) = &current {
        refuse_running_jobs(ctx)?;
    }
    drop(current);
    let aside = free_name(&settings.data_dir, &format!("landlord-replaced-{}", SystemClock.file_stamp()));
    let kept = landlord.restore(file, &aside)?;
    reporter
        .status("Restored", &format!("the landlord from `{}`; `modreg doctor` checks that the tenant files agree with it", file.display()));
    if kept {
        reporter.status("Kept", &format!("the landlord it replaced at `{}`", aside.display()));
    }
    let counts = Context::open_existing(settings).ok().and_then(|ctx| {
        let tenants = ctx.landlord.tenants().ok()?.len();
        let mut unfinished = 0;
        for tenant in ctx.landlord.tenants_with_unfinished_jobs().ok()? {
            unfinished += ctx.landlord.unfinished_jobs(&tenant).ok()?.len();
        }
        Some((tenants, unfinished))
    });
    Ok(RestoreReport {
        restored_from: file.display().to_string(),
        schema_version,
        replaced_kept_at: kept.then(|| aside.display().to_string()),
        tenants: counts.map(|(tenants, _)| tenants),
        unfinished_jobs: counts.map(|(_, unfinished)| unfinished),
    })
}

/// `<stem>.db` in `dir`, or `<stem>-2.db`, `<stem>-3.db`… if it is taken: a landlord kept
/// aside is never overwritten by the next.
fn free_name(dir: &Path, stem: &str) -> PathBuf {
    let mut path = dir.join(format!("{stem}.db"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = dir.join(format!("{stem}-{n}.db"));
    }
    path
}

/// Takes the lock of every tenant the data folder or the current landlord knows, without
/// waiting: a tenant another process holds is busy, and nothing is restored.
pub(crate) fn lock_every_tenant(files: &dyn TenantFiles, current: Option<&Context>) -> Result<Vec<TenantLock>> {
    let mut names: BTreeSet<String> = files.names()?.into_iter().collect();
    if let Some(tenants) = current.and_then(|ctx| ctx.landlord.tenants().ok()) {
        names.extend(tenants.into_iter().map(|t| t.name));
    }
    store::lock::allow_open_files(names.len());
    let names: Vec<String> = names.into_iter().collect();
    files.lock_each(&names).map_err(|(name, e)| match e.kind {
        ErrorKind::Busy => {
            Error::busy(format!("tenant `{name}` is busy: a modreg process is working on it, so the landlord was not replaced"))
                .with_hint("run `modreg restore-landlord` again when it is done")
        }
        _ => e,
    })
}

/// A job whose process still renews its lease runs: the landlord may not change under it.
fn refuse_running_jobs(ctx: &Context) -> Result<()> {
    let Ok(running) = ctx.landlord.jobs(&JobFilter { status: Some(JobStatus::Running), ..JobFilter::default() }) else { return Ok(()) };
    match running.iter().find(|job| !job.lease_expired) {
        Some(job) => Err(Error::busy(format!(
            "job {} ({} of `{}` for tenant `{}`) is running, so the landlord was not replaced",
            job.id,
            job.kind.as_str(),
            job.module,
            job.tenant
        ))
        .with_hint("run `modreg restore-landlord` again when it has ended; if its process was killed, `modreg recover` ends it")),
        None => Ok(()),
    }
}
