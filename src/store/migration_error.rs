//! refinery as every tenant engine's driver uses it: the runner over a module's
//! migrations, how a driver tells the migration bodies from refinery's own statements,
//! and what a failed run says. refinery finds a changed, missing or repeated migration
//! the same way whatever runs the SQL, so the words (and the advice) are written once
//! here; an engine's driver adds only its own failures, the ones that say where in a
//! script its database stopped.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use refinery_core::error::Kind;

use crate::domain::Error;
use crate::domain::module::ModuleVersion;
use crate::store::WorkError;

/// The refinery runner over `module`'s `migrations` (those of one engine), grouped (one
/// transaction: the caller's), refusing divergent and missing ones, with its history in
/// `table`.
pub(crate) fn runner(
    module: &ModuleVersion,
    migrations: &[crate::domain::module::Migration],
    table: String,
) -> Result<refinery_core::Runner, WorkError> {
    let name = module.name();
    let all = migrations;
    let mut migrations = Vec::with_capacity(all.len());
    for m in all {
        let migration = refinery_core::Migration::unapplied(&m.name, &m.sql).map_err(|e| {
            WorkError::new(format!("migrate {}", m.name), Error::invalid(format!("migration `{}` of `{name}`: {e}", m.name)))
        })?;
        migrations.push(migration);
    }
    let mut runner = refinery_core::Runner::new(&migrations).set_grouped(true).set_abort_divergent(true).set_abort_missing(true);
    runner.set_migration_table_name(table);
    Ok(runner)
}

/// The migration bodies a driver was given, by content, to the names they run as:
/// refinery hands a driver those bodies and statements of its own (the history table),
/// and only the former came from module files.
pub(crate) struct Bodies(HashMap<String, VecDeque<String>>);

impl Bodies {
    pub(crate) fn new(migrations: &[crate::domain::module::Migration]) -> Bodies {
        let mut bodies: HashMap<String, VecDeque<String>> = HashMap::new();
        for m in migrations {
            bodies.entry(m.sql.clone()).or_default().push_back(m.name.clone());
        }
        Bodies(bodies)
    }

    /// The name of the migration `query` is the body of, once per body given.
    pub(crate) fn take(&mut self, query: &str) -> Option<String> {
        self.0.get_mut(query).and_then(VecDeque::pop_front)
    }
}

/// A failure of a driver while applying migrations: a migration body's (`F`, how the
/// engine ran it), or refinery's own SQL's (`H`, the history table).
#[derive(Debug)]
pub(crate) enum DriverError<F, H> {
    Migration { name: String, failure: F },
    History(H),
}

impl<F: fmt::Display, H: fmt::Display> fmt::Display for DriverError<F, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverError::Migration { failure, .. } => write!(f, "{failure}"),
            DriverError::History(e) => write!(f, "{e}"),
        }
    }
}

impl<F: fmt::Debug + fmt::Display, H: fmt::Debug + fmt::Display> std::error::Error for DriverError<F, H> {}

/// The failure of applying `module`'s migrations, from refinery's error. `driver` turns
/// the error the engine's driver gave refinery into the job's failure, or gives `None`
/// for an error it does not know.
pub(crate) fn refinery_failure(
    module: &ModuleVersion,
    e: refinery_core::Error,
    driver: impl FnOnce(&(dyn std::error::Error + Send + Sync + 'static)) -> Option<WorkError>,
) -> WorkError {
    let name = module.name();
    match e.kind() {
        Kind::DivergentVersion(applied, _) => WorkError::new(
            format!("migrate V{}__{}", applied.version(), applied.name()),
            Error::invalid(format!(
                "migration `V{}__{}` of `{name}` has changed since it was applied to this tenant",
                applied.version(),
                applied.name()
            ))
            .with_hint("a published migration never changes: revert the edit and put the change in a new migration of a new version"),
        ),
        Kind::MissingVersion(m) => WorkError::new(
            format!("migrate V{}__{}", m.version(), m.name()),
            Error::invalid(format!(
                "migration `V{}__{}` was applied to this tenant but `{}` does not have it (or has it out of order)",
                m.version(),
                m.name(),
                module.label()
            ))
            .with_hint("a new version must keep every migration of the old one and add new ones with higher numbers"),
        ),
        Kind::RepeatedVersion(m) => {
            WorkError::new("migrate", Error::invalid(format!("`{}` has two migrations numbered {}", module.label(), m.version())))
        }
        Kind::Connection(_, source) => driver(source.as_ref())
            .unwrap_or_else(|| WorkError::new("migrate", Error::internal(format!("migrations of `{name}`: {source}")))),
        other => WorkError::new("migrate", Error::internal(format!("migrations of `{name}`: {other}"))),
    }
}
