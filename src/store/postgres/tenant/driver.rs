//! A refinery driver for a tenant connection already inside modreg's own transaction, as
//! for SQLite tenants: no BEGIN or COMMIT of its own, every migration body run as the
//! module's role through its runner (`confine`), each timed. refinery keeps the order,
//! the history table (written as modreg's user, out of the module's reach) and the
//! refusal of applied migrations that changed or went missing.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use postgres::NoTls;
use refinery_core::Migration;
use refinery_core::traits::sync::{Migrate, Query, Transaction};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::confine::{self, Stopped};
use crate::domain::Error;
use crate::domain::module::ModuleVersion;
use crate::domain::ownership::Ownership;
use crate::domain::statements::statements;
use crate::store::migration_error::{self, Bodies};
use crate::store::postgres::pool;
use crate::store::{Interrupts, WorkError, WorkStep};

/// A script that failed: PostgreSQL's error, why modreg stopped it (if it did), and how
/// long it ran.
#[derive(Debug)]
pub(super) struct ScriptError {
    pub error: postgres::Error,
    pub stopped: Option<Stopped>,
    pub duration: Duration,
}

/// Runs the statements of `sql` through `runner`, cancelling it when the process is interrupted; the time
/// limit is the transaction's `statement_timeout` (`limit`).
pub(super) fn run_script(
    conn: &mut pool::Connection,
    runner: &str,
    sql: &str,
    interrupts: &dyn Interrupts,
    limit: Duration,
) -> Result<Duration, ScriptError> {
    let token = conn.client().cancel_token();
    let done = AtomicBool::new(false);
    let cancelled = Mutex::new(None);
    let started = Instant::now();
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Acquire) {
                if let Some(interruption) = interrupts.interrupted() {
                    *cancelled.lock().unwrap_or_else(|p| p.into_inner()) = Some(interruption);
                    let _ = token.cancel_query(NoTls);
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let parts: Vec<&str> = statements(sql).into_iter().map(|(_, text)| text).collect();
        let result = conn.query(&format!("SELECT {runner}($1)"), &[&parts]);
        done.store(true, Ordering::Release);
        result
    });
    let duration = started.elapsed();
    result.map(|_| duration).map_err(|error| {
        let interrupted = *cancelled.lock().unwrap_or_else(|p| p.into_inner());
        let stopped = match interrupted {
            Some(interruption) => Some(Stopped::Interrupted(interruption)),
            None if error.code() == Some(&postgres::error::SqlState::QUERY_CANCELED) => Some(Stopped::TimedOut(limit)),
            None => None,
        };
        ScriptError { error, stopped, duration }
    })
}

type DriverError = migration_error::DriverError<ScriptError, postgres::Error>;

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)
    }
}

pub(super) struct Driver<'a> {
    conn: &'a mut pool::Connection,
    runner: String,
    interrupts: &'a dyn Interrupts,
    limit: Duration,
    bodies: Bodies,
    pub steps: Vec<WorkStep>,
}

impl<'a> Driver<'a> {
    pub(super) fn new(
        conn: &'a mut pool::Connection,
        runner: String,
        migrations: &[crate::domain::module::Migration],
        interrupts: &'a dyn Interrupts,
        limit: Duration,
    ) -> Self {
        Driver { conn, runner, interrupts, limit, bodies: Bodies::new(migrations), steps: Vec::new() }
    }
}

impl Transaction for Driver<'_> {
    type Error = DriverError;

    fn execute<'q, T: Iterator<Item = &'q str>>(&mut self, queries: T) -> Result<usize, Self::Error> {
        let mut count = 0;
        for query in queries {
            match self.bodies.take(query) {
                Some(name) => {
                    let duration = run_script(self.conn, &self.runner, query, self.interrupts, self.limit)
                        .map_err(|failure| DriverError::Migration { name: name.clone(), failure })?;
                    self.steps.push(WorkStep { name: format!("migrate {name}"), duration, detail: None });
                }
                None => self.conn.client().batch_execute(query).map_err(DriverError::History)?,
            }
            count += 1;
        }
        Ok(count)
    }
}

impl Query<Vec<Migration>> for Driver<'_> {
    fn query(&mut self, query: &str) -> Result<Vec<Migration>, Self::Error> {
        let rows = self.conn.client().query(query, &[]).map_err(DriverError::History)?;
        let mut applied = Vec::with_capacity(rows.len());
        for row in rows {
            let version: i32 = row.try_get(0).map_err(DriverError::History)?;
            let name: String = row.try_get(1).map_err(DriverError::History)?;
            let applied_on: String = row.try_get(2).map_err(DriverError::History)?;
            let checksum: String = row.try_get(3).map_err(DriverError::History)?;
            // refinery wrote these itself; an unreadable one is taken as applied now with
            // checksum 0, which refinery then reports as divergent.
            let applied_on = OffsetDateTime::parse(&applied_on, &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH);
            applied.push(Migration::applied(version, name, applied_on, checksum.parse().unwrap_or(0)));
        }
        Ok(applied)
    }
}

impl Migrate for Driver<'_> {}

/// Turns refinery's error into one that names the migration and says what to do: the
/// wording every engine shares, and this driver's own failures in the words of
/// `domain::ownership` where PostgreSQL refused module SQL.
pub(super) fn migration_error(
    module: &ModuleVersion,
    migrations: &[crate::domain::module::Migration],
    e: refinery_core::Error,
    ownership: &Ownership,
) -> WorkError {
    let name = module.name();
    migration_error::refinery_failure(module, e, |source| match source.downcast_ref::<DriverError>()? {
        migration_error::DriverError::Migration { name: migration, failure } => {
            let sql = migrations.iter().find(|m| &m.name == migration).map_or("", |m| m.sql.as_str());
            let what = format!("migration `{migration}` of `{name}`");
            let step = format!("migrate {migration}");
            let file = format!("migrations/postgres/{migration}.sql");
            let mut error = confine::failure(step, &what, &file, sql, &failure.error, ownership, failure.stopped);
            error.duration = failure.duration;
            Some(error)
        }
        migration_error::DriverError::History(e) => Some(WorkError::new(
            "migrate history",
            Error::failed(format!(
                "migration `history` of `{name}` failed: {}",
                e.as_db_error().map_or(e.to_string(), |d| d.message().to_string())
            )),
        )),
    })
}
