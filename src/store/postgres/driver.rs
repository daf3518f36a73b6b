//! A refinery driver for the landlord's own schema on PostgreSQL, running inside a
//! transaction of modreg's that already holds the migration advisory lock (refinery's
//! own PostgreSQL driver takes no lock, and two hosts migrating a fresh database at
//! once would collide).

use refinery_core::Migration;
use refinery_core::traits::sync::{Migrate, Query, Transaction};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub(super) struct MigrationTx<'t, 'c> {
    tx: &'t mut postgres::Transaction<'c>,
}

impl<'t, 'c> MigrationTx<'t, 'c> {
    pub(super) fn new(tx: &'t mut postgres::Transaction<'c>) -> Self {
        MigrationTx { tx }
    }
}

impl Transaction for MigrationTx<'_, '_> {
    type Error = postgres::Error;

    fn execute<'q, T: Iterator<Item = &'q str>>(&mut self, queries: T) -> Result<usize, Self::Error> {
        let mut count = 0;
        for query in queries {
            self.tx.batch_execute(query)?;
            count += 1;
        }
        Ok(count)
    }
}

impl Query<Vec<Migration>> for MigrationTx<'_, '_> {
    fn query(&mut self, query: &str) -> Result<Vec<Migration>, Self::Error> {
        let rows = self.tx.query(query, &[])?;
        let mut applied = Vec::with_capacity(rows.len());
        for row in rows {
            let version: i32 = row.try_get(0)?;
            let name: String = row.try_get(1)?;
            let applied_on: String = row.try_get(2)?;
            let checksum: String = row.try_get(3)?;
            // refinery wrote these itself; an unreadable one is taken as applied now with
            // checksum 0, which refinery then reports as divergent.
            let applied_on = OffsetDateTime::parse(&applied_on, &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH);
            applied.push(Migration::applied(version, name, applied_on, checksum.parse().unwrap_or(0)));
        }
        Ok(applied)
    }
}

impl Migrate for MigrationTx<'_, '_> {}
