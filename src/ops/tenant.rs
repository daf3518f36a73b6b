//! `modreg tenant add T…`, `tenant list`, `tenant remove T… [--purge]`. Every name is
//! checked before any file is touched; removal archives the tenant file unless purged.

use crate::domain::change::{self, Commit};
use crate::domain::name::{HostName, TenantName};
use crate::domain::{Error, Result};
use crate::ops::{Context, Reporter, recover, tenant_records};
use crate::store::{KeepFor, Kept, TenantRecord};

#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct TenantAddReport {
    pub added: Vec<String>,
    /// Already registered: left as they were.
    pub existing: Vec<String>,
}

pub fn add(ctx: &Context, tenants: &[TenantName], reporter: &dyn Reporter) -> Result<TenantAddReport> {
    for tenant in tenants {
        ctx.tenants.accepts(tenant.as_str())?;
        if ctx.tenants.exists(tenant.as_str()) && ctx.landlord.tenant(tenant.as_str())?.is_none() {
            return Err(Error::invalid(format!(
                "a database file for tenant `{tenant}` already exists at `{}`, but the landlord does not know the tenant",
                ctx.tenants.location(tenant.as_str())
            ))
            .with_hint("move the file away (or remove it) and add the tenant again"));
        }
    }
    let mut report = TenantAddReport::default();
    for tenant in tenants {
        // Under the tenant's lock, so that a `tenant remove` of the same name cannot
        // interleave; this also creates the lock file that every later command takes.
        let _lock = ctx.lock_tenant(tenant.as_str(), reporter)?;
        let changes = change::add_tenant(tenant.as_str(), ctx.pinned_to_host(), &ctx.now());
        let known = ctx.landlord.tenant(tenant.as_str())?.is_some();
        // The database first, so that a tenant the landlord lists always has one: one
        // that cannot be made leaves nothing recorded, and one made for a landlord that
        // then cannot record it goes again.
        let made = !ctx.tenants.exists(tenant.as_str());
        if made {
            ctx.tenants.create(tenant.as_str())?;
        }
        let added = !known
            && match ctx.landlord.commit(&changes) {
                Ok(commit) => commit == Commit::Done,
                Err(e) => {
                    if made && let Err(undo) = ctx.tenants.retire(tenant.as_str(), None) {
                        reporter.warning(&format!(
                            "the database made for tenant `{tenant}` is left at {}: {}",
                            ctx.tenants.location(tenant.as_str()),
                            undo.message
                        ));
                    }
                    return Err(e);
                }
            };
        if added {
            // When it was added, for a landlord rebuilt from the file.
            tenant_records::write(ctx, tenant.as_str(), &changes, &[], "")?;
        }
        if added {
            reporter.status("Added", &format!("tenant {tenant}"));
            report.added.push(tenant.to_string());
        } else {
            reporter.status("Exists", &format!("tenant {tenant}"));
            report.existing.push(tenant.to_string());
        }
    }
    Ok(report)
}

#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct TenantListReport {
    pub tenants: Vec<TenantRecord>,
}

pub fn list(ctx: &Context) -> Result<TenantListReport> {
    Ok(TenantListReport { tenants: ctx.landlord.tenants()? })
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TenantMoveReport {
    pub tenant: String,
    pub from: Option<String>,
    pub to: String,
    /// False when the tenant already lived there.
    pub moved: bool,
}

/// Gives a tenant a new home host, on a landlord that hosts share. The file is not
/// copied (another host's data folder is out of reach); the command says where it is.
/// Refused while the tenant has unfinished jobs, and taken under the tenant's lock when
/// this host is its home, so no job of it runs during the move.
pub fn move_tenant(ctx: &Context, tenant: &TenantName, to: &HostName, reporter: &dyn Reporter) -> Result<TenantMoveReport> {
    if ctx.shared && !ctx.pinned {
        return Err(Error::invalid(format!(
            "tenant `{tenant}` needs no move: its database is {}, which any host works on",
            ctx.tenants.location(tenant.as_str())
        ))
        .with_hint("run the command on whichever host you like"));
    }
    if !ctx.shared {
        return Err(Error::invalid("`tenant move` needs a landlord that several hosts share; this one is the data folder's own")
            .with_hint("give every host the same `--landlord postgres://…` (or `MODREG_LANDLORD`)"));
    }
    let record = ctx.landlord.tenant(tenant.as_str())?.ok_or_else(|| {
        Error::not_found(format!("tenant `{tenant}` does not exist")).with_hint(format!("add it with `modreg tenant add {tenant}`"))
    })?;
    let mut report = TenantMoveReport { tenant: tenant.to_string(), from: record.host.clone(), to: to.to_string(), moved: false };
    if record.host.as_deref() == Some(to.as_str()) {
        reporter.status("Unchanged", &format!("tenant {tenant} already lives on host {to}"));
        return Ok(report);
    }
    let here = record.host.as_deref().is_none_or(|home| home == ctx.settings.host);
    let _lock = if here { Some(ctx.lock_tenant(tenant.as_str(), reporter)?) } else { None };
    let unfinished = ctx.landlord.unfinished_jobs(tenant.as_str())?;
    if let Some(job) = unfinished.first() {
        let host = job.host.as_deref().unwrap_or("unknown");
        return Err(Error::busy(format!(
            "tenant `{tenant}` has {} unfinished job(s), the first job {} of host `{host}`",
            unfinished.len(),
            job.id
        ))
        .with_hint(format!("let them finish, or run `modreg recover` on host `{host}`, then move the tenant")));
    }
    let changes = change::move_tenant(tenant.as_str(), record.host.as_deref(), to.as_str(), &ctx.now());
    if ctx.landlord.commit(&changes)? != Commit::Done {
        return Err(Error::busy(format!("tenant `{tenant}` was moved or removed by another process meanwhile"))
            .with_hint("see where it lives now with `modreg tenant list`"));
    }
    report.moved = true;
    let from = record.host.as_deref().unwrap_or("any host");
    reporter.status("Moved", &format!("tenant {tenant} from host {from} to host {to}"));
    let file = ctx.tenants.location(tenant.as_str());
    if to.as_str() != ctx.settings.host && ctx.tenants.exists(tenant.as_str()) {
        reporter.warning(&format!("the tenant's file stays at `{file}`: copy it to the data folder of host `{to}`"));
    } else if to.as_str() == ctx.settings.host && !ctx.tenants.exists(tenant.as_str()) {
        reporter.warning(&format!("the tenant's file is not here yet: copy it from host `{from}` to `{file}`"));
    }
    Ok(report)
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RemovedTenant {
    pub name: String,
    /// Where the tenant file went; `None` when purged.
    pub archive: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct TenantRemoveReport {
    pub removed: Vec<RemovedTenant>,
}

pub fn remove(ctx: &Context, tenants: &[TenantName], purge: bool, reporter: &dyn Reporter) -> Result<TenantRemoveReport> {
    for tenant in tenants {
        ctx.require_tenant(tenant)?;
    }
    let mut report = TenantRemoveReport::default();
    for tenant in tenants {
        let _lock = ctx.lock_tenant(tenant.as_str(), reporter)?;
        recover::recover_tenant(ctx, tenant.as_str(), reporter)?;
        let stamp = ctx.clock.file_stamp();
        let archive: Option<Kept> = (!purge).then(|| ctx.tenants.place(tenant.as_str(), KeepFor::RemovedTenant { stamp: &stamp }));
        // The file first: a crash after it leaves a landlord row that a second
        // `tenant remove` clears; the other order could orphan a file with modules in it.
        ctx.tenants.retire(tenant.as_str(), archive.as_ref())?;
        ctx.landlord.commit(&change::remove_tenant(tenant.as_str(), archive.as_ref().map(Kept::reference), &ctx.now()))?;
        match &archive {
            Some(kept) => reporter.status("Removed", &format!("tenant {tenant} (its file is kept at {kept})")),
            None => reporter.status("Purged", &format!("tenant {tenant}")),
        }
        report.removed.push(RemovedTenant { name: tenant.to_string(), archive: archive.map(|a| a.reference().to_string()) });
    }
    Ok(report)
}
