//! The PostgreSQL landlord's read model for applications: one connection of its own, and
//! a version that moves whenever a change to what a tenant has commits (each appends an
//! event, and event ids become visible in their order).

use postgres::{Client, NoTls};

use super::pg_error;
use crate::domain::Result;
use crate::store::{ModuleState, ReadModel, TenantSnapshot};

pub struct PostgresReadModel {
    client: Client,
    shown: String,
}

impl PostgresReadModel {
    pub(super) fn connect(config: &postgres::Config, shown: &str) -> Result<PostgresReadModel> {
        let client = config.connect(NoTls).map_err(|e| pg_error(shown, e))?;
        Ok(PostgresReadModel { client, shown: shown.to_string() })
    }
}

impl ReadModel for PostgresReadModel {
    fn version(&mut self) -> Result<i64> {
        let row = self.client.query_one("SELECT coalesce(max(id), 0) FROM events", &[]).map_err(|e| pg_error(&self.shown, e))?;
        Ok(row.get(0))
    }

    fn tenant(&mut self, tenant: &str) -> Result<Option<TenantSnapshot>> {
        let shown = self.shown.clone();
        let err = |e| pg_error(&shown, e);
        let mut tx = self.client.build_transaction().read_only(true).start().map_err(err)?;
        if tx.query_opt("SELECT 1 FROM tenants WHERE name = $1", &[&tenant]).map_err(err)?.is_none() {
            return Ok(None);
        }
        let mut snapshot = TenantSnapshot::default();
        for row in tx.query("SELECT module, version, enabled FROM tenant_modules WHERE tenant = $1", &[&tenant]).map_err(err)? {
            snapshot.modules.insert(row.get(0), ModuleState { version: row.get(1), enabled: row.get(2), flags: Default::default() });
        }
        for row in tx.query("SELECT module, flag, value FROM flags WHERE tenant = $1", &[&tenant]).map_err(err)? {
            if let Some(state) = snapshot.modules.get_mut(&row.get::<_, String>(0)) {
                state.flags.insert(row.get(1), row.get(2));
            }
        }
        tx.commit().map_err(err)?;
        Ok(Some(snapshot))
    }
}
