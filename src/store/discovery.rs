//! Module discovery on disk: every `module.toml` under the modules folder, at any depth
//! (hidden folders and `target` skipped), with its migrations and seeds loaded at run
//! time. Files that cannot be used become diagnostics; the versions that can are kept.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use walkdir::{DirEntry, WalkDir};

use crate::domain::diagnostic::Diagnostic;
use crate::domain::manifest::{HookKind, manifest_warnings, parse_manifest};
use crate::domain::module::{Engine, EngineSql, Migration, ModuleVersion, Seed, Source, parse_migration_file_name};
use crate::store::{Discovered, ModuleSource};

pub const MANIFEST: &str = "module.toml";

/// Modules found under a folder, or in one manifest file.
#[derive(Debug, Clone)]
pub struct DiskModules {
    roots: Vec<PathBuf>,
}

impl DiskModules {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DiskModules { roots: vec![root.into()] }
    }

    /// Several paths at once: files, module folders or catalogs.
    pub fn paths(roots: Vec<PathBuf>) -> Self {
        DiskModules { roots }
    }
}

impl ModuleSource for DiskModules {
    fn discover(&self) -> Discovered {
        let mut found = Discovered::default();
        for root in &self.roots {
            discover_into(root, &mut found);
        }
        found
    }
}

pub(crate) fn skipped(entry: &DirEntry) -> bool {
    entry.depth() > 0 && entry.file_type().is_dir() && {
        let name = entry.file_name().to_string_lossy();
        name.starts_with('.') || name == "target"
    }
}

fn discover_into(root: &Path, found: &mut Discovered) {
    if root.is_file() {
        found.manifests += 1;
        load_into(root, found);
        return;
    }
    if !root.is_dir() {
        found.diagnostics.push(Diagnostic::error(root, "no such file or folder"));
        return;
    }
    for entry in WalkDir::new(root).follow_links(true).sort_by_file_name().into_iter().filter_entry(|e| !skipped(e)) {
        match entry {
            Ok(entry) if entry.file_type().is_file() && entry.file_name() == MANIFEST => {
                found.manifests += 1;
                load_into(entry.path(), found);
            }
            Ok(_) => {}
            Err(e) => {
                let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
                found.diagnostics.push(Diagnostic::error(&path, format!("cannot read: {e}")));
            }
        }
    }
}

fn read_text(path: &Path, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Some(text),
            Err(e) => {
                let offset = e.utf8_error().valid_up_to();
                let valid = String::from_utf8_lossy(&e.as_bytes()[..offset]).into_owned();
                diagnostics.push(Diagnostic::error(path, "the file is not UTF-8 text (is it a binary file?)").at_offset(&valid, offset));
                None
            }
        },
        Err(e) => {
            diagnostics.push(Diagnostic::error(path, format!("cannot read: {e}")));
            None
        }
    }
}

/// The 1-based line and column of `key =` in a TOML text, for diagnostics about values.
fn key_position(text: &str, key: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return Some(offset + (line.len() - trimmed.len()));
        }
        offset += line.len();
    }
    None
}

fn load_into(manifest_path: &Path, found: &mut Discovered) {
    let mut problems = Vec::new();
    let Some(text) = read_text(manifest_path, &mut problems) else {
        found.diagnostics.extend(problems);
        return;
    };
    let manifest = match parse_manifest(&text, manifest_path) {
        Ok(m) => m,
        Err(diagnostics) => {
            found.diagnostics.extend(diagnostics);
            return;
        }
    };
    found.diagnostics.extend(manifest_warnings(&text, manifest_path));
    let dir = manifest_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let home = ModuleHome::new(&dir);
    let migrations = load_migrations(&home, &dir.join("migrations"), &mut problems);
    let seeds = load_seeds(&home, &dir.join("seeds"), &mut problems);
    let postgres = Engine::Postgres.folder().map(|folder| {
        let migrations = load_migrations(&home, &dir.join("migrations").join(folder), &mut problems);
        EngineSql::new(migrations, load_seeds(&home, &dir.join("seeds").join(folder), &mut problems))
    });
    for kind in HookKind::ALL {
        let Some(relative) = manifest.hook(kind) else { continue };
        let path = dir.join(relative);
        let at = |d: Diagnostic| match key_position(&text, kind.as_str()) {
            Some(offset) => Diagnostic { file: manifest_path.to_path_buf(), ..d }.at_offset(&text, offset),
            None => d,
        };
        if let Err(outside) = home.holds(&path, &format!("hook `{kind}`: `{relative}`")) {
            problems.push(at(Diagnostic::error(manifest_path, outside)));
            continue;
        }
        match std::fs::metadata(&path) {
            Ok(meta) if !meta.is_file() => {
                problems.push(at(Diagnostic::error(manifest_path, format!("hook `{kind}`: `{relative}` is not a file"))))
            }
            Ok(meta) if meta.permissions().mode() & 0o111 == 0 => problems.push(at(Diagnostic::error(
                manifest_path,
                format!("hook `{kind}`: `{relative}` is not executable (run `chmod +x {}`)", path.display()),
            ))),
            Ok(_) => {}
            Err(_) => problems.push(at(Diagnostic::error(manifest_path, format!("hook `{kind}`: `{relative}` does not exist")))),
        }
    }
    if migrations.is_empty() && postgres.as_ref().is_none_or(|p| p.migrations.is_empty()) && !problems.iter().any(Diagnostic::is_error) {
        found.diagnostics.push(Diagnostic::warning(manifest_path, "the module has no migrations: it creates no tables"));
    }
    let usable = !problems.iter().any(Diagnostic::is_error);
    found.diagnostics.extend(problems);
    if usable {
        let version = ModuleVersion::new(manifest, text, migrations, seeds, Source::Folder(dir));
        found.versions.push(version.with_postgres(postgres.unwrap_or_default()));
    }
}

/// A module's own folder, as the files it names must resolve into it: a hook, migration
/// or seed that is a link (or sits in a linked folder) leading elsewhere is refused, so
/// that no module runs or reads a file it does not hold (`/etc/passwd` as a migration).
/// The module folder itself may be a link: what counts is where it resolves.
pub(crate) struct ModuleHome {
    resolved: Option<PathBuf>,
}

impl ModuleHome {
    pub(crate) fn new(dir: &Path) -> ModuleHome {
        ModuleHome { resolved: std::fs::canonicalize(dir).ok() }
    }

    /// `Ok` when `path` resolves inside the module folder (or does not exist: that is
    /// reported as missing elsewhere), else why not, naming `what` and where it leads.
    pub(crate) fn holds(&self, path: &Path, what: &str) -> Result<(), String> {
        let Ok(target) = std::fs::canonicalize(path) else { return Ok(()) };
        match &self.resolved {
            Some(home) if target.starts_with(home) => Ok(()),
            _ => Err(format!("{what} leads to `{}`, outside the module folder: a module may use only its own files", target.display())),
        }
    }
}

fn sql_files(home: &ModuleHome, dir: &Path, problems: &mut Vec<Diagnostic>) -> Vec<(String, PathBuf)> {
    if let Err(outside) = home.holds(dir, "the folder") {
        problems.push(Diagnostic::error(dir, outside));
        return Vec::new();
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            problems.push(Diagnostic::error(dir, format!("cannot read: {e}")));
            return Vec::new();
        }
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if let Err(outside) = home.holds(&path, "the file") {
            problems.push(Diagnostic::error(&path, outside));
            continue;
        }
        if !path.is_file() {
            // Another engine's files have a folder of their own.
            if path.is_dir() && Engine::Postgres.folder() == Some(name.as_str()) {
                continue;
            }
            problems.push(Diagnostic::warning(&path, "ignored: not a file"));
            continue;
        }
        files.push((name, path));
    }
    files.sort();
    files
}

fn load_migrations(home: &ModuleHome, dir: &Path, problems: &mut Vec<Diagnostic>) -> Vec<Migration> {
    let mut migrations: Vec<(Migration, PathBuf)> = Vec::new();
    for (file_name, path) in sql_files(home, dir, problems) {
        let (name, version) = match parse_migration_file_name(&file_name) {
            Ok(parsed) => parsed,
            Err(message) => {
                problems.push(Diagnostic::error(&path, format!("invalid migration file name: {message}")));
                continue;
            }
        };
        if let Some((twin, twin_path)) = migrations.iter().find(|(m, _)| m.version == version) {
            problems.push(Diagnostic::error(
                &path,
                format!("migration version {version} is used twice: `{}` and `{}` ({})", twin.name, name, twin_path.display()),
            ));
            continue;
        }
        if let Some(sql) = read_text(&path, problems) {
            migrations.push((Migration { name, version, sql }, path));
        }
    }
    migrations.into_iter().map(|(m, _)| m).collect()
}

fn load_seeds(home: &ModuleHome, dir: &Path, problems: &mut Vec<Diagnostic>) -> Vec<Seed> {
    let mut seeds = Vec::new();
    for (name, path) in sql_files(home, dir, problems) {
        if !name.ends_with(".sql") {
            problems.push(Diagnostic::warning(&path, "ignored: seeds are `.sql` files"));
            continue;
        }
        if let Some(sql) = read_text(&path, problems) {
            seeds.push(Seed { name, sql });
        }
    }
    seeds
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub(crate) fn manifest(name: &str, version: &str) -> String {
        format!("[module]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"d\"\n")
    }

    #[test]
    fn finds_manifests_at_any_depth_and_skips_hidden_and_target() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("a/module.toml"), &manifest("a", "1.0.0"));
        write(&root.join("a/migrations/V1__init.sql"), "create table a(x);");
        write(&root.join("b/1.0.0/module.toml"), &manifest("b", "1.0.0"));
        write(&root.join("b/2.0.0/module.toml"), &manifest("b", "2.0.0"));
        write(&root.join(".git/module.toml"), &manifest("hidden", "1.0.0"));
        write(&root.join("target/module.toml"), &manifest("built", "1.0.0"));
        let found = DiskModules::new(root).discover();
        let mut labels: Vec<String> = found.versions.iter().map(|v| v.label()).collect();
        labels.sort();
        assert_eq!(labels, ["a 1.0.0", "b 1.0.0", "b 2.0.0"]);
        assert_eq!(found.manifests, 3);
        let a = found.versions.iter().find(|v| v.name().as_str() == "a").unwrap();
        assert_eq!(a.migrations[0].name, "V1__init");
    }

    #[test]
    fn postgres_migrations_and_seeds_sit_in_folders_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("a/module.toml"), &manifest("a", "1.0.0"));
        write(&root.join("a/migrations/V1__init.sql"), "create table a(x integer);");
        write(&root.join("a/migrations/postgres/V1__init.sql"), "create table a(x bigint);");
        write(&root.join("a/seeds/postgres/01.sql"), "insert into a values (1);");
        write(&root.join("b/module.toml"), &manifest("b", "1.0.0"));
        write(&root.join("b/migrations/V1__init.sql"), "create table b(x);");
        write(&root.join("c/module.toml"), &manifest("c", "1.0.0"));
        write(&root.join("c/migrations/postgres/V1_bad.sql"), "");
        let found = DiskModules::new(root).discover();
        let get = |name: &str| found.versions.iter().find(|v| v.name().as_str() == name);
        let a = get("a").unwrap();
        let (migrations, seeds) = a.sql(Engine::Postgres).unwrap();
        assert_eq!((migrations[0].sql.as_str(), seeds.len()), ("create table a(x bigint);", 1));
        assert_eq!(a.migrations[0].sql, "create table a(x integer);", "the SQLite ones are apart");
        assert!(a.seeds.is_empty());
        assert!(get("b").unwrap().sql(Engine::Postgres).is_none(), "no PostgreSQL SQL: not for PostgreSQL tenants");
        assert!(get("c").is_none(), "a bad PostgreSQL migration leaves the module out");
        let problems: Vec<String> = found.diagnostics.iter().map(ToString::to_string).collect();
        assert!(
            problems.iter().any(|p| p.contains("c/migrations/postgres/V1_bad.sql") && p.contains("invalid migration file name")),
            "{problems:#?}"
        );
        assert!(!problems.iter().any(|p| p.contains("not a file")), "the engine's folder is no stray entry: {problems:#?}");
    }

    #[test]
    fn bad_files_become_diagnostics_and_their_module_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("a/module.toml"), &manifest("a", "1.0.0"));
        write(&root.join("a/migrations/V1_init.sql"), "");
        write(&root.join("b/module.toml"), &format!("{}[hooks]\npost_install = \"hooks/missing.sh\"\n", manifest("b", "1.0.0")));
        std::fs::create_dir_all(root.join("c")).unwrap();
        std::fs::write(root.join("c/module.toml"), [0xff, 0xfe, 0x00, 0x81]).unwrap();
        let found = DiskModules::new(root).discover();
        assert!(found.versions.is_empty());
        let errors: Vec<String> = found.diagnostics.iter().filter(|d| d.is_error()).map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(errors[0].contains("V1_init.sql") && errors[0].contains("invalid migration file name"));
        assert!(errors[1].contains("b/module.toml:6:1") && errors[1].contains("does not exist"), "{}", errors[1]);
        assert!(errors[2].contains("not UTF-8"));
    }

    #[test]
    fn hooks_must_be_executable() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("a/module.toml"), &format!("{}[hooks]\npre_install = \"hooks/check.sh\"\n", manifest("a", "1.0.0")));
        write(&root.join("a/hooks/check.sh"), "#!/bin/sh\n");
        let found = DiskModules::new(root).discover();
        assert!(found.diagnostics.iter().any(|d| d.message.contains("not executable")));
        std::fs::set_permissions(root.join("a/hooks/check.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(DiskModules::new(root).discover().versions.len(), 1);
    }

    #[test]
    fn files_that_lead_outside_the_module_folder_are_refused() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&outside.path().join("secret.sql"), "create table stolen(x);");
        write(&outside.path().join("run.sh"), "#!/bin/sh\n");
        std::fs::set_permissions(outside.path().join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        // A migration, a seed folder and a hook that are links out of the module.
        write(&root.join("a/module.toml"), &format!("{}[hooks]\npost_install = \"hooks/run.sh\"\n", manifest("a", "1.0.0")));
        std::fs::create_dir_all(root.join("a/migrations")).unwrap();
        symlink(outside.path().join("secret.sql"), root.join("a/migrations/V1__init.sql")).unwrap();
        symlink(outside.path(), root.join("a/seeds")).unwrap();
        std::fs::create_dir_all(root.join("a/hooks")).unwrap();
        symlink(outside.path().join("run.sh"), root.join("a/hooks/run.sh")).unwrap();
        // A link that stays inside the module is its own file, and a linked module folder
        // is the module's home wherever it resolves.
        write(&root.join("b/migrations/V1__init.sql"), "create table b(x);");
        write(&root.join("b/module.toml"), &manifest("b", "1.0.0"));
        symlink("V1__init.sql", root.join("b/migrations/V2__again.sql")).unwrap();
        let linked = tempfile::tempdir().unwrap();
        write(&linked.path().join("module.toml"), &manifest("c", "1.0.0"));
        write(&linked.path().join("migrations/V1__init.sql"), "create table c(x);");
        symlink(linked.path(), root.join("c")).unwrap();
        let found = DiskModules::new(root).discover();
        let labels: Vec<String> = found.versions.iter().map(|v| v.label()).collect();
        assert_eq!(labels, ["b 1.0.0", "c 1.0.0"]);
        let errors: Vec<String> = found.diagnostics.iter().filter(|d| d.is_error()).map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(errors.iter().all(|e| e.contains("outside the module folder")), "{errors:#?}");
        assert!(errors.iter().any(|e| e.contains("V1__init.sql") && e.contains("secret.sql")), "{errors:#?}");
        assert!(errors.iter().any(|e| e.contains("a/seeds: error: the folder leads to")), "{errors:#?}");
        assert!(errors.iter().any(|e| e.contains("hook `post_install`") && e.contains("run.sh")), "{errors:#?}");
    }
}
