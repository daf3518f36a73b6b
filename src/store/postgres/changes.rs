//! Storing a change set on PostgreSQL: each change as `change_sql` writes it for every
//! engine, all in one transaction. A guarded change that touches no row (a job another host ended first, a
//! flag changed meanwhile, a tenant already there) rolls the whole set back. Row locks
//! make concurrent guarded updates wait for each other, so of two hosts completing one
//! job, the second finds it completed. No rule is decided here.
//!
//! Events keep the id of their transaction, by which readers hand them out in commit
//! order; a set with events holds the writers' lock shared (`events`). The tenants a
//! set touched are announced on commit.

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type};

use super::events::{CHANNEL, WRITERS};
use super::pool::Tx;
use super::{Attempt, PostgresLandlord, time};
use crate::domain::Result;
use crate::domain::change::{Change, Commit};
use crate::store::ChangeStore;
use crate::store::change_sql::{self, Arg, Statement};

impl ChangeStore for PostgresLandlord {
    fn commit(&self, changes: &[Change]) -> Result<Commit> {
        // Before anything is written (and the transaction has an id), a set with events
        // takes the writers' lock: see `events`.
        let first = match changes.iter().any(|c| matches!(c, Change::Event(_))) {
            true => format!("SELECT pg_advisory_xact_lock_shared({WRITERS})"),
            false => String::new(),
        };
        // Listeners hear of it when (and only if) it commits.
        let mut announced: Vec<&str> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Event(e) => Some(e.tenant.as_deref().unwrap_or("")),
                _ => None,
            })
            .collect();
        announced.sort_unstable();
        announced.dedup();
        let last =
            announced.iter().map(|tenant| format!("SELECT pg_notify('{CHANNEL}', {})", literal(tenant))).collect::<Vec<_>>().join("; ");
        self.on_connection(|conn| {
            let mut tx = conn.begin(&first)?;
            for (i, change) in changes.iter().enumerate() {
                let rows = store(&mut tx, change)?;
                if change.is_guarded() && rows != 1 {
                    // Dropping the transaction rolls it back.
                    return Ok(Commit::Conflict(i));
                }
            }
            tx.commit(&last).map_err(Attempt::Commit)?;
            Ok(Commit::Done)
        })
    }
}

/// A string as an SQL literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Stores one change as [`change_sql`] writes it; returns the rows it touched.
fn store(tx: &mut Tx<'_>, change: &Change) -> std::result::Result<u64, Attempt> {
    change_sql::write(change).run(|statement| run(tx, statement))
}

fn run(tx: &mut Tx<'_>, statement: &Statement<'_>) -> std::result::Result<u64, Attempt> {
    let values = statement.args.iter().map(Bound::of).collect::<Result<Vec<_>>>()?;
    let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    Ok(tx.execute(&statement.sql, &params)?)
}

/// An argument as PostgreSQL takes it: times as `timestamptz`, integers as wide as
/// their column, JSON as `jsonb`.
#[derive(Debug)]
enum Bound<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
    Bool(bool),
    Time(time::OffsetDateTime),
    Json(Option<&'a serde_json::Value>),
}

impl<'a> Bound<'a> {
    fn of(arg: &Arg<'a>) -> Result<Bound<'a>> {
        Ok(match arg {
            Arg::Text(text) => Bound::Text(*text),
            Arg::Int(n) => Bound::Int(*n),
            Arg::Bool(b) => Bound::Bool(*b),
            Arg::Time(at) => Bound::Time(time(at)?),
            Arg::Json(value) => Bound::Json(*value),
        })
    }
}

impl ToSql for Bound<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Bound::Text(text) => text.to_sql(ty, out),
            Bound::Int(None) => Ok(IsNull::Yes),
            Bound::Int(Some(n)) if *ty == Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
            Bound::Int(Some(n)) if *ty == Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
            Bound::Int(Some(n)) => n.to_sql(ty, out),
            Bound::Bool(b) => b.to_sql(ty, out),
            Bound::Time(at) => at.to_sql(ty, out),
            Bound::Json(value) => value.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Each variant checks its column's type as its own value would.
        true
    }

    postgres::types::to_sql_checked!();
}
