//! `modreg doctor --rebuild-landlord`: a landlord that was lost (deleted, or too damaged
//! to open, with no backup to put back) rebuilt from what this host's tenant files
//! record. Each file gives its tenant (when it was added, at home on this host), the
//! modules it has with their versions, enabled state and flags, and one entry of version
//! history each (the version it has since when); the modules folder gives the catalog's
//! stored copies of the versions it still has; the `archive` and `copies` folders give
//! the records of the files kept there. What no tenant file records is lost, and the
//! report says so: jobs, events, subscriptions, API tokens, earlier version history, event
//! cursors.
//!
//! It is for a lost landlord only: refused while the landlord has tenants (on a landlord
//! that hosts share, tenants of this host or of a name a file here has, so that hosts
//! can rebuild theirs one after another), and it holds every tenant's lock while it
//! works. A file that an older modreg wrote and no command touched since does not record
//! enabled state and flags: such a module is taken as enabled with its version's default
//! flags, and the report lists it.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::catalog::Catalog;
use crate::domain::change::{Change, Commit, FileKind};
use crate::domain::name::TenantName;
use crate::domain::recorded::{self, RecordedFlag, RecordedModule};
use crate::domain::{Error, Result};
use crate::ops::catalog::{load_catalog, module_version};
use crate::ops::fleet::each_tenant;
use crate::ops::restore_landlord::lock_every_tenant;
use crate::ops::{Context, Reporter, Settings};
use crate::store::{TenantFileCheck, TenantRecords};

/// What no tenant file records: lost with the landlord.
pub const LOST: [&str; 7] = [
    "jobs, their steps and hook output (`jobs list` starts empty; `revert JOB` cannot name the upgrades before)",
    "events (ids start again from 1: a consumer that follows `events --after N` must start over from 0)",
    "subscriptions (grant them again with `modreg subscription grant`)",
    "API tokens (create them again with `modreg token create`, and give the new ones to their clients)",
    "version history before the rebuild (each module has one entry: the version it has, since when)",
    "event delivery cursors (`MODREG_EVENT_COMMAND` starts from the first event)",
    "tenants whose files are not in this host's tenants folder",
];

/// A tenant registered again from its file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RebuiltTenant {
    pub name: String,
    pub created_at: String,
    pub modules: usize,
    pub flags: usize,
    /// Its modules that are disabled.
    pub disabled: Vec<String>,
}

/// A tenant file nothing was rebuilt from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NotRebuilt {
    pub tenant: String,
    pub reason: String,
}

/// What a tenant file (written by an older modreg) does not record, and what the
/// rebuilt landlord assumes instead.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Assumed {
    pub tenant: String,
    /// None: the tenant itself (when it was added).
    pub module: Option<String>,
    pub assumed: String,
}

/// A version, and the tenants that have it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HeldVersion {
    pub module: String,
    pub version: String,
    pub tenants: Vec<String>,
}

/// A module a tenant has that needs a subscription, which the lost landlord held.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ToGrant {
    pub tenant: String,
    pub module: String,
}

/// Something rebuilt that needs a look.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RebuildWarning {
    pub tenant: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RebuildReport {
    pub tenants: Vec<RebuiltTenant>,
    pub not_rebuilt: Vec<NotRebuilt>,
    pub assumed: Vec<Assumed>,
    /// Versions of the modules folder, recorded in the catalog.
    pub recorded_versions: usize,
    /// Versions tenants have that the modules folder no longer has: the landlord has no
    /// copy of them either.
    pub missing_versions: Vec<HeldVersion>,
    /// Versions whose content in the modules folder is not what the tenants installed
    /// (their files recorded another checksum): recorded as found.
    pub changed_versions: Vec<HeldVersion>,
    /// Kept files found in the `archive` and `copies` folders, recorded again.
    pub kept_files: usize,
    pub subscriptions: Vec<ToGrant>,
    pub warnings: Vec<RebuildWarning>,
    /// What no tenant file records, lost with the landlord.
    pub lost: Vec<&'static str>,
}

/// Rebuilds a lost landlord (`settings` say where: the data folder's, created when
/// missing, or an empty PostgreSQL database) from this host's tenant files.
pub fn rebuild_landlord(settings: &Settings, reporter: &dyn Reporter) -> Result<RebuildReport> {
    let ctx = Context::open(settings.clone()).map_err(|e| match settings.landlord_url {
        None => e.with_hint(format!(
            "to rebuild a landlord too damaged to open, move `{}` aside first",
            settings.data_dir.join("landlord.db").display()
        )),
        Some(_) => e,
    })?;
    let names = ctx.tenants.names()?;
    refuse_a_landlord_with_tenants(&ctx, &names)?;
    let _locks = lock_every_tenant(ctx.tenants.as_ref(), None)?;
    let tenants = names.iter().map(|n| TenantName::parse(n).map_err(Error::from)).collect::<Result<Vec<_>>>()?;
    let checks = each_tenant(&tenants, ctx.settings.jobs, reporter, |t| ctx.tenants.check(t.as_str()), |c| (c.is_ok(), false), || false);
    let mut report = RebuildReport { lost: LOST.to_vec(), ..RebuildReport::default() };
    let mut readable: Vec<(String, TenantRecords)> = Vec::new();
    for (tenant, check) in tenants.iter().zip(checks) {
        let tenant = tenant.to_string();
        match check {
            Some(Ok(TenantFileCheck { integrity, records: Ok(records), .. })) => {
                if !integrity.is_empty() {
                    report.warnings.push(RebuildWarning {
                        tenant: tenant.clone(),
                        message: "its file is damaged: rebuilt from what it still records; `modreg doctor` says more".into(),
                    });
                }
                readable.push((tenant, records));
            }
            Some(Ok(TenantFileCheck { records: Err(e), .. })) | Some(Err(e)) => {
                report.not_rebuilt.push(NotRebuilt { tenant, reason: e.message });
            }
            None => report.not_rebuilt.push(NotRebuilt { tenant, reason: "not checked".into() }),
        }
    }
    let loaded = load_catalog(&ctx, reporter)?;
    report.recorded_versions = loaded.catalog.iter().count();
    versions_held(&ctx, &loaded.catalog, &readable, &mut report)?;
    let now = ctx.now();
    for (tenant, records) in &readable {
        if ctx.tenants.checkpoint(tenant) != crate::store::Checkpoint::None {
            report.warnings.push(RebuildWarning {
                tenant: tenant.clone(),
                message: "a job that was interrupted left a rollback copy beside its file: rebuilt from the file as it is; \
                          `modreg recover` removes the copy"
                    .into(),
            });
        }
        let (created_at, modules) = recorded_tenant(&ctx, &loaded.catalog, tenant, records, &now, &mut report)?;
        let file = ctx.tenants.location(tenant);
        let changes = recorded::rebuild_tenant(tenant, ctx.pinned_to_host(), &created_at, &modules, &file, &now);
        if ctx.landlord.commit(&changes)? != Commit::Done {
            report.not_rebuilt.push(NotRebuilt { tenant: tenant.clone(), reason: "another process added the tenant meanwhile".into() });
            continue;
        }
        report.tenants.push(RebuiltTenant {
            name: tenant.clone(),
            created_at,
            modules: modules.len(),
            flags: modules.iter().map(|m| m.flags.len()).sum(),
            disabled: modules.iter().filter(|m| !m.enabled).map(|m| m.module.clone()).collect(),
        });
    }
    let kept = kept_files(&ctx, &now)?;
    report.kept_files = kept.len();
    if !kept.is_empty() {
        ctx.landlord.commit(&kept)?;
    }
    report.not_rebuilt.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    Ok(report)
}

/// Refuses a landlord that still has tenants: rebuilding is for one that was lost. On a
/// landlord that hosts share, only tenants of this host, or named as a file here, count.
fn refuse_a_landlord_with_tenants(ctx: &Context, files: &[String]) -> Result<()> {
    let here: BTreeSet<&str> = files.iter().map(String::as_str).collect();
    let blocking: Vec<String> = ctx
        .landlord
        .tenants()?
        .into_iter()
        .filter(|t| !ctx.stores.pinned || ctx.require_home(t).is_ok() || here.contains(t.name.as_str()))
        .map(|t| format!("`{}`", t.name))
        .collect();
    if blocking.is_empty() {
        return Ok(());
    }
    let shown = if blocking.len() > 3 { format!("{}…", blocking[..3].join(", ")) } else { blocking.join(", ") };
    let hint = match ctx.settings.landlord_url {
        None => format!(
            "it is for a landlord that was lost; if this one is damaged or behind, put back a backup: `modreg restore-landlord BACKUP/landlord.db`; \
             to rebuild anyway, move `{}` aside first",
            ctx.settings.data_dir.join("landlord.db").display()
        ),
        Some(_) => "it is for a landlord that was lost; if this one is behind, restore its `pg_dump`; to rebuild anyway, \
                    point `--landlord` at an empty database"
            .to_string(),
    };
    Err(Error::invalid(format!("the landlord still has {} tenant(s) ({shown}): it is not rebuilt over them", blocking.len()))
        .with_hint(hint))
}

/// The tenant's modules as its file records them, and when it was added; what the file
/// does not record is assumed and said in `report`.
fn recorded_tenant(
    ctx: &Context,
    catalog: &Catalog,
    tenant: &str,
    records: &TenantRecords,
    now: &str,
    report: &mut RebuildReport,
) -> Result<(String, Vec<RecordedModule>)> {
    let mut assumed = |module: Option<&str>, what: String| {
        report.assumed.push(Assumed { tenant: tenant.to_string(), module: module.map(str::to_string), assumed: what })
    };
    let created_at = match &records.created_at {
        Some(at) => at.clone(),
        None => {
            let first = records.modules.values().map(|m| m.installed_at.clone()).min().unwrap_or_else(|| now.to_string());
            assumed(None, format!("added at {first}, when its first module was installed (or now)"));
            first
        }
    };
    let mut modules = Vec::new();
    for (name, record) in &records.modules {
        let definition = module_version(ctx, catalog, name, &record.version)?;
        if definition.as_ref().is_some_and(|d| d.manifest.requires_subscription) {
            report.subscriptions.push(ToGrant { tenant: tenant.to_string(), module: name.clone() });
        }
        let (enabled, updated_at, flags) = match records.enabled.get(name) {
            Some(state) => {
                let flags = records.flags.get(name).into_iter().flatten();
                let flags = flags.map(|f| RecordedFlag { flag: f.flag.clone(), value: f.value, at: f.updated_at.clone() }).collect();
                (state.enabled, state.updated_at.clone().max(record.updated_at.clone()), flags)
            }
            None => {
                let defaults: Vec<RecordedFlag> = definition
                    .iter()
                    .flat_map(|d| d.manifest.features.iter())
                    .map(|(flag, value)| RecordedFlag { flag: flag.to_string(), value: *value, at: record.installed_at.clone() })
                    .collect();
                let flags = match definition {
                    Some(_) => "the default flags of its version",
                    None => "no flags (its version is gone, so its defaults are unknown)",
                };
                assumed(Some(name), format!("enabled, with {flags}"));
                (true, record.updated_at.clone(), defaults)
            }
        };
        modules.push(RecordedModule {
            module: name.clone(),
            version: record.version.clone(),
            enabled,
            installed_at: record.installed_at.clone(),
            version_at: record.updated_at.clone(),
            updated_at,
            flags,
        });
    }
    Ok((created_at, modules))
}

/// The versions tenants have that the modules folder no longer has, and those whose
/// content there is not what the tenants installed.
fn versions_held(ctx: &Context, catalog: &Catalog, readable: &[(String, TenantRecords)], report: &mut RebuildReport) -> Result<()> {
    let mut missing: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut changed: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (tenant, records) in readable {
        for (module, record) in &records.modules {
            let key = (module.clone(), record.version.clone());
            match module_version(ctx, catalog, module, &record.version)? {
                None => missing.entry(key).or_default().push(tenant.clone()),
                Some(found) if found.checksum != record.checksum => changed.entry(key).or_default().push(tenant.clone()),
                Some(_) => {}
            }
        }
    }
    let held = |map: BTreeMap<(String, String), Vec<String>>| {
        map.into_iter().map(|((module, version), tenants)| HeldVersion { module, version, tenants }).collect()
    };
    report.missing_versions = held(missing);
    report.changed_versions = held(changed);
    Ok(())
}

/// Records of what the tenant store keeps aside: uninstall archives and pre-upgrade
/// copies (what module and version each holds, read from it), and removed tenants' data.
/// Half-written items are not.
fn kept_files(ctx: &Context, now: &str) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for item in ctx.tenants.kept_here(None, &[])? {
        if item.partial || TenantName::parse(&item.tenant).is_err() {
            continue;
        }
        let (module, version) = match item.kind {
            FileKind::Tenant => (None, None),
            _ => {
                let Ok(summary) = ctx.tenants.read_archive(&item.kept) else { continue };
                (Some(summary.module), Some(summary.version))
            }
        };
        changes.push(Change::KeepFile {
            tenant: item.tenant,
            module,
            version,
            kind: item.kind,
            path: item.kept.reference().to_string(),
            job: None,
            at: item.written_at.unwrap_or_else(|| now.to_string()),
        });
    }
    Ok(changes)
}
