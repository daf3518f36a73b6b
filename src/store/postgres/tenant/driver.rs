//! A refinery driver for a tenant connection already inside modreg's own transaction, as
//! for SQLite tenants: no BEGIN or COMMIT of its own. refinery keeps the order, the
//! history table (written as modreg's user, out of the module's reach) and the refusal
//! of applied migrations that changed or went missing; the migrations it chooses run
//! after it, with the module's seeds, in one round trip: a call of the module role's
//! runner each (`confine`, [`run_scripts`]), timed by the server.

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
use crate::domain::statements::statements;
use crate::store::migration_error::{self, Bodies};
use crate::store::postgres::pool;
use crate::store::{Interrupts, WorkError};

/// A script of a module's work: a migration refinery chose to apply, or a seed.
#[derive(Debug, Clone)]
pub(super) struct Script {
    pub name: String,
    pub sql: String,
    pub seed: bool,
}

impl Script {
    /// The job's step that runs it.
    pub fn step(&self) -> String {
        if self.seed { format!("seed {}", self.name) } else { format!("migrate {}", self.name) }
    }

    /// It, in a message: ``migration `V2__x` of `m` ``.
    pub fn what(&self, module: &str) -> String {
        format!("{} `{}` of `{module}`", if self.seed { "seed" } else { "migration" }, self.name)
    }

    /// Its file, in the module's folder.
    pub fn file(&self) -> String {
        if self.seed { format!("seeds/postgres/{}", self.name) } else { format!("migrations/postgres/{}.sql", self.name) }
    }
}

/// A call of a runner that failed: PostgreSQL's error, why modreg stopped it (if it
/// did), how long it ran, and the script whose statement failed (`None`: the error came
/// from modreg's own statements around the scripts).
#[derive(Debug)]
pub(super) struct ScriptError {
    pub error: postgres::Error,
    pub stopped: Option<Stopped>,
    pub duration: Duration,
    pub script: Option<usize>,
}

/// Runs `before` (statements of modreg's own, or nothing), then `scripts` through
/// `runner` (its unqualified name `runner_name`), a call each, then `after` (one read of
/// modreg's), in one round trip, cancelling it when the process is interrupted. The time
/// limit is the transaction's `statement_timeout` (`limit`), which PostgreSQL applies to
/// each statement of a round trip on its own: to each script. Returns how long each
/// script ran, by the server's clock, and the answer to `after`.
pub(super) fn run_scripts(
    conn: &mut pool::Connection,
    before: &str,
    (runner, runner_name): (&str, &str),
    scripts: &[Script],
    after: &str,
    interrupts: &dyn Interrupts,
    limit: Duration,
) -> Result<(Vec<Duration>, Vec<postgres::SimpleQueryMessage>), ScriptError> {
    let token = conn.client().cancel_token();
    let (finished, done) = std::sync::mpsc::channel::<()>();
    let cancelled = Mutex::new(None);
    let started = Instant::now();
    // No statement kept prepared per tenant's runner.
    let calls: String = scripts
        .iter()
        .map(|script| {
            let parts: Vec<String> = statements(&script.sql).into_iter().map(|(_, text)| super::literal(text)).collect();
            format!("SELECT {runner}(ARRAY[{}]::text[]);", parts.join(", "))
        })
        .collect();
    let result = std::thread::scope(|scope| {
        let cancelled = &cancelled;
        let token = &token;
        scope.spawn(move || {
            // Wakes when the round trip ends, or every 10 ms to look for an interruption.
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = done.recv_timeout(Duration::from_millis(10)) {
                if let Some(interruption) = interrupts.interrupted() {
                    *cancelled.lock().unwrap_or_else(|p| p.into_inner()) = Some(interruption);
                    let _ = token.cancel_query(NoTls);
                    return;
                }
            }
        });
        let result = conn.client().simple_query(&format!("{before}{calls}{after}"));
        drop(finished);
        result
    });
    let duration = started.elapsed();
    let mut messages = result.map_err(|error| {
        let interrupted = *cancelled.lock().unwrap_or_else(|p| p.into_inner());
        let stopped = match interrupted {
            Some(interruption) => Some(Stopped::Interrupted(interruption)),
            None if error.code() == Some(&postgres::error::SqlState::QUERY_CANCELED) => Some(Stopped::TimedOut(limit)),
            None => None,
        };
        let sql: Vec<&str> = scripts.iter().map(|s| s.sql.as_str()).collect();
        let script = match error.as_db_error() {
            Some(db) => confine::failing_script(db, runner_name, &sql),
            // The connection broke: the first script is named.
            None => (!scripts.is_empty()).then_some(0),
        };
        ScriptError { error, stopped, duration, script }
    })?;
    // Each statement's answer ends with its command's end: `after`'s is the last, the
    // scripts' those before it (`before` may have answers of its own).
    let ends: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| matches!(m, postgres::SimpleQueryMessage::CommandComplete(_)))
        .map(|(i, _)| i + 1)
        .collect();
    // Where the answer `back` answers from the last begins and ends.
    let span = |back: usize| match ends.len().checked_sub(back + 1) {
        Some(at) => (if at == 0 { 0 } else { ends[at - 1] }, ends[at]),
        None => (0, 0),
    };
    // Each runner's answer: the clock as it started and as it ended.
    let durations = (0..scripts.len())
        .map(|i| {
            let (from, to) = span(scripts.len() - i);
            let clock: Vec<f64> = messages[from..to]
                .iter()
                .find_map(|m| match m {
                    postgres::SimpleQueryMessage::Row(row) => row.get(0),
                    _ => None,
                })
                .unwrap_or_default()
                .trim_matches(['{', '}'])
                .split(',')
                .filter_map(|t| t.parse().ok())
                .collect();
            match (clock.first(), clock.last()) {
                (Some(a), Some(b)) => Duration::try_from_secs_f64(b - a).unwrap_or_default(),
                _ => Duration::ZERO,
            }
        })
        .collect();
    let listed = messages.split_off(span(0).0);
    Ok((durations, listed))
}

/// refinery's errors of this driver: only its reads of the history can fail, since the
/// scripts run once refinery chose them ([`run_scripts`]).
type DriverError = migration_error::DriverError<std::convert::Infallible, postgres::Error>;

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)
    }
}

/// refinery's driver: it runs nothing but a read refinery asks that [`applied_query`]
/// did not answer; the migrations refinery chose, and their history rows, it collects
/// for the caller to send in one round trip with the module's seeds and listing.
pub(super) struct Driver<'a> {
    conn: &'a mut pool::Connection,
    /// The module, and the history table name refinery was given for it.
    module: String,
    history: String,
    /// refinery's statements on its history, translated, for after the scripts.
    pending: String,
    bodies: Bodies,
    /// The module's applied migrations, read before the driver ran ([`applied_query`]):
    /// the answer to refinery's first question for them, without a round trip.
    applied: Option<Vec<Migration>>,
    /// The migrations refinery chose, in order.
    pub scripts: Vec<Script>,
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
        module: &str,
        migrations: &[crate::domain::module::Migration],
        applied: Option<Vec<Migration>>,
    ) -> Self {
        let history = super::catalog::history_table(module);
        Driver {
            conn,
            module: module.to_string(),
            history,
            pending: String::new(),
            bodies: Bodies::new(migrations),
            applied,
            scripts: Vec::new(),
        }
    }

    /// refinery's statements on its history, for the caller to send in its transaction
    /// once the scripts ran.
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

    /// Collects, sending nothing: refinery (grouped) hands over every migration it chose
    /// and its history row at once.
    fn execute<'q, T: Iterator<Item = &'q str>>(&mut self, queries: T) -> Result<usize, Self::Error> {
        let mut count = 0;
        for query in queries {
            match self.bodies.take(query) {
                Some(name) => self.scripts.push(Script { name, sql: query.to_string(), seed: false }),
                None => {
                    if let Some(query) = self.translate(query) {
                        self.pending.push_str(query.trim_end().trim_end_matches(';'));
                        self.pending.push(';');
                    }
                }
            }
            count += 1;
        }
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
/// wording every engine shares.
pub(super) fn migration_error(module: &ModuleVersion, e: refinery_core::Error) -> WorkError {
    let name = module.name();
    migration_error::refinery_failure(module, e, |source| match source.downcast_ref::<DriverError>()? {
        migration_error::DriverError::Migration { failure, .. } => match *failure {},
        migration_error::DriverError::History(e) => {
            Some(WorkError::new("migrate history", Error::failed(format!("migration `history` of `{name}` failed: {}", super::message(e)))))
        }
    })
}
