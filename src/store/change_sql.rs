//! The SQL that stores each landlord [`Change`], written once for every engine: which
//! table, which rows, which guard. An adapter runs the statements in its transaction,
//! binding each [`Arg`] as its own type (a time is text to SQLite, `timestamptz` to
//! PostgreSQL) and writing placeholders as it spells them; it decides nothing else, so
//! two engines cannot drift apart on what a change does.
//!
//! The SQL is the dialect both engines read: `$N` placeholders (SQLite's `?N`, once the
//! adapter swaps the sign), `IS NOT DISTINCT FROM`, `ON CONFLICT`, multi-row `VALUES`,
//! and lists spelled out as `IN ($4, $5)`.

use std::fmt::Write as _;

use crate::domain::change::Change;
use crate::domain::job::JobStatus;

/// A value a statement binds.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg<'a> {
    Text(Option<&'a str>),
    /// An integer, as wide as its column is.
    Int(Option<i64>),
    Bool(bool),
    /// A time as modreg writes them (RFC 3339).
    Time(&'a str),
    Json(Option<&'a serde_json::Value>),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(text: &'a str) -> Arg<'a> {
        Arg::Text(Some(text))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(text: &'a String) -> Arg<'a> {
        Arg::Text(Some(text))
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(text: &'a Option<String>) -> Arg<'a> {
        Arg::Text(text.as_deref())
    }
}

impl From<i64> for Arg<'_> {
    fn from(n: i64) -> Self {
        Arg::Int(Some(n))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(n: Option<i64>) -> Self {
        Arg::Int(n)
    }
}

impl From<bool> for Arg<'_> {
    fn from(b: bool) -> Self {
        Arg::Bool(b)
    }
}

/// One statement and what it binds, `$1` first.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement<'a> {
    pub sql: String,
    pub args: Vec<Arg<'a>>,
}

impl<'a> Statement<'a> {
    fn new(sql: &str, args: Vec<Arg<'a>>) -> Statement<'a> {
        Statement { sql: sql.to_string(), args }
    }
}

/// How one change is stored: `statements` in order, the rows they touch counted
/// together (a guarded change must touch exactly one); `then` only when that count is 1
/// (the steps of a job that this change ended, and no other process first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Write<'a> {
    pub statements: Vec<Statement<'a>>,
    pub then: Vec<Statement<'a>>,
}

impl<'a> Write<'a> {
    fn one(sql: &str, args: Vec<Arg<'a>>) -> Write<'a> {
        Write { statements: vec![Statement::new(sql, args)], then: Vec::new() }
    }
}

impl Write<'_> {
    /// Runs the write with `run`, which executes one statement and says how many rows
    /// it touched: the statements, then `then` if they touched exactly one. Returns the
    /// rows the statements touched.
    pub fn run<E>(&self, mut run: impl FnMut(&Statement<'_>) -> Result<u64, E>) -> Result<u64, E> {
        let mut rows = 0;
        for statement in &self.statements {
            rows += run(statement)?;
        }
        if rows == 1 {
            for statement in &self.then {
                run(statement)?;
            }
        }
        Ok(rows)
    }
}

/// `$first, $first+1, …` for `count` values.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// `head VALUES (…), (…) tail`, one row of placeholders a row of `rows`; none for no rows.
fn insert_rows<'a>(head: &str, rows: Vec<Vec<Arg<'a>>>, tail: &str) -> Option<Statement<'a>> {
    let width = rows.first()?.len();
    let mut sql = format!("{head} VALUES ");
    for (i, _) in rows.iter().enumerate() {
        let _ = write!(sql, "{}({})", if i == 0 { "" } else { ", " }, placeholders(1 + i * width, width));
    }
    if !tail.is_empty() {
        sql.push(' ');
        sql.push_str(tail);
    }
    Some(Statement { sql, args: rows.into_iter().flatten().collect() })
}

/// The statements that store `change`.
pub fn write(change: &Change) -> Write<'_> {
    match change {
        Change::AddTenant { name, host, at } => Write::one(
            "INSERT INTO tenants (name, created_at, host) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
            vec![name.into(), Arg::Time(at), host.into()],
        ),
        Change::MoveTenant { name, from, to } => Write::one(
            "UPDATE tenants SET host = $3 WHERE name = $1 AND host IS NOT DISTINCT FROM $2",
            vec![name.into(), from.into(), to.into()],
        ),
        Change::RemoveTenant { name } => Write {
            statements: ["tenant_modules", "flags", "subscriptions"]
                .iter()
                .map(|table| Statement::new(&format!("DELETE FROM {table} WHERE tenant = $1"), vec![name.into()]))
                .chain([Statement::new("DELETE FROM tenants WHERE name = $1", vec![name.into()])])
                .collect(),
            then: Vec::new(),
        },
        Change::PutModule { tenant, module, version, at } => Write::one(
            "INSERT INTO tenant_modules (tenant, module, version, state, enabled, installed_at, updated_at)
             VALUES ($1, $2, $3, 'installed', TRUE, $4, $4)
             ON CONFLICT (tenant, module) DO UPDATE SET version = excluded.version, state = excluded.state, enabled = TRUE,
                 installed_at = excluded.installed_at, updated_at = excluded.updated_at",
            vec![tenant.into(), module.into(), version.into(), Arg::Time(at)],
        ),
        Change::RestoreModule { tenant, module, version, enabled, installed_at, updated_at } => Write::one(
            "INSERT INTO tenant_modules (tenant, module, version, state, enabled, installed_at, updated_at)
             VALUES ($1, $2, $3, 'installed', $4, $5, $6)
             ON CONFLICT (tenant, module) DO UPDATE SET version = excluded.version, state = excluded.state, enabled = excluded.enabled,
                 installed_at = excluded.installed_at, updated_at = excluded.updated_at",
            vec![tenant.into(), module.into(), version.into(), (*enabled).into(), Arg::Time(installed_at), Arg::Time(updated_at)],
        ),
        Change::SetVersion { tenant, module, version, at } => Write::one(
            "UPDATE tenant_modules SET version = $3, updated_at = $4 WHERE tenant = $1 AND module = $2",
            vec![tenant.into(), module.into(), version.into(), Arg::Time(at)],
        ),
        Change::SetEnabled { tenant, module, enabled, at } => Write::one(
            "UPDATE tenant_modules SET enabled = $3, updated_at = $4 WHERE tenant = $1 AND module = $2",
            vec![tenant.into(), module.into(), (*enabled).into(), Arg::Time(at)],
        ),
        Change::RemoveModule { tenant, module } => {
            Write::one("DELETE FROM tenant_modules WHERE tenant = $1 AND module = $2", vec![tenant.into(), module.into()])
        }
        Change::AddFlags { tenant, module, flags, at } => {
            let rows = flags.iter().map(|(flag, value)| vec![tenant.into(), module.into(), flag.into(), (*value).into(), Arg::Time(at)]);
            let insert = insert_rows(
                "INSERT INTO flags (tenant, module, flag, value, updated_at)",
                rows.collect(),
                "ON CONFLICT (tenant, module, flag) DO NOTHING",
            );
            Write { statements: insert.into_iter().collect(), then: Vec::new() }
        }
        Change::RemoveFlags { tenant, module, except } => {
            let mut sql = "DELETE FROM flags WHERE tenant = $1 AND module = $2".to_string();
            if !except.is_empty() {
                let _ = write!(sql, " AND flag NOT IN ({})", placeholders(3, except.len()));
            }
            let args = [tenant.into(), module.into()].into_iter().chain(except.iter().map(Arg::from)).collect();
            Write { statements: vec![Statement { sql, args }], then: Vec::new() }
        }
        Change::SetFlag { tenant, module, flag, value, was, at } => Write::one(
            "UPDATE flags SET value = $4, updated_at = $6 WHERE tenant = $1 AND module = $2 AND flag = $3 AND value = $5",
            vec![tenant.into(), module.into(), flag.into(), (*value).into(), (*was).into(), Arg::Time(at)],
        ),
        Change::History { tenant, module, from, to, job, at } => Write::one(
            "INSERT INTO version_history (tenant, module, from_version, to_version, job_id, at) VALUES ($1, $2, $3, $4, $5, $6)",
            vec![tenant.into(), module.into(), from.into(), to.into(), (*job).into(), Arg::Time(at)],
        ),
        Change::KeepFile { tenant, module, version, kind, path, job, at } => Write::one(
            "INSERT INTO archives (tenant, module, version, kind, path, job_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![tenant.into(), module.into(), version.into(), kind.as_str().into(), path.into(), (*job).into(), Arg::Time(at)],
        ),
        // A file forgotten twice keeps the time it was first forgotten at.
        Change::ForgetFiles { ids, at } if ids.is_empty() => {
            let _ = at;
            Write::default()
        }
        Change::ForgetFiles { ids, at } => Write {
            statements: vec![Statement {
                sql: format!("UPDATE archives SET deleted_at = $1 WHERE deleted_at IS NULL AND id IN ({})", placeholders(2, ids.len())),
                args: [Arg::Time(at)].into_iter().chain(ids.iter().map(|id| Arg::from(*id))).collect(),
            }],
            then: Vec::new(),
        },
        Change::Event(e) => Write::one(
            "INSERT INTO events (at, type, tenant, module, version, job_id, data) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                Arg::Time(&e.at),
                e.kind.as_str().into(),
                (&e.tenant).into(),
                (&e.module).into(),
                (&e.version).into(),
                e.job_id.into(),
                Arg::Json(e.data.as_ref()),
            ],
        ),
        Change::EndJob { id, host, from, status, error, steps, at } => {
            // Guarded: only from one of `from`, and only the job of `host`.
            let from_list = match from.len() {
                0 => "FALSE".to_string(),
                n => format!("status IN ({})", placeholders(6, n)),
            };
            let end = Statement {
                sql: format!(
                    "UPDATE jobs SET status = $2, finished_at = $3, error = $4, lease_until = NULL
                     WHERE id = $1 AND host IS NOT DISTINCT FROM $5 AND {from_list}"
                ),
                args: [(*id).into(), status.as_str().into(), Arg::Time(at), error.into(), host.into()]
                    .into_iter()
                    .chain(from.iter().map(|s| JobStatus::as_str(*s).into()))
                    .collect(),
            };
            // The final steps replace those recorded while the job ran.
            let rows = steps.iter().enumerate().map(|(seq, step)| {
                vec![
                    (*id).into(),
                    (seq as i64 + 1).into(),
                    (&step.name).into(),
                    step.status.as_str().into(),
                    (step.duration_ms as i64).into(),
                    (&step.detail).into(),
                    (&step.output).into(),
                ]
            });
            let insert = insert_rows("INSERT INTO job_steps (job_id, seq, name, status, duration_ms, detail, output)", rows.collect(), "");
            Write {
                statements: vec![end],
                then: [Statement::new("DELETE FROM job_steps WHERE job_id = $1", vec![(*id).into()])].into_iter().chain(insert).collect(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The number of `$N` placeholders a statement's text names.
    fn placeholders_in(sql: &str) -> usize {
        let mut highest = 0;
        let bytes = sql.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'$' {
                let digits: String = sql[i + 1..].chars().take_while(char::is_ascii_digit).collect();
                highest = highest.max(digits.parse().unwrap_or(0));
            }
        }
        highest
    }

    #[test]
    fn every_statement_binds_as_many_values_as_it_names() {
        let changes = vec![
            Change::AddFlags {
                tenant: "acme".into(),
                module: "m".into(),
                flags: [("a".to_string(), true), ("b".to_string(), false)].into(),
                at: "2026-01-01T00:00:00Z".into(),
            },
            Change::RemoveFlags { tenant: "acme".into(), module: "m".into(), except: vec!["a".into(), "b".into()] },
            Change::RemoveFlags { tenant: "acme".into(), module: "m".into(), except: vec![] },
            Change::ForgetFiles { ids: vec![3, 4, 5], at: "2026-01-01T00:00:00Z".into() },
            Change::EndJob {
                id: 7,
                host: None,
                from: vec![JobStatus::Running, JobStatus::Failed],
                status: JobStatus::RolledBack,
                error: Some("x".into()),
                steps: vec![
                    crate::domain::job::Step {
                        name: "a".into(),
                        status: crate::domain::job::StepStatus::Ok,
                        duration_ms: 1,
                        detail: None,
                        output: None,
                    };
                    3
                ],
                at: "2026-01-01T00:00:00Z".into(),
            },
        ];
        for change in &changes {
            let write = write(change);
            for statement in write.statements.iter().chain(&write.then) {
                assert_eq!(placeholders_in(&statement.sql), statement.args.len(), "{statement:?}");
            }
        }
        let ended = write(&changes[4]);
        assert_eq!(ended.then.len(), 2, "the steps are replaced: {ended:?}");
        assert_eq!(ended.then[1].args.len(), 21, "three rows of seven");
        assert!(write(&Change::ForgetFiles { ids: vec![], at: "t".into() }).statements.is_empty());
    }
}
