//! `modreg history --tenant T [MODULE]`: every version a tenant had of its modules (or
//! of one), oldest first: when, what kind of change, by which job and actor. Read from
//! the landlord's version history, which completed jobs write and which outlives the
//! tenant itself; the actor and kind come from the job.

use std::collections::{BTreeSet, HashMap};

use crate::domain::job::{Effect, Job, JobKind};
use crate::domain::name::{ModuleName, TenantName};
use crate::domain::suggest::closest;
use crate::domain::{Error, Result};
use crate::ops::{Context, unknown_tenant};
use crate::store::{HistoryEntry, JobFilter};

/// One version change of a tenant's module.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct HistoryRow {
    pub module: String,
    /// `install`, `restore` (an install from an uninstall archive), `upgrade`,
    /// `uninstall`, `revert`, or `rebuilt` (the version a landlord rebuilt from the
    /// tenant file found, by no job: `doctor --rebuild-landlord`).
    pub change: String,
    /// None: it was not installed before.
    pub from_version: Option<String>,
    /// None: it was uninstalled.
    pub to_version: Option<String>,
    pub at: String,
    pub job_id: Option<i64>,
    /// Who ran the job (`MODREG_ACTOR`, or the user).
    pub actor: Option<String>,
    pub batch: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct HistoryReport {
    pub tenant: String,
    pub history: Vec<HistoryRow>,
}

pub fn history(ctx: &Context, tenant: &TenantName, module: Option<&ModuleName>) -> Result<HistoryReport> {
    let entries = ctx.landlord.history(tenant.as_str(), module.map(ModuleName::as_str))?;
    if entries.is_empty() {
        refuse_empty(ctx, tenant, module)?;
    }
    let filter = JobFilter { tenant: Some(tenant.to_string()), module: module.map(ModuleName::to_string), ..JobFilter::default() };
    let jobs: HashMap<i64, Job> = ctx.landlord.jobs(&filter)?.into_iter().map(|j| (j.id, j)).collect();
    let mut history = Vec::with_capacity(entries.len());
    for entry in entries {
        let job = entry.job_id.and_then(|id| jobs.get(&id));
        history.push(HistoryRow {
            change: change(ctx, &entry, job)?.to_string(),
            actor: job.map(|j| j.actor.clone()),
            batch: job.map(|j| j.batch.clone()),
            module: entry.module,
            from_version: entry.from_version,
            to_version: entry.to_version,
            at: entry.at,
            job_id: entry.job_id,
        });
    }
    Ok(HistoryReport { tenant: tenant.to_string(), history })
}

/// What kind of change an entry was: its job's kind, an install that brought an archive
/// back being a restore; from the versions when the job is not known; `rebuilt` for an
/// entry of no job, which only a rebuilt landlord writes.
fn change(ctx: &Context, entry: &HistoryEntry, job: Option<&Job>) -> Result<&'static str> {
    if entry.job_id.is_none() {
        return Ok("rebuilt");
    }
    Ok(match job.map(|j| j.kind) {
        Some(JobKind::Install) => {
            let effect = match job {
                Some(job) => ctx.landlord.job(job.id)?.map(|(_, _, effect)| effect),
                None => None,
            };
            match effect {
                Some(Effect::Install { restored_from: Some(_), .. }) => "restore",
                _ => "install",
            }
        }
        Some(JobKind::Upgrade) => "upgrade",
        Some(JobKind::Uninstall) => "uninstall",
        Some(JobKind::Revert) => "revert",
        _ => match (&entry.from_version, &entry.to_version) {
            (None, _) => "install",
            (_, None) => "uninstall",
            _ => "upgrade",
        },
    })
}

/// An empty history is an answer for a registered tenant, and for a removed one whose
/// history is kept; not for a name the landlord never had, nor for a module the tenant
/// never had (a typo, most likely).
fn refuse_empty(ctx: &Context, tenant: &TenantName, module: Option<&ModuleName>) -> Result<()> {
    let registered = ctx.landlord.tenant(tenant.as_str())?.is_some();
    let Some(module) = module else {
        if registered {
            return Ok(());
        }
        return Err(unknown_tenant(tenant.as_str(), ctx.landlord.tenants()?.iter().map(|t| t.name.as_str())));
    };
    let had: BTreeSet<String> = ctx.landlord.history(tenant.as_str(), None)?.into_iter().map(|e| e.module).collect();
    if !registered && had.is_empty() {
        return Err(unknown_tenant(tenant.as_str(), ctx.landlord.tenants()?.iter().map(|t| t.name.as_str())));
    }
    let hint = match closest(module.as_str(), had.iter().map(String::as_str)) {
        Some(found) => format!("it had a module with a similar name: `{found}`"),
        None if had.is_empty() => format!("tenant `{tenant}` has had no module yet"),
        None => format!("run `modreg history --tenant {tenant}` to see every module it had"),
    };
    Err(Error::not_found(format!("tenant `{tenant}` never had module `{module}`")).with_hint(hint))
}
