//! The SQL sandbox: SQLite's authorizer decides, statement by statement, what module SQL
//! may do. Module SQL may not ATTACH or DETACH, load extensions, manage transactions,
//! run PRAGMAs outside a harmless list, create temporary triggers or views, touch any
//! `_modreg_*` object, create, drop or alter an object that it does not own, or write to
//! (or hang a trigger or index on) a table of a module that is neither itself nor one of
//! its dependencies (SPEC §5.1); tables no module owns stay writable. Each
//! script starts from the same connection settings and leaves none behind, and runs
//! under a time limit (`MODREG_SQL_TIMEOUT`) that a watcher thread enforces by
//! interrupting the connection, however long one step of SQLite takes; no value it makes
//! (string, blob or row) may exceed [`MAX_VALUE_BYTES`], so that no single step (a
//! `randomblob(999999999)`) outlasts the limit by more than a fraction of a second, and
//! SQLite's heap as a whole is bounded (`MODREG_SQL_MEMORY`, [`limit_memory`]). SQL
//! that modreg runs itself passes, and is not timed, except that triggers and views
//! (which module SQL wrote) may never reach `_modreg_*` objects, whoever fires them.
//! The same watcher (and SQLite's progress handler, between instructions) stops module
//! SQL when the process is interrupted (SIGINT, SIGTERM), so that its work rolls back at
//! once; modreg's own SQL (the rollback) goes on.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::{Connection, ErrorCode};

use crate::domain::diagnostic::line_column;
use crate::domain::ownership::{Ownership, Refusal, is_internal};
use crate::domain::{Error, Interruption, bytes_text};
use crate::store::sqlite::error::work_failure;
use crate::store::sqlite::files::connection_file;
use crate::store::sqlite::schema::{self, SchemaObject, quote};
use crate::store::sqlite::script::{self, sqlite_message};
use crate::store::{Interrupts, WorkError};

/// How many SQLite virtual machine instructions run between two looks at the clock:
/// often enough to stop within a few milliseconds of the limit, rare enough to cost
/// nothing measurable.
const INSTRUCTIONS_PER_CHECK: std::ffi::c_int = 1000;

/// How often the watcher of a running script looks at the clock and at signals. One
/// instruction of SQLite can take long (a function over a big value, a big row written),
/// and the progress handler runs only between them: the watcher interrupts from outside.
const WATCH_TICK: Duration = Duration::from_millis(10);

/// The largest string, blob or row module SQL may make or read: SQLite makes a value in
/// one step that no interruption can cut short (about 0.3 s for 128 MiB of
/// `randomblob`), so this bounds how far one step can overrun the time limit.
pub const MAX_VALUE_BYTES: i32 = 128 << 20;

/// Bounds the memory SQLite may hold in this process, for every connection at once
/// (`MODREG_SQL_MEMORY`): past it, SQL fails with "out of memory" instead of growing
/// until the machine swaps. Process-wide, as SQLite's heap is.
pub fn limit_memory(bytes: u64) {
    // SAFETY: sqlite3_hard_heap_limit64 only sets a process-wide number SQLite reads
    // under its own mutex; any value is valid (0 means no limit).
    unsafe {
        rusqlite::ffi::sqlite3_hard_heap_limit64(i64::try_from(bytes).unwrap_or(i64::MAX));
    }
}

/// The memory bound in force (None: none).
fn memory_limit() -> Option<u64> {
    // SAFETY: a negative argument only reads the limit.
    let limit = unsafe { rusqlite::ffi::sqlite3_hard_heap_limit64(-1) };
    u64::try_from(limit).ok().filter(|l| *l > 0)
}

/// PRAGMAs module SQL may set, each with the value every module's SQL starts from: a
/// migration that sets one (a rebuild with `legacy_alter_table`, `defer_foreign_keys`…)
/// changes only itself, never the next migration or the next module of the plan.
/// `foreign_keys` is off for schema work, and a no-op inside modreg's transaction anyway.
const SETTABLE_PRAGMAS: &[(&str, &str)] = &[
    ("foreign_keys", "OFF"),
    ("defer_foreign_keys", "OFF"),
    ("recursive_triggers", "OFF"),
    ("case_sensitive_like", "OFF"),
    ("legacy_alter_table", "OFF"),
];

/// PRAGMAs module SQL may run that only read.
const QUERY_PRAGMAS: &[&str] = &[
    "foreign_key_check",
    "foreign_key_list",
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "integrity_check",
    "quick_check",
    "collation_list",
    "function_list",
    "module_list",
    "pragma_list",
    "compile_options",
];

/// PRAGMAs module SQL may read but not set.
/// (R-tree reads `data_version` while creating its table.)
const READ_ONLY_PRAGMAS: &[&str] = &["user_version", "application_id", "encoding", "page_size", "schema_version", "data_version"];

#[derive(Default)]
struct State {
    /// Module SQL is running.
    active: bool,
    /// What the running module owns and may write.
    rules: Ownership,
    /// Why the first refused statement of the running script was refused.
    denial: Option<Denial>,
    /// How long one script may run.
    limit: Duration,
    /// When the running script must stop (None: a limit too large to reach).
    deadline: Option<Instant>,
    /// The progress handler stopped the running script.
    timed_out: bool,
    /// The progress handler stopped the running script: the process was interrupted.
    interrupted: Option<Interruption>,
}

impl State {
    /// Whether the running module SQL must stop now, noting why: the process was
    /// interrupted, or the time limit passed.
    fn must_stop(&mut self, interrupts: &dyn Interrupts) -> bool {
        if !self.active {
            return false;
        }
        if let Some(interruption) = interrupts.interrupted() {
            self.interrupted = Some(interruption);
            return true;
        }
        let past = self.deadline.is_some_and(|deadline| Instant::now() >= deadline);
        self.timed_out |= past;
        past
    }
}

/// Why the authorizer refused a statement, and what to do about it.
pub(crate) type Denial = Refusal;

/// Why the sandbox stopped a script, when it was the sandbox that stopped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The authorizer refused a statement.
    Denied(Denial),
    /// A statement ran past this time limit.
    TimedOut(Duration),
    /// SQLite ran out of the memory `MODREG_SQL_MEMORY` allows (this many bytes).
    OutOfMemory(u64),
    /// A value or row was larger than [`MAX_VALUE_BYTES`].
    TooBig,
    /// The process was interrupted while it ran.
    Interrupted(Interruption),
}

/// A module script that failed: where in its text, why, and how long it ran.
#[derive(Debug)]
pub(crate) struct ScriptFailure {
    pub error: rusqlite::Error,
    /// The byte offset in the script of the statement (or token) that failed.
    pub offset: usize,
    pub stop: Option<Stop>,
    pub elapsed: Duration,
    /// The file it ran on, as errors name it.
    pub file: String,
}

impl ScriptFailure {
    /// Why it failed, in a few words: the sandbox's reason, or SQLite's.
    pub(crate) fn reason(&self) -> String {
        match &self.stop {
            Some(Stop::Denied(denial)) => denial.message.clone(),
            Some(Stop::TimedOut(limit)) => format!("it ran past the {} s limit (`MODREG_SQL_TIMEOUT`)", limit.as_secs_f64()),
            Some(Stop::OutOfMemory(limit)) => {
                format!("it needed more memory than the {} SQLite may use (`MODREG_SQL_MEMORY`)", bytes_text(*limit))
            }
            Some(Stop::TooBig) => {
                format!("it made or read a value or row larger than {}, the most module SQL may", bytes_text(MAX_VALUE_BYTES as u64))
            }
            Some(Stop::Interrupted(interruption)) => interruption.reason(),
            None => sqlite_message(&self.error),
        }
    }

    /// The failure of job step `step`: `what` names the script (``migration `V1__a` of
    /// `m` ``), `file` is its path in the module folder and `sql` its text. A script
    /// stopped by the time limit or an interruption is named with the line it was
    /// stopped at.
    pub(crate) fn work_error(&self, step: String, what: &str, file: &str, sql: &str) -> WorkError {
        let error = match &self.stop {
            Some(Stop::Interrupted(interruption)) => {
                let (line, _) = line_column(sql, self.offset);
                Error::interrupted(*interruption, format!("{what} was stopped at `{file}` line {line}"))
            }
            Some(Stop::TimedOut(_)) => {
                let (line, _) = line_column(sql, self.offset);
                Error::failed(format!("{what} was stopped at `{file}` line {line}: {}", self.reason()))
                    .with_hint("make the statement cheaper, or raise `MODREG_SQL_TIMEOUT` (seconds) if it needs longer")
            }
            Some(Stop::Denied(denial)) => denial.error(format!("{what} failed: {}", denial.message)),
            Some(Stop::OutOfMemory(_)) => {
                let (line, _) = line_column(sql, self.offset);
                Error::failed(format!("{what} was stopped at `{file}` line {line}: {}", self.reason()))
                    .with_hint("make the statement use less memory, or raise `MODREG_SQL_MEMORY` (bytes, or `2GiB`) if it needs more")
            }
            Some(Stop::TooBig) => {
                let (line, _) = line_column(sql, self.offset);
                Error::failed(format!("{what} was stopped at `{file}` line {line}: {}", self.reason()))
                    .with_hint("keep large values out of migrations and seeds: write them from the application")
            }
            None => work_failure(format!("{what} failed"), &self.file, &self.error),
        };
        let mut failure = WorkError::new(step, error);
        failure.offset = Some(self.offset);
        failure.duration = self.elapsed;
        failure
    }
}

/// The sandbox of one connection.
#[derive(Clone)]
pub(crate) struct Sandbox {
    state: Arc<Mutex<State>>,
    interrupts: Arc<dyn Interrupts>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sandbox {
    /// Installs the authorizer and the time limit of each script (`limit`) on `conn`, and
    /// forbids attaching databases at all. Module SQL stops when `interrupts` says so.
    pub(crate) fn install(conn: &mut Connection, limit: Duration, interrupts: Arc<dyn Interrupts>) -> rusqlite::Result<Sandbox> {
        conn.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_ATTACHED, 0)?;
        let state = Arc::new(Mutex::new(State { limit, ..State::default() }));
        let clocked = state.clone();
        let signals = interrupts.clone();
        conn.progress_handler(INSTRUCTIONS_PER_CHECK, Some(move || lock(&clocked).must_stop(signals.as_ref())))?;
        let shared = state.clone();
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            let mut state = lock(&shared);
            match decide(&state, &ctx) {
                Ok(()) => Authorization::Allow,
                Err(denial) => {
                    state.denial.get_or_insert(denial);
                    Authorization::Deny
                }
            }
        }))?;
        Ok(Sandbox { state, interrupts })
    }

    /// Sets who the next module SQL runs as, what exists that it does not own, and the
    /// other modules whose tables it may write (`writable`, its dependencies).
    pub(crate) fn prepare(&self, rules: Ownership) {
        lock(&self.state).rules = rules;
    }

    /// Starts a piece of module SQL: the authorizer judges it, the clock runs.
    fn enter(&self, started: Instant) {
        let mut state = lock(&self.state);
        state.active = true;
        state.denial = None;
        state.timed_out = false;
        state.interrupted = None;
        state.deadline = started.checked_add(state.limit);
    }

    /// Ends a piece of module SQL: why the authorizer refused it (if it did), and why
    /// the progress handler stopped it (if it did: an interruption, or the time limit).
    fn leave(&self) -> (Option<Denial>, Option<Stop>) {
        let mut state = lock(&self.state);
        state.active = false;
        let halted = match (state.interrupted, state.timed_out) {
            (Some(interruption), _) => Some(Stop::Interrupted(interruption)),
            (None, true) => Some(Stop::TimedOut(state.limit)),
            (None, false) => None,
        };
        (state.denial.take(), halted)
    }

    /// Checks what a trigger the running module created would write, wherever it fires
    /// (in an application's connection, later, the authorizer is not there). SQLite shows
    /// the authorizer a trigger's body only when it compiles a statement that fires it,
    /// not when the trigger is created; so this compiles, as module SQL and without
    /// running it, a statement that fires it, and the authorizer sees every write of its
    /// body and of the triggers that fires in turn.
    pub(crate) fn check_trigger(&self, conn: &Connection, trigger: &SchemaObject) -> Result<(), WorkError> {
        let step = format!("check trigger {}", trigger.name);
        let module = lock(&self.state).rules.module().to_string();
        let probes =
            schema::trigger_probes(conn, trigger).map_err(|e| WorkError::new(step.as_str(), Error::internal(sqlite_message(&e))))?;
        for probe in &probes.statements {
            let started = Instant::now();
            self.enter(started);
            let compiled = conn.prepare(probe).map(drop);
            let (denial, halted) = self.leave();
            if let Some(Stop::Interrupted(interruption)) = halted {
                let stopped = format!("checking trigger `{}` of module `{module}` was stopped", trigger.name);
                return Err(WorkError::new(step, Error::interrupted(interruption, stopped)));
            }
            let error = match (compiled, denial) {
                (Err(_), Some(denial)) => denial.error(denial.message.clone()),
                // A trigger that does not compile makes every write to its table fail,
                // and what it writes cannot be told.
                (Err(e), None) if probes.exact => {
                    Error::failed(format!("trigger `{}` of module `{module}` does not compile: {}", trigger.name, sqlite_message(&e)))
                }
                _ => continue,
            };
            return Err(WorkError::new(step, error));
        }
        Ok(())
    }

    /// Runs one script (a migration or a seed) as module SQL and puts the connection
    /// back after it: the settable PRAGMAs at their starting values, no temporary table
    /// left over. The connection starts that way (only module SQL changes these), so
    /// every script starts from the same settings whatever ran before it.
    pub(crate) fn run_script(&self, conn: &Connection, sql: &str) -> Result<(), ScriptFailure> {
        let started = Instant::now();
        let file = || connection_file(conn);
        let bounded = conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES);
        let unbounded = match bounded {
            Ok(previous) => previous,
            Err(error) => return Err(ScriptFailure { error, offset: 0, stop: None, elapsed: Duration::ZERO, file: file() }),
        };
        self.enter(started);
        let result = self.watched(conn, || script::run(conn, sql));
        let (denial, halted) = self.leave();
        let elapsed = started.elapsed();
        let reset = conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, unbounded).and_then(|_| reset_connection(conn));
        reset.map_err(|error| ScriptFailure { error, offset: 0, stop: None, elapsed, file: file() })?;
        result.map_err(|e| {
            let stop = match (e.error.sqlite_error_code(), halted, denial) {
                // The watcher's and the progress handler's stops show as "interrupted".
                (Some(ErrorCode::OperationInterrupted), Some(halted), _) => Some(halted),
                (_, _, Some(denial)) => Some(Stop::Denied(denial)),
                (Some(ErrorCode::OutOfMemory), _, _) => memory_limit().map(Stop::OutOfMemory),
                (Some(ErrorCode::TooBig), _, _) => Some(Stop::TooBig),
                _ => None,
            };
            ScriptFailure { error: e.error, offset: e.offset, stop, elapsed, file: file() }
        })
    }

    /// Runs `work` (module SQL on `conn`) with a watcher thread beside it that interrupts
    /// the connection once the script must stop, and again every tick until `work`
    /// returns: an interruption that falls between two statements is lost, the next
    /// one is not. The watcher ends before this returns, so it never interrupts
    /// modreg's own SQL.
    fn watched<T>(&self, conn: &Connection, work: impl FnOnce() -> T) -> T {
        let handle = conn.get_interrupt_handle();
        let (done, finished) = mpsc::channel::<()>();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(WATCH_TICK) {
                    let mut state = lock(&self.state);
                    if state.must_stop(self.interrupts.as_ref()) {
                        handle.interrupt();
                    }
                }
            });
            let out = work();
            drop(done);
            out
        })
    }
}

/// Puts back what module SQL may change on its connection.
fn reset_connection(conn: &Connection) -> rusqlite::Result<()> {
    for (pragma, value) in SETTABLE_PRAGMAS {
        conn.execute_batch(&format!("PRAGMA {pragma} = {value}"))?;
    }
    let temporary: Vec<String> = conn
        .prepare_cached("SELECT name FROM temp.sqlite_schema WHERE type = 'table'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for table in temporary {
        conn.execute_batch(&format!("DROP TABLE temp.{}", quote(&table)))?;
    }
    Ok(())
}

/// The names an action touches: (object created, dropped or altered; other names read or written).
fn names<'a>(action: &AuthAction<'a>) -> (Option<&'a str>, Vec<&'a str>) {
    use AuthAction::*;
    match *action {
        CreateIndex { index_name, table_name } | CreateTempIndex { index_name, table_name } => (Some(index_name), vec![table_name]),
        CreateTable { table_name } | CreateTempTable { table_name } => (Some(table_name), vec![]),
        CreateVtable { table_name, .. } => (Some(table_name), vec![]),
        CreateView { view_name } | CreateTempView { view_name } => (Some(view_name), vec![]),
        CreateTrigger { trigger_name, table_name } | CreateTempTrigger { trigger_name, table_name } => {
            (Some(trigger_name), vec![table_name])
        }
        DropIndex { index_name, table_name } | DropTempIndex { index_name, table_name } => (Some(index_name), vec![table_name]),
        DropTable { table_name } | DropTempTable { table_name } | DropVtable { table_name, .. } => (Some(table_name), vec![]),
        DropView { view_name } | DropTempView { view_name } => (Some(view_name), vec![]),
        DropTrigger { trigger_name, table_name } | DropTempTrigger { trigger_name, table_name } => (Some(trigger_name), vec![table_name]),
        AlterTable { table_name, .. } => (Some(table_name), vec![]),
        Read { table_name, .. } | Insert { table_name } | Update { table_name, .. } | Delete { table_name } | Analyze { table_name } => {
            (None, vec![table_name])
        }
        Reindex { index_name } => (None, vec![index_name]),
        _ => (None, vec![]),
    }
}

fn decide(state: &State, ctx: &AuthContext<'_>) -> Result<(), Denial> {
    let (object, touched) = names(&ctx.action);
    if let Some(name) = object.iter().chain(touched.iter()).find(|n| is_internal(n)) {
        // modreg's own statements run with no accessor; a trigger or view written by a
        // module never reaches modreg's tables, even when modreg's statement fires it.
        let from_module_code = ctx.accessor.is_some_and(|a| !is_internal(a));
        if state.active || from_module_code {
            return Err(Ownership::internal(name));
        }
    }
    if !state.active {
        return Ok(());
    }
    use AuthAction::*;
    match ctx.action {
        // ATTACH with a computed file name reaches the authorizer without one, as an
        // action rusqlite does not name.
        Attach { .. } | Unknown { code: rusqlite::ffi::SQLITE_ATTACH, .. } => {
            Err("ATTACH is not allowed: module SQL may only use its own tenant database".into())
        }
        Detach { .. } | Unknown { code: rusqlite::ffi::SQLITE_DETACH, .. } => Err("DETACH is not allowed in module SQL".into()),
        Function { function_name } if function_name.eq_ignore_ascii_case("load_extension") => {
            Err("loading extensions is not allowed in module SQL".into())
        }
        Transaction { .. } | Savepoint { .. } => Err(
            "BEGIN, COMMIT, ROLLBACK and SAVEPOINT are not allowed in module SQL: modreg runs each module's work in a transaction of its own".into(),
        ),
        Pragma { pragma_name, pragma_value } => {
            let name = pragma_name.to_ascii_lowercase();
            let allowed = SETTABLE_PRAGMAS.iter().any(|(p, _)| *p == name)
                || QUERY_PRAGMAS.contains(&name.as_str())
                || (pragma_value.is_none() && READ_ONLY_PRAGMAS.contains(&name.as_str()));
            if allowed { Ok(()) } else { Err(format!("PRAGMA {pragma_name} is not allowed in module SQL").into()) }
        }
        CreateTempTrigger { .. } | CreateTempView { .. } => Err("temporary triggers and views are not allowed in module SQL".into()),
        CreateIndex { .. } | CreateTable { .. } | CreateVtable { .. } | CreateView { .. } | CreateTrigger { .. } => {
            let name = object.unwrap_or_default();
            state.rules.may_create(name)?;
            match ctx.action {
                CreateIndex { table_name, .. } => state.rules.may_hang_on("index", name, table_name),
                CreateTrigger { table_name, .. } => state.rules.may_hang_on("trigger", name, table_name),
                _ => Ok(()),
            }
        }
        DropIndex { .. } | DropTable { .. } | DropVtable { .. } | DropView { .. } | DropTrigger { .. } | AlterTable { .. } => {
            state.rules.may_drop_or_alter(object.unwrap_or_default())
        }
        // A write by a trigger is judged as that trigger's (see `Ownership::may_write`).
        Insert { table_name } | Delete { table_name } | Update { table_name, .. } => state.rules.may_write(table_name, ctx.accessor),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::interrupt::Switch;

    const ENDLESS: &str = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c) SELECT count(*) FROM c;";

    #[test]
    fn a_script_past_the_limit_is_stopped_and_the_next_one_gets_the_whole_limit() {
        let mut conn = Connection::open_in_memory().unwrap();
        let sandbox = Sandbox::install(&mut conn, Duration::from_millis(50), Arc::new(Switch::default())).unwrap();
        let sql = format!("CREATE TABLE t (a);\n{ENDLESS}");
        let failure = sandbox.run_script(&conn, &sql).unwrap_err();
        assert_eq!(failure.stop, Some(Stop::TimedOut(Duration::from_millis(50))));
        assert_eq!(failure.offset, sql.find("WITH").unwrap());
        assert!(failure.elapsed >= Duration::from_millis(50));
        let error = failure.work_error("migrate V1__a".into(), "migration `V1__a` of `m`", "migrations/V1__a.sql", &sql).error;
        assert_eq!(
            error.message,
            "migration `V1__a` of `m` was stopped at `migrations/V1__a.sql` line 2: it ran past the 0.05 s limit (`MODREG_SQL_TIMEOUT`)"
        );
        // The deadline is per script; modreg's own SQL is never stopped by it.
        sandbox.run_script(&conn, "INSERT INTO t VALUES (1);").unwrap();
        let count: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(count, 1);
    }

    #[test]
    fn a_refusal_is_not_taken_for_a_timeout() {
        let mut conn = Connection::open_in_memory().unwrap();
        let sandbox = Sandbox::install(&mut conn, Duration::from_secs(60), Arc::new(Switch::default())).unwrap();
        let failure = sandbox.run_script(&conn, "SELECT 1;\nATTACH 'x.db' AS x;").unwrap_err();
        assert!(matches!(&failure.stop, Some(Stop::Denied(why)) if why.message.contains("ATTACH")), "{:?}", failure.stop);
        let error = failure.work_error("migrate V1__a".into(), "migration `V1__a` of `m`", "migrations/V1__a.sql", "").error;
        assert!(error.message.starts_with("migration `V1__a` of `m` failed: ATTACH is not allowed"), "{}", error.message);
        assert_eq!(error.hint, None);
    }

    #[test]
    fn an_interruption_stops_module_sql_and_not_modregs_own() {
        let mut conn = Connection::open_in_memory().unwrap();
        let switch = Arc::new(Switch::default());
        let sandbox = Sandbox::install(&mut conn, Duration::from_secs(60), switch.clone()).unwrap();
        switch.set(Interruption::Interrupt);
        let sql = format!("-- counts forever\n{ENDLESS}");
        let failure = sandbox.run_script(&conn, &sql).unwrap_err();
        assert_eq!(failure.stop, Some(Stop::Interrupted(Interruption::Interrupt)));
        let error = failure.work_error("migrate V1__a".into(), "migration `V1__a` of `m`", "migrations/V1__a.sql", &sql).error;
        assert_eq!(error.kind, crate::domain::ErrorKind::Interrupted);
        assert_eq!(error.message, "interrupted by SIGINT: migration `V1__a` of `m` was stopped at `migrations/V1__a.sql` line 2");
        // What modreg runs itself (the rollback) is not stopped.
        let counted: i64 = conn
            .query_row("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c WHERE n < 100000) SELECT count(*) FROM c", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(counted, 100000);
    }
}
