//! Jobs on the landlord: starting them, recording their steps, reading them back. They
//! end through change sets (`changes`).

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, ToSql, params};
use time::OffsetDateTime;

use super::{SqliteLandlord, bad_row, to_json};
use crate::domain::Result;
use crate::domain::job::{Effect, Job, JobKind, JobStatus, Step, StepStatus};
use crate::store::clock::format_time;
use crate::store::{FilterValue, JobFilter, JobStore, NewJob};

const JOB_COLUMNS: &str =
    "id, batch, tenant, module, kind, status, from_version, to_version, actor, started_at, finished_at, error, host, lease_until";

/// Now, by this landlord's clock (the system's), as leases are stored.
fn clock_now(offset: Duration) -> String {
    format_time(OffsetDateTime::now_utc() + offset)
}

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
        host: row.get(12)?,
        lease_expired: matches!(status.as_str(), "pending" | "running")
            && row.get::<_, Option<String>>(13)?.is_some_and(|until| until < clock_now(Duration::ZERO)),
        lease_until: row.get(13)?,
    })
}

fn load_job(tx: &Connection, id: i64) -> rusqlite::Result<Option<(Job, Effect)>> {
    tx.prepare_cached(&format!("SELECT {JOB_COLUMNS}, effect FROM jobs WHERE id = ?1"))?
        .query_row([id], |row| {
            let job = job_from_row(row)?;
            let effect: String = row.get(14)?;
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
                "INSERT INTO jobs (batch, tenant, module, kind, status, from_version, to_version, actor, pid, started_at, effect, host, lease_until)
                 VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
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
                    to_json(&j.effect),
                    j.host,
                    clock_now(j.lease)
                ])?;
                ids.push(tx.last_insert_rowid());
            }
            Ok(ids)
        })
    }

    fn renew_leases(&self, host: &str, pid: u32, lease: Duration) -> Result<usize> {
        self.write(|tx| {
            tx.prepare_cached("UPDATE jobs SET lease_until = ?3 WHERE host = ?1 AND pid = ?2 AND status = 'running'")?.execute(params![
                host,
                pid,
                clock_now(lease)
            ])
        })
    }

    fn expired_jobs(&self) -> Result<Vec<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'running' AND lease_until < ?1 ORDER BY id");
        self.rows(&sql, [clock_now(Duration::ZERO)], job_from_row)
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

    fn job(&self, id: i64) -> Result<Option<(Job, Vec<Step>, Effect)>> {
        let conn = self.conn();
        let Some((job, effect)) = load_job(&conn, id).map_err(|e| self.err(e))? else { return Ok(None) };
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
            .map_err(|e| self.err(e))?;
        Ok(Some((job, steps, effect)))
    }

    fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        let (sql, values) = filter.query(JOB_COLUMNS, |_| "?".into());
        let values: Vec<&dyn ToSql> = values
            .iter()
            .map(|v| match v {
                FilterValue::Text(t) | FilterValue::Time(t) => t as &dyn ToSql,
                FilterValue::Id(id) => id as &dyn ToSql,
            })
            .collect();
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
