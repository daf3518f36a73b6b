//! SQLite files checked as they are, read-only, while other processes may work on them:
//! `PRAGMA integrity_check` and `foreign_key_check` of the landlord and of tenant files,
//! and what a tenant file records about itself. For `doctor`; nothing here writes.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::store::sqlite::error::configure;
use crate::store::sqlite::schema::{HISTORY_PREFIX, quote};
use crate::store::{AppliedMigration, EnabledRecord, FlagRecord, ModuleRecord, OwnedObject, TenantRecords};

/// How many problems `integrity_check` lists at most: enough to tell a damaged page
/// from a damaged file, without reading every page's complaint.
const MOST_PROBLEMS: usize = 20;

/// Opens the file at `path` read-only, waiting up to `busy_timeout` for writers.
pub(crate) fn open_read_only(path: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    configure(&conn, busy_timeout)?;
    Ok(conn)
}

/// What `PRAGMA integrity_check` finds wrong; empty when it says `ok`.
pub(crate) fn integrity(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    problems(conn, "integrity_check")
}

/// What `PRAGMA quick_check` finds wrong: every page read, without matching indexes to
/// their tables.
pub(crate) fn quick(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    problems(conn, "quick_check")
}

fn problems(conn: &Connection, pragma: &str) -> rusqlite::Result<Vec<String>> {
    let problems: Vec<String> =
        conn.prepare(&format!("PRAGMA {pragma}({MOST_PROBLEMS})"))?.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(problems.into_iter().filter(|p| p != "ok").collect())
}

/// Rows whose foreign keys point at nothing, in words.
pub(crate) fn foreign_keys(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare("PRAGMA foreign_key_check")?
        .query_map([], |r| {
            let (child, rowid, parent) = (r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, String>(2)?);
            let row = rowid.map_or_else(|| "a row".to_string(), |id| format!("row {id}"));
            Ok(format!("{row} of `{child}` refers to a row of `{parent}` that does not exist"))
        })?
        .collect()
}

/// What the tenant file on `conn` records about itself in its `_modreg_*` tables.
pub(crate) fn tenant_records(conn: &Connection) -> rusqlite::Result<TenantRecords> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE '\\_modreg\\_%' ESCAPE '\\'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let has = |table: &str| tables.iter().any(|t| t == table);
    let mut records = TenantRecords::default();
    if has("_modreg_modules") {
        records.modules = conn
            .prepare("SELECT module, version, checksum, installed_at, updated_at FROM _modreg_modules")?
            .query_map([], |r| {
                Ok((r.get(0)?, ModuleRecord { version: r.get(1)?, checksum: r.get(2)?, installed_at: r.get(3)?, updated_at: r.get(4)? }))
            })?
            .collect::<rusqlite::Result<_>>()?;
    }
    // Files an older modreg wrote, opened by no command since, have none of these.
    if has("_modreg_tenant") {
        records.created_at = conn.query_row("SELECT value FROM _modreg_tenant WHERE key = 'created_at'", [], |r| r.get(0)).optional()?;
    }
    if has("_modreg_enabled") {
        records.enabled = conn
            .prepare("SELECT module, enabled, updated_at FROM _modreg_enabled")?
            .query_map([], |r| Ok((r.get(0)?, EnabledRecord { enabled: r.get(1)?, updated_at: r.get(2)? })))?
            .collect::<rusqlite::Result<_>>()?;
    }
    if has("_modreg_flags") {
        let flags = conn
            .prepare("SELECT module, flag, value, updated_at FROM _modreg_flags ORDER BY module, flag")?
            .query_map([], |r| Ok(FlagRecord { module: r.get(0)?, flag: r.get(1)?, value: r.get(2)?, updated_at: r.get(3)? }))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for flag in flags {
            records.flags.entry(flag.module.clone()).or_default().push(flag);
        }
    }
    for table in &tables {
        let Some(module) = table.strip_prefix(HISTORY_PREFIX) else { continue };
        let applied = conn
            .prepare(&format!("SELECT version, name FROM {} ORDER BY version", quote(table)))?
            .query_map([], |r| Ok(AppliedMigration { version: r.get(0)?, name: r.get(1)? }))?
            .collect::<rusqlite::Result<_>>()?;
        records.history.insert(module.to_string(), applied);
    }
    if has("_modreg_objects") {
        records.objects = conn
            .prepare(
                "SELECT o.name, o.module, o.type, EXISTS (SELECT 1 FROM sqlite_schema s WHERE s.name = o.name COLLATE NOCASE)
                 FROM _modreg_objects o ORDER BY o.module, o.name",
            )?
            .query_map([], |r| Ok(OwnedObject { name: r.get(0)?, module: r.get(1)?, kind: r.get(2)?, present: r.get(3)? }))?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(records)
}
