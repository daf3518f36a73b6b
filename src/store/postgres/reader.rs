//! The PostgreSQL landlord's read model for applications: one connection of its own, a
//! tenant read in one prepared statement (one round trip, one snapshot), and a version
//! that moves whenever events can be read (every change to what a tenant has appends
//! one). The library API does not ask the version on this engine: a watcher tells it
//! what changed (`listen`).

use postgres::{Client, NoTls, Statement};

use super::events::last_position;
use super::{connect_error, pg_error};
use crate::domain::Result;
use crate::store::{ModuleState, ReadModel, TenantSnapshot};

/// A tenant's modules with their flags, one row per flag (or per module without flags),
/// and one row of NULLs for a tenant without modules; no row for an unknown tenant.
const TENANT: &str = "
    SELECT m.module, m.version, m.enabled, f.flag, f.value
    FROM tenants t
    LEFT JOIN tenant_modules m ON m.tenant = t.name
    LEFT JOIN flags f ON f.tenant = m.tenant AND f.module = m.module
    WHERE t.name = $1";

pub struct PostgresReadModel {
    client: Client,
    tenant: Statement,
    shown: String,
}

impl PostgresReadModel {
    pub(super) fn connect(config: &postgres::Config, shown: &str) -> Result<PostgresReadModel> {
        let mut client = config.connect(NoTls).map_err(|e| connect_error(shown, e))?;
        let tenant = client.prepare(TENANT).map_err(|e| pg_error(shown, e))?;
        Ok(PostgresReadModel { client, tenant, shown: shown.to_string() })
    }
}

impl ReadModel for PostgresReadModel {
    fn version(&mut self) -> Result<i64> {
        last_position(&mut self.client, &self.shown)
    }

    fn tenant(&mut self, tenant: &str) -> Result<Option<TenantSnapshot>> {
        let rows = self.client.query(&self.tenant, &[&tenant]).map_err(|e| pg_error(&self.shown, e))?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut snapshot = TenantSnapshot::default();
        for row in rows {
            let Some(module) = row.get::<_, Option<String>>(0) else { continue };
            let state = snapshot.modules.entry(module).or_insert_with(|| ModuleState {
                version: row.get(1),
                enabled: row.get(2),
                flags: Default::default(),
            });
            if let Some(flag) = row.get::<_, Option<String>>(3) {
                state.flags.insert(flag, row.get(4));
            }
        }
        Ok(Some(snapshot))
    }
}
