//! Jobs on the PostgreSQL landlord: starting them, recording their steps, reading them
//! back. They end through change sets (`changes`).

use std::time::Duration;

use postgres::types::ToSql;

use super::{PostgresLandlord, bad_json, text_opt, time};
use crate::domain::job::{Effect, Job, JobKind, JobStatus, Step, StepStatus};
use crate::domain::{Error, Result};
use crate::store::{FilterValue, JobFilter, JobStore, NewJob};

const JOB_COLUMNS: &str = "id, batch, tenant, module, kind, status, from_version, to_version, actor, started_at, finished_at, error,
    host, lease_until, (status IN ('pending', 'running') AND lease_until < now())";

fn job_from_row(row: &postgres::Row) -> Result<Job> {
    let kind: String = row.get(4);
    let status: String = row.get(5);
    Ok(Job {
        id: row.get(0),
        batch: row.get(1),
        tenant: row.get(2),
        module: row.get(3),
        kind: JobKind::parse(&kind).ok_or_else(|| Error::internal(format!("the landlord holds an unknown job kind `{kind}`")))?,
        status: JobStatus::parse(&status).ok_or_else(|| Error::internal(format!("the landlord holds an unknown job status `{status}`")))?,
        from_version: row.get(6),
        to_version: row.get(7),
        actor: row.get(8),
        started_at: text_opt(row.get(9)),
        finished_at: text_opt(row.get(10)),
        error: row.get(11),
        host: row.get(12),
        lease_until: text_opt(row.get(13)),
        lease_expired: row.get::<_, Option<bool>>(14).unwrap_or(false),
    })
}

impl JobStore for PostgresLandlord {
    fn start_jobs(&self, jobs: &[NewJob], now: &str) -> Result<Vec<i64>> {
        let now = time(now)?;
        let pid = std::process::id() as i32;
        let effects: Vec<serde_json::Value> =
            jobs.iter().map(|j| serde_json::to_value(&j.effect).map_err(|e| Error::internal(e.to_string()))).collect::<Result<_>>()?;
        self.write(|tx| {
            let mut ids = Vec::with_capacity(jobs.len());
            for (j, effect) in jobs.iter().zip(&effects) {
                let row = tx.query_one(
                    "INSERT INTO jobs (batch, tenant, module, kind, status, from_version, to_version, actor, pid, started_at, effect, host, lease_until)
                     VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, $9, $10, $11, now() + make_interval(secs => $12)) RETURNING id",
                    &[
                        &j.batch,
                        &j.tenant,
                        &j.module,
                        &j.kind.as_str(),
                        &j.from_version,
                        &j.to_version,
                        &j.actor,
                        &pid,
                        &now,
                        effect,
                        &j.host,
                        &j.lease.as_secs_f64(),
                    ],
                )?;
                ids.push(row.get(0));
            }
            Ok(ids)
        })
    }

    fn renew_leases(&self, host: &str, pid: u32, lease: Duration) -> Result<usize> {
        self.write(|tx| {
            tx.execute(
                "UPDATE jobs SET lease_until = now() + make_interval(secs => $3) WHERE host = $1 AND pid = $2 AND status = 'running'",
                &[&host, &(pid as i32), &lease.as_secs_f64()],
            )
        })
        .map(|rows| rows as usize)
    }

    fn expired_jobs(&self) -> Result<Vec<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'running' AND lease_until < now() ORDER BY id");
        self.rows(&sql, &[], job_from_row)
    }

    fn record_step(&self, job: i64, step: &Step) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO job_steps (job_id, seq, name, status, duration_ms, detail, output)
                 VALUES ($1, (SELECT coalesce(max(seq), 0) + 1 FROM job_steps WHERE job_id = $1), $2, $3, $4, $5, $6)",
                &[&job, &step.name, &step.status.as_str(), &(step.duration_ms as i64), &step.detail, &step.output],
            )?;
            Ok(())
        })
    }

    fn job(&self, id: i64) -> Result<Option<(Job, Vec<Step>, Effect)>> {
        let found = self.rows(&format!("SELECT {JOB_COLUMNS}, effect FROM jobs WHERE id = $1"), &[&id], |r| {
            let effect: Effect = serde_json::from_value(r.get(15)).map_err(|e| bad_json("a job's effect", e))?;
            Ok((job_from_row(r)?, effect))
        })?;
        let Some((job, effect)) = found.into_iter().next() else { return Ok(None) };
        let steps =
            self.rows("SELECT name, status, duration_ms, detail, output FROM job_steps WHERE job_id = $1 ORDER BY seq", &[&id], |r| {
                let status: String = r.get(1);
                Ok(Step {
                    name: r.get(0),
                    status: StepStatus::parse(&status)
                        .ok_or_else(|| Error::internal(format!("the landlord holds an unknown step status `{status}`")))?,
                    duration_ms: r.get::<_, i64>(2).max(0) as u64,
                    detail: r.get(3),
                    output: r.get(4),
                })
            })?;
        Ok(Some((job, steps, effect)))
    }

    fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        let (sql, values) = filter.query(JOB_COLUMNS, |i| format!("${i}"));
        let values: Vec<Box<dyn ToSql + Sync>> = values
            .into_iter()
            .map(|v| -> Result<Box<dyn ToSql + Sync>> {
                Ok(match v {
                    FilterValue::Text(t) => Box::new(t.to_string()),
                    FilterValue::Time(t) => Box::new(time(t)?),
                    FilterValue::Id(id) => Box::new(id),
                })
            })
            .collect::<Result<_>>()?;
        let values: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        self.rows(&sql, &values, job_from_row)
    }

    fn unfinished_jobs(&self, tenant: &str) -> Result<Vec<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE tenant = $1 AND status IN ('pending', 'running', 'failed') ORDER BY id");
        self.rows(&sql, &[&tenant], job_from_row)
    }

    fn tenants_with_unfinished_jobs(&self) -> Result<Vec<String>> {
        self.rows(
            "SELECT DISTINCT tenant FROM jobs WHERE status IN ('pending', 'running', 'failed') ORDER BY tenant",
            &[],
            |r| Ok(r.get(0)),
        )
    }
}
