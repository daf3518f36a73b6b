//! The landlord read model for applications: one read-only connection, the few
//! prepared queries the library API needs, and SQLite's `data_version`, which moves
//! whenever another connection commits.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::domain::{Error, Result};
use crate::store::sqlite::error::sql_error;
use crate::store::sqlite::files::landlord_file;
use crate::store::{ModuleState, ReadModel, TenantSnapshot};

pub struct SqliteReadModel {
    conn: Connection,
    /// The landlord, as errors name it.
    what: String,
}

impl SqliteReadModel {
    pub fn open(landlord: &Path) -> Result<SqliteReadModel> {
        if !landlord.is_file() {
            return Err(Error::not_found(format!("there is no landlord at `{}`", landlord.display()))
                .with_hint("point at the data folder modreg writes (`--data`, default `modreg-data`)"));
        }
        let what = landlord_file(landlord);
        let err = |e| sql_error(&what, e);
        let conn =
            Connection::open_with_flags(landlord, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
        Ok(SqliteReadModel { conn, what })
    }
}

impl ReadModel for SqliteReadModel {
    fn version(&mut self) -> Result<i64> {
        let err = |e| sql_error(&self.what, e);
        self.conn.prepare_cached("PRAGMA data_version").and_then(|mut s| s.query_row([], |r| r.get(0))).map_err(err)
    }

    fn tenant(&mut self, tenant: &str) -> Result<Option<TenantSnapshot>> {
        let err = |e| sql_error(&self.what, e);
        let tx = self.conn.transaction().map_err(err)?;
        let exists = tx
            .prepare_cached("SELECT count(*) FROM tenants WHERE name = ?1")
            .and_then(|mut s| s.query_row([tenant], |r| r.get::<_, i64>(0)))
            .map_err(err)?
            > 0;
        if !exists {
            return Ok(None);
        }
        let mut snapshot = TenantSnapshot::default();
        {
            let mut modules = tx.prepare_cached("SELECT module, version, enabled FROM tenant_modules WHERE tenant = ?1").map_err(err)?;
            let rows =
                modules.query_map([tenant], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, bool>(2)?))).map_err(err)?;
            for row in rows {
                let (module, version, enabled) = row.map_err(err)?;
                snapshot.modules.insert(module, ModuleState { version, enabled, flags: Default::default() });
            }
            let mut flags = tx.prepare_cached("SELECT module, flag, value FROM flags WHERE tenant = ?1").map_err(err)?;
            let rows =
                flags.query_map([tenant], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, bool>(2)?))).map_err(err)?;
            for row in rows {
                let (module, flag, value) = row.map_err(err)?;
                if let Some(state) = snapshot.modules.get_mut(&module) {
                    state.flags.insert(flag, value);
                }
            }
        }
        tx.commit().map_err(err)?;
        Ok(Some(snapshot))
    }
}
