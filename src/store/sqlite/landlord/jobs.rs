//! Jobs on the landlord: starting them, recording their steps, and ending them, where
//! completing a job applies the effect it was started with, with its event, in the same
//! transaction.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Row, ToSql, Transaction, params};

use super::{EventRow, KeptFile, SqliteLandlord, bad_row, err, insert_event, keep_file, to_json};
use crate::domain::Result;
use crate::domain::event::EventType;
use crate::domain::job::{Effect, Job, JobKind, JobStatus, Step, StepStatus};
use crate::store::{FailedJob, JobFilter, JobStore, NewJob};

const JOB_COLUMNS: &str = "id, batch, tenant, module, kind, status, from_version, to_version, actor, started_at, finished_at, error";

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<Job> {
    let kind: String = row.get(4)?;
    let status: String = row.get(5)?;
    Ok(Job {
        id: row.get(0)?,
        batch: row.get(1)?,
        tenant: row.get(2)?,
        module: row.get(3)?,
        kind: JobKind::parse(&kind).ok_or_else(|| bad_row(format!("unknown job kind `{kind}`")))?,
        status: JobStatus::parse(&status).ok_or_else(|| bad_row(format!("unknown job status `{status}`")))?,
        from_version: row.get(6)?,
        to_version: row.get(7)?,
        actor: row.get(8)?,
        started_at: row.get(9)?,
        finished_at: row.get(10)?,
        error: row.get(11)?,
    })
}

fn replace_steps(tx: &Transaction<'_>, job: i64, steps: &[Step]) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM job_steps WHERE job_id = ?1")?.execute([job])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO job_steps (job_id, seq, name, status, duration_ms, detail, output) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (seq, step) in steps.iter().enumerate() {
        insert.execute(params![job, seq as i64 + 1, step.name, step.status.as_str(), step.duration_ms as i64, step.detail, step.output])?;
    }
    Ok(())
}

fn set_flags(tx: &Transaction<'_>, tenant: &str, module: &str, flags: &BTreeMap<String, bool>, now: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM flags WHERE tenant = ?1 AND module = ?2")?.execute(params![tenant, module])?;
    let mut insert = tx.prepare_cached("INSERT INTO flags (tenant, module, flag, value, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)")?;
    for (flag, value) in flags {
        insert.execute(params![tenant, module, flag, value, now])?;
    }
    Ok(())
}

fn history(
    tx: &Transaction<'_>,
    tenant: &str,
    module: &str,
    from: Option<&str>,
    to: Option<&str>,
    job: i64,
    now: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO version_history (tenant, module, from_version, to_version, job_id, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![tenant, module, from, to, job, now])?;
    Ok(())
}

/// Applies a job's stored effect and appends its event.
fn apply_effect(tx: &Transaction<'_>, job: &Job, effect: &Effect, now: &str) -> rusqlite::Result<()> {
    let (tenant, module) = (job.tenant.as_str(), job.module.as_str());
    let event = |kind: EventType, version: Option<&str>| {
        insert_event(tx, kind, EventRow { tenant: Some(tenant), module: Some(module), version, job_id: Some(job.id), data: None }, now)
    };
    match effect {
        Effect::Install { version, flags, restored_from } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO tenant_modules (tenant, module, version, state, enabled, installed_at, updated_at) VALUES (?1, ?2, ?3, 'installed', 1, ?4, ?4)",
            )?
            .execute(params![tenant, module, version, now])?;
            set_flags(tx, tenant, module, flags, now)?;
            history(tx, tenant, module, None, Some(version), job.id, now)?;
            let data = restored_from.as_ref().map(|path| serde_json::json!({ "restored_from": path }));
            let row =
                EventRow { tenant: Some(tenant), module: Some(module), version: Some(version), job_id: Some(job.id), data: data.as_ref() };
            insert_event(tx, EventType::ModuleInstalled, row, now)?;
        }
        Effect::Upgrade { version, features, copy } => {
            tx.prepare_cached("UPDATE tenant_modules SET version = ?3, updated_at = ?4 WHERE tenant = ?1 AND module = ?2")?
                .execute(params![tenant, module, version, now])?;
            let mut add =
                tx.prepare_cached("INSERT OR IGNORE INTO flags (tenant, module, flag, value, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for (flag, default) in features {
                add.execute(params![tenant, module, flag, default, now])?;
            }
            let keep = to_json(&features.keys().collect::<Vec<_>>());
            tx.prepare_cached("DELETE FROM flags WHERE tenant = ?1 AND module = ?2 AND flag NOT IN (SELECT value FROM json_each(?3))")?
                .execute(params![tenant, module, keep])?;
            history(tx, tenant, module, job.from_version.as_deref(), Some(version), job.id, now)?;
            if let Some(copy) = copy {
                let file = KeptFile {
                    tenant,
                    module: Some(module),
                    version: job.from_version.as_deref(),
                    kind: "upgrade_copy",
                    path: copy,
                    job: Some(job.id),
                };
                keep_file(tx, file, now)?;
            }
            event(EventType::ModuleUpgraded, Some(version))?;
        }
        Effect::Uninstall { archive } => {
            tx.prepare_cached("DELETE FROM tenant_modules WHERE tenant = ?1 AND module = ?2")?.execute(params![tenant, module])?;
            tx.prepare_cached("DELETE FROM flags WHERE tenant = ?1 AND module = ?2")?.execute(params![tenant, module])?;
            history(tx, tenant, module, job.from_version.as_deref(), None, job.id, now)?;
            if let Some(archive) = archive {
                let file = KeptFile {
                    tenant,
                    module: Some(module),
                    version: job.from_version.as_deref(),
                    kind: "uninstall",
                    path: archive,
                    job: Some(job.id),
                };
                keep_file(tx, file, now)?;
            }
            event(EventType::ModuleUninstalled, job.from_version.as_deref())?;
        }
        Effect::SetEnabled { enabled } => {
            tx.prepare_cached("UPDATE tenant_modules SET enabled = ?3, updated_at = ?4 WHERE tenant = ?1 AND module = ?2")?
                .execute(params![tenant, module, enabled, now])?;
            let kind = if *enabled { EventType::ModuleEnabled } else { EventType::ModuleDisabled };
            event(kind, job.to_version.as_deref())?;
        }
        Effect::Revert { version, flags } => {
            tx.prepare_cached("UPDATE tenant_modules SET version = ?3, updated_at = ?4 WHERE tenant = ?1 AND module = ?2")?
                .execute(params![tenant, module, version, now])?;
            set_flags(tx, tenant, module, flags, now)?;
            history(tx, tenant, module, job.from_version.as_deref(), Some(version), job.id, now)?;
            event(EventType::ModuleReverted, Some(version))?;
        }
    }
    Ok(())
}

fn load_job(tx: &Connection, id: i64) -> rusqlite::Result<Option<(Job, Effect)>> {
    tx.prepare_cached(&format!("SELECT {JOB_COLUMNS}, effect FROM jobs WHERE id = ?1"))?
        .query_row([id], |row| {
            let job = job_from_row(row)?;
            let effect: String = row.get(12)?;
            let effect: Effect = serde_json::from_str(&effect).map_err(bad_row)?;
            Ok((job, effect))
        })
        .optional()
}

impl JobStore for SqliteLandlord {
    fn start_jobs(&self, jobs: &[NewJob], now: &str) -> Result<Vec<i64>> {
        let pid = std::process::id();
        self.write(|tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO jobs (batch, tenant, module, kind, status, from_version, to_version, actor, pid, started_at, effect)
                 VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let mut ids = Vec::with_capacity(jobs.len());
            for j in jobs {
                insert.execute(params![
                    j.batch,
                    j.tenant,
                    j.module,
                    j.kind.as_str(),
                    j.from_version,
                    j.to_version,
                    j.actor,
                    pid,
                    now,
                    to_json(&j.effect)
                ])?;
                ids.push(tx.last_insert_rowid());
            }
            Ok(ids)
        })
    }

    fn record_step(&self, job: i64, step: &Step) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO job_steps (job_id, seq, name, status, duration_ms, detail, output)
                 VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM job_steps WHERE job_id = ?1), ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![job, step.name, step.status.as_str(), step.duration_ms as i64, step.detail, step.output])?;
            Ok(())
        })
    }

    fn complete_jobs(&self, jobs: &[(i64, Vec<Step>)], now: &str) -> Result<()> {
        self.write(|tx| {
            for (id, steps) in jobs {
                let Some((job, effect)) = load_job(tx, *id)? else { continue };
                if job.status.is_finished() {
                    continue;
                }
                apply_effect(tx, &job, &effect, now)?;
                replace_steps(tx, *id, steps)?;
                tx.prepare_cached("UPDATE jobs SET status = 'completed', finished_at = ?2, error = NULL WHERE id = ?1")?
                    .execute(params![id, now])?;
            }
            Ok(())
        })
    }

    fn fail_jobs(&self, jobs: &[FailedJob], now: &str) -> Result<()> {
        self.write(|tx| {
            for failed in jobs {
                let Some((job, _)) = load_job(tx, failed.id)? else { continue };
                if job.status.is_finished() {
                    continue;
                }
                replace_steps(tx, failed.id, &failed.steps)?;
                tx.prepare_cached("UPDATE jobs SET status = ?2, finished_at = ?3, error = ?4 WHERE id = ?1")?.execute(params![
                    failed.id,
                    failed.status.as_str(),
                    now,
                    failed.error
                ])?;
                let kind = match job.kind {
                    JobKind::Install => Some(EventType::ModuleInstallFailed),
                    JobKind::Upgrade => Some(EventType::ModuleUpgradeFailed),
                    _ => None,
                };
                if let Some(kind) = kind {
                    let data = serde_json::json!({ "error": failed.error, "status": failed.status.as_str() });
                    let row = EventRow {
                        tenant: Some(&job.tenant),
                        module: Some(&job.module),
                        version: job.to_version.as_deref(),
                        job_id: Some(job.id),
                        data: Some(&data),
                    };
                    insert_event(tx, kind, row, now)?;
                }
            }
            Ok(())
        })
    }

    fn job(&self, id: i64) -> Result<Option<(Job, Vec<Step>, Effect)>> {
        let conn = self.conn();
        let Some((job, effect)) = load_job(&conn, id).map_err(err)? else { return Ok(None) };
        let steps = conn
            .prepare_cached("SELECT name, status, duration_ms, detail, output FROM job_steps WHERE job_id = ?1 ORDER BY seq")
            .and_then(|mut s| {
                s.query_map([id], |r| {
                    let status: String = r.get(1)?;
                    Ok(Step {
                        name: r.get(0)?,
                        status: StepStatus::parse(&status).ok_or_else(|| bad_row(format!("unknown step status `{status}`")))?,
                        duration_ms: r.get::<_, i64>(2)?.max(0) as u64,
                        detail: r.get(3)?,
                        output: r.get(4)?,
                    })
                })?
                .collect()
            })
            .map_err(err)?;
        Ok(Some((job, steps, effect)))
    }

    fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        // Only the conditions that are set, so that SQLite can use `jobs_by_tenant`
        // (a `?1 IS NULL OR tenant = ?1` form would scan every job).
        let status = filter.status.map(JobStatus::as_str);
        let kind = filter.kind.map(JobKind::as_str);
        let conditions: [(&str, Option<&dyn ToSql>); 7] = [
            ("tenant = ?", filter.tenant.as_ref().map(|v| v as &dyn ToSql)),
            ("module = ?", filter.module.as_ref().map(|v| v as &dyn ToSql)),
            ("status = ?", status.as_ref().map(|v| v as &dyn ToSql)),
            ("kind = ?", kind.as_ref().map(|v| v as &dyn ToSql)),
            ("batch = ?", filter.batch.as_ref().map(|v| v as &dyn ToSql)),
            ("started_at >= ?", filter.since.as_ref().map(|v| v as &dyn ToSql)),
            ("id >= ?", filter.from_id.as_ref().map(|v| v as &dyn ToSql)),
        ];
        let (clauses, values): (Vec<&str>, Vec<&dyn ToSql>) = conditions.iter().filter_map(|(c, v)| Some((*c, (*v)?))).unzip();
        let mut sql = format!("SELECT {JOB_COLUMNS} FROM jobs");
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(" ORDER BY id DESC");
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        self.rows(&sql, values.as_slice(), job_from_row)
    }

    fn unfinished_jobs(&self, tenant: &str) -> Result<Vec<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE tenant = ?1 AND status IN ('pending', 'running', 'failed') ORDER BY id");
        self.rows(&sql, [tenant], job_from_row)
    }

    fn tenants_with_unfinished_jobs(&self) -> Result<Vec<String>> {
        self.rows("SELECT DISTINCT tenant FROM jobs WHERE status IN ('pending', 'running', 'failed') ORDER BY tenant", [], |r| r.get(0))
    }
}
