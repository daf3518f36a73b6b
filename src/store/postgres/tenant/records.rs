//! What a tenant's schema records about itself in its `_modreg_*` tables, written from
//! the changes a tenant database keeps (`Change::kept_by_tenant_file`) inside the
//! caller's transaction, and read back for `doctor` and a rebuilt landlord.

use postgres::GenericClient;

use super::{ident, literal};
use crate::domain::change::Change;
use crate::store::{AppliedMigration, EnabledRecord, FlagRecord, ModuleRecord, OwnedObject, TenantRecords, Unrecorded};

/// The statements that store one change the way a tenant database keeps it: unguarded,
/// since the landlord holds the guards; none for a change that is not the tenant
/// database's. Values are literals, so that a change set goes in one round trip.
pub(super) fn statements(schema: &str, change: &Change) -> Vec<String> {
    let s = ident(schema);
    let l = |text: &str| literal(text);
    let set_enabled = |module: &str, enabled: bool, at: &str| {
        format!(
            "INSERT INTO {s}._modreg_enabled (module, enabled, updated_at) VALUES ({}, {enabled}, {})
             ON CONFLICT (module) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
            l(module),
            l(at)
        )
    };
    match change {
        Change::AddTenant { at, .. } => {
            vec![format!("INSERT INTO {s}._modreg_tenant (key, value) VALUES ('created_at', {}) ON CONFLICT (key) DO NOTHING", l(at))]
        }
        Change::PutModule { module, at, .. } => vec![set_enabled(module, true, at)],
        Change::RestoreModule { module, enabled, updated_at, .. } => vec![set_enabled(module, *enabled, updated_at)],
        Change::SetEnabled { module, enabled, at, .. } => vec![set_enabled(module, *enabled, at)],
        Change::RemoveModule { module, .. } => vec![
            format!("DELETE FROM {s}._modreg_enabled WHERE module = {}", l(module)),
            format!("DELETE FROM {s}._modreg_flags WHERE module = {}", l(module)),
        ],
        Change::AddFlags { module, flags, at, .. } => flags
            .iter()
            .map(|(flag, value)| {
                format!(
                    "INSERT INTO {s}._modreg_flags (module, flag, value, updated_at) VALUES ({}, {}, {value}, {})
                     ON CONFLICT (module, flag) DO NOTHING",
                    l(module),
                    l(flag),
                    l(at)
                )
            })
            .collect(),
        Change::RemoveFlags { module, except, .. } => {
            let except: Vec<String> = except.iter().map(|f| l(f)).collect();
            let kept = if except.is_empty() { String::new() } else { format!(" AND flag NOT IN ({})", except.join(", ")) };
            vec![format!("DELETE FROM {s}._modreg_flags WHERE module = {}{kept}", l(module))]
        }
        Change::SetFlag { module, flag, value, at, .. } => vec![format!(
            "INSERT INTO {s}._modreg_flags (module, flag, value, updated_at) VALUES ({}, {}, {value}, {})
             ON CONFLICT (module, flag) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            l(module),
            l(flag),
            l(at)
        )],
        _ => Vec::new(),
    }
}

/// What the schema lacks: when the tenant was added, and the modules without an enabled
/// state.
pub(super) fn unrecorded(client: &mut impl GenericClient, schema: &str) -> Result<Unrecorded, postgres::Error> {
    let s = ident(schema);
    // One round trip (module names have no commas).
    let sql = format!(
        "SELECT NOT EXISTS (SELECT 1 FROM {s}._modreg_tenant WHERE key = 'created_at'),
                COALESCE(string_agg(module, ',' ORDER BY module), '')
         FROM {s}._modreg_modules WHERE module NOT IN (SELECT module FROM {s}._modreg_enabled)"
    );
    let mut unrecorded = Unrecorded::default();
    for message in client.simple_query(&sql)? {
        if let postgres::SimpleQueryMessage::Row(row) = message {
            unrecorded.created_at = row.get(0) == Some("t");
            unrecorded.modules = row.get(1).unwrap_or_default().split(',').filter(|m| !m.is_empty()).map(str::to_string).collect();
        }
    }
    Ok(unrecorded)
}

/// What the tenant's schema records about itself.
pub(super) fn read(conn: &mut crate::store::postgres::pool::Connection, schema: &str) -> Result<TenantRecords, postgres::Error> {
    let present: std::collections::HashSet<String> =
        super::catalog::list(conn, schema)?.into_iter().map(|o| o.name.to_lowercase()).collect();
    let client = conn.client();
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
    for r in client.query(&format!("SELECT module, version, name FROM {s}._modreg_history ORDER BY module, version"), &[])? {
        let applied = AppliedMigration { version: r.get(1), name: r.get::<_, Option<String>>(2).unwrap_or_default() };
        records.history.entry(r.get(0)).or_default().push(applied);
    }
    for r in client.query(&format!("SELECT name, module, type FROM {s}._modreg_objects ORDER BY module, name"), &[])? {
        let name: String = r.get(0);
        let is_present = present.contains(&name.to_lowercase());
        records.objects.push(OwnedObject { name, module: r.get(1), kind: r.get(2), present: is_present });
    }
    Ok(records)
}
