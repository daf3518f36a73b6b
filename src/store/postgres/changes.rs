//! Storing a change set on PostgreSQL: each change one statement, all in one
//! transaction. A guarded change that touches no row (a job another host ended first, a
//! flag changed meanwhile, a tenant already there) rolls the whole set back. Row locks
//! make concurrent guarded updates wait for each other, so of two hosts completing one
//! job, the second finds it completed. No rule is decided here.
//!
//! Events keep the id of their transaction, by which readers hand them out in commit
//! order; a set with events holds the writers' lock shared (`events`). The tenants a
//! set touched are announced on commit.

use postgres::Transaction;

use super::events::{CHANNEL, WRITERS};
use super::{PostgresLandlord, time};
use crate::domain::change::{Change, Commit};
use crate::domain::{Error, Result};
use crate::store::ChangeStore;

impl ChangeStore for PostgresLandlord {
    fn commit(&self, changes: &[Change]) -> Result<Commit> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(|e| self.err(e))?;
        if changes.iter().any(|c| matches!(c, Change::Event(_))) {
            // Before anything is written (and the transaction has an id): see `events`.
            tx.execute("SELECT pg_advisory_xact_lock_shared($1)", &[&WRITERS]).map_err(|e| self.err(e))?;
        }
        let stored = |e| match e {
            Stored::Db(e) => self.err(e),
            Stored::Input(e) => e,
        };
        for (i, change) in changes.iter().enumerate() {
            let rows = store(&mut tx, change).map_err(stored)?;
            if change.is_guarded() && rows != 1 {
                // Dropping the transaction rolls it back.
                return Ok(Commit::Conflict(i));
            }
        }
        // Listeners hear of it when (and only if) it commits.
        let mut announced: Vec<&str> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Event(e) => Some(e.tenant.as_deref().unwrap_or("")),
                _ => None,
            })
            .collect();
        announced.sort_unstable();
        announced.dedup();
        for tenant in announced {
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &tenant]).map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Commit::Done)
    }
}

enum Stored {
    Db(postgres::Error),
    Input(Error),
}

impl From<postgres::Error> for Stored {
    fn from(e: postgres::Error) -> Self {
        Stored::Db(e)
    }
}

impl From<Error> for Stored {
    fn from(e: Error) -> Self {
        Stored::Input(e)
    }
}

/// Stores one change; returns the rows it touched.
fn store(tx: &mut Transaction<'_>, change: &Change) -> std::result::Result<u64, Stored> {
    Ok(match change {
        Change::AddTenant { name, host, at } => tx.execute(
            "INSERT INTO tenants (name, created_at, host) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
            &[name, &time(at)?, host],
        )?,
        Change::MoveTenant { name, from, to } => {
            tx.execute("UPDATE tenants SET host = $3 WHERE name = $1 AND host IS NOT DISTINCT FROM $2", &[name, from, to])?
        }
        Change::RemoveTenant { name } => {
            let mut rows = 0;
            for table in ["tenant_modules", "flags", "subscriptions"] {
                rows += tx.execute(&format!("DELETE FROM {table} WHERE tenant = $1"), &[name])?;
            }
            rows + tx.execute("DELETE FROM tenants WHERE name = $1", &[name])?
        }
        Change::PutModule { tenant, module, version, at } => tx.execute(
            "INSERT INTO tenant_modules (tenant, module, version, state, enabled, installed_at, updated_at)
             VALUES ($1, $2, $3, 'installed', true, $4, $4)
             ON CONFLICT (tenant, module) DO UPDATE SET version = excluded.version, state = excluded.state, enabled = true,
                 installed_at = excluded.installed_at, updated_at = excluded.updated_at",
            &[tenant, module, version, &time(at)?],
        )?,
        Change::SetVersion { tenant, module, version, at } => tx.execute(
            "UPDATE tenant_modules SET version = $3, updated_at = $4 WHERE tenant = $1 AND module = $2",
            &[tenant, module, version, &time(at)?],
        )?,
        Change::SetEnabled { tenant, module, enabled, at } => tx.execute(
            "UPDATE tenant_modules SET enabled = $3, updated_at = $4 WHERE tenant = $1 AND module = $2",
            &[tenant, module, enabled, &time(at)?],
        )?,
        Change::RemoveModule { tenant, module } => {
            tx.execute("DELETE FROM tenant_modules WHERE tenant = $1 AND module = $2", &[tenant, module])?
        }
        Change::AddFlags { tenant, module, flags, at } => {
            let at = time(at)?;
            let insert = tx.prepare(
                "INSERT INTO flags (tenant, module, flag, value, updated_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant, module, flag) DO NOTHING",
            )?;
            let mut rows = 0;
            for (flag, value) in flags {
                rows += tx.execute(&insert, &[tenant, module, flag, value, &at])?;
            }
            rows
        }
        Change::RemoveFlags { tenant, module, except } => {
            tx.execute("DELETE FROM flags WHERE tenant = $1 AND module = $2 AND NOT (flag = ANY($3))", &[tenant, module, except])?
        }
        Change::SetFlag { tenant, module, flag, value, was, at } => tx.execute(
            "UPDATE flags SET value = $4, updated_at = $6 WHERE tenant = $1 AND module = $2 AND flag = $3 AND value = $5",
            &[tenant, module, flag, value, was, &time(at)?],
        )?,
        Change::History { tenant, module, from, to, job, at } => tx.execute(
            "INSERT INTO version_history (tenant, module, from_version, to_version, job_id, at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[tenant, module, from, to, job, &time(at)?],
        )?,
        Change::KeepFile { tenant, module, version, kind, path, job, at } => tx.execute(
            "INSERT INTO archives (tenant, module, version, kind, path, job_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[tenant, module, version, &kind.as_str(), path, job, &time(at)?],
        )?,
        Change::ForgetFiles { ids, at } => {
            tx.execute("UPDATE archives SET deleted_at = $2 WHERE id = ANY($1) AND deleted_at IS NULL", &[ids, &time(at)?])?
        }
        Change::Event(e) => tx.execute(
            "INSERT INTO events (at, type, tenant, module, version, job_id, data) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&time(&e.at)?, &e.kind.as_str(), &e.tenant, &e.module, &e.version, &e.job_id, &e.data],
        )?,
        Change::EndJob { id, host, from, status, error, steps, at } => {
            let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
            let rows = tx.execute(
                "UPDATE jobs SET status = $2, finished_at = $3, error = $4, lease_until = NULL
                 WHERE id = $1 AND status = ANY($5) AND host IS NOT DISTINCT FROM $6",
                &[id, &status.as_str(), &time(at)?, error, &from, host],
            )?;
            if rows == 1 {
                tx.execute("DELETE FROM job_steps WHERE job_id = $1", &[id])?;
                let insert = tx.prepare(
                    "INSERT INTO job_steps (job_id, seq, name, status, duration_ms, detail, output) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )?;
                for (seq, step) in steps.iter().enumerate() {
                    tx.execute(
                        &insert,
                        &[id, &(seq as i32 + 1), &step.name, &step.status.as_str(), &(step.duration_ms as i64), &step.detail, &step.output],
                    )?;
                }
            }
            rows
        }
    })
}
