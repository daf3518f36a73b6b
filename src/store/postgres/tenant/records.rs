//! What a tenant's schema records about itself in its `_modreg_*` tables, written from
//! the changes a tenant database keeps (`Change::kept_by_tenant_file`) inside the
//! caller's transaction, and read back for `doctor` and a rebuilt landlord.

use postgres::GenericClient;

use super::catalog::history_table;
use super::ident;
use crate::domain::change::Change;
use crate::store::{AppliedMigration, EnabledRecord, FlagRecord, ModuleRecord, OwnedObject, TenantRecords, Unrecorded};

/// Stores one change the way a tenant database keeps it: unguarded, since the landlord
/// holds the guards; any other change is not the tenant database's.
pub(super) fn record<C: GenericClient>(client: &mut C, schema: &str, change: &Change) -> Result<(), postgres::Error> {
    let s = ident(schema);
    let set_enabled = |client: &mut C, module: &str, enabled: bool, at: &str| {
        client.execute(
            &format!(
                "INSERT INTO {s}._modreg_enabled (module, enabled, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (module) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at"
            ),
            &[&module, &enabled, &at],
        )
    };
    match change {
        Change::AddTenant { at, .. } => {
            client.execute(
                &format!("INSERT INTO {s}._modreg_tenant (key, value) VALUES ('created_at', $1) ON CONFLICT (key) DO NOTHING"),
                &[at],
            )?;
        }
        Change::PutModule { module, at, .. } => {
            set_enabled(client, module, true, at)?;
        }
        Change::RestoreModule { module, enabled, updated_at, .. } => {
            set_enabled(client, module, *enabled, updated_at)?;
        }
        Change::SetEnabled { module, enabled, at, .. } => {
            set_enabled(client, module, *enabled, at)?;
        }
        Change::RemoveModule { module, .. } => {
            client.execute(&format!("DELETE FROM {s}._modreg_enabled WHERE module = $1"), &[module])?;
            client.execute(&format!("DELETE FROM {s}._modreg_flags WHERE module = $1"), &[module])?;
        }
        Change::AddFlags { module, flags, at, .. } => {
            for (flag, value) in flags {
                client.execute(
                    &format!(
                        "INSERT INTO {s}._modreg_flags (module, flag, value, updated_at) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (module, flag) DO NOTHING"
                    ),
                    &[module, flag, value, at],
                )?;
            }
        }
        Change::RemoveFlags { module, except, .. } => {
            let except: Vec<&str> = except.iter().map(String::as_str).collect();
            client.execute(&format!("DELETE FROM {s}._modreg_flags WHERE module = $1 AND NOT (flag = ANY ($2))"), &[module, &except])?;
        }
        Change::SetFlag { module, flag, value, at, .. } => {
            client.execute(
                &format!(
                    "INSERT INTO {s}._modreg_flags (module, flag, value, updated_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (module, flag) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
                ),
                &[module, flag, value, at],
            )?;
        }
        _ => {}
    }
    Ok(())
}

/// What the schema lacks: when the tenant was added, and the modules without an enabled
/// state.
pub(super) fn unrecorded(client: &mut impl GenericClient, schema: &str) -> Result<Unrecorded, postgres::Error> {
    let s = ident(schema);
    let created_at = client.query(&format!("SELECT 1 FROM {s}._modreg_tenant WHERE key = 'created_at'"), &[])?.is_empty();
    let modules = client
        .query(
            &format!("SELECT module FROM {s}._modreg_modules WHERE module NOT IN (SELECT module FROM {s}._modreg_enabled) ORDER BY module"),
            &[],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(Unrecorded { created_at, modules })
}

/// What the tenant's schema records about itself.
pub(super) fn read(client: &mut impl GenericClient, schema: &str) -> Result<TenantRecords, postgres::Error> {
    let s = ident(schema);
    let mut records = TenantRecords::default();
    for r in client.query(&format!("SELECT module, version, checksum, installed_at, updated_at FROM {s}._modreg_modules"), &[])? {
        let record = ModuleRecord { version: r.get(1), checksum: r.get(2), installed_at: r.get(3), updated_at: r.get(4) };
        records.modules.insert(r.get(0), record);
    }
    records.created_at =
        client.query(&format!("SELECT value FROM {s}._modreg_tenant WHERE key = 'created_at'"), &[])?.first().map(|r| r.get(0));
    for r in client.query(&format!("SELECT module, enabled, updated_at FROM {s}._modreg_enabled"), &[])? {
        records.enabled.insert(r.get(0), EnabledRecord { enabled: r.get(1), updated_at: r.get(2) });
    }
    for r in client.query(&format!("SELECT module, flag, value, updated_at FROM {s}._modreg_flags ORDER BY module, flag"), &[])? {
        let flag = FlagRecord { module: r.get(0), flag: r.get(1), value: r.get(2), updated_at: r.get(3) };
        records.flags.entry(flag.module.clone()).or_default().push(flag);
    }
    let prefix = history_table("");
    let tables: Vec<String> = client
        .query(
            "SELECT relname::text FROM pg_class WHERE relnamespace = $1::text::regnamespace AND relkind = 'r' AND starts_with(relname, $2)",
            &[&s, &prefix],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for table in tables {
        let Some(module) = table.strip_prefix(&prefix) else { continue };
        let applied = client
            .query(&format!("SELECT version, name FROM {s}.{} ORDER BY version", ident(&table)), &[])?
            .iter()
            .map(|r| AppliedMigration { version: r.get(0), name: r.get::<_, Option<String>>(1).unwrap_or_default() })
            .collect();
        records.history.insert(module.to_string(), applied);
    }
    let present: std::collections::HashSet<String> =
        super::catalog::list(client, schema)?.into_iter().map(|o| o.name.to_lowercase()).collect();
    for r in client.query(&format!("SELECT name, module, type FROM {s}._modreg_objects ORDER BY module, name"), &[])? {
        let name: String = r.get(0);
        let is_present = present.contains(&name.to_lowercase());
        records.objects.push(OwnedObject { name, module: r.get(1), kind: r.get(2), present: is_present });
    }
    Ok(records)
}
