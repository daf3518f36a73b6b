//! A refinery driver for a tenant connection that is already inside modreg's own
//! transaction: it issues no BEGIN or COMMIT, runs every migration body through the
//! sandbox, and times each one. refinery still does what it is for: ordering, the
//! history table, and refusing applied migrations that changed or went missing.

use std::time::Instant;

use refinery_core::Migration;
use refinery_core::traits::sync::{Migrate, Query, Transaction};
use rusqlite::Connection;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::Error;
use crate::domain::module::ModuleVersion;
use crate::store::migration_error::{self, Bodies};
use crate::store::sqlite::sandbox::{Sandbox, ScriptFailure};
use crate::store::sqlite::script::sqlite_message;
use crate::store::{WorkError, WorkStep};

pub(crate) type DriverError = migration_error::DriverError<ScriptFailure, rusqlite::Error>;

impl std::fmt::Display for ScriptFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason())
    }
}

pub(crate) struct Driver<'a> {
    conn: &'a Connection,
    sandbox: &'a Sandbox,
    bodies: Bodies,
    pub steps: Vec<WorkStep>,
}

impl<'a> Driver<'a> {
    pub(crate) fn new(conn: &'a Connection, sandbox: &'a Sandbox, migrations: &[crate::domain::module::Migration]) -> Self {
        Driver { conn, sandbox, bodies: Bodies::new(migrations), steps: Vec::new() }
    }
}

impl Transaction for Driver<'_> {
    type Error = DriverError;

    fn execute<'q, T: Iterator<Item = &'q str>>(&mut self, queries: T) -> Result<usize, Self::Error> {
        let mut count = 0;
        for query in queries {
            match self.bodies.take(query) {
                Some(name) => {
                    let started = Instant::now();
                    let result = self.sandbox.run_script(self.conn, query);
                    result.map_err(|failure| DriverError::Migration { name: name.clone(), failure })?;
                    self.steps.push(WorkStep { name: format!("migrate {name}"), duration: started.elapsed(), detail: None });
                }
                None => self.conn.execute_batch(query).map_err(DriverError::History)?,
            }
            count += 1;
        }
        Ok(count)
    }
}

impl Query<Vec<Migration>> for Driver<'_> {
    fn query(&mut self, query: &str) -> Result<Vec<Migration>, Self::Error> {
        let wrap = DriverError::History;
        let mut stmt = self.conn.prepare(query).map_err(wrap)?;
        let mut rows = stmt.query([]).map_err(wrap)?;
        let mut applied = Vec::new();
        while let Some(row) = rows.next().map_err(wrap)? {
            let version: i32 = row.get(0).map_err(wrap)?;
            let name: String = row.get(1).map_err(wrap)?;
            let applied_on: String = row.get(2).map_err(wrap)?;
            let checksum: String = row.get(3).map_err(wrap)?;
            let invalid = |what: &str| {
                wrap(rusqlite::Error::FromSqlConversionFailure(
                    2,
                    rusqlite::types::Type::Text,
                    format!("invalid {what} in migration history").into(),
                ))
            };
            let applied_on = OffsetDateTime::parse(&applied_on, &Rfc3339).map_err(|_| invalid("time"))?;
            let checksum = checksum.parse::<u64>().map_err(|_| invalid("checksum"))?;
            applied.push(Migration::applied(version, name, applied_on, checksum));
        }
        Ok(applied)
    }
}

impl Migrate for Driver<'_> {}

/// Turns refinery's error into one that names the migration and says what to do: the
/// wording every engine shares ([`migration_error::refinery_failure`]), and this driver's
/// own failures, which say where in the script SQLite stopped.
pub(crate) fn migration_error(module: &ModuleVersion, e: refinery_core::Error) -> WorkError {
    let name = module.name();
    migration_error::refinery_failure(module, e, |source| match source.downcast_ref::<DriverError>()? {
        migration_error::DriverError::Migration { name: migration, failure } => {
            let sql = module.migrations.iter().find(|m| &m.name == migration).map_or("", |m| m.sql.as_str());
            let what = format!("migration `{migration}` of `{name}`");
            Some(failure.work_error(format!("migrate {migration}"), &what, &format!("migrations/{migration}.sql"), sql))
        }
        migration_error::DriverError::History(e) => {
            Some(WorkError::new("migrate history", Error::failed(format!("migration `history` of `{name}` failed: {}", sqlite_message(e)))))
        }
    })
}
