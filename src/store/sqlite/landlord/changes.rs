//! Storing a change set: each change is one statement, all of them in one transaction.
//! A guarded change that touches no row (a job already ended, a flag changed meanwhile,
//! a tenant already there) rolls the whole set back. No rule is decided here.

use rusqlite::{Transaction, params};

use super::{SqliteLandlord, to_json};
use crate::domain::Result;
use crate::domain::change::{Change, Commit};
use crate::domain::job::JobStatus;
use crate::store::ChangeStore;

impl ChangeStore for SqliteLandlord {
    fn commit(&self, changes: &[Change]) -> Result<Commit> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(|e| self.err(e))?;
        for (i, change) in changes.iter().enumerate() {
            let rows = store(&tx, change).map_err(|e| self.err(e))?;
            if change.is_guarded() && rows != 1 {
                // Dropping the transaction rolls it back.
                return Ok(Commit::Conflict(i));
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Commit::Done)
    }
}

/// Stores one change; returns the rows it touched.
fn store(tx: &Transaction<'_>, change: &Change) -> rusqlite::Result<usize> {
    match change {
        Change::AddTenant { name, host, at } => tx
            .prepare_cached("INSERT INTO tenants (name, created_at, host) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING")?
            .execute(params![name, at, host]),
        Change::MoveTenant { name, from, to } => {
            tx.prepare_cached("UPDATE tenants SET host = ?3 WHERE name = ?1 AND host IS ?2")?.execute(params![name, from, to])
        }
        Change::RemoveTenant { name } => {
            let mut rows = 0;
            for table in ["tenant_modules", "flags", "subscriptions"] {
                rows += tx.prepare_cached(&format!("DELETE FROM {table} WHERE tenant = ?1"))?.execute([name])?;
            }
            Ok(rows + tx.prepare_cached("DELETE FROM tenants WHERE name = ?1")?.execute([name])?)
        }
        Change::PutModule { tenant, module, version, at } => tx
            .prepare_cached(
                "INSERT INTO tenant_modules (tenant, module, version, state, enabled, installed_at, updated_at) VALUES (?1, ?2, ?3, 'installed', 1, ?4, ?4)
                 ON CONFLICT (tenant, module) DO UPDATE SET version = excluded.version, state = excluded.state, enabled = 1,
                     installed_at = excluded.installed_at, updated_at = excluded.updated_at",
            )?
            .execute(params![tenant, module, version, at]),
        Change::RestoreModule { tenant, module, version, enabled, installed_at, updated_at } => tx
            .prepare_cached(
                "INSERT INTO tenant_modules (tenant, module, version, state, enabled, installed_at, updated_at) VALUES (?1, ?2, ?3, 'installed', ?4, ?5, ?6)
                 ON CONFLICT (tenant, module) DO UPDATE SET version = excluded.version, state = excluded.state, enabled = excluded.enabled,
                     installed_at = excluded.installed_at, updated_at = excluded.updated_at",
            )?
            .execute(params![tenant, module, version, enabled, installed_at, updated_at]),
        Change::SetVersion { tenant, module, version, at } => tx
            .prepare_cached("UPDATE tenant_modules SET version = ?3, updated_at = ?4 WHERE tenant = ?1 AND module = ?2")?
            .execute(params![tenant, module, version, at]),
        Change::SetEnabled { tenant, module, enabled, at } => tx
            .prepare_cached("UPDATE tenant_modules SET enabled = ?3, updated_at = ?4 WHERE tenant = ?1 AND module = ?2")?
            .execute(params![tenant, module, enabled, at]),
        Change::RemoveModule { tenant, module } => {
            tx.prepare_cached("DELETE FROM tenant_modules WHERE tenant = ?1 AND module = ?2")?.execute(params![tenant, module])
        }
        Change::AddFlags { tenant, module, flags, at } => {
            let mut insert = tx.prepare_cached(
                "INSERT INTO flags (tenant, module, flag, value, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant, module, flag) DO NOTHING",
            )?;
            let mut rows = 0;
            for (flag, value) in flags {
                rows += insert.execute(params![tenant, module, flag, value, at])?;
            }
            Ok(rows)
        }
        Change::RemoveFlags { tenant, module, except } => tx
            .prepare_cached("DELETE FROM flags WHERE tenant = ?1 AND module = ?2 AND flag NOT IN (SELECT value FROM json_each(?3))")?
            .execute(params![tenant, module, to_json(except)]),
        Change::SetFlag { tenant, module, flag, value, was, at } => tx
            .prepare_cached(
                "UPDATE flags SET value = ?4, updated_at = ?6 WHERE tenant = ?1 AND module = ?2 AND flag = ?3 AND value = ?5",
            )?
            .execute(params![tenant, module, flag, value, was, at]),
        Change::History { tenant, module, from, to, job, at } => tx
            .prepare_cached(
                "INSERT INTO version_history (tenant, module, from_version, to_version, job_id, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![tenant, module, from, to, job, at]),
        Change::KeepFile { tenant, module, version, kind, path, job, at } => tx
            .prepare_cached(
                "INSERT INTO archives (tenant, module, version, kind, path, job_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![tenant, module, version, kind.as_str(), path, job, at]),
        Change::ForgetFiles { ids, at } => {
            let mut update = tx.prepare_cached("UPDATE archives SET deleted_at = ?2 WHERE id = ?1")?;
            let mut rows = 0;
            for id in ids {
                rows += update.execute(params![id, at])?;
            }
            Ok(rows)
        }
        Change::Event(e) => tx
            .prepare_cached("INSERT INTO events (at, type, tenant, module, version, job_id, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
            .execute(params![e.at, e.kind.as_str(), e.tenant, e.module, e.version, e.job_id, e.data.as_ref().map(|d| d.to_string())]),
        Change::EndJob { id, host, from, status, error, steps, at } => {
            let from: Vec<&str> = from.iter().map(|s| JobStatus::as_str(*s)).collect();
            let rows = tx
                .prepare_cached(
                    "UPDATE jobs SET status = ?2, finished_at = ?3, error = ?4, lease_until = NULL
                     WHERE id = ?1 AND status IN (SELECT value FROM json_each(?5)) AND host IS ?6",
                )?
                .execute(params![id, status.as_str(), at, error, to_json(&from), host])?;
            if rows == 1 {
                tx.prepare_cached("DELETE FROM job_steps WHERE job_id = ?1")?.execute([id])?;
                let mut insert = tx.prepare_cached(
                    "INSERT INTO job_steps (job_id, seq, name, status, duration_ms, detail, output) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for (seq, step) in steps.iter().enumerate() {
                    insert.execute(params![
                        id,
                        seq as i64 + 1,
                        step.name,
                        step.status.as_str(),
                        step.duration_ms as i64,
                        step.detail,
                        step.output
                    ])?;
                }
            }
            Ok(rows)
        }
    }
}
