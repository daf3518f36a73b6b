//! Module archives: a module's objects and rows saved to a SQLite file of their own, and
//! brought back. Used by uninstall (`archive/<tenant>/…`), by `install --restore`, and
//! for the pre-upgrade copies that `revert` needs.
//!
//! The archive holds each table with its original DDL and rows (rowids included), the
//! DDL of every other object in creation order, the migration history and the flags.
//! Restoring creates tables first, copies rows, then creates indexes, views and
//! triggers, so that no trigger fires on restored rows. Virtual tables are recreated from
//! their DDL and their shadow tables' rows are copied as they were.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::domain::{Error, Result};
use crate::store::sqlite::error::{read_or_write_error, sql_error, work_failure};
use crate::store::sqlite::files::connection_file;
use crate::store::sqlite::schema::{self, SchemaObject, history_table, quote, quote_literal};
use crate::store::storage::io_error;
use crate::store::{ArchiveSummary, WorkError};

const FORMAT: &str = "1";

const ARCHIVE_SCHEMA: &str = "
CREATE TABLE _modreg_archive (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE _modreg_archive_objects (seq INTEGER PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, tbl_name TEXT NOT NULL, sql TEXT);
CREATE TABLE _modreg_archive_history (version INTEGER PRIMARY KEY, name TEXT, applied_on TEXT, checksum TEXT);
";

/// The columns to copy for a table, and the name to copy its rowid by when it has one
/// of its own (not `WITHOUT ROWID`, not an `INTEGER PRIMARY KEY` alias).
fn copy_columns(conn: &Connection, schema: &str, table: &str) -> rusqlite::Result<(Vec<String>, Option<&'static str>)> {
    let mut columns = Vec::new();
    let mut pk = Vec::new();
    let mut stmt = conn.prepare(&format!(
        "SELECT name, type, pk, hidden FROM pragma_table_xinfo({}, {})",
        quote_literal(table),
        quote_literal(schema)
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let name: String = row.get(0)?;
        let kind: String = row.get(1)?;
        let pk_index: i64 = row.get(2)?;
        let hidden: i64 = row.get(3)?;
        if pk_index > 0 {
            pk.push(kind.clone());
        }
        if hidden == 0 {
            columns.push(name);
        }
    }
    let integer_pk = pk.len() == 1 && pk[0].eq_ignore_ascii_case("INTEGER");
    let alias = ["rowid", "_rowid_", "oid"].into_iter().find(|a| !columns.iter().any(|c| c.eq_ignore_ascii_case(a)));
    let rowid = alias.filter(|a| !integer_pk && schema::has_rowid(conn, schema, table, a));
    Ok((columns, rowid))
}

/// Copies every row of `table` from `from` to `to`; returns the count.
fn copy_rows(from: &Connection, from_schema: &str, to: &Connection, table: &str) -> rusqlite::Result<u64> {
    let (columns, rowid) = copy_columns(from, from_schema, table)?;
    let mut names: Vec<String> = columns.iter().map(|c| quote(c)).collect();
    if let Some(rowid) = rowid {
        names.insert(0, rowid.into());
    }
    if names.is_empty() {
        return Ok(0);
    }
    let list = names.join(", ");
    let placeholders = vec!["?"; names.len()].join(", ");
    let mut select = from.prepare(&format!("SELECT {list} FROM {}.{}", quote(from_schema), quote(table)))?;
    let mut insert = to.prepare(&format!("INSERT INTO {} ({list}) VALUES ({placeholders})", quote(table)))?;
    let mut rows = select.query([])?;
    let mut count = 0;
    while let Some(row) = rows.next()? {
        let values: Vec<Value> = (0..names.len()).map(|i| row.get::<_, Value>(i)).collect::<rusqlite::Result<_>>()?;
        insert.execute(rusqlite::params_from_iter(values))?;
        count += 1;
    }
    Ok(count)
}

/// Writes the module's objects and rows to `dest` (through a temporary file, so that a
/// half-written archive never carries the final name).
pub(crate) fn save(conn: &Connection, module: &str, flags: &BTreeMap<String, bool>, dest: &Path, now: &str) -> Result<ArchiveSummary> {
    let what = format!("the archive `{}`", dest.display());
    let tenant = connection_file(conn);
    let fail = |e: rusqlite::Error| read_or_write_error(e, &tenant, &what);
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(format!("cannot create `{}`", parent.display()), e))?;
    }
    let partial = dest.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let objects = schema::module_objects(conn, module).map_err(fail)?;
    let version: String = conn
        .query_row("SELECT version FROM _modreg_modules WHERE module = ?1", [module], |r| r.get(0))
        .map_err(|e| sql_error(format!("module `{module}` in {tenant}"), e))?;
    let checksum: String =
        conn.query_row("SELECT checksum FROM _modreg_modules WHERE module = ?1", [module], |r| r.get(0)).map_err(fail)?;

    let meta = Meta { module, version: &version, checksum: &checksum, created_at: now };
    let written = write_archive(conn, &meta, flags, &partial, &objects).map_err(fail);
    let (tables, rows) = match written {
        Ok(counts) => counts,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::rename(&partial, dest))
        .map_err(|e| io_error(format!("cannot finish {what}"), e))?;
    Ok(ArchiveSummary { module: module.to_string(), version, tables, rows, flags: flags.clone() })
}

/// What an archive says about itself, beside the module's objects.
struct Meta<'a> {
    module: &'a str,
    version: &'a str,
    checksum: &'a str,
    created_at: &'a str,
}

fn write_archive(
    conn: &Connection,
    meta: &Meta<'_>,
    flags: &BTreeMap<String, bool>,
    partial: &Path,
    objects: &[SchemaObject],
) -> rusqlite::Result<(usize, u64)> {
    let mut out = Connection::open(partial)?;
    out.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA foreign_keys = OFF;")?;
    let tx = out.transaction()?;
    tx.execute_batch(ARCHIVE_SCHEMA)?;
    let mut tables = 0;
    let mut rows = 0;
    for (seq, object) in objects.iter().enumerate() {
        tx.execute(
            "INSERT INTO _modreg_archive_objects (seq, name, type, tbl_name, sql) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![seq as i64, object.name, object.kind, object.tbl_name, object.sql],
        )?;
        if matches!(object.kind.as_str(), "table" | "shadow") {
            if let Some(sql) = &object.sql {
                tx.execute_batch(sql)?;
            }
            rows += copy_rows(conn, "main", &tx, &object.name)?;
            tables += 1;
        }
    }
    let history = history_table(meta.module);
    let history_sql: Option<String> =
        conn.query_row("SELECT sql FROM sqlite_schema WHERE name = ?1", [&history], |r| r.get(0)).optional()?;
    if history_sql.is_some() {
        let mut select = conn.prepare(&format!("SELECT version, name, applied_on, checksum FROM {}", quote(&history)))?;
        let mut insert = tx.prepare("INSERT INTO _modreg_archive_history (version, name, applied_on, checksum) VALUES (?1, ?2, ?3, ?4)")?;
        let mut found = select.query([])?;
        while let Some(r) = found.next()? {
            insert.execute(params![r.get::<_, Value>(0)?, r.get::<_, Value>(1)?, r.get::<_, Value>(2)?, r.get::<_, Value>(3)?])?;
        }
    }
    let flags_json = serde_json::to_string(flags).unwrap_or_else(|_| "{}".into());
    // AUTOINCREMENT counters, so that a restored table hands out the ids it would have.
    let mut sequences = BTreeMap::new();
    let has_sequence: bool =
        conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_sequence'", [], |r| r.get::<_, i64>(0))? > 0;
    if has_sequence {
        let mut select = conn.prepare("SELECT seq FROM sqlite_sequence WHERE name = ?1")?;
        for object in objects.iter().filter(|o| o.kind == "table") {
            if let Some(seq) = select.query_row([&object.name], |r| r.get::<_, i64>(0)).optional()? {
                sequences.insert(object.name.clone(), seq);
            }
        }
    }
    let sequences_json = serde_json::to_string(&sequences).unwrap_or_else(|_| "{}".into());
    for (key, value) in [
        ("format", FORMAT.to_string()),
        ("module", meta.module.to_string()),
        ("version", meta.version.to_string()),
        ("checksum", meta.checksum.to_string()),
        ("flags", flags_json),
        ("sequences", sequences_json),
        ("history_sql", history_sql.unwrap_or_default()),
        ("created_at", meta.created_at.to_string()),
    ] {
        tx.execute("INSERT INTO _modreg_archive (key, value) VALUES (?1, ?2)", params![key, value])?;
    }
    tx.commit()?;
    Ok((tables, rows))
}

/// Reads an archive's metadata, and counts its rows, without touching any tenant.
pub(crate) fn read_summary(path: &Path) -> Result<ArchiveSummary> {
    let what = format!("the archive `{}`", path.display());
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| sql_error(&what, e))?;
    let mut summary = summary(&conn).map_err(|e| sql_error(&what, e))?;
    summary.rows = count_rows(&conn).map_err(|e| sql_error(&what, e))?;
    Ok(summary)
}

/// The rows of an archive's tables, as `save` counted them when it wrote them.
fn count_rows(conn: &Connection) -> rusqlite::Result<u64> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM _modreg_archive_objects WHERE type IN ('table', 'shadow')")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut rows = 0;
    for table in tables {
        rows += conn.query_row(&format!("SELECT count(*) FROM {}", quote(&table)), [], |r| r.get::<_, i64>(0))?.max(0) as u64;
    }
    Ok(rows)
}

fn meta(conn: &Connection, key: &str) -> rusqlite::Result<String> {
    conn.query_row("SELECT value FROM _modreg_archive WHERE key = ?1", [key], |r| r.get(0))
}

fn summary(conn: &Connection) -> rusqlite::Result<ArchiveSummary> {
    let flags: BTreeMap<String, bool> = serde_json::from_str(&meta(conn, "flags")?).unwrap_or_default();
    let tables: i64 = conn.query_row("SELECT count(*) FROM _modreg_archive_objects WHERE type IN ('table', 'shadow')", [], |r| r.get(0))?;
    Ok(ArchiveSummary { module: meta(conn, "module")?, version: meta(conn, "version")?, tables: tables as usize, rows: 0, flags })
}

/// Recreates a module from an archive inside the tenant's open transaction.
pub(crate) fn restore(conn: &Connection, path: &Path, now: &str) -> std::result::Result<ArchiveSummary, WorkError> {
    let step = "restore";
    let tenant = connection_file(conn);
    let fail = |e: rusqlite::Error| WorkError::new(step, work_failure(format!("cannot restore from `{}`", path.display()), &tenant, &e));
    let archive = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(fail)?;
    archive.pragma_update(None, "foreign_keys", false).map_err(fail)?;
    let mut summary = summary(&archive).map_err(fail)?;
    let module = summary.module.clone();
    let objects: Vec<SchemaObject> = archive
        .prepare("SELECT name, type, tbl_name, sql FROM _modreg_archive_objects ORDER BY seq")
        .and_then(|mut s| {
            s.query_map([], |r| Ok(SchemaObject { name: r.get(0)?, kind: r.get(1)?, tbl_name: r.get(2)?, sql: r.get(3)? }))?.collect()
        })
        .map_err(fail)?;

    let existing: HashSet<String> = schema::list(conn).map_err(fail)?.into_iter().map(|o| o.name.to_lowercase()).collect();
    if let Some(clash) = objects.iter().find(|o| existing.contains(&o.name.to_lowercase())) {
        return Err(WorkError::new(
            step,
            Error::failed(format!("cannot restore `{module}`: the tenant already has an object named `{}`", clash.name)),
        ));
    }
    let run = |sql: &Option<String>| -> std::result::Result<(), WorkError> {
        match sql {
            Some(sql) => conn.execute_batch(sql).map_err(fail),
            None => Ok(()),
        }
    };
    for object in objects.iter().filter(|o| matches!(o.kind.as_str(), "table" | "virtual")) {
        run(&object.sql)?;
    }
    let attached = copy_archived_rows(&archive, conn, &objects).map_err(fail)?;
    summary.rows = attached;
    for kind in ["index", "view", "trigger"] {
        for object in objects.iter().filter(|o| o.kind == kind) {
            run(&object.sql)?;
        }
    }
    let sequences: BTreeMap<String, i64> = meta(&archive, "sequences").ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    for (table, seq) in &sequences {
        conn.execute("DELETE FROM sqlite_sequence WHERE name = ?1", [table]).map_err(fail)?;
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)", params![table, seq]).map_err(fail)?;
    }
    let history = history_table(&module);
    // The history table exactly as refinery created it.
    let history_sql = meta(&archive, "history_sql").ok().filter(|sql| !sql.is_empty()).unwrap_or_else(|| {
        format!(
            "CREATE TABLE {}(version INT4 PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), checksum VARCHAR(255))",
            quote(&history)
        )
    });
    conn.execute_batch(&history_sql).map_err(fail)?;
    copy_rows_named(&archive, "_modreg_archive_history", conn, &history).map_err(fail)?;
    let mut insert =
        conn.prepare("INSERT OR REPLACE INTO _modreg_objects (name, module, type, tbl_name) VALUES (?1, ?2, ?3, ?4)").map_err(fail)?;
    for object in &objects {
        insert.execute(params![object.name, module, object.kind, object.tbl_name]).map_err(fail)?;
    }
    let checksum = meta(&archive, "checksum").map_err(fail)?;
    conn.execute(
        "INSERT OR REPLACE INTO _modreg_modules (module, version, checksum, installed_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        params![module, summary.version, checksum, now],
    )
    .map_err(fail)?;
    Ok(summary)
}

/// Copies rows of the archive's tables into the tenant: ordinary tables as they are,
/// shadow tables replacing what creating their virtual table put there.
fn copy_archived_rows(archive: &Connection, tenant: &Connection, objects: &[SchemaObject]) -> rusqlite::Result<u64> {
    let mut rows = 0;
    for object in objects.iter().filter(|o| matches!(o.kind.as_str(), "table" | "shadow")) {
        if object.kind == "shadow" {
            tenant.execute_batch(&format!("DELETE FROM {}", quote(&object.name)))?;
        }
        rows += copy_rows(archive, "main", tenant, &object.name)?;
    }
    Ok(rows)
}

fn copy_rows_named(from: &Connection, from_table: &str, to: &Connection, to_table: &str) -> rusqlite::Result<()> {
    let mut select = from.prepare(&format!("SELECT version, name, applied_on, checksum FROM {}", quote(from_table)))?;
    let mut insert =
        to.prepare(&format!("INSERT INTO {} (version, name, applied_on, checksum) VALUES (?1, ?2, ?3, ?4)", quote(to_table)))?;
    let mut rows = select.query([])?;
    while let Some(r) = rows.next()? {
        insert.execute(params![r.get::<_, Value>(0)?, r.get::<_, Value>(1)?, r.get::<_, Value>(2)?, r.get::<_, Value>(3)?])?;
    }
    Ok(())
}
