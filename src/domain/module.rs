//! One published module version: its manifest, its migrations and seeds, where it came
//! from, and the checksum that makes a published version immutable. Pure: discovery in
//! `store` reads the files and builds these values.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::domain::manifest::{HookKind, Manifest};

/// A migration, named as refinery names them: `V{version}__{name}.sql`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The refinery name without extension, e.g. `V1__invoices`.
    pub name: String,
    pub version: i32,
    pub sql: String,
}

/// A seed script, run once in file-name order right after a module's first install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    pub name: String,
    pub sql: String,
}

/// The engines a tenant database runs on. A module's migrations and seeds are written
/// for SQLite (`migrations/`, `seeds/`) and, beside them, may be for PostgreSQL
/// (`migrations/postgres/`, `seeds/postgres/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
        }
    }

    /// The folder under `migrations/` and `seeds/` that holds this engine's files
    /// (none: those folders themselves).
    pub fn folder(self) -> Option<&'static str> {
        match self {
            Engine::Sqlite => None,
            Engine::Postgres => Some("postgres"),
        }
    }
}

/// One engine's SQL of a module version: its migrations and seeds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineSql {
    pub migrations: Vec<Migration>,
    pub seeds: Vec<Seed>,
}

impl EngineSql {
    pub fn new(mut migrations: Vec<Migration>, mut seeds: Vec<Seed>) -> EngineSql {
        migrations.sort_by_key(|m| m.version);
        seeds.sort_by(|a, b| a.name.cmp(&b.name));
        EngineSql { migrations, seeds }
    }

    pub fn is_empty(&self) -> bool {
        self.migrations.is_empty() && self.seeds.is_empty()
    }
}

/// Where a module version's files live. Versions the landlord remembers but that are no
/// longer on disk have no folder: they can be uninstalled but not installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Folder(PathBuf),
    Landlord,
}

/// One name+version of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleVersion {
    pub manifest: Manifest,
    /// The manifest's text, exactly as read: part of the checksum and kept by the landlord.
    pub manifest_text: String,
    /// The SQLite migrations and seeds.
    pub migrations: Vec<Migration>,
    pub seeds: Vec<Seed>,
    /// The PostgreSQL migrations and seeds, when the module has any.
    pub postgres: Option<EngineSql>,
    pub source: Source,
    /// SHA-256 over manifest, migrations and seeds (of every engine).
    pub checksum: String,
}

impl ModuleVersion {
    pub fn new(manifest: Manifest, manifest_text: String, mut migrations: Vec<Migration>, mut seeds: Vec<Seed>, source: Source) -> Self {
        migrations.sort_by_key(|m| m.version);
        seeds.sort_by(|a, b| a.name.cmp(&b.name));
        let checksum = content_checksum(&manifest_text, &migrations, &seeds, None);
        ModuleVersion { manifest, manifest_text, migrations, seeds, postgres: None, source, checksum }
    }

    /// The version with PostgreSQL migrations and seeds beside its SQLite ones (none
    /// when `sql` is empty); its checksum covers them.
    pub fn with_postgres(mut self, sql: EngineSql) -> Self {
        self.postgres = (!sql.is_empty()).then_some(EngineSql::new(sql.migrations, sql.seeds));
        self.checksum = content_checksum(&self.manifest_text, &self.migrations, &self.seeds, self.postgres.as_ref());
        self
    }

    /// The migrations and seeds to run on `engine`, or why the module cannot run there:
    /// it has SQL for another engine and none for this one.
    pub fn require_sql(&self, engine: Engine) -> Result<(&[Migration], &[Seed]), crate::domain::Error> {
        self.sql(engine).ok_or_else(|| {
            crate::domain::Error::invalid(format!(
                "`{}` has no {} migrations: its SQL is written for SQLite, and the tenant databases are PostgreSQL schemas (`--tenants-db`)",
                self.label(),
                engine.as_str()
            ))
            .with_hint("give the module `migrations/postgres/` (and `seeds/postgres/`) beside its SQLite ones, in a new version")
        })
    }

    /// The migrations and seeds to run on `engine`; `None` when the module has SQL for
    /// another engine and none for this one. A module without any SQL runs anywhere.
    pub fn sql(&self, engine: Engine) -> Option<(&[Migration], &[Seed])> {
        match (engine, &self.postgres) {
            (Engine::Sqlite, _) => Some((&self.migrations, &self.seeds)),
            (Engine::Postgres, Some(sql)) => Some((&sql.migrations, &sql.seeds)),
            (Engine::Postgres, None) if self.migrations.is_empty() && self.seeds.is_empty() => Some((&[], &[])),
            (Engine::Postgres, None) => None,
        }
    }

    pub fn name(&self) -> &crate::domain::name::ModuleName {
        &self.manifest.name
    }

    pub fn version(&self) -> &semver::Version {
        &self.manifest.version
    }

    pub fn folder(&self) -> Option<&Path> {
        match &self.source {
            Source::Folder(dir) => Some(dir),
            Source::Landlord => None,
        }
    }

    /// Whether this version can be installed: its files are on disk.
    pub fn is_installable(&self) -> bool {
        matches!(self.source, Source::Folder(_))
    }

    /// The absolute path of a hook, when the manifest names one and the folder is known.
    pub fn hook_path(&self, kind: HookKind) -> Option<PathBuf> {
        let relative = self.manifest.hook(kind)?;
        Some(self.folder()?.join(relative))
    }

    /// `name version`, as status lines print it.
    pub fn label(&self) -> String {
        format!("{} {}", self.manifest.name, self.manifest.version)
    }
}

/// The checksum of a module version's content. Stable across platforms: file names and
/// contents, each length-prefixed so that no two different contents hash alike.
/// PostgreSQL's SQL, when there is any, comes after the rest under names of its own: the
/// checksum of a module without it is what it was before modules could have it.
pub fn content_checksum(manifest_text: &str, migrations: &[Migration], seeds: &[Seed], postgres: Option<&EngineSql>) -> String {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(b"manifest");
    field(manifest_text.as_bytes());
    for m in migrations {
        field(b"migration");
        field(m.name.as_bytes());
        field(m.sql.as_bytes());
    }
    for s in seeds {
        field(b"seed");
        field(s.name.as_bytes());
        field(s.sql.as_bytes());
    }
    for m in postgres.map_or(&[][..], |p| &p.migrations) {
        field(b"postgres migration");
        field(m.name.as_bytes());
        field(m.sql.as_bytes());
    }
    for s in postgres.map_or(&[][..], |p| &p.seeds) {
        field(b"postgres seed");
        field(s.name.as_bytes());
        field(s.sql.as_bytes());
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a migration file name, `V{n}__{name}.sql`, into its refinery name and version.
pub fn parse_migration_file_name(file_name: &str) -> Result<(String, i32), String> {
    let expected = "expected `V{number}__{name}.sql`, e.g. `V1__create_invoices.sql`";
    let Some(stem) = file_name.strip_suffix(".sql") else {
        return Err(format!("`{file_name}` is not a `.sql` file; {expected}"));
    };
    let Some(rest) = stem.strip_prefix('V') else {
        return Err(format!("`{file_name}` does not start with `V`; {expected}"));
    };
    let Some((digits, name)) = rest.split_once("__") else {
        return Err(format!("`{file_name}` has no `__` between version and name; {expected}"));
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{file_name}` has no whole-number version after `V`; {expected}"));
    }
    let version: i32 = digits.parse().map_err(|_| format!("`{file_name}`: version {digits} is too large"))?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("`{file_name}`: the name part may hold only letters, digits and `_`; {expected}"));
    }
    Ok((stem.to_string(), version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_names_follow_refinery() {
        assert_eq!(parse_migration_file_name("V1__invoices.sql").unwrap(), ("V1__invoices".into(), 1));
        assert_eq!(parse_migration_file_name("V012__a_b2.sql").unwrap(), ("V012__a_b2".into(), 12));
        for bad in [
            "V1_invoices.sql",
            "1__x.sql",
            "V__x.sql",
            "Vx__y.sql",
            "V1__.sql",
            "V1__a-b.sql",
            "V1__x.txt",
            "U1__x.sql",
            "V99999999999__x.sql",
        ] {
            assert!(parse_migration_file_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checksum_changes_with_any_content() {
        let m = |sql: &str| vec![Migration { name: "V1__a".into(), version: 1, sql: sql.into() }];
        let base = content_checksum("x", &m("create table a(x)"), &[], None);
        assert_eq!(base.len(), 64);
        assert_eq!(base, content_checksum("x", &m("create table a(x)"), &[], None));
        assert_ne!(base, content_checksum("x ", &m("create table a(x)"), &[], None));
        assert_ne!(base, content_checksum("x", &m("create table a(y)"), &[], None));
        let seeds = [Seed { name: "s.sql".into(), sql: String::new() }];
        assert_ne!(base, content_checksum("x", &m("create table a(x)"), &seeds, None));
        // Moving bytes between fields must not collide.
        assert_ne!(
            content_checksum("ab", &[], &[], None),
            content_checksum("a", &[], &[Seed { name: "b".into(), sql: String::new() }], None)
        );
        // PostgreSQL's SQL counts, and the same file for another engine is another content.
        let postgres = EngineSql::new(m("create table a(x)"), Vec::new());
        assert_ne!(base, content_checksum("x", &m("create table a(x)"), &[], Some(&postgres)));
        assert_ne!(content_checksum("x", &[], &[], Some(&postgres)), content_checksum("x", &m("create table a(x)"), &[], None));
    }
}
