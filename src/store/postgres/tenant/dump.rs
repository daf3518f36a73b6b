//! A tenant's schema written out by PostgreSQL's own `pg_dump`: for `backup`, as a file,
//! and for a rollback checkpoint, kept in `_modreg.checkpoints` (in the database, so that
//! any host's `recover` can put it back). A checkpoint is needed only where hooks that
//! write the tenant database run between transactions; everything else a job does is one
//! transaction. Putting a checkpoint back renames the schema aside, restores the dump
//! with `pg_restore` in one transaction, then drops what was set aside, so that a killed
//! process leaves either schema whole.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{Shared, digest, ident};
use crate::domain::{Error, Result};
use crate::store::postgres::pool::Connection;
use crate::store::postgres::without_password;
use crate::store::storage::io_error;

/// A PostgreSQL program (`pg_dump`, `pg_restore`): from `MODREG_PG_BIN` when set, else
/// from the `PATH`.
fn program(name: &str) -> Command {
    let path = std::env::var_os("MODREG_PG_BIN").map_or_else(|| name.into(), |dir| Path::new(&dir).join(name));
    Command::new(path)
}

/// Runs a PostgreSQL program with the tenants database's connection, `input` on its
/// standard input; its standard output.
fn run(shared: &Shared, mut command: Command, input: Option<&[u8]>) -> Result<Vec<u8>> {
    // The password goes by `PGPASSWORD`, so that it is not on the program's command line.
    let (url, password) = without_password(&shared.url);
    command.arg(format!("--dbname={url}"));
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let name = command.get_program().to_string_lossy().into_owned();
    command.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| {
        Error::storage(format!("cannot run `{name}`: {e}"))
            .with_hint("install PostgreSQL's client programs (`pg_dump`, `pg_restore`) of the server's version, or set `MODREG_PG_BIN` to their folder")
    })?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(input).map_err(|e| io_error(format!("cannot write to `{name}`"), e))?;
    }
    let output = child.wait_with_output().map_err(|e| io_error(format!("cannot run `{name}`"), e))?;
    if !output.status.success() {
        return Err(Error::storage(format!("`{name}` failed: {}", String::from_utf8_lossy(&output.stderr).trim())));
    }
    Ok(output.stdout)
}

/// `pg_dump` of one schema, in its custom format.
fn dump_schema(shared: &Shared, schema: &str, file: Option<&Path>) -> Result<Vec<u8>> {
    let mut command = program("pg_dump");
    command.args(["--format=custom", "--no-password"]).arg(format!("--schema={}", ident(schema)));
    if let Some(file) = file {
        command.arg(format!("--file={}", file.display()));
    }
    run(shared, command, None)
}

/// Writes the tenant's schema to `dest` (`pg_dump --format=custom --schema`), while other
/// processes keep working on it; returns its size.
pub(super) fn to_file(shared: &Shared, schema: &str, dest: &Path) -> Result<u64> {
    dump_schema(shared, schema, Some(dest))?;
    std::fs::metadata(dest).map(|m| m.len()).map_err(|e| io_error(format!("cannot read `{}`", dest.display()), e))
}

/// Takes the tenant's checkpoint: its schema as it is committed now. Refused, before
/// anything is written, when the schema holds an object that `pg_restore` could not give
/// back to its owner (a role modreg's user is no member of: the application's), since the
/// checkpoint could then not be put back.
pub(super) fn save_checkpoint(shared: &Shared, schema: &str) -> Result<()> {
    let mut conn = shared.client()?;
    let foreign = conn
        .client()
        .query(
            "SELECT kind, name, pg_get_userbyid(owner)::text, current_user::text,
                    CASE WHEN pg_has_role(owner, 'MEMBER') THEN format('GRANT CREATE ON SCHEMA %I TO %I', $2::text, pg_get_userbyid(owner))
                         ELSE format('GRANT %I TO %I', pg_get_userbyid(owner), current_user) END,
                    CASE WHEN pg_has_role(owner, 'MEMBER') THEN 'has no right to create in the schema'
                         ELSE format('which modreg''s user `%s` is no member of', current_user) END
             FROM (
                 SELECT CASE relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                                     WHEN 'i' THEN 'index' WHEN 'I' THEN 'index' ELSE 'table' END AS kind,
                        relname::text AS name, relowner AS owner FROM pg_class WHERE relnamespace = $1::text::regnamespace
                 UNION ALL
                 SELECT 'function', proname::text, proowner FROM pg_proc WHERE pronamespace = $1::text::regnamespace
                 UNION ALL
                 SELECT 'type', typname::text, typowner FROM pg_type WHERE typnamespace = $1::text::regnamespace
             ) AS objects
             WHERE NOT pg_has_role(owner, 'MEMBER')
                -- Giving an object to a role takes its right to create in the schema, unless a superuser does.
                OR NOT (has_schema_privilege(owner, $1::text::regnamespace, 'CREATE')
                        OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) OR starts_with(pg_get_userbyid(owner)::text, '_modreg_'))
             ORDER BY kind, name LIMIT 1",
            &[&ident(schema), &schema],
        )
        .map_err(|e| shared.err(e))?;
    if let Some(row) = foreign.first() {
        let (kind, name, owner, grant, why): (String, String, String, String, String) =
            (row.get(0), row.get(1), row.get(2), row.get(4), row.get(5));
        return Err(Error::failed(format!(
            "cannot keep a checkpoint of tenant `{schema}` for the hooks that write it: {kind} `{name}` belongs to role `{owner}`, \
             {why}, so undoing the hooks could not give it back"
        ))
        .with_hint(format!("grant what it takes (`{grant}`), or run modreg as a superuser")));
    }
    let dump = dump_schema(shared, schema, None)?;
    conn.client()
        .execute(
            "INSERT INTO _modreg.checkpoints (tenant, dump, written_at) VALUES ($1, $2, $3)
             ON CONFLICT (tenant) DO UPDATE SET dump = excluded.dump, written_at = excluded.written_at",
            &[&schema, &dump, &shared.clock.now_text()],
        )
        .map_err(|e| shared.err(e).context(format!("cannot keep the checkpoint of `{schema}`")))?;
    Ok(())
}

fn schema_exists(conn: &mut Connection, schema: &str) -> std::result::Result<bool, postgres::Error> {
    Ok(!conn.client().query("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])?.is_empty())
}

/// Puts the tenant's schema back as its checkpoint has it; false when there is none. A
/// run that a killed process left half done is finished.
///
/// The schema is made first, with its tenant role's right to create in it (which its
/// module roles inherit), and
/// `pg_restore` makes the rest: giving an object to its module's role (`ALTER … OWNER TO`)
/// takes that right unless modreg's user is a superuser, and `pg_restore` grants rights
/// only after every object is made. Until the restore commits, the schema made first has
/// no `_modreg_modules`, so a run killed in between is told apart from a finished one.
pub(super) fn restore_checkpoint(shared: &Shared, conn: &mut Connection, schema: &str) -> Result<bool> {
    let err = |e: postgres::Error| shared.err(e).context(format!("cannot restore the checkpoint of `{schema}`"));
    let rows = conn.client().query("SELECT dump FROM _modreg.checkpoints WHERE tenant = $1", &[&schema]).map_err(err)?;
    let Some(row) = rows.first() else { return Ok(false) };
    let dump: Vec<u8> = row.get(0);
    let aside = format!("_modreg_r_{}", digest(&[schema]));
    let (s, a) = (ident(schema), ident(&aside));
    let (present, set_aside) = (schema_exists(conn, schema).map_err(err)?, schema_exists(conn, &aside).map_err(err)?);
    let restored = present && set_aside && super::catalog::has_relation(conn.client(), schema, "_modreg_modules").map_err(err)?;
    if !restored {
        if present && set_aside {
            // Made first by a run killed before its restore committed.
            conn.client().batch_execute(&format!("DROP SCHEMA {s} CASCADE")).map_err(err)?;
        } else if present {
            conn.client().batch_execute(&format!("ALTER SCHEMA {s} RENAME TO {a}")).map_err(err)?;
        }
        if let Err(e) = restore_dump(shared, conn, schema, &dump) {
            // Nothing of the dump stayed: the schema set aside goes back.
            let _ =
                conn.client().batch_execute(&format!("BEGIN; DROP SCHEMA IF EXISTS {s} CASCADE; ALTER SCHEMA {a} RENAME TO {s}; COMMIT;"));
            return Err(e.context(format!("cannot restore the checkpoint of `{schema}`")));
        }
    }
    conn.client()
        .batch_execute(&format!(
            "BEGIN; DROP SCHEMA IF EXISTS {a} CASCADE; DELETE FROM _modreg.checkpoints WHERE tenant = {t}; COMMIT;",
            t = super::literal(schema)
        ))
        .map_err(err)?;
    Ok(true)
}

/// Makes `schema` with the rights of the roles that own objects of `dump` (modreg's and
/// the application's), then restores the rest of `dump` into it in one transaction.
fn restore_dump(shared: &Shared, conn: &mut Connection, schema: &str, dump: &[u8]) -> Result<()> {
    let mut list = program("pg_restore");
    list.args(["--list", "--no-password"]);
    let list = String::from_utf8_lossy(&run(shared, list, Some(dump))?).into_owned();
    let (list, owners) = without_schema_entry(&list, schema);
    let s = ident(schema);
    let mut make = format!("CREATE SCHEMA {s};");
    // The tenant's role holds the rights its module roles inherit; a module role that
    // inherits nothing (an older modreg's) had them granted.
    let owners: Vec<&str> = owners.iter().map(String::as_str).collect();
    let roles: Vec<String> = conn
        .client()
        .query(
            "SELECT quote_ident(rolname) FROM pg_roles
             WHERE (rolname = ANY ($1) AND starts_with(rolname, '_modreg_m_') AND NOT rolinherit) OR rolname = $2
                -- An application's role had the right (`save_checkpoint` saw to it), which the
                -- dump grants again only once every object is made.
                OR (rolname = ANY ($1) AND NOT starts_with(rolname, '_modreg_') AND rolname <> current_user AND NOT rolsuper
                    AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))",
            &[&owners, &super::confine::tenant_role(schema)],
        )
        .map_err(|e| shared.err(e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !roles.is_empty() {
        make.push_str(&format!("GRANT USAGE, CREATE ON SCHEMA {s} TO {};", roles.join(", ")));
    }
    conn.client().batch_execute(&make).map_err(|e| shared.err(e))?;
    let mut file = tempfile::NamedTempFile::new().map_err(|e| io_error("cannot write the list of what to restore".to_string(), e))?;
    file.write_all(list.as_bytes()).map_err(|e| io_error("cannot write the list of what to restore".to_string(), e))?;
    let mut command = program("pg_restore");
    command.args(["--single-transaction", "--exit-on-error", "--no-password"]).arg(format!("--use-list={}", file.path().display()));
    run(shared, command, Some(dump)).map(drop)
}

/// `pg_restore --list` output without the entry that makes `schema` itself (commented
/// out), and the roles that own what the rest makes: the last word of each entry is its
/// owner.
fn without_schema_entry(list: &str, schema: &str) -> (String, std::collections::BTreeSet<String>) {
    let mut owners = std::collections::BTreeSet::new();
    let mut out = String::with_capacity(list.len() + 2);
    for line in list.lines() {
        let entry = line.split_once(' ').map(|(_, rest)| rest).filter(|_| !line.starts_with(';'));
        let makes_schema = entry.is_some_and(|rest| {
            let words: Vec<&str> = rest.split_whitespace().collect();
            words.len() >= 5 && words[2] == "SCHEMA" && words[3] == "-" && words[4] == schema
        });
        if let Some(owner) = entry.and_then(|rest| rest.split_whitespace().last()) {
            owners.insert(owner.to_string());
        }
        if makes_schema {
            out.push(';');
        }
        out.push_str(line);
        out.push('\n');
    }
    (out, owners)
}
