//! What a tenant file keeps of the landlord's changes (`Change::kept_by_tenant_file`:
//! when the tenant was added, whether each module is enabled, its flags), so that a lost
//! landlord can be rebuilt from the tenant files: written to the file first, under the
//! tenant's lock, then to the landlord. And filling in what a file that an older modreg
//! wrote lacks, from the landlord, on the next command that works on the tenant.

use crate::domain::Result;
use crate::domain::change::Change;
use crate::domain::recorded::{self, RecordedFlag, RecordedModule};
use crate::ops::Context;
use crate::store::{FlagRecord, InstalledModule, TenantDb};

/// Writes to the tenant's file, in one transaction, what it keeps of `changes`, and the
/// markers of `jobs` (of `batch`) when there are any: the file first, so that a crash
/// before the landlord records them leaves jobs `recover` completes, or, for a change
/// without a job (`flags set`), a difference `doctor` finds. The caller holds the lock.
pub(crate) fn write(ctx: &Context, tenant: &str, changes: &[Change], jobs: &[i64], batch: &str) -> Result<()> {
    let mut db = ctx.tenants.open(tenant)?;
    write_to(db.as_mut(), changes, jobs, batch)
}

fn write_to(db: &mut dyn TenantDb, changes: &[Change], jobs: &[i64], batch: &str) -> Result<()> {
    db.begin()?;
    let written =
        db.record(changes).and_then(|()| if jobs.is_empty() { Ok(()) } else { db.mark_jobs(jobs, batch) }).and_then(|()| db.commit());
    if written.is_err() {
        let _ = db.rollback();
    }
    written
}

/// A module as the landlord has it, with its flags among `flags`.
fn as_recorded(module: &InstalledModule, flags: &[FlagRecord]) -> RecordedModule {
    RecordedModule {
        module: module.module.clone(),
        version: module.version.clone(),
        enabled: module.enabled,
        installed_at: module.installed_at.clone(),
        version_at: module.updated_at.clone(),
        updated_at: module.updated_at.clone(),
        flags: flags
            .iter()
            .filter(|f| f.module == module.module)
            .map(|f| RecordedFlag { flag: f.flag.clone(), value: f.value, at: f.updated_at.clone() })
            .collect(),
    }
}

/// Gives a tenant file that an older modreg wrote what it lacks (when the tenant was
/// added, its modules' enabled state and flags), as the landlord has them; the caller
/// holds the tenant's lock. Modules the landlord does not list are left for `doctor` to
/// report. True when it wrote anything.
pub(crate) fn fill(ctx: &Context, tenant: &str) -> Result<bool> {
    if !ctx.tenants.exists(tenant) {
        return Ok(false);
    }
    let mut db = ctx.tenants.open(tenant)?;
    let missing = db.unrecorded()?;
    if missing.is_empty() {
        return Ok(false);
    }
    let created_at = match missing.created_at {
        true => ctx.landlord.tenant(tenant)?.map(|t| t.created_at),
        false => None,
    };
    let modules: Vec<RecordedModule> = match missing.modules.is_empty() {
        true => Vec::new(),
        false => {
            let flags = ctx.landlord.flags(tenant, None)?;
            ctx.landlord.installed(tenant)?.iter().filter(|m| missing.modules.contains(&m.module)).map(|m| as_recorded(m, &flags)).collect()
        }
    };
    let changes = recorded::fill_tenant_file(tenant, created_at.as_deref(), &modules);
    if changes.is_empty() {
        return Ok(false);
    }
    write_to(db.as_mut(), &changes, &[], "")?;
    Ok(true)
}
