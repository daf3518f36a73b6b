//! Confinement of module SQL on PostgreSQL: each module has a role of its own, without
//! login and without rights, and module SQL runs through that role's runner, a
//! `SECURITY DEFINER` function the role owns (`_modreg.run_…(statements)`), which runs
//! a script's statements one by one. PostgreSQL itself
//! then refuses what SPEC §5.1 forbids:
//!
//! - the role owns what the module creates, so it may alter and drop its own objects and
//!   no other module's;
//! - it has rights on the tenant's schema, and on its dependencies' tables, only inside
//!   the transaction of its work (granted at its start and revoked before its end, so no
//!   other transaction ever sees them): another tenant's schema, the landlord and
//!   modreg's `_modreg_*` tables stay out of reach;
//! - inside a security-definer function no statement may change the role or the session
//!   user (`SET ROLE`, `RESET ROLE`, `SET SESSION AUTHORIZATION`, `set_config('role')`);
//! - the role is no superuser and has no right to create extensions, read server files
//!   or run programs (`COPY … PROGRAM`).
//!
//! What PostgreSQL refuses is put in the words of `domain::ownership`.

use std::time::Duration;

use postgres::error::{DbError, ErrorPosition, SqlState};

use super::{ADMIN, SETUP_LOCK, Shared, digest, ident, literal};
use crate::domain::diagnostic::line_column;
use crate::domain::ownership::{Ownership, Refusal, is_internal};
use crate::domain::statements::statements;
use crate::domain::{Error, Interruption, Result};
use crate::store::WorkError;

/// The role module SQL of `module` runs as (cluster-wide; named by a digest, since role
/// names are at most 63 bytes).
pub(super) fn role(module: &str) -> String {
    format!("_modreg_m_{}", digest(&[module]))
}

/// The runner of `module`'s role, qualified.
pub(super) fn runner(module: &str) -> String {
    format!("{ADMIN}.{}", ident(&format!("run_{}", digest(&[module]))))
}

/// Makes sure the module's role and its runner exist, in a transaction of their own on
/// another connection (under an advisory lock, since hosts may ask at once), so that the
/// work's transaction only uses them.
pub(super) fn ensure_role(shared: &Shared, module: &str) -> Result<()> {
    let role = role(module);
    if shared.roles.lock().unwrap_or_else(|p| p.into_inner()).contains(&role) {
        return Ok(());
    }
    let quoted = ident(&role);
    let runner = runner(module);
    let sql = format!(
        "BEGIN;
         SELECT pg_advisory_xact_lock({SETUP_LOCK});
         DO $role$ BEGIN
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {name}) THEN
                 CREATE ROLE {quoted} NOLOGIN NOINHERIT;
             END IF;
         END $role$;
         COMMENT ON ROLE {quoted} IS {comment};
         GRANT {quoted} TO CURRENT_USER;
         CREATE OR REPLACE FUNCTION {runner}(statements text[]) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
             AS $run$ DECLARE statement text; BEGIN FOREACH statement IN ARRAY statements LOOP EXECUTE statement; END LOOP; END $run$;
         ALTER FUNCTION {runner}(text[]) OWNER TO {quoted};
         REVOKE ALL ON FUNCTION {runner}(text[]) FROM PUBLIC;
         COMMIT;",
        name = literal(&role),
        comment = literal(&format!("modreg: the SQL of module {module} runs as this role")),
    );
    let mut conn = shared.client()?;
    let mut result = conn.client().batch_execute(&sql);
    if result.as_ref().err().and_then(|e| e.code()).is_some_and(|c| *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::DUPLICATE_OBJECT) {
        // Another database of the cluster created the role meanwhile: it is there now.
        let _ = conn.client().batch_execute("ROLLBACK");
        result = conn.client().batch_execute(&sql);
    }
    if let Err(e) = result {
        let _ = conn.client().batch_execute("ROLLBACK");
        return Err(shared.err(e).context(format!("cannot create the role of module `{module}`")).with_hint(
            "modreg's user needs CREATEROLE on the tenants database's server (or to be a superuser) to give each module a role",
        ));
    }
    shared.roles.lock().unwrap_or_else(|p| p.into_inner()).insert(role);
    Ok(())
}

/// The rights `module`'s role gets for its work in `schema`: the schema itself, and the
/// tables and sequences of `writable` (its dependencies); and the statement that takes
/// them back.
pub(super) fn grants(module: &str, schema: &str, tables: &[String], sequences: &[String]) -> (String, String) {
    let role = ident(&role(module));
    let s = ident(schema);
    let list = |names: &[String]| names.iter().map(|n| format!("{s}.{}", ident(n))).collect::<Vec<_>>().join(", ");
    let mut grant = format!("GRANT USAGE, CREATE ON SCHEMA {s} TO {role};");
    let mut revoke = format!("REVOKE ALL ON SCHEMA {s} FROM {role};");
    if !tables.is_empty() {
        let tables = list(tables);
        grant.push_str(&format!("GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON TABLE {tables} TO {role};"));
        revoke.push_str(&format!("REVOKE ALL ON TABLE {tables} FROM {role};"));
    }
    if !sequences.is_empty() {
        let sequences = list(sequences);
        grant.push_str(&format!("GRANT USAGE, SELECT, UPDATE ON SEQUENCE {sequences} TO {role};"));
        revoke.push_str(&format!("REVOKE ALL ON SEQUENCE {sequences} FROM {role};"));
    }
    (grant, revoke)
}

/// Why a script stopped, besides PostgreSQL's own error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stopped {
    /// The process was interrupted and modreg cancelled the statement.
    Interrupted(Interruption),
    /// It ran past `statement_timeout`.
    TimedOut(Duration),
}

/// A failed script (`what`: ``migration `V2__x` of `m` ``, in file `file` with text `sql`)
/// as the job's failure, in the words of `domain::ownership` where PostgreSQL refused what
/// SPEC §5.1 forbids.
pub(super) fn failure(
    step: String,
    what: &str,
    file: &str,
    sql: &str,
    e: &postgres::Error,
    ownership: &Ownership,
    stopped: Option<Stopped>,
) -> WorkError {
    let Some(db) = e.as_db_error() else {
        let error = Error::storage(format!("{what} failed: the connection to the tenants database broke: {e}"))
            .with_hint("check that PostgreSQL runs and accepts connections there, then run the command again")
            .with_storage(crate::domain::StorageState::Unreachable);
        return WorkError::new(step, error);
    };
    let offset = offset(db, sql);
    let line = line_column(sql, offset).0;
    let error = match (db.code(), stopped) {
        (code, Some(Stopped::Interrupted(interruption))) if *code == SqlState::QUERY_CANCELED => {
            Error::interrupted(interruption, format!("{what} was stopped at `{file}` line {line}"))
        }
        (code, _) if *code == SqlState::QUERY_CANCELED => {
            let limit = match stopped {
                Some(Stopped::TimedOut(limit)) => format!(" (`MODREG_SQL_TIMEOUT` is {} s)", limit.as_secs()),
                _ => String::new(),
            };
            Error::failed(format!("{what} was stopped at `{file}` line {line}: it ran out of time{limit}"))
                .with_hint("make the statement cheaper, or raise `MODREG_SQL_TIMEOUT` (seconds) if it needs longer")
        }
        _ => match refusal(db, ownership) {
            Some(refusal) => refusal.error(format!("{what} failed: {}", refusal.message)),
            None => {
                let error = Error::failed(format!("{what} failed at `{file}` line {line}: {}", db.message()));
                match db.hint() {
                    Some(hint) => error.with_hint(hint.to_string()),
                    None if *db.code() == SqlState::INSUFFICIENT_PRIVILEGE => error.with_hint(
                        "module SQL runs as the module's own role, with rights on its tenant's schema and its dependencies' tables alone",
                    ),
                    None => error,
                }
            }
        },
    };
    let mut failure = WorkError::new(step, error);
    failure.offset = Some(offset);
    failure
}

/// Where in `sql` the error points: PostgreSQL's position in the failing statement, or
/// the start of the statement its context names.
fn offset(db: &DbError, sql: &str) -> usize {
    let parts = statements(sql);
    if let Some(ErrorPosition::Internal { position, query }) = db.position()
        && let Some((start, text)) = parts.iter().find(|(_, text)| text == query)
    {
        return start + text.char_indices().nth((*position as usize).saturating_sub(1)).map_or(text.len(), |(i, _)| i);
    }
    let failing = db.where_().and_then(|w| w.lines().find_map(|l| l.strip_prefix("SQL statement \"")?.strip_suffix('"')));
    failing.and_then(|f| parts.iter().find(|(_, text)| *text == f)).map_or(0, |(start, _)| *start)
}

/// The refusal of `domain::ownership` that a PostgreSQL error amounts to, if any.
fn refusal(db: &DbError, ownership: &Ownership) -> Option<Refusal> {
    let message = db.message();
    let code = db.code();
    if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        for kind in ["table", "view", "materialized view", "sequence"] {
            if let Some(name) = message.strip_prefix(&format!("permission denied for {kind} ")) {
                return Some(if is_internal(name) { Ownership::internal(name) } else { ownership.may_write(name, None).err()? });
            }
        }
        if let Some(schema) = message.strip_prefix("permission denied for schema ") {
            return Some(
                format!(
                    "module `{}` may not reach schema `{schema}`: module SQL works in its own tenant's schema alone",
                    ownership.module()
                )
                .into(),
            );
        }
    }
    if let Some(rest) = message.strip_prefix("must be owner of ") {
        let name = rest.split_once(' ').map_or(rest, |(_, name)| name);
        return Some(if is_internal(name) { Ownership::internal(name) } else { ownership.may_drop_or_alter(name).err()? });
    }
    if *code == SqlState::DUPLICATE_TABLE || *code == SqlState::DUPLICATE_OBJECT || *code == SqlState::DUPLICATE_FUNCTION {
        let name = message.split('"').nth(1)?;
        return Some(if is_internal(name) { Ownership::internal(name) } else { ownership.may_create(name).err()? });
    }
    None
}
