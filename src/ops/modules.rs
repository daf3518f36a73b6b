//! `modreg modules list` and `modreg modules show NAME`: the catalog on disk, with
//! versions, dependencies, dependents, subscription and deprecation. Needs no state.

use std::collections::BTreeMap;

use crate::domain::catalog::Catalog;
use crate::domain::diagnostic::Diagnostic;
use crate::domain::manifest::Deprecation;
use crate::domain::module::ModuleVersion;
use crate::domain::name::ModuleName;
use crate::domain::suggest::similar;
use crate::domain::{Error, Result};
use crate::ops::Context;

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ModuleSummary {
    pub name: String,
    pub versions: Vec<String>,
    pub latest: Option<String>,
    pub description: String,
    pub dependencies: BTreeMap<String, String>,
    pub requires_subscription: bool,
    pub deprecated: bool,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ModulesListReport {
    pub modules: Vec<ModuleSummary>,
    /// Problems that kept manifests out of the catalog.
    pub diagnostics: Vec<Diagnostic>,
}

fn newest(catalog: &Catalog, name: &str) -> Option<std::sync::Arc<ModuleVersion>> {
    catalog.latest(name).or_else(|| catalog.versions(name).first()).cloned()
}

fn requirements(map: &BTreeMap<crate::domain::name::ModuleName, semver::VersionReq>) -> BTreeMap<String, String> {
    map.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub fn list(ctx: &Context) -> ModulesListReport {
    let discovered = ctx.modules.discover();
    let diagnostics = discovered.diagnostics.into_iter().filter(Diagnostic::is_error).collect();
    let (catalog, _) = Catalog::new(discovered.versions);
    let modules = catalog
        .names()
        .filter_map(|name| {
            let latest = newest(&catalog, name.as_str())?;
            Some(ModuleSummary {
                name: name.to_string(),
                versions: catalog.versions(name).iter().rev().map(|m| m.version().to_string()).collect(),
                latest: Some(latest.version().to_string()),
                description: latest.manifest.description.clone(),
                dependencies: requirements(&latest.manifest.dependencies),
                requires_subscription: latest.manifest.requires_subscription,
                deprecated: latest.manifest.deprecation.is_some(),
            })
        })
        .collect();
    ModulesListReport { modules, diagnostics }
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct VersionDetail {
    pub version: String,
    pub description: String,
    pub folder: Option<String>,
    pub dependencies: BTreeMap<String, String>,
    pub optional_dependencies: BTreeMap<String, String>,
    pub features: BTreeMap<String, bool>,
    pub hooks: BTreeMap<String, String>,
    pub migrations: Vec<String>,
    pub seeds: Vec<String>,
    pub requires_subscription: bool,
    pub deprecation: Option<String>,
    pub checksum: String,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ModuleShowReport {
    pub name: String,
    pub latest: Option<String>,
    pub versions: Vec<VersionDetail>,
    /// Modules some version of which depends on this one.
    pub dependents: Vec<String>,
}

impl ModuleShowReport {
    /// The report with each version's folder relative to the modules folder `root`, for
    /// clients that have no business knowing where the catalog lives on the host.
    pub fn relative_to(mut self, root: &std::path::Path) -> ModuleShowReport {
        for version in &mut self.versions {
            version.folder = version.folder.take().map(|folder| in_catalog(root, std::path::Path::new(&folder)));
        }
        self
    }
}

impl ModulesListReport {
    /// The report with its diagnostics' files relative to the modules folder `root`.
    pub fn relative_to(mut self, root: &std::path::Path) -> ModulesListReport {
        for diagnostic in &mut self.diagnostics {
            diagnostic.file = std::path::PathBuf::from(in_catalog(root, &diagnostic.file));
        }
        self
    }
}

/// `path` relative to the modules folder `root` (`finance`, `forum/2.0.0`); `.` for the
/// folder itself, and the last part alone for a path outside it.
fn in_catalog(root: &std::path::Path, path: &std::path::Path) -> String {
    match path.strip_prefix(root) {
        Ok(relative) if relative.as_os_str().is_empty() => ".".to_string(),
        Ok(relative) => relative.display().to_string(),
        Err(_) => path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
    }
}

fn deprecation(d: &Option<Deprecation>) -> Option<String> {
    d.as_ref().map(Deprecation::note)
}

pub fn show(ctx: &Context, name: &str) -> Result<ModuleShowReport> {
    crate::domain::name::ModuleName::parse(name)?;
    let (catalog, _) = Catalog::new(ctx.modules.discover().versions);
    let versions = catalog.versions(name);
    if versions.is_empty() {
        let hint = similar("module", name, catalog.names().map(ModuleName::as_str))
            .unwrap_or_else(|| "run `modreg modules list` to see the catalog".into());
        return Err(Error::not_found(format!("module `{name}` is not in the catalog")).with_hint(hint));
    }
    Ok(ModuleShowReport {
        name: name.to_string(),
        latest: newest(&catalog, name).map(|m| m.version().to_string()),
        versions: versions
            .iter()
            .map(|m| VersionDetail {
                version: m.version().to_string(),
                description: m.manifest.description.clone(),
                folder: m.folder().map(|f| f.display().to_string()),
                dependencies: requirements(&m.manifest.dependencies),
                optional_dependencies: requirements(&m.manifest.optional_dependencies),
                features: m.manifest.features.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                hooks: m.manifest.hooks.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
                migrations: m.migrations.iter().map(|x| x.name.clone()).collect(),
                seeds: m.seeds.iter().map(|s| s.name.clone()).collect(),
                requires_subscription: m.manifest.requires_subscription,
                deprecation: deprecation(&m.manifest.deprecation),
                checksum: m.checksum.clone(),
            })
            .collect(),
        dependents: catalog.dependents(name).into_iter().map(ToString::to_string).collect(),
    })
}
