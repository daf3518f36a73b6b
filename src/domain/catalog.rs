//! The catalog: every known version of every module, newest first. Built from discovery
//! (and, for installed versions whose folder is gone, from the landlord's copies). Pure.

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::Arc;

use semver::Version;

use crate::domain::module::ModuleVersion;
use crate::domain::name::ModuleName;

/// Two manifests with the same name and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub name: ModuleName,
    pub version: Version,
    pub kept: Arc<ModuleVersion>,
    pub refused: Arc<ModuleVersion>,
}

/// Lookups by name are hashed (resolution makes many); listing sorts by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    modules: rustc_hash::FxHashMap<ModuleName, Vec<Arc<ModuleVersion>>>,
}

impl Catalog {
    /// Builds a catalog; a second manifest with a name+version already seen is refused
    /// and reported.
    pub fn new(versions: impl IntoIterator<Item = ModuleVersion>) -> (Catalog, Vec<Duplicate>) {
        let mut catalog = Catalog::default();
        let mut duplicates = Vec::new();
        for version in versions {
            if let Err(d) = catalog.insert(Arc::new(version)) {
                duplicates.push(d);
            }
        }
        (catalog, duplicates)
    }

    /// Adds a version, keeping the list newest first.
    pub fn insert(&mut self, version: Arc<ModuleVersion>) -> Result<(), Duplicate> {
        let list = self.modules.entry(version.name().clone()).or_default();
        match list.binary_search_by(|probe| version.version().cmp(probe.version())) {
            Ok(i) => {
                Err(Duplicate { name: version.name().clone(), version: version.version().clone(), kept: list[i].clone(), refused: version })
            }
            Err(i) => {
                list.insert(i, version);
                Ok(())
            }
        }
    }

    /// Every version of a module, newest first (empty for an unknown module).
    pub fn versions<Q: Hash + Eq + ?Sized>(&self, name: &Q) -> &[Arc<ModuleVersion>]
    where
        ModuleName: Borrow<Q>,
    {
        self.modules.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn contains<Q: Hash + Eq + ?Sized>(&self, name: &Q) -> bool
    where
        ModuleName: Borrow<Q>,
    {
        self.modules.contains_key(name)
    }

    pub fn get<Q: Hash + Eq + ?Sized>(&self, name: &Q, version: &Version) -> Option<&Arc<ModuleVersion>>
    where
        ModuleName: Borrow<Q>,
    {
        self.versions(name).iter().find(|m| m.version() == version)
    }

    /// The newest installable release (prereleases only when nothing else exists).
    pub fn latest<Q: Hash + Eq + ?Sized>(&self, name: &Q) -> Option<&Arc<ModuleVersion>>
    where
        ModuleName: Borrow<Q>,
    {
        let installable = || self.versions(name).iter().filter(|m| m.is_installable());
        installable().find(|m| m.version().pre.is_empty()).or_else(|| installable().next())
    }

    /// Module names in order.
    pub fn names(&self) -> impl Iterator<Item = &ModuleName> {
        let mut names: Vec<&ModuleName> = self.modules.keys().collect();
        names.sort();
        names.into_iter()
    }

    /// Every module version, by name, newest first.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ModuleVersion>> {
        self.names().flat_map(|name| self.modules[name].iter())
    }

    pub fn len(&self) -> usize {
        self.modules.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// Modules some version of which depends (required or optional) on `name`.
    pub fn dependents(&self, name: &str) -> Vec<&ModuleName> {
        self.names()
            .filter(|n| self.modules[*n].iter().any(|v| v.manifest.all_dependencies().any(|(d, _, _)| d.as_str() == name)))
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::manifest::parse_manifest;
    use crate::domain::module::Source;
    use std::path::{Path, PathBuf};

    /// A module version for tests: `deps` as `[("membership", "^1")]`.
    pub fn module(name: &str, version: &str, deps: &[(&str, &str)]) -> ModuleVersion {
        module_with(name, version, deps, &[], "")
    }

    pub fn module_with(name: &str, version: &str, deps: &[(&str, &str)], optional: &[(&str, &str)], extra: &str) -> ModuleVersion {
        let mut text = format!("[module]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"test\"\n{extra}\n[dependencies]\n");
        for (d, r) in deps {
            text.push_str(&format!("{d} = \"{r}\"\n"));
        }
        text.push_str("[optional-dependencies]\n");
        for (d, r) in optional {
            text.push_str(&format!("{d} = \"{r}\"\n"));
        }
        let manifest = parse_manifest(&text, Path::new("module.toml")).unwrap();
        ModuleVersion::new(manifest, text, vec![], vec![], Source::Folder(PathBuf::from(format!("/m/{name}/{version}"))))
    }

    #[test]
    fn versions_are_newest_first_and_duplicates_refused() {
        let (catalog, dups) = Catalog::new([
            module("a", "1.0.0", &[]),
            module("a", "1.10.0", &[]),
            module("a", "1.2.0", &[]),
            module("a", "1.2.0", &[]),
            module("b", "0.1.0", &[("a", "^1")]),
        ]);
        let versions: Vec<String> = catalog.versions("a").iter().map(|m| m.version().to_string()).collect();
        assert_eq!(versions, ["1.10.0", "1.2.0", "1.0.0"]);
        assert_eq!(dups.len(), 1);
        assert_eq!(dups[0].version, Version::new(1, 2, 0));
        assert_eq!(catalog.len(), 4);
        assert_eq!(catalog.dependents("a"), vec![&ModuleName::parse("b").unwrap()]);
        assert!(catalog.versions("zzz").is_empty());
    }

    #[test]
    fn latest_skips_prereleases_and_landlord_copies() {
        let mut gone = module("a", "3.0.0", &[]);
        gone.source = Source::Landlord;
        let (catalog, _) = Catalog::new([module("a", "1.0.0", &[]), module("a", "2.0.0-beta.1", &[]), gone]);
        assert_eq!(catalog.latest("a").unwrap().version(), &Version::new(1, 0, 0));
        let (only_pre, _) = Catalog::new([module("a", "2.0.0-beta.1", &[])]);
        assert_eq!(only_pre.latest("a").unwrap().version().to_string(), "2.0.0-beta.1");
    }
}
