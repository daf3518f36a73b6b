//! Storing a change set on PostgreSQL: each change one statement, all in one
//! transaction. A guarded change that touches no row (a job another host ended first, a
//! flag changed meanwhile, a tenant already there) rolls the whole set back. Row locks
//! make concurrent guarded updates wait for each other, so of two hosts completing one
//! job, the second finds it completed. No rule is decided here.
//!
//! Events keep the id of their transaction, by which readers hand them out in commit
//! order; a set with events holds the writers' lock shared (`events`). The tenants a
//! set touched are announced on commit.

use super::events::{CHANNEL, WRITERS};
use super::pool::Tx;
use super::{Attempt, PostgresLandlord, time};
use crate::domain::Result;
use crate::domain::change::{Change, Commit};
use crate::store::ChangeStore;

impl ChangeStore for PostgresLandlord {
    fn commit(&self, changes: &[Change]) -> Result<Commit> {
        // Before anything is written (and the transaction has an id), a set with events
        // takes the writers' lock: see `events`.
        let first = match changes.iter().any(|c| matches!(c, Change::Event(_))) {
            true => format!("SELECT pg_advisory_xact_lock_shared({WRITERS})"),
            false => String::new(),
        };
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
        let last =
            announced.iter().map(|tenant| format!("SELECT pg_notify('{CHANNEL}', {})", literal(tenant))).collect::<Vec<_>>().join("; ");
        self.on_connection(|conn| {
            let mut tx = conn.begin(&first)?;
            for (i, change) in changes.iter().enumerate() {
                let rows = store(&mut tx, change)?;
                if change.is_guarded() && rows != 1 {
                    // Dropping the transaction rolls it back.
                    return Ok(Commit::Conflict(i));
                }
            }
            tx.commit(&last).map_err(Attempt::Commit)?;
            Ok(Commit::Done)
        })
    }
}

/// A string as an SQL literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Stores one change; returns the rows it touched.
fn store(tx: &mut Tx<'_>, change: &Change) -> std::result::Result<u64, Attempt> {
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
        Change::RestoreModule { tenant, module, version, enabled, installed_at, updated_at } => tx.execute(
            "INSERT INTO tenant_modules (tenant, module, version, state, enabled, installed_at, updated_at)
             VALUES ($1, $2, $3, 'installed', $4, $5, $6)
             ON CONFLICT (tenant, module) DO UPDATE SET version = excluded.version, state = excluded.state, enabled = excluded.enabled,
                 installed_at = excluded.installed_at, updated_at = excluded.updated_at",
            &[tenant, module, version, enabled, &time(installed_at)?, &time(updated_at)?],
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
            let mut rows = 0;
            for (flag, value) in flags {
                rows += tx.execute(
                    "INSERT INTO flags (tenant, module, flag, value, updated_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (tenant, module, flag) DO NOTHING",
                    &[tenant, module, flag, value, &at],
                )?;
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
            let seq: Vec<i32> = (1..=steps.len() as i32).collect();
            let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
            let statuses: Vec<&str> = steps.iter().map(|s| s.status.as_str()).collect();
            let durations: Vec<i64> = steps.iter().map(|s| s.duration_ms as i64).collect();
            let details: Vec<Option<&str>> = steps.iter().map(|s| s.detail.as_deref()).collect();
            let outputs: Vec<Option<&str>> = steps.iter().map(|s| s.output.as_deref()).collect();
            // One statement, one round trip: end the job, and only if it ended here,
            // replace its steps with the final ones (overwriting those recorded while it
            // ran, and dropping any beyond them: one statement cannot delete and insert
            // the same key).
            tx.query_one(
                "WITH ended AS (
                     UPDATE jobs SET status = $2, finished_at = $3, error = $4, lease_until = NULL
                     WHERE id = $1 AND status = ANY($5) AND host IS NOT DISTINCT FROM $6 RETURNING id
                 ), gone AS (
                     DELETE FROM job_steps WHERE job_id IN (SELECT id FROM ended) AND seq > cardinality($7::int[])
                 ), written AS (
                     INSERT INTO job_steps (job_id, seq, name, status, duration_ms, detail, output)
                     SELECT e.id, s.* FROM ended e,
                         unnest($7::int[], $8::text[], $9::text[], $10::bigint[], $11::text[], $12::text[]) AS s
                     ON CONFLICT (job_id, seq) DO UPDATE SET name = excluded.name, status = excluded.status,
                         duration_ms = excluded.duration_ms, detail = excluded.detail, output = excluded.output
                 )
                 SELECT count(*) FROM ended",
                &[id, &status.as_str(), &time(at)?, error, &from, host, &seq, &names, &statuses, &durations, &details, &outputs],
            )?
            .get::<_, i64>(0) as u64
        }
    })
}
