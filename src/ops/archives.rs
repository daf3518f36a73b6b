//! `modreg archives list [--tenant T]` and `modreg archives prune --older-than AGE
//! [--dry-run]`: the files modreg keeps beside the tenant files (uninstall archives,
//! pre-upgrade copies, removed tenants' files), each with its size on disk, what it
//! holds and whether `install --restore` would bring it back; and deleting those kept
//! longer than an age. A pruned file's landlord record stays, marked forgotten, as its
//! trace. On a landlord that hosts share, a file lives in the data folder of its
//! tenant's home host: this host neither measures nor deletes another host's files.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use crate::domain::Result;
use crate::domain::change::{Change, FileKind};
use crate::domain::name::TenantName;
use crate::ops::{Context, Reporter, unknown_tenant};
use crate::store::clock::{format_time, parse_time};
use crate::store::{ArchiveRecord, ArchiveSummary, Kept, TenantRecord};

/// Where a kept file is, as this host sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// In this host's data folder.
    Present,
    /// Gone from where it was kept (deleted by hand, or by a prune that stopped early).
    Missing,
    /// In another host's data folder, on a landlord that hosts share.
    Elsewhere,
}

/// A kept file, as `archives list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeptFile {
    #[serde(flatten)]
    pub record: ArchiveRecord,
    pub file: FileState,
    /// The host that holds it, when that is another host (and known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Its size on disk, when it is here.
    pub size_bytes: Option<u64>,
    /// What a module's archive or pre-upgrade copy holds: the module's version, tables,
    /// rows and flags.
    pub holds: Option<ArchiveSummary>,
    /// Why what it holds could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// This is what `modreg install --restore MODULE --tenant T` would bring back now:
    /// the newest uninstall archive here of a module the tenant does not have.
    pub restore: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ArchivesReport {
    /// By tenant, newest first within each.
    pub archives: Vec<KeptFile>,
    /// The sizes of the files here, added up.
    pub total_bytes: u64,
}

/// Every kept file that is not forgotten, or one tenant's (also a removed tenant's).
pub fn list(ctx: &Context, tenant: Option<&TenantName>) -> Result<ArchivesReport> {
    let records = match tenant {
        Some(tenant) => {
            let records = ctx.landlord.archives(tenant.as_str(), None, None)?;
            if records.is_empty() && ctx.landlord.tenant(tenant.as_str())?.is_none() {
                return Err(unknown_tenant(tenant.as_str(), ctx.landlord.tenants()?.iter().map(|t| t.name.as_str())));
            }
            records
        }
        None => ctx.landlord.archives_everywhere()?,
    };
    let archives = examine(ctx, records, true)?;
    let total_bytes = archives.iter().filter_map(|a| a.size_bytes).sum();
    Ok(ArchivesReport { archives, total_bytes })
}

/// Looks at each kept file (newest first within a tenant, as the landlord lists them):
/// where it is and its size, what it holds when `read`, and whether restore would use it.
pub(crate) fn examine(ctx: &Context, records: Vec<ArchiveRecord>, read: bool) -> Result<Vec<KeptFile>> {
    let tenants: HashMap<String, TenantRecord> = ctx.landlord.tenants()?.into_iter().map(|t| (t.name.clone(), t)).collect();
    let installed: BTreeSet<(String, String)> = ctx.landlord.installed_everywhere()?.into_iter().map(|m| (m.tenant, m.module)).collect();
    // Tenant and module pairs whose newest archive here is already seen: restore takes
    // that one, as `install` does.
    let mut newest_seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut files = Vec::with_capacity(records.len());
    for record in records {
        let tenant = tenants.get(&record.tenant);
        let other_home = tenant.and_then(|t| t.host.as_ref()).filter(|home| ctx.pinned && **home != ctx.settings.host);
        let kept = Kept::new(&record.path);
        let (file, host, size_bytes) = match (other_home, ctx.tenants.kept_size(&kept)) {
            (Some(home), _) => (FileState::Elsewhere, Some(home.clone()), None),
            (None, Some(size)) => (FileState::Present, None, Some(size)),
            // A removed tenant's home is not recorded: its file may be on any host.
            (None, _) if ctx.pinned && tenant.is_none() => (FileState::Elsewhere, None, None),
            (None, _) => (FileState::Missing, None, None),
        };
        let module_file = record.kind != FileKind::Tenant.as_str();
        let (holds, problem) = if read && module_file && file == FileState::Present {
            match ctx.tenants.read_archive(&kept) {
                Ok(summary) => (Some(summary), None),
                Err(e) => (None, Some(e.message)),
            }
        } else {
            (None, None)
        };
        let restore = record.kind == FileKind::Uninstall.as_str()
            && file == FileState::Present
            && tenant.is_some()
            && record.module.as_ref().is_some_and(|module| {
                let key = (record.tenant.clone(), module.clone());
                !installed.contains(&key) && newest_seen.insert(key)
            });
        files.push(KeptFile { record, file, host, size_bytes, holds, problem, restore });
    }
    Ok(files)
}

#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Files kept longer than this go.
    pub older_than: Duration,
    pub dry_run: bool,
}

/// A file that was old enough but could not be deleted; it stays listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PruneFailure {
    pub id: i64,
    pub path: String,
    pub error: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PruneReport {
    /// Files kept since before this time go; none when the age reaches past the calendar.
    pub before: Option<String>,
    pub dry_run: bool,
    /// What was deleted from disk (or already gone) and forgotten; on a dry run, what
    /// would be.
    pub pruned: Vec<KeptFile>,
    pub freed_bytes: u64,
    /// Old enough, but in another host's data folder: that host prunes them.
    pub elsewhere: usize,
    pub failed: Vec<PruneFailure>,
}

/// Deletes the kept files older than `older_than` (a tenant's under its lock, so that no
/// restore or revert of it reads one meanwhile) and marks them forgotten, a tenant at a
/// time: a prune that stops halfway leaves only files already gone, which the next one
/// forgets.
pub fn prune(ctx: &Context, options: &PruneOptions, reporter: &dyn Reporter) -> Result<PruneReport> {
    let before = time::Duration::try_from(options.older_than).ok().and_then(|age| ctx.clock.now().checked_sub(age));
    let old: Vec<ArchiveRecord> = match before {
        Some(before) => {
            ctx.landlord.archives_everywhere()?.into_iter().filter(|r| parse_time(&r.created_at).is_some_and(|at| at < before)).collect()
        }
        None => Vec::new(),
    };
    let (elsewhere, here): (Vec<KeptFile>, Vec<KeptFile>) =
        examine(ctx, old, false)?.into_iter().partition(|f| f.file == FileState::Elsewhere);
    let mut report = PruneReport {
        before: before.map(format_time),
        dry_run: options.dry_run,
        pruned: Vec::new(),
        freed_bytes: 0,
        elsewhere: elsewhere.len(),
        failed: Vec::new(),
    };
    if options.dry_run {
        report.freed_bytes = here.iter().filter_map(|f| f.size_bytes).sum();
        report.pruned = here;
        return Ok(report);
    }
    let mut by_tenant: BTreeMap<String, Vec<KeptFile>> = BTreeMap::new();
    for file in here {
        by_tenant.entry(file.record.tenant.clone()).or_default().push(file);
    }
    for (tenant, files) in by_tenant {
        let _lock = match ctx.landlord.tenant(&tenant)? {
            Some(_) => Some(ctx.lock_tenant(&tenant, reporter)?),
            None => None,
        };
        let mut forgotten = Vec::new();
        for file in files {
            if let Err(e) = ctx.tenants.discard_kept(&Kept::new(&file.record.path)) {
                report.failed.push(PruneFailure { id: file.record.id, path: file.record.path.clone(), error: e.message });
                continue;
            }
            forgotten.push(file.record.id);
            report.freed_bytes += file.size_bytes.unwrap_or(0);
            report.pruned.push(file);
        }
        if !forgotten.is_empty() {
            ctx.landlord.commit(&[Change::ForgetFiles { ids: forgotten, at: ctx.now() }])?;
        }
    }
    Ok(report)
}
