//! What a tenant's schema holds, read from PostgreSQL's catalogs, and who owns it, from
//! `_modreg_objects`: shared by the tenant database, the archives and the checks.

use postgres::GenericClient;

use super::{ident, literal};

/// modreg's own tables in every tenant's schema, as in a SQLite tenant file: its modules,
/// the objects each owns (by name and kind: a trigger and its function often share a
/// name), the jobs whose work committed, when the tenant was added, and
/// each module's enabled state and flags. Owned by modreg's user; no module role has any
/// right on them.
pub(super) fn internal_schema(schema: &str) -> String {
    let s = ident(schema);
    format!(
        "CREATE TABLE IF NOT EXISTS {s}._modreg_modules (
             module text PRIMARY KEY, version text NOT NULL, checksum text NOT NULL,
             installed_at text NOT NULL, updated_at text NOT NULL);
         CREATE TABLE IF NOT EXISTS {s}._modreg_objects (
             name text NOT NULL, module text NOT NULL, type text NOT NULL, tbl_name text NOT NULL, PRIMARY KEY (name, type));
         CREATE TABLE IF NOT EXISTS {s}._modreg_jobs (job_id bigint PRIMARY KEY, batch text NOT NULL, at text NOT NULL);
         CREATE TABLE IF NOT EXISTS {s}._modreg_tenant (key text PRIMARY KEY, value text NOT NULL);
         CREATE TABLE IF NOT EXISTS {s}._modreg_enabled (module text PRIMARY KEY, enabled boolean NOT NULL, updated_at text NOT NULL);
         CREATE TABLE IF NOT EXISTS {s}._modreg_flags (
             module text NOT NULL, flag text NOT NULL, value boolean NOT NULL, updated_at text NOT NULL,
             PRIMARY KEY (module, flag));"
    )
}

/// The name of a module's refinery history table.
pub(super) fn history_table(module: &str) -> String {
    format!("_modreg_history_{module}")
}

/// An object of a schema: a relation (`table`, `index`, `view`, `sequence`), a
/// `function`, a `trigger` or a `type`, with the table it belongs to (itself for most),
/// its owner, and the text that names other objects (a view's query, a function's body).
#[derive(Debug, Clone)]
pub(super) struct Object {
    pub name: String,
    pub kind: String,
    pub tbl_name: String,
    pub owner: String,
    pub body: Option<String>,
}

/// Every object of `schema`, oldest first. The index of a primary key, unique or
/// exclusion constraint is part of its table, as SQLite's autoindexes are: it is not
/// listed.
pub(super) fn list(client: &mut impl GenericClient, schema: &str) -> Result<Vec<Object>, postgres::Error> {
    let rows = client.query(
        "SELECT name, kind, tbl_name, owner, body FROM (
             SELECT c.oid, c.relname::text AS name,
                    CASE WHEN c.relkind IN ('r', 'p', 'f') THEN 'table' WHEN c.relkind IN ('i', 'I') THEN 'index'
                         WHEN c.relkind IN ('v', 'm') THEN 'view' ELSE 'sequence' END AS kind,
                    COALESCE(t.relname, c.relname)::text AS tbl_name, pg_get_userbyid(c.relowner)::text AS owner,
                    CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END AS body
             FROM pg_class c
             LEFT JOIN pg_index x ON x.indexrelid = c.oid
             LEFT JOIN pg_class t ON t.oid = x.indrelid
             WHERE c.relnamespace = $1::text::regnamespace AND c.relkind IN ('r', 'p', 'f', 'i', 'I', 'v', 'm', 'S')
               AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid AND k.contype IN ('p', 'u', 'x'))
             UNION ALL
             SELECT p.oid, p.proname::text, 'function', p.proname::text, pg_get_userbyid(p.proowner)::text, p.prosrc
             FROM pg_proc p WHERE p.pronamespace = $1::text::regnamespace
             UNION ALL
             SELECT g.oid, g.tgname::text, 'trigger', c.relname::text, pg_get_userbyid(c.relowner)::text, NULL
             FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
             WHERE c.relnamespace = $1::text::regnamespace AND NOT g.tgisinternal
             UNION ALL
             SELECT t.oid, t.typname::text, 'type', t.typname::text, pg_get_userbyid(t.typowner)::text, NULL
             FROM pg_type t
             WHERE t.typnamespace = $1::text::regnamespace
               AND (t.typtype IN ('e', 'd', 'r')
                    OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class k WHERE k.oid = t.typrelid AND k.relkind = 'c')))
         ) objects ORDER BY oid",
        &[&ident(schema)],
    )?;
    Ok(rows.iter().map(|r| Object { name: r.get(0), kind: r.get(1), tbl_name: r.get(2), owner: r.get(3), body: r.get(4) }).collect())
}

/// The objects `_modreg_objects` of `schema` says a module owns: name, kind and table.
pub(super) fn owned(client: &mut impl GenericClient, schema: &str, module: &str) -> Result<Vec<(String, String, String)>, postgres::Error> {
    let sql = format!("SELECT name, type, tbl_name FROM {}._modreg_objects WHERE module = $1 ORDER BY name", ident(schema));
    Ok(client.query(&sql, &[&module])?.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
}

/// Every object's owning module, by name.
pub(super) fn owners(client: &mut impl GenericClient, schema: &str) -> Result<Vec<(String, String)>, postgres::Error> {
    let sql = format!("SELECT name, module FROM {}._modreg_objects", ident(schema));
    Ok(client.query(&sql, &[])?.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Whether `schema` holds a relation named `name`.
pub(super) fn has_relation(client: &mut impl GenericClient, schema: &str, name: &str) -> Result<bool, postgres::Error> {
    let row = client.query_one(
        "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = $1::text::regnamespace AND relname = $2)",
        &[&ident(schema), &name],
    )?;
    Ok(row.get(0))
}

/// The statement that drops one object of a module, if it is still there.
pub(super) fn drop_statement(schema: &str, name: &str, kind: &str, table: &str) -> String {
    let (s, n) = (ident(schema), ident(name));
    match kind {
        "trigger" => format!("DROP TRIGGER IF EXISTS {n} ON {s}.{}", ident(table)),
        "view" => format!(
            "DO $drop$ BEGIN IF EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = {ns}::regnamespace AND relname = {nl} AND relkind = 'm')
             THEN DROP MATERIALIZED VIEW {s}.{n}; ELSE DROP VIEW IF EXISTS {s}.{n}; END IF; END $drop$",
            ns = literal(&s),
            nl = literal(name)
        ),
        "index" => format!("DROP INDEX IF EXISTS {s}.{n}"),
        "table" => format!("DROP TABLE IF EXISTS {s}.{n}"),
        "sequence" => format!("DROP SEQUENCE IF EXISTS {s}.{n}"),
        "function" => format!(
            "DO $drop$ DECLARE f regprocedure; BEGIN
             FOR f IN SELECT oid::regprocedure FROM pg_proc WHERE pronamespace = {ns}::regnamespace AND proname = {nl} LOOP
             EXECUTE 'DROP ROUTINE ' || f; END LOOP; END $drop$",
            ns = literal(&s),
            nl = literal(name)
        ),
        "type" => format!("DROP TYPE IF EXISTS {s}.{n}"),
        _ => String::new(),
    }
}

/// What other modules have that hangs on `module`'s relations in `schema` and would go
/// with them, or stop them going: their foreign keys to its tables, their views on them
/// (and views on those), and their triggers on its tables. Each as the statements that
/// drop it now and make it again once the module's relations are back (a revert puts
/// the pre-upgrade copy in their place), with names fully qualified.
#[derive(Debug, Default)]
pub(super) struct Dependents {
    pub drop: Vec<String>,
    pub recreate: Vec<String>,
    /// Their names, which stay recorded as their modules'.
    pub names: Vec<String>,
}

pub(super) fn dependents(client: &mut impl GenericClient, schema: &str, module: &str) -> Result<Dependents, postgres::Error> {
    let s = ident(schema);
    // Read with no schema in the path: every name in a definition comes qualified.
    client.batch_execute("SET LOCAL search_path = pg_catalog")?;
    let own = format!(
        "SELECT c.oid FROM {s}._modreg_objects o JOIN pg_class c ON c.relname = o.name AND c.relnamespace = {ns}::regnamespace
         WHERE o.module = $1 AND o.type IN ('table', 'view')",
        ns = literal(&s)
    );
    let mut found = Dependents::default();
    let keys = client.query(
        &format!(
            "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', k.conrelid::regclass, k.conname),
                    format('ALTER TABLE %s ADD CONSTRAINT %I %s', k.conrelid::regclass, k.conname, pg_get_constraintdef(k.oid)),
                    k.conname::text
             FROM pg_constraint k WHERE k.contype = 'f' AND k.confrelid IN ({own}) AND k.conrelid NOT IN ({own})"
        ),
        &[&module],
    )?;
    let views = client.query(
        &format!(
            "WITH RECURSIVE hanging (oid) AS (
                 SELECT DISTINCT r.ev_class FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
                 WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid IN ({own}) AND r.ev_class NOT IN ({own})
                 UNION
                 SELECT r.ev_class FROM hanging h JOIN pg_depend d ON d.refobjid = h.oid
                 JOIN pg_rewrite r ON r.oid = d.objid
                 WHERE d.classid = 'pg_rewrite'::regclass AND r.ev_class <> h.oid
             )
             SELECT format('DROP %s IF EXISTS %s', kind, c.oid::regclass),
                    format('CREATE %s %s%s AS %s; ALTER %s %s OWNER TO %I', kind, c.oid::regclass,
                           CASE WHEN c.reloptions IS NULL THEN '' ELSE ' WITH (' || array_to_string(c.reloptions, ', ') || ')' END,
                           rtrim(pg_get_viewdef(c.oid), ';'), kind, c.oid::regclass, pg_get_userbyid(c.relowner)),
                    c.relname::text
             FROM (SELECT DISTINCT oid FROM hanging) h JOIN pg_class c ON c.oid = h.oid,
                  LATERAL (SELECT CASE c.relkind WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END AS kind) k
             ORDER BY c.oid"
        ),
        &[&module],
    )?;
    let triggers = client.query(
        &format!(
            "SELECT format('DROP TRIGGER IF EXISTS %I ON %s', g.tgname, g.tgrelid::regclass), pg_get_triggerdef(g.oid), g.tgname::text
             FROM pg_trigger g JOIN {s}._modreg_objects o ON o.name = g.tgname AND o.type = 'trigger' AND o.module <> $1
             WHERE g.tgrelid IN ({own}) AND NOT g.tgisinternal"
        ),
        &[&module],
    )?;
    client.batch_execute("RESET search_path")?;
    // Dropped: keys and triggers, then views newest first; made again: views oldest
    // first, then keys and triggers.
    for row in keys.iter().chain(&triggers) {
        found.drop.push(row.get(0));
    }
    for row in views.iter().rev() {
        found.drop.push(row.get(0));
    }
    for row in views.iter().chain(&keys).chain(&triggers) {
        found.recreate.push(row.get(1));
        found.names.push(row.get(2));
    }
    Ok(found)
}
