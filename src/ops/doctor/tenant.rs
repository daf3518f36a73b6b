//! One tenant's checks: its file's integrity, then whether the file and the landlord
//! agree on its modules, their versions, their migration histories and their objects;
//! and the installed versions that neither the modules folder nor the landlord has.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use crate::domain::catalog::Catalog;
use crate::domain::module::{Engine, ModuleVersion};
use crate::domain::name::TenantName;
use crate::domain::{ErrorKind, Result};
use crate::ops::Context;
use crate::ops::catalog::module_version;
use crate::ops::doctor::{Finding, Landlord, RESTORE_LANDLORD, problems_text, settings};
use crate::store::{Checkpoint, InstalledModule, TenantFiles, TenantRecords};

/// What every tenant's check reads from.
pub(super) struct View<'a> {
    pub ctx: Option<&'a Context>,
    pub files: &'a dyn TenantFiles,
    /// What the landlord says, when it could be read.
    pub landlord: Option<&'a Landlord>,
    /// The modules folder.
    pub catalog: &'a Catalog,
}

/// One tenant's findings.
pub(super) struct TenantResult {
    pub findings: Vec<Finding>,
    /// Another process held the tenant: only its file's integrity was checked.
    pub in_progress: bool,
}

/// How a tenant's database is put back from `modreg backup BACKUP --tenants`, on the
/// engine that holds it.
fn restore_file(engine: Engine, tenant: &str) -> String {
    match engine {
        Engine::Sqlite => format!(
            "put the file back from a backup while no command works on the tenant: copy `BACKUP/tenants/{tenant}.db` \
             (made by `modreg backup BACKUP --tenants`) over it"
        ),
        Engine::Postgres => format!(
            "put the schema back from a backup while no command works on the tenant: \
             `pg_restore --clean --if-exists --dbname URL BACKUP/tenants/{tenant}.dump` (made by `modreg backup BACKUP --tenants`)"
        ),
    }
}

/// What a tenant's database is, in messages.
fn noun(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => "file",
        Engine::Postgres => "schema",
    }
}

/// `V3__payments`, as the files are named.
fn migration_name(version: i32, name: &str) -> String {
    format!("V{version}__{name}")
}

impl View<'_> {
    pub fn check(&self, tenant: &TenantName) -> TenantResult {
        let name = tenant.as_str();
        let mut result = TenantResult { findings: Vec::new(), in_progress: false };
        let registered = self.landlord.map(|l| l.tenants.contains_key(name));
        let location = self.files.location(name);
        let (engine, noun) = (self.files.engine(), noun(self.files.engine()));
        if !self.files.exists(name) {
            if registered == Some(true) {
                result.findings.push(Finding::error(
                    Some(name),
                    "tenant.missing_file",
                    format!("the {noun} of tenant `{name}` is missing: `{location}`"),
                    format!("{}; or `modreg tenant remove {name}` if the tenant is gone", restore_file(engine, name)),
                ));
            }
            return result;
        }
        // A lock another process holds: work on the tenant is under way (a probe, let go
        // at once; the kernel's lock is all it touches).
        result.in_progress = matches!(self.files.lock(name, Duration::ZERO), Err(e) if e.kind == ErrorKind::Busy);
        let check = match self.files.check(name) {
            Ok(check) => check,
            Err(e) => {
                result.findings.push(Finding::unreadable(Some(name), "tenant.integrity", e, restore_file(engine, name)));
                return result;
            }
        };
        if !check.integrity.is_empty() {
            let message = format!("the {noun} of tenant `{name}` (`{}`) is damaged: {}", location, problems_text(&check.integrity));
            result.findings.push(Finding::error(Some(name), "tenant.integrity", message, restore_file(engine, name)));
        }
        if !check.foreign_keys.is_empty() {
            result.findings.push(Finding::warning(
                Some(name),
                "tenant.foreign_keys",
                format!("rows of tenant `{name}` refer to rows that do not exist: {}", problems_text(&check.foreign_keys)),
                "correct or delete those rows (`PRAGMA foreign_key_check` in the tenant's file lists them)",
            ));
        }
        let Some(landlord) = self.landlord else { return result };
        if registered == Some(false) {
            result.findings.push(Finding::warning(
                Some(name),
                "tenant.unregistered",
                format!("`{}` is the {noun} of a tenant `{name}` that the landlord does not have", location),
                match engine {
                    Engine::Sqlite => "put back a landlord backup that has it (`modreg restore-landlord BACKUP/landlord.db`), or move the file out of the tenants folder if the tenant is gone",
                    Engine::Postgres => "put back a landlord backup that has it (`modreg restore-landlord BACKUP/landlord.db`), or, if the tenant is gone, drop its schema and its row in `_modreg.tenants`",
                },
            ));
            return result;
        }
        if result.in_progress {
            return result;
        }
        let unfinished = landlord.unfinished.get(name).map(Vec::as_slice).unwrap_or_default();
        if !unfinished.is_empty() {
            let ids = unfinished.iter().map(|j| j.id.to_string()).collect::<Vec<_>>().join(", ");
            result.findings.push(Finding::warning(
                Some(name),
                "jobs.unfinished",
                format!("tenant `{name}` has {} unfinished job(s) that a stopped process left: {ids}", unfinished.len()),
                "`modreg recover` (or any command on the tenant) completes or rolls them back",
            ));
        }
        if self.files.checkpoint(name) != Checkpoint::None {
            result.findings.push(Finding::warning(
                Some(name),
                "tenant.rollback_copy",
                format!("a rollback copy of tenant `{name}`'s file is left beside it by a job that did not finish"),
                "`modreg recover` puts it back or removes it",
            ));
        }
        let records = match &check.records {
            Ok(records) => records,
            Err(e) => {
                result.findings.push(Finding::unreadable(Some(name), "tenant.records", e.clone(), restore_file(engine, name)));
                return result;
            }
        };
        let installed = landlord.installed.get(name).map(Vec::as_slice).unwrap_or_default();
        result.findings.extend(agreement(name, records, installed, !unfinished.is_empty()));
        let flags = self.ctx.map(|ctx| ctx.landlord.flags(name, None)).transpose();
        match flags {
            Ok(flags) => {
                result.findings.extend(settings::compare(name, records, installed, &flags.unwrap_or_default(), !unfinished.is_empty()))
            }
            Err(e) => result.findings.push(Finding::unreadable(
                Some(name),
                "landlord.read",
                e.context(format!("cannot read the landlord's flags of tenant `{name}`")),
                RESTORE_LANDLORD,
            )),
        }
        result.findings.extend(self.history(name, records));
        result.findings.extend(objects(name, records));
        result
    }

    /// The version a tenant has, from the modules folder or the landlord's copy.
    fn version(&self, module: &str, version: &str) -> Result<Option<Arc<ModuleVersion>>> {
        match self.ctx {
            Some(ctx) => module_version(ctx, self.catalog, module, version),
            None => Ok(semver::Version::parse(version).ok().and_then(|v| self.catalog.get(module, &v)).cloned()),
        }
    }

    /// Each module's history against its version's migrations.
    fn history(&self, tenant: &str, records: &TenantRecords) -> Vec<Finding> {
        let mut findings = Vec::new();
        for (module, record) in &records.modules {
            let version = &record.version;
            // A version nobody has any more is `catalog.missing`'s to report.
            let Ok(Some(definition)) = self.version(module, version) else { continue };
            // The migrations of the engine the tenant databases run on.
            let (migrations, _) = definition.sql(self.files.engine()).unwrap_or((&[], &[]));
            let expected: BTreeSet<(i32, &str)> =
                migrations.iter().map(|m| (m.version, m.name.split_once("__").map_or(m.name.as_str(), |(_, n)| n))).collect();
            let applied: BTreeSet<(i32, &str)> =
                records.history.get(module).into_iter().flatten().map(|m| (m.version, m.name.as_str())).collect();
            let named = |set: Vec<&(i32, &str)>| set.iter().map(|(v, n)| migration_name(*v, n)).collect::<Vec<_>>().join(", ");
            let fix = format!(
                "uninstall it and install it again (`modreg uninstall {module} --tenant {tenant}`, then `modreg install {module} --tenant {tenant}`); its data is archived"
            );
            let missing: Vec<_> = expected.difference(&applied).collect();
            if !missing.is_empty() {
                let message = format!(
                    "tenant `{tenant}` has `{module} {version}`, but its file's migration history does not record {}",
                    named(missing)
                );
                findings.push(Finding::error(Some(tenant), "tenant.history", message, fix.clone()));
            }
            let extra: Vec<_> = applied.difference(&expected).collect();
            if !extra.is_empty() {
                let message = format!(
                    "the migration history of `{module}` in tenant `{tenant}`'s file records {}, which `{module} {version}` does not have",
                    named(extra)
                );
                findings.push(Finding::error(Some(tenant), "tenant.history", message, fix));
            }
        }
        for module in records.history.keys().filter(|m| !records.modules.contains_key(*m)) {
            findings.push(Finding::warning(
                Some(tenant),
                "tenant.history",
                format!("a migration history of module `{module}` is left in tenant `{tenant}`'s file, which does not record the module"),
                format!("drop the leftover table `_modreg_history_{module}` from the tenant's file"),
            ));
        }
        findings
    }
}

/// The fix of a difference between the landlord and a tenant file while the tenant has
/// unfinished jobs.
pub(super) const UNFINISHED_FIX: &str = "`modreg recover`: the tenant has unfinished jobs, which explain it until they end";

/// The landlord's modules and versions of a tenant against its file's.
fn agreement(tenant: &str, records: &TenantRecords, installed: &[InstalledModule], unfinished: bool) -> Vec<Finding> {
    let recover = || UNFINISHED_FIX.to_string();
    let in_landlord: BTreeMap<&str, &str> = installed.iter().map(|m| (m.module.as_str(), m.version.as_str())).collect();
    let mut findings = Vec::new();
    for (module, version) in &in_landlord {
        let (message, fix) = match records.modules.get(*module) {
            Some(found) if found.version == *version => continue,
            Some(found) => (
                format!("the landlord says tenant `{tenant}` has `{module} {version}`, but its file records `{module} {}`", found.version),
                "put back the tenant's file and the landlord from one backup (`modreg backup BACKUP --tenants`)".to_string(),
            ),
            None => (
                format!("the landlord says tenant `{tenant}` has `{module} {version}`, but its file has no record of it"),
                format!("make the landlord forget it, then install it again: `modreg uninstall {module} --tenant {tenant} --purge`"),
            ),
        };
        findings.push(Finding::error(Some(tenant), "tenant.modules", message, if unfinished { recover() } else { fix }));
    }
    for (module, record) in records.modules.iter().filter(|(m, _)| !in_landlord.contains_key(m.as_str())) {
        let message = format!("tenant `{tenant}`'s file records `{module} {}`, which the landlord does not list for it", record.version);
        let fix = "put back a landlord backup that lists it (`modreg restore-landlord BACKUP/landlord.db`)".to_string();
        findings.push(Finding::error(Some(tenant), "tenant.modules", message, if unfinished { recover() } else { fix }));
    }
    findings
}

/// Objects the file says modules own, against its schema.
fn objects(tenant: &str, records: &TenantRecords) -> Vec<Finding> {
    let mut missing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut orphans: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for object in &records.objects {
        let described = format!("{} `{}`", object.kind, object.name);
        if !records.modules.contains_key(&object.module) {
            orphans.entry(&object.module).or_default().push(described);
        } else if !object.present {
            missing.entry(&object.module).or_default().push(described);
        }
    }
    let mut findings = Vec::new();
    for (module, gone) in missing {
        findings.push(Finding::error(
            Some(tenant),
            "tenant.objects",
            format!("`{module}` owns {} in tenant `{tenant}`'s file, but the file has no such object", gone.join(", ")),
            format!("uninstall it and install it again: `modreg uninstall {module} --tenant {tenant}`, then `modreg install {module} --tenant {tenant}`"),
        ));
    }
    for (module, left) in orphans {
        findings.push(Finding::warning(
            Some(tenant),
            "tenant.objects",
            format!("tenant `{tenant}`'s file says {} belong to `{module}`, a module it does not record", left.join(", ")),
            "drop those objects if nothing uses them, and delete their rows from `_modreg_objects` in the tenant's file",
        ));
    }
    findings
}

impl View<'_> {
    /// Installed versions (of `tenants`) that neither the modules folder nor the landlord's
    /// copies have: they can no longer be upgraded from, reverted or recovered.
    pub fn missing_versions(&self, tenants: &BTreeSet<&str>) -> Result<Vec<Finding>> {
        let Some(landlord) = self.landlord else { return Ok(Vec::new()) };
        let mut holders: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
        for m in landlord.installed.values().flatten().filter(|m| tenants.contains(m.tenant.as_str())) {
            holders.entry((m.module.as_str(), m.version.as_str())).or_default().push(m.tenant.as_str());
        }
        let mut findings = Vec::new();
        for ((module, version), holders) in holders {
            if self.version(module, version)?.is_some() {
                continue;
            }
            let single = (holders.len() == 1).then(|| holders[0]);
            let who = holders.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ");
            findings.push(Finding::error(
                single,
                "catalog.missing",
                format!("`{module} {version}`, which tenant(s) {who} have, is neither in the modules folder nor in the landlord's copies"),
                format!("put `{module}` {version} back in the modules folder (`--modules`, `MODREG_MODULES`)"),
            ));
        }
        Ok(findings)
    }
}
