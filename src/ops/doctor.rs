//! `modreg doctor [--tenant T…]`: checks everything it can without changing anything,
//! and says of each problem how bad it is and which command fixes it.
//!
//! It reads in layers, each of use without the next: the landlord's file (SQLite only:
//! `integrity_check`, `foreign_key_check`), the tenant files on disk (read-only, in
//! parallel: their integrity and what they record about themselves, `TenantRecords`),
//! and the landlord's records (opened read-only), which the tenant files, the kept files
//! and the catalog are held to. A landlord that cannot be opened is a finding, not the
//! end: the tenant files are still checked, and what they record is what a landlord
//! rebuilt from them is made of (`--rebuild-landlord`, in `ops::rebuild_landlord`, starts
//! from `store::TenantRecords` where this stops at comparing: so they agree on enabled
//! state and flags too). On a landlord that hosts share, only this host's tenants are
//! checked.

mod files;
mod settings;
mod tenant;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::domain::catalog::Catalog;
use crate::domain::job::Job;
use crate::domain::name::TenantName;
use crate::domain::{Error, ErrorKind, Result};
use crate::ops::fleet::each_tenant;
use crate::ops::{Context, Reporter, Settings, unknown_tenant};
use crate::store::clock::SystemClock;
use crate::store::{self, ArchiveRecord, InstalledModule, LandlordAccess, LandlordFile, TenantFiles, TenantRecord};

#[derive(Debug, Clone, Default)]
pub struct DoctorOptions {
    /// Only these tenants (empty: every tenant of this host, and every tenant file here).
    pub tenants: Vec<TenantName>,
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Something is wrong or lost: commands will fail, or have already lost track.
    Error,
    /// Something is left over or odd, and worth a look.
    Warning,
}

/// One problem, with what fixes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// The tenant it concerns, if one.
    pub tenant: Option<String>,
    /// Which check found it: `landlord.integrity`, `tenant.modules`, `archives.missing`…
    pub check: &'static str,
    pub message: String,
    /// The command that fixes it (or the steps, where it takes several).
    pub fix: String,
}

impl Finding {
    fn new(severity: Severity, tenant: Option<&str>, check: &'static str, message: String, fix: impl Into<String>) -> Finding {
        Finding { severity, tenant: tenant.map(str::to_string), check, message, fix: fix.into() }
    }

    fn error(tenant: Option<&str>, check: &'static str, message: String, fix: impl Into<String>) -> Finding {
        Finding::new(Severity::Error, tenant, check, message, fix)
    }

    fn warning(tenant: Option<&str>, check: &'static str, message: String, fix: impl Into<String>) -> Finding {
        Finding::new(Severity::Warning, tenant, check, message, fix)
    }

    /// A file that could not be checked (`check`, fixed by `fix`), unless it is the disk
    /// that could not be used (full, failing): then `storage.unavailable`, fixed by
    /// freeing space and looking again; never a copy of a backup over a file that may
    /// well be sound, which would lose everything since the backup.
    fn unreadable(tenant: Option<&str>, check: &'static str, e: Error, fix: impl Into<String>) -> Finding {
        if e.storage_unavailable() {
            return Finding::error(tenant, UNAVAILABLE, e.message, FREE_SPACE);
        }
        Finding::error(tenant, check, e.message, fix)
    }
}

/// The check of a file whose disk could not be read or written.
pub const UNAVAILABLE: &str = "storage.unavailable";

const FREE_SPACE: &str = "free space on that disk (or see the system log for a failing one), then run `modreg doctor` again; \
                          the file is not known to be damaged: do not copy a backup over it";

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Checked {
    /// Tenants whose files (or missing files) were checked.
    pub tenants: usize,
    /// Tenants another process was working on: only their files' integrity was
    /// checked, since the landlord and the file may differ until its job ends.
    pub in_progress: Vec<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DoctorReport {
    /// Nothing was found.
    pub healthy: bool,
    /// Errors first, then by tenant.
    pub findings: Vec<Finding>,
    pub checked: Checked,
}

impl DoctorReport {
    pub fn count(&self, severity: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == severity).count()
    }
}

/// What the fix of a damaged landlord is.
const RESTORE_LANDLORD: &str = "put back the newest backup: `modreg restore-landlord BACKUP/landlord.db` (made by `modreg backup BACKUP`)";

/// What the landlord says, read once.
struct Landlord {
    tenants: BTreeMap<String, TenantRecord>,
    installed: BTreeMap<String, Vec<InstalledModule>>,
    unfinished: BTreeMap<String, Vec<Job>>,
    archives: Vec<ArchiveRecord>,
}

impl Landlord {
    fn read(ctx: &Context) -> Result<Landlord> {
        let tenants = ctx.landlord.tenants()?.into_iter().map(|t| (t.name.clone(), t)).collect();
        let mut installed: BTreeMap<String, Vec<InstalledModule>> = BTreeMap::new();
        for m in ctx.landlord.installed_everywhere()? {
            installed.entry(m.tenant.clone()).or_default().push(m);
        }
        let mut unfinished = BTreeMap::new();
        for tenant in ctx.landlord.tenants_with_unfinished_jobs()? {
            let jobs = ctx.landlord.unfinished_jobs(&tenant)?;
            unfinished.insert(tenant, jobs);
        }
        Ok(Landlord { tenants, installed, unfinished, archives: ctx.landlord.archives_everywhere()? })
    }
}

/// Checks the landlord, the tenant files and the kept files, changing nothing.
pub fn doctor(settings: &Settings, options: &DoctorOptions, reporter: &dyn Reporter) -> Result<DoctorReport> {
    let config = settings.store_config(LandlordAccess::ReadOnly);
    let mut findings = Vec::new();
    let file = store::landlord_file(&config);
    let file_readable = file.as_deref().is_none_or(|file| check_landlord_file(file, &mut findings));
    let (ctx, tenant_files): (Option<Context>, Arc<dyn TenantFiles>) = match store::open(&config) {
        Ok(stores) => {
            let files = stores.tenants.clone();
            (Some(Context::new(stores, settings.clone())), files)
        }
        Err(e) => {
            let files = store::tenant_files(&config, Arc::new(SystemClock), Arc::new(store::interrupt::ProcessSignals))?;
            if e.kind == ErrorKind::NotFound && files.names()?.is_empty() {
                return Err(e);
            }
            if file_readable {
                findings.push(Finding::unreadable(None, "landlord.open", e, RESTORE_LANDLORD));
            }
            (None, files)
        }
    };
    let landlord = match ctx.as_ref().map(Landlord::read) {
        Some(Ok(landlord)) => Some(landlord),
        Some(Err(_)) if !file_readable => None,
        Some(Err(e)) => {
            findings.push(Finding::unreadable(None, "landlord.read", e.context("cannot read the landlord's records"), RESTORE_LANDLORD));
            None
        }
        None => None,
    };
    let on_disk: BTreeSet<String> = tenant_files.names()?.into_iter().collect();
    let (selected, elsewhere) = select(ctx.as_ref(), landlord.as_ref(), &on_disk, options)?;
    findings.extend(elsewhere);

    let catalog = ctx.as_ref().map(|ctx| Catalog::new(ctx.modules.discover().versions).0).unwrap_or_default();
    let view = tenant::View { ctx: ctx.as_ref(), files: tenant_files.as_ref(), landlord: landlord.as_ref(), catalog: &catalog };
    let jobs = settings.jobs;
    let results = each_tenant(&selected, jobs, reporter, |t| view.check(t), |r| (r.findings.is_empty(), false), || false);
    let mut checked = Checked { tenants: selected.len(), in_progress: Vec::new() };
    for (result, name) in results.into_iter().zip(&selected) {
        let Some(result) = result else { continue };
        if result.in_progress {
            checked.in_progress.push(name.to_string());
        }
        findings.extend(result.findings);
    }
    if let (Some(ctx), Some(landlord)) = (ctx.as_ref(), landlord.as_ref()) {
        let names: BTreeSet<&str> = selected.iter().map(TenantName::as_str).collect();
        findings.extend(view.missing_versions(&names)?);
        let only = (!options.tenants.is_empty()).then_some(&names);
        findings.extend(files::kept_files(ctx, landlord, only)?);
    }
    findings.sort_by(|a, b| (a.severity, &a.tenant, a.check).cmp(&(b.severity, &b.tenant, b.check)));
    Ok(DoctorReport { healthy: findings.is_empty(), findings, checked })
}

/// Checks the landlord's file; false when it cannot be read at all (a finding says so).
fn check_landlord_file(file: &dyn LandlordFile, findings: &mut Vec<Finding>) -> bool {
    let shown = file.path().display();
    match file.integrity() {
        Ok(problems) if problems.is_empty() => {}
        Ok(problems) => {
            findings.push(Finding::error(
                None,
                "landlord.integrity",
                format!("the landlord `{shown}` is damaged: {}", problems_text(&problems)),
                RESTORE_LANDLORD,
            ));
            return true;
        }
        Err(e) if e.kind == ErrorKind::NotFound => return true,
        Err(e) => {
            findings.push(Finding::unreadable(None, "landlord.integrity", e, RESTORE_LANDLORD));
            return false;
        }
    }
    match file.foreign_keys() {
        Ok(problems) if problems.is_empty() => {}
        Ok(problems) => findings.push(Finding::error(
            None,
            "landlord.foreign_keys",
            format!("the landlord `{shown}` has records that refer to nothing: {}", problems_text(&problems)),
            RESTORE_LANDLORD,
        )),
        Err(e) => findings.push(Finding::unreadable(None, "landlord.foreign_keys", e, RESTORE_LANDLORD)),
    }
    true
}

/// What `integrity_check` and `foreign_key_check` said, shortened: the count and the
/// first few.
fn problems_text(problems: &[String]) -> String {
    const SHOWN: usize = 3;
    let first = problems.iter().take(SHOWN).map(String::as_str).collect::<Vec<_>>().join("; ");
    match problems.len() {
        1 => first,
        n if n <= SHOWN => format!("{n} problems: {first}"),
        n => format!("{n} problems, first: {first}"),
    }
}

/// The tenants to check: the named ones, or every tenant of this host and every tenant
/// file here; and the files here of tenants that live on other hosts.
fn select(
    ctx: Option<&Context>,
    landlord: Option<&Landlord>,
    on_disk: &BTreeSet<String>,
    options: &DoctorOptions,
) -> Result<(Vec<TenantName>, Vec<Finding>)> {
    let registered = |name: &str| landlord.and_then(|l| l.tenants.get(name));
    let at_home = |record: &TenantRecord| ctx.is_none_or(|ctx| ctx.require_home(record).is_ok());
    if !options.tenants.is_empty() {
        for tenant in &options.tenants {
            match (registered(tenant.as_str()), ctx) {
                (Some(record), Some(ctx)) => ctx.require_home(record)?,
                _ if on_disk.contains(tenant.as_str()) => {}
                _ => {
                    let known = landlord.map(|l| l.tenants.keys().map(String::as_str).collect::<Vec<_>>()).unwrap_or_default();
                    return Err(unknown_tenant(tenant.as_str(), known));
                }
            }
        }
        return Ok((options.tenants.clone(), Vec::new()));
    }
    let mut names: BTreeSet<String> =
        landlord.map(|l| l.tenants.values().filter(|t| at_home(t)).map(|t| t.name.clone()).collect()).unwrap_or_default();
    let mut elsewhere = Vec::new();
    for name in on_disk {
        match registered(name) {
            Some(record) if !at_home(record) => {
                let home = record.host.as_deref().unwrap_or("another host");
                elsewhere.push(Finding::warning(
                    Some(name),
                    "tenant.elsewhere",
                    format!("tenant `{name}` lives on host `{home}`, but a file of it is still here"),
                    format!("delete this host's copy once host `{home}` has the file: `rm -- '{name}.db'` in the tenants folder"),
                ));
            }
            _ => {
                names.insert(name.clone());
            }
        }
    }
    let selected = names.iter().map(|n| TenantName::parse(n).map_err(Error::from)).collect::<Result<Vec<_>>>()?;
    Ok((selected, elsewhere))
}
