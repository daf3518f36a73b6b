//! Runs an SQL script statement by statement, so that a failure can be pointed at the
//! statement (and, when SQLite says, the token) where it happened.

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::{Batch, Connection};

/// A script failure and the byte offset in the script it points at.
#[derive(Debug)]
pub(crate) struct ScriptError {
    pub error: rusqlite::Error,
    pub offset: usize,
}

/// Skips whitespace and comments from `at`.
fn skip_trivia(sql: &str, mut at: usize) -> usize {
    let bytes = sql.as_bytes();
    loop {
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        if sql[at..].starts_with("--") {
            at = sql[at..].find('\n').map_or(sql.len(), |i| at + i + 1);
        } else if sql[at..].starts_with("/*") {
            at = sql[at + 2..].find("*/").map_or(sql.len(), |i| at + 2 + i + 2);
        } else {
            return at;
        }
    }
}

/// SQLite's own words for an error, without rusqlite's wrapping.
pub(crate) fn sqlite_message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        rusqlite::Error::SqliteFailure(_, Some(msg)) => msg.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn run(conn: &Connection, sql: &str) -> Result<(), ScriptError> {
    let mut batch = Batch::new(conn, sql);
    // Where the next statement may start: just after the last one that ran.
    let mut cursor = 0;
    loop {
        let next = match batch.next() {
            Ok(next) => next,
            Err(error) => {
                let start = skip_trivia(sql, cursor);
                let offset = match &error {
                    rusqlite::Error::SqlInputError { offset, sql: tail, .. } if *offset >= 0 && sql.ends_with(tail.as_str()) => {
                        sql.len() - tail.len() + *offset as usize
                    }
                    _ => start,
                };
                return Err(ScriptError { error, offset });
            }
        };
        let Some(mut statement) = next else { return Ok(()) };
        let text = statement.expanded_sql().unwrap_or_default();
        // SQLite may give back a rewritten text (an unbound `?` as `NULL`); then the
        // place is not known, and the cursor stays where it was rather than guess.
        let found = sql[cursor..].find(text.as_str()).map(|i| cursor + i);
        let start = found.unwrap_or(cursor);
        let mut rows = statement.raw_query();
        loop {
            match rows.next() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(error) => return Err(ScriptError { error, offset: skip_trivia(sql, start) }),
            }
        }
        if let Some(start) = found {
            cursor = start + text.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_of(sql: &str, offset: usize) -> usize {
        sql[..offset].matches('\n').count() + 1
    }

    #[test]
    fn failures_point_at_their_statement() {
        let conn = Connection::open_in_memory().unwrap();
        let sql =
            "-- setup\nCREATE TABLE t (a);\n/* note */\nINSERT INTO t VALUES (1);\nSELECT * FROM t;\nINSERT INTO t (nope) VALUES (2);\n";
        let e = run(&conn, sql).unwrap_err();
        assert_eq!(line_of(sql, e.offset), 6, "{:?}", e.error);
        let count: i64 = conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(count, 1);
        let sql = "CREATE TABLE u (a);\n\nINSERT INTO u VALUES (1);\nINSERT INTO u VALUES (1, 2);";
        let e = run(&conn, sql).unwrap_err();
        assert_eq!(line_of(sql, e.offset), 4);
        let sql = "CREATE TABLE v (a UNIQUE);\nINSERT INTO v VALUES (1);\nINSERT INTO v VALUES (1);";
        let e = run(&conn, sql).unwrap_err();
        assert_eq!(line_of(sql, e.offset), 3);
        assert!(e.error.to_string().contains("UNIQUE"));
    }

    #[test]
    fn a_statement_whose_text_sqlite_rewrites_does_not_lose_the_place() {
        // An unbound `?` comes back from SQLite as `NULL`: the statement's text is not
        // found in the script, and multi-byte characters follow it.
        for gap in ["", " ", "\n", "\n\n"] {
            let conn = Connection::open_in_memory().unwrap();
            let sql = format!("SELECT ?;{gap}--éééé\nCREATE TABLE t (a UNIQUE);\nINSERT INTO t VALUES ('é'), ('é');");
            let e = run(&conn, &sql).unwrap_err();
            assert!(e.error.to_string().contains("UNIQUE"), "{:?}", e.error);
            assert_eq!(line_of(&sql, e.offset), sql.lines().count());
        }
    }

    #[test]
    fn triggers_and_empty_scripts_run() {
        let conn = Connection::open_in_memory().unwrap();
        run(&conn, "").unwrap();
        run(&conn, "-- nothing\n").unwrap();
        run(
            &conn,
            "CREATE TABLE t (a); CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO t VALUES (NEW.a + 1) ; END; CREATE TABLE s (b)",
        )
        .unwrap();
    }
}
