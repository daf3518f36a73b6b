//! A refinery driver for a tenant connection that is already inside modreg's own
//! transaction: it issues no BEGIN or COMMIT, runs every migration body through the
//! sandbox, and times each one. refinery still does what it is for: ordering, the
//! history table, and refusing applied migrations that changed or went missing.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Instant;

use refinery_core::Migration;
use refinery_core::traits::sync::{Migrate, Query, Transaction};
use rusqlite::Connection;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::store::WorkStep;
use crate::store::sqlite::sandbox::Sandbox;
use crate::store::sqlite::script;

/// A failure while applying migrations.
#[derive(Debug)]
pub(crate) struct DriverError {
    /// The migration that failed, when a migration body failed.
    pub migration: Option<String>,
    /// Why the sandbox refused it, when it did.
    pub denial: Option<String>,
    pub source: rusqlite::Error,
    /// Where in the migration's text it failed.
    pub offset: Option<usize>,
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.denial {
            Some(denial) => f.write_str(denial),
            None => write!(f, "{}", self.source),
        }
    }
}

impl std::error::Error for DriverError {}

pub(crate) struct Driver<'a> {
    conn: &'a Connection,
    sandbox: &'a Sandbox,
    /// Migration bodies by content, to the names they run as.
    bodies: HashMap<String, VecDeque<String>>,
    pub steps: Vec<WorkStep>,
}

impl<'a> Driver<'a> {
    pub(crate) fn new(conn: &'a Connection, sandbox: &'a Sandbox, migrations: &[crate::domain::module::Migration]) -> Self {
        let mut bodies: HashMap<String, VecDeque<String>> = HashMap::new();
        for m in migrations {
            bodies.entry(m.sql.clone()).or_default().push_back(m.name.clone());
        }
        Driver { conn, sandbox, bodies, steps: Vec::new() }
    }
}

impl Transaction for Driver<'_> {
    type Error = DriverError;

    fn execute<'q, T: Iterator<Item = &'q str>>(&mut self, queries: T) -> Result<usize, Self::Error> {
        let mut count = 0;
        for query in queries {
            // refinery passes the migration bodies we gave it and statements of its own
            // (the history table); only the former came from module files.
            match self.bodies.get_mut(query).and_then(VecDeque::pop_front) {
                Some(name) => {
                    let started = Instant::now();
                    let result = self.sandbox.run(|| script::run(self.conn, query));
                    result.map_err(|e| DriverError {
                        migration: Some(name.clone()),
                        denial: self.sandbox.take_denial(),
                        source: e.error,
                        offset: Some(e.offset),
                    })?;
                    self.steps.push(WorkStep { name: format!("migrate {name}"), duration: started.elapsed(), detail: None });
                }
                None => {
                    self.conn.execute_batch(query).map_err(|source| DriverError { migration: None, denial: None, source, offset: None })?
                }
            }
            count += 1;
        }
        Ok(count)
    }
}

impl Query<Vec<Migration>> for Driver<'_> {
    fn query(&mut self, query: &str) -> Result<Vec<Migration>, Self::Error> {
        let wrap = |source| DriverError { migration: None, denial: None, source, offset: None };
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
