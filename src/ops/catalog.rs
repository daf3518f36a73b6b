//! The catalog as a command sees it: the modules folder, checked against what the
//! landlord recorded of each published version, and the one lookup that falls back to
//! the landlord's copy of a version whose folder is gone.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::domain::catalog::Catalog;
use crate::domain::diagnostic::Diagnostic;
use crate::domain::manifest::parse_manifest;
use crate::domain::module::{ModuleVersion, Source};
use crate::domain::name::ModuleName;
use crate::domain::suggest::similar;
use crate::domain::{Error, Result};
use crate::ops::{Context, Reporter};
use crate::store::{CatalogEntry, ChangedVersion, Landlord};

/// The catalog as a command sees it: what is on disk, plus the landlord's copies of
/// installed versions whose folder is gone, plus what the landlord says about
/// published versions whose content changed.
pub struct LoadedCatalog {
    pub catalog: Catalog,
    pub changed: Vec<ChangedVersion>,
    pub diagnostics: Vec<Diagnostic>,
    /// The modules folder does not exist.
    pub missing_folder: bool,
}

impl LoadedCatalog {
    /// Refuses, as not found, a module the catalog does not have, with a hint that says why
    /// it may be missing.
    pub fn require(&self, name: &ModuleName) -> Result<()> {
        if self.catalog.contains(name) {
            return Ok(());
        }
        let similar = similar("module", name.as_str(), self.catalog.names().map(ModuleName::as_str));
        let hint = if self.missing_folder {
            "the modules folder does not exist: pass `--modules DIR` or set `MODREG_MODULES`".to_string()
        } else if let Some(similar) = similar {
            similar
        } else {
            match self.diagnostics.iter().filter(|d| d.is_error()).count() {
                0 => "run `modreg modules list` to see the catalog".to_string(),
                invalid => format!("{invalid} problem(s) in the modules folder kept some modules out; run `modreg validate`"),
            }
        };
        Err(Error::not_found(format!("module `{name}` is not in the catalog")).with_hint(hint))
    }

    /// Refuses when a version that a plan uses changed under the same version number.
    pub fn check_unchanged<'a>(&self, modules: impl IntoIterator<Item = &'a ModuleVersion>) -> Result<()> {
        for module in modules {
            let changed = self.changed.iter().find(|c| c.module == module.name().as_str() && c.version == module.version().to_string());
            if let Some(c) = changed {
                return Err(changed_version_error(c));
            }
        }
        Ok(())
    }
}

fn changed_version_error(c: &ChangedVersion) -> Error {
    Error::invalid(format!(
        "`{} {}` has changed since it was published (first seen {}): its manifest or migrations differ",
        c.module, c.version, c.first_seen_at
    ))
    .with_hint("a published version never changes: undo the edit, or give the change a new version number")
}

/// A version a tenant has or had: from `catalog` (the modules folder) when it is there,
/// since only there does it have a folder with its hooks, else the landlord's copy, so
/// that what is installed can be listed, uninstalled, reverted and recovered after its
/// folder is gone. The one place that makes this choice.
pub fn module_version(ctx: &Context, catalog: &Catalog, name: &str, version: &str) -> Result<Option<Arc<ModuleVersion>>> {
    if let Some(found) = semver::Version::parse(version).ok().and_then(|v| catalog.get(name, &v)) {
        return Ok(Some(Arc::clone(found)));
    }
    Ok(stored_module(ctx.landlord.as_ref(), name, version)?.map(Arc::new))
}

/// Rebuilds a module version from the landlord's copy.
fn stored_module(landlord: &dyn Landlord, module: &str, version: &str) -> Result<Option<ModuleVersion>> {
    let Some(stored) = landlord.stored_version(module, version)? else { return Ok(None) };
    let manifest = parse_manifest(&stored.manifest, std::path::Path::new("landlord"))
        .map_err(|_| Error::internal(format!("the landlord's copy of `{module} {version}` does not parse")))?;
    let version = ModuleVersion::new(manifest, stored.manifest, stored.migrations, stored.seeds, Source::Landlord);
    Ok(Some(version.with_postgres(stored.postgres)))
}

/// Discovers the modules folder and records what the landlord has not seen. A missing
/// folder is an empty catalog (with a warning): what tenants have can still be listed,
/// uninstalled and reverted from the landlord's copies.
pub fn load_catalog(ctx: &Context, reporter: &dyn Reporter) -> Result<LoadedCatalog> {
    let dir = &ctx.settings.modules_dir;
    if !dir.exists() {
        reporter.warning(&format!("the modules folder `{}` does not exist; only versions the landlord remembers are known", dir.display()));
        return Ok(LoadedCatalog { catalog: Catalog::default(), changed: Vec::new(), diagnostics: Vec::new(), missing_folder: true });
    }
    let discovered = ctx.modules.discover();
    for d in discovered.diagnostics.iter().filter(|d| d.is_error()) {
        reporter.warning(&format!("skipping an invalid module: {d}"));
    }
    let (mut catalog, duplicates) = Catalog::new(discovered.versions);
    let mut ambiguous = BTreeSet::new();
    for d in &duplicates {
        reporter.warning(&format!(
            "`{} {}` is defined twice (`{}` and `{}`); neither is used",
            d.name,
            d.version,
            d.kept.folder().map(|p| p.display().to_string()).unwrap_or_default(),
            d.refused.folder().map(|p| p.display().to_string()).unwrap_or_default()
        ));
        ambiguous.insert((d.name.clone(), d.version.clone()));
    }
    if !ambiguous.is_empty() {
        let kept: Vec<ModuleVersion> =
            catalog.iter().filter(|m| !ambiguous.contains(&(m.name().clone(), m.version().clone()))).map(|m| (**m).clone()).collect();
        catalog = Catalog::new(kept).0;
    }
    let changed = record_catalog(ctx, &catalog)?;
    Ok(LoadedCatalog { catalog, changed, diagnostics: discovered.diagnostics, missing_folder: false })
}

/// Records in the landlord the versions it has not seen, and returns those it has seen
/// with other content: a published version is fixed once the landlord has seen it.
fn record_catalog(ctx: &Context, catalog: &Catalog) -> Result<Vec<ChangedVersion>> {
    let recorded: HashMap<(String, String), CatalogEntry> =
        ctx.landlord.catalog_entries()?.into_iter().map(|e| ((e.module.clone(), e.version.clone()), e)).collect();
    let mut new = Vec::new();
    let mut changed = Vec::new();
    for version in catalog.iter() {
        match recorded.get(&(version.name().to_string(), version.version().to_string())) {
            None => new.push(version.as_ref()),
            Some(entry) if entry.checksum != version.checksum => changed.push(ChangedVersion {
                module: entry.module.clone(),
                version: entry.version.clone(),
                recorded_checksum: entry.checksum.clone(),
                found_checksum: version.checksum.clone(),
                first_seen_at: entry.first_seen_at.clone(),
            }),
            Some(_) => {}
        }
    }
    ctx.landlord.record_versions(&new, &ctx.now())?;
    Ok(changed)
}
