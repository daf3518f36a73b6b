//! `modreg validate [PATH…]` (SPEC §3): checks manifests, names, versions, requirements,
//! that dependencies exist and can be satisfied, cycles, migration file names, hooks,
//! and that every module's migrations and seeds apply to a scratch database after its
//! dependencies'. Collects every problem. Needs no state; when a landlord exists it is
//! read (never written) to catch published versions whose content changed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::domain::catalog::Catalog;
use crate::domain::diagnostic::{Diagnostic, Severity};
use crate::domain::manifest::{ManifestKey, key_offset};
use crate::domain::module::{Engine, Migration, ModuleVersion, Seed};
use crate::domain::resolver::{Goal, Installed, Request, ResolveError, resolve};
use crate::ops::Context;
use crate::ops::plan::writable_dependencies;
use crate::store::{Landlord, ModuleSource, SchemaItem, TenantFiles};

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ValidateReport {
    pub valid: bool,
    /// Module versions checked.
    pub modules: usize,
    pub diagnostics: Vec<Diagnostic>,
}

/// Validates what `targets` finds, resolving dependencies against the context's catalog
/// (the modules folder) plus the targets themselves, applying migrations to scratch
/// databases, and comparing published versions with what the landlord recorded.
pub fn validate(ctx: &Context, targets: &dyn ModuleSource) -> ValidateReport {
    let (catalog, scratch) = (ctx.modules.as_ref(), ctx.tenants.as_ref());
    let found = targets.discover();
    let mut diagnostics = found.diagnostics;
    let (checked, duplicates) = Catalog::new(found.versions);
    for d in &duplicates {
        diagnostics.push(Diagnostic::error(
            &manifest_path(&d.refused),
            format!(
                "`{} {}` is already defined by `{}`: two manifests may not share a name and version",
                d.name,
                d.version,
                manifest_path(&d.kept).display()
            ),
        ));
    }
    // The catalog to resolve against: the modules folder, with the checked versions
    // taking the place of their namesakes.
    let mut full = checked.clone();
    for version in catalog.discover().versions {
        if full.get(version.name(), version.version()).is_none() {
            let _ = full.insert(Arc::new(version));
        }
    }
    let mut reported_cycles = BTreeSet::new();
    let mut created = Vec::new();
    for module in checked.iter() {
        check_dependencies(module, &full, &mut diagnostics);
        if let Some(objects) = check_install(module, &full, scratch, &mut diagnostics, &mut reported_cycles) {
            created.push((module, objects));
        }
        check_published(module, ctx.landlord.as_ref(), &mut diagnostics);
    }
    check_shared_names(&created, scratch.engine(), &mut diagnostics);
    diagnostics.sort_by(|a, b| (&a.file, a.line, a.column, a.severity).cmp(&(&b.file, b.line, b.column, b.severity)));
    diagnostics.dedup();
    ValidateReport { valid: !diagnostics.iter().any(Diagnostic::is_error), modules: checked.len(), diagnostics }
}

fn manifest_path(module: &ModuleVersion) -> PathBuf {
    module.folder().map(|f| f.join("module.toml")).unwrap_or_else(|| PathBuf::from(module.label()))
}

/// A diagnostic on a module's manifest, at `key` when the manifest has it.
fn at_key(module: &ModuleVersion, key: ManifestKey<'_>, severity: Severity, message: String) -> Diagnostic {
    let d = Diagnostic { file: manifest_path(module), line: None, column: None, severity, message };
    match key_offset(&module.manifest_text, key) {
        Some(offset) => d.at_offset(&module.manifest_text, offset),
        None => d,
    }
}

fn check_dependencies(module: &ModuleVersion, catalog: &Catalog, diagnostics: &mut Vec<Diagnostic>) {
    for (dep, req, optional) in module.manifest.all_dependencies() {
        let versions = catalog.versions(dep);
        let severity = if optional { Severity::Warning } else { Severity::Error };
        let kind = if optional { "optional dependency" } else { "dependency" };
        if versions.is_empty() {
            diagnostics.push(at_key(
                module,
                ManifestKey::Dependency(dep.as_str()),
                severity,
                format!("{kind} `{dep}` is not in the catalog"),
            ));
        } else if !versions.iter().any(|v| req.matches(v.version())) {
            let available: Vec<String> = versions.iter().map(|v| v.version().to_string()).collect();
            diagnostics.push(at_key(
                module,
                ManifestKey::Dependency(dep.as_str()),
                severity,
                format!("no version of {kind} `{dep}` matches `{req}` (available: {})", available.join(", ")),
            ));
        }
    }
}

/// Installs the module and what it needs into a scratch database; returns the objects
/// the module itself created, when it got that far.
fn check_install(
    module: &Arc<ModuleVersion>,
    catalog: &Catalog,
    scratch: &dyn TenantFiles,
    diagnostics: &mut Vec<Diagnostic>,
    cycles: &mut BTreeSet<String>,
) -> Option<Vec<SchemaItem>> {
    let request = Request {
        name: module.name().clone(),
        req: semver::VersionReq::parse(&format!("={}", module.version())).unwrap_or(semver::VersionReq::STAR),
        allow_stored: false,
    };
    // Retired versions still deserve a check: validate as of a day before any sunset.
    let day = time::Date::MIN;
    let resolution = match resolve(catalog, &Default::default(), &Goal::Install(vec![request]), day) {
        Ok(r) => r,
        Err(cycle @ ResolveError::Cycle { .. }) => {
            // Reported once, against the first module on it, at its entry for the next.
            let message = cycle.to_string();
            if let ResolveError::Cycle { path } = &cycle
                && let [(first, version), (next, _), ..] = path.as_slice()
                && let Some(on_cycle) = catalog.get(first, version)
                && cycles.insert(message.clone())
            {
                diagnostics.push(at_key(on_cycle, ManifestKey::Dependency(next.as_str()), Severity::Error, message));
            }
            return None;
        }
        Err(e) => {
            // Dependencies already reported above.
            if !diagnostics.iter().any(|d| d.file == manifest_path(module)) {
                diagnostics.push(Diagnostic::error(&manifest_path(module), e.to_string()));
            }
            return None;
        }
    };
    let mut db = match scratch.scratch() {
        Ok(db) => db,
        Err(e) => {
            diagnostics.push(Diagnostic::error(&manifest_path(module), format!("cannot open a scratch database: {}", e.message)));
            return None;
        }
    };
    let mut created = None;
    let writable = writable_dependencies(catalog, &Installed::new(), &resolution.steps);
    for (step, writable) in resolution.steps.iter().zip(&writable) {
        let applied = db
            .begin()
            .map_err(|e| (String::new(), e.message, None))
            .and_then(|()| db.apply(&step.module, true, writable).map_err(|w| (w.step, w.error.message, w.offset)));
        match applied {
            Ok(report) => {
                let _ = db.commit();
                if step.module.name() == module.name() {
                    created = Some(report.objects_created);
                    for problem in db.foreign_key_problems(module.name().as_str()).unwrap_or_default() {
                        diagnostics.push(Diagnostic::error(
                            &manifest_path(module),
                            format!("after its migrations and seeds, {problem} (a foreign key is broken)"),
                        ));
                    }
                }
            }
            Err((step_name, message, offset)) => {
                let _ = db.rollback();
                let failing = &step.module;
                if failing.name() != module.name() {
                    // The dependency's own check reports its problem; say why this one stops.
                    diagnostics.push(Diagnostic::error(
                        &manifest_path(module),
                        format!("cannot check the migrations: dependency `{}` fails to apply", failing.label()),
                    ));
                    return None;
                }
                diagnostics.push(script_diagnostic(module, scratch.engine(), &step_name, message, offset));
                return None;
            }
        }
    }
    created
}

/// Warns when two modules create an object of the same name: SQLite names are one
/// namespace per file, so they can never be installed on the same tenant. Each pair of
/// modules and name is reported once, at the later module's `CREATE`.
fn check_shared_names(created: &[(&Arc<ModuleVersion>, Vec<SchemaItem>)], engine: Engine, diagnostics: &mut Vec<Diagnostic>) {
    // Lowercase name to the first module (and its object) that creates it.
    let mut first: BTreeMap<String, Vec<(&ModuleVersion, &SchemaItem)>> = BTreeMap::new();
    for (module, objects) in created {
        for object in objects.iter().filter(|o| o.kind != "shadow") {
            first.entry(object.name.to_lowercase()).or_default().push((module, object));
        }
    }
    let mut reported = BTreeSet::new();
    for creators in first.values() {
        for (i, (module, object)) in creators.iter().enumerate() {
            for (other, theirs) in &creators[..i] {
                if other.name() == module.name() || !reported.insert((other.name(), module.name(), object.name.to_lowercase())) {
                    continue;
                }
                let message = format!(
                    "`{}` and `{}` both create `{}` (a {} in `{}`, a {} in `{}`): they can never be installed on the same tenant",
                    other.name(),
                    module.name(),
                    object.name,
                    theirs.kind,
                    other.name(),
                    object.kind,
                    module.name()
                );
                diagnostics.push(creation_site(module, engine, &object.name, message));
            }
        }
    }
}

/// A warning at the migration (or seed) that creates `name`, or on the manifest.
/// A module's scripts for one engine, and the folders they are in.
struct Scripts<'a> {
    migrations_dir: PathBuf,
    seeds_dir: PathBuf,
    migrations: &'a [Migration],
    seeds: &'a [Seed],
}

impl<'a> Scripts<'a> {
    fn of(module: &'a ModuleVersion, engine: Engine) -> Scripts<'a> {
        let folder = module.folder().unwrap_or(Path::new(""));
        let (migrations, seeds) = module.sql(engine).unwrap_or((&[], &[]));
        let under = |dir: &str| engine.folder().map_or_else(|| folder.join(dir), |sub| folder.join(dir).join(sub));
        Scripts { migrations_dir: under("migrations"), seeds_dir: under("seeds"), migrations, seeds }
    }

    fn migration_file(&self, name: &str) -> PathBuf {
        self.migrations_dir.join(format!("{name}.sql"))
    }

    fn seed_file(&self, name: &str) -> PathBuf {
        self.seeds_dir.join(name)
    }
}

fn creation_site(module: &ModuleVersion, engine: Engine, name: &str, message: String) -> Diagnostic {
    at_creation(module, engine, name, Diagnostic::warning(&manifest_path(module), message))
}

/// `diagnostic` moved to the migration (or seed) that creates `name`, when one does.
fn at_creation(module: &ModuleVersion, engine: Engine, name: &str, diagnostic: Diagnostic) -> Diagnostic {
    let scripts = Scripts::of(module, engine);
    let files = (scripts.migrations.iter().map(|m| (scripts.migration_file(&m.name), m.sql.as_str())))
        .chain(scripts.seeds.iter().map(|s| (scripts.seed_file(&s.name), s.sql.as_str())));
    for (file, sql) in files {
        if let Some(offset) = find_create(sql, name) {
            return Diagnostic { file, ..diagnostic }.at_offset(sql, offset);
        }
    }
    diagnostic
}

/// Where `CREATE … TABLE|INDEX|VIEW|TRIGGER [IF NOT EXISTS] [schema.]name` names `name`
/// in a script (case-insensitive, quoted or not): the offset of that `CREATE`.
fn find_create(sql: &str, name: &str) -> Option<usize> {
    let lower = sql.to_ascii_lowercase();
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut from = 0;
    while let Some(found) = lower[from..].find(&name.to_ascii_lowercase()).map(|i| from + i) {
        from = found + name.len();
        let after = lower.as_bytes().get(from).copied();
        let before = found.checked_sub(1).map(|i| lower.as_bytes()[i]);
        if after.is_some_and(is_word) || before.is_some_and(is_word) {
            continue;
        }
        // Walk back over a quote, `schema.`, `if not exists` to the kind, then to CREATE.
        let head = lower[..found].trim_end_matches(['"', '`', '[']).trim_end();
        let head = head
            .strip_suffix('.')
            .map_or(head, |h| h.trim_end().trim_end_matches(['"', '`', ']']).trim_end_matches(is_word_char).trim_end());
        let head = head.strip_suffix("if not exists").map_or(head, str::trim_end);
        let Some(kind) = ["table", "index", "view", "trigger"].into_iter().find(|k| head.ends_with(k)) else { continue };
        let statement = &head[..head.len() - kind.len()];
        let start = statement.rfind(';').map_or(0, |i| i + 1);
        if let Some(create) = statement[start..].find("create") {
            return Some(start + create);
        }
    }
    None
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Points a migration or seed failure at its file and, when SQLite says, its line.
fn script_diagnostic(module: &ModuleVersion, engine: Engine, step: &str, message: String, offset: Option<usize>) -> Diagnostic {
    let scripts = Scripts::of(module, engine);
    let (file, text) = if let Some(name) = step.strip_prefix("migrate ") {
        (scripts.migration_file(name), scripts.migrations.iter().find(|m| m.name == name).map(|m| m.sql.as_str()))
    } else if let Some(name) = step.strip_prefix("seed ") {
        (scripts.seed_file(name), scripts.seeds.iter().find(|s| s.name == name).map(|s| s.sql.as_str()))
    } else if let Some(trigger) = step.strip_prefix("check trigger ") {
        return at_creation(module, engine, trigger, Diagnostic::error(&manifest_path(module), message));
    } else {
        (manifest_path(module), None)
    };
    let d = Diagnostic::error(&file, message);
    match (text, offset) {
        (Some(text), Some(offset)) => d.at_offset(text, offset),
        (Some(_), None) => Diagnostic { line: Some(1), column: Some(1), ..d },
        _ => d,
    }
}

fn check_published(module: &ModuleVersion, landlord: &dyn Landlord, diagnostics: &mut Vec<Diagnostic>) {
    let Ok(Some(stored)) = landlord.stored_version(module.name().as_str(), &module.version().to_string()) else { return };
    if stored.checksum != module.checksum {
        let d = at_key(
            module,
            ManifestKey::Version,
            Severity::Error,
            format!(
                "`{}` was published on {} with other content: a published version never changes; give the change a new version number",
                module.label(),
                stored.first_seen_at
            ),
        );
        diagnostics.push(d);
    }
}
