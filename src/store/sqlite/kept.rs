//! What a tenant file keeps for a landlord rebuilt from it, beside its modules' own
//! records: when the tenant was added (`_modreg_tenant`), whether each module is enabled
//! (`_modreg_enabled`) and its flags (`_modreg_flags`). Written here from the changes of
//! a set that a tenant file keeps, inside the caller's transaction; read back by
//! `check::tenant_records`.

use rusqlite::{Connection, OptionalExtension, params};

use crate::domain::change::Change;
use crate::store::Unrecorded;

/// Stores one change the way a tenant file keeps it (`Change::kept_by_tenant_file`):
/// unguarded, since the landlord holds the guards; any other change is not the file's.
pub(crate) fn record(conn: &Connection, change: &Change) -> rusqlite::Result<()> {
    let set_enabled = |module: &str, enabled: bool, at: &str| {
        conn.prepare_cached(
            "INSERT INTO _modreg_enabled (module, enabled, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (module) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
        )?
        .execute(params![module, enabled, at])
    };
    match change {
        Change::AddTenant { at, .. } => {
            conn.prepare_cached("INSERT INTO _modreg_tenant (key, value) VALUES ('created_at', ?1) ON CONFLICT (key) DO NOTHING")?
                .execute([at])?;
        }
        Change::PutModule { module, at, .. } => {
            set_enabled(module, true, at)?;
        }
        Change::RestoreModule { module, enabled, updated_at, .. } => {
            set_enabled(module, *enabled, updated_at)?;
        }
        Change::SetEnabled { module, enabled, at, .. } => {
            set_enabled(module, *enabled, at)?;
        }
        Change::RemoveModule { module, .. } => {
            conn.prepare_cached("DELETE FROM _modreg_enabled WHERE module = ?1")?.execute([module])?;
            conn.prepare_cached("DELETE FROM _modreg_flags WHERE module = ?1")?.execute([module])?;
        }
        Change::AddFlags { module, flags, at, .. } => {
            let mut insert = conn.prepare_cached(
                "INSERT INTO _modreg_flags (module, flag, value, updated_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (module, flag) DO NOTHING",
            )?;
            for (flag, value) in flags {
                insert.execute(params![module, flag, value, at])?;
            }
        }
        Change::RemoveFlags { module, except, .. } => {
            let except = serde_json::to_string(except).unwrap_or_else(|_| "[]".into());
            conn.prepare_cached("DELETE FROM _modreg_flags WHERE module = ?1 AND flag NOT IN (SELECT value FROM json_each(?2))")?
                .execute(params![module, except])?;
        }
        Change::SetFlag { module, flag, value, at, .. } => {
            conn.prepare_cached(
                "INSERT INTO _modreg_flags (module, flag, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (module, flag) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )?
            .execute(params![module, flag, value, at])?;
        }
        _ => {}
    }
    Ok(())
}

/// What a file that an older modreg wrote lacks: when the tenant was added, and the
/// modules of `_modreg_modules` without an enabled state (their flags were not kept
/// either).
pub(crate) fn unrecorded(conn: &Connection) -> rusqlite::Result<Unrecorded> {
    let created_at =
        conn.prepare_cached("SELECT 1 FROM _modreg_tenant WHERE key = 'created_at'")?.query_row([], |_| Ok(())).optional()?.is_none();
    let modules = conn
        .prepare_cached("SELECT module FROM _modreg_modules WHERE module NOT IN (SELECT module FROM _modreg_enabled) ORDER BY module")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Unrecorded { created_at, modules })
}
