//! A refinery driver for a tenant connection already inside modreg's own transaction, as
//! for SQLite tenants: no BEGIN or COMMIT of its own, every migration body run as the
//! module's role through its runner (`confine`), each timed. refinery keeps the order,
//! the history table (written as modreg's user, out of the module's reach) and the
//! refusal of applied migrations that changed or went missing.

use std::fmt;
use std::sync::Mutex;
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

/// Runs `before` (statements of modreg's own, or nothing), then the statements of `sql`
/// through `runner`, in one round trip, cancelling it when the process is interrupted; the time
/// limit is the transaction's `statement_timeout` (`limit`).
pub(super) fn run_script(
    conn: &mut pool::Connection,
    before: &str,
    runner: &str,
    sql: &str,
    interrupts: &dyn Interrupts,
    limit: Duration,
) -> Result<Duration, ScriptError> {
    let token = conn.client().cancel_token();
    let (finished, done) = std::sync::mpsc::channel::<()>();
    let cancelled = Mutex::new(None);
    let started = Instant::now();
    let result: Result<(), postgres::Error> = std::thread::scope(|scope| {
        let cancelled = &cancelled;
        let token = &token;
        scope.spawn(move || {
            // Wakes when the script ends, or every 10 ms to look for an interruption.
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = done.recv_timeout(Duration::from_millis(10)) {
                if let Some(interruption) = interrupts.interrupted() {
                    *cancelled.lock().unwrap_or_else(|p| p.into_inner()) = Some(interruption);
                    let _ = token.cancel_query(NoTls);
                    return;
                }
            }
        });
        // One round trip, and no statement kept prepared per tenant's runner.
        let parts: Vec<String> = statements(sql).into_iter().map(|(_, text)| super::literal(text)).collect();
        let result = conn.client().batch_execute(&format!("{before}SELECT {runner}(ARRAY[{}]::text[])", parts.join(", ")));
        drop(finished);
        result
    });
    let duration = started.elapsed();
    result.map(|()| duration).map_err(|error| {
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
    /// The module, and the history table name refinery was given for it.
    module: String,
    history: String,
    /// refinery's statements not yet sent: they go with the next migration; those of the
    /// last, with the caller's next statement ([`Driver::pending`]).
    pending: String,
    interrupts: &'a dyn Interrupts,
    limit: Duration,
    bodies: Bodies,
    /// The module's applied migrations, read before the driver ran ([`applied_query`]):
    /// the answer to refinery's first question for them, without a round trip.
    applied: Option<Vec<Migration>>,
    pub steps: Vec<WorkStep>,
}

/// The statement that reads the applied migrations of `module` from the history of
/// `schema`, for [`Driver::new`]'s `applied`: what refinery asks first, answered in the
/// round trip of another read.
pub(super) fn applied_query(schema: &str, module: &str) -> String {
    format!(
        "SELECT version, name, applied_on, checksum FROM {}._modreg_history WHERE module = {} ORDER BY version ASC",
        super::ident(schema),
        super::literal(module)
    )
}

/// The migrations the rows of [`applied_query`] (among `messages`) say were applied.
pub(super) fn applied(messages: &[postgres::SimpleQueryMessage]) -> Vec<Migration> {
    let mut applied = Vec::new();
    for message in messages {
        let postgres::SimpleQueryMessage::Row(row) = message else { continue };
        let text = |i: usize| row.get(i).unwrap_or_default().to_string();
        // refinery wrote these itself; an unreadable one is taken as applied now with
        // checksum 0, which refinery then reports as divergent.
        let version: i32 = text(0).parse().unwrap_or(0);
        let applied_on = OffsetDateTime::parse(&text(2), &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        applied.push(Migration::applied(version, text(1), applied_on, text(3).parse().unwrap_or(0)));
    }
    applied
}

impl<'a> Driver<'a> {
    pub(super) fn new(
        conn: &'a mut pool::Connection,
        runner: String,
        module: &str,
        migrations: &[crate::domain::module::Migration],
        interrupts: &'a dyn Interrupts,
        limit: Duration,
        applied: Option<Vec<Migration>>,
    ) -> Self {
        let history = super::catalog::history_table(module);
        Driver {
            conn,
            runner,
            module: module.to_string(),
            history,
            pending: String::new(),
            interrupts,
            limit,
            bodies: Bodies::new(migrations),
            applied,
            steps: Vec::new(),
        }
    }

    /// refinery's statements it has not sent, for the caller to send in its transaction
    /// before it commits.
    pub(super) fn pending(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// refinery's statement on its history table, on the module's rows of the tenant's
    /// `_modreg_history` instead; `None` for the one that would create the table.
    fn translate(&self, query: &str) -> Option<String> {
        let history = &self.history;
        if query.trim_start().starts_with("CREATE TABLE IF NOT EXISTS") && query.contains(history.as_str()) {
            return None;
        }
        let module = super::literal(&self.module);
        let rows = format!("(SELECT version, name, applied_on, checksum FROM _modreg_history WHERE module = {module}) AS {history}");
        Some(
            query
                .replace(
                    &format!("INSERT INTO {history} (version, name, applied_on, checksum) VALUES ("),
                    &format!("INSERT INTO _modreg_history (module, version, name, applied_on, checksum) VALUES ({module}, "),
                )
                .replace(&format!("FROM {history}"), &format!("FROM {rows}"))
                .replace(&format!("from {history}"), &format!("from {rows}")),
        )
    }
}

impl Transaction for Driver<'_> {
    type Error = DriverError;

    fn execute<'q, T: Iterator<Item = &'q str>>(&mut self, queries: T) -> Result<usize, Self::Error> {
        let mut count = 0;
        for query in queries {
            match self.bodies.take(query) {
                Some(name) => {
                    let before = std::mem::take(&mut self.pending);
                    let duration = run_script(self.conn, &before, &self.runner, query, self.interrupts, self.limit)
                        .map_err(|failure| DriverError::Migration { name: name.clone(), failure })?;
                    self.steps.push(WorkStep { name: format!("migrate {name}"), duration, detail: None });
                }
                None => {
                    if let Some(query) = self.translate(query) {
                        self.pending.push_str(&query);
                        self.pending.push(';');
                    }
                }
            }
            count += 1;
        }
        // What is left (the last migration's history row) is the caller's to send
        // ([`Driver::pending`]).
        Ok(count)
    }
}

impl Query<Vec<Migration>> for Driver<'_> {
    fn query(&mut self, query: &str) -> Result<Vec<Migration>, Self::Error> {
        let asks_applied = query == format!("SELECT version, name, applied_on, checksum FROM {} ORDER BY version ASC;", self.history);
        if asks_applied && let Some(applied) = self.applied.take() {
            return Ok(applied);
        }
        let query = self.translate(query).unwrap_or_default();
        let messages = self.conn.client().simple_query(&query).map_err(DriverError::History)?;
        Ok(applied(&messages))
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
        migration_error::DriverError::History(e) => {
            Some(WorkError::new("migrate history", Error::failed(format!("migration `history` of `{name}` failed: {}", super::message(e)))))
        }
    })
}
