//! Confinement of module SQL on PostgreSQL: each module has a role of its own, without
//! login and without rights, and module SQL runs through that role's runner, a
//! `SECURITY DEFINER` function the role owns (`_modreg.run3_…(statements)`). The runner
//! is one line of SQL that calls the executor every role shares ([`EXECUTOR`]), which
//! runs a script's statements one by one, as its caller, and says when it started and
//! ended. PostgreSQL itself then refuses what SPEC §5.1 forbids:
//!
//! - a role is the module's in one tenant: it owns what the module created there, so it
//!   may alter and drop its own objects and no other module's, and it has rights on that
//!   tenant's schema alone: another tenant's schema, the landlord and modreg's own
//!   `_modreg_*` tables stay out of reach;
//! - it may read its dependencies' tables, and write them only inside the transaction of
//!   its work (granted at its start and revoked before its end, so that no other
//!   transaction ever sees the right);
//! - inside a security-definer function no statement may change the role or the session
//!   user (`SET ROLE`, `RESET ROLE`, `SET SESSION AUTHORIZATION`, `set_config('role')`);
//! - the role is no superuser and has no right to create extensions, read server files
//!   or run programs (`COPY … PROGRAM`).
//!
//! What PostgreSQL refuses is put in the words of `domain::ownership`.

use std::time::Duration;

use postgres::error::{DbError, ErrorPosition, SqlState};

use super::{ADMIN, digest, ident, literal};
use crate::domain::diagnostic::line_column;
use crate::domain::ownership::{Ownership, Refusal, is_internal};
use crate::domain::statements::{code_start, statements};
use crate::domain::{Error, Interruption};
use crate::store::WorkError;

/// The name module SQL of `module` in tenant schema `schema` of database `database` runs
/// as, for its role (a role is the cluster's, so the database is part of it) and runner:
/// a digest, since role names are at most 63 bytes.
fn digest_of(database: &str, schema: &str, module: &str) -> String {
    digest(&[database, schema, module])
}

/// The role that holds the rights on tenant schema `schema` that its module roles
/// share, by membership: using the schema and creating in it. Granted to the tenant's
/// roles, not to each module's, since a grant on a schema rewrites its row of
/// `pg_namespace`, which makes every session of the cluster's database plan all its
/// queries again; a role's membership is another catalog's. Unlike a module's role it
/// is named for the schema alone, so that a copy of the database (`CREATE DATABASE …
/// TEMPLATE`) keeps its tenants' rights: a role is the cluster's, but its rights in one
/// database are nothing to a session of another, and module roles work in their own.
pub(super) fn tenant_role(schema: &str) -> String {
    format!("_modreg_t_{}", digest(&[schema]))
}

/// The statement that gives tenant schema `schema` its [`tenant_role`], with its rights,
/// if it has none yet ([`module_role_function`]).
pub(super) fn tenant_role_call(schema: &str) -> String {
    format!("SELECT {ADMIN}.tenant_role_v1({}, {});", literal(&tenant_role(schema)), literal(schema))
}

/// The role module SQL of `module` runs as in tenant schema `schema`.
pub(super) fn role(database: &str, schema: &str, module: &str) -> String {
    format!("_modreg_m_{}", digest_of(database, schema, module))
}

/// The name of that role's runner in `_modreg`. Older modregs' runners were PL/pgSQL
/// functions of their own: `run2_…` returned the clock as this one does, `run_…` nothing.
pub(super) fn runner_name(database: &str, schema: &str, module: &str) -> String {
    format!("run3_{}", digest_of(database, schema, module))
}

/// The runner of that role, qualified.
pub(super) fn runner(database: &str, schema: &str, module: &str) -> String {
    format!("{ADMIN}.{}", ident(&runner_name(database, schema, module)))
}

/// The executor, `_modreg_run.run_v1(statements)`: it runs the statements one by one and
/// returns the clock (epoch seconds) as it started and as it ended, for the time of the
/// script. Not a security definer: it runs them as whoever calls it, which is a module
/// role through its runner, and inside that runner no statement may change the role.
/// One function for all, in a schema of its own that every role may use (`_modreg` stays
/// out of module SQL's reach), since a PL/pgSQL function keeps the plans of its
/// expressions for the rest of the session, and every one of them is looked at again for
/// each invalidation the next tenants' DDL sends: a runner of this body for each tenant's
/// role made a tenant's work slower the more tenants its connection had done. Everything
/// it calls is qualified, and it uses no operator: module SQL may have put its own schema
/// first. Made with the tenants' setup; a release that changes it gives it a new name.
pub(super) const EXECUTOR: &str = "
DO $create$ BEGIN IF to_regnamespace('_modreg_run') IS NULL THEN
    CREATE SCHEMA _modreg_run;
    GRANT USAGE ON SCHEMA _modreg_run TO PUBLIC;
END IF; END $create$;
DO $create$ BEGIN IF to_regprocedure('_modreg_run.run_v1(text[])') IS NULL THEN EXECUTE $definition$
CREATE FUNCTION _modreg_run.run_v1(statements text[]) RETURNS float8[] LANGUAGE plpgsql AS $run$
DECLARE statement text; started float8 := pg_catalog.date_part('epoch', pg_catalog.clock_timestamp());
BEGIN FOREACH statement IN ARRAY statements LOOP EXECUTE statement; END LOOP;
RETURN ARRAY[started, pg_catalog.date_part('epoch', pg_catalog.clock_timestamp())]; END $run$
$definition$; END IF; END $create$;
";

/// A runner's body: a call of the [`EXECUTOR`] as the role that owns the runner. An SQL
/// function keeps no plans past the statement that called it.
const RUNNER_BODY: &str = "$run$ SELECT _modreg_run.run_v1(statements) $run$";

/// The functions that give a tenant its [`tenant_role`] (`tenant_role_v1`), and a
/// module of a tenant its role, a member of the tenant's, and runner if it has none yet
/// (`module_role_v2`, [`role_call`]): functions, so that their plans are made once a
/// session and not for each tenant, with their own `search_path`, for the same reason (a
/// query is planned again under another path). A module role inherits the tenant role's
/// rights; one an older modreg made (`NOINHERIT`, before tenant roles) has them granted
/// itself. Made with the tenants' setup, as `catalog::OBJECTS_IN` is; a release that
/// changes one, or the runner's body, gives it a new name (`_v2`: runners became SQL).
pub(super) fn module_role_function() -> String {
    format!(
        r#"
DO $create$ BEGIN IF to_regprocedure('{ADMIN}.tenant_role_v1(text,text)') IS NULL THEN EXECUTE $definition$
CREATE FUNCTION {ADMIN}.tenant_role_v1(tenant_role text, tenant text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $role$
BEGIN
    IF to_regrole(quote_ident(tenant_role)) IS NULL THEN
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', tenant_role);
        -- Made at the same moment for the same schema in another database.
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
        INSERT INTO {ADMIN}.roles (role, tenant, module) VALUES (tenant_role, tenant, '') ON CONFLICT (role) DO NOTHING;
    END IF;
    IF NOT (has_schema_privilege(tenant_role, quote_ident(tenant), 'USAGE') AND has_schema_privilege(tenant_role, quote_ident(tenant), 'CREATE')) THEN
        EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO %I', tenant, tenant_role);
    END IF;
END $role$
$definition$; END IF; END $create$;
DO $create$ BEGIN IF to_regprocedure('{ADMIN}.module_role_v2(text,text,text,text,text)') IS NULL THEN EXECUTE $definition$
CREATE FUNCTION {ADMIN}.module_role_v2(role_name text, runner_name text, tenant_role text, tenant text, module text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $role$
DECLARE
    superuser boolean := (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
    making text := '_modreg_o_' || substr(role_name, 11);
BEGIN
    PERFORM {ADMIN}.tenant_role_v1(tenant_role, tenant);
    IF to_regrole(quote_ident(role_name)) IS NULL THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN INHERIT IN ROLE %I', role_name, tenant_role);
        -- Making the role own the runner takes being a member of it, unless a superuser.
        IF NOT superuser THEN
            EXECUTE format('GRANT %I TO %I', role_name, current_user);
        END IF;
    END IF;
    -- A role is the cluster's: one of a database dropped since has no runner here.
    IF to_regprocedure(format('{ADMIN}.%I(text[])', runner_name)) IS NULL THEN
        IF superuser THEN
            EXECUTE format($f$CREATE FUNCTION {ADMIN}.%I(statements text[]) RETURNS float8[] LANGUAGE sql SECURITY DEFINER AS {RUNNER_BODY}$f$, runner_name);
            EXECUTE format('ALTER FUNCTION {ADMIN}.%I(text[]) OWNER TO %I', runner_name, role_name);
        ELSE
            -- A new owner needs CREATE on the function's schema, which no module role
            -- may have on `_modreg` (and granting it would update that schema for every
            -- tenant at once): the runner is made in a schema of the role's own, given
            -- to it there, and moved, which takes CREATE of modreg's user alone.
            EXECUTE format('CREATE SCHEMA %I AUTHORIZATION %I', making, role_name);
            EXECUTE format($f$CREATE FUNCTION %I.%I(statements text[]) RETURNS float8[] LANGUAGE sql SECURITY DEFINER AS {RUNNER_BODY}$f$, making, runner_name);
            EXECUTE format('ALTER FUNCTION %I.%I(text[]) OWNER TO %I', making, runner_name, role_name);
            EXECUTE format('ALTER FUNCTION %I.%I(text[]) SET SCHEMA {ADMIN}', making, runner_name);
            EXECUTE format('DROP SCHEMA %I', making);
        END IF;
        EXECUTE format('REVOKE ALL ON FUNCTION {ADMIN}.%I(text[]) FROM PUBLIC', runner_name);
        INSERT INTO {ADMIN}.roles (role, tenant, module) VALUES (role_name, tenant, module) ON CONFLICT (role) DO NOTHING;
    END IF;
    -- Only a role made before tenant roles lacks them: a grant on a schema rewrites its
    -- row of pg_namespace, even when nothing changes.
    IF NOT (has_schema_privilege(role_name, quote_ident(tenant), 'USAGE') AND has_schema_privilege(role_name, quote_ident(tenant), 'CREATE')) THEN
        EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO %I', tenant, role_name);
    END IF;
END $role$
$definition$; END IF; END $create$;
"#
    )
}

/// The statement, run in the work's transaction, that gives `module` of tenant schema
/// `schema` its role and runner if it has none yet ([`module_role_function`]; under the
/// tenant's lock, so that no other process creates them at once; rolled back with the
/// work), and the role its rights on the schema (kept: the module's own foreign keys
/// and views run as its role).
pub(super) fn role_call(database: &str, schema: &str, module: &str) -> String {
    format!(
        "SELECT {ADMIN}.module_role_v2({}, {}, {}, {}, {});",
        literal(&role(database, schema, module)),
        literal(&runner_name(database, schema, module)),
        literal(&tenant_role(schema)),
        literal(schema),
        literal(module)
    )
}

/// The statements, run in the work's transaction after [`role_call`], that give the
/// module's role the rights its work needs on its dependencies: reading their `tables`
/// (kept: reading is any module's right) and, for this work alone, writing them and
/// their `sequences`. The second string takes the writing back, before the work commits.
pub(super) fn rights(database: &str, schema: &str, module: &str, tables: &[String], sequences: &[String]) -> (String, String) {
    let quoted = ident(&role(database, schema, module));
    let mut grant = String::new();
    let mut revoke = String::new();
    let s = ident(schema);
    let list = |names: &[String]| names.iter().map(|n| format!("{s}.{}", ident(n))).collect::<Vec<_>>().join(", ");
    if !tables.is_empty() {
        let tables = list(tables);
        grant.push_str(&format!(
            "GRANT SELECT, REFERENCES ON TABLE {tables} TO {quoted}; GRANT INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER ON TABLE {tables} TO {quoted};"
        ));
        revoke.push_str(&format!("REVOKE INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER ON TABLE {tables} FROM {quoted};"));
    }
    if !sequences.is_empty() {
        let sequences = list(sequences);
        grant.push_str(&format!("GRANT USAGE, SELECT, UPDATE ON SEQUENCE {sequences} TO {quoted};"));
        revoke.push_str(&format!("REVOKE USAGE, UPDATE ON SEQUENCE {sequences} FROM {quoted};"));
    }
    (grant, revoke)
}

/// Drops the module roles (and runners, older modregs' `run2_…` and `run_…` too) of tenant schemas
/// that are gone, unless something kept aside still belongs to them (a removed tenant's
/// schema, an archive). A tenant's role ([`tenant_role`]) is only forgotten, not
/// dropped: a schema of the same name in another database of the cluster may be using
/// it, or about to, and it holds nothing once the schema is gone.
pub(super) const DROP_UNUSED_ROLES: &str = "DO $drop$ DECLARE r record; BEGIN
    DELETE FROM _modreg.roles WHERE module = '' AND NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = tenant);
    FOR r IN SELECT role FROM _modreg.roles WHERE NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = tenant) LOOP
        BEGIN
            EXECUTE format('DROP FUNCTION IF EXISTS _modreg.%I(text[])', 'run3_' || substr(r.role, 11));
            EXECUTE format('DROP FUNCTION IF EXISTS _modreg.%I(text[])', 'run2_' || substr(r.role, 11));
            EXECUTE format('DROP FUNCTION IF EXISTS _modreg.%I(text[])', 'run_' || substr(r.role, 11));
            EXECUTE format('DROP ROLE IF EXISTS %I', r.role);
            DELETE FROM _modreg.roles WHERE role = r.role;
        EXCEPTION WHEN dependent_objects_still_exist THEN NULL;
        END;
    END LOOP;
END $drop$;";

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
            let reason = match stopped {
                Some(Stopped::TimedOut(limit)) => format!("it ran past the {} s limit (`MODREG_SQL_TIMEOUT`)", limit.as_secs_f64()),
                _ => "it ran out of time".to_string(),
            };
            Error::failed(format!("{what} was stopped at `{file}` line {line}: {reason}"))
                .with_hint("make the statement cheaper, or raise `MODREG_SQL_TIMEOUT` (seconds) if it needs longer")
        }
        _ => match refusal(db, ownership) {
            Some(refusal) => refusal.error(format!("{what} failed: {}", refusal.message)),
            None => {
                let error = Error::failed(format!("{what} failed at `{file}` line {line}: {}", db.message()));
                match db.hint() {
                    Some(hint) => error.with_hint(hint.to_string()),
                    None if transaction_command(db, &statements(sql)).is_some() => error.with_hint(
                        "a tenant's work is one transaction of modreg's: module SQL may not commit, roll back or set savepoints; remove the statement",
                    ),
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

/// Which of `scripts`, run in one round trip by calls of the runner named
/// `runner_name`, the statement that failed with `db` is of: the first with a statement
/// the error points into or its context quotes (an error in a trigger's function quotes
/// the statement that fired it too), or with the transaction command it refused; the
/// first script when none says. `None` when the error did not come from inside the
/// runner (modreg's own statements around it).
pub(super) fn failing_script(db: &DbError, runner_name: &str, scripts: &[&str]) -> Option<usize> {
    let context = db.where_().unwrap_or_default();
    if scripts.is_empty() || !context.contains(runner_name) {
        return None;
    }
    let internal = match db.position() {
        Some(ErrorPosition::Internal { query, .. }) => Some(query.as_str()),
        _ => None,
    };
    let names = |text: &str| internal == Some(text) || context.contains(&format!("SQL statement \"{text}\""));
    let parts: Vec<Vec<(usize, &str)>> = scripts.iter().map(|sql| statements(sql)).collect();
    let named = parts.iter().position(|p| p.iter().any(|(_, text)| names(text)));
    Some(named.or_else(|| parts.iter().position(|p| transaction_command(db, p).is_some())).unwrap_or(0))
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
    let quoted = quoted_statement(db)
        .and_then(|rest| parts.iter().find(|(_, text)| rest.strip_prefix(*text).is_some_and(|after| after.starts_with('"'))));
    quoted.or_else(|| transaction_command(db, &parts)).map_or(0, |(start, text)| start + code_start(text))
}

/// The transaction command (COMMIT, SAVEPOINT…) among `parts` that the runner refused
/// with `db`, if that is the error: no context quotes it, and the script's first one is
/// where it stopped.
fn transaction_command<'a>(db: &DbError, parts: &'a [(usize, &'a str)]) -> Option<&'a (usize, &'a str)> {
    if ![SqlState::INVALID_TRANSACTION_TERMINATION, SqlState::FEATURE_NOT_SUPPORTED].contains(db.code()) {
        return None;
    }
    let verbs = ["commit", "rollback", "savepoint", "release", "begin", "start", "end", "abort"];
    parts.iter().find(|(_, text)| words_of(text).next().is_some_and(|w| verbs.contains(&w.as_str())))
}

/// The refusal of `domain::ownership` that a PostgreSQL error amounts to, if any.
fn refusal(db: &DbError, ownership: &Ownership) -> Option<Refusal> {
    let message = db.message();
    let code = db.code();
    if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        for kind in ["table", "view", "materialized view", "sequence"] {
            if let Some(name) = message.strip_prefix(&format!("permission denied for {kind} ")) {
                if is_internal(name) {
                    return Some(Ownership::internal(name));
                }
                return match use_of(failing_statement(db), name) {
                    Use::Read if kind != "sequence" => ownership.may_read(name),
                    Use::Hang(what, object) => ownership.may_hang_on(what, &object, name),
                    _ => ownership.may_write(name, None),
                }
                .err();
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
        if is_internal(name) {
            return Some(Ownership::internal(name));
        }
        return match use_of(failing_statement(db), name) {
            Use::Hang(what, object) => ownership.may_hang_on(what, &object, name),
            _ => ownership.may_drop_or_alter(name),
        }
        .err();
    }
    if *code == SqlState::DUPLICATE_TABLE || *code == SqlState::DUPLICATE_OBJECT || *code == SqlState::DUPLICATE_FUNCTION {
        let name = message.split('"').nth(1)?;
        return Some(if is_internal(name) { Ownership::internal(name) } else { ownership.may_create(name).err()? });
    }
    None
}

/// The innermost statement a PostgreSQL error's context quotes (a trigger function's,
/// when a trigger fired), or the statement it points into; empty when it names none.
fn failing_statement(db: &DbError) -> &str {
    if let Some(statement) = quoted_statement(db) {
        return statement;
    }
    match db.position() {
        Some(ErrorPosition::Internal { query, .. }) => query,
        _ => "",
    }
}

/// Where the statement an error's context quotes begins: quoted whole, across as many
/// lines as it has, and followed by the closing quote and the rest of the context.
fn quoted_statement(db: &DbError) -> Option<&str> {
    db.where_().and_then(|w| w.split_once("SQL statement \"")).map(|(_, rest)| rest)
}

/// What a statement refused a right on a table did with it.
#[derive(Debug, PartialEq, Eq)]
enum Use {
    /// It read the table: a query, a table or view made from one, or a write to
    /// another table that reads it.
    Read,
    /// It hung a trigger or an index (kind, name) on the table.
    Hang(&'static str, String),
    /// It wrote the table, or did something else that takes a right on it.
    Write,
}

/// The words of `statement` (its text from the start), lowercase and unqualified.
fn words_of(statement: &str) -> impl Iterator<Item = String> + '_ {
    statement[code_start(statement)..]
        .split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ',' | ';'))
        .filter(|w| !w.is_empty())
        .map(|w| w.rsplit('.').next().unwrap_or(w).trim_matches('"').to_ascii_lowercase())
}

/// The table a DML statement whose verb is `words[at]` writes: the first name after its
/// leading keywords; `None` for another word.
fn written_at(words: &[String], at: usize) -> Option<&str> {
    let skip: &[&str] = match words[at].as_str() {
        "insert" | "merge" => &["into", "only"],
        "delete" => &["from", "only"],
        "update" => &["only"],
        _ => return None,
    };
    Some(words[at + 1..].iter().find(|w| !skip.contains(&w.as_str())).map_or("", String::as_str))
}

/// What `statement` (its text from the start; the rest may follow) did with `table`.
fn use_of(statement: &str, table: &str) -> Use {
    let words: Vec<String> = words_of(statement).take(12).collect();
    let word = |i: usize| words.get(i).map_or("", String::as_str);
    let writes = |at: usize| if written_at(&words, at).is_some_and(|t| t.eq_ignore_ascii_case(table)) { Use::Write } else { Use::Read };
    match word(0) {
        "select" | "values" | "table" => Use::Read,
        "insert" | "merge" | "delete" | "update" => writes(0),
        // Common table expressions: a write only where one of its statements, or the main
        // one, writes the table.
        "with" => {
            let words: Vec<String> = words_of(statement).collect();
            let wrote = (0..words.len()).any(|at| written_at(&words, at).is_some_and(|t| t.eq_ignore_ascii_case(table)));
            if wrote { Use::Write } else { Use::Read }
        }
        "create" => match words.iter().position(|w| w == "trigger" || w == "index") {
            Some(at) if words[..at].iter().all(|w| matches!(w.as_str(), "create" | "or" | "replace" | "constraint" | "unique")) => {
                let kind = if words[at] == "trigger" { "trigger" } else { "index" };
                let name = words[at + 1..].iter().find(|w| !matches!(w.as_str(), "concurrently" | "if" | "not" | "exists"));
                Use::Hang(kind, name.cloned().unwrap_or_default())
            }
            _ if words.iter().any(|w| w == "as") => Use::Read,
            _ => Use::Write,
        },
        _ => Use::Write,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_statement_read_wrote_or_hung_a_trigger_on_the_table() {
        assert_eq!(use_of("SELECT * FROM owned", "owned"), Use::Read);
        assert_eq!(use_of("-- copy\nCREATE TABLE mine AS SELECT * FROM owned", "owned"), Use::Read);
        assert_eq!(use_of("INSERT INTO mine SELECT v FROM owned", "owned"), Use::Read);
        assert_eq!(use_of("UPDATE mine SET v = (SELECT max(v) FROM owned)", "owned"), Use::Read);
        assert_eq!(use_of("INSERT INTO acme.\"Owned\"(id) VALUES (1)", "Owned"), Use::Write);
        assert_eq!(use_of("DELETE FROM ONLY owned", "owned"), Use::Write);
        assert_eq!(use_of("WITH recent AS (SELECT * FROM owned) SELECT count(*) FROM recent", "owned"), Use::Read);
        assert_eq!(use_of("WITH recent AS (SELECT * FROM owned) INSERT INTO mine SELECT * FROM recent", "owned"), Use::Read);
        assert_eq!(use_of("WITH gone AS (DELETE FROM owned RETURNING id) SELECT count(*) FROM gone", "owned"), Use::Write);
        assert_eq!(use_of("WITH v AS (SELECT 1 AS id) UPDATE acme.owned SET id = 2", "owned"), Use::Write);
        assert_eq!(use_of("UPDATE owned SET v = 'x' WHERE id = 1", "owned"), Use::Write);
        assert_eq!(use_of("TRUNCATE owned", "owned"), Use::Write);
        assert_eq!(
            use_of("CREATE TRIGGER spy AFTER INSERT ON owned FOR EACH ROW EXECUTE FUNCTION spy()", "owned"),
            Use::Hang("trigger", "spy".into())
        );
        assert_eq!(use_of("CREATE UNIQUE INDEX IF NOT EXISTS by_v ON owned (v)", "owned"), Use::Hang("index", "by_v".into()));
        assert_eq!(use_of("", "owned"), Use::Write);
    }
}
