//! `modreg tenant add T…`, `tenant list`, `tenant remove T… [--purge]`. Every name is
//! checked before any file is touched; removal archives the tenant file unless purged.

use std::path::PathBuf;

use crate::domain::change::{self, Commit};
use crate::domain::name::TenantName;
use crate::domain::{Error, Result};
use crate::ops::{Context, Reporter, recover};
use crate::store::TenantRecord;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TenantAddReport {
    pub added: Vec<String>,
    /// Already registered: left as they were.
    pub existing: Vec<String>,
}

pub fn add(ctx: &Context, tenants: &[TenantName], reporter: &dyn Reporter) -> Result<TenantAddReport> {
    for tenant in tenants {
        if ctx.tenants.exists(tenant.as_str()) && ctx.landlord.tenant(tenant.as_str())?.is_none() {
            return Err(Error::invalid(format!(
                "a database file for tenant `{tenant}` already exists at `{}`, but the landlord does not know the tenant",
                ctx.tenants.path(tenant.as_str()).display()
            ))
            .with_hint("move the file away (or remove it) and add the tenant again"));
        }
    }
    let mut report = TenantAddReport::default();
    for tenant in tenants {
        // Under the tenant's lock, so that a `tenant remove` of the same name cannot
        // interleave; this also creates the lock file that every later command takes.
        let _lock = ctx.lock_tenant(tenant.as_str(), reporter)?;
        let added = ctx.landlord.tenant(tenant.as_str())?.is_none()
            && ctx.landlord.commit(&change::add_tenant(tenant.as_str(), &ctx.now()))? == Commit::Done;
        if !ctx.tenants.exists(tenant.as_str()) {
            ctx.tenants.create(tenant.as_str())?;
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

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TenantListReport {
    pub tenants: Vec<TenantRecord>,
}

pub fn list(ctx: &Context) -> Result<TenantListReport> {
    Ok(TenantListReport { tenants: ctx.landlord.tenants()? })
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RemovedTenant {
    pub name: String,
    /// Where the tenant file went; `None` when purged.
    pub archive: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
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
        let archive: Option<PathBuf> = (!purge)
            .then(|| ctx.settings.data_dir.join("archive").join(tenant.as_str()).join(format!("tenant-{}.db", ctx.clock.file_stamp())));
        // The file first: a crash after it leaves a landlord row that a second
        // `tenant remove` clears; the other order could orphan a file with modules in it.
        ctx.tenants.retire(tenant.as_str(), archive.as_deref())?;
        let archived = archive.as_ref().map(|a| a.display().to_string());
        ctx.landlord.commit(&change::remove_tenant(tenant.as_str(), archived.as_deref(), &ctx.now()))?;
        match &archive {
            Some(path) => reporter.status("Removed", &format!("tenant {tenant} (its file is kept at {})", path.display())),
            None => reporter.status("Purged", &format!("tenant {tenant}")),
        }
        report.removed.push(RemovedTenant { name: tenant.to_string(), archive: archive.map(|a| a.display().to_string()) });
    }
    Ok(report)
}
