//! Storing a change set: each change as `change_sql` writes it for every engine, all of
//! them in one transaction. A guarded change that touches no row (a job already ended, a
//! flag changed meanwhile, a tenant already there) rolls the whole set back. No rule is
//! decided here, and no SQL is written here.

use rusqlite::Transaction;
use rusqlite::types::{ToSql, ToSqlOutput, Value, ValueRef};

use super::SqliteLandlord;
use crate::domain::Result;
use crate::domain::change::{Change, Commit};
use crate::store::ChangeStore;
use crate::store::change_sql::{self, Arg, Statement};

impl ChangeStore for SqliteLandlord {
    fn commit(&self, changes: &[Change]) -> Result<Commit> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(|e| self.err(e))?;
        for (i, change) in changes.iter().enumerate() {
            let rows = store(&tx, change).map_err(|e| self.err(e))?;
            if change.is_guarded() && rows != 1 {
                // Dropping the transaction rolls it back.
                return Ok(Commit::Conflict(i));
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Commit::Done)
    }
}

/// Stores one change as [`change_sql`] writes it; returns the rows it touched.
fn store(tx: &Transaction<'_>, change: &Change) -> rusqlite::Result<usize> {
    change_sql::write(change).run(|statement| run(tx, statement).map(|rows| rows as u64)).map(|rows| rows as usize)
}

fn run(tx: &Transaction<'_>, statement: &Statement<'_>) -> rusqlite::Result<usize> {
    tx.prepare_cached(&numbered(&statement.sql))?.execute(rusqlite::params_from_iter(statement.args.iter().map(Bound)))
}

/// `sql` with its `$N` placeholders as SQLite numbers them, `?N`: SQLite takes `$1`
/// for a name, numbered by where it first appears.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// An argument as SQLite stores it: times and JSON as text, booleans as 0 and 1.
struct Bound<'a>(&'a Arg<'a>);

impl ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Arg::Text(Some(text)) | Arg::Time(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Arg::Text(None) | Arg::Int(None) | Arg::Json(None) => ToSqlOutput::Owned(Value::Null),
            Arg::Int(Some(n)) => ToSqlOutput::Owned(Value::Integer(*n)),
            Arg::Bool(b) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
            Arg::Json(Some(value)) => ToSqlOutput::Owned(Value::Text(value.to_string())),
        })
    }
}
