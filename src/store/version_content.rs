//! A module version's SQL as the landlord keeps it, on either engine: two JSON arrays,
//! the migrations (`[{"name", "version", "sql"}]`) and the seeds (`[{"name", "sql"}]`).
//! PostgreSQL's are in the same arrays, marked `"engine": "postgres"`, so that the
//! landlord's schema did not change when modules could have them.

use serde::{Deserialize, Serialize};

use crate::domain::module::{EngineSql, Migration, ModuleVersion, Seed};

const POSTGRES: &str = "postgres";

#[derive(Serialize, Deserialize)]
struct StoredMigration {
    name: String,
    version: i32,
    sql: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    engine: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredSeed {
    name: String,
    sql: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    engine: Option<String>,
}

/// The two arrays of `version`'s SQL.
pub(crate) fn encode(version: &ModuleVersion) -> (serde_json::Value, serde_json::Value) {
    let engine = |postgres: bool| postgres.then(|| POSTGRES.to_string());
    let postgres = version.postgres.as_ref();
    let migrations: Vec<StoredMigration> = (version.migrations.iter().map(|m| (m, false)))
        .chain(postgres.into_iter().flat_map(|p| p.migrations.iter().map(|m| (m, true))))
        .map(|(m, pg)| StoredMigration { name: m.name.clone(), version: m.version, sql: m.sql.clone(), engine: engine(pg) })
        .collect();
    let seeds: Vec<StoredSeed> = (version.seeds.iter().map(|s| (s, false)))
        .chain(postgres.into_iter().flat_map(|p| p.seeds.iter().map(|s| (s, true))))
        .map(|(s, pg)| StoredSeed { name: s.name.clone(), sql: s.sql.clone(), engine: engine(pg) })
        .collect();
    (serde_json::to_value(migrations).unwrap_or_default(), serde_json::to_value(seeds).unwrap_or_default())
}

/// A version's SQL from the two arrays: SQLite's migrations and seeds, and PostgreSQL's
/// when there are any.
pub(crate) fn decode(
    migrations: serde_json::Value,
    seeds: serde_json::Value,
) -> Result<(Vec<Migration>, Vec<Seed>, EngineSql), serde_json::Error> {
    let migrations: Vec<StoredMigration> = serde_json::from_value(migrations)?;
    let seeds: Vec<StoredSeed> = serde_json::from_value(seeds)?;
    let (mut sqlite, mut postgres) = ((Vec::new(), Vec::new()), EngineSql::default());
    for m in migrations {
        let migration = Migration { name: m.name, version: m.version, sql: m.sql };
        if m.engine.as_deref() == Some(POSTGRES) { postgres.migrations.push(migration) } else { sqlite.0.push(migration) }
    }
    for s in seeds {
        let seed = Seed { name: s.name, sql: s.sql };
        if s.engine.as_deref() == Some(POSTGRES) { postgres.seeds.push(seed) } else { sqlite.1.push(seed) }
    }
    Ok((sqlite.0, sqlite.1, postgres))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::manifest::parse_manifest;
    use crate::domain::module::Source;

    #[test]
    fn each_engines_sql_reads_back_as_it_was_and_the_checksum_with_it() {
        let text = "[module]\nname = \"a\"\nversion = \"1.0.0\"\ndescription = \"d\"\n";
        let manifest = parse_manifest(text, std::path::Path::new("module.toml")).unwrap();
        let m = |sql: &str| Migration { name: "V1__a".into(), version: 1, sql: sql.into() };
        let seed = Seed { name: "01.sql".into(), sql: "insert".into() };
        let version = ModuleVersion::new(manifest.clone(), text.into(), vec![m("integer")], vec![], Source::Landlord)
            .with_postgres(EngineSql::new(vec![m("bigint")], vec![seed]));
        let (migrations, seeds) = encode(&version);
        let (sqlite, sqlite_seeds, postgres) = decode(migrations, seeds).unwrap();
        let again = ModuleVersion::new(manifest, text.into(), sqlite, sqlite_seeds, Source::Landlord).with_postgres(postgres);
        assert_eq!(again.checksum, version.checksum);
        assert_eq!(again.postgres, version.postgres);
        assert_eq!(again.migrations, version.migrations);
        // What an older modreg wrote has no engine: it is SQLite's.
        let (sqlite, _, postgres) =
            decode(serde_json::json!([{"name": "V1__a", "version": 1, "sql": "x"}]), serde_json::json!([])).unwrap();
        assert_eq!((sqlite.len(), postgres.is_empty()), (1, true));
    }
}
