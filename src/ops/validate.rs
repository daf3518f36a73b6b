//! `modreg validate [PATH…]` (SPEC §3): checks manifests, names, versions, requirements,
//! that dependencies exist and can be satisfied, cycles, migration file names, hooks,
//! and that every module's migrations and seeds apply to a scratch database after its
//! dependencies'. Collects every problem. Needs no state; when a landlord exists it is
//! read (never written) to catch published versions whose content changed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::domain::catalog::Catalog;
use crate::domain::diagnostic::{Diagnostic, Severity};
use crate::domain::module::ModuleVersion;
use crate::domain::resolver::{Goal, Request, resolve};
use crate::store::{CatalogStore, ModuleSource, TenantFiles};

#[derive(Debug, Clone, serde::Serialize)]
pub struct ValidateReport {
    pub valid: bool,
    /// Module versions checked.
    pub modules: usize,
    pub diagnostics: Vec<Diagnostic>,
}

/// Validates what `targets` finds, resolving dependencies against `catalog` (the modules
/// folder) plus the targets themselves.
pub fn validate(
    targets: &dyn ModuleSource,
    catalog: &dyn ModuleSource,
    scratch: &dyn TenantFiles,
    landlord: Option<&dyn CatalogStore>,
) -> ValidateReport {
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
    for module in checked.iter() {
        check_dependencies(module, &full, &mut diagnostics);
        check_install(module, &full, scratch, &mut diagnostics, &mut reported_cycles);
        if let Some(landlord) = landlord {
            check_published(module, landlord, &mut diagnostics);
        }
    }
    diagnostics.sort_by(|a, b| (&a.file, a.line, a.column, a.severity).cmp(&(&b.file, b.line, b.column, b.severity)));
    diagnostics.dedup();
    ValidateReport { valid: !diagnostics.iter().any(Diagnostic::is_error), modules: checked.len(), diagnostics }
}

fn manifest_path(module: &ModuleVersion) -> PathBuf {
    module.folder().map(|f| f.join("module.toml")).unwrap_or_else(|| PathBuf::from(module.label()))
}

fn at_key(module: &ModuleVersion, key: &str, severity: Severity, message: String) -> Diagnostic {
    let path = manifest_path(module);
    let d = Diagnostic { file: path, line: None, column: None, severity, message };
    let text = &module.manifest_text;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('=')) {
            return d.at_offset(text, offset + line.len() - trimmed.len());
        }
        offset += line.len();
    }
    d
}

fn check_dependencies(module: &ModuleVersion, catalog: &Catalog, diagnostics: &mut Vec<Diagnostic>) {
    for (dep, req, optional) in module.manifest.all_dependencies() {
        let versions = catalog.versions(dep);
        let severity = if optional { Severity::Warning } else { Severity::Error };
        let kind = if optional { "optional dependency" } else { "dependency" };
        if versions.is_empty() {
            diagnostics.push(at_key(module, dep.as_str(), severity, format!("{kind} `{dep}` is not in the catalog")));
        } else if !versions.iter().any(|v| req.matches(v.version())) {
            let available: Vec<String> = versions.iter().map(|v| v.version().to_string()).collect();
            diagnostics.push(at_key(
                module,
                dep.as_str(),
                severity,
                format!("no version of {kind} `{dep}` matches `{req}` (available: {})", available.join(", ")),
            ));
        }
    }
}

/// Installs the module and what it needs into a scratch database.
fn check_install(
    module: &Arc<ModuleVersion>,
    catalog: &Catalog,
    scratch: &dyn TenantFiles,
    diagnostics: &mut Vec<Diagnostic>,
    cycles: &mut BTreeSet<String>,
) {
    let request = Request {
        name: module.name().clone(),
        req: semver::VersionReq::parse(&format!("={}", module.version())).unwrap_or(semver::VersionReq::STAR),
        allow_stored: false,
    };
    // Retired versions still deserve a check: validate as of a day before any sunset.
    let day = time::Date::MIN;
    let resolution = match resolve(catalog, &Default::default(), &Goal::Install(vec![request]), day) {
        Ok(r) => r,
        Err(e) => {
            let message = e.to_string();
            let is_cycle = matches!(e, crate::domain::resolver::ResolveError::Cycle { .. });
            // Dependencies already reported above; a cycle is reported once.
            if (is_cycle && cycles.insert(message.clone())) || !is_cycle && !diagnostics.iter().any(|d| d.file == manifest_path(module)) {
                diagnostics.push(Diagnostic::error(&manifest_path(module), message));
            }
            return;
        }
    };
    let mut db = match scratch.scratch() {
        Ok(db) => db,
        Err(e) => {
            diagnostics.push(Diagnostic::error(&manifest_path(module), format!("cannot open a scratch database: {}", e.message)));
            return;
        }
    };
    for step in &resolution.steps {
        let applied = db
            .begin()
            .map_err(|e| (String::new(), e.message, None))
            .and_then(|()| db.apply(&step.module, true).map_err(|w| (w.step, w.error.message, w.offset)));
        match applied {
            Ok(_) => {
                let _ = db.commit();
                if step.module.name() == module.name() {
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
                    return;
                }
                diagnostics.push(script_diagnostic(module, &step_name, message, offset));
                return;
            }
        }
    }
}

/// Points a migration or seed failure at its file and, when SQLite says, its line.
fn script_diagnostic(module: &ModuleVersion, step: &str, message: String, offset: Option<usize>) -> Diagnostic {
    let folder = module.folder().unwrap_or(Path::new(""));
    let (file, text) = if let Some(name) = step.strip_prefix("migrate ") {
        (folder.join("migrations").join(format!("{name}.sql")), module.migrations.iter().find(|m| m.name == name).map(|m| m.sql.as_str()))
    } else if let Some(name) = step.strip_prefix("seed ") {
        (folder.join("seeds").join(name), module.seeds.iter().find(|s| s.name == name).map(|s| s.sql.as_str()))
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

fn check_published(module: &ModuleVersion, landlord: &dyn CatalogStore, diagnostics: &mut Vec<Diagnostic>) {
    let Ok(Some(stored)) = landlord.stored_version(module.name().as_str(), &module.version().to_string()) else { return };
    if stored.checksum != module.checksum {
        let d = at_key(
            module,
            "version",
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
